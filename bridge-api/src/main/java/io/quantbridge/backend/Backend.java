package io.quantbridge.backend;

import io.quantbridge.request.QuantizationRequest;
import io.quantbridge.request.QuantizationResult;
import java.nio.file.Path;

/**
 * A quantization backend, found with {@link java.util.ServiceLoader}. Implementations must be cheap to construct:
 * loading native libraries and probing devices happens in {@link #status()}, and nothing native is loaded before it.
 */
public interface Backend {
    /** Short stable id used in configuration: {@code onnx}, {@code tensorrt}, {@code tflite}, {@code openvino}. */
    String id();

    /** Preference among usable backends when none is configured; higher wins. */
    int rank();

    Capabilities capabilities();

    /** Whether this backend can run here; cheap after the first call. Never throws. */
    BackendStatus status();

    /** Calibrates and writes the artifacts the request asks for into its output folder. */
    QuantizationResult quantize(QuantizationRequest request, Progress progress);

    /** Opens a model this backend reads (see {@link Capabilities#modelExtensions()}) for running. */
    ModelSession open(Path model);

    /** A human-readable description of a model file: inputs, outputs, operators, and target-specific checks. */
    String inspect(Path model);
}
