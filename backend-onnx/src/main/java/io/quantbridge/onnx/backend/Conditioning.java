package io.quantbridge.onnx.backend;

import io.quantbridge.backend.Progress;
import io.quantbridge.calib.CalibrationMethod;
import io.quantbridge.calib.Calibrator;
import io.quantbridge.calib.CalibratorSpec;
import io.quantbridge.calib.Histogram;
import io.quantbridge.onnx.ActivationEqualizer;
import io.quantbridge.onnx.BiasCorrection;
import io.quantbridge.onnx.NodeDecision;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.QdqOptions;
import io.quantbridge.onnx.QdqPlan;
import io.quantbridge.onnx.QdqQuantizer;
import io.quantbridge.onnx.proto.Onnx;
import io.quantbridge.onnx.runtime.ActivationObserver;
import io.quantbridge.onnx.runtime.ActivationObserver.ChannelStats;
import io.quantbridge.request.QuantizationRequest;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Prepares a float model for int8 before calibration, without changing what it computes in float beyond the bias
 * correction: per-channel activation equalization ({@link ActivationEqualizer}) and bias correction for weight
 * rounding ({@link BiasCorrection}). Both need per-channel statistics of the activations over all the calibration
 * samples (on ppocr-det, statistics from 16 of 64 samples cost 0.014 of output cosine against all 64: per-channel
 * ranges are noisier than per-tensor ones). {@link #needs} says which; {@link CalibrationPass} takes them in the same
 * pass as the per-tensor histograms, {@link #apply(QdqPlan, QdqOptions, CalibratorSpec, boolean, boolean, int,
 * ActivationObserver.SampleLoader, int, Progress)} in a pass of their own.
 */
public final class Conditioning {
    /**
     * What to do: equalize (with this migration strength for convs that mix channels, SmoothQuant's alpha; see
     * {@link QuantizationRequest#equalizeAlpha()}) and bias-correct, each or both.
     */
    public record Settings(boolean equalize, double alpha, boolean biasCorrection, boolean center) {
        /** Both, with the default strength. */
        public static final Settings DEFAULT = new Settings(true, QuantizationRequest.DEFAULT_EQUALIZE_ALPHA, true);

        public Settings {
            if (!(alpha >= 0 && alpha <= 1)) throw new IllegalArgumentException("alpha must be in [0, 1]: " + alpha);
            center &= equalize;
        }

        public Settings(boolean equalize, double alpha, boolean biasCorrection) {
            this(equalize, alpha, biasCorrection, false);
        }

        public static Settings of(QuantizationRequest req) {
            return new Settings(req.equalize(), req.equalizeAlpha(), req.biasCorrection(), req.center());
        }

        public boolean any() {
            return equalize || biasCorrection;
        }

        public Settings withAlpha(double a) {
            return new Settings(equalize, a, biasCorrection, center);
        }
    }
    /**
     * Resolution of the per-channel ranges: the MSE search (quadratic in the bin count; thousands of channels) runs on
     * 512 bins over the first sample's range, capped at 16 times that.
     */
    static final int RANGE_BINS = 512;
    static final int RANGE_MAX_BINS = RANGE_BINS * Histogram.DEFAULT_CAP_FACTOR;
    /**
     * Bins per channel histogram when a tensor histogram is derived from the rescaled channels
     * ({@link Histogram#scaledSum}, one-pass calibration): the per-tensor default, so that the derived histogram has
     * the resolution of one observed directly; coarsened to {@link #RANGE_BINS} for the per-channel ranges. Its cap
     * keeps the counters of a {@code RANGE_BINS} histogram.
     */
    static final int CHANNEL_BINS = Histogram.DEFAULT_BINS;
    static final int CHANNEL_MAX_BINS = CHANNEL_BINS * Histogram.DEFAULT_CAP_FACTOR;
    static final CalibratorSpec CHANNEL_CALIBRATOR = CalibratorSpec.of(CalibrationMethod.MSE);

    /**
     * The plan on the conditioned model, what was done (for report.json), the scale of each rescaled tensor, and the
     * correction added to each bias-corrected conv's bias, by node name ({@link BiasCorrection#revert} undoes it).
     */
    public record Outcome(QdqPlan plan, Map<String, Object> report, Map<String, float[]> scales,
                          Map<String, float[]> biasCorrections) {
        public Outcome(QdqPlan plan, Map<String, Object> report) {
            this(plan, report, Map.of(), Map.of());
        }
    }

