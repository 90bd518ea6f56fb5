package io.quantbridge.tensorrt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class BuilderResourcesTest {
    private static final DeviceInfo H100 = new DeviceInfo("NVIDIA H100 80GB HBM3", 9, 0, 0,
            new TensorRtVersion(10, 15, 1));
    private static final Path DIR = Path.of("/opt/trt/lib");

    @Test
    void namesTheResourceOfTheGpusArchitecture() {
        assertEquals("libnvinfer_builder_resource_sm90.so.10.15.1", BuilderResources.fileFor(H100));
    }

    @Test
    void theRedistJarsPtxResourceAloneIsNotEnough() {
        // what org.bytedeco:tensorrt:10.15-1.5.13:linux-x86_64-redist unpacks to
        List<String> redist = List.of("libnvinfer.so.10", "libnvonnxparser.so.10", "libnvinfer_plugin.so.10",
                "libnvinfer_vc_plugin.so.10", "libnvinfer_builder_resource_ptx.so.10.15.1");
        String why = BuilderResources.missing(redist, DIR, H100).orElseThrow();
        assertEquals("TensorRT 10.15.1 cannot build engines for NVIDIA H100 80GB HBM3: its builder resource "
                + "libnvinfer_builder_resource_sm90.so.10.15.1 is not in /opt/trt/lib (found "
                + "libnvinfer_builder_resource_ptx.so.10.15.1). The org.bytedeco tensorrt redist jar ships only the "
                + "PTX resource; install TensorRT 10.15.1 from NVIDIA (tar, deb or the pypi.nvidia.com tensorrt-libs "
                + "wheel) and set TENSORRT_HOME, or build on the device from the files written here with the trtexec "
                + "command lines", why);
    }

    @Test
    void aPerArchitectureOrASingleResourceIsEnough() {
        assertTrue(BuilderResources.missing(List.of("libnvinfer.so.10", "libnvinfer_builder_resource_sm90.so.10.15.1"),
                DIR, H100).isEmpty());
        assertTrue(BuilderResources.missing(List.of("libnvinfer.so.10", "libnvinfer_builder_resource.so.10.15.1"),
                DIR, H100).isEmpty());
        // another architecture's resource does not build for this one
        assertTrue(BuilderResources.missing(List.of("libnvinfer_builder_resource_sm89.so.10.15.1"), DIR, H100)
                .isPresent());
    }
}
