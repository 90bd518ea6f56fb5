package io.quantbridge.onnx;

import io.quantbridge.onnx.proto.Onnx.GraphProto;
import io.quantbridge.onnx.proto.Onnx.NodeProto;
import io.quantbridge.onnx.proto.Onnx.TensorProto;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Bias correction for weight quantization: int8 rounding of a conv's weights shifts the mean of each output channel
 * by {@code sum((Wq - W) * E[x])}; subtracting that from the bias removes the shift.
 *
 * <p>{@code E[x]} is the mean of each input channel over the calibration samples (positions included), the weights
 * {@code Wq} are exactly what {@link QdqQuantizer} writes (symmetric int8, max|w| per output channel or per tensor).
 * Padding is ignored (the mean is taken as if every tap read a real input). Applies to Conv nodes that the plan
 * quantizes and whose input has statistics; a conv without a bias gets one.
 */
public final class BiasCorrection {
    private BiasCorrection() { }

    /** The corrected model and the correction added to each conv's bias, by node name. */
    public record Result(OnnxModel model, Map<String, float[]> corrections) { }

    /**
     * @param plan       the placement (its prepared model is corrected)
     * @param inputMeans mean of every channel (axis 1) of conv input tensors, by tensor name
     */
    public static Result apply(QdqPlan plan, Map<String, float[]> inputMeans) {
        OnnxModel prepared = plan.preparedModel();
        GraphProto g = prepared.graph();
        Map<String, TensorProto> inits = new LinkedHashMap<>(prepared.initializers());
        Map<String, Boolean> quantized = new HashMap<>();
        for (NodeDecision d : plan.decisions()) quantized.put(d.node(), d.quantized());
        int axis = plan.options().perChannel() ? 0 : -1;

        Map<String, float[]> corrections = new LinkedHashMap<>();
        for (NodeProto n : g.getNodeList()) {
            if (!n.getOpType().equals("Conv") || !quantized.getOrDefault(n.getName(), false)
                    || !hasInitializerBias(n, inits)) continue;
            float[] mean = inputMeans.get(n.getInput(0));
            TensorProto w = n.getInputCount() > 1 ? inits.get(n.getInput(1)) : null;
            if (mean == null || w == null || w.getDataType() != DataTypes.FLOAT) continue;
            long[] wd = Tensors.dims(w);
            int cout = (int) wd[0];
            int cinPerGroup = (int) wd[1];
            long group = Attributes.getInt(n, "group", 1);
            if (mean.length != cinPerGroup * group) continue;
            float[] wv = Tensors.toFloats(w);
            QdqQuantizer.QuantizedWeight q = QdqQuantizer.quantizeWeight(w, axis, plan.options().weightMax());
            int per = wv.length / cout;
            int spatial = per / cinPerGroup;
            int outPerGroup = (int) (cout / group);
            float[] delta = new float[cout];
            for (int o = 0; o < cout; o++) {
                float scale = q.scales()[axis >= 0 ? o : 0];
                int firstIn = (o / outPerGroup) * cinPerGroup;
                double d = 0;
                for (int c = 0; c < cinPerGroup; c++) {
                    double m = mean[firstIn + c];
                    if (m == 0) continue;
                    int base = o * per + c * spatial;
                    double e = 0;
                    for (int k = 0; k < spatial; k++) e += q.values()[base + k] * scale - wv[base + k];
                    d += e * m;
                }
                delta[o] = (float) d;
            }
            float[] applied = new float[cout];
            for (int o = 0; o < cout; o++) applied[o] = -delta[o];
            corrections.put(n.getName(), applied);
        }
        return new Result(shift(prepared, corrections), corrections);
    }

