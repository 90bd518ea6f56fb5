package io.quantbridge.onnx.backend;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.Progress;
import io.quantbridge.onnx.BiasCorrection;
import io.quantbridge.onnx.Gptq;
import io.quantbridge.onnx.NodeDecision;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.QdqPlan;
import io.quantbridge.onnx.QdqQuantizer;
import io.quantbridge.onnx.proto.Onnx;
import io.quantbridge.onnx.runtime.OrtModelSession;
import io.quantbridge.tensor.FloatTensor;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code --gptq K}: the int8 weights of the quantized convs rounded by {@link Gptq} instead of to the nearest step,
 * from the statistics of each conv's input patches in the (conditioned) float model on K calibration samples.
 *
 * <p>Runs after calibration and the float-layer search, before the empirical bias correction: the ranges stay those
 * calibrated (the float activations barely move: the rounded weights keep each channel's mean when bias correction is
 * on). The rounded weights go into the plan's float model as {@code code * scale}, so {@code model.fp32.onnx}, the Q/DQ
 * model and TensorRT's own weight quantization of the float model all hold the same int8 weights. With bias correction
 * on, each rounded conv's bias correction is redone for its new weights ({@code (W - Wg) E[x]} on the same samples,
 * replacing the correction for nearest rounding); with it off, biases stay.
 */
final class GptqRounding {
    /** The plan on the model with rounded weights, the bias corrections now in it by node name, and the report. */
    record Outcome(QdqPlan plan, Map<String, float[]> biasCorrections, Map<String, Object> report) { }

    private GptqRounding() { }

    /**
     * @param plan        the final placement (float layers chosen) on the conditioned model
     * @param corrections the analytic bias corrections in {@code plan}'s model, by node name
     * @param feeds       the K samples, loaded
     */
    static Outcome run(QdqPlan plan, Map<String, float[]> corrections, boolean biasCorrection,
                       List<Map<String, FloatTensor>> feeds, int threads, Progress progress) {
        if (feeds.isEmpty()) throw new QuantbridgeException("--gptq: no calibration samples");
        long t0 = System.nanoTime();
        OnnxModel prepared = plan.preparedModel();
        Map<String, Onnx.TensorProto> inits = prepared.initializers();
        Set<String> quantized = new HashSet<>();
        for (NodeDecision d : plan.quantizedNodes()) quantized.add(d.node());
        Map<String, Integer> uses = new HashMap<>();
        for (Onnx.NodeProto n : prepared.nodes()) for (String i : n.getInputList()) uses.merge(i, 1, Integer::sum);

        Map<String, String> skipped = new LinkedHashMap<>();
        Map<String, Gptq.Patches> stats = new LinkedHashMap<>();
        Map<String, List<String>> readers = new LinkedHashMap<>();
        Map<String, String> inputOf = new HashMap<>();
        long seed = 1;
        for (Onnx.NodeProto n : prepared.nodes()) {
            if (!quantized.contains(n.getName()) || !(n.getOpType().equals("Conv")
                    || n.getOpType().equals("ConvTranspose"))) continue;
            Onnx.TensorProto w = n.getInputCount() > 1 ? inits.get(n.getInput(1)) : null;
            String why = !plan.options().perChannel() ? "per-tensor weights" : Gptq.unsupported(n, w);
            if (why == null && uses.getOrDefault(n.getInput(1), 0) > 1) why = "weight shared with another node";
            if (why == null && inits.containsKey(n.getInput(0))) why = "constant input";
            if (why != null) {
                skipped.put(n.getName(), why);
                continue;
            }
            stats.put(n.getName(), new Gptq.Patches(n, w, seed++));
            readers.computeIfAbsent(n.getInput(0), k -> new ArrayList<>()).add(n.getName());
            inputOf.put(n.getName(), n.getInput(0));
        }
        Map<String, Object> report = new LinkedHashMap<>();
        report.put("samples", feeds.size());
        report.put("positions_per_sample", Gptq.DEFAULT_POSITIONS);
        report.put("damp", Gptq.DEFAULT_DAMP);
        if (stats.isEmpty()) {
            report.put("rounded_nodes", 0);
            report.put("skipped", skipped);
            report.put("seconds", (System.nanoTime() - t0) / 1e9);
            return new Outcome(plan, corrections, report);
        }

        Set<String> tensors = new LinkedHashSet<>(readers.keySet());
        progress.begin("gptq statistics", feeds.size());
        try (OrtModelSession session = OrtModelSession.open(prepared.prunedTo(tensors).toBytes(),
                "gptq statistics", threads)) {
            for (Map<String, FloatTensor> feed : feeds) {
                Map<String, FloatTensor> outs = new HashMap<>();
                session.runStreaming(feed, tensors, (name, shape, data, len) -> outs.put(name,
                        new FloatTensor(shape, data)), false);
                // the convs' statistics are independent: spread them over the cores
                stats.entrySet().parallelStream().forEach(e -> {
                    String input = inputOf.get(e.getKey());
                    FloatTensor x = outs.get(input);
                    if (x == null) throw new QuantbridgeException("--gptq: no value for " + input);
                    e.getValue().add(x.shape(), x.data(), Gptq.DEFAULT_POSITIONS);
                });
                progress.advance(1);
            }
        }
        progress.end();

        progress.begin("gptq rounding", 0);
        Gptq.Result r = Gptq.apply(prepared, stats, Gptq.DEFAULT_DAMP, plan.options().weightMax());
        progress.end();
        OnnxModel model = r.model();
        Map<String, float[]> newCorrections = new LinkedHashMap<>(corrections);
        if (biasCorrection) {
            // replace each rounded conv's correction for nearest rounding by the one for its new weights
            Map<String, float[]> delta = new LinkedHashMap<>();
            for (Map.Entry<String, float[]> e : r.meanShifts().entrySet()) {
                float[] next = e.getValue();
                float[] prev = corrections.get(e.getKey());
                float[] d = next.clone();
                if (prev != null) for (int o = 0; o < d.length; o++) d[o] -= prev[o];
                delta.put(e.getKey(), d);
                newCorrections.put(e.getKey(), next);
            }
            model = BiasCorrection.shift(model, delta);
        }
        double nearest = 0;
        double rounded = 0;
        List<Double> ratios = new ArrayList<>();
        for (Gptq.NodeResult nr : r.nodes()) {
            nearest += nr.nearestError();
            rounded += nr.gptqError();
            if (nr.nearestError() > 0) ratios.add(nr.gptqError() / nr.nearestError());
        }
        ratios.sort(null);
        report.put("rounded_nodes", r.nodes().size());
        report.put("output_error_ratio", nearest > 0 ? rounded / nearest : 1.0);
        report.put("median_node_error_ratio", ratios.isEmpty() ? 1.0 : ratios.get(ratios.size() / 2));
        report.put("skipped", skipped);
        report.put("seconds", (System.nanoTime() - t0) / 1e9);
        return new Outcome(QdqQuantizer.plan(model, plan.options()), newCorrections, report);
    }
}
