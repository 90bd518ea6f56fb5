package io.quantbridge.tensorrt;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.tensor.FloatTensor;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class CalibrationBatchesTest {
    /** Sample i: image [1,2,2] filled with i, and a [1,3] vector filled with 100+i. */
    private static Map<String, FloatTensor> sample(int i) {
        float[] img = new float[4];
        java.util.Arrays.fill(img, i);
        float[] vec = {100 + i, 100 + i, 100 + i};
        return Map.of("image", new FloatTensor(new long[] {1, 1, 2, 2}, img),
                "meta", new FloatTensor(new long[] {3}, vec));
    }

    private static CalibrationBatches batches(int batch, int samples, CalibrationBatches.LastBatch last,
                                              List<Integer> loaded) {
        return new CalibrationBatches(List.of(new CalibrationBatches.Input("image", new long[] {batch, 1, 2, 2}),
                new CalibrationBatches.Input("meta", new long[] {batch, 3})), samples, i -> {
                    loaded.add(i);
                    return sample(i);
                }, last);
    }

    private static List<FloatBuffer> buffers(CalibrationBatches b) {
        List<FloatBuffer> out = new ArrayList<>();
        for (int i = 0; i < b.inputs().size(); i++) out.add(FloatBuffer.allocate(b.floatsPerBatch(i)));
        return out;
    }

    private static float[] contents(FloatBuffer b) {
        float[] f = new float[b.remaining()];
        b.duplicate().get(f);
        return f;
    }

    @Test
    void servesFullBatchesInOrderThenEnds() {
        List<Integer> loaded = new ArrayList<>();
        CalibrationBatches b = batches(2, 4, CalibrationBatches.LastBatch.DROP, loaded);
        assertEquals(2, b.batchSize());
        assertEquals(2, b.batchCount());
        assertEquals(8, b.floatsPerBatch(0));
        assertEquals(6, b.floatsPerBatch(1));
        List<FloatBuffer> host = buffers(b);
        assertTrue(b.next(host));
        assertArrayEquals(new float[] {0, 0, 0, 0, 1, 1, 1, 1}, contents(host.get(0)));
        assertArrayEquals(new float[] {100, 100, 100, 101, 101, 101}, contents(host.get(1)));
        assertTrue(b.next(host));
        assertArrayEquals(new float[] {2, 2, 2, 2, 3, 3, 3, 3}, contents(host.get(0)));
        assertFalse(b.next(host));
        assertFalse(b.next(host), "end of data stays the end");
        assertEquals(List.of(0, 1, 2, 3), loaded);
        assertEquals(2, b.batchesServed());
        b.reset();
        assertTrue(b.next(host));
        assertArrayEquals(new float[] {0, 0, 0, 0, 1, 1, 1, 1}, contents(host.get(0)));
    }

    @Test
    void lastPartialBatchIsDroppedOrWrapped() {
        CalibrationBatches drop = batches(2, 5, CalibrationBatches.LastBatch.DROP, new ArrayList<>());
        assertEquals(2, drop.batchCount());
        assertEquals(1, drop.droppedSamples());

        List<Integer> loaded = new ArrayList<>();
        CalibrationBatches wrap = batches(2, 5, CalibrationBatches.LastBatch.WRAP, loaded);
        assertEquals(3, wrap.batchCount());
        assertEquals(0, wrap.droppedSamples());
        List<FloatBuffer> host = buffers(wrap);
        while (wrap.next(host)) { /* drain */ }
        assertArrayEquals(new float[] {4, 4, 4, 4, 0, 0, 0, 0}, contents(host.get(0)));
        assertEquals(List.of(0, 1, 2, 3, 4, 0), loaded);

        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> batches(4, 3, CalibrationBatches.LastBatch.DROP, new ArrayList<>()));
        assertTrue(e.getMessage().contains("3 samples do not fill one batch of 4"), e.getMessage());
        assertEquals(1, batches(4, 3, CalibrationBatches.LastBatch.WRAP, new ArrayList<>()).batchCount());
    }

    @Test
    void bindingOrderFollowsTensorRtsNames() {
        CalibrationBatches b = batches(1, 1, CalibrationBatches.LastBatch.DROP, new ArrayList<>());
        assertArrayEquals(new int[] {1, 0}, b.bindingOrder(List.of("meta", "image")));
        assertArrayEquals(new int[] {0, 1}, b.bindingOrder(List.of("image", "meta")));
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> b.bindingOrder(List.of("image", "mask")));
        assertTrue(e.getMessage().contains("'mask', which the calibration data does not have"), e.getMessage());
        assertThrows(QuantbridgeException.class, () -> b.bindingOrder(List.of("image")));
        assertThrows(QuantbridgeException.class, () -> b.bindingOrder(List.of("image", "image")));
    }

    @Test
    void badSamplesAndBuffersAreNamed() {
        CalibrationBatches b = new CalibrationBatches(List.of(new CalibrationBatches.Input("image",
                new long[] {1, 1, 2, 2})), 1, i -> Map.of("image", new FloatTensor(new long[] {1, 1, 3, 3},
                new float[9])), CalibrationBatches.LastBatch.DROP);
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> b.next(List.of(FloatBuffer.allocate(4))));
        assertTrue(e.getMessage().contains("does not fit one row"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> b.next(List.of(FloatBuffer.allocate(3))));
        CalibrationBatches missing = new CalibrationBatches(List.of(new CalibrationBatches.Input("image",
                new long[] {1, 4})), 1, i -> Map.of(), CalibrationBatches.LastBatch.DROP);
        e = assertThrows(QuantbridgeException.class, () -> missing.next(List.of(FloatBuffer.allocate(4))));
        assertTrue(e.getMessage().contains("no tensor for input 'image'"), e.getMessage());
        assertThrows(QuantbridgeException.class, () -> new CalibrationBatches.Input("x", new long[] {-1, 3}));
        assertThrows(QuantbridgeException.class, () -> new CalibrationBatches(List.of(
                new CalibrationBatches.Input("a", new long[] {2, 1}), new CalibrationBatches.Input("b",
                        new long[] {1, 1})), 4, i -> Map.of(), CalibrationBatches.LastBatch.DROP));
    }
}
