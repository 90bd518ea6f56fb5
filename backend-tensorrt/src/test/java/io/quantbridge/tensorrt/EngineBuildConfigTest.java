package io.quantbridge.tensorrt;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.request.Precision;
import io.quantbridge.request.QuantizationRequest;
import io.quantbridge.tensor.TensorInfo;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class EngineBuildConfigTest {
    /** The PaddleOCR detector's input: batch, height and width dynamic. */
    static final List<TensorInfo> DET = List.of(new TensorInfo("x", "float", new long[] {-1, 3, -1, -1}));

    @Test
    void defaultsAndImmutability() {
        EngineBuildConfig c = EngineBuildConfig.builder().profile(ShapeProfile.fixed("x", 1, 3, 320, 320)).build();
        assertEquals(Precision.INT8, c.precision());
        assertEquals(EngineBuildConfig.Quantization.EXPLICIT, c.quantization());
        assertFalse(c.allowFp32());
        assertTrue(c.gpuFallback());
        assertEquals(0, c.workspaceBytes());
        assertThrows(UnsupportedOperationException.class, () -> c.profiles().add(ShapeProfile.fixed("y", 1)));
        EngineBuildConfig d = c.toBuilder().allowFp32(true).build();
        assertFalse(c.allowFp32());
        assertTrue(d.allowFp32());
        assertEquals(c.profiles(), d.profiles());
    }

    @Test
    void invalidCombinationsAreRefused() {
        assertThrows(QuantbridgeException.class, () -> EngineBuildConfig.builder().precision(Precision.FP16)
                .quantization(EngineBuildConfig.Quantization.IMPLICIT).build());
        assertThrows(QuantbridgeException.class, () -> EngineBuildConfig.builder().workspaceBytes(-1).build());
        assertThrows(QuantbridgeException.class, () -> EngineBuildConfig.builder().workspaceBytes(4096).build());
        assertThrows(QuantbridgeException.class, () -> EngineBuildConfig.builder().calibrationBatch(0).build());
        assertThrows(QuantbridgeException.class, () -> EngineBuildConfig.builder().optimizationLevel(6).build());
        assertThrows(QuantbridgeException.class, () -> EngineBuildConfig.builder().dlaCore(-1).build());
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> EngineBuildConfig.builder().dlaCore(0).allowFp32(true).build());
        assertTrue(e.getMessage().contains("DLA runs only int8 and fp16"), e.getMessage());
        assertThrows(QuantbridgeException.class, () -> EngineBuildConfig.builder()
                .profile(ShapeProfile.fixed("x", 1, 3, 32, 32)).profile(ShapeProfile.fixed("x", 1, 3, 64, 64))
                .build());
    }

    @Test
    void shapeProfilesValidateThemselves() {
        assertThrows(QuantbridgeException.class, () -> new ShapeProfile("x", new long[] {1, 3, 640, 640},
                new long[] {1, 3, 320, 320}, new long[] {1, 3, 960, 960}));
        assertThrows(QuantbridgeException.class, () -> new ShapeProfile("x", new long[] {1, 3},
                new long[] {1, 3, 320, 320}, new long[] {1, 3, 960, 960}));
        assertThrows(QuantbridgeException.class, () -> ShapeProfile.fixed("x", 1, 0, 3));
        ShapeProfile p = ShapeProfile.parse("x:1x3x320x320,1x3x640x640,4x3x960x960");
        assertArrayEquals(new long[] {4, 3, 960, 960}, p.max());
        assertEquals("x:1x3x320x320,1x3x640x640,4x3x960x960", p.toString());
        assertEquals(ShapeProfile.fixed("a:b", 1, 2), ShapeProfile.parse("a:b:1x2"));
        assertThrows(QuantbridgeException.class, () -> ShapeProfile.parse("x:1x3,2x3"));
        assertThrows(QuantbridgeException.class, () -> ShapeProfile.parse("1x3x320x320"));
    }

    @Test
    void profilesAreCheckedAgainstTheModelsInputs() {
        ShapeProfile.checkAgainst(List.of(ShapeProfile.parse("x:1x3x320x320,1x3x640x640,1x3x960x960")), DET);
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> ShapeProfile.checkAgainst(List.of(), DET));
        assertTrue(e.getMessage().contains("has dynamic dimensions: give it a profile"), e.getMessage());
        e = assertThrows(QuantbridgeException.class,
                () -> ShapeProfile.checkAgainst(List.of(ShapeProfile.fixed("image", 1, 3, 32, 32)), DET));
        assertTrue(e.getMessage().contains("'image', which is not an input of the model"), e.getMessage());
        e = assertThrows(QuantbridgeException.class,
                () -> ShapeProfile.checkAgainst(List.of(ShapeProfile.fixed("x", 1, 4, 32, 32)), DET));
        assertTrue(e.getMessage().contains("dimension 1 is fixed at 3"), e.getMessage());
        e = assertThrows(QuantbridgeException.class,
                () -> ShapeProfile.checkAgainst(List.of(ShapeProfile.fixed("x", 1, 3, 32)), DET));
        assertTrue(e.getMessage().contains("rank 3"), e.getMessage());
        // a static model needs no profile
        ShapeProfile.checkAgainst(List.of(), List.of(new TensorInfo("x", "float", new long[] {1, 3, 8, 8})));
    }

    @Test
    void implicitCalibrationBatchMustMatchTheOptShape() {
        EngineBuildConfig c = EngineBuildConfig.builder().quantization(EngineBuildConfig.Quantization.IMPLICIT)
                .calibrationBatch(2).profile(ShapeProfile.fixed("x", 1, 3, 320, 320)).build();
        assertThrows(QuantbridgeException.class, () -> c.checkAgainst(DET));
    }

    private static QuantizationRequest request(String target, int w, int h) {
        QuantizationRequest.Builder b = QuantizationRequest.builder().model(Path.of("m.onnx"))
                .calibrationData(Path.of("d")).outputDir(Path.of("out"))
                .preprocessing(Preprocessing.builder().size(w, h).build());
        if (target != null) b.target(target);
        return b.build();
    }

    @Test
    void optionsComeFromSystemPropertiesAndTheRequest() {
        EngineBuildConfig c = TensorRtOptions.from(request(null, 320, 256), DET, Map.of());
        assertEquals(List.of(ShapeProfile.fixed("x", 1, 3, 256, 320)), c.profiles());
        assertFalse(c.dlaCore().isPresent());

        c = TensorRtOptions.from(request("dla:1", 320, 320), DET, Map.of(TensorRtOptions.PATH, "implicit",
                TensorRtOptions.WORKSPACE, "2g", TensorRtOptions.TIMING_CACHE, "/tmp/t.cache",
                TensorRtOptions.PROFILES, "x:1x3x320x320,1x3x640x640,1x3x960x960",
                TensorRtOptions.FP16_FLOAT_LAYERS, "true"));
        assertEquals(EngineBuildConfig.Quantization.IMPLICIT, c.quantization());
        assertEquals(2L << 30, c.workspaceBytes());
        assertEquals(Path.of("/tmp/t.cache"), c.timingCache().get());
        assertEquals(1, c.dlaCore().getAsInt());
        assertTrue(c.fp16FloatLayers());
        assertEquals("x:1x3x320x320,1x3x640x640,1x3x960x960", c.profiles().get(0).toString());

        assertThrows(QuantbridgeException.class, () -> TensorRtOptions.from(request(null, 320, 320), DET,
                Map.of(TensorRtOptions.PATH, "qdq")));
        assertThrows(QuantbridgeException.class, () -> TensorRtOptions.from(request("cpu", 320, 320), DET,
                Map.of()));
        assertThrows(QuantbridgeException.class, () -> TensorRtOptions.from(request(null, 320, 320), DET,
                Map.of(TensorRtOptions.ALLOW_FP32, "maybe")));
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> TensorRtOptions.from(request(null, 0, 0), DET, Map.of()));
        assertTrue(e.getMessage().contains(TensorRtOptions.PROFILES), e.getMessage());
        assertEquals("tensorrt: input x float[-1, 3, -1, -1] has dynamic dimensions that neither --size nor a "
                + "calibration sample fixes; give -Dquantbridge.tensorrt.profiles=x:min,opt,max", e.getMessage());

        // the samples' shapes make the profile, where they are shapes of the input: one shape fixes it
        c = TensorRtOptions.from(request(null, 0, 0), DET, Map.of(),
                () -> List.of(Map.of("x", new long[] {1, 3, 48, 192})));
        assertEquals(List.of(ShapeProfile.fixed("x", 1, 3, 48, 192)), c.profiles());
        c = TensorRtOptions.from(request(null, 320, 256), DET, Map.of(),
                () -> List.of(Map.of("x", new long[] {3, 48, 192})));
        assertEquals(List.of(ShapeProfile.fixed("x", 1, 3, 256, 320)), c.profiles());
        // several span it: min and max per dimension, opt the median (text lines of several widths used to get an
        // engine that took the first sample's width only, and failed on the others when measured)
        c = TensorRtOptions.from(request(null, 0, 0), DET, Map.of(), () -> List.of(
                Map.of("x", new long[] {1, 3, 48, 320}), Map.of("x", new long[] {1, 3, 48, 96}),
                Map.of("x", new long[] {1, 3, 32, 960}), Map.of("x", new long[] {1, 3, 48, 200}),
                Map.of("x", new long[] {3, 48, 100})));
        assertEquals(List.of(new ShapeProfile("x", new long[] {1, 3, 32, 96}, new long[] {1, 3, 48, 200},
                new long[] {1, 3, 48, 960})), c.profiles());
        assertEquals("x:1x3x32x96,1x3x48x200,1x3x48x960", c.profiles().get(0).toString());
        c = TensorRtOptions.from(request(null, 320, 256), DET, Map.of(TensorRtOptions.PROFILES, "x:1x3x64x64"),
                () -> { throw new AssertionError("samples read although a profile was given"); });
        assertEquals(List.of(ShapeProfile.fixed("x", 1, 3, 64, 64)), c.profiles());
        assertEquals(512L << 20, TensorRtOptions.bytes("512m"));
        assertEquals(536870912L, TensorRtOptions.bytes("536870912"));
    }
}
