package io.quantbridge.tensorrt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.backend.BackendStatus;
import io.quantbridge.util.NativeLibraries;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

class StatusProbeTest {
    private static StatusProbe.Environment env(Set<String> libs, Set<String> devices, boolean jni) {
        return env(libs, devices, jni, List.of("libnvinfer.so.10", "libnvinfer_builder_resource_sm90.so.10.15.1"));
    }

    private static StatusProbe.Environment env(Set<String> libs, Set<String> devices, boolean jni,
                                               List<String> trtDir) {
        return new StatusProbe.Environment(
                (name, dirs) -> libs.contains(name) ? Optional.of(Path.of("/opt/trt/lib").resolve(name))
                        : Optional.empty(),
                p -> devices.contains(p.toString()), r -> jni, "linux-x86_64", List.of(), List.of(),
                dir -> dir.equals(Path.of("/opt/trt/lib")) ? trtDir : List.of(), null);
    }

    private static final Set<String> ALL = Set.of("libcuda.so.1", "libnvinfer.so.10", "libnvonnxparser.so.10",
            "libcudart.so.13");

    @Test
    void noDriverIsNoCudaDevice() {
        BackendStatus s = StatusProbe.probe(env(Set.of(), Set.of("/dev/nvidiactl"), true));
        assertFalse(s.usable());
        assertEquals("no CUDA device (NVIDIA driver library libcuda.so.1 not found)", s.reason());
        assertTrue(s.fix().contains("--backend onnx"), s.fix());
    }

    @Test
    void driverWithoutDeviceNodeIsNoCudaDevice() {
        BackendStatus s = StatusProbe.probe(env(ALL, Set.of(), true));
        assertTrue(s.reason().startsWith("no CUDA device (no /dev/nvidiactl"), s.reason());
        // a Jetson has /dev/nvhost-ctrl instead
        assertTrue(StatusProbe.probe(env(ALL, Set.of("/dev/nvhost-ctrl"), true)).usable());
    }

    @Test
    void eachMissingLibraryIsNamed() {
        Set<String> dev = Set.of("/dev/nvidiactl");
        BackendStatus s = StatusProbe.probe(env(Set.of("libcuda.so.1"), dev, true));
        assertTrue(s.reason().startsWith("libnvinfer not found"), s.reason());
        assertTrue(s.fix().contains("TENSORRT_HOME"), s.fix());
        s = StatusProbe.probe(env(Set.of("libcuda.so.1", "libnvinfer.so.10"), dev, true));
        assertTrue(s.reason().startsWith("libnvonnxparser.so.10 not found"), s.reason());
        s = StatusProbe.probe(env(Set.of("libcuda.so.1", "libnvinfer.so.10", "libnvonnxparser.so.10"), dev, true));
        assertTrue(s.reason().startsWith("libcudart.so.13 not found"), s.reason());
        s = StatusProbe.probe(env(ALL, dev, false));
        assertTrue(s.reason().startsWith("no TensorRT presets for linux-x86_64"), s.reason());
    }

    @Test
    void aConfiguredHomeWithoutTensorRtIsNamedThoughTheSystemHasOne() {
        StatusProbe.Environment system = env(ALL, Set.of("/dev/nvidiactl"), true); // TensorRT in /opt/trt/lib
        StatusProbe.Environment wrong = new StatusProbe.Environment(system.findLibrary(), system.exists(),
                system.hasResource(), system.platform(), List.of(Path.of("/home/me/TensorRT-10.15/lib")), List.of(),
                system.listDir(), "TENSORRT_HOME=/home/me/TensorRT-10.15");
        BackendStatus s = StatusProbe.probe(wrong);
        assertFalse(s.usable());
        assertEquals("TENSORRT_HOME=/home/me/TensorRT-10.15 holds no lib/libnvinfer.so.10", s.reason());
        assertTrue(s.fix().startsWith("point TENSORRT_HOME at a TensorRT 10 installation"), s.fix());
        // the home that holds it is used
        StatusProbe.Environment right = new StatusProbe.Environment(system.findLibrary(), system.exists(),
                system.hasResource(), system.platform(), List.of(Path.of("/opt/trt/lib")), List.of(),
                system.listDir(), "-Dquantbridge.tensorrt.home=/opt/trt");
        assertTrue(StatusProbe.probe(right).usable(), StatusProbe.probe(right).describe());
    }

    @Test
    void everythingPresentIsUsable() {
        BackendStatus s = StatusProbe.probe(env(ALL, Set.of("/dev/nvidiactl"), true));
        assertTrue(s.usable(), s.describe());
        assertEquals("TensorRT 10 engines through the JavaCPP presets; libnvinfer at /opt/trt/lib", s.reason());
    }

    @Test
    void withoutBuilderResourcesEnginesRunButTheDetailSaysNoneCanBeBuilt() {
        // the bytedeco redist jar's files: the PTX resource only
        BackendStatus s = StatusProbe.probe(env(ALL, Set.of("/dev/nvidiactl"), true, List.of("libnvinfer.so.10",
                "libnvonnxparser.so.10", "libnvinfer_builder_resource_ptx.so.10.15.1")));
        assertTrue(s.usable(), s.describe());
        assertEquals("TensorRT 10 engines through the JavaCPP presets; libnvinfer at /opt/trt/lib; no builder "
                + "resource there (libnvinfer_builder_resource_sm<NN>.so, as in the bytedeco redist jar): engines run, "
                + "but none can be built", s.reason());
    }

    @Test
    void thisMachineReportsCleanly() {
        BackendStatus s = new TensorRtBackend().status();
        if (NativeLibraries.find("libcuda.so.1", List.of()).isEmpty()) {
            assertFalse(s.usable());
            assertTrue(s.describe().startsWith("unusable: no CUDA device"), s.describe());
        }
        assertTrue(s.reason() != null && !s.reason().isBlank());
    }

    @Test
    void thePresetsJniLibrariesAreOnTheClassPathForLinuxX86() {
        // the runtime dependency that lets a GPU machine load TensorRT without further setup
        assertTrue(StatusProbe.class.getClassLoader()
                .getResource("org/bytedeco/tensorrt/linux-x86_64/libjninvinfer.so") != null);
    }
}
