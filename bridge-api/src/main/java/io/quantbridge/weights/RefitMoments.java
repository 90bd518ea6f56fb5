package io.quantbridge.weights;

/**
 * The statistics of a weight refit (a conv refitted to the inputs the int8 model gives it, on every backend that has
 * {@code --refit}): for a layer whose output channels fall into groups that read the same input patch (a conv: one
 * group; a depthwise conv: one per input channel), the weights and bias that, fed the int8 model's patches {@code a},
 * best reproduce what the float layer computes from the float model's patches {@code x} at the same positions,
 * {@code t = W x + b}, by ridge regression toward the float weights:
 * <pre>  min over (W', b') of  sum |W' a + b' - t|^2 + lambda |W' - W|^2,   lambda = ridge * mean_i sum a_i^2</pre>
 * (per group; the bias is not penalized). Per group it accumulates {@code sum a a^T} (upper triangle, with a constant
 * 1 appended to {@code a} for the bias), {@code sum a t^T} and {@code sum |t|^2}. Not thread-safe.
 *
 * <p>Weights are rows {@code [O, d]}: output channel {@code g * outs + r} (group {@code g}, {@code r < outs}) is row
 * {@code g * outs + r}, its {@code d} values in the order of the patches.
 */
public final class RefitMoments {
    private final int groups;
    private final int outs;
    private final int d;
    private final int n;
    private final double[] w;
    private final double[] b;
    private final double[][] aa;
    private final double[][] at;
    private final double[] tt;

    /**
     * @param w the float weights, rows [groups * outs, d]
     * @param b the float bias [groups * outs]
     */
    public RefitMoments(int groups, int outs, int d, double[] w, double[] b) {
        if (w.length != (long) groups * outs * d || b.length != groups * outs) {
            throw new IllegalArgumentException(w.length + " weights and " + b.length + " biases for " + groups
                    + " groups of " + outs + " outputs over patches of " + d);
        }
        this.groups = groups;
        this.outs = outs;
        this.d = d;
        this.n = d + 1;
        this.w = w;
        this.b = b;
        this.aa = new double[groups][n * n];
        this.at = new double[groups][n * outs];
        this.tt = new double[groups];
    }

    /**
     * Adds one position of group {@code g}: the int8 model's patch {@code a} ({@code d} values followed by a 1) and the
     * float model's {@code x} ({@code d} values); {@code t} is scratch of {@code outs} values.
     */
    public void add(int g, double[] a, double[] x, double[] t) {
        double p = 0;
        for (int r = 0; r < outs; r++) {
            int oc = g * outs + r;
            double s = b[oc];
            int row = oc * d;
            for (int i = 0; i < d; i++) s += w[row + i] * x[i];
            t[r] = s;
            p += s * s;
        }
        tt[g] += p;
        double[] m = aa[g];
        double[] q = at[g];
        for (int i = 0; i < n; i++) {
            double ai = a[i];
            if (ai == 0) continue;
            int mi = i * n;
            for (int j = i; j < n; j++) m[mi + j] += ai * a[j];
            int qi = i * outs;
            for (int r = 0; r < outs; r++) q[qi + r] += ai * t[r];
        }
    }

    /** The ridge solution's weights, rows [O, d]. */
    public double[] solve(double ridge) {
        double[] fitted = new double[w.length];
        for (int g = 0; g < groups; g++) {
            double[] h = aa[g].clone();
            for (int i = 0; i < n; i++) for (int j = i + 1; j < n; j++) h[j * n + i] = h[i * n + j];
            double mean = 0;
            for (int i = 0; i < d; i++) mean += h[i * n + i];
            mean /= d;
            double lambda = ridge * (mean > 0 ? mean : 1.0);
            double[] rhs = at[g].clone();
            for (int i = 0; i < d; i++) {
                h[i * n + i] += lambda;
                for (int r = 0; r < outs; r++) rhs[i * outs + r] += lambda * w[(g * outs + r) * d + i];
            }
            double[] sol = LeastSquares.solve(h, n, rhs, outs);
            for (int r = 0; r < outs; r++) {
                for (int i = 0; i < d; i++) fitted[(g * outs + r) * d + i] = sol[i * outs + r];
            }
        }
        return fitted;
    }

    /**
     * The bias that minimizes the squared error for these (rounded) weights, rows [O, d]: it also cancels the mean
     * shift of their rounding.
     */
    public double[] bias(double[] weights) {
        double[] bias = new double[b.length];
        for (int g = 0; g < groups; g++) {
            double[] m = aa[g];
            double count = m[d * n + d];
            for (int r = 0; r < outs; r++) {
                int oc = g * outs + r;
                // d/db of the squared error: sum (w a + b - t) = 0, with sum a_i = m[i][d] and sum t = at[d][r]
                double s = at[g][d * outs + r];
                for (int i = 0; i < d; i++) s -= weights[oc * d + i] * m[i * n + d];
                bias[oc] = count > 0 ? s / count : b[oc];
            }
        }
        return bias;
    }

    /** {@code sum |w a + b - t|^2} over the positions added, from the moments. */
    public double error(double[] weights, double[] bias) {
        double e = 0;
        double[] v = new double[n];
        for (int g = 0; g < groups; g++) {
            double[] m = aa[g];
            double[] q = at[g];
            e += tt[g];
            for (int r = 0; r < outs; r++) {
                int oc = g * outs + r;
                System.arraycopy(weights, oc * d, v, 0, d);
                v[d] = bias[oc];
                double quad = 0;
                double lin = 0;
                for (int i = 0; i < n; i++) {
                    double vi = v[i];
                    if (vi == 0) continue;
                    lin += vi * q[i * outs + r];
                    quad += vi * vi * m[i * n + i];
                    double s = 0;
                    for (int j = i + 1; j < n; j++) s += m[i * n + j] * v[j];
                    quad += 2 * vi * s;
                }
                e += quad - 2 * lin;
            }
        }
        return Math.max(0, e);
    }

    /** {@code sum |t|^2} over the positions added. */
    public double targetPower() {
        double p = 0;
        for (double v : tt) p += v;
        return p;
    }
}
