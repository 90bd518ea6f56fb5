package io.quantbridge.tensorrt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.quantbridge.backend.BackendStatus;
import io.quantbridge.backend.Progress;
import io.quantbridge.request.QuantizationRequest;
import io.quantbridge.request.QuantizationResult;
import io.quantbridge.util.Hashing;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Engine builds on a machine with an NVIDIA GPU, TensorRT 10 and the CUDA 13 runtime; skipped elsewhere with the
 * backend's reason ("no CUDA device ...", "libnvinfer not found ...").
 */
@Tag("gpu")
class GpuEngineTest {
    @TempDir Path tmp;

    private static BackendStatus requireGpu() {
        BackendStatus s = new TensorRtBackend().status();
        assumeTrue(s.usable(), "tensorrt: " + s.reason());
        // a GPU and libnvinfer, but no builder resource for this GPU (the bytedeco redist jar): nothing can be built
        java.util.Optional<String> noBuilder = BuilderResources.missing(
                StatusProbe.Environment.current().tensorRtDirs(), TensorRtNative.probeDevice());
        assumeTrue(noBuilder.isEmpty(), () -> "tensorrt: " + noBuilder.orElse(""));
        return s;
    }

    private QuantizationResult build(String path, Path out) {
        // 8 photos calibrate, the rest of the folder is held out: the report's fidelity is the engine's (TensorRT
        // against the float model in ONNX Runtime)
        QuantizationRequest req = QuantizationRequest.builder().model(TensorRtQuantizeTest.detector())
                .calibrationData(TensorRtQuantizeTest.photos()).evaluationData(TensorRtQuantizeTest.photos())
                .maxSamples(8).seed(1).maskIouThreshold(0.3)
                .preprocessing(TensorRtQuantizeTest.PRE_320).outputDir(out).build();
        return new TensorRtQuantization(req, Progress.NONE, new TensorRtBackend().status(),
                Map.of(TensorRtOptions.PATH, path)).run();
    }

    @Test
    void explicitQdqEngineIsBuiltWithItsSidecar() throws Exception {
        requireGpu();
        Path out = tmp.resolve("explicit");
        QuantizationResult r = build("explicit", out);
        Path plan = out.resolve("model.int8.plan");
        assertTrue(Files.size(plan) > 0);
        DeviceInfo here = TensorRtNative.probeDevice();
        EngineMetadata m = EngineCompatibility.check(plan, here);
        assertEquals("explicit", m.quantization());
        assertEquals(Hashing.sha256(TensorRtQuantizeTest.detector()), m.modelSha256());
        @SuppressWarnings("unchecked")
        Map<String, Object> trt = (Map<String, Object>) r.report().get("tensorrt");
        assertEquals(true, trt.get("engine_built"));
        assertEngineFidelity(r);
    }

    /** The bar: the int8 engine's text mask (probability > 0.3) overlaps the float model's by IoU >= 0.90. */
    @SuppressWarnings("unchecked")
    private static void assertEngineFidelity(QuantizationResult r) {
        assertTrue(String.valueOf(r.report().get("fidelity_measured_in")).startsWith("TensorRT"),
                "fidelity measured in " + r.report().get("fidelity_measured_in"));
        Map<String, Map<String, Object>> f = (Map<String, Map<String, Object>>) r.report().get("fidelity");
        Map<String, Object> out = f.values().iterator().next();
        double iou = ((Number) out.get("mask_iou")).doubleValue();
        assertTrue(iou >= 0.90, "mask IoU of the engine against FP32: " + iou + " (" + out + ")");
    }

    @Test
    void implicitEngineUsesOurCalibrationCache() throws Exception {
        BackendStatus s = requireGpu();
        DeviceInfo here = TensorRtNative.probeDevice();
        assumeTrue(here.tensorrt().hasCalibrators(), "TensorRT " + here.tensorrt() + " has no calibrators");
        Path out = tmp.resolve("implicit");
        QuantizationResult r = build("implicit", out);
        Path plan = out.resolve("model.implicit.plan");
        assertEquals("implicit", EngineCompatibility.check(plan, here).quantization());
        assertTrue(s.usable());
        assertEngineFidelity(r);
    }
}
