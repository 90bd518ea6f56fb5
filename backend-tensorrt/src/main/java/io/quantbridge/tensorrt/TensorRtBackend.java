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
import io.quantbridge.request.StagedOutput;
import io.quantbridge.util.InputFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;

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
                List.of("gpu", "jetson", "dla"), List.of("plan", "engine"), List.of("onnx"));
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
        try {
            return StatusProbe.probe(StatusProbe.Environment.current());
        } catch (RuntimeException e) { // status() never throws
            return BackendStatus.unusable("probing for TensorRT failed: " + e.getMessage(),
                    "report this; meanwhile " + StatusProbe.ONNX_FIX);
        }
    }

    /** Besides the capabilities: {@code --io int8}. */
    @Override
    public Optional<String> requestProblem(QuantizationRequest request) {
        Optional<String> why = TensorRtQuantization.ioRefusal(request);
        return why.isPresent() ? why : Backend.super.requestProblem(request);
    }

    /**
     * Writes the portable files (Q/DQ model, FP32 model + calibration cache, trtexec command lines) on every
     * machine, and the engine with its sidecar where {@link #status()} is usable. Without a GPU the result's report
     * says {@code engine_built: false} and why.
     */
    @Override
    public QuantizationResult quantize(QuantizationRequest request, Progress progress) {
        capabilities().requirePrecision(id(), request.precision());
        BackendStatus status = status();
        return StagedOutput.run(request, progress,
                (r, p) -> new TensorRtQuantization(r, p, status, TensorRtQuantization.systemProperties()).run());
    }

    /**
     * Opens a {@code .plan} on the first CUDA device after checking its sidecar against this machine (TensorRT
     * release, GPU); a mismatch is refused with the reason. Runs take and return float32 tensors.
     */
    @Override
    public ModelSession open(Path model) {
        BackendStatus s = status();
        if (!s.usable()) throw unusable();
        EngineCompatibility.check(model, TensorRtNative.probeDevice());
        return TensorRtSession.open(model);
    }

    /** The engine's sidecar metadata, and whether it fits this machine (when a GPU and TensorRT are here). */
    @Override
    public String inspect(Path model) {
        InputFiles.require(model, "engine");
        EngineMetadata meta = EngineMetadata.readFor(model);
        StringBuilder sb = new StringBuilder();
        sb.append(model.getFileName()).append(": TensorRT engine, ").append(sizeOf(model)).append(" bytes\n");
        meta.toMap().forEach((k, v) -> sb.append(String.format(java.util.Locale.ROOT, "  %-18s %s%n", k, v)));
        BackendStatus s = status();
        if (!s.usable()) {
            sb.append("compatibility with this machine: not checked (").append(s.reason()).append(")\n");
        } else {
            try {
                EngineCompatibility.check(model, TensorRtNative.probeDevice());
                sb.append("compatibility with this machine: ok\n");
            } catch (QuantbridgeException e) {
                sb.append("compatibility with this machine: refused: ").append(e.getMessage()).append('\n');
            }
        }
        return sb.toString();
    }

    private static long sizeOf(Path p) {
        try {
            return Files.size(p);
        } catch (java.io.IOException e) {
            throw new QuantbridgeException("cannot read " + p + ": " + e.getMessage(), e);
        }
    }

    private QuantbridgeException unusable() {
        BackendStatus s = status();
        return new QuantbridgeException("tensorrt: " + s.reason() + "; " + s.fix());
    }
}
