package io.quantbridge.tensorrt;

import io.quantbridge.util.NativeLibraries;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * TensorRT's builder loads its kernels from resource libraries beside {@code libnvinfer}: one per GPU architecture
 * ({@code libnvinfer_builder_resource_sm90.so.10.15.1}) in recent TensorRT 10 releases, or a single
 * {@code libnvinfer_builder_resource.so.10.x.y} in older ones. Without the one for the GPU the build fails at once
 * ("Unable to load library: libnvinfer_builder_resource_sm90..."); the PTX library is no substitute (measured on an
 * H100 with TensorRT 10.15.1: the build asserts on it). The {@code org.bytedeco:tensorrt:10.15-1.5.13} redist jar ships
 * only {@code libnvinfer_builder_resource_ptx}, so engines cannot be built with it alone. Checked before calibrating;
 * where it is missing the backend writes the portable files and says why no engine was built.
 */
final class BuilderResources {
    private BuilderResources() { }

    /** The resource library the builder needs for this GPU, e.g. libnvinfer_builder_resource_sm90.so.10.15.1. */
    static String fileFor(DeviceInfo device) {
        return "libnvinfer_builder_resource_sm" + device.ccMajor() + device.ccMinor() + ".so." + device.tensorrt();
    }

    /**
     * Why the builder cannot build for {@code device} with the libraries in {@code libDir} (the folder of
     * {@code libnvinfer.so.10}), or empty when it can.
     */
    static Optional<String> missing(List<String> filesInLibDir, Path libDir, DeviceInfo device) {
        String single = "libnvinfer_builder_resource.so." + device.tensorrt();
        String perSm = fileFor(device);
        if (filesInLibDir.contains(single) || filesInLibDir.contains(perSm)) return Optional.empty();
        List<String> found = filesInLibDir.stream().filter(f -> f.startsWith("libnvinfer_builder_resource")).sorted()
                .toList();
        return Optional.of("TensorRT " + device.tensorrt() + " cannot build engines for " + device.gpuName()
                + ": its builder resource " + perSm + " is not in " + libDir + " ("
                + (found.isEmpty() ? "no builder resource there" : "found " + String.join(", ", found))
                + "). The org.bytedeco tensorrt redist jar ships only the PTX resource; install TensorRT "
                + device.tensorrt() + " from NVIDIA (tar, deb or the pypi.nvidia.com tensorrt-libs wheel) and set "
                + TensorRtBackend.HOME_ENV + ", or build on the device from the files written here with the "
                + "trtexec command lines");
    }

    /** Why the builder resource for {@code device} is missing next to libnvinfer, or empty when it is there. */
    static Optional<String> missing(List<Path> tensorRtDirs, DeviceInfo device) {
        Optional<Path> lib = NativeLibraries.find("libnvinfer.so.10", tensorRtDirs);
        if (lib.isEmpty()) return Optional.empty(); // loaded from elsewhere (rpath): let TensorRT decide
        Path dir = lib.get().toAbsolutePath().getParent();
        return missing(StatusProbe.list(dir), dir, device);
    }
}
