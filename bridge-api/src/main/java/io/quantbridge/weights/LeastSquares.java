package io.quantbridge.weights;

/** Symmetric positive definite linear systems, solved through a Cholesky factor. */
public final class LeastSquares {
    private LeastSquares() { }

    /**
     * Solves {@code a x = b} for {@code x} ({@code n x m}, row-major, as {@code b}); {@code a} is {@code n x n},
     * symmetric positive definite (a pivot that rounding makes non-positive is lifted to a tiny positive value).
     * Neither argument is modified.
     */
    public static double[] solve(double[] a, int n, double[] b, int m) {
        if (a.length != n * n || b.length != n * m) {
            throw new IllegalArgumentException("a is " + a.length + " values for n = " + n + ", b " + b.length
                    + " for n x m = " + n + " x " + m);
        }
        double[] l = HessianRounding.cholesky(a, n);
        double[] x = b.clone();
        // L y = b, then L^T x = y, column block by column block (each row of x holds m right-hand sides)
        for (int i = 0; i < n; i++) {
            int ri = i * m;
            for (int k = 0; k < i; k++) {
                double lik = l[i * n + k];
                if (lik == 0) continue;
                int rk = k * m;
                for (int j = 0; j < m; j++) x[ri + j] -= lik * x[rk + j];
            }
            double d = l[i * n + i];
            for (int j = 0; j < m; j++) x[ri + j] /= d;
        }
        for (int i = n - 1; i >= 0; i--) {
            int ri = i * m;
            for (int k = i + 1; k < n; k++) {
                double lki = l[k * n + i];
                if (lki == 0) continue;
                int rk = k * m;
                for (int j = 0; j < m; j++) x[ri + j] -= lki * x[rk + j];
            }
            double d = l[i * n + i];
            for (int j = 0; j < m; j++) x[ri + j] /= d;
        }
        return x;
    }
}
