package io.quantbridge.weights;

import java.util.Arrays;

/**
 * Hessian-aware rounding of int8 weights (GPTQ, Frantar et al. 2022), independent of any model format.
 *
 * <p>Rounding each weight to the nearest int8 step minimizes the weight error, not the output error. With
 * {@code H = E[x x^T]} over the inputs one row of weights reads (a conv's input patch, a dense layer's input row),
 * the output error of a row with weight error {@code e} is {@code e^T H e}; GPTQ rounds the columns one at a time and
 * moves the rounding error of each onto the columns not yet rounded, weighted by the inverse Hessian, so that later
 * columns compensate. Scales do not change: every row keeps its weight of largest magnitude at +-127 (the feedback
 * may move it, so it is pinned), so that requantizing {@code code * scale} with max/127 per row gives back exactly
 * these codes.
 */
public final class HessianRounding {
    private HessianRounding() { }

    /**
     * GPTQ on one matrix: {@code w} is {@code rows x cols}, row-major; {@code hessian} is {@code cols x cols}
     * (not changed); each row has its own scale. Columns go in order of decreasing Hessian diagonal; each row's weight
     * of largest magnitude is pinned to +-127. Returns the int8 codes, row-major.
     *
     * @param damp added to the Hessian's diagonal, as a fraction of its mean
     */
    public static byte[] round(float[] w, int rows, int cols, double[] hessian, float[] scales, double damp) {
        return round(w, rows, cols, hessian, scales, damp, 127);
    }

    /**
     * {@link #round(float[], int, int, double[], float[], double)} with codes in {@code [-qmax, qmax]} and each row's
     * largest weight pinned to {@code +-qmax} (scales {@code max / qmax}).
     */
    public static byte[] round(float[] w, int rows, int cols, double[] hessian, float[] scales, double damp,
                               int qmax) {
        if (qmax < 1 || qmax > 127) throw new IllegalArgumentException("qmax " + qmax + " is not in [1, 127]");
        double[] h = hessian.clone();
        double[] v = new double[w.length];
        for (int i = 0; i < w.length; i++) v[i] = w[i];
        int[] pinned = new int[rows];
        for (int r = 0; r < rows; r++) {
            int best = 0;
            for (int c = 1; c < cols; c++) if (Math.abs(w[r * cols + c]) > Math.abs(w[r * cols + best])) best = c;
            pinned[r] = w[r * cols + best] != 0 ? best : -1; // an all-zero row stays zero
        }
        double meanDiag = 0;
        for (int i = 0; i < cols; i++) meanDiag += h[i * cols + i];
        meanDiag /= cols;
        for (int i = 0; i < cols; i++) {
            if (h[i * cols + i] <= 0) { // an input that is always zero: its weights do not matter
                h[i * cols + i] = 1;
            }
        }
        double add = damp * (meanDiag > 0 ? meanDiag : 1);
        for (int i = 0; i < cols; i++) h[i * cols + i] += add;
        Integer[] order = new Integer[cols];
        for (int i = 0; i < cols; i++) order[i] = i;
        final double[] hh = h;
        Arrays.sort(order, (a, b) -> Double.compare(hh[b * cols + b], hh[a * cols + a]));
        // permuted Hessian, its inverse, and the upper Cholesky factor U of the inverse (H^-1 = U^T U)
        double[] p = new double[cols * cols];
        for (int i = 0; i < cols; i++) for (int j = 0; j < cols; j++) p[i * cols + j] = h[order[i] * cols + order[j]];
        double[] u = upperCholeskyOfInverse(p, cols);
        byte[] q = new byte[w.length];
        double[] err = new double[rows];
        for (int k = 0; k < cols; k++) {
            int col = order[k];
            double ukk = u[k * cols + k];
            for (int r = 0; r < rows; r++) {
                double s = scales[r];
                double x = v[r * cols + col];
                double code;
                if (pinned[r] == col) {
                    code = w[r * cols + col] >= 0 ? qmax : -qmax;
                } else {
                    code = Math.max(-qmax, Math.min(qmax, Math.rint(x / s)));
                }
                q[r * cols + col] = (byte) code;
                err[r] = (x - code * s) / ukk;
            }
            for (int j = k + 1; j < cols; j++) {
                double ukj = u[k * cols + j];
                if (ukj == 0) continue;
                int cj = order[j];
                for (int r = 0; r < rows; r++) v[r * cols + cj] -= err[r] * ukj;
            }
        }
        return q;
    }

