package io.quantbridge.tensorrt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.util.Hashing;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EngineMetadataTest {
    @TempDir Path tmp;

    static final DeviceInfo HERE = new DeviceInfo("NVIDIA L4", 8, 9, 0, TensorRtVersion.parse("10.15.1"));

    private Path engine(String gpu, String cc, String trt) throws Exception {
        Path plan = tmp.resolve("model.int8.plan");
        Files.write(plan, new byte[] {1, 2, 3, 4});
        new EngineMetadata(trt, gpu, cc, "int8", "explicit", "entropy", "aa", "bb", Hashing.sha256(plan), null,
                "2025-01-01T00:00:00Z").write(EngineMetadata.sidecarOf(plan));
        return plan;
    }

    @Test
    void sidecarRoundTripsAndSitsNextToThePlan() throws Exception {
        Path plan = engine("NVIDIA L4", "8.9", "10.15.1");
        assertEquals(tmp.resolve("model.int8.plan.json"), EngineMetadata.sidecarOf(plan));
        EngineMetadata m = EngineMetadata.readFor(plan);
        assertEquals("NVIDIA L4", m.gpuName());
        assertEquals("entropy", m.calibrator());
        assertEquals(Hashing.sha256(plan), m.planSha256());
        assertEquals(4, Files.size(plan), "the plan holds only its own bytes");
        String json = Files.readString(EngineMetadata.sidecarOf(plan));
        for (String key : new String[] {"tensorrt_version", "gpu_name", "compute_capability", "precision",
                "calibrator", "model_sha256"}) {
            assertTrue(json.contains("\"" + key + "\""), key);
        }
        assertEquals(m, EngineCompatibility.check(plan, HERE));
    }

    @Test
    void anotherTensorRtReleaseIsRefused() throws Exception {
        Path plan = engine("NVIDIA L4", "8.9", "10.3.0");
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> EngineCompatibility.check(plan, HERE));
        assertEquals("engine model.int8.plan was built with TensorRT 10.3.0 but this machine has TensorRT 10.15.1; "
                + "engines only load in the TensorRT release that built them: rebuild it here (quantize --backend "
                + "tensorrt, or trtexec)", e.getMessage());
        // the build number does not matter
        Path same = engine("NVIDIA L4", "8.9", "10.15.1.29");
        EngineCompatibility.check(same, HERE);
    }

    @Test
    void anotherGpuIsRefused() throws Exception {
        Path plan = engine("NVIDIA A100-SXM4-40GB", "8.0", "10.15.1");
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> EngineCompatibility.check(plan, HERE));
        assertTrue(e.getMessage().contains("built for NVIDIA A100-SXM4-40GB (compute capability 8.0) but this GPU is "
                + "NVIDIA L4 (compute capability 8.9)"), e.getMessage());
        Path sameCc = engine("NVIDIA GeForce RTX 4090", "8.9", "10.15.1");
        e = assertThrows(QuantbridgeException.class, () -> EngineCompatibility.check(sameCc, HERE));
        assertTrue(e.getMessage().contains("different model"), e.getMessage());
    }

    @Test
    void aReplacedPlanOrAMissingSidecarIsRefused() throws Exception {
        Path plan = engine("NVIDIA L4", "8.9", "10.15.1");
        Files.write(plan, new byte[] {9, 9});
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> EngineCompatibility.check(plan, HERE));
        assertTrue(e.getMessage().contains("does not match its sidecar"), e.getMessage());
        Files.delete(EngineMetadata.sidecarOf(plan));
        e = assertThrows(QuantbridgeException.class, () -> EngineCompatibility.check(plan, HERE));
        assertTrue(e.getMessage().contains("has no sidecar model.int8.plan.json"), e.getMessage());
        Files.writeString(EngineMetadata.sidecarOf(plan), "{\"format\": \"other\"}");
        e = assertThrows(QuantbridgeException.class, () -> EngineMetadata.readFor(plan));
        assertTrue(e.getMessage().contains("not a quantbridge TensorRT engine sidecar"), e.getMessage());
    }

    @Test
    void dlaEnginesNeedTheCore() {
        EngineMetadata m = new EngineMetadata("10.3.0", "Orin", "8.7", "int8", "implicit", "entropy", "a", "b", "c",
                1, "t");
        EngineCompatibility.check(m, new DeviceInfo("Orin", 8, 7, 2, TensorRtVersion.parse("10.3.0")), "e.plan");
        QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> EngineCompatibility.check(m,
                new DeviceInfo("Orin", 8, 7, 1, TensorRtVersion.parse("10.3.0")), "e.plan"));
        assertTrue(e.getMessage().contains("DLA core 1"), e.getMessage());
    }

    @Test
    void inspectShowsTheSidecarWithoutAGpu() throws Exception {
        Path plan = engine("NVIDIA L4", "8.9", "10.15.1");
        TensorRtBackend b = new TensorRtBackend();
        String text = b.inspect(plan);
        assertTrue(text.contains("gpu_name") && text.contains("NVIDIA L4"), text);
        if (!b.status().usable()) {
            assertTrue(text.contains("not checked (" + b.status().reason() + ")"), text);
            QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> b.open(plan));
            assertTrue(e.getMessage().startsWith("tensorrt: " + b.status().reason()), e.getMessage());
        }
    }
}
