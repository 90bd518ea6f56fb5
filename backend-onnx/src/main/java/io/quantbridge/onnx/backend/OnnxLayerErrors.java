package io.quantbridge.onnx.backend;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.Progress;
import io.quantbridge.metrics.LayerErrors;
import io.quantbridge.onnx.DataTypes;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.TensorTypes;
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
import java.util.function.IntFunction;

/**
 * {@link LayerErrors} of a quantized ONNX model against its float reference: both run in ONNX Runtime (the candidate
 * as written: Q/DQ pairs computed in float, not fused into integer kernels) with every float tensor exposed, and each
 * candidate tensor is compared with the reference tensor of the same name. A DequantizeLinear output stands for the
 * tensor its QuantizeLinear reads: the tensor after its own int8 rounding and clipping. For a DequantizeLinear, the
 * added error is the rounding and clipping of that activation; for a Conv, its int8 weights and whatever it amplifies
 * of the error it reads.
 *
 * <p>Tensors are matched by name, so the reference must be the float model the candidate was written from: for
 * quantbridge's int8 ONNX models that is {@code model.fp32.onnx} beside it (equalization rescales channels of that
 * model; against the input model those tensors differ by the scales, not by quantization error). Tensors without a
 * namesake (of another size, or renamed by fusions) are left out.
 */
public final class OnnxLayerErrors {
    private OnnxLayerErrors() { }

    /**
     * Compares the two models on {@code samples} inputs ({@code loader} serves indices below that), one sample at a
     * time with {@code threads} ONNX Runtime threads.
     */
    public static LayerErrors.Result compare(OnnxModel reference, OnnxModel candidate, int samples,
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
        if (standsFor.isEmpty()) {
            throw new QuantbridgeException("layer errors: no float tensor of " + candidate.label() + " has a namesake in "
                    + reference.label() + ", so there is nothing to compare");
        }
        LayerErrors.Sums sums = new LayerErrors.Sums();
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
                        sums.mismatch(name);
                    } else {
                        sums.add(name, x, c, len);
                    }
                }, true);
                progress.advance(1);
            }
        } finally {
            progress.end();
        }

        List<LayerErrors.Node> nodes = new ArrayList<>();
        for (Onnx.NodeProto n : candidate.nodes()) {
            List<String> reads = n.getInputList();
            if (n.getOpType().equals("DequantizeLinear")) {
                String t = n.getInputCount() > 0 ? quantizedFrom.get(n.getInput(0)) : null;
                reads = t == null ? null : List.of(t);
            }
            String source = null;
            if (n.getOpType().equals("DequantizeLinear")) {
                source = "activation";
            } else if (n.getInputList().stream().anyMatch(weights::contains)) {
                source = "weights";
            }
            for (String o : n.getOutputList()) {
                if (standsFor.containsKey(o)) {
                    nodes.add(new LayerErrors.Node(n.getName(), n.getOpType(), o, standsFor.get(o), reads, source));
                }
            }
        }
        return LayerErrors.result(nodes, sums, exact, samples, floatOutputs);
    }

    /** A DequantizeLinear of a constant (int8 weights): not an activation, and not compared. */
    private static boolean isWeightDequantize(Onnx.NodeProto n, Set<String> constants) {
        return n.getOpType().equals("DequantizeLinear") && n.getInputCount() > 0 && constants.contains(n.getInput(0));
    }
}
