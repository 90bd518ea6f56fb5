package io.quantbridge.table;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.calib.CalibratorSpec;
import io.quantbridge.util.AtomicFiles;
import io.quantbridge.util.Json;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The portable JSON calibration table: what quantbridge writes after calibrating and reads back to reuse a
 * calibration ({@code --table}). The shape is a contract shared with other tools:
 *
 * <pre>
 * {
 *   "format": "quantbridge-calibration-table/1",
 *   "model": {"sha256": "&lt;hex&gt;"},
 *   "calibrator": {"method": "entropy", ...parameters of CalibratorSpec.toMap()},
 *   "data": {...the table's data map: fingerprint, samples, seed, preprocessing},
 *   "tensors": {
 *     "&lt;tensor name&gt;": {"amax": 0.996, "scale": 0.0078425, "zero_point": 0, "min": -0.5, "max": 0.996}
 *   }
 * }
 * </pre>
 *
 * <p>{@code model.sha256} and {@code calibrator} are {@code null} when unknown (a table that came from a TensorRT
 * cache); {@code min} and {@code max} are {@code null} when unknown and read back as NaN. The {@code format} key is
 * optional on reading (a table without it is taken as version 1) but any other value is refused.
 *
 * <p>Reading validates everything and reports the first problem with a {@link QuantbridgeException} naming the file
 * and the key or tensor at fault: missing keys, values of the wrong type, a negative or non-finite {@code amax}, or a
 * {@code scale} that differs from {@code amax / 127} by more than one part in a million.
 */
public final class PortableTableFormat {
    /** The value of the leading {@code "format"} key. */
    public static final String FORMAT = "quantbridge-calibration-table/1";

    /** Relative tolerance when checking {@code scale} against {@code amax / 127}. */
    public static final double SCALE_TOLERANCE = 1e-6;

    private PortableTableFormat() { }

    /** The table as the JSON object described in the class comment (key order as written). */
    public static Map<String, Object> toMap(CalibrationTable table) {
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("format", FORMAT);
        Map<String, Object> model = new LinkedHashMap<>();
        model.put("sha256", table.modelSha256());
        root.put("model", model);
        root.put("calibrator", table.calibrator() == null ? null : table.calibrator().toMap());
        root.put("data", new LinkedHashMap<>(table.data()));
        Map<String, Object> tensors = new LinkedHashMap<>();
        for (TensorRange t : table.tensors().values()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("amax", t.amax());
            m.put("scale", t.scale());
            m.put("zero_point", t.zeroPoint());
            m.put("min", t.min());   // NaN is written as null by Json
            m.put("max", t.max());
            tensors.put(t.name(), m);
        }
        root.put("tensors", tensors);
        return root;
    }

    /** The table as JSON text (pretty-printed, final newline). */
    public static String format(CalibrationTable table) {
        return Json.write(toMap(table));
    }

    /** Writes the table to {@code file} atomically (temporary file, then rename). */
    public static void write(Path file, CalibrationTable table) {
        AtomicFiles.writeString(file, format(table));
    }

    /** Reads and validates a table written by {@link #write}. */
    public static CalibrationTable read(Path file) {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new QuantbridgeException("calibration table " + file + " does not exist");
        } catch (IOException e) {
            throw new QuantbridgeException("cannot read calibration table " + file + ": " + e.getMessage(), e);
        }
        return parse(text, file.toString());
    }

    /**
     * Parses and validates table JSON. {@code source} names where the text came from (normally the file) and starts
     * every error message.
     */
    public static CalibrationTable parse(String text, String source) {
        String where = "calibration table " + source;
        if (text.startsWith("TRT-")) {
            throw new QuantbridgeException(where + " is a TensorRT calibration cache (" + text.lines().findFirst()
                    .orElse("") + "), which holds scales only: give the portable table written beside it, "
                    + "calibration.json");
        }
        Object parsed;
        try {
            parsed = Json.parse(text);
        } catch (QuantbridgeException e) {
            throw new QuantbridgeException(where + ": " + e.getMessage(), e);
        }
        if (!(parsed instanceof Map<?, ?> rootRaw)) {
            throw new QuantbridgeException(where + ": expected a JSON object at the top level");
        }
        Map<?, ?> root = rootRaw;
        if (!root.containsKey("tensors") && root.containsKey("backend") && root.containsKey("artifacts")) {
            throw new QuantbridgeException(where + " is a quantize report (report.json), not a calibration table:"
                    + " give the calibration.json written beside it");
        }
        if (root.containsKey("format")) {
            Object f = root.get("format");
            if (!FORMAT.equals(f)) {
                throw new QuantbridgeException(where + ": unsupported \"format\" " + describe(f)
                        + " (this version reads " + FORMAT + ")");
            }
        }

        Map<?, ?> model = object(root, "model", where, false);
        String sha = null;
        if (!model.containsKey("sha256")) {
            throw new QuantbridgeException(where + ": missing key \"model.sha256\"");
        }
        Object shaValue = model.get("sha256");
        if (shaValue != null) {
            if (!(shaValue instanceof String s) || !s.matches("[0-9a-fA-F]{64}")) {
                throw new QuantbridgeException(where + ": \"model.sha256\" " + describe(shaValue)
                        + " is not a SHA-256 hex digest");
            }
            sha = s.toLowerCase(java.util.Locale.ROOT);
        }

        Map<?, ?> calibMap = object(root, "calibrator", where, true);
        CalibratorSpec spec = null;
        if (calibMap != null) {
            try {
                spec = CalibratorSpec.fromMap(stringKeys(calibMap));
            } catch (QuantbridgeException e) {
                throw new QuantbridgeException(where + ": \"calibrator\": " + e.getMessage(), e);
            } catch (IllegalArgumentException e) {
                throw new QuantbridgeException(where + ": \"calibrator\": " + e.getMessage(), e);
            }
        }

        Map<?, ?> data = object(root, "data", where, false);
        Map<?, ?> tensors = object(root, "tensors", where, false);
        List<TensorRange> ranges = new ArrayList<>();
        for (Map.Entry<?, ?> e : tensors.entrySet()) {
            ranges.add(tensor(String.valueOf(e.getKey()), e.getValue(), where));
        }
        return new CalibrationTable(sha, spec, stringKeys(data), ranges);
    }

    private static TensorRange tensor(String name, Object value, String where) {
        String at = where + ": tensor \"" + name + "\"";
        if (name.isEmpty()) {
            throw new QuantbridgeException(where + ": a tensor has an empty name");
        }
        if (!(value instanceof Map<?, ?> m)) {
            throw new QuantbridgeException(at + ": expected an object with amax, scale, zero_point, min, max, got "
                    + describe(value));
        }
        double amax = number(m, "amax", at, false);
        if (!(amax >= 0) || Double.isInfinite(amax)) {
            throw new QuantbridgeException(at + ": \"amax\" " + amax + " must be finite and >= 0");
        }
        double scale = number(m, "scale", at, false);
        double expected = amax / 127.0;
        if (!(Math.abs(scale - expected) <= SCALE_TOLERANCE * Math.abs(expected))) {
            throw new QuantbridgeException(at + ": \"scale\" " + scale + " is inconsistent with amax/127 = "
                    + expected + " (amax " + amax + ")");
        }
        double zp = number(m, "zero_point", at, false);
        if (zp != Math.rint(zp) || zp < Integer.MIN_VALUE || zp > Integer.MAX_VALUE) {
            throw new QuantbridgeException(at + ": \"zero_point\" " + m.get("zero_point") + " is not an integer");
        }
        double min = number(m, "min", at, true);
        double max = number(m, "max", at, true);
        if (min > max) {
            throw new QuantbridgeException(at + ": \"min\" " + min + " is greater than \"max\" " + max);
        }
        return new TensorRange(name, amax, scale, (int) zp, min, max);
    }

    /** A numeric value; null only where {@code nullable} (read as NaN). */
    private static double number(Map<?, ?> m, String key, String at, boolean nullable) {
        if (!m.containsKey(key)) {
            throw new QuantbridgeException(at + ": missing key \"" + key + "\"");
        }
        Object v = m.get(key);
        if (v == null && nullable) return Double.NaN;
        if (!(v instanceof Number n)) {
            throw new QuantbridgeException(at + ": \"" + key + "\" " + describe(v) + " is not a number");
        }
        return n.doubleValue();
    }

    private static Map<?, ?> object(Map<?, ?> root, String key, String where, boolean nullable) {
        if (!root.containsKey(key)) {
            throw new QuantbridgeException(where + ": missing key \"" + key + "\"");
        }
        Object v = root.get(key);
        if (v == null && nullable) return null;
        if (!(v instanceof Map<?, ?> m)) {
            throw new QuantbridgeException(where + ": \"" + key + "\" " + describe(v) + " is not a JSON object");
        }
        return m;
    }

    private static Map<String, Object> stringKeys(Map<?, ?> m) {
        Map<String, Object> out = new LinkedHashMap<>();
        m.forEach((k, v) -> out.put(String.valueOf(k), v));
        return out;
    }

    private static String describe(Object v) {
        if (v == null) return "null";
        if (v instanceof String s) return "\"" + s + "\"";
        if (v instanceof Map) return "(an object)";
        if (v instanceof List) return "(an array)";
        return String.valueOf(v);
    }
}
