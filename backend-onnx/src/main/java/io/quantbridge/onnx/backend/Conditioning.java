package io.quantbridge.onnx.backend;

import io.quantbridge.backend.Progress;
import io.quantbridge.calib.CalibrationMethod;
import io.quantbridge.calib.Calibrator;
import io.quantbridge.calib.CalibratorSpec;
import io.quantbridge.calib.Histogram;
import io.quantbridge.onnx.ActivationEqualizer;
import io.quantbridge.onnx.BiasCorrection;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.QdqOptions;
import io.quantbridge.onnx.QdqPlan;
import io.quantbridge.onnx.QdqQuantizer;
import io.quantbridge.onnx.runtime.ActivationObserver;
import io.quantbridge.onnx.runtime.ActivationObserver.ChannelStats;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Prepares a float model for int8 before calibration, without changing what it computes in float beyond the bias
 * correction: per-channel activation equalization ({@link ActivationEqualizer}) and bias correction for weight
 * rounding ({@link BiasCorrection}). Both need per-channel statistics of the activations, taken in one pass over
 * the calibration samples (on ppocr-det, statistics from 16 of 64 samples cost 0.014 of output cosine against all
 * 64: per-channel ranges are noisier than per-tensor ones).
 */
public final class Conditioning {
    /** Migration strength for convs that mix channels (SmoothQuant's alpha). */
    static final double ALPHA = 0.5;
    /** Histogram bins per channel (a quarter of the per-tensor default: channel histograms are many). */
    static final int CHANNEL_BINS = 512;
    static final CalibratorSpec CHANNEL_CALIBRATOR = CalibratorSpec.of(CalibrationMethod.MSE);

    /** The plan on the conditioned model, and what was done (for report.json). */
    public record Outcome(QdqPlan plan, Map<String, Object> report) { }

    private Conditioning() { }

    /**
     * @param plan    the placement on the unconditioned model
     * @param samples how many calibration samples there are; the loader serves indices below that
     */
    public static Outcome apply(QdqPlan plan, QdqOptions opts, CalibratorSpec spec, boolean equalize, boolean biasCorrection,
                         int samples, ActivationObserver.SampleLoader loader, int threads, Progress progress) {
        Map<String, Object> report = new LinkedHashMap<>();
        report.put("equalization", equalize);
        report.put("bias_correction", biasCorrection);
        if (!equalize && !biasCorrection) return new Outcome(plan, report);

        OnnxModel prepared = plan.preparedModel();
        Set<String> tensors = new LinkedHashSet<>(plan.activationTensors());
        int n = samples;
        List<ActivationEqualizer.Site> sites = equalize ? ActivationEqualizer.sites(prepared, plan.activationTensors(),
                plan.sharedScaleGroups()) : List.of();
        Set<String> siteTensors = new LinkedHashSet<>();
        for (ActivationEqualizer.Site s : sites) siteTensors.add(s.tensor());
        Map<String, ChannelStats> stats = new ActivationObserver(prepared.proto(), tensors, spec, threads)
                .channelStatistics(n, loader, siteTensors, CHANNEL_BINS, progress);
        report.put("statistics_samples", n);

        OnnxModel model = prepared;
        Map<String, float[]> scales = Map.of();
        if (equalize) {
            // each channel's range as MSE would clip it on its own, whatever the per-tensor calibrator: after
            // equalization one per-tensor range stands for all channels (on ppocr-det, entropy ranges per channel
            // gave 0.871 output cosine with the entropy calibrator, MSE ranges per channel 0.965)
            Calibrator calibrator = CHANNEL_CALIBRATOR.create();
            Map<String, float[]> ranges = new HashMap<>();
            for (String t : siteTensors) {
                ChannelStats cs = stats.get(t);
                if (cs == null) continue;
                float[] r = cs.absMax();
                // thousands of channels: spread the MSE searches over the cores (each writes its own slot)
                java.util.stream.IntStream.range(0, r.length).parallel().forEach(c -> {
                    Histogram h = cs.histogram(c);
                    if (h != null && !h.isEmpty() && h.absMax() > 0) r[c] = (float) calibrator.amax(h);
                });
                ranges.put(t, r);
            }
            ActivationEqualizer.Result eq = ActivationEqualizer.apply(prepared, sites, ranges, ALPHA);
            model = eq.model();
            scales = eq.scales();
            report.put("equalized_tensors", scales.size());
            report.put("alpha", ALPHA);
        }
        QdqPlan conditioned = QdqQuantizer.plan(model, opts);
        if (biasCorrection) {
            Map<String, float[]> means = new HashMap<>();
            for (Map.Entry<String, ChannelStats> e : stats.entrySet()) {
                float[] m = e.getValue().mean();
                float[] s = scales.get(e.getKey());
                if (s != null) for (int c = 0; c < m.length; c++) m[c] /= s[c];
                means.put(e.getKey(), m);
            }
            BiasCorrection.Result bc = BiasCorrection.apply(conditioned, means);
            report.put("bias_corrected_convs", bc.corrections().size());
            conditioned = QdqQuantizer.plan(bc.model(), opts);
        }
        return new Outcome(conditioned, report);
    }
}
