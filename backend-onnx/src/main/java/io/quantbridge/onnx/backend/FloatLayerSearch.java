package io.quantbridge.onnx.backend;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.Progress;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.data.SampleRef;
import io.quantbridge.onnx.BiasCorrection;
import io.quantbridge.onnx.NodeDecision;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.QdqOptions;
import io.quantbridge.onnx.QdqPlan;
import io.quantbridge.onnx.QdqQuantizer;
import io.quantbridge.table.TensorRange;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code --float-layers N}: which quantized nodes to keep in float. Each quantized node of the conditioned plan is kept
 * in float alone (leave-one-out) and the int8 model is scored by pooled output cosine against the original float model
 * on a few calibration samples; then, best first, a node joins the chosen set only if the set with it scores higher
 * than without (so N is an upper bound). A node kept in float loses its bias correction, which only makes sense for
 * int8 weights. Costs one Q/DQ model and one ONNX Runtime session per variant, scored in ONNX Runtime whatever the
 * target backend.
 *
 * <p><b>Screening.</b> With {@value #SCREEN_FROM} scoring samples or more, the leave-one-out round first scores every
 * node on the quarter of them where the all-int8 model's outputs are furthest from the float model's (largest sum of
 * squared differences: the samples that decide a pooled cosine), then scores again on all of them the
 * {@link #rescored} best of that round; the ranking and the choice use only the scores on all samples.
 */
final class FloatLayerSearch {
    /** Leave-one-out is screened on a quarter of the samples when there are at least this many. */
    static final int SCREEN_FROM = 32;
    /** At least this many of the screening round's best nodes are scored again on every sample. */
    static final int RESCORED_MIN = 12;

    /** One node's leave-one-out score: pooled output cosine with it alone in float. */
    record Candidate(String node, String opType, double cosine) {
        Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("node", node);
            m.put("op_type", opType);
            m.put("cosine", cosine);
            return m;
        }
    }

    /**
     * @param chosen   the nodes to keep in float, in the order they were accepted
     * @param baseline pooled cosine with every node quantized
     * @param result   pooled cosine with {@code chosen} in float
     * @param ranking  every candidate, best first
     */
    record Outcome(List<String> chosen, double baseline, double result, List<Candidate> ranking, int samples,
                   int screeningSamples, int rescored, double seconds) {
        Map<String, Object> toMap(int requested) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("requested", requested);
            m.put("chosen", chosen);
            m.put("samples", samples);
            m.put("metric", "pooled output cosine against the float model on calibration samples");
            if (screeningSamples > 0) {
                Map<String, Object> screening = new LinkedHashMap<>();
                screening.put("samples", screeningSamples);
                screening.put("rescored", rescored);
                m.put("screening", screening);
            }
            m.put("cosine_all_int8", baseline);
            m.put("cosine_with_chosen_float", result);
            m.put("ranking", ranking.stream().limit(10).map(Candidate::toMap).toList());
            m.put("seconds", seconds);
            return m;
        }
    }

    private FloatLayerSearch() { }

    /**
     * @param original    the float model as given (the reference)
     * @param conditioned the plan on the conditioned model, whose nodes are the candidates
     * @param opts        the placement options of the run (its excludes stay excluded)
     * @param corrections bias corrections applied to the conditioned model, by node name (undone for chosen nodes)
     * @param ranges      the calibrated ranges
     * @param maxFloat    at most this many nodes are chosen
     * @param samples     the samples to score on
     * @param layout      what the target makes of each variant's Q/DQ model (the model that is scored)
     */
    static Outcome run(OnnxModel original, QdqPlan conditioned, QdqOptions opts, Map<String, float[]> corrections,
                       Map<String, TensorRange> ranges, int maxFloat, List<SampleRef> samples, Preprocessing pre,
                       QdqLayout layout, int threads, Progress progress) {
        long t0 = System.nanoTime();
        List<NodeDecision> nodes = conditioned.quantizedNodes();
        try (Sensitivity s = new Sensitivity(original, opts, samples, pre, null, threads)
                .runQdqAsWritten(layout == QdqLayout.TENSORRT)) {
            int rescored = rescored(maxFloat);
            boolean screening = samples.size() >= SCREEN_FROM && nodes.size() > rescored;
            progress.begin("float-layer search", nodes.size() + 1L + (screening ? rescored : 0)
                    + Math.min(nodes.size(), 2L * maxFloat));
            double[] squaredError = new double[samples.size()];
            double baseline = score(s, layout, conditioned, opts, corrections, ranges, List.of(), null, squaredError);
            progress.advance(1);
            int[] screen = screening ? largest(squaredError, samples.size() / 4) : null;
            List<Candidate> ranking = new ArrayList<>();
            for (NodeDecision d : nodes) {
                ranking.add(new Candidate(d.node(), d.opType(),
                        score(s, layout, conditioned, opts, corrections, ranges, List.of(d.node()), screen, null)));
                progress.advance(1);
            }
            ranking.sort((a, b) -> Double.compare(b.cosine(), a.cosine()));
            if (screening) {
                List<Candidate> again = new ArrayList<>();
                for (Candidate c : ranking.subList(0, rescored)) {
                    again.add(new Candidate(c.node(), c.opType(),
                            score(s, layout, conditioned, opts, corrections, ranges, List.of(c.node()), null, null)));
                    progress.advance(1);
                }
                again.sort((a, b) -> Double.compare(b.cosine(), a.cosine()));
                ranking = again;
            }
            List<String> chosen = new ArrayList<>();
            double current = baseline;
            int tries = 0;
            for (Candidate c : ranking) {
                if (chosen.size() == maxFloat || tries == 2 * maxFloat || !(c.cosine() > baseline)) break;
                if (chosen.isEmpty()) {
                    chosen.add(c.node());
                    current = c.cosine();
                    continue;
                }
                List<String> trial = new ArrayList<>(chosen);
                trial.add(c.node());
                double v = score(s, layout, conditioned, opts, corrections, ranges, trial, null, null);
                tries++;
                progress.advance(1);
                if (v > current) {
                    chosen.add(c.node());
                    current = v;
                }
            }
            progress.end();
            return new Outcome(List.copyOf(chosen), baseline, current, List.copyOf(ranking), samples.size(),
                    screening ? screen.length : 0, screening ? rescored : 0, (System.nanoTime() - t0) / 1e9);
        }
    }

    /** The indices of the {@code k} largest values, in increasing index order (ties: the lower index first). */
    static int[] largest(double[] values, int k) {
        Integer[] order = new Integer[values.length];
        for (int i = 0; i < order.length; i++) order[i] = i;
        java.util.Arrays.sort(order, (a, b) -> values[a] != values[b] ? Double.compare(values[b], values[a])
                : Integer.compare(a, b));
        int[] out = new int[Math.min(k, values.length)];
        for (int i = 0; i < out.length; i++) out[i] = order[i];
        java.util.Arrays.sort(out);
        return out;
    }

    /** How many of the screening round's best nodes are scored again on every sample. */
    static int rescored(int maxFloat) {
        return Math.max(RESCORED_MIN, 4 * maxFloat);
    }

    /**
     * {@code k} samples spread evenly over {@code samples} (all of them when there are no more than {@code k}): the
     * calibration list is often in file-name order, and its first few photos need not be typical.
     */
    static List<SampleRef> spread(List<SampleRef> samples, int k) {
        int n = samples.size();
        if (n <= k) return samples;
        List<SampleRef> out = new ArrayList<>(k);
        for (int i = 0; i < k; i++) out.add(samples.get((int) ((long) i * n / k)));
        return out;
    }

    /**
     * {@code --keep-float}: the named nodes, each checked to be one the conditioned plan quantizes.
     *
     * @throws QuantbridgeException naming a node that the model lacks or does not quantize, and why
     */
    static List<String> given(QdqPlan conditioned, List<String> names) {
        Map<String, NodeDecision> byName = new LinkedHashMap<>();
        for (NodeDecision d : conditioned.decisions()) byName.put(d.node(), d);
        for (String n : names) {
            NodeDecision d = byName.get(n);
            if (d == null) {
                throw new QuantbridgeException("--keep-float: the model has no node named '" + n + "' (the names "
                        + "report.json's float_layers ranking uses)");
            }
            if (!d.quantized()) {
                throw new QuantbridgeException("--keep-float: node '" + n + "' (" + d.opType() + ") is not quantized "
                        + "in this run (" + d.reason() + ")");
            }
        }
        return List.copyOf(names);
    }

    /** The conditioned model with {@code keepFloat} in float and their bias corrections undone, planned with opts. */
    static QdqPlan plan(QdqPlan conditioned, QdqOptions opts, Map<String, float[]> corrections,
                        Collection<String> keepFloat) {
        if (keepFloat.isEmpty()) return conditioned;
        OnnxModel model = BiasCorrection.revert(conditioned.preparedModel(), corrections, keepFloat);
        java.util.Set<String> keep = new java.util.LinkedHashSet<>(opts.floatNodes());
        keep.addAll(keepFloat);
        return QdqQuantizer.plan(model, opts.withFloatNodes(keep));
    }

    private static double score(Sensitivity s, QdqLayout layout, QdqPlan conditioned, QdqOptions opts,
                                Map<String, float[]> corrections, Map<String, TensorRange> ranges,
                                List<String> keepFloat, int[] subset, double[] squaredError) {
        QdqPlan p = plan(conditioned, opts, corrections, keepFloat);
        return s.evaluate(keepFloat.isEmpty() ? "all int8" : String.join(",", keepFloat),
                layout.write(p, ranges), subset, squaredError).cosine();
    }
}
