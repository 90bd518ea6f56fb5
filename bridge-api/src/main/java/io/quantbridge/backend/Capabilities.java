package io.quantbridge.backend;

import io.quantbridge.calib.CalibrationMethod;
import io.quantbridge.request.Precision;
import java.util.List;
import java.util.Set;

/**
 * What a backend can do: the precisions and calibrators it accepts, the targets it builds for, and the model file
 * extensions it reads (for {@code eval}, {@code bench} and {@code inspect}).
 */
public record Capabilities(Set<Precision> precisions, Set<CalibrationMethod> calibrators, List<String> targets,
                           List<String> modelExtensions) {
    public Capabilities {
        precisions = Set.copyOf(precisions);
        calibrators = Set.copyOf(calibrators);
        targets = List.copyOf(targets);
        modelExtensions = List.copyOf(modelExtensions);
    }

    /**
     * Refuses a precision the backend {@code backendId} does not write, naming the option and what it writes
     * instead; every backend's {@code quantize} and the command line call it before any work.
     */
    public void requirePrecision(String backendId, Precision precision) {
        if (precisions.contains(precision)) return;
        List<String> ids = java.util.Arrays.stream(Precision.values()).filter(precisions::contains)
                .map(Precision::id).toList();
        throw new io.quantbridge.QuantbridgeException("--precision " + precision.id() + ": the " + backendId
                + " backend does not write " + precision.id() + " models (it writes " + String.join(", ", ids) + ")");
    }

    public boolean reads(java.nio.file.Path model) {
        String name = model.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
        return modelExtensions.stream().anyMatch(ext -> name.endsWith("." + ext));
    }
}
