package io.quantbridge.onnx.backend;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.Progress;
import io.quantbridge.onnx.BiasCorrection;
import io.quantbridge.onnx.ConvRefit;
import io.quantbridge.onnx.NodeDecision;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.QdqPlan;
import io.quantbridge.onnx.QdqQuantizer;
import io.quantbridge.onnx.Tensors;
import io.quantbridge.onnx.proto.Onnx;
import io.quantbridge.onnx.runtime.OrtModelSession;
import io.quantbridge.table.TensorRange;
import io.quantbridge.tensor.FloatTensor;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code --refit K}: each quantized Conv and ConvTranspose, in graph order, gets the weights and bias that best
 * reproduce the float conv's output from the inputs the int8 model gives it ({@link ConvRefit}), measured on K
 * calibration samples with every earlier conv already refitted.
 *
 * <p>Like the empirical bias correction, and for the same reason, one conv at a time: what a conv receives depends on
 * every conv before it. Each step runs the part of the float model (the conditioned model without the analytic bias
 * corrections: the function the input model computes) and of the int8 model as the target runs it that computes the
 * conv's input, on the same samples, and samples {@link ConvRefit#DEFAULT_POSITIONS} positions of each. The refitted
 * weights go into the plan's float model as {@code code * scale}, so {@code model.fp32.onnx}, the Q/DQ model and
 * TensorRT's own weight quantization hold the same int8 weights; the calibrated ranges do not change.
 */
final class WeightRefit {
    /** The plan on the refitted model, and the report. */
    record Outcome(QdqPlan plan, Map<String, Object> report) { }

    private WeightRefit() { }

