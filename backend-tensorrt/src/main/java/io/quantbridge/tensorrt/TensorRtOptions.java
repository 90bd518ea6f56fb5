package io.quantbridge.tensorrt;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.request.QuantizationRequest;
import io.quantbridge.tensor.TensorInfo;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The engine build settings a {@code quantize --backend tensorrt} run takes, from system properties (the command
 * line has no TensorRT-specific options) and the request:
 *
 * <ul>
 *   <li>{@value #PATH}: {@code explicit} (default: the Q/DQ model) or {@code implicit} (TensorRT 10: the FP32 model
 *       and this tool's calibration cache through an IInt8EntropyCalibrator2);</li>
 *   <li>{@value #ALLOW_FP32}: {@code true} to build FP32 where the GPU lacks fast int8/fp16 (default: stop);</li>
 *   <li>{@value #WORKSPACE}: the workspace memory pool limit, bytes or with a k/m/g suffix;</li>
 *   <li>{@value #TIMING_CACHE}: a timing cache file (read when present, written after the build);</li>
 *   <li>{@value #PROFILES}: optimization profiles, {@code name:min,opt,max} separated by {@code ;} (trtexec's
 *       {@code 1x3x640x640} spelling); by default each dynamic input's profile spans the shapes of the calibration and
 *       evaluation samples (min and max per dimension, opt the median; images: batch 1 and {@code --size}), or is
 *       fixed at batch 1 and {@code --size} where there are no samples;</li>
 *   <li>{@value #FP16_FLOAT_LAYERS}: {@code true} to let float layers of an int8 engine run in fp16;</li>
 *   <li>{@code --target gpu} (default), {@code dla} or {@code dla:N} (DLA core N, GPU fallback on), and
 *       {@value #GPU_FALLBACK}=false to turn the fallback off.</li>
 * </ul>
 */
public final class TensorRtOptions {
    public static final String PATH = "quantbridge.tensorrt.path";
    public static final String ALLOW_FP32 = "quantbridge.tensorrt.allowFp32";
    public static final String WORKSPACE = "quantbridge.tensorrt.workspace";
    public static final String TIMING_CACHE = "quantbridge.tensorrt.timingCache";
    public static final String PROFILES = "quantbridge.tensorrt.profiles";
    public static final String FP16_FLOAT_LAYERS = "quantbridge.tensorrt.fp16FloatLayers";
    public static final String GPU_FALLBACK = "quantbridge.tensorrt.gpuFallback";

    private TensorRtOptions() { }

    /** The configuration for {@code req} on a model with {@code inputs}, from {@code props}, without samples. */
    public static EngineBuildConfig from(QuantizationRequest req, List<TensorInfo> inputs, Map<String, String> props) {
        return from(req, inputs, props, List::of);
    }

    /**
     * The configuration for {@code req} on a model with {@code inputs}, from {@code props}; {@code sampleShapes}
     * gives the shapes each calibration and evaluation sample feeds the inputs at, a map per sample (asked only when
     * a dynamic input needs a default profile; empty when there are no samples). A dynamic input's default profile
     * spans the samples' shapes ({@link ShapeProfile#spanning}): the engine takes every sample it is calibrated and
     * measured on.
     */
    public static EngineBuildConfig from(QuantizationRequest req, List<TensorInfo> inputs, Map<String, String> props,
                                         java.util.function.Supplier<List<Map<String, long[]>>> sampleShapes) {
        EngineBuildConfig.Builder b = EngineBuildConfig.builder().precision(req.precision());
        String path = props.getOrDefault(PATH, "explicit").trim().toLowerCase(Locale.ROOT);
        switch (path) {
            case "explicit" -> b.quantization(EngineBuildConfig.Quantization.EXPLICIT);
            case "implicit" -> b.quantization(EngineBuildConfig.Quantization.IMPLICIT);
            default -> throw new QuantbridgeException("-D" + PATH + ": '" + path + "' is not explicit or implicit");
        }
        b.allowFp32(bool(props, ALLOW_FP32, false));
        b.fp16FloatLayers(bool(props, FP16_FLOAT_LAYERS, false));
        b.gpuFallback(bool(props, GPU_FALLBACK, true));
        String ws = props.get(WORKSPACE);
        if (ws != null && !ws.isBlank()) b.workspaceBytes(bytes(ws));
        String tc = props.get(TIMING_CACHE);
        if (tc != null && !tc.isBlank()) b.timingCache(Path.of(tc));
        String target = req.target().orElse("gpu").trim().toLowerCase(Locale.ROOT);
        if (target.equals("dla")) {
            b.dlaCore(0);
        } else if (target.matches("dla:[0-9]+")) {
            b.dlaCore(Integer.parseInt(target.substring(4)));
        } else if (!target.equals("gpu") && !target.equals("jetson")) {
            throw new QuantbridgeException("tensorrt: --target " + target + " is not gpu, jetson, dla or dla:N");
        }
        String profiles = props.get(PROFILES);
        if (profiles != null && !profiles.isBlank()) {
            for (String p : profiles.split(";")) {
                if (!p.isBlank()) b.profile(ShapeProfile.parse(p.trim()));
            }
        } else {
            List<Map<String, long[]>> fed = null;
            for (TensorInfo in : inputs) {
                if (!in.isDynamic()) continue;
                if (fed == null) fed = sampleShapes.get();
                List<long[]> shapes = new java.util.ArrayList<>();
                for (Map<String, long[]> sample : fed) {
                    long[] shape = sample.get(in.name());
                    if (shape != null && fits(in, shape)) shapes.add(shape);
                }
                b.profile(shapes.isEmpty() ? ShapeProfile.fixed(in.name(), defaultShape(in, req.preprocessing()))
                        : ShapeProfile.spanning(in.name(), shapes));
            }
        }
        EngineBuildConfig cfg = b.build();
        cfg.checkAgainst(inputs);
        return cfg;
    }

    /**
     * A dynamic input's shape at batch 1 and the request's {@code --size}: {@code [1, C, H, W]} (or
     * {@code [1, H, W, C]}) for a 4-D image input; fails naming the input when the size is unknown.
     */
    static long[] defaultShape(TensorInfo in, Preprocessing pre) {
        long[] s = in.shape();
        if (s.length > 0 && s[0] < 0) s[0] = 1;
        boolean nhwc = io.quantbridge.data.SampleSource.forImageInput(in, pre).layout()
                == io.quantbridge.data.Layout.NHWC;
        if (s.length == 4) {
            int h = nhwc ? 1 : 2;
            int w = nhwc ? 2 : 3;
            if (s[h] < 0) s[h] = pre.height();
            if (s[w] < 0) s[w] = pre.width();
        }
        for (long d : s) {
            if (d <= 0) {
                throw new QuantbridgeException("tensorrt: input " + in + " has dynamic dimensions that neither --size "
                        + "nor a calibration sample fixes; give -D" + PROFILES + "=" + in.name() + ":min,opt,max");
            }
        }
        return s;
    }

    /** Whether {@code shape} is a shape of {@code in}: same rank, equal where the input is fixed, no zero. */
    private static boolean fits(TensorInfo in, long[] shape) {
        long[] s = in.shape();
        if (!in.rankKnown() || s.length != shape.length) return false;
        for (int i = 0; i < s.length; i++) {
            if (shape[i] <= 0 || (s[i] >= 0 && s[i] != shape[i])) return false;
        }
        return true;
    }

    static boolean bool(Map<String, String> props, String key, boolean dflt) {
        String v = props.get(key);
        if (v == null || v.isBlank()) return dflt;
        return switch (v.trim().toLowerCase(Locale.ROOT)) {
            case "true", "yes", "1" -> true;
            case "false", "no", "0" -> false;
            default -> throw new QuantbridgeException("-D" + key + ": '" + v + "' is not true or false");
        };
    }

    /** {@code 2147483648}, {@code 512m}, {@code 2g}. */
    static long bytes(String s) {
        String t = s.trim().toLowerCase(Locale.ROOT);
        long mult = 1;
        if (t.endsWith("k") || t.endsWith("m") || t.endsWith("g")) {
            mult = switch (t.charAt(t.length() - 1)) {
                case 'k' -> 1L << 10;
                case 'm' -> 1L << 20;
                default -> 1L << 30;
            };
            t = t.substring(0, t.length() - 1);
        }
        if (!t.matches("[0-9]{1,12}")) {
            throw new QuantbridgeException("-D" + WORKSPACE + ": '" + s + "' is not a size such as 2g or 536870912");
        }
        return Long.parseLong(t) * mult;
    }
}