    /**
     * Adds {@code byNode} to the biases of those Conv and ConvTranspose nodes, by node name: a node without a bias gets
     * one, a bias shared with another node is copied first (named {@code <node>_corrected_bias}). Nodes whose bias is
     * computed rather than an initializer are left alone ({@link #hasInitializerBias} tells them apart).
     *
     * @throws IllegalArgumentException when a shift's length is not the node's bias length
     */
    public static OnnxModel shift(OnnxModel model, Map<String, float[]> byNode) {
        GraphProto g = model.graph();
        Map<String, TensorProto> inits = new LinkedHashMap<>(model.initializers());
        Map<String, Integer> uses = new HashMap<>();
        for (NodeProto n : g.getNodeList()) for (String i : n.getInputList()) uses.merge(i, 1, Integer::sum);
        Map<String, NodeProto> producers = new HashMap<>();
        for (NodeProto n : g.getNodeList()) for (String o : n.getOutputList()) producers.put(o, n);
        GraphProto.Builder gb = g.toBuilder();
        for (int i = 0; i < gb.getNodeCount(); i++) {
            NodeProto n = gb.getNode(i);
            float[] add = byNode.get(n.getName());
            if (add == null || !hasInitializerBias(n, inits)) continue;
            String biasName = n.getInputCount() > 2 ? n.getInput(2) : "";
            float[] bias = biasName.isEmpty() ? new float[add.length] : Tensors.toFloats(inits.get(biasName)).clone();
            long channels = biasName.isEmpty() ? outputChannels(n, inits, producers) : bias.length;
            if (channels >= 0 && channels != add.length) {
                throw new IllegalArgumentException("shift of " + n.getName() + ": " + add.length + " values for "
                        + channels + " output channels");
            }
            for (int o = 0; o < bias.length; o++) bias[o] += add[o];
            String name = biasName;
            if (biasName.isEmpty() || uses.getOrDefault(biasName, 0) > 1) {
                name = Names.of(g).fresh(n.getName() + "_corrected_bias");
                while (inits.containsKey(name)) name = name + "_";
                NodeProto.Builder nb = n.toBuilder();
                while (nb.getInputCount() < 3) nb.addInput("");
                nb.setInput(2, name);
                gb.setNode(i, nb);
            }
            inits.put(name, Tensors.floatTensor(name, new long[] {bias.length}, bias));
        }
        gb.clearInitializer();
        gb.addAllInitializer(inits.values());
        return model.withProto(model.proto().toBuilder().setGraph(gb).build());
    }

    /**
     * Output channels of a Conv or ConvTranspose from its weight, an initializer or the int8 initializer behind a
     * DequantizeLinear; -1 when the weight is computed otherwise.
     */
    private static long outputChannels(NodeProto n, Map<String, TensorProto> inits, Map<String, NodeProto> producers) {
        if (n.getInputCount() < 2) return -1;
        TensorProto w = inits.get(n.getInput(1));
        NodeProto p = producers.get(n.getInput(1));
        if (w == null && p != null && p.getOpType().equals("DequantizeLinear")) w = inits.get(p.getInput(0));
        if (w == null || w.getDimsCount() < 2) return -1;
        return n.getOpType().equals("Conv") ? w.getDims(0) : w.getDims(1) * Attributes.getInt(n, "group", 1);
    }

    /** Whether {@code n} is a Conv or ConvTranspose whose bias is absent or a float initializer. */
    public static boolean hasInitializerBias(NodeProto n, Map<String, TensorProto> inits) {
        if (!n.getOpType().equals("Conv") && !n.getOpType().equals("ConvTranspose")) return false;
        if (n.getInputCount() < 3 || n.getInput(2).isEmpty()) return true;
        TensorProto b = inits.get(n.getInput(2));
        return b != null && b.getDataType() == DataTypes.FLOAT;
    }

    /**
     * Undoes the corrections of {@link #apply} for {@code nodes} (those kept in float after all): their biases get back
     * their uncorrected values (a bias that correction created stays, at zero). Nodes without a correction are skipped.
     *
     * @param corrections what {@link Result#corrections()} returned for {@code model}
     */
    public static OnnxModel revert(OnnxModel model, Map<String, float[]> corrections, java.util.Collection<String> nodes) {
        GraphProto g = model.graph();
        Map<String, TensorProto> inits = new LinkedHashMap<>(model.initializers());
        boolean changed = false;
        for (NodeProto n : g.getNodeList()) {
            float[] applied = corrections.get(n.getName());
            if (applied == null || !nodes.contains(n.getName()) || n.getInputCount() < 3) continue;
            TensorProto b = inits.get(n.getInput(2));
            if (b == null) continue;
            float[] bias = Tensors.toFloats(b).clone();
            if (bias.length != applied.length) {
                throw new IllegalArgumentException("bias of " + n.getName() + " has " + bias.length
                        + " values, its correction " + applied.length);
            }
            for (int o = 0; o < bias.length; o++) bias[o] -= applied[o];
            inits.put(b.getName(), Tensors.floatTensor(b.getName(), Tensors.dims(b), bias));
            changed = true;
        }
        if (!changed) return model;
        GraphProto gb = g.toBuilder().clearInitializer().addAllInitializer(inits.values()).build();
        return model.withProto(model.proto().toBuilder().setGraph(gb).build());
    }
}
