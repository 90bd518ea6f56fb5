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

    public boolean reads(java.nio.file.Path model) {
        String name = model.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
        return modelExtensions.stream().anyMatch(ext -> name.endsWith("." + ext));
    }
}