    /**
     * @param plan      the final placement (float layers chosen) on the conditioned model
     * @param ranges    the calibrated ranges the Q/DQ model is written with
     * @param reference the float model to match: the conditioned model without the analytic bias corrections
     * @param feeds     the K samples, loaded
     * @param layout    what the target makes of the Q/DQ model: each step reads the model that is written
     */
    static Outcome run(QdqPlan plan, Map<String, TensorRange> ranges, OnnxModel reference,
                       List<Map<String, FloatTensor>> feeds, QdqLayout layout, int threads, Progress progress) {
        if (feeds.isEmpty()) throw new QuantbridgeException("--refit: no calibration samples");
        long t0 = System.nanoTime();
        OnnxModel model = plan.preparedModel();
        Map<String, Onnx.TensorProto> inits = model.initializers();
        Map<String, Onnx.NodeProto> refNodes = new HashMap<>();
        for (Onnx.NodeProto n : reference.nodes()) refNodes.put(n.getName(), n);
        Map<String, Onnx.TensorProto> refInits = reference.initializers();
        Set<String> quantized = new HashSet<>();
        for (NodeDecision d : plan.quantizedNodes()) quantized.add(d.node());
        Map<String, Integer> uses = new HashMap<>();
        for (Onnx.NodeProto n : model.nodes()) for (String i : n.getInputList()) uses.merge(i, 1, Integer::sum);

        Map<String, String> skipped = new LinkedHashMap<>();
        List<String> convs = new ArrayList<>();
        for (Onnx.NodeProto n : model.nodes()) {
            if (!quantized.contains(n.getName()) || !(n.getOpType().equals("Conv")
                    || n.getOpType().equals("ConvTranspose"))) continue;
            Onnx.TensorProto w = n.getInputCount() > 1 ? inits.get(n.getInput(1)) : null;
            String why = ConvRefit.unsupported(n, w);
            if (why == null && uses.getOrDefault(n.getInput(1), 0) > 1) why = "weight shared with another node";
            if (why == null && inits.containsKey(n.getInput(0))) why = "constant input";
            if (why == null && !BiasCorrection.hasInitializerBias(n, inits)) why = "bias is not a float initializer";
            if (why == null && !refNodes.containsKey(n.getName())) why = "not in the float model";
            if (why != null) {
                skipped.put(n.getName(), why);
                continue;
            }
            convs.add(n.getName());
        }

        progress.begin("refitting convs", convs.size());
        double before = 0;
        double after = 0;
        double power = 0;
        List<Double> ratios = new ArrayList<>();
        int refitted = 0;
        long seed = 1;
        for (String name : convs) {
            Onnx.NodeProto fn = refNodes.get(name);
            Onnx.TensorProto refWeight = refInits.get(fn.getInput(1));
            float[] refBias = fn.getInputCount() > 2 && !fn.getInput(2).isEmpty()
                    ? Tensors.toFloats(refInits.get(fn.getInput(2))) : null;
            OnnxModel int8 = layout.write(plan, ranges);
            Onnx.NodeProto qn = null;
            for (Onnx.NodeProto n : int8.nodes()) if (n.getName().equals(name)) qn = n;
            if (qn == null) {
                skipped.put(name, "not in the int8 model as the target runs it");
                progress.advance(1);
                continue;
            }
            String xq = qn.getInput(0);
            String xf = fn.getInput(0);
            ConvRefit.Statistics stats = new ConvRefit.Statistics(fn, refWeight, refBias, seed++);
            try (OrtModelSession q = OrtModelSession.open(int8.prunedTo(List.of(xq)).toBytes(), "int8 model up to "
                    + name, threads, layout == QdqLayout.TENSORRT);
                 OrtModelSession f = OrtModelSession.open(reference.prunedTo(List.of(xf)).toBytes(),
                         "float model up to " + name, threads)) {
                for (Map<String, FloatTensor> feed : feeds) {
                    FloatTensor[] got = new FloatTensor[2];
                    q.runStreaming(feed, Set.of(xq), (t, shape, data, len) -> got[0] = new FloatTensor(shape, data),
                            false);
                    f.runStreaming(feed, Set.of(xf), (t, shape, data, len) -> got[1] = new FloatTensor(shape, data),
                            false);
                    if (got[0] == null || got[1] == null
                            || !java.util.Arrays.equals(got[0].shape(), got[1].shape())) {
                        throw new QuantbridgeException("--refit: the int8 and float models disagree on the input of "
                                + name + " (" + xq + ": " + (got[0] == null ? "none" : java.util.Arrays.toString(got[0].shape())) + ", "
                                + xf + ": " + (got[1] == null ? "none" : java.util.Arrays.toString(got[1].shape())) + ")");
                    }
                    stats.add(got[0].shape(), got[0].data(), got[1].data(), ConvRefit.DEFAULT_POSITIONS);
                }
            }
            Onnx.NodeProto pn = null;
            for (Onnx.NodeProto n : model.nodes()) if (n.getName().equals(name)) pn = n;
            Map<String, Onnx.TensorProto> now = model.initializers();
            Onnx.TensorProto current = now.get(pn.getInput(1));
            float[] currentBias = pn.getInputCount() > 2 && !pn.getInput(2).isEmpty()
                    ? Tensors.toFloats(now.get(pn.getInput(2))) : null;
            ConvRefit.Fit fit = stats.fit(ConvRefit.DEFAULT_RIDGE, plan.options().perChannel(),
                    plan.options().weightMax(), current, currentBias);
            before += fit.errorBefore();
            after += fit.errorAfter();
            power += fit.targetPower();
            if (fit.errorBefore() > 0) ratios.add(fit.errorAfter() / fit.errorBefore());
            float[] delta = fit.bias().clone();
            if (currentBias != null) for (int o = 0; o < delta.length; o++) delta[o] -= currentBias[o];
            model = BiasCorrection.shift(withInitializer(model, Tensors.floatTensor(current.getName(),
                    Tensors.dims(current), fit.weights())), Map.of(name, delta));
            plan = QdqQuantizer.plan(model, plan.options());
            refitted++;
            progress.advance(1);
        }
        progress.end();
        ratios.sort(null);
        Map<String, Object> report = new LinkedHashMap<>();
        report.put("samples", feeds.size());
        report.put("positions_per_sample", ConvRefit.DEFAULT_POSITIONS);
        report.put("ridge", ConvRefit.DEFAULT_RIDGE);
        report.put("refitted_nodes", refitted);
        report.put("output_error_ratio", before > 0 ? after / before : 1.0);
        report.put("median_node_error_ratio", ratios.isEmpty() ? 1.0 : ratios.get(ratios.size() / 2));
        report.put("relative_error_before", power > 0 ? before / power : 0.0);
        report.put("relative_error_after", power > 0 ? after / power : 0.0);
        report.put("skipped", skipped);
        report.put("seconds", (System.nanoTime() - t0) / 1e9);
        return new Outcome(plan, report);
    }

    private static OnnxModel withInitializer(OnnxModel model, Onnx.TensorProto t) {
        Onnx.GraphProto.Builder gb = model.graph().toBuilder();
        for (int i = 0; i < gb.getInitializerCount(); i++) {
            if (gb.getInitializer(i).getName().equals(t.getName())) {
                gb.setInitializer(i, t);
                return model.withProto(model.proto().toBuilder().setGraph(gb).build());
            }
        }
        throw new IllegalArgumentException("no initializer " + t.getName());
    }
}
