package io.quantbridge.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class SpatialStrideTest {
    private static int[] of(OnnxModel m) {
        return SpatialStride.of(m, m.inputs().get(0).name());
    }

    @Test
    void thePublishedModelsDownsampleAsTheirArchitecturesSay() {
        // DBNet: a backbone to 1/32 and a neck back to 1/4
        assertArrayEquals(new int[] {32, 32}, of(OnnxModel.load(TestModels.ppocr(TestModels.DET))));
        // the recogniser keeps width (1/8) for the text sequence and pools height away; the classifier too
        assertArrayEquals(new int[] {48, 8}, of(OnnxModel.load(TestModels.ppocr(TestModels.REC))));
        assertArrayEquals(new int[] {64, 4}, of(OnnxModel.load(TestModels.ppocr(TestModels.CLS))));
        // tf2onnx's NHWC face detector: through its Transpose to 1/16
        assertArrayEquals(new int[] {16, 16}, of(OnnxModel.load(TestModels.blazefaceOnnx())));
        // a 2x2 pool, then global pooling and a MatMul, which are not followed
        assertArrayEquals(new int[] {2, 2}, of(TinyModels.convModel()));
        assertArrayEquals(new int[] {1, 1}, of(TinyModels.reluModel()));
    }

    @Test
    void theHintNamesTheSizeAndOneTheModelDivides() {
        OnnxModel det = OnnxModel.load(TestModels.ppocr(TestModels.DET));
        assertEquals("input 'x' is fed 192x48, but the model downsamples it 32-fold, and maps it adds back together"
                + " then differ by a row or column: give a size it divides, e.g. --size 192x64",
                SpatialStride.sizeHint(det, "x", 192, 48));
        assertEquals("", SpatialStride.sizeHint(det, "x", 640, 640));
        OnnxModel rec = OnnxModel.load(TestModels.ppocr(TestModels.REC));
        assertEquals("input 'x' is fed 100x40, but the model downsamples it 8x48-fold, and maps it adds back together"
                + " then differ by a row or column: give a size it divides, e.g. --size 104x48",
                SpatialStride.sizeHint(rec, "x", 100, 40));
    }
}
