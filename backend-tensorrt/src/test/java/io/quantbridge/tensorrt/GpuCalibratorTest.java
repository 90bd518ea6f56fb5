package io.quantbridge.tensorrt;

import static org.bytedeco.cuda.global.cudart.cudaMemcpy;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToHost;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.quantbridge.backend.BackendStatus;
import io.quantbridge.tensor.FloatTensor;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The implicit path's calibrator against real device memory, called the way TensorRT calls it: the bindings come in
 * TensorRT's order (not ours), each gets a device pointer holding exactly the batch, and the stream ends with false.
 * Needs a CUDA device and libnvinfer (not the builder resources).
 */
@Tag("gpu")
class GpuCalibratorTest {
    @TempDir Path tmp;

    @Test
    void servesBatchesInDeviceMemoryInTensorRtsBindingOrder() {
        BackendStatus s = new TensorRtBackend().status();
        assumeTrue(s.usable(), "tensorrt: " + s.reason());
        TensorRtNative.probeDevice();
        CalibrationBatches batches = new CalibrationBatches(List.of(
                new CalibrationBatches.Input("image", new long[] {2, 3, 4, 4}),
                new CalibrationBatches.Input("scale", new long[] {2, 2})), 5, i -> {
                    float[] img = new float[48];
                    for (int k = 0; k < img.length; k++) img[k] = i * 1000 + k;
                    return Map.of("image", new FloatTensor(new long[] {1, 3, 4, 4}, img),
                            "scale", new FloatTensor(new long[] {1, 2}, new float[] {-i, 0.5f * i}));
                }, CalibrationBatches.LastBatch.DROP);
        byte[] cache = "TRT-10150-EntropyCalibration2\nimage: 3c010a14\n".getBytes(StandardCharsets.UTF_8);
        TrtEntropyCalibrator c = new TrtEntropyCalibrator(batches, cache, tmp.resolve("trt.cache"));
        try {
            assertEquals(2, c.getBatchSize());
            LongPointer length = new LongPointer(1);
            Pointer offered = c.readCalibrationCache(length);
            assertEquals(cache.length, length.get(0));
            byte[] back = new byte[cache.length];
            new org.bytedeco.javacpp.BytePointer(offered).capacity(cache.length).get(back);
            assertArrayEquals(cache, back);

            PointerPointer<Pointer> bindings = new PointerPointer<>(2);
            PointerPointer<?> names = new PointerPointer<>("scale", "image");
            for (int batch = 0; batch < 2; batch++) {
                assertTrue(c.getBatch(bindings, names, 2), "batch " + batch);
                float[] scale = device(bindings.get(0), 4);
                float[] image = device(bindings.get(1), 96);
                int a = 2 * batch;
                assertArrayEquals(new float[] {-a, 0.5f * a, -(a + 1), 0.5f * (a + 1)}, scale);
                assertEquals(a * 1000, image[0]);
                assertEquals(a * 1000 + 47, image[47]);
                assertEquals((a + 1) * 1000, image[48]);
                assertEquals((a + 1) * 1000 + 47, image[95]);
            }
            assertFalse(c.getBatch(bindings, names, 2), "5 samples in batches of 2: the fifth is dropped");
            assertNull(c.failure());
        } finally {
            c.release();
        }
    }

    private static float[] device(Pointer p, int n) {
        float[] out = new float[n];
        try (FloatPointer host = new FloatPointer(n)) {
            assertEquals(0, cudaMemcpy(host, p, 4L * n, cudaMemcpyDeviceToHost));
            host.get(out);
        }
        return out;
    }
}
