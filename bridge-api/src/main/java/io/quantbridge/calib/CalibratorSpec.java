package io.quantbridge.calib;

import io.quantbridge.QuantbridgeException;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * A calibrator and its parameters. Immutable; build with {@link #builder(CalibrationMethod)}.
 *
 * <p>Defaults: 2048 histogram bins, percentile 99.99, entropy with 128 quantization levels starting at bin 128,
 * zero bin kept as observed and the first minimum winning ties (the literal definition of SPEC section 2; the NVIDIA
 * variant is {@code zeroBin=SUPPRESS, tieBreak=LAST}), MSE candidates from bin 128.
 */
public final class CalibratorSpec {
    /** What the entropy calibrator does with the count in bin 0 (the spike of exact zeros after ReLU). */
    public enum ZeroBin { KEEP, SUPPRESS }

    /** Which candidate wins when two give the same KL divergence. */
    public enum TieBreak { FIRST, LAST }

    private final CalibrationMethod method;
    private final double percentile;
    private final int bins;
    private final int levels;
    private final int startBin;
    private final ZeroBin zeroBin;
    private final TieBreak tieBreak;

    private CalibratorSpec(Builder b) {
        this.method = b.method;
        this.percentile = b.percentile;
        this.bins = b.bins;
        this.levels = b.levels;
        this.startBin = b.startBin;
        this.zeroBin = b.zeroBin;
        this.tieBreak = b.tieBreak;
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
        private ZeroBin zeroBin = ZeroBin.KEEP;
        private TieBreak tieBreak = TieBreak.FIRST;

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

        public CalibratorSpec build() {
            if (startBin > bins) {
                throw new QuantbridgeException("calibrator start bin " + startBin + " exceeds the " + bins + " bins");
            }
            return new CalibratorSpec(this);
        }
    }
}
