package io.quantbridge.table;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.calib.CalibratorSpec;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Per-tensor ranges from one calibration, with where they came from: the SHA-256 of the model, the calibrator and
 * its parameters, and a fingerprint of the calibration data. Immutable; tensor order is kept.
 */
public final class CalibrationTable {
    private final String modelSha256;
    private final CalibratorSpec calibrator;
    private final Map<String, Object> data;
    private final Map<String, TensorRange> tensors;

    public CalibrationTable(String modelSha256, CalibratorSpec calibrator, Map<String, Object> data,
                            Collection<TensorRange> tensors) {
        this.modelSha256 = modelSha256;
        this.calibrator = calibrator;
        this.data = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(data));
        Map<String, TensorRange> m = new LinkedHashMap<>();
        for (TensorRange t : tensors) {
            if (m.put(t.name(), t) != null) {
                throw new IllegalArgumentException("tensor " + t.name() + " appears twice in the calibration table");
            }
        }
        this.tensors = java.util.Collections.unmodifiableMap(m);
    }

    /** Lower-case hex SHA-256 of the model file; may be null for a table read from a TensorRT cache. */
    public String modelSha256() { return modelSha256; }

    /** The calibrator; may be null for a table read from a TensorRT cache. */
    public CalibratorSpec calibrator() { return calibrator; }

    /** How the calibration data was chosen: fingerprint, sample count, seed, preprocessing. */
    public Map<String, Object> data() { return data; }

    public Map<String, TensorRange> tensors() { return tensors; }

    public Optional<TensorRange> get(String tensor) {
        return Optional.ofNullable(tensors.get(tensor));
    }

    /**
     * Refuses to reuse this table for another model or calibrator, with a message saying what differs. With
     * {@code override} the differences are returned instead of thrown (for the report).
     */
    public List<String> checkReusableFor(String modelSha, CalibratorSpec spec, boolean override) {
        List<String> diffs = new ArrayList<>();
        if (modelSha256 != null && modelSha != null && !modelSha256.equals(modelSha)) {
            diffs.add("model SHA-256 differs (table " + modelSha256 + ", model " + modelSha + ")");
        }
        if (calibrator != null && spec != null && !calibrator.equals(spec)) {
            diffs.add("calibrator differs (table " + calibrator.toMap() + ", requested " + spec.toMap() + ")");
        }
        if (!diffs.isEmpty() && !override) {
            throw new QuantbridgeException("calibration table cannot be reused: " + String.join("; ", diffs)
                    + " (pass --force-table to use it anyway)");
        }
        return diffs;
    }
}
