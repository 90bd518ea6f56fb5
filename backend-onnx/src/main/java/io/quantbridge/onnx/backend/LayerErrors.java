package io.quantbridge.onnx.backend;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.Progress;
import io.quantbridge.onnx.DataTypes;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.TensorTypes;
import io.quantbridge.onnx.proto.Onnx;
import io.quantbridge.onnx.runtime.OrtModelSession;
import io.quantbridge.tensor.FloatTensor;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.IntFunction;

/**
 * Where a quantized ONNX model departs from its float reference, layer by layer: both run in ONNX Runtime (the
 * candidate as written: Q/DQ pairs computed in float, not fused into integer kernels) with every float tensor exposed,
 * and each candidate tensor is compared with the reference tensor of the same name, pooled over the samples. A
 * DequantizeLinear output stands for the tensor its QuantizeLinear reads: the tensor after its own int8 rounding and
 * clipping.
 *
 * <p>Each node's <em>added error</em> is the relative error power of its output minus the largest of its inputs' (as
 * the node reads them; graph inputs and constants are exact): for a DequantizeLinear, the rounding and clipping of that
 * activation; for a Conv, its int8 weights and whatever it amplifies of the error it reads. Errors of independent
 * sources add up along a chain in these units, so the nodes that add the most are where fidelity goes. It is shown as
 * the SQNR that error alone would give ({@code added_sqnr_db}, lower is worse).
 *
 * <p>Tensors are matched by name, so the reference must be the float model the candidate was written from: for
 * quantbridge's int8 ONNX models that is {@code model.fp32.onnx} beside it (equalization rescales channels of that
 * model; against the input model those tensors differ by the scales, not by quantization error). Tensors without a
 * namesake (of another size, or renamed by fusions) are left out.
 */
