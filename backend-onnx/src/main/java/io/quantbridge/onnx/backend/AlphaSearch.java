package io.quantbridge.onnx.backend;

import io.quantbridge.backend.Progress;
import io.quantbridge.calib.CalibratorSpec;
import io.quantbridge.calib.TensorStatistics;
import io.quantbridge.metrics.FidelityAccumulator;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.QdqOptions;
import io.quantbridge.onnx.QdqPlan;
import io.quantbridge.onnx.QdqQuantizer;
import io.quantbridge.onnx.runtime.ActivationObserver;
import io.quantbridge.onnx.runtime.ActivationObserver.ChannelStats;
import io.quantbridge.onnx.runtime.OrtModelSession;
import io.quantbridge.tensor.FloatTensor;
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
 * (the metric of {@link FloatLayerSearch}). The per-channel statistics equalization and bias correction need do not
 * depend on the strength and are observed once; each strength then costs the conditioning transforms and one
 * histogram pass over its conditioned model; one more pass scores every strength's int8 model, sample by sample, so
 * that memory does not grow with the number of samples. The kept strength's calibration is exactly what a run with
 * that strength alone computes.
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

    /** One strength's calibration, before scoring. */
    private record Candidate(double alpha, Conditioning.Outcome conditioned, TensorStatistics stats, byte[] int8) { }

    private AlphaSearch() { }

    /**
     * @param original the float model as given (the reference)
     * @param plan     the placement on the unconditioned model
     * @param settings what conditioning does; its strength is replaced by each of {@code alphas}
     * @param observed the tensors that need a range ({@link CalibrationPass#observedTensors})
     * @param samples  how many calibration samples there are; the loader serves indices below that, and every one
     *                 of them scores the strengths
     * @param layout   what the target makes of each strength's Q/DQ model (the model that is scored)
     */
    static Outcome run(OnnxModel original, QdqPlan plan, QdqOptions opts, CalibratorSpec spec,
                       Conditioning.Settings settings, List<Double> alphas, Set<String> observed, int samples,
                       ActivationObserver.SampleLoader loader, QdqLayout layout, int threads, Progress progress) {
        if (alphas.size() < 2) throw new IllegalArgumentException("a search needs two strengths or more: " + alphas);
        if (!settings.equalize()) throw new IllegalArgumentException("a strength search needs equalization");
        long t0 = System.nanoTime();
        Conditioning.Needs needs = Conditioning.needs(plan, settings);
        Map<String, ChannelStats> channels = Conditioning.observe(plan, spec, needs, samples, loader, threads,
                progress);
        Map<String, float[]> ranges = Conditioning.channelRanges(needs, channels);
        double conditioningSeconds = (System.nanoTime() - t0) / 1e9;
        double passSeconds = 0;
        List<Candidate> candidates = new ArrayList<>();
        for (double alpha : alphas) {
            long t1 = System.nanoTime();
            Conditioning.Outcome o = Conditioning.condition(plan, opts, needs.withAlpha(alpha), channels, ranges,
                    samples);
            long t2 = System.nanoTime();
            TensorStatistics stats = new ActivationObserver(o.plan().preparedModel(), observed, spec, threads)
                    .observe(samples, loader, progress);
            conditioningSeconds += (t2 - t1) / 1e9;
            passSeconds += (System.nanoTime() - t2) / 1e9;
            Map<String, TensorRange> tensorRanges = new HashMap<>();
            for (TensorRange r : stats.ranges(spec)) tensorRanges.put(r.name(), r);
            candidates.add(new Candidate(alpha, o, stats,
                    layout.write(o.plan(), tensorRanges).proto().toByteArray()));
        }
        double[] cosines = score(QdqQuantizer.plan(original, opts).preparedModel(), candidates, samples, loader,
                layout == QdqLayout.TENSORRT, threads, progress);
        List<Trial> trials = new ArrayList<>();
        int best = 0;
        for (int i = 0; i < candidates.size(); i++) {
            trials.add(new Trial(candidates.get(i).alpha(), cosines[i]));
            progress.note(String.format(Locale.ROOT, "equalize-alpha %s: cosine %.4f on %d calibration samples",
                    candidates.get(i).alpha(), cosines[i], samples));
            if (cosines[i] > cosines[best]) best = i; // ties keep the earlier (weaker) strength
        }
        Candidate kept = candidates.get(best);
        Map<String, Object> report = new LinkedHashMap<>(kept.conditioned().report());
        Map<String, Object> search = new LinkedHashMap<>();
        search.put("candidates", trials.stream().map(Trial::toMap).toList());
        search.put("chosen", kept.alpha());
        search.put("samples", samples);
        search.put("metric", "pooled output cosine against the float model on calibration samples");
        search.put("seconds", (System.nanoTime() - t0) / 1e9);
        report.put("alpha_search", search);
        return new Outcome(new CalibrationPass.Result(kept.conditioned().plan(), kept.stats(), report, passSeconds,
                conditioningSeconds, kept.conditioned().biasCorrections()), kept.alpha(), List.copyOf(trials));
    }

    /** Pooled output cosine of each candidate's int8 model against the float model, one sample at a time. */
    private static double[] score(OnnxModel reference, List<Candidate> candidates, int samples,
                                  ActivationObserver.SampleLoader loader, boolean asWritten, int threads,
                                  Progress progress) {
        List<OrtModelSession> sessions = new ArrayList<>();
        FidelityAccumulator[] acc = new FidelityAccumulator[candidates.size()];
        progress.begin("scoring equalization strengths", samples);
        try (OrtModelSession ref = OrtModelSession.open(reference.proto().toByteArray(), "float model", threads)) {
            for (Candidate c : candidates) {
                sessions.add(OrtModelSession.open(c.int8(), "int8 model, equalize-alpha " + c.alpha(), threads,
                        asWritten));
            }
            for (int i = 0; i < samples; i++) {
                Map<String, FloatTensor> feed = loader.load(i);
                Map<String, FloatTensor> expected = ref.run(feed);
                for (int k = 0; k < sessions.size(); k++) {
                    Map<String, FloatTensor> got = sessions.get(k).run(feed);
                    if (acc[k] == null) acc[k] = new FidelityAccumulator();
                    for (Map.Entry<String, FloatTensor> e : expected.entrySet()) {
                        acc[k].add(e.getValue().data(), got.get(e.getKey()).data());
                    }
                }
                progress.advance(1);
            }
        } finally {
            for (OrtModelSession s : sessions) s.close();
        }
        progress.end();
        double[] cosines = new double[acc.length];
        for (int k = 0; k < acc.length; k++) cosines[k] = acc[k].cosine();
        return cosines;
    }
}