    /**
     * What conditioning needs observed on the unconditioned model: the equalization sites, the tensors that need a
     * histogram per channel (the sites, for their per-channel ranges) and those that need per-channel means (the
     * data inputs of quantized convs, for bias correction).
     */
    public record Needs(Settings settings, List<ActivationEqualizer.Site> sites, Set<String> channelHistograms,
                        Set<String> channelMeans) {
        public boolean any() {
            return settings.any();
        }

        /** The same observations, conditioned with another migration strength (it does not change what is observed). */
        Needs withAlpha(double a) {
            return new Needs(settings.withAlpha(a), sites, channelHistograms, channelMeans);
        }
    }

    private Conditioning() { }

    public static Needs needs(QdqPlan plan, Settings settings) {
        OnnxModel prepared = plan.preparedModel();
        List<ActivationEqualizer.Site> sites = settings.equalize() ? ActivationEqualizer.sites(prepared, plan.activationTensors(),
                plan.sharedScaleGroups()) : List.of();
        Set<String> histograms = new LinkedHashSet<>();
        for (ActivationEqualizer.Site s : sites) histograms.add(s.tensor());
        Set<String> means = new LinkedHashSet<>();
        if (settings.biasCorrection()) {
            Set<String> quantized = new HashSet<>();
            for (NodeDecision d : plan.quantizedNodes()) quantized.add(d.node());
            for (Onnx.NodeProto n : prepared.nodes()) {
                if (n.getOpType().equals("Conv") && quantized.contains(n.getName()) && n.getInputCount() > 0
                        && plan.activationTensors().contains(n.getInput(0))) {
                    means.add(n.getInput(0));
                }
            }
        }
        return new Needs(settings, sites, histograms, means);
    }

    /**
     * Observes the per-channel statistics conditioning needs in one pass of its own, then conditions (used when the
     * per-tensor ranges come from elsewhere, such as a reused table).
     *
     * @param plan    the placement on the unconditioned model
     * @param samples how many calibration samples there are; the loader serves indices below that
     */
    public static Outcome apply(QdqPlan plan, QdqOptions opts, CalibratorSpec spec, Settings settings, int samples,
                                ActivationObserver.SampleLoader loader, int threads, Progress progress) {
        Needs needs = needs(plan, settings);
        return condition(plan, opts, needs, observe(plan, spec, needs, samples, loader, threads, progress), samples);
    }

    /** The per-channel statistics {@code needs} asks for, from a pass of their own over the unconditioned model. */
    static Map<String, ChannelStats> observe(QdqPlan plan, CalibratorSpec spec, Needs needs, int samples,
                                             ActivationObserver.SampleLoader loader, int threads, Progress progress) {
        if (!needs.any()) return Map.of();
        Set<String> tensors = new LinkedHashSet<>(needs.channelHistograms());
        tensors.addAll(needs.channelMeans());
        ActivationObserver.Request request = new ActivationObserver.Request(Set.of(), needs.channelMeans(),
                needs.channelHistograms(), RANGE_BINS, RANGE_MAX_BINS);
        return new ActivationObserver(plan.preparedModel(), tensors, spec, threads)
                .observe(samples, loader, request, "channel statistics", progress).channels();
    }

    /**
     * Equalizes and bias-corrects the plan's model from per-channel statistics observed on it ({@code stats} holds
     * what {@code needs} asked for).
     */
    public static Outcome condition(QdqPlan plan, QdqOptions opts, Needs needs, Map<String, ChannelStats> stats,
                                    int samples) {
        return condition(plan, opts, needs, stats, channelRanges(needs, stats), samples);
    }

    /**
     * Each equalization site's per-channel ranges, as MSE would clip each channel on its own whatever the per-tensor
     * calibrator: after equalization one per-tensor range stands for all channels (on ppocr-det, entropy ranges per
     * channel gave 0.871 output cosine with the entropy calibrator, MSE ranges per channel 0.965). They do not depend
     * on the migration strength.
     */
    static Map<String, float[]> channelRanges(Needs needs, Map<String, ChannelStats> stats) {
        if (!needs.settings().equalize()) return Map.of();
        Calibrator calibrator = CHANNEL_CALIBRATOR.create();
        Map<String, float[]> ranges = new HashMap<>();
        for (String t : needs.channelHistograms()) {
            ChannelStats cs = stats.get(t);
            if (cs == null) continue;
            float[] r = cs.absMax();
            // thousands of channels: spread the MSE searches over the cores (each writes its own slot)
            java.util.stream.IntStream.range(0, r.length).parallel().forEach(c -> {
                Histogram h = cs.histogram(c);
                if (h != null && !h.isEmpty() && h.absMax() > 0) {
                    r[c] = (float) calibrator.amax(h.coarsened(Math.max(1, h.bins() / RANGE_BINS)));
                }
            });
            ranges.put(t, r);
        }
        return ranges;
    }

