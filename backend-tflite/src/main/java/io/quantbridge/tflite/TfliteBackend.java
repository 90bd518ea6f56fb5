package io.quantbridge.tflite;

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
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;

/**
 * Full-integer TFLite models for CPUs and the Edge TPU. Reports itself unusable until the flatbuffer rewriter and
 * the interpreter bridge land; {@code backends} says so rather than failing later.
 */
public final class TfliteBackend implements Backend {
    private static final BackendStatus STATUS = BackendStatus.unusable(
            "full-integer .tflite writing is not implemented in this version",
            "use --backend onnx for a Q/DQ ONNX model");

    @Override
    public String id() {
        return "tflite";
    }

    @Override
    public int rank() {
        return 100;
    }

    @Override
    public Capabilities capabilities() {
        return new Capabilities(EnumSet.of(Precision.INT8, Precision.FP16), EnumSet.allOf(CalibrationMethod.class),
                List.of("cpu", "edgetpu"), List.of("tflite"));
    }

    @Override
    public BackendStatus status() {
        return STATUS;
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

    private static QuantbridgeException unusable() {
        return new QuantbridgeException("tflite: " + STATUS.reason() + "; " + STATUS.fix());
    }
}
