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
        return s;
    }

    private QuantizationResult build(String path, Path out) {
        QuantizationRequest req = QuantizationRequest.builder().model(TensorRtQuantizeTest.detector())
                .calibrationData(TensorRtQuantizeTest.photos()).maxSamples(8).seed(1)
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
    }

    @Test
    void implicitEngineUsesOurCalibrationCache() throws Exception {
        BackendStatus s = requireGpu();
        DeviceInfo here = TensorRtNative.probeDevice();
        assumeTrue(here.tensorrt().hasCalibrators(), "TensorRT " + here.tensorrt() + " has no calibrators");
        Path out = tmp.resolve("implicit");
        build("implicit", out);
        Path plan = out.resolve("model.implicit.plan");
        assertEquals("implicit", EngineCompatibility.check(plan, here).quantization());
        assertTrue(s.usable());
    }
}
