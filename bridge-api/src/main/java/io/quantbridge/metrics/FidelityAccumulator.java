package io.quantbridge.metrics;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Pools the {@link Fidelity} metrics of one model output over many samples. Pooled means the sums are added across
 * samples before the ratio is taken: cosine = sum(dot) / sqrt(sum(|ref|^2) sum(|cand|^2)), SQNR from the summed
 * signal and noise energies, IoU = sum of intersections / sum of unions, top-1 agreement = agreeing rows / rows;
 * max abs error is the maximum over all samples. Sums are doubles. The worst per-sample cosine is kept as well, so
 * that one collapsed sample is not hidden by the pool.
 *
 * <p>Mask IoU and top-1 agreement are computed only when configured ({@link #withMaskIou}, {@link #withTop1}).
 * Not thread-safe: give each thread its own accumulator (see {@link #emptyCopy()}) and {@link #merge} them.
 */
public final class FidelityAccumulator {
    private final int classes;          // 0 = no top-1
    private final double maskThreshold; // NaN = no IoU

    private long samples;
    private long elements;
    private double dot;
    private double refSq;
    private double candSq;
    private double errSq;
    private double maxAbs;
    private double minCosine = Double.POSITIVE_INFINITY;
    private double cosineSum;
    /** Samples whose candidate output holds NaN or an infinity. */
    private long nonFiniteSamples;
    private long intersection;
    private long union;
    private long top1Agree;
    private long top1Rows;
    /** Rows and agreeing rows by the reference's class (allocated with the first row). */
    private long[] classRows;
    private long[] classAgree;

    private FidelityAccumulator(int classes, double maskThreshold) {
        this.classes = classes;
        this.maskThreshold = maskThreshold;
    }

    /** An accumulator of cosine, SQNR and max abs error. */
    public FidelityAccumulator() {
        this(0, Double.NaN);
    }

    /** A new, empty accumulator with this one's configuration plus top-1 agreement over rows of {@code classes}. */
    public FidelityAccumulator withTop1(int classes) {
        if (classes <= 0) throw new IllegalArgumentException("class count " + classes + " must be positive");
        return new FidelityAccumulator(classes, maskThreshold);
    }

    /** A new, empty accumulator with this one's configuration plus mask IoU at {@code threshold}. */
    public FidelityAccumulator withMaskIou(double threshold) {
        if (Double.isNaN(threshold)) throw new IllegalArgumentException("mask threshold is NaN");
        return new FidelityAccumulator(classes, threshold);
    }

    /** A new, empty accumulator with the same configuration. */
    public FidelityAccumulator emptyCopy() {
        return new FidelityAccumulator(classes, maskThreshold);
    }

    /**
     * Adds one sample's output.
     *
     * @throws IllegalArgumentException if the lengths differ (naming both) or, with top-1, the length is not a
     *                                  multiple of the class count
     */
    public void add(float[] ref, float[] cand) {
        Fidelity.checkLengths(ref, cand);
        int rows = classes > 0 ? Fidelity.rows(ref.length, classes) : 0;
        double d = 0;
        double rr = 0;
        double cc = 0;
        double ee = 0;
        double mx = 0;
        long inter = 0;
        long uni = 0;
        boolean iou = !Double.isNaN(maskThreshold);
        for (int i = 0; i < ref.length; i++) {
            double r = ref[i];
            double c = cand[i];
            double e = r - c;
            d += r * c;
            rr += r * r;
            cc += c * c;
            ee += e * e;
            double ae = Math.abs(e);
            if (ae > mx || Double.isNaN(ae)) mx = ae; // once NaN, stays NaN
            if (iou) {
                boolean a = r > maskThreshold;
                boolean b = c > maskThreshold;
                if (a && b) inter++;
                if (a || b) uni++;
            }
        }
        if (rows > 0 && classRows == null) {
            classRows = new long[classes];
            classAgree = new long[classes];
        }
        for (int r = 0; r < rows; r++) {
            int k = Fidelity.argmax(ref, r * classes, classes);
            classRows[k]++;
            if (k == Fidelity.argmax(cand, r * classes, classes)) {
                top1Agree++;
                classAgree[k]++;
            }
        }
        top1Rows += rows;
        if (!Double.isFinite(cc)) nonFiniteSamples++;
        samples++;
        elements += ref.length;
        dot += d;
        refSq += rr;
        candSq += cc;
        errSq += ee;
        if (mx > maxAbs || Double.isNaN(mx)) maxAbs = mx;
        double cos = Fidelity.cosine(d, rr, cc);
        if (cos < minCosine || Double.isNaN(cos)) minCosine = cos;
        cosineSum += cos;
        intersection += inter;
        union += uni;
    }

    /**
     * Adds everything {@code other} has accumulated.
     *
     * @throws IllegalArgumentException if the two are configured differently
     */
    public void merge(FidelityAccumulator other) {
        if (other.classes != classes || Double.compare(other.maskThreshold, maskThreshold) != 0) {
            throw new IllegalArgumentException("cannot merge accumulators configured differently (top-1 classes "
                    + classes + " vs " + other.classes + ", mask threshold " + maskThreshold + " vs "
                    + other.maskThreshold + ")");
        }
        samples += other.samples;
        elements += other.elements;
        dot += other.dot;
        refSq += other.refSq;
        candSq += other.candSq;
        errSq += other.errSq;
        if (other.maxAbs > maxAbs || Double.isNaN(other.maxAbs)) maxAbs = other.maxAbs;
        if (other.minCosine < minCosine || Double.isNaN(other.minCosine)) minCosine = other.minCosine;
        cosineSum += other.cosineSum;
        intersection += other.intersection;
        union += other.union;
        top1Agree += other.top1Agree;
        top1Rows += other.top1Rows;
        if (other.classRows != null) {
            if (classRows == null) {
                classRows = new long[classes];
                classAgree = new long[classes];
            }
            for (int k = 0; k < classes; k++) {
                classRows[k] += other.classRows[k];
                classAgree[k] += other.classAgree[k];
            }
        }
        nonFiniteSamples += other.nonFiniteSamples;
    }

    /** The sum over all values of (reference - candidate)^2. */
    public double squaredError() { return errSq; }

    /** Samples whose candidate output held NaN or an infinity (the pooled metrics are then NaN). */
    public long nonFiniteSamples() { return nonFiniteSamples; }

    /** Samples added so far. */
    public long samples() { return samples; }

    /** Pooled cosine similarity; NaN before any sample. */
    public double cosine() {
        return samples == 0 ? Double.NaN : Fidelity.cosine(dot, refSq, candSq);
    }

    /** The lowest per-sample cosine similarity; NaN before any sample. */
    public double minCosine() {
        return samples == 0 ? Double.NaN : minCosine;
    }

    /**
     * The mean of the per-sample cosine similarities; NaN before any sample. Next to the pooled cosine it shows when
     * one sample with huge values (a logit output on an image far from the training data) dominates the pool.
     */
    public double meanCosine() {
        return samples == 0 ? Double.NaN : cosineSum / samples;
    }

    /** Pooled SQNR in dB (+Infinity when there is no noise at all); NaN before any sample. */
    public double sqnrDb() {
        return samples == 0 ? Double.NaN : Fidelity.sqnrDb(refSq, errSq);
    }

    /** The largest absolute error seen; NaN before any sample. */
    public double maxAbs() {
        return samples == 0 ? Double.NaN : maxAbs;
    }

    /** Pooled mask IoU (1.0 when no mask pixel was ever set); NaN when not configured or before any sample. */
    public double maskIou() {
        if (Double.isNaN(maskThreshold) || samples == 0) return Double.NaN;
        return union == 0 ? 1.0 : (double) intersection / union;
    }

    /** Top-1 agreement over all rows; NaN when not configured or before any sample. */
    public double top1Agreement() {
        if (classes == 0 || top1Rows == 0) return Double.NaN;
        return (double) top1Agree / top1Rows;
    }

    /** Classes listed one by one in {@link #toMap()} up to this many; beyond, only the worst. */
    static final int PER_CLASS_LIMIT = 32;
    /** How many of the worst classes {@link #toMap()} lists when there are more than {@link #PER_CLASS_LIMIT}. */
    static final int WORST_CLASSES = 10;

    /**
     * Top-1 agreement by the reference's class: class index -> {@code rows} (rows the float model gave that class)
     * and {@code agreement} (the share of them the candidate gave it too), for every class that had a row, in class
     * order; empty when not configured or before any row.
     */
    public Map<Integer, Map<String, Object>> top1PerClass() {
        Map<Integer, Map<String, Object>> m = new LinkedHashMap<>();
        if (classRows == null) return m;
        for (int k = 0; k < classes; k++) {
            if (classRows[k] == 0) continue;
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("rows", classRows[k]);
            e.put("agreement", (double) classAgree[k] / classRows[k]);
            m.put(k, e);
        }
        return m;
    }

    /**
     * For reports: {@code samples}, {@code cosine}, {@code cosine_min}, {@code cosine_mean}, {@code sqnr_db}, {@code max_abs}, then
     * {@code mask_iou} and {@code mask_threshold} when IoU is configured, {@code top1_agreement},
     * {@code top1_rows}, {@code classes} and, per the reference's class, {@code top1_per_class} when top-1 is (when the
     * rows fell into more than {@value #PER_CLASS_LIMIT} classes: {@code top1_classes_seen} and the
     * {@value #WORST_CLASSES} classes with the most disagreeing rows, {@code top1_worst_classes}). Non-finite values (SQNR +Infinity for identical
     * outputs, NaN) stay doubles here; {@link io.quantbridge.util.Json} writes them as null.
     */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("samples", samples);
        m.put("cosine", cosine());
        m.put("cosine_min", minCosine());
        m.put("cosine_mean", meanCosine());
        m.put("sqnr_db", sqnrDb());
        m.put("max_abs", maxAbs());
        if (!Double.isNaN(maskThreshold)) {
            m.put("mask_iou", maskIou());
            m.put("mask_threshold", maskThreshold);
        }
        if (classes > 0) {
            m.put("top1_agreement", top1Agreement());
            m.put("top1_rows", top1Rows);
            m.put("classes", classes);
            Map<Integer, Map<String, Object>> per = top1PerClass();
            if (per.size() <= PER_CLASS_LIMIT) {
                Map<String, Object> byName = new LinkedHashMap<>();
                per.forEach((k, v) -> byName.put(Integer.toString(k), v));
                m.put("top1_per_class", byName);
            } else {
                // the classes with the most disagreeing rows (ties: lower index), so that a class that collapses
                // shows however many classes there are
                java.util.List<Integer> order = new java.util.ArrayList<>(per.keySet());
                order.sort((a, b) -> {
                    long wa = classRows[a] - classAgree[a];
                    long wb = classRows[b] - classAgree[b];
                    return wa != wb ? Long.compare(wb, wa) : Integer.compare(a, b);
                });
                Map<String, Object> worst = new LinkedHashMap<>();
                for (int k : order.subList(0, WORST_CLASSES)) worst.put(Integer.toString(k), per.get(k));
                m.put("top1_classes_seen", per.size());
                m.put("top1_worst_classes", worst);
            }
        }
        if (nonFiniteSamples > 0) m.put("non_finite_samples", nonFiniteSamples);
        return m;
    }

    @Override
    public String toString() {
        return toMap().toString();
    }
}
