package io.quantbridge.calib;

import java.util.Arrays;
import java.util.Random;

/**
 * Deliberately naive, independent implementations of the calibration definitions, used as test oracles. They work on
 * raw samples or on their own histogram built with plain loops and division, and share no code with the main classes.
 */
final class Reference {
    private Reference() { }

    // ------------------------------------------------------------------ synthetic data (seeded)

    static float[] uniform(Random r, int n, double lo, double hi) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (lo + (hi - lo) * r.nextDouble());
        return a;
    }

    static float[] gaussian(Random r, int n, double mean, double sigma) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (mean + sigma * r.nextGaussian());
        return a;
    }

    static float[] laplacian(Random r, int n, double b) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            double u = r.nextDouble() - 0.5;
            a[i] = (float) (-b * Math.signum(u) * Math.log(1 - 2 * Math.abs(u)));
        }
        return a;
    }

    /** A fraction {@code zeros} of exact zeros, the rest Laplacian(1), and {@code outliers} values with |x| 80..100. */
    static float[] spikeWithOutliers(Random r, int n, double zeros, int outliers) {
        float[] a = laplacian(r, n, 1.0);
        for (int i = 0; i < n; i++) {
            if (r.nextDouble() < zeros) a[i] = 0f;
        }
        for (int k = 0; k < outliers; k++) {
            a[r.nextInt(n)] = (float) ((r.nextBoolean() ? 1 : -1) * (80 + 20 * r.nextDouble()));
        }
        return a;
    }

    // ------------------------------------------------------------------ exact statistics of the samples

    static double maxAbs(float[] x) {
        double m = 0;
        for (float v : x) m = Math.max(m, Math.abs((double) v));
        return m;
    }

    /** The smallest |x| such that at least p% of the samples are at or below it (sorted-array quantile). */
    static double quantile(float[] x, double p) {
        double[] s = new double[x.length];
        for (int i = 0; i < x.length; i++) s[i] = Math.abs((double) x[i]);
        Arrays.sort(s);
        // rank ceil(p/100 * n), computed in exact integer arithmetic on p given to 1e-6
        long pMicro = Math.round(p * 1_000_000);
        long k = (pMicro * s.length + 100_000_000 - 1) / 100_000_000;
        return s[(int) Math.max(k, 1) - 1];
    }

    // ------------------------------------------------------------------ naive histogram

    /** {@code bins} bins of width max|x|/bins; bin = floor(|x| / w), the maximum in the last bin. */
    static final class Hist {
        final long[] counts;
        final double width;

        Hist(float[] x, int bins) {
            double m = maxAbs(x);
            width = m / bins;
            counts = new long[bins];
            for (float v : x) {
                int k = (int) Math.floor(Math.abs((double) v) / width);
                counts[Math.min(k, bins - 1)]++;
            }
        }
    }

    // ------------------------------------------------------------------ naive calibrators

    /** KL calibration straight from the definition, O(n^2) with a log per bin per candidate. */
    static double entropy(long[] binsIn, double width, int start, int levels, boolean suppressZero, boolean lastTie) {
        long[] bins = binsIn.clone();
        if (suppressZero) bins[0] = bins[1];
        int n = bins.length;
        double bestKl = Double.POSITIVE_INFINITY;
        int best = -1;
        for (int i = start; i <= n; i++) {
            double[] p = new double[i];
            for (int k = 0; k < i; k++) p[k] = bins[k];
            for (int k = i; k < n; k++) p[i - 1] += bins[k];

            double[] levelSum = new double[levels];
            int[] levelNonEmpty = new int[levels];
            int[] levelOf = new int[i];
            for (int k = 0; k < i; k++) {
                levelOf[k] = (int) ((long) k * levels / i);
                if (bins[k] != 0) {
                    levelSum[levelOf[k]] += bins[k];
                    levelNonEmpty[levelOf[k]]++;
                }
            }
            double[] q = new double[i];
            for (int k = 0; k < i; k++) {
                q[k] = bins[k] == 0 ? 0 : levelSum[levelOf[k]] / levelNonEmpty[levelOf[k]];
            }
            double ps = 0, qs = 0;
            for (int k = 0; k < i; k++) { ps += p[k]; qs += q[k]; }
            double kl = 0;
            for (int k = 0; k < i; k++) {
                if (p[k] == 0) continue;
                double pk = p[k] / ps;
                double qk = q[k] / qs;
                kl += qk == 0 ? Double.POSITIVE_INFINITY : pk * Math.log(pk / qk);
            }
            if (lastTie ? kl <= bestKl : kl < bestKl) {
                bestKl = kl;
                best = i;
            }
        }
        return best * width;
    }

    /** MSE calibration straight from the definition, every bin for every candidate. */
    static double mse(long[] bins, double width, int start) {
        double bestErr = Double.POSITIVE_INFINITY;
        double best = -1;
        for (int i = start; i < bins.length; i++) {
            double amax = (i + 0.5) * width;
            double scale = amax / 127;
            double err = 0;
            for (int j = 0; j < bins.length; j++) {
                double x = (j + 0.5) * width;
                double q = Math.max(-127, Math.min(127, Math.rint(x / scale))) * scale;
                err += bins[j] * (q - x) * (q - x);
            }
            if (err < bestErr) {
                bestErr = err;
                best = amax;
            }
        }
        return best;
    }
}
