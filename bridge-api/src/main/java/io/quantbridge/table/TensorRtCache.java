package io.quantbridge.table;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.util.AtomicFiles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * TensorRT's text calibration cache, as read by {@code trtexec --int8 --calib=<file>} and
 * {@code IInt8Calibrator::readCalibrationCache} (implicit quantization):
 *
 * <pre>
 * TRT-100900-EntropyCalibration2
 * input: 3c008912
 * conv1/Relu:0: 3d2e4b1a
 * </pre>
 *
 * <p>The header is {@code TRT-<version>-<algorithm>}; TensorRT refuses a cache whose version or algorithm differs
 * from its own, so both are parameters. The version is written as TensorRT itself writes it: major*10000 +
 * minor*100 + patch from TensorRT 10 on ({@code 100900} for 10.9.0), four digits before ({@code 8601} for 8.6.1);
 * see {@link #versionOf(String)}. Each following line is {@code <tensor name>: <hex>}, the hex being the IEEE-754
 * float32 bit pattern of {@code scale = amax / 127}, lower case, without leading zeros ({@code 0} for a zero scale).
 * Every line, the last included, ends with {@code "\n"}.
 *
 * <p>Reading splits each line on its <em>last</em> colon (tensor names may contain colons, as trtexec does) and
 * takes {@code amax = scale * 127} (as ONNX Runtime's TensorRT provider does). Blank lines are skipped and a
 * trailing {@code "\r"} is ignored. A cache written by {@link #write} and read back gives the same bytes.
 */
public final class TensorRtCache {
    /** TensorRT's entropy calibrator (IInt8EntropyCalibrator2). */
    public static final String ENTROPY_CALIBRATION_2 = "EntropyCalibration2";
    /** TensorRT's min-max calibrator (IInt8MinMaxCalibrator). */
    public static final String MIN_MAX_CALIBRATION = "MinMaxCalibration";
    /** Algorithm names TensorRT writes into cache headers; the legacy two are accepted for reading old caches. */
    public static final List<String> ALGORITHMS =
            List.of(ENTROPY_CALIBRATION_2, MIN_MAX_CALIBRATION, "EntropyCalibration", "LegacyCalibration");
    /** The version written by default: TensorRT 10.9.0. */
    public static final String DEFAULT_VERSION = "100900";

    /** What a cache holds: the header's version and algorithm, and the ranges (min and max unknown: NaN). */
    public record Contents(String version, String algorithm, CalibrationTable table) { }

    private TensorRtCache() { }

    /**
     * The cache header version for a TensorRT release such as {@code "10.9.0"} ({@code 100900}) or {@code "8.6.1"}
     * ({@code 8601}). A string of digits is returned unchanged.
     */
    public static String versionOf(String release) {
        if (release != null && release.matches("[0-9]+")) return release;
        if (release == null || !release.matches("[0-9]+\\.[0-9]+(\\.[0-9]+)?(\\.[0-9]+)?")) {
            throw new QuantbridgeException("--trt-cache-version: '" + release
                    + "' is neither a header version such as 100900 nor a release such as 10.9.0");
        }
        String[] p = release.split("\\.");
        int major = Integer.parseInt(p[0]);
        int minor = Integer.parseInt(p[1]);
        int patch = p.length > 2 ? Integer.parseInt(p[2]) : 0;
        if (minor > 99 || patch > 99 || (major < 10 && (minor > 9 || patch > 99))) {
            throw new QuantbridgeException("--trt-cache-version: release '" + release + "' is out of range");
        }
        return String.valueOf(major >= 10 ? major * 10000 + minor * 100 + patch : major * 1000 + minor * 100 + patch);
    }

    /** The float32 bit pattern of {@code scale}, lower-case hex without leading zeros. */
    public static String hex(double scale) {
        float f = (float) scale;
        if (f == 0f) f = 0f; // -0.0 would give 80000000
        return Integer.toHexString(Float.floatToIntBits(f));
    }

    /** The cache text for {@code table}: header line, then one line per tensor in table order. */
    public static String format(CalibrationTable table, String version, String algorithm) {
        checkVersion(version);
        checkAlgorithm(algorithm);
        StringBuilder sb = new StringBuilder(32 + 48 * table.tensors().size());
        sb.append("TRT-").append(version).append('-').append(algorithm).append('\n');
        for (TensorRange t : table.tensors().values()) {
            String name = t.name();
            if (name.indexOf('\n') >= 0 || name.indexOf('\r') >= 0) {
                throw new QuantbridgeException("TensorRT calibration cache: tensor name \"" + name.replace("\n", "\\n")
                        .replace("\r", "\\r") + "\" contains a line break and cannot be written");
            }
            sb.append(name).append(": ").append(hex(t.amax() / 127.0)).append('\n');
        }
        return sb.toString();
    }

    /** Writes the cache to {@code file} atomically (temporary file, then rename). */
    public static void write(Path file, CalibrationTable table, String version, String algorithm) {
        String text;
        try {
            text = format(table, version, algorithm);
        } catch (QuantbridgeException e) {
            throw new QuantbridgeException("cannot write TensorRT calibration cache " + file + ": " + e.getMessage(), e);
        }
        AtomicFiles.write(file, text.getBytes(StandardCharsets.UTF_8));
    }

    /** Reads a cache file. Errors name the file and the line. */
    public static Contents read(Path file) {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new QuantbridgeException("TensorRT calibration cache " + file + " does not exist");
        } catch (IOException e) {
            throw new QuantbridgeException("cannot read TensorRT calibration cache " + file + ": " + e.getMessage(), e);
        }
        return parse(text, file.toString());
    }

    /** Parses cache text; {@code source} (normally the file name) starts every error message. */
    public static Contents parse(String text, String source) {
        String where = "TensorRT calibration cache " + source;
        String[] lines = text.split("\n", -1);
        String header = stripCr(lines[0]);
        if (header.isEmpty() && lines.length == 1) {
            throw new QuantbridgeException(where + ", line 1: the file is empty (expected a header such as TRT-"
                    + DEFAULT_VERSION + "-" + ENTROPY_CALIBRATION_2 + ")");
        }
        int dash = header.indexOf('-', 4);
        String version = dash < 0 ? "" : header.substring(4, dash);
        String algorithm = dash < 0 ? "" : header.substring(dash + 1);
        if (!header.startsWith("TRT-") || !version.matches("[0-9]+") || !ALGORITHMS.contains(algorithm)) {
            throw new QuantbridgeException(where + ", line 1: bad header \"" + header + "\" (expected TRT-<version>-<algorithm>"
                    + " such as TRT-" + DEFAULT_VERSION + "-" + ENTROPY_CALIBRATION_2 + "; algorithms: "
                    + String.join(", ", ALGORITHMS) + ")");
        }
        List<TensorRange> ranges = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (int i = 1; i < lines.length; i++) {
            String line = stripCr(lines[i]);
            if (line.isBlank()) continue;
            String at = where + ", line " + (i + 1);
            int colon = line.lastIndexOf(':');
            if (colon < 0) {
                throw new QuantbridgeException(at + ": missing ':' in \"" + line + "\" (expected <tensor name>: <hex>)");
            }
            String name = line.substring(0, colon);
            String hexText = line.substring(colon + 1).trim();
            if (name.isEmpty()) {
                throw new QuantbridgeException(at + ": empty tensor name in \"" + line + "\"");
            }
            if (!hexText.matches("[0-9a-fA-F]{1,8}")) {
                throw new QuantbridgeException(at + ": bad hex \"" + hexText + "\" for tensor \"" + name
                        + "\" (expected the float32 bits of the scale, e.g. 3c008912)");
            }
            float scale = Float.intBitsToFloat(Integer.parseUnsignedInt(hexText, 16));
            if (!(scale >= 0) || Float.isInfinite(scale)) {
                throw new QuantbridgeException(at + ": tensor \"" + name + "\" has scale " + scale + " (hex " + hexText
                        + "), which is not finite and >= 0");
            }
            if (!seen.add(name)) {
                throw new QuantbridgeException(at + ": tensor \"" + name + "\" appears twice");
            }
            ranges.add(new TensorRange(name, scale * 127.0, scale, 0, Double.NaN, Double.NaN));
        }
        return new Contents(version, algorithm, new CalibrationTable(null, null, Map.of(), ranges));
    }

    private static String stripCr(String line) {
        return line.endsWith("\r") ? line.substring(0, line.length() - 1) : line;
    }

    private static void checkVersion(String version) {
        if (version == null || !version.matches("[0-9]+")) {
            throw new QuantbridgeException("--trt-cache-version: '" + version + "' is not a number such as "
                    + DEFAULT_VERSION + " (TensorRT 10.9.0) or 8601 (TensorRT 8.6.1)");
        }
    }

    private static void checkAlgorithm(String algorithm) {
        if (!ALGORITHMS.contains(algorithm)) {
            throw new QuantbridgeException("TensorRT calibration cache algorithm '" + algorithm + "' is not one of "
                    + String.join(", ", ALGORITHMS));
        }
    }
}
