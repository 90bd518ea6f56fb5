package io.quantbridge.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.tensor.FloatTensor;
import org.junit.jupiter.api.Test;

class OutputSliceTest {
    @Test
    void parsesNamesWithColonsAndDefaultsTheLabel() {
        OutputSlice s = OutputSlice.parse("Identity:0:1:4:22=scores");
        assertEquals(new OutputSlice("Identity:0", 1, 4, 22, "scores"), s);
        assertEquals("output0[0:4 on axis 1]", OutputSlice.parse("output0:1:0:4").label());
        QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> OutputSlice.parse("output0:1:4"));
        assertEquals("--slice: 'output0:1:4' is not OUTPUT:AXIS:FROM:TO[=LABEL], e.g. output0:1:4:22=scores",
                e.getMessage());
        e = assertThrows(QuantbridgeException.class, () -> OutputSlice.parse("output0:1:9:4"));
        assertEquals("--slice output0: axis 1, range 9:4 (need axis >= 0 and 0 <= from < to)", e.getMessage());
    }

    @Test
    void takesTheRangeOfOneAxisAcrossTheOthers() {
        float[] v = new float[24];
        for (int i = 0; i < v.length; i++) v[i] = i;
        FloatTensor t = new FloatTensor(new long[] {2, 3, 4}, v);
        FloatTensor mid = new OutputSlice("y", 1, 1, 3, null).of(t);
        assertArrayEquals(new long[] {2, 2, 4}, mid.shape());
        assertArrayEquals(new float[] {4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23}, mid.data());
        FloatTensor last = new OutputSlice("y", 2, 3, 4, null).of(t);
        assertArrayEquals(new float[] {3, 7, 11, 15, 19, 23}, last.data());
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> new OutputSlice("y", 3, 0, 1, "x").of(t));
        assertEquals("--slice x: output 'y' has shape [2, 3, 4], which has no indices 0:1 on axis 3", e.getMessage());
    }
}
