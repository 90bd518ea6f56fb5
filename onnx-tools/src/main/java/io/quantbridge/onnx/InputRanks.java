package io.quantbridge.onnx;

import io.quantbridge.onnx.proto.Onnx.AttributeProto;
import io.quantbridge.onnx.proto.Onnx.NodeProto;
import io.quantbridge.onnx.proto.Onnx.TensorProto;
import io.quantbridge.tensor.TensorInfo;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The rank a graph input that declares none must have, read from the graph: the first operator on its way that fixes
 * the rank of what it reads. A Conv or ConvTranspose reads data of its weight's rank (or of its {@code kernel_shape}
 * plus two), a pooling operator its {@code kernel_shape} plus two, Transpose its {@code perm}'s length, Gemm a
 * matrix. Shape and Size read any rank. On the way, element-wise operators
 * keep the rank: the unary ones, and the broadcasting ones (Add, Sub, Mul, Div, Pow, Max, Min, Where...) whose other
 * operands are constants of no higher rank than the one found (the usual normalization, a {@code Sub} of a
 * {@code [1, 3, 1, 1]} mean, in front of a Conv). The paths from one input must agree, or it gets no rank.
 *
 * <p>OpenVINO's ONNX reader cannot convert a Conv on an input of unknown rank; with this, a model exported without
 * input shapes reads where data is not at hand to give the rank (inspect, bench).
 */
public final class InputRanks {
    private InputRanks() { }

    private static final Set<String> UNARY = Set.of("Abs", "Cast", "Ceil", "Celu", "Clip", "Elu", "Erf", "Exp",
            "Floor", "Gelu", "HardSigmoid", "HardSwish", "Identity", "LeakyRelu", "Log", "Mish", "Neg", "Not",
            "Reciprocal", "Relu", "Round", "Selu", "Shrink", "Sigmoid", "Sign", "Softplus", "Softsign", "Sqrt",
            "Tanh", "ThresholdedRelu", "QuantizeLinear", "DequantizeLinear");
    private static final Set<String> BROADCASTING = Set.of("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mean",
            "Sum", "PRelu", "Where", "Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "And", "Or", "Xor",
            "Mod", "BitShift");
    private static final Set<String> POOLS = Set.of("MaxPool", "AveragePool", "LpPool");
    private static final int MAX_DEPTH = 32;

    /**
     * For each input of {@code model} that declares no rank, the rank the graph fixes for it, where it fixes one; in
     * input order. Inputs with a rank are left out.
     */
    public static Map<String, Integer> fromGraph(OnnxModel model) {
        Map<String, List<NodeProto>> consumers = new HashMap<>();
        for (NodeProto n : model.nodes()) {
            for (String in : n.getInputList()) {
                if (!in.isEmpty()) consumers.computeIfAbsent(in, k -> new ArrayList<>()).add(n);
            }
        }
        Map<String, int[]> constants = constantShapes(model);
        Map<String, Integer> ranks = new LinkedHashMap<>();
        for (TensorInfo in : model.inputs()) {
            if (in.rankKnown()) continue;
            int rank = rankRead(in.name(), consumers, constants, 0);
            if (rank > 0) ranks.put(in.name(), rank);
        }
        return ranks;
    }

    /** The shapes of initializers and Constant outputs. */
    private static Map<String, int[]> constantShapes(OnnxModel model) {
        Map<String, int[]> shapes = new HashMap<>();
        for (TensorProto t : model.graph().getInitializerList()) shapes.put(t.getName(), dims(t));
        for (NodeProto n : model.nodes()) {
            if (n.getOutputCount() == 1) {
                OnnxModel.constantValue(n).ifPresent(t -> shapes.put(n.getOutput(0), dims(t)));
            }
        }
        return shapes;
    }

    private static int[] dims(TensorProto t) {
        int[] d = new int[t.getDimsCount()];
        for (int i = 0; i < d.length; i++) d[i] = (int) Math.min(Integer.MAX_VALUE, t.getDims(i));
        return d;
    }

    /**
     * The rank every reader of {@code value} fixes: 0 where none does, -1 where they disagree or one of them reads it
     * in a way this does not follow to an end.
     */
    private static int rankRead(String value, Map<String, List<NodeProto>> consumers, Map<String, int[]> constants,
            int depth) {
        if (depth > MAX_DEPTH) return -1;
        int found = 0;
        for (NodeProto n : consumers.getOrDefault(value, List.of())) {
            if (!OnnxModel.isDefaultDomain(n.getDomain())) return -1;
            int r = rankThrough(n, value, consumers, constants, depth);
            if (r < 0) return -1;
            if (r == 0) continue;
            if (found != 0 && found != r) return -1;
            found = r;
        }
        return found;
    }

    private static int rankThrough(NodeProto n, String value, Map<String, List<NodeProto>> consumers,
            Map<String, int[]> constants, int depth) {
        String op = n.getOpType();
        if (op.equals("Shape") || op.equals("Size")) return 0; // any rank has a shape and a size
        boolean data = n.getInputCount() > 0 && n.getInput(0).equals(value);
        if ((op.equals("Conv") || op.equals("ConvTranspose")) && data) {
            int kernel = attributeLength(n, "kernel_shape");
            if (kernel > 0) return kernel + 2;
            int[] w = n.getInputCount() > 1 ? constants.get(n.getInput(1)) : null;
            return w != null && w.length >= 3 ? w.length : -1;
        }
        if (POOLS.contains(op) && data) {
            int kernel = attributeLength(n, "kernel_shape");
            return kernel > 0 ? kernel + 2 : -1;
        }
        if (op.equals("Gemm") && n.getInputCount() > 1 && (data || n.getInput(1).equals(value))) return 2;
        if (op.equals("Transpose") && data) {
            int perm = attributeLength(n, "perm");
            return perm > 0 ? perm : -1;
        }
        if (n.getOutputCount() != 1) return -1;
        if (UNARY.contains(op) && data) return rankRead(n.getOutput(0), consumers, constants, depth + 1);
        if (BROADCASTING.contains(op)) {
            int others = 0;
            for (String in : n.getInputList()) {
                if (in.equals(value)) continue;
                int[] shape = constants.get(in);
                if (shape == null) return -1; // a non-constant operand: its rank is not known here
                others = Math.max(others, shape.length);
            }
            int r = rankRead(n.getOutput(0), consumers, constants, depth + 1);
            return r > 0 && others > r ? -1 : r;
        }
        return -1;
    }

    private static int attributeLength(NodeProto n, String name) {
        for (AttributeProto a : n.getAttributeList()) {
            if (a.getName().equals(name)) return a.getIntsCount();
        }
        return 0;
    }
}
