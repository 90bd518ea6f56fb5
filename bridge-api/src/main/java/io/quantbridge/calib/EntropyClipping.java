package io.quantbridge.calib;

import io.quantbridge.table.TensorRange;
import io.quantbridge.tensor.TensorNames;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.stream.IntStream;

/**
 * What report.json and the console say when the entropy calibrator without its mse floor (TensorRT's search alone)
 * clips tensors far tighter than the mse calibrator would on the same histograms. The KL search keeps the shape of
 * the bulk of a distribution and may cut a long tail to a fraction of it; where that tail carries the signal
 * (swish and depthwise outputs of ppocr-rec, whose lines then come out blank at cosine 0.44) the model collapses,
 * and nothing else in a run says why. A tensor counts when its mse amax is more than {@value #FACTOR} times its
 * entropy amax.
 */
public final class EntropyClipping {
    /** How many times its entropy amax a tensor's mse amax must exceed for the tensor to count. */
    static final double FACTOR = 2;
    /** Tensors listed in the report, tightest first. */
    static final int LISTED = 5;

    private EntropyClipping() { }

    /** One tensor that entropy clips: its amax, mse's amax on the same histogram, and its largest |x|. */
    public record Clip(String tensor, double amax, double mseAmax, double absMax) { }

    /**
     * The tensors of {@code ranges} whose histogram in {@code stats} gets an mse amax more than {@value #FACTOR} times
     * their amax, tightest first; empty unless {@code spec} is entropy without a floor.
     */
    public static List<Clip> find(TensorStatistics stats, CalibratorSpec spec, List<TensorRange> ranges) {
        if (spec.method() != CalibrationMethod.ENTROPY || spec.floor() != CalibratorSpec.Floor.NONE) return List.of();
        MseCalibrator mse = new MseCalibrator(spec);
        List<Clip> found = new ArrayList<>(IntStream.range(0, ranges.size()).parallel()
                .mapToObj(i -> {
                    TensorRange r = ranges.get(i);
                    if (!stats.contains(r.name()) || r.amax() <= 0) return null;
                    Histogram h = stats.histogram(r.name());
                    double m = mse.amax(h);
                    return r.amax() * FACTOR < m ? new Clip(r.name(), r.amax(), m, h.absMax()) : null;
                })
                .filter(c -> c != null)
                .toList());
        found.sort(Comparator.comparingDouble((Clip c) -> c.amax() / c.mseAmax()).thenComparing(Clip::tensor));
        return found;
    }

    /**
     * Puts what {@link #find} finds under {@code entropy_clipping} in {@code calibration} (report.json's calibration
     * section): {@code tensors}, {@code of} (the ranges compared), {@code factor} and {@code tightest} (up to
     * {@value #LISTED}, each with {@code tensor}, {@code amax}, {@code mse_amax}, {@code abs_max}). Nothing when there
     * are none.
     */
    public static void record(TensorStatistics stats, CalibratorSpec spec, List<TensorRange> ranges,
                              Map<String, Object> calibration) {
        List<Clip> found = find(stats, spec, ranges);
        if (found.isEmpty()) return;
        List<Map<String, Object>> tightest = new ArrayList<>();
        for (Clip c : found.subList(0, Math.min(LISTED, found.size()))) {
            Map<String, Object> t = new LinkedHashMap<>();
            t.put("tensor", c.tensor());
            t.put("amax", c.amax());
            t.put("mse_amax", c.mseAmax());
            t.put("abs_max", c.absMax());
            tightest.add(t);
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("tensors", found.size());
        m.put("of", ranges.size());
        m.put("factor", FACTOR);
        m.put("tightest", tightest);
        calibration.put("entropy_clipping", m);
    }

    /** The console line for a report's calibration section ({@code report.get("calibration")}), when there is one. */
    public static Optional<String> warning(Object calibration) {
        if (!(calibration instanceof Map<?, ?> c) || !(c.get("entropy_clipping") instanceof Map<?, ?> m)
                || !(m.get("tightest") instanceof List<?> tightest) || tightest.isEmpty()
                || !(tightest.get(0) instanceof Map<?, ?> t)) {
            return Optional.empty();
        }
        int n = ((Number) m.get("tensors")).intValue();
        return Optional.of(String.format(Locale.ROOT, "entropy clips %d of %d tensors to less than half the range mse"
                        + " keeps on the same histograms (tightest: %s at amax %.4g against %.4g, values up to %.4g);"
                        + " if fidelity suffers, --entropy-floor mse never clips tighter than mse (report.json"
                        + " calibration.entropy_clipping)",
                n, ((Number) m.get("of")).intValue(), TensorNames.forConsole(String.valueOf(t.get("tensor"))),
                ((Number) t.get("amax")).doubleValue(),
                ((Number) t.get("mse_amax")).doubleValue(), ((Number) t.get("abs_max")).doubleValue()));
    }
}
