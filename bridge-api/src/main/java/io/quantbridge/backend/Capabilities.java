package io.quantbridge.backend;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.calib.CalibrationMethod;
import io.quantbridge.request.Precision;
import io.quantbridge.request.QuantizationRequest;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;

/**
 * What a backend can do: the precisions and calibrators it accepts, the targets it builds for, the model file
 * extensions it reads (for {@code eval}, {@code bench} and {@code inspect}) and those {@code quantize} takes (TensorRT
 * runs engines but quantizes ONNX models).
 */
public record Capabilities(Set<Precision> precisions, Set<CalibrationMethod> calibrators, List<String> targets,
                           List<String> modelExtensions, List<String> quantizes) {
    public Capabilities {
        precisions = Set.copyOf(precisions);
        calibrators = Set.copyOf(calibrators);
        targets = List.copyOf(targets);
        modelExtensions = List.copyOf(modelExtensions);
        quantizes = List.copyOf(quantizes);
    }

    /**
     * Refuses a precision the backend {@code backendId} does not write, naming the option and what it writes
     * instead; every backend's {@code quantize} and the command line call it before any work.
     */
    public void requirePrecision(String backendId, Precision precision) {
        if (!precisions.contains(precision)) {
            throw new QuantbridgeException(precisionProblem(backendId, precision));
        }
    }

    private String precisionProblem(String backendId, Precision precision) {
        List<String> ids = Arrays.stream(Precision.values()).filter(precisions::contains)
                .map(Precision::id).toList();
        return "--precision " + precision.id() + ": the " + backendId + " backend does not write " + precision.id()
                + " models (it writes " + String.join(", ", ids) + ")";
    }

    /** Whether {@code model}'s extension is one this backend runs ({@link #modelExtensions}). */
    public boolean reads(Path model) {
        return hasExtension(model, modelExtensions);
    }

    /** Whether {@code quantize} takes {@code model}, by its extension ({@link #quantizes}). */
    public boolean quantizes(Path model) {
        return hasExtension(model, quantizes);
    }

    /**
     * What the request asks of the backend {@code backendId} that these capabilities rule out, in the words its
     * {@code quantize} fails with: a model of another format, a precision it does not write, a target it does not
     * build for (a target {@code NAME:N}, such as {@code dla:1}, counts as {@code NAME}); empty when none.
     */
    public Optional<String> problemWith(String backendId, QuantizationRequest req) {
        if (req.model().getFileName() != null && !quantizes(req.model())) {
            return Optional.of(backendId + ": quantize takes " + String.join(" or ", quantizes.stream()
                    .map(e -> "." + e).toList()) + " models, not " + req.model().getFileName());
        }
        if (!precisions.contains(req.precision())) return Optional.of(precisionProblem(backendId, req.precision()));
        if (req.target().isPresent()) {
            String t = req.target().get().trim().toLowerCase(Locale.ROOT);
            String kind = t.contains(":") ? t.substring(0, t.indexOf(':')) : t;
            if (!targets.contains(t) && !targets.contains(kind)) {
                return Optional.of("--target " + req.target().get() + ": the " + backendId
                        + " backend builds for " + String.join(", ", targets));
            }
        }
        return Optional.empty();
    }

    private static boolean hasExtension(Path model, List<String> extensions) {
        String name = model.getFileName().toString().toLowerCase(Locale.ROOT);
        return extensions.stream().anyMatch(ext -> name.endsWith("." + ext));
    }
}