    /**
     * The per-channel shifts that centre each centerable site's calibrated range: channel {@code c} spans
     * {@code [max(min, -r), min(max, r)]} (its signed extremes within its clipped range {@code r}) and is shifted by
     * the middle; {@code eqRanges} gets the half-widths, the ranges of the shifted channels. Sites whose channels are
     * already about symmetric (no channel would lose a quarter of its range) are left alone.
     */
    static Map<String, float[]> centering(Needs needs, Map<String, ChannelStats> stats, Map<String, float[]> ranges,
                                          Map<String, float[]> eqRanges) {
        Map<String, float[]> shifts = new HashMap<>();
        for (ActivationEqualizer.Site site : needs.sites()) {
            ChannelStats cs = stats.get(site.tensor());
            float[] r = ranges.get(site.tensor());
            if (!site.centerable() || cs == null || r == null || cs.histograms().isEmpty()) continue;
            float[] t = new float[r.length];
            float[] half = new float[r.length];
            boolean worth = false;
            for (int c = 0; c < r.length; c++) {
                Histogram h = cs.histogram(c);
                if (h == null || h.isEmpty() || !(r[c] > 0)) {
                    half[c] = r[c];
                    continue;
                }
                double lo = Math.max(h.min(), -r[c]);
                double hi = Math.min(h.max(), r[c]);
                if (!(hi >= lo)) {
                    half[c] = r[c];
                    continue;
                }
                t[c] = (float) ((lo + hi) / 2);
                half[c] = (float) ((hi - lo) / 2);
                if (half[c] < 0.75 * r[c]) worth = true;
            }
            if (!worth) continue;
            shifts.put(site.tensor(), t);
            eqRanges.put(site.tensor(), half);
        }
        return shifts;
    }

    /** {@link #condition(QdqPlan, QdqOptions, Needs, Map, int)} with the sites' ranges already computed. */
    static Outcome condition(QdqPlan plan, QdqOptions opts, Needs needs, Map<String, ChannelStats> stats,
                             Map<String, float[]> ranges, int samples) {
        Map<String, Object> report = new LinkedHashMap<>();
        Settings settings = needs.settings();
        report.put("equalization", settings.equalize());
        report.put("bias_correction", settings.biasCorrection());
        if (!needs.any()) return new Outcome(plan, report);
        report.put("statistics_samples", samples);

        OnnxModel model = plan.preparedModel();
        Map<String, float[]> scales = Map.of();
        Map<String, float[]> shifts = Map.of();
        if (settings.equalize()) {
            Map<String, float[]> eqRanges = ranges;
            Map<String, float[]> wanted = Map.of();
            if (settings.center()) {
                eqRanges = new HashMap<>(ranges);
                wanted = centering(needs, stats, ranges, eqRanges);
            }
            ActivationEqualizer.Result eq = ActivationEqualizer.apply(model, needs.sites(), eqRanges,
                    settings.alpha(), wanted);
            model = eq.model();
            scales = eq.scales();
            shifts = eq.shifts();
            report.put("equalized_tensors", scales.size());
            Map<String, float[]> applied = scales;
            long muls = needs.sites().stream().filter(x -> x.producerKind().equals(ActivationEqualizer.SCALE)
                    && applied.containsKey(x.tensor())).count();
            if (muls > 0) report.put("inserted_scale_muls", muls);
            report.put("alpha", settings.alpha());
            if (settings.center()) report.put("centered_tensors", shifts.size());
        }
        QdqPlan conditioned = QdqQuantizer.plan(model, opts);
        Map<String, float[]> corrections = Map.of();
        if (settings.biasCorrection()) {
            Map<String, float[]> means = new HashMap<>();
            for (String t : needs.channelMeans()) {
                ChannelStats cs = stats.get(t);
                if (cs == null) continue;
                float[] m = cs.mean();
                float[] s = scales.get(t);
                float[] sh = shifts.get(t);
                if (sh != null) for (int c = 0; c < m.length; c++) m[c] -= sh[c];
                if (s != null) for (int c = 0; c < m.length; c++) m[c] /= s[c];
                means.put(t, m);
            }
            BiasCorrection.Result bc = BiasCorrection.apply(conditioned, means);
            report.put("bias_corrected_convs", bc.corrections().size());
            conditioned = QdqQuantizer.plan(bc.model(), opts);
            corrections = bc.corrections();
        }
        return new Outcome(conditioned, report, scales, corrections);
    }
}
