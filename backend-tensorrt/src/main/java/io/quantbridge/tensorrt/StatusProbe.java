package io.quantbridge.tensorrt;

import io.quantbridge.backend.BackendStatus;
import io.quantbridge.util.NativeLibraries;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.function.BiFunction;
import java.util.function.Function;
import java.util.function.Predicate;
import java.util.stream.Stream;

/**
 * Decides the tensorrt backend's status from files alone (nothing native is loaded): an NVIDIA driver and device,
 * TensorRT 10's builder and ONNX parser, the CUDA 13 runtime the JavaCPP presets link against, and the presets'
 * JNI libraries for this platform. The environment is a parameter so that every answer is testable without a GPU.
 */
final class StatusProbe {
    static final String ONNX_FIX = "quantize --backend onnx writes the Q/DQ model, model.fp32.onnx and "
            + "calibration.cache for trtexec without a GPU";

    /**
     * What the probe may look at.
     *
     * @param findLibrary a library file name and the preferred folders -> where it is
     * @param exists      whether a device node exists
     * @param hasResource whether a class-path resource exists (the presets' JNI libraries)
     * @param listDir     the file names in a folder (empty when it cannot be read)
     * @param configured  the TensorRT home the user set, as {@code "-Dquantbridge.tensorrt.home=DIR"} or
     *                    {@code "TENSORRT_HOME=DIR"} (the property wins), or null: its {@code lib} folder is the first
     *                    of {@code tensorRtDirs}
     */
    record Environment(BiFunction<String, List<Path>, Optional<Path>> findLibrary, Predicate<Path> exists,
                       Predicate<String> hasResource, String platform, List<Path> tensorRtDirs, List<Path> cudaDirs,
                       Function<Path, List<String>> listDir, String configured) {
        static Environment current() {
            List<Path> trt = new ArrayList<>();
            String configured = null;
            String home = System.getProperty(TensorRtBackend.HOME_PROPERTY);
            if (home != null && !home.isBlank()) {
                trt.add(Path.of(home).resolve("lib"));
                configured = "-D" + TensorRtBackend.HOME_PROPERTY + "=" + home;
            }
            String env = System.getenv(TensorRtBackend.HOME_ENV);
            if (env != null && !env.isBlank()) {
                trt.add(Path.of(env).resolve("lib"));
                if (configured == null) configured = TensorRtBackend.HOME_ENV + "=" + env;
            }
            List<Path> cuda = new ArrayList<>();
            String cudaHome = System.getenv("CUDA_HOME");
            if (cudaHome != null && !cudaHome.isBlank()) cuda.add(Path.of(cudaHome).resolve("lib64"));
            return new Environment(NativeLibraries::find, Files::exists,
                    r -> StatusProbe.class.getClassLoader().getResource(r) != null, StatusProbe.platform(), trt,
                    cuda, StatusProbe::list, configured);
        }
    }

    private StatusProbe() { }

    /** The file names in {@code dir}, sorted; empty when it cannot be read. */
    static List<String> list(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        } catch (IOException | RuntimeException e) {
            return List.of();
        }
    }

    /** JavaCPP's platform name for this JVM: linux-x86_64, linux-arm64, ... */
    static String platform() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        String o = os.startsWith("linux") ? "linux" : os.startsWith("windows") ? "windows"
                : os.startsWith("mac") ? "macosx" : os;
        String a = switch (arch) {
            case "amd64", "x86_64" -> "x86_64";
            case "aarch64", "arm64" -> "arm64";
            default -> arch;
        };
        return o + "-" + a;
    }

    static BackendStatus probe(Environment env) {
        if (env.findLibrary().apply("libcuda.so.1", List.of()).isEmpty()) {
            return BackendStatus.unusable("no CUDA device (NVIDIA driver library libcuda.so.1 not found)",
                    "install the NVIDIA driver on a machine with an NVIDIA GPU, or use --backend onnx to write "
                            + "a TensorRT-ready Q/DQ model and calibration cache without a GPU");
        }
        if (!env.exists().test(Path.of("/dev/nvidiactl")) && !env.exists().test(Path.of("/dev/nvhost-ctrl"))) {
            return BackendStatus.unusable("no CUDA device (no /dev/nvidiactl or /dev/nvhost-ctrl)",
                    "run on a machine with an NVIDIA GPU (in a container: --gpus all), or: " + ONNX_FIX);
        }
        if (env.configured() != null) { // a TensorRT the user named, not another one found on the system
            Path lib = env.tensorRtDirs().get(0);
            if (!env.findLibrary().apply("libnvinfer.so.10", List.of(lib)).map(p -> lib.equals(p.getParent()))
                    .orElse(false)) {
                String name = env.configured().substring(0, env.configured().indexOf('='));
                return BackendStatus.unusable(env.configured() + " holds no lib/libnvinfer.so.10",
                        "point " + name + " at a TensorRT 10 installation (the folder with lib/ and include/), or "
                                + "unset it to use the TensorRT on the system library path, or: " + ONNX_FIX);
            }
        }
        if (env.findLibrary().apply("libnvinfer.so.10", env.tensorRtDirs()).isEmpty()) {
            return BackendStatus.unusable("libnvinfer not found (TensorRT 10's libnvinfer.so.10)",
                    "install TensorRT 10 and set " + TensorRtBackend.HOME_ENV + " (or -D"
                            + TensorRtBackend.HOME_PROPERTY + ") to its folder, or: " + ONNX_FIX);
        }
        if (env.findLibrary().apply("libnvonnxparser.so.10", env.tensorRtDirs()).isEmpty()) {
            return BackendStatus.unusable("libnvonnxparser.so.10 not found (TensorRT's ONNX parser)",
                    "install TensorRT 10's ONNX parser next to libnvinfer.so.10, or: " + ONNX_FIX);
        }
        if (env.findLibrary().apply("libcudart.so.13", env.cudaDirs()).isEmpty()) {
            return BackendStatus.unusable("libcudart.so.13 not found (the CUDA 13 runtime the TensorRT presets "
                            + "link against)",
                    "install the CUDA 13 runtime (cuda-cudart-13) or set CUDA_HOME, or: " + ONNX_FIX);
        }
        String jni = "org/bytedeco/tensorrt/" + env.platform() + "/libjninvinfer.so";
        if (!env.hasResource().test(jni)) {
            return BackendStatus.unusable("no TensorRT presets for " + env.platform() + " (" + jni
                            + " is not on the class path)",
                    "add org.bytedeco:tensorrt:" + "<version>:" + env.platform() + " and org.bytedeco:cuda:<version>:"
                            + env.platform() + " to the class path, or: " + ONNX_FIX);
        }
        Path dir = env.findLibrary().apply("libnvinfer.so.10", env.tensorRtDirs()).get().getParent();
        boolean builder = env.listDir().apply(dir).stream().anyMatch(f -> f.startsWith("libnvinfer_builder_resource")
                && !f.startsWith("libnvinfer_builder_resource_ptx"));
        return BackendStatus.ready("TensorRT 10 engines through the JavaCPP presets; libnvinfer at " + dir
                + (builder ? "" : "; no builder resource there (libnvinfer_builder_resource_sm<NN>.so, as in the "
                        + "bytedeco redist jar): engines run, but none can be built"));
    }
}
