package io.quantbridge.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class FidelityTest {
    @Test
    void cosine() {
        assertEquals(1 / Math.sqrt(2), Fidelity.cosine(new float[] {1, 0}, new float[] {1, 1}), 1e-15);
        assertEquals(1.0, Fidelity.cosine(new float[] {1, 2, 3}, new float[] {2, 4, 6}), 1e-15);
        assertEquals(-1.0, Fidelity.cosine(new float[] {1, 2}, new float[] {-1, -2}), 1e-15);
        assertEquals(0.0, Fidelity.cosine(new float[] {1, 0}, new float[] {0, 5}), 0.0);
        assertEquals(1.0, Fidelity.cosine(new float[] {0, 0}, new float[] {0, 0}), 0.0);
        assertEquals(0.0, Fidelity.cosine(new float[] {0, 0}, new float[] {0, 1}), 0.0);
        assertTrue(Double.isNaN(Fidelity.cosine(new float[] {1, Float.NaN}, new float[] {1, 1})));
    }

    @Test
    void sqnrOfAKnownNoise() {
        // signal energy 3^2 + 4^2 = 25, noise 0.5^2 = 0.25: ratio 100 -> 20 dB
        assertEquals(20.0, Fidelity.sqnrDb(new float[] {3, 4}, new float[] {3.5f, 4}), 1e-12);
        // noise energy equal to the signal: 0 dB
        assertEquals(0.0, Fidelity.sqnrDb(new float[] {1, -1}, new float[] {0, 0}), 1e-12);
        // a uniform step noise: ref 1..4 (energy 30), error 0.1 each (energy 0.04): 10 log10(750)
        assertEquals(10 * Math.log10(30 / 0.04),
                Fidelity.sqnrDb(new float[] {1, 2, 3, 4}, new float[] {1.1f, 2.1f, 3.1f, 4.1f}), 1e-5);
        assertEquals(Double.POSITIVE_INFINITY, Fidelity.sqnrDb(new float[] {1, 2}, new float[] {1, 2}));
        assertEquals(Double.POSITIVE_INFINITY, Fidelity.sqnrDb(new float[] {0}, new float[] {0}));
        assertEquals(Double.NEGATIVE_INFINITY, Fidelity.sqnrDb(new float[] {0}, new float[] {1}));
    }

    @Test
    void maxAbsError() {
        assertEquals(2.5, Fidelity.maxAbsError(new float[] {1, -2, 3}, new float[] {1.5f, 0.5f, 3}), 0.0);
        assertEquals(0.0, Fidelity.maxAbsError(new float[0], new float[0]), 0.0);
        assertTrue(Double.isNaN(Fidelity.maxAbsError(new float[] {Float.NaN, 1}, new float[] {0, 0})));
    }

    @Test
    void top1Agreement() {
        float[] ref = {0.1f, 0.9f, 0.0f, /**/ 5, 1, 2, /**/ 0, 0, 1, /**/ 3, 3, 1};
        float[] cand = {0.2f, 0.8f, 0.0f, /**/ 1, 5, 2, /**/ 0, 0, 2, /**/ 3, 3, 0};
        assertEquals(0.75, Fidelity.top1Agreement(ref, cand, 3), 0.0); // row 2 disagrees; ties go to index 0
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Fidelity.top1Agreement(ref, cand, 5));
        assertEquals("output length 12 is not a positive multiple of the 5 classes", e.getMessage());
        assertEquals(1, Fidelity.argmax(new float[] {Float.NaN, 2, 1}, 0, 3));
    }

    @Test
    void maskIou() {
        float[] ref = {0.9f, 0.8f, 0.1f, 0.7f, 0.0f};
        float[] cand = {0.9f, 0.2f, 0.6f, 0.7f, 0.0f};
        // ref mask {0,1,3}, cand mask {0,2,3}: intersection 2, union 4
        assertEquals(0.5, Fidelity.maskIou(ref, cand, 0.5), 0.0);
        assertEquals(1.0, Fidelity.maskIou(new float[] {0, 0}, new float[] {0.1f, 0}, 0.5), 0.0);
        assertEquals(0.0, Fidelity.maskIou(new float[] {1, 0}, new float[] {0, 1}, 0.5), 0.0);
        // strictly greater than the threshold
        assertEquals(1.0, Fidelity.maskIou(new float[] {0.5f}, new float[] {0.5f}, 0.5), 0.0);
    }

    @Test
    void mismatchedLengthsNameBoth() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Fidelity.cosine(new float[3], new float[4]));
        assertEquals("reference has 3 elements but candidate has 4", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Fidelity.sqnrDb(new float[3], new float[4]));
        assertThrows(IllegalArgumentException.class, () -> Fidelity.maxAbsError(new float[3], new float[4]));
        assertThrows(IllegalArgumentException.class, () -> Fidelity.maskIou(new float[3], new float[4], 0));
        assertThrows(IllegalArgumentException.class, () -> Fidelity.top1Agreement(new float[3], new float[4], 1));
    }
}