public final class LayerErrors {
    /**
     * One compared candidate tensor, in the candidate's graph order.
     *
     * @param tensor      the reference tensor it stands for
     * @param candidate   its name in the candidate ({@code tensor} itself, or a DequantizeLinear output)
     * @param node        the candidate node that computes it
     * @param opType      that node's operator
     * @param sqnrDb      pooled SQNR against the reference tensor (infinite when equal)
     * @param cosine      pooled cosine
     * @param addedSqnrDb the SQNR of the error this node adds ({@link LayerErrors}); NaN when it removes error (a Relu
     *                    that cuts noise below zero) or when an input could not be compared
     * @param source      what int8 rounding happens in this node: {@code "activation"} (a DequantizeLinear of an
     *                    activation), {@code "weights"} (a node reading dequantized weights), or null (the node only
     *                    passes on, and may amplify, the error it reads: a Relu that drops the negative half of the
     *                    signal raises the relative error without adding any)
     */
    public record Row(String tensor, String candidate, String node, String opType, double sqnrDb, double cosine,
                      double addedSqnrDb, String source) {
        /** The error power this node adds, relative to its output's power (0 when unknown or negative). */
        public double addedError() {
            return Double.isNaN(addedSqnrDb) ? 0 : Math.pow(10, -addedSqnrDb / 10);
        }

        public Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("tensor", tensor);
            if (!candidate.equals(tensor)) m.put("candidate_tensor", candidate);
            m.put("node", node);
            m.put("op_type", opType);
            m.put("sqnr_db", finite(sqnrDb));
            m.put("cosine", finite(cosine));
            m.put("added_sqnr_db", finite(addedSqnrDb));
            if (source != null) m.put("int8_source", source);
            return m;
        }
    }

    /** Every compared tensor in graph order, with how many samples and how many candidate tensors had no namesake. */
    public record Result(List<Row> rows, int samples, int unmatched) {
        /**
         * The {@code n} rows whose int8 rounding (of an activation, or of a node's weights) adds the most error, worst
         * first: where a range, a float layer or the weights' rounding can make a difference.
         */
        public List<Row> worst(int n) {
            return rows.stream().filter(r -> r.source() != null && !Double.isNaN(r.addedSqnrDb()))
                    .sorted(Comparator.comparingDouble(Row::addedSqnrDb)).limit(n).toList();
        }

        /** For report.json or eval's --out: the counts, the {@code top} worst rows, and every row. */
        public Map<String, Object> toMap(int top) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("samples", samples);
            m.put("compared_tensors", rows.size());
            m.put("unmatched_tensors", unmatched);
            m.put("metric", "pooled SQNR (dB) of each candidate tensor against the reference tensor of the same name;"
                    + " added_sqnr_db: the SQNR of the error its node adds to what it reads; worst: the int8 roundings"
                    + " (activations, weights) that add the most");
            m.put("worst", worst(top).stream().map(Row::toMap).toList());
            m.put("tensors", rows.stream().map(Row::toMap).toList());
            return m;
        }
    }

    private LayerErrors() { }

    private static Object finite(double v) {
        return Double.isFinite(v) ? v : null;
    }

    /**
     * Compares the two models on {@code samples} inputs ({@code loader} serves indices below that), one sample at a
     * time with {@code threads} ONNX Runtime threads.
     */
    public static Result compare(OnnxModel reference, OnnxModel candidate, int samples,
                                 IntFunction<Map<String, FloatTensor>> loader, int threads, Progress progress) {
        if (samples <= 0) throw new QuantbridgeException("layer errors: no samples to compare on");
        TensorTypes refTypes = TensorTypes.infer(reference.graph());
        Set<String> refFloat = new LinkedHashSet<>();
        Set<String> refInputs = new HashSet<>(); // compared from the feed, which both models get
        for (var in : reference.inputs()) {
            if (in.elementType().equals("float") && !reference.initializers().containsKey(in.name())) {
                refInputs.add(in.name());
                refFloat.add(in.name());
            }
        }
        for (Onnx.NodeProto n : reference.nodes()) {
            for (String o : n.getOutputList()) {
                if (!o.isEmpty() && refTypes.elemType(o) == DataTypes.FLOAT) refFloat.add(o);
            }
        }
        Set<String> graphInputs = new HashSet<>();
        candidate.graph().getInputList().forEach(i -> graphInputs.add(i.getName()));
        Set<String> constants = new HashSet<>(candidate.initializers().keySet());
        TensorTypes candTypes = TensorTypes.infer(candidate.graph());
        // the candidate tensor that stands for each reference tensor, and the node computing it
        Map<String, String> standsFor = new LinkedHashMap<>();
        Map<String, Onnx.NodeProto> producer = new HashMap<>();
        Map<String, String> quantizedFrom = new HashMap<>(); // QuantizeLinear output -> the tensor it reads
        for (Onnx.NodeProto n : candidate.nodes()) {
            for (String o : n.getOutputList()) producer.put(o, n);
            if (n.getOpType().equals("Constant")) constants.addAll(n.getOutputList());
            if (n.getOpType().equals("QuantizeLinear") && n.getInputCount() > 0) {
                quantizedFrom.put(n.getOutput(0), n.getInput(0));
            }
            for (String o : n.getOutputList()) {
                if (o.isEmpty() || candTypes.elemType(o) != DataTypes.FLOAT) continue;
                if (refFloat.contains(o)) {
                    standsFor.put(o, o);
                } else if (n.getOpType().equals("DequantizeLinear") && n.getInputCount() > 0) {
                    String t = quantizedFrom.get(n.getInput(0));
                    if (t != null && refFloat.contains(t)) standsFor.put(o, t);
                }
            }
        }
        // tensors as exact as the reference's: graph inputs, constants, dequantized weights (their rounding is the
        // reading node's error), and what is not float (shapes, indices)
        Set<String> exact = new HashSet<>(graphInputs);
        exact.addAll(constants);
        Set<String> weights = new HashSet<>();
        int floatOutputs = 0;
        for (Onnx.NodeProto n : candidate.nodes()) {
            if (n.getOpType().equals("Constant")) continue;
            boolean weightDq = isWeightDequantize(n, constants);
            if (weightDq) weights.addAll(n.getOutputList());
            for (String o : n.getOutputList()) {
                if (o.isEmpty()) continue;
                if (weightDq || candTypes.elemType(o) != DataTypes.FLOAT) {
                    exact.add(o);
                } else {
                    floatOutputs++;
                }
            }
        }
        Set<String> refExposed = new LinkedHashSet<>(standsFor.values());
        refExposed.removeAll(refInputs);
        // sums per candidate tensor: reference power, error power, cross product, candidate power
        Map<String, double[]> sums = new LinkedHashMap<>();
        Set<String> mismatched = new HashSet<>();
        if (standsFor.isEmpty()) {
            throw new QuantbridgeException("layer errors: no float tensor of " + candidate.label() + " has a namesake in "
                    + reference.label() + ", so there is nothing to compare");
        }
        progress.begin("comparing layers", samples);
        try (OrtModelSession ref = OrtModelSession.open(reference.withOutputs(refExposed).toBytes(),
                reference.label(), threads);
             OrtModelSession cand = OrtModelSession.open(candidate.withOutputs(standsFor.keySet()).toBytes(),
                     candidate.label(), threads, true)) {
            for (int i = 0; i < samples; i++) {
                Map<String, FloatTensor> feed = loader.apply(i);
                Map<String, float[]> r = new HashMap<>();
                for (String in : refInputs) if (feed.get(in) != null) r.put(in, feed.get(in).data());
                if (!refExposed.isEmpty()) ref.runStreaming(feed, refExposed, (name, shape, data, len) -> r.put(name, data), false);
                cand.runStreaming(feed, standsFor.keySet(), (name, shape, c, len) -> {
                    float[] x = r.get(standsFor.get(name));
                    if (x == null || x.length != len) {
                        mismatched.add(name);
                        return;
                    }
                    double[] s = sums.computeIfAbsent(name, k -> new double[4]);
                    double xx = 0;
                    double ee = 0;
                    double xc = 0;
                    double cc = 0;
                    for (int j = 0; j < len; j++) {
                        double a = x[j];
                        double b = c[j];
                        xx += a * a;
                        ee += (b - a) * (b - a);
                        xc += a * b;
                        cc += b * b;
                    }
                    s[0] += xx;
                    s[1] += ee;
                    s[2] += xc;
                    s[3] += cc;
                }, true);
                progress.advance(1);
            }
        } finally {
            progress.end();
        }
        sums.keySet().removeAll(mismatched);

        Map<String, Double> nsr = new HashMap<>(); // relative error power of each compared candidate tensor
        for (Map.Entry<String, double[]> e : sums.entrySet()) {
            double[] s = e.getValue();
            nsr.put(e.getKey(), s[0] > 0 ? s[1] / s[0] : (s[1] > 0 ? Double.POSITIVE_INFINITY : 0));
        }
        List<Row> rows = new ArrayList<>();
        for (Onnx.NodeProto n : candidate.nodes()) {
            for (String o : n.getOutputList()) {
                double[] s = sums.get(o);
                if (s == null) continue;
                double out = nsr.get(o);
                double in = inputError(n, nsr, quantizedFrom, exact);
                double added = Double.isNaN(in) ? Double.NaN : out - in;
                String source = null;
                if (n.getOpType().equals("DequantizeLinear")) {
                    source = "activation";
                } else if (n.getInputList().stream().anyMatch(weights::contains)) {
                    source = "weights";
                }
                rows.add(new Row(standsFor.get(o), o, n.getName(), n.getOpType(), -10 * Math.log10(out),
                        s[2] / Math.sqrt(s[0] * s[3]), added > 0 ? -10 * Math.log10(added) : Double.NaN, source));
            }
        }
        return new Result(rows, samples, floatOutputs - rows.size());
    }

    /** A DequantizeLinear of a constant (int8 weights): not an activation, and not compared. */
    private static boolean isWeightDequantize(Onnx.NodeProto n, Set<String> constants) {
        return n.getOpType().equals("DequantizeLinear") && n.getInputCount() > 0 && constants.contains(n.getInput(0));
    }

    /**
     * The largest relative error power among what node {@code n} reads: a DequantizeLinear reads the tensor its
     * QuantizeLinear quantizes; {@code exact} tensors count as exact; NaN when an input is a computed float tensor
     * that was not compared.
     */
    private static double inputError(Onnx.NodeProto n, Map<String, Double> nsr, Map<String, String> quantizedFrom,
                                     Set<String> exact) {
        List<String> reads = n.getInputList();
        if (n.getOpType().equals("DequantizeLinear")) {
            String t = n.getInputCount() > 0 ? quantizedFrom.get(n.getInput(0)) : null;
            if (t == null) return Double.NaN;
            reads = List.of(t);
        }
        double worst = 0;
        for (String i : reads) {
            if (i.isEmpty() || exact.contains(i)) continue;
            Double e = nsr.get(i);
            if (e == null) return Double.NaN;
            worst = Math.max(worst, e);
        }
        return worst;
    }
}
