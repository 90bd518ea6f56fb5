package io.quantbridge.calib;

import io.quantbridge.QuantbridgeException;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * A calibrator and its parameters. Immutable; build with {@link #builder(CalibrationMethod)}.
 *
 * <p>Defaults: 2048 histogram bins, percentile 99.99, entropy with 128 quantization levels starting at bin 128,
 * the zero bin suppressed (bin 0 replaced by bin 1, NVIDIA's variant), the first minimum winning ties and Q's support
 * taken from the kept bins ({@link QMask#KEPT}), MSE candidates from bin 128. The literal definition of SPEC
 * section 2 is {@code zeroBin=KEEP}; NVIDIA's calibrators use {@code zeroBin=SUPPRESS, tieBreak=LAST}.
 *
 * <p>Why the zero bin is suppressed by default: after ReLU / hard-swish most values of a tensor are exact zeros (or
 * fall in bin 0), and with the histogram as observed KL is dominated by that spike and picks tiny thresholds (on
 * PaddleOCR's PP-OCRv4 detector amax 0.087 for a tensor whose max is 4.39, and pooled cosine 0.12 against float);
 * suppressing it gives cosine 0.93 there, and it changes little on tensors without such a spike.
 *
 * <p>Entropy can take an MSE floor ({@link Floor#MSE}; default none, TensorRT's behaviour).
 */
public final class CalibratorSpec {
    /** What the entropy calibrator does with the count in bin 0 (the spike of exact zeros after ReLU). */
    public enum ZeroBin { KEEP, SUPPRESS }

    /** Which candidate wins when two give the same KL divergence. */
    public enum TieBreak { FIRST, LAST }

    /**
     * Which bins of the entropy calibrator's candidate Q may be non-zero (share their level's mass).
     * {@code KEPT}: the non-empty observed bins {@code b[0..i)} (NVIDIA's pytorch-quantization / TensorRT Model
     * Optimizer); a candidate whose last kept bin is empty while values are clipped into it then has P &gt; 0 where
     * Q = 0 and is never chosen. {@code REFERENCE}: the non-empty bins of the reference P, clipped mass folded in
     * (MXNet's and ONNX Runtime's reading), so the last bin always shares its level's mass and such candidates stay
     * eligible.
     */
    public enum QMask { KEPT, REFERENCE }

    /**
     * A lower bound on the entropy calibrator's threshold. {@code MSE}: never below the threshold the MSE calibrator
     * picks from the same histogram. Entropy collapses on sparse tensors (mostly near-zero values with a long tail of
     * rare large ones: KL favours resolving the bulk and clips the tail hard), where MSE still keeps the tail's energy;
     * elsewhere entropy usually keeps the wider range and is left alone.
     */
    public enum Floor { NONE, MSE }

    private final CalibrationMethod method;
    private final double percentile;
    private final int bins;
    private final int levels;
    private final int startBin;
    private final ZeroBin zeroBin;
    private final TieBreak tieBreak;
    private final QMask qMask;
    private final Floor floor;

    private CalibratorSpec(Builder b) {
        this.method = b.method;
        this.percentile = b.percentile;
        this.bins = b.bins;
        this.levels = b.levels;
        this.startBin = b.startBin;
        this.zeroBin = b.zeroBin;
        this.tieBreak = b.tieBreak;
        this.qMask = b.qMask;
        this.floor = b.floor;
    }

    public static Builder builder(CalibrationMethod method) {
        return new Builder(method);
    }

    public static CalibratorSpec of(CalibrationMethod method) {
        return builder(method).build();
    }

    public CalibrationMethod method() { return method; }
    public double percentile() { return percentile; }
    public int bins() { return bins; }
    public int levels() { return levels; }
    public int startBin() { return startBin; }
    public ZeroBin zeroBin() { return zeroBin; }
    public TieBreak tieBreak() { return tieBreak; }
    public QMask qMask() { return qMask; }
    public Floor floor() { return floor; }

    /** A new calibrator for this spec. */
    public Calibrator create() {
        return Calibrators.create(this);
    }

    /** The parameters that matter for this method, as written into tables and reports ("method" first). */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("method", method.id());
        m.put("bins", bins);
        switch (method) {
            case PERCENTILE -> m.put("percentile", percentile);
            case ENTROPY -> {
                m.put("levels", levels);
                m.put("start_bin", startBin);
                m.put("zero_bin", zeroBin.name().toLowerCase(Locale.ROOT));
                m.put("tie_break", tieBreak.name().toLowerCase(Locale.ROOT));
                m.put("q_mask", qMask.name().toLowerCase(Locale.ROOT));
                if (floor != Floor.NONE) m.put("floor", floor.name().toLowerCase(Locale.ROOT));
            }
            case MSE -> m.put("start_bin", startBin);
            default -> { }
        }
        return m;
    }

    /** Reads what {@link #toMap()} wrote. Unknown methods or out-of-range values are errors naming the key. */
    public static CalibratorSpec fromMap(Map<String, ?> m) {
        Object method = m.get("method");
        if (method == null) {
            throw new QuantbridgeException("calibrator: missing \"method\"");
        }
        Builder b = builder(CalibrationMethod.parse(method.toString()));
        if (m.get("bins") instanceof Number n) b.bins(n.intValue());
        if (m.get("percentile") instanceof Number n) b.percentile(n.doubleValue());
        if (m.get("levels") instanceof Number n) b.levels(n.intValue());
        if (m.get("start_bin") instanceof Number n) b.startBin(n.intValue());
        if (m.get("zero_bin") != null) b.zeroBin(ZeroBin.valueOf(m.get("zero_bin").toString().toUpperCase(Locale.ROOT)));
        if (m.get("tie_break") != null) b.tieBreak(TieBreak.valueOf(m.get("tie_break").toString().toUpperCase(Locale.ROOT)));
        if (m.get("q_mask") != null) b.qMask(QMask.valueOf(m.get("q_mask").toString().toUpperCase(Locale.ROOT)));
        if (m.get("floor") != null) b.floor(Floor.valueOf(m.get("floor").toString().toUpperCase(Locale.ROOT)));
        return b.build();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof CalibratorSpec s && s.toMap().equals(toMap());
    }

    @Override
    public int hashCode() {
        return toMap().hashCode();
    }

    @Override
    public String toString() {
        return toMap().toString();
    }

    public static final class Builder {
        private final CalibrationMethod method;
        private double percentile = 99.99;
        private int bins = 2048;
        private int levels = 128;
        private int startBin = 128;
        private ZeroBin zeroBin = ZeroBin.SUPPRESS;
        private TieBreak tieBreak = TieBreak.FIRST;
        private QMask qMask = QMask.KEPT;
        private Floor floor = Floor.NONE;

        private Builder(CalibrationMethod method) {
            if (method == null) throw new IllegalArgumentException("method");
            this.method = method;
        }

        public Builder percentile(double p) {
            if (!(p > 0 && p <= 100)) {
                throw new QuantbridgeException("--percentile: " + p + " is outside (0, 100]");
            }
            this.percentile = p;
            return this;
        }

        public Builder bins(int bins) {
            if (bins < 2) throw new QuantbridgeException("calibrator bins: " + bins + " is below 2");
            this.bins = bins;
            return this;
        }

        public Builder levels(int levels) {
            if (levels < 2) throw new QuantbridgeException("calibrator levels: " + levels + " is below 2");
            this.levels = levels;
            return this;
        }

        public Builder startBin(int startBin) {
            if (startBin < 1) throw new QuantbridgeException("calibrator start bin: " + startBin + " is below 1");
            this.startBin = startBin;
            return this;
        }

        public Builder zeroBin(ZeroBin z) { this.zeroBin = z; return this; }
        public Builder tieBreak(TieBreak t) { this.tieBreak = t; return this; }
        public Builder qMask(QMask q) { this.qMask = q; return this; }

        /** Entropy only: a lower bound on the threshold ({@link Floor}); other methods refuse anything but NONE. */
        public Builder floor(Floor f) {
            if (f == null) throw new IllegalArgumentException("floor");
            this.floor = f;
            return this;
        }

        public CalibratorSpec build() {
            if (floor != Floor.NONE && method != CalibrationMethod.ENTROPY) {
                throw new QuantbridgeException("calibrator floor " + floor.name().toLowerCase(Locale.ROOT)
                        + " applies only to the entropy calibrator, not " + method.id());
            }
            if (startBin > bins) {
                throw new QuantbridgeException("calibrator start bin " + startBin + " exceeds the " + bins + " bins");
            }
            return new CalibratorSpec(this);
        }
    }
}
