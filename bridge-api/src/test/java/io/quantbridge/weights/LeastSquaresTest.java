package io.quantbridge.weights;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Random;
import org.junit.jupiter.api.Test;

class LeastSquaresTest {
    @Test
    void solvesASymmetricPositiveDefiniteSystemForSeveralRightHandSides() {
        Random r = new Random(3);
        int n = 12;
        int m = 5;
        double[] g = new double[n * n];
        for (int i = 0; i < g.length; i++) g[i] = r.nextGaussian();
        double[] a = new double[n * n]; // G G^T + I
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                double s = i == j ? 1 : 0;
                for (int k = 0; k < n; k++) s += g[i * n + k] * g[j * n + k];
                a[i * n + j] = s;
            }
        }
        double[] x = new double[n * m];
        for (int i = 0; i < x.length; i++) x[i] = r.nextGaussian();
        double[] b = new double[n * m];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < m; j++) {
                double s = 0;
                for (int k = 0; k < n; k++) s += a[i * n + k] * x[k * m + j];
                b[i * m + j] = s;
            }
        }
        double[] a0 = a.clone();
        double[] b0 = b.clone();
        double[] got = LeastSquares.solve(a, n, b, m);
        for (int i = 0; i < x.length; i++) assertEquals(x[i], got[i], 1e-9, "x[" + i + "]");
        for (int i = 0; i < a.length; i++) assertEquals(a0[i], a[i]);
        for (int i = 0; i < b.length; i++) assertEquals(b0[i], b[i]);
    }

    @Test
    void refusesMismatchedSizes() {
        assertEquals("a is 4 values for n = 3, b 3 for n x m = 3 x 1",
                assertThrows(IllegalArgumentException.class,
                        () -> LeastSquares.solve(new double[4], 3, new double[3], 1)).getMessage());
    }
}
