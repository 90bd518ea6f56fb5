package io.quantbridge.backend;

import io.quantbridge.request.QuantizationRequest;
import io.quantbridge.request.QuantizationResult;
import java.nio.file.Path;
import java.util.Optional;

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

    /**
     * Why this backend cannot read {@code model}, a file of a format it reads ({@link Capabilities#reads}), found
     * without compiling or running it; empty when it can read it, or when it cannot tell before opening it. The
     * default selection ({@link BackendSelector}) passes over a backend that gives a reason. Called only on a usable
     * backend. Never throws for a model the backend cannot read: that is the answer.
     */
    default Optional<String> readProblem(Path model) {
        return Optional.empty();
    }

    /**
     * Why this backend would refuse {@code request} before doing any work (a model format, precision, target or
     * option it does not take), in the words its {@link #quantize} fails with; empty when it takes the request, or
     * cannot tell before starting. The default selection for a request ({@link BackendSelector#selectToQuantize})
     * passes over a backend that gives a reason. The default checks the capabilities
     * ({@link Capabilities#problemWith}); a backend that refuses more says so here, and its {@code quantize} fails on
     * any reason given here. Cheap: it must not calibrate or compile. Never throws.
     */
    default Optional<String> requestProblem(QuantizationRequest request) {
        return capabilities().problemWith(id(), request);
    }

    /** A human-readable description of a model file: inputs, outputs, operators, and target-specific checks. */
    String inspect(Path model);
}
