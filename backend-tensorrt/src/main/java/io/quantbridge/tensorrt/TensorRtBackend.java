package io.quantbridge.tensorrt;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.Backend;
import io.quantbridge.backend.BackendStatus;
import io.quantbridge.backend.Capabilities;
import io.quantbridge.backend.ModelSession;
import io.quantbridge.backend.Progress;
import io.quantbridge.calib.CalibrationMethod;
import io.quantbridge.request.Precision;
import io.quantbridge.request.QuantizationRequest;
import io.quantbridge.request.QuantizationResult;
import io.quantbridge.util.NativeLibraries;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;

/**
 * TensorRT engines (explicit Q/DQ and implicit calibration caches) for NVIDIA GPUs and Jetson.
 *
 * <p>Usable only where an NVIDIA driver with a device and the TensorRT 10 runtime ({@code libnvinfer.so.10}) are
 * present. The TensorRT libraries are looked for in {@code -Dquantbridge.tensorrt.home}, {@code $TENSORRT_HOME/lib},
 * then the system's library folders. Nothing native is loaded to answer {@link #status()}.
 */
public final class TensorRtBackend implements Backend {
    public static final String HOME_PROPERTY = "quantbridge.tensorrt.home";
    public static final String HOME_ENV = "TENSORRT_HOME";

    private volatile BackendStatus status;

    @Override
    public String id() {
        return "tensorrt";
    }

    @Override
    public int rank() {
        return 300;
    }

    @Override
    public Capabilities capabilities() {
        return new Capabilities(EnumSet.of(Precision.INT8, Precision.FP16), EnumSet.allOf(CalibrationMethod.class),
                List.of("gpu", "jetson", "dla"), List.of("plan", "engine"));
    }

    @Override
    public BackendStatus status() {
        BackendStatus s = status;
        if (s == null) {
            status = s = probe();
        }
        return s;
    }

    private static BackendStatus probe() {
        if (NativeLibraries.find("libcuda.so.1", List.of()).isEmpty()) {
            return BackendStatus.unusable("no CUDA device (NVIDIA driver library libcuda.so.1 not found)",
                    "install the NVIDIA driver on a machine with an NVIDIA GPU, or use --backend onnx to write "
                            + "a TensorRT-ready Q/DQ model and calibration cache without a GPU");
        }
        if (!Files.exists(Path.of("/dev/nvidiactl")) && !Files.exists(Path.of("/dev/nvhost-ctrl"))) {
            return BackendStatus.unusable("no CUDA device (no /dev/nvidiactl)",
                    "run on a machine with an NVIDIA GPU, or use --backend onnx for a TensorRT-ready Q/DQ model");
        }
        List<Path> preferred = new ArrayList<>();
        String home = System.getProperty(HOME_PROPERTY);
        if (home != null && !home.isBlank()) preferred.add(Path.of(home).resolve("lib"));
        String env = System.getenv(HOME_ENV);
        if (env != null && !env.isBlank()) preferred.add(Path.of(env).resolve("lib"));
        if (NativeLibraries.find("libnvinfer.so.10", preferred).isEmpty()) {
            return BackendStatus.unusable("libnvinfer.so.10 not found",
                    "install TensorRT 10 and set " + HOME_ENV + " (or -D" + HOME_PROPERTY + ") to its folder");
        }
        return BackendStatus.unusable("engine building is not implemented in this version",
                "use --backend onnx to write a Q/DQ model and TensorRT calibration cache for trtexec");
    }

    @Override
    public QuantizationResult quantize(QuantizationRequest request, Progress progress) {
        throw unusable();
    }

    @Override
    public ModelSession open(Path model) {
        throw unusable();
    }

    @Override
    public String inspect(Path model) {
        throw unusable();
    }

    private QuantbridgeException unusable() {
        BackendStatus s = status();
        return new QuantbridgeException("tensorrt: " + s.reason() + "; " + s.fix());
    }
}