    /** {@code e^T H e}: the output error of a row of weights with error {@code e}; {@code h} is n x n. */
    public static double outputError(double[] e, double[] h, int n) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            if (e[i] == 0) continue;
            double t = 0;
            for (int j = 0; j < n; j++) t += h[i * n + j] * e[j];
            s += e[i] * t;
        }
        return s;
    }

    /** U with {@code inverse(a) = U^T U}, U upper triangular; {@code a} symmetric positive definite, n x n. */
    static double[] upperCholeskyOfInverse(double[] a, int n) {
        double[] l = cholesky(a, n);
        // inverse of a from L: solve L Y = I, then a^-1 = Y^T Y with Y = L^-1 (lower)
        double[] y = new double[n * n];
        for (int col = 0; col < n; col++) {
            for (int i = col; i < n; i++) {
                double s = i == col ? 1 : 0;
                for (int k = col; k < i; k++) s -= l[i * n + k] * y[k * n + col];
                y[i * n + col] = s / l[i * n + i];
            }
        }
        double[] inv = new double[n * n];
        for (int i = 0; i < n; i++) {
            for (int j = i; j < n; j++) {
                double s = 0;
                for (int k = j; k < n; k++) s += y[k * n + i] * y[k * n + j];
                inv[i * n + j] = s;
                inv[j * n + i] = s;
            }
        }
        double[] l2 = cholesky(inv, n);
        double[] u = new double[n * n];
        for (int i = 0; i < n; i++) for (int j = 0; j <= i; j++) u[j * n + i] = l2[i * n + j];
        return u;
    }

    /** Lower Cholesky factor; a failing pivot (rounding) is lifted to a tiny positive value. */
    static double[] cholesky(double[] a, int n) {
        double[] l = new double[n * n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j <= i; j++) {
                double s = a[i * n + j];
                for (int k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
                if (i == j) {
                    l[i * n + i] = Math.sqrt(Math.max(s, 1e-12 * Math.abs(a[i * n + i]) + 1e-30));
                } else {
                    l[i * n + j] = s / l[j * n + j];
                }
            }
        }
        return l;
    }

    /**
     * Running second moments {@code sum x x^T} (upper triangle) and sums {@code sum x} of d-dimensional vectors.
     * Not thread-safe; {@link #merge} adds another's.
     */
    public static final class Moments {
        private final int d;
        private final double[] moments;
        private final double[] sums;
        private long count;

        public Moments(int d) {
            this.d = d;
            this.moments = new double[d * d];
            this.sums = new double[d];
        }

        public int dimension() {
            return d;
        }

        public long count() {
            return count;
        }

        /** Adds one vector of {@link #dimension()} values. */
        public void add(double[] x) {
            for (int i = 0; i < d; i++) {
                double xi = x[i];
                sums[i] += xi;
                if (xi == 0) continue;
                int row = i * d;
                for (int j = i; j < d; j++) moments[row + j] += xi * x[j];
            }
            count++;
        }

        public void merge(Moments other) {
            if (other.d != d) throw new IllegalArgumentException("dimension " + other.d + " is not " + d);
            for (int i = 0; i < moments.length; i++) moments[i] += other.moments[i];
            for (int i = 0; i < d; i++) sums[i] += other.sums[i];
            count += other.count;
        }

        /** {@code E[x x^T]}, full (the upper triangle mirrored). */
        public double[] hessian() {
            double[] hm = new double[d * d];
            double inv = count == 0 ? 0 : 1.0 / count;
            for (int i = 0; i < d; i++) {
                for (int j = i; j < d; j++) {
                    double v = moments[i * d + j] * inv;
                    hm[i * d + j] = v;
                    hm[j * d + i] = v;
                }
            }
            return hm;
        }

        /** {@code E[x]}. */
        public double[] mean() {
            double[] m = new double[d];
            for (int i = 0; i < d; i++) m[i] = count == 0 ? 0 : sums[i] / count;
            return m;
        }
    }
}
