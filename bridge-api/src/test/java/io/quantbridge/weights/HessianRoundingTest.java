package io.quantbridge.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class HessianRoundingTest {
    @Test
    void momentsAreTheSecondMomentsAndMeansAndMergeLikeOneStream() {
        HessianRounding.Moments a = new HessianRounding.Moments(2);
        a.add(new double[] {1, 2});
        a.add(new double[] {3, 0});
        HessianRounding.Moments b = new HessianRounding.Moments(2);
        b.add(new double[] {-1, 4});
        a.merge(b);
        assertEquals(3, a.count());
        // E[x x^T] over (1,2), (3,0), (-1,4): [[11/3, -2/3], [-2/3, 20/3]]
        assertArrayEquals(new double[] {11 / 3.0, -2 / 3.0, -2 / 3.0, 20 / 3.0}, a.hessian(), 1e-12);
        assertArrayEquals(new double[] {1, 2}, a.mean(), 1e-12);
        assertEquals("dimension 3 is not 2",
                assertThrows(IllegalArgumentException.class, () -> a.merge(new HessianRounding.Moments(3)))
                        .getMessage());
        assertArrayEquals(new double[] {0, 0, 0, 0}, new HessianRounding.Moments(2).hessian(), 0);
    }

    @Test
    void outputErrorIsTheQuadraticForm() {
        double[] h = {2, 1, 1, 3};
        // e = (1, -2): e^T H e = 2 - 2 - 2 + 12 = 10
        assertEquals(10, HessianRounding.outputError(new double[] {1, -2}, h, 2), 1e-12);
    }

    @Test
    void roundingFollowsTheCorrelationOfTheInputs() {
        // four inputs that are always equal: only the sum of a row reaches the output. Nearest rounding of
        // 127, 10.4, 20.4 and 30.4 steps loses 1.2 steps of it; GPTQ hands each rounding error on to the columns not
        // yet rounded and keeps the sum within half a step. The largest weight stays pinned at 127 steps.
        float s = 1f / 127;
        float[] w = {127 * s, 10.4f * s, 20.4f * s, 30.4f * s};
        double[] h = new double[16];
        java.util.Arrays.fill(h, 1);
        byte[] q = HessianRounding.round(w, 1, 4, h, new float[] {s}, 1e-6);
        assertEquals(127, q[0]);
        int sum = q[0] + q[1] + q[2] + q[3];
        assertEquals(188.2, sum, 0.5, java.util.Arrays.toString(q));
        // with independent inputs (diagonal H) nothing is handed on: nearest rounding
        double[] diag = new double[16];
        for (int i = 0; i < 4; i++) diag[i * 4 + i] = 1;
        assertArrayEquals(new byte[] {127, 10, 20, 30}, HessianRounding.round(w, 1, 4, diag, new float[] {s}, 0.1));
    }
}
