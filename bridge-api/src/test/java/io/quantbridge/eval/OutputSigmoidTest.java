package io.quantbridge.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.tensor.FloatTensor;
import org.junit.jupiter.api.Test;

class OutputSigmoidTest {
    @Test
    void parsesTheOutputAndLabel() {
        assertEquals(new OutputSigmoid("Identity_2", "segmentation"), OutputSigmoid.parse("Identity_2=segmentation"));
        assertEquals("sigmoid(Identity:0)", OutputSigmoid.parse("Identity:0").label());
        QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> OutputSigmoid.parse("=scores"));
        assertEquals("--sigmoid: '=scores' is not OUTPUT[=LABEL], e.g. Identity_2=segmentation", e.getMessage());
        assertEquals(0.5, OutputSigmoid.parse("x").defaultMaskThreshold());
        assertEquals(null, OutputSlice.parse("x:0:0:1").defaultMaskThreshold());
    }

    @Test
    void mapsLogitsToProbabilitiesKeepingTheShape() {
        FloatTensor t = new FloatTensor(new long[] {1, 2, 2}, new float[] {0, 2, -1000, 1000});
        FloatTensor p = new OutputSigmoid("y", null).of(t);
        assertArrayEquals(new long[] {1, 2, 2}, p.shape());
        assertArrayEquals(new float[] {0.5f, (float) (1 / (1 + Math.exp(-2))), 0f, 1f}, p.data());
    }
}
