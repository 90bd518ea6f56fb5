package io.quantbridge.request;

import io.quantbridge.metrics.OutputFidelity;
import io.quantbridge.table.CalibrationTable;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What a quantization run produced: the artifacts written, the calibration table (absent for FP16), and the report
 * (the content of {@code report.json}, as maps, lists, strings, numbers and booleans).
 */
public record QuantizationResult(String backend, List<Artifact> artifacts, CalibrationTable table,
                                 Map<String, Object> report) {
    public QuantizationResult {
        artifacts = List.copyOf(artifacts);
    }

    public Optional<CalibrationTable> calibrationTable() {
        return Optional.ofNullable(table);
    }

    /**
     * Fidelity against the float model on the evaluation samples, by output in model order (report.json's
     * {@code fidelity}); empty when the request had no evaluation data. The TensorRT backend measures the engine when
     * it builds one, ONNX Runtime on the CPU otherwise ({@code fidelity_measured_in} in the report).
     */
    public Map<String, OutputFidelity> fidelity() {
        return report == null ? Map.of() : OutputFidelity.of(report.get("fidelity"));
    }

    /**
     * The first artifact of this kind ({@code "model"}: the quantized model; also {@code "calibration table"},
     * {@code "tensorrt cache"}, {@code "calibrated float model"}, ... as the backend wrote them), or empty.
     */
    public Optional<Artifact> artifact(String kind) {
        return artifacts.stream().filter(a -> a.kind().equals(kind)).findFirst();
    }
}
