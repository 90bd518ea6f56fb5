package io.quantbridge.onnx.backend;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.Progress;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.data.SampleRef;
import io.quantbridge.eval.SensitivitySearch;
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
 * {@code --float-layers N} on the ONNX-based backends: the candidates are the quantized nodes of the conditioned
 * plan, and a variant is the plan with some of them in float, their bias corrections undone (a node kept in float
 * loses its correction, which only makes sense for int8 weights), scored by pooled output cosine against the original
 * float model ({@link SensitivitySearch} has the search itself). Costs one Q/DQ model and one ONNX Runtime session per
 * variant, scored in ONNX Runtime whatever the target backend.
 */
final class FloatLayerSearch {
    static final String METRIC = "pooled output cosine against the float model on calibration samples";

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
    static SensitivitySearch.Outcome run(OnnxModel original, QdqPlan conditioned, QdqOptions opts,
                                         Map<String, float[]> corrections, Map<String, TensorRange> ranges,
                                         int maxFloat, List<SampleRef> samples, Preprocessing pre, QdqLayout layout,
                                         int threads, Progress progress) {
        List<SensitivitySearch.Node> nodes = new ArrayList<>();
        for (NodeDecision d : conditioned.quantizedNodes()) nodes.add(new SensitivitySearch.Node(d.node(), d.opType()));
        try (Sensitivity s = new Sensitivity(original, opts, samples, pre, null, threads)
                .runQdqAsWritten(layout == QdqLayout.TENSORRT)) {
            return SensitivitySearch.run(nodes, maxFloat, samples.size(), (keepFloat, subset, squaredError) ->
                    score(s, layout, conditioned, opts, corrections, ranges, keepFloat, subset, squaredError),
                    METRIC, progress);
        }
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
