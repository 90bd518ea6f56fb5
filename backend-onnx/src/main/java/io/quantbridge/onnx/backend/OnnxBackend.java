package io.quantbridge.onnx.backend;

import ai.onnxruntime.OrtEnvironment;
import io.quantbridge.backend.Backend;
import io.quantbridge.backend.BackendStatus;
import io.quantbridge.backend.Capabilities;
import io.quantbridge.backend.ModelSession;
import io.quantbridge.backend.Progress;
import io.quantbridge.calib.CalibrationMethod;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.runtime.OrtModelSession;
import io.quantbridge.onnx.runtime.OrtRuntime;
import io.quantbridge.request.Precision;
import io.quantbridge.request.QuantizationRequest;
import io.quantbridge.request.QuantizationResult;
import io.quantbridge.request.StagedOutput;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;

/**
 * The embedded default backend: calibrates through ONNX Runtime on the CPU and writes an explicitly quantized
 * (Q/DQ) ONNX model with TensorRT's preferred placement, the portable calibration table and TensorRT's text
 * calibration cache; or an FP16 model. It also runs and times any ONNX model.
 */
public final class OnnxBackend implements Backend {
    private volatile BackendStatus status;

    @Override
    public String id() {
        return "onnx";
    }

    /**
     * The tensors the FP16 range check of a report of this backend found beyond the float16 range (empty when none,
     * or when nothing was checked): their nodes stay float32 in {@code model.fp16.onnx}, which a runtime that picks
     * its own precision per layer (OpenVINO's f16 hint, TensorRT 10's fp16 flag) would not honour.
     */
    public static List<?> fp16Float32Tensors(java.util.Map<String, Object> report) {
        if (report.get("fp16") instanceof java.util.Map<?, ?> fp16 && fp16.get("range_check") instanceof java.util.Map<?, ?> check
                && check.get("beyond_float16") instanceof List<?> beyond) {
            return beyond;
        }
        return List.of();
    }

    /**
     * The rank of the first calibration sample for each input of {@code model} that declares none (an ONNX value type
     * without a shape), in input order; empty when every input has a rank or there is no calibration data. quantize
     * gives those inputs these ranks, every dimension open ({@link io.quantbridge.onnx.OnnxModel#withInputRanks}):
     * shape inference, TensorRT and OpenVINO's ONNX reader need them.
     */
    public static java.util.Map<String, Integer> inputRanksFromData(io.quantbridge.onnx.OnnxModel model,
            io.quantbridge.data.DataSplit split, io.quantbridge.data.Preprocessing images) {
        List<io.quantbridge.tensor.TensorInfo> inputs = model.inputs();
        java.util.Map<String, Integer> ranks = new java.util.LinkedHashMap<>();
        if (split == null || split.calibration().isEmpty()
                || inputs.stream().allMatch(io.quantbridge.tensor.TensorInfo::rankKnown)) {
            return ranks;
        }
        var sample = io.quantbridge.data.SampleSource.load(split.calibration().get(0), inputs, images);
        for (var in : inputs) {
            if (!in.rankKnown() && sample.containsKey(in.name())) ranks.put(in.name(), sample.get(in.name()).rank());
        }
        return ranks;
    }

    /** What the Q/DQ model may be for ({@code --target}); the first is the default. */
    static final List<String> TARGETS = List.of("tensorrt", "openvino", "onnxruntime");
    static final String TARGET_ONNXRUNTIME = "onnxruntime";

    @Override
    public int rank() {
        return 10;
    }

    @Override
    public Capabilities capabilities() {
        return new Capabilities(EnumSet.of(Precision.INT8, Precision.FP16), EnumSet.allOf(CalibrationMethod.class),
                TARGETS, List.of("onnx"), List.of("onnx"));
    }

    @Override
    public BackendStatus status() {
        BackendStatus s = status;
        if (s == null) {
            try {
                OrtRuntime.environment();
                String telemetry = OrtRuntime.telemetryNote();
                s = BackendStatus.ready("ONNX Runtime " + OrtEnvironment.class.getPackage().getImplementationVersion()
                        + " on CPU" + (telemetry == null ? "" : "; " + telemetry));
            } catch (Throwable t) { // UnsatisfiedLinkError and friends: report, never crash
                s = BackendStatus.unusable("ONNX Runtime's native library failed to load: " + t.getMessage(),
                        "use a Linux, macOS or Windows x86-64/arm64 machine with glibc (ONNX Runtime's Java jar "
                                + "bundles its library)");
            }
            status = s;
        }
        return s;
    }

    /** Besides the capabilities: {@code --io int8}, and a target named with what it belongs to. */
    @Override
    public Optional<String> requestProblem(QuantizationRequest request) {
        Optional<String> why = OnnxQuantization.refusal(request);
        return why.isPresent() ? why : Backend.super.requestProblem(request);
    }

    @Override
    public QuantizationResult quantize(QuantizationRequest request, Progress progress) {
        capabilities().requirePrecision(id(), request.precision());
        return StagedOutput.run(request, progress, (r, p) -> new OnnxQuantization(r, p).run());
    }

    @Override
    public ModelSession open(Path model) {
        return OrtModelSession.open(model, 0);
    }

    @Override
    public String inspect(Path model) {
        return OnnxInspector.describe(model);
    }
}
