package io.quantbridge.onnx;

import io.quantbridge.onnx.proto.Onnx.GraphProto;
import io.quantbridge.onnx.proto.Onnx.NodeProto;
import io.quantbridge.onnx.proto.Onnx.TensorProto;
import io.quantbridge.onnx.proto.Onnx.ValueInfoProto;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Folds what follows a Conv or ConvTranspose into its weights and bias, as every runtime would before running it,
 * so that the weights that get quantized are the ones the runtime multiplies with:
 * <ul>
 *   <li>an inference BatchNormalization reading the conv's output: each output channel {@code o} gets
 *       {@code k[o] = scale[o] / sqrt(var[o] + epsilon)}, weights {@code W[o] * k[o]} and bias
 *       {@code (b[o] - mean[o]) * k[o] + B[o]};</li>
 *   <li>an Add of a constant that holds one value per output channel (shape {@code [1, M, 1, ...]},
 *       {@code [M, 1, ...]} or a scalar): added to the bias (PaddlePaddle exports ConvTranspose's bias that way);</li>
 *   <li>a Mul by such a constant: weights and bias are multiplied by it (with the Add after it, PP-LCNetV3's
 *       learnable affine block {@code y * a + b}).</li>
 * </ul>
 * Exact in real arithmetic (float rounding aside). A fold happens only where the conv's output has no other reader,
 * is not a graph output and is not read inside a subgraph, where weights, bias and the folded parameters are float
 * constants, and (ConvTranspose) group is 1. The conv then writes the folded node's output tensor, so the names of
 * the tensors that remain do not change; a weight or bias shared with another node is copied under a fresh name.
 */
public final class ConvFolding {
    /** The folded model and how many nodes were folded away. */
    public record Result(OnnxModel model, int batchNorms, int biasAdds, int scaleMuls) {
        public int folded() {
            return batchNorms + biasAdds + scaleMuls;
        }
    }

    private ConvFolding() { }

    public static Result apply(OnnxModel model) {
        return apply(model, false);
    }

    /**
     * As {@link #apply(OnnxModel)}; with {@code biasAddsOnly} only the constant bias Adds are folded (BatchNormalization
     * and Mul stay as they are).
     */
    public static Result apply(OnnxModel model, boolean biasAddsOnly) {
        GraphProto g = model.graph();
        List<NodeProto> nodes = new ArrayList<>(g.getNodeList());
        Map<String, TensorProto> inits = new LinkedHashMap<>();
        for (TensorProto t : g.getInitializerList()) inits.put(t.getName(), t);
        Set<String> graphOutputs = new HashSet<>();
        for (ValueInfoProto v : g.getOutputList()) graphOutputs.add(v.getName());
        Set<String> inSubgraphs = model.tensorsUsedBySubgraphs();
        Names names = Names.of(g);
        int batchNorms = 0;
        int adds = 0;
        int muls = 0;
        Set<String> removedTensors = new HashSet<>();
        boolean changed = true;
        while (changed) {
            changed = false;
            Map<String, Integer> readers = new HashMap<>();
            Map<String, Integer> producer = new HashMap<>();
            for (int i = 0; i < nodes.size(); i++) {
                NodeProto n = nodes.get(i);
                for (String in : n.getInputList()) if (!in.isEmpty()) readers.merge(in, 1, Integer::sum);
                for (String out : n.getOutputList()) producer.put(out, i);
            }
            for (int i = 0; i < nodes.size() && !changed; i++) {
                NodeProto follower = nodes.get(i);
                if (!OnnxModel.isDefaultDomain(follower.getDomain()) || follower.getInputCount() == 0) continue;
                boolean bn = !biasAddsOnly && follower.getOpType().equals("BatchNormalization");
                boolean add = follower.getOpType().equals("Add") && follower.getInputCount() == 2;
                boolean mulBy = !biasAddsOnly && follower.getOpType().equals("Mul") && follower.getInputCount() == 2;
                if (!bn && !add && !mulBy) continue;
                int addConst = add || mulBy ? (inits.containsKey(follower.getInput(1)) ? 1
                        : inits.containsKey(follower.getInput(0)) ? 0 : -1) : -1;
                if ((add || mulBy) && addConst < 0) continue;
                String x = bn ? follower.getInput(0) : follower.getInput(1 - addConst);
                Integer pi = producer.get(x);
                if (pi == null || readers.getOrDefault(x, 0) != 1 || graphOutputs.contains(x)
                        || inSubgraphs.contains(x)) {
                    continue;
                }
                NodeProto conv = nodes.get(pi);
                ConvWeights cw = ConvWeights.of(conv, inits);
                if (cw == null) continue;
                float[] mul;
                float[] shift;
                if (bn) {
                    float[][] p = batchNormParameters(follower, inits, cw.channels());
                    if (p == null) continue;
                    mul = p[0];
                    shift = p[1];
                } else {
                    float[] v = perChannel(inits.get(follower.getInput(addConst)), cw.channels(),
                            cw.weight().getDimsCount());
                    if (v == null) continue;
                    mul = mulBy ? v : null;
                    shift = mulBy ? new float[cw.channels()] : v;
                }
                NodeProto folded = cw.fold(mul, shift, follower.getOutput(0), inits, readers, names);
                nodes.set(pi, folded);
                nodes.remove(i);
                removedTensors.add(x);
                if (bn) batchNorms++;
                else if (mulBy) muls++;
                else adds++;
                changed = true;
            }
        }
        if (batchNorms + adds + muls == 0) return new Result(model, 0, 0, 0);
        GraphProto.Builder b = g.toBuilder().clearNode().addAllNode(nodes).clearInitializer();
        Set<String> used = new HashSet<>();
        for (NodeProto n : nodes) used.addAll(n.getInputList());
        used.addAll(model.tensorsUsedBySubgraphs());
        for (ValueInfoProto v : g.getOutputList()) used.add(v.getName());
        Set<String> readBefore = new HashSet<>(model.tensorsUsedBySubgraphs());
        for (NodeProto n : g.getNodeList()) readBefore.addAll(n.getInputList());
        for (TensorProto t : inits.values()) {
            // parameters that only the folded nodes read go; initializers nothing read stay as they were
            if (used.contains(t.getName()) || !readBefore.contains(t.getName())) b.addInitializer(t);
        }
        b.clearValueInfo();
        for (ValueInfoProto v : g.getValueInfoList()) if (!removedTensors.contains(v.getName())) b.addValueInfo(v);
        return new Result(model.withProto(model.proto().toBuilder().setGraph(b).build()), batchNorms, adds, muls);
    }

    /** {scale / sqrt(var + eps), B - mean * that} of an inference BatchNormalization, or null. */
    private static float[][] batchNormParameters(NodeProto bn, Map<String, TensorProto> inits, int channels) {
        if (bn.getInputCount() != 5 || Attributes.getInt(bn, "training_mode", 0) != 0) return null;
        for (int o = 1; o < bn.getOutputCount(); o++) if (!bn.getOutput(o).isEmpty()) return null;
        float[][] v = new float[4][];
        for (int k = 0; k < 4; k++) {
            TensorProto t = inits.get(bn.getInput(k + 1));
            if (t == null || t.getDataType() != DataTypes.FLOAT || Tensors.elementCount(t) != channels) return null;
            v[k] = Tensors.toFloats(t);
        }
        double eps = Attributes.getFloat(bn, "epsilon", 1e-5f);
        float[] mul = new float[channels];
        float[] shift = new float[channels];
        for (int c = 0; c < channels; c++) {
            double k = v[0][c] / Math.sqrt(v[3][c] + eps);
            mul[c] = (float) k;
            shift[c] = (float) (v[1][c] - v[2][c] * k);
        }
        return new float[][] {mul, shift};
    }

    /**
     * The values of a constant that adds one value per output channel to a conv output of rank {@code rank}
     * ([1, M, 1 ...] of that rank, [M, 1 ...] of one less, broadcast from the right, or a single value), or null.
     */
    private static float[] perChannel(TensorProto t, int channels, int rank) {
        if (t.getDataType() != DataTypes.FLOAT) return null;
        long[] d = Tensors.dims(t);
        if (d.length > rank) return null;
        float[] v = Tensors.toFloats(t);
        if (v.length == 1) {
            float[] out = new float[channels];
            Arrays.fill(out, v[0]);
            return out;
        }
        if (v.length != channels) return null;
        int axis = rank - d.length == 0 ? 1 : rank - d.length == 1 ? 0 : -1;
        return axis >= 0 && axis < d.length && d[axis] == channels && allOnes(d, axis) ? v : null;
    }

    private static boolean allOnes(long[] d, int except) {
        for (int i = 0; i < d.length; i++) if (i != except && d[i] != 1) return false;
        return true;
    }

    /**
     * A Conv or ConvTranspose with float constant weights (and bias, null when it has none), and how its output
     * channels lie in them.
     */
    private record ConvWeights(NodeProto node, TensorProto weight, TensorProto bias, int channels, int axis) {
        static ConvWeights of(NodeProto n, Map<String, TensorProto> inits) {
            if (!OnnxModel.isDefaultDomain(n.getDomain()) || n.getOutputCount() != 1 || n.getInputCount() < 2) {
                return null;
            }
            boolean transpose = n.getOpType().equals("ConvTranspose");
            if (!transpose && !n.getOpType().equals("Conv")) return null;
            if (transpose && Attributes.getInt(n, "group", 1) != 1) return null;
            TensorProto w = inits.get(n.getInput(1));
            if (w == null || w.getDataType() != DataTypes.FLOAT || w.getDimsCount() < 3) return null;
            int axis = transpose ? 1 : 0;
            int channels = (int) w.getDims(axis);
            TensorProto b = null;
            if (n.getInputCount() > 2 && !n.getInput(2).isEmpty()) {
                b = inits.get(n.getInput(2));
                if (b == null || b.getDataType() != DataTypes.FLOAT || Tensors.elementCount(b) != channels) return null;
            }
            return new ConvWeights(n, w, b, channels, axis);
        }

        /**
         * The conv with {@code mul} (null: 1) folded into weights and bias and {@code shift} added to the bias,
         * writing {@code output}; new or copied initializers go into {@code inits}.
         */
        NodeProto fold(float[] mul, float[] shift, String output, Map<String, TensorProto> inits,
                       Map<String, Integer> readers, Names names) {
            NodeProto.Builder nb = node.toBuilder().clearOutput().addOutput(output);
            if (mul != null) {
                float[] w = Tensors.toFloats(weight);
                long[] d = Tensors.dims(weight);
                long inner = 1;
                for (int i = axis + 1; i < d.length; i++) inner *= d[i];
                long outer = 1;
                for (int i = 0; i < axis; i++) outer *= d[i];
                for (long o = 0; o < outer; o++) {
                    for (int c = 0; c < channels; c++) {
                        int base = (int) ((o * channels + c) * inner);
                        for (int k = 0; k < inner; k++) w[base + k] *= mul[c];
                    }
                }
                String name = owned(weight.getName(), readers, names);
                inits.put(name, Tensors.floatTensor(name, d, w));
                nb.setInput(1, name);
            }
            float[] b = bias == null ? new float[channels] : Tensors.toFloats(bias);
            for (int c = 0; c < channels; c++) b[c] = (mul == null ? b[c] : b[c] * mul[c]) + shift[c];
            String bname = bias == null ? names.fresh(node.getName().isEmpty() ? output + "_bias" : node.getName() + "_bias")
                    : owned(bias.getName(), readers, names);
            inits.put(bname, Tensors.floatTensor(bname, new long[] {channels}, b));
            if (nb.getInputCount() > 2) nb.setInput(2, bname);
            else nb.addInput(bname);
            return nb.build();
        }

        /** The name to write a changed parameter under: its own when only this conv reads it, else a fresh one. */
        private static String owned(String name, Map<String, Integer> readers, Names names) {
            return readers.getOrDefault(name, 0) <= 1 ? name : names.fresh(name + "_folded");
        }
    }
}
