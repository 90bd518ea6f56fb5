package io.quantbridge.onnx.backend;

import io.quantbridge.backend.Progress;
import io.quantbridge.calib.CalibratorSpec;
import io.quantbridge.calib.TensorStatistics;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.data.SampleRef;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.QdqOptions;
import io.quantbridge.onnx.QdqPlan;
import io.quantbridge.onnx.QdqQuantizer;
import io.quantbridge.onnx.runtime.ActivationObserver;
import io.quantbridge.onnx.runtime.ActivationObserver.ChannelStats;
import io.quantbridge.table.TensorRange;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * {@code --equalize-alpha A,B,..} (or {@code auto}): calibration with each migration strength, keeping the one whose
 * int8 model scores the highest pooled output cosine against the original float model on the calibration samples
 * (the scoring of {@link FloatLayerSearch}, on all of them: each strength costs a pass over them anyway). The per-channel statistics equalization and bias correction need do not
 * depend on the strength and are observed once; each strength then costs the conditioning transforms, one histogram
 * pass over its conditioned model, and one scoring. The kept strength's calibration is exactly what a run with that
 * strength alone computes.
 */
final class AlphaSearch {
    /** One strength's score: pooled output cosine of its int8 model. */
    record Trial(double alpha, double cosine) {
        Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("alpha", alpha);
            m.put("cosine", cosine);
            return m;
        }
    }

    /** The kept calibration (its conditioning report includes the search), its strength, and every trial. */
    record Outcome(CalibrationPass.Result pass, double alpha, List<Trial> trials) { }

    private AlphaSearch() { }

    /**
     * @param original the float model as given (the reference)
     * @param plan     the placement on the unconditioned model
     * @param settings what conditioning does; its strength is replaced by each of {@code alphas}
     * @param observed the tensors that need a range ({@link CalibrationPass#observedTensors})
     * @param samples  how many calibration samples there are; the loader serves indices below that
     * @param scored   the calibration samples each strength is scored on
     */
    static Outcome run(OnnxModel original, QdqPlan plan, QdqOptions opts, CalibratorSpec spec,
                       Conditioning.Settings settings, List<Double> alphas, Set<String> observed, int samples,
                       ActivationObserver.SampleLoader loader, List<SampleRef> scored, Preprocessing pre, int threads,
                       Progress progress) {
        if (alphas.size() < 2) throw new IllegalArgumentException("a search needs two strengths or more: " + alphas);
        if (!settings.equalize()) throw new IllegalArgumentException("a strength search needs equalization");
        long t0 = System.nanoTime();
        Conditioning.Needs needs = Conditioning.needs(plan, settings);
        Map<String, ChannelStats> channels = Conditioning.observe(plan, spec, needs, samples, loader, threads,
                progress);
        double conditioningSeconds = (System.nanoTime() - t0) / 1e9;
        double passSeconds = 0;
        List<Trial> trials = new ArrayList<>();
        Conditioning.Outcome best = null;
        TensorStatistics bestStats = null;
        double bestAlpha = Double.NaN;
        double bestCosine = Double.NEGATIVE_INFINITY;
        try (Sensitivity scorer = new Sensitivity(original, opts, scored, pre, null, threads)) {
            for (double alpha : alphas) {
                long t1 = System.nanoTime();
                Conditioning.Outcome o = Conditioning.condition(plan, opts, needs.withAlpha(alpha), channels, samples);
                long t2 = System.nanoTime();
                TensorStatistics stats = new ActivationObserver(o.plan().preparedModel().proto(), observed, spec,
                        threads).observe(samples, loader, progress);
                conditioningSeconds += (t2 - t1) / 1e9;
                passSeconds += (System.nanoTime() - t2) / 1e9;
                Map<String, TensorRange> ranges = new HashMap<>();
                for (TensorRange r : stats.ranges(spec)) ranges.put(r.name(), r);
                double cosine = scorer.evaluate("alpha " + alpha, QdqQuantizer.apply(o.plan(), ranges).model())
                        .cosine();
                trials.add(new Trial(alpha, cosine));
                progress.note(String.format(Locale.ROOT, "equalize-alpha %s: cosine %.4f on %d calibration samples",
                        alpha, cosine, scored.size()));
                if (cosine > bestCosine) { // ties keep the earlier (weaker) strength
                    best = o;
                    bestStats = stats;
                    bestAlpha = alpha;
                    bestCosine = cosine;
                }
            }
        }
        Map<String, Object> report = new LinkedHashMap<>(best.report());
        Map<String, Object> search = new LinkedHashMap<>();
        search.put("candidates", trials.stream().map(Trial::toMap).toList());
        search.put("chosen", bestAlpha);
        search.put("samples", scored.size());
        search.put("metric", "pooled output cosine against the float model on calibration samples");
        search.put("seconds", (System.nanoTime() - t0) / 1e9);
        report.put("alpha_search", search);
        return new Outcome(new CalibrationPass.Result(best.plan(), bestStats, report, passSeconds, conditioningSeconds,
                best.biasCorrections()), bestAlpha, List.copyOf(trials));
    }
}
