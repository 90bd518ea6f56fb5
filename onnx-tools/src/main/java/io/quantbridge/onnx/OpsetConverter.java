package io.quantbridge.onnx;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.onnx.proto.Onnx.AttributeProto;
import io.quantbridge.onnx.proto.Onnx.GraphProto;
import io.quantbridge.onnx.proto.Onnx.NodeProto;
import io.quantbridge.onnx.proto.Onnx.TensorProto;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Raises the default-domain opset of a model (to 13 for Q/DQ with per-axis scales), rewriting the nodes whose
 * operator changed meaning between the model's opset and the target so that the model computes the same thing:
 * <ul>
 *   <li>Squeeze, Unsqueeze, ReduceSum (opset &lt; 13): the {@code axes} attribute becomes an int64 input;</li>
 *   <li>Split (&lt; 13): the {@code split} attribute becomes an int64 input;</li>
 *   <li>Softmax, LogSoftmax, Hardmax (&lt; 13): kept when the axis is the last one (axis -1, or the rank is known);
 *       otherwise rewritten as Flatten(axis) → op(axis=-1) → Reshape(Shape(x)), which is the old semantics;</li>
 *   <li>Dropout (&lt; 12): {@code ratio} becomes an input, {@code is_test} is dropped (inference);</li>
 *   <li>Clip (&lt; 11): {@code min}/{@code max} attributes become inputs;</li>
 *   <li>Pad (&lt; 11): {@code pads} and {@code value} attributes become inputs;</li>
 *   <li>Resize-10 and Upsample (any): Resize-13 with roi "", {@code coordinate_transformation_mode=asymmetric};
 *       bilinear becomes linear. Nearest took the source index {@code x / scale} rounded down on axes it upsamples
 *       and rounded up on axes it downsamples (ONNX Runtime's opset-10 rule): {@code nearest_mode=floor}, or
 *       {@code ceil} for a Resize-10 whose constant scales only downsample, or two Resize-13 (the downsampled axes,
 *       then the upsampled ones) where they do both. Scales computed at run time get {@code floor}, which is right
 *       for upsampling (Upsample allows nothing else);</li>
 *   <li>Slice (&lt; 10): starts/ends/axes attributes become inputs; TopK (&lt; 10): k becomes an input;</li>
 *   <li>BatchNormalization (&lt; 9): {@code spatial=1}, {@code is_test} and {@code consumed_inputs} are dropped
 *       ({@code spatial=0} cannot be converted);</li>
 *   <li>Scatter: renamed ScatterElements (same semantics).</li>
 * </ul>
 * Other ops of the default domain are checked against a table of the opset since which their semantics are the
 * same as at 13; an op not in the table, or one that needs a rewrite not listed above (Resize with
 * {@code tf_half_pixel_for_nn}, Scan before 9, BatchNormalization with {@code spatial=0}), fails with a message
 * naming the op and node. Models older than opset 7 (legacy broadcasting) are refused. Subgraphs are converted too,
 * since the opset import applies to them. Tensor names are kept: a rewritten node's outputs keep their names.
 */
public final class OpsetConverter {
    /** The opset Q/DQ with per-axis scales needs. */
    public static final long QDQ_OPSET = 13;

    /** Result of a conversion: the model and a line for each kind of rewrite done ("Squeeze: 7 nodes ..."). */
    public record Result(OnnxModel model, long fromVersion, long toVersion, List<String> conversions) { }

    // op -> the opset since which its semantics equal those at opset 13 (for ops without a rewrite below)
    private static final Map<String, Integer> SAME_SINCE = new HashMap<>();

    static {
        String[] since7 = {"Abs", "Acos", "Acosh", "Add", "And", "ArgMax", "ArgMin", "Asin", "Asinh", "Atan", "Atanh",
            "AveragePool", "BitShift", "Cast", "Ceil", "Celu", "Compress", "Concat", "ConcatFromSequence", "Constant",
            "ConstantOfShape", "Conv", "ConvInteger", "ConvTranspose", "Cos", "Cosh", "CumSum", "DepthToSpace",
            "DequantizeLinear", "Det", "Div", "DynamicQuantizeLinear", "Einsum", "Elu", "Equal", "Erf", "Exp",
            "Expand", "EyeLike", "Flatten", "Floor", "GRU", "Gather", "GatherElements", "GatherND", "Gemm",
            "GlobalAveragePool", "GlobalLpPool", "GlobalMaxPool", "Greater", "GreaterOrEqual", "HardSigmoid",
            "Identity", "If", "InstanceNormalization", "IsInf", "IsNaN", "LRN", "LSTM", "LeakyRelu", "Less",
            "LessOrEqual", "Log", "Loop", "LpNormalization", "LpPool", "MatMul", "MatMulInteger", "Max", "MaxPool",
            "MaxRoiPool", "Mean", "MeanVarianceNormalization", "Min", "Mod", "Mul", "Multinomial", "Neg",
            "NegativeLogLikelihoodLoss", "NonMaxSuppression", "NonZero", "Not", "OneHot", "Or", "PRelu", "Pow",
            "QLinearConv", "QLinearMatMul", "QuantizeLinear", "RNN", "RandomNormal", "RandomNormalLike",
            "RandomUniform", "RandomUniformLike", "Range", "Reciprocal", "ReduceL1", "ReduceL2", "ReduceLogSum",
            "ReduceLogSumExp", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSumSquare", "Relu",
            "Reshape", "ReverseSequence", "RoiAlign", "Round", "ScatterElements", "ScatterND", "Selu", "SequenceAt",
            "SequenceConstruct", "SequenceEmpty", "SequenceErase", "SequenceInsert", "SequenceLength", "Shape",
            "Shrink", "Sigmoid", "Sign", "Sin", "Sinh", "Size", "SoftmaxCrossEntropyLoss", "Softplus", "Softsign",
            "SpaceToDepth", "SplitToSequence", "Sqrt", "StringNormalizer", "Sub", "Sum", "Tan", "Tanh",
            "TfIdfVectorizer", "ThresholdedRelu", "Tile", "Transpose", "Unique", "Where", "Xor"};
        for (String op : since7) SAME_SINCE.put(op, 7);
        SAME_SINCE.put("BatchNormalization", 9);
        SAME_SINCE.put("Scan", 9);
        SAME_SINCE.put("MaxUnpool", 9);
        SAME_SINCE.put("Slice", 10);
        SAME_SINCE.put("TopK", 10);
        SAME_SINCE.put("Clip", 11);
        SAME_SINCE.put("Pad", 11);
        SAME_SINCE.put("Resize", 11);
        SAME_SINCE.put("Dropout", 12);
        for (String op : new String[] {"Squeeze", "Unsqueeze", "ReduceSum", "Split", "Softmax", "LogSoftmax", "Hardmax"}) {
            SAME_SINCE.put(op, 13);
        }
    }

    private static final Set<String> REWRITTEN = Set.of("Squeeze", "Unsqueeze", "ReduceSum", "Split", "Softmax",
            "LogSoftmax", "Hardmax", "Dropout", "Clip", "Pad", "Resize", "Upsample", "Slice", "TopK",
            "BatchNormalization", "Scatter");

    private final OnnxModel source;
    private final long from;
    private final long to;
    private final Names names;
    private final Map<String, Integer> counts = new LinkedHashMap<>();
    // the initializers and Constant node values of the graph being converted
    private Map<String, TensorProto> constants = Map.of();

    private OpsetConverter(OnnxModel source, long from, long to) {
        this.source = source;
        this.from = from;
        this.to = to;
        this.names = Names.of(source.graph());
    }

    /** Raises the model's default-domain opset to at least {@code target}; unchanged when already there. */
    public static Result toAtLeast(OnnxModel model, long target) {
        long from = model.opsetVersion();
        if (from >= target) {
            return new Result(model, from, from, List.of());
        }
        if (from < 7) {
            throw new QuantbridgeException(model.label() + ": opset " + from + " is older than 7 (legacy broadcasting"
                    + " attributes); converting it to opset " + target + " is not supported");
        }
        OpsetConverter c = new OpsetConverter(model, from, target);
        GraphProto g = c.convertGraph(model.graph(), Map.of());
        OnnxModel out = model.withProto(model.proto().toBuilder().setGraph(g).build()).withOpsetVersion(target);
        List<String> lines = new ArrayList<>();
        c.counts.forEach((k, v) -> lines.add(k + ": " + v + (v == 1 ? " node" : " nodes")));
        return new Result(out, from, target, lines);
    }

    private void count(String what) {
        counts.merge(what, 1, Integer::sum);
    }

    private QuantbridgeException fail(NodeProto n, String why) {
        return new QuantbridgeException(source.label() + ": cannot raise opset " + from + " to " + to + ": "
                + n.getOpType() + " node '" + n.getName() + "' " + why);
    }

    private GraphProto convertGraph(GraphProto g, Map<String, TensorTypes.Info> outer) {
        Map<String, TensorProto> enclosing = constants;
        try {
            constants = new HashMap<>();
            for (TensorProto t : g.getInitializerList()) constants.put(t.getName(), t);
            for (NodeProto n : g.getNodeList()) {
                if (n.getOpType().equals("Constant") && OnnxModel.isDefaultDomain(n.getDomain())) {
                    for (AttributeProto a : n.getAttributeList()) {
                        if (a.getName().equals("value") && a.hasT()) constants.put(n.getOutput(0), a.getT());
                    }
                }
            }
            return convertNodes(g, outer);
        } finally {
            constants = enclosing;
        }
    }

    private GraphProto convertNodes(GraphProto g, Map<String, TensorTypes.Info> outer) {
        TensorTypes types = TensorTypes.infer(g, outer);
        GraphProto.Builder b = g.toBuilder().clearNode();
        List<TensorProto> newInits = new ArrayList<>();
        for (NodeProto n0 : g.getNodeList()) {
            NodeProto n = convertSubgraphs(n0, types);
            if (!OnnxModel.isDefaultDomain(n.getDomain())) {
                b.addNode(n);
                continue;
            }
            b.addAllNode(convertNode(n, types, newInits));
        }
        b.addAllInitializer(newInits);
        return b.build();
    }

    private NodeProto convertSubgraphs(NodeProto n, TensorTypes types) {
        boolean any = n.getAttributeList().stream().anyMatch(Attributes::isGraph);
        if (!any) return n;
        NodeProto.Builder nb = n.toBuilder();
        for (int i = 0; i < nb.getAttributeCount(); i++) {
            AttributeProto a = nb.getAttribute(i);
            if (!Attributes.isGraph(a)) continue;
            AttributeProto.Builder ab = a.toBuilder();
            if (a.hasG()) ab.setG(convertGraph(a.getG(), types.all()));
            for (int k = 0; k < a.getGraphsCount(); k++) ab.setGraphs(k, convertGraph(a.getGraphs(k), types.all()));
            nb.setAttribute(i, ab);
        }
        return nb.build();
    }

    private String baseName(NodeProto n) {
        return n.getName().isEmpty() ? n.getOutput(0) : n.getName();
    }

    private String addInit(List<TensorProto> inits, TensorProto t) {
        String name = names.fresh(t.getName());
        inits.add(t.toBuilder().setName(name).build());
        return name;
    }

    private static NodeProto withInputs(NodeProto n, List<String> inputs) {
        // trailing empty optional inputs are dropped
        int k = inputs.size();
        while (k > 0 && inputs.get(k - 1).isEmpty()) k--;
        return n.toBuilder().clearInput().addAllInput(inputs.subList(0, k)).build();
    }

    private static List<String> inputs(NodeProto n, int size) {
        List<String> l = new ArrayList<>(n.getInputList());
        while (l.size() < size) l.add("");
        return l;
    }

    private List<NodeProto> convertNode(NodeProto n, TensorTypes types, List<TensorProto> inits) {
        String op = n.getOpType();
        Integer same = SAME_SINCE.get(op);
        if (same == null && !REWRITTEN.contains(op)) {
            throw fail(n, "uses an operator that quantbridge has no opset-" + to + " rule for");
        }
        if (same != null && from >= same && !op.equals("Resize")) {
            return List.of(n);
        }
        switch (op) {
            case "Squeeze", "Unsqueeze", "ReduceSum" -> {
                Optional<long[]> axes = Attributes.getInts(n, "axes");
                if (axes.isEmpty()) return List.of(n);
                NodeProto m = Attributes.without(n, "axes");
                List<String> in = inputs(m, 1);
                String a = addInit(inits, Tensors.int64Vector(baseName(n) + "_axes", axes.get()));
                in.add(1, a);
                count(op + ": axes attribute -> input");
                return List.of(withInputs(m, in.subList(0, 2)));
            }
            case "Split" -> {
                Optional<long[]> split = Attributes.getInts(n, "split");
                if (split.isEmpty()) return List.of(n);
                NodeProto m = Attributes.without(n, "split");
                String s = addInit(inits, Tensors.int64Vector(baseName(n) + "_split", split.get()));
                count("Split: split attribute -> input");
                return List.of(withInputs(m, List.of(n.getInput(0), s)));
            }
            case "Softmax", "LogSoftmax", "Hardmax" -> {
                long axis = Attributes.getInt(n, "axis", 1);
                int rank = types.rank(n.getInput(0));
                if (axis == -1 || (rank > 0 && (axis == rank - 1 || axis + rank == rank - 1))) {
                    return List.of(n);
                }
                String x = n.getInput(0);
                String y = n.getOutput(0);
                String base = baseName(n);
                String shape = names.fresh(y + "_input_shape");
                String flat = names.fresh(y + "_flat");
                String flatOut = names.fresh(y + "_flat_" + op.toLowerCase(java.util.Locale.ROOT));
                NodeProto shapeNode = NodeProto.newBuilder().setName(names.fresh(base + "_shape")).setOpType("Shape")
                        .addInput(x).addOutput(shape).build();
                NodeProto flatten = NodeProto.newBuilder().setName(names.fresh(base + "_flatten")).setOpType("Flatten")
                        .addInput(x).addOutput(flat).addAttribute(Attributes.ofInt("axis", axis)).build();
                NodeProto core = Attributes.with(n.toBuilder().clearInput().addInput(flat).clearOutput()
                        .addOutput(flatOut).build(), Attributes.ofInt("axis", -1));
                NodeProto reshape = NodeProto.newBuilder().setName(names.fresh(base + "_reshape")).setOpType("Reshape")
                        .addInput(flatOut).addInput(shape).addOutput(y).build();
                count(op + ": axis " + axis + " on rank " + (rank < 0 ? "unknown" : rank)
                        + " -> Flatten/" + op + "/Reshape");
                return List.of(shapeNode, flatten, core, reshape);
            }
            case "Dropout" -> {
                NodeProto m = Attributes.without(n, "ratio", "is_test", "consumed_inputs");
                List<String> in = inputs(m, 1);
                if (Attributes.has(n, "ratio")) {
                    in = new ArrayList<>(in.subList(0, 1));
                    in.add(addInit(inits, Tensors.floatScalar(baseName(n) + "_ratio",
                            Attributes.getFloat(n, "ratio", 0.5f))));
                }
                count("Dropout: ratio attribute -> input");
                return List.of(withInputs(m, in));
            }
            case "Clip" -> {
                NodeProto m = Attributes.without(n, "min", "max");
                List<String> in = new ArrayList<>(List.of(n.getInput(0), "", ""));
                if (Attributes.has(n, "min")) {
                    in.set(1, addInit(inits, Tensors.floatScalar(baseName(n) + "_min", Attributes.getFloat(n, "min", 0))));
                }
                if (Attributes.has(n, "max")) {
                    in.set(2, addInit(inits, Tensors.floatScalar(baseName(n) + "_max", Attributes.getFloat(n, "max", 0))));
                }
                count("Clip: min/max attributes -> inputs");
                return List.of(withInputs(m, in));
            }
            case "Pad" -> {
                Optional<long[]> pads = Attributes.getInts(n, "pads");
                if (pads.isEmpty()) pads = Attributes.getInts(n, "paddings");
                if (pads.isEmpty()) throw fail(n, "has no pads attribute");
                NodeProto m = Attributes.without(n, "pads", "paddings", "value");
                List<String> in = new ArrayList<>(List.of(n.getInput(0)));
                in.add(addInit(inits, Tensors.int64Vector(baseName(n) + "_pads", pads.get())));
                if (Attributes.has(n, "value")) {
                    in.add(addInit(inits, Tensors.floatScalar(baseName(n) + "_value", Attributes.getFloat(n, "value", 0))));
                }
                count("Pad: pads/value attributes -> inputs");
                return List.of(withInputs(m, in));
            }
            case "Resize" -> {
                if (Attributes.getString(n, "coordinate_transformation_mode", "").equals("tf_half_pixel_for_nn")) {
                    throw fail(n, "uses coordinate_transformation_mode=tf_half_pixel_for_nn, which opset 13 removed");
                }
                if (from >= 11) return List.of(n);
                return resize10(n, inits);
            }
            case "Upsample" -> {
                String scales;
                Optional<float[]> attr = Attributes.getFloats(n, "scales");
                if (attr.isPresent()) {
                    float[] s = attr.get();
                    scales = addInit(inits, Tensors.floatTensor(baseName(n) + "_scales", new long[] {s.length}, s));
                } else if (n.getInputCount() > 1) {
                    scales = n.getInput(1);
                } else {
                    throw fail(n, "has no scales");
                }
                NodeProto r = toResize13(Attributes.without(n, "scales"), scales, "floor");
                count("Upsample -> Resize-13 (asymmetric" + (isNearest(n) ? ", floor" : "") + ")");
                return List.of(r);
            }
            case "Slice" -> {
                Optional<long[]> starts = Attributes.getInts(n, "starts");
                Optional<long[]> ends = Attributes.getInts(n, "ends");
                if (starts.isEmpty() || ends.isEmpty()) throw fail(n, "has no starts/ends attributes");
                List<String> in = new ArrayList<>(List.of(n.getInput(0)));
                in.add(addInit(inits, Tensors.int64Vector(baseName(n) + "_starts", starts.get())));
                in.add(addInit(inits, Tensors.int64Vector(baseName(n) + "_ends", ends.get())));
                Optional<long[]> axes = Attributes.getInts(n, "axes");
                if (axes.isPresent()) in.add(addInit(inits, Tensors.int64Vector(baseName(n) + "_axes", axes.get())));
                count("Slice: starts/ends/axes attributes -> inputs");
                return List.of(withInputs(Attributes.without(n, "starts", "ends", "axes"), in));
            }
            case "TopK" -> {
                long k = Attributes.getInt(n, "k", -1);
                if (k < 0) throw fail(n, "has no k attribute");
                String kName = addInit(inits, Tensors.int64Vector(baseName(n) + "_k", k));
                count("TopK: k attribute -> input");
                return List.of(withInputs(Attributes.without(n, "k"), List.of(n.getInput(0), kName)));
            }
            case "BatchNormalization" -> {
                if (Attributes.getInt(n, "spatial", 1) != 1) {
                    throw fail(n, "uses spatial=0 (per-activation statistics), which opset 9 removed");
                }
                count("BatchNormalization: spatial/is_test attributes dropped");
                return List.of(Attributes.without(n, "spatial", "is_test", "consumed_inputs"));
            }
            case "Scatter" -> {
                count("Scatter -> ScatterElements");
                return List.of(n.toBuilder().setOpType("ScatterElements").build());
            }
            default -> throw fail(n, "changed meaning at opset " + same + " and quantbridge cannot rewrite it");
        }
    }

    private static boolean isNearest(NodeProto n) {
        return Attributes.getString(n, "mode", "nearest").equals("nearest");
    }

    /**
     * A Resize-10 as Resize-13. Its nearest mode rounds the source index {@code x / scale} down on upsampled axes
     * and up on downsampled ones, which one Resize-13 expresses only where the axes resized go one way.
     */
    private List<NodeProto> resize10(NodeProto n, List<TensorProto> inits) {
        TensorProto constant = constants.get(n.getInput(1));
        if (!isNearest(n) || constant == null) {
            count("Resize-10 -> Resize-13 (asymmetric" + (isNearest(n) ? ", floor; scales computed at run time"
                    + " are taken to upsample" : "") + ")");
            return List.of(toResize13(n, n.getInput(1), "floor"));
        }
        float[] scales = Tensors.toFloats(constant);
        float[] down = scales.clone();
        float[] up = scales.clone();
        boolean downsamples = false;
        boolean upsamples = false;
        for (int i = 0; i < scales.length; i++) {
            if (scales[i] < 1) {
                downsamples = true;
                up[i] = 1;
            } else {
                if (scales[i] > 1) upsamples = true;
                down[i] = 1;
            }
        }
        if (!downsamples || !upsamples) {
            String mode = downsamples ? "ceil" : "floor";
            count("Resize-10 -> Resize-13 (asymmetric, " + mode + ")");
            return List.of(toResize13(n, n.getInput(1), mode));
        }
        long[] shape = {scales.length};
        String downScales = addInit(inits, Tensors.floatTensor(baseName(n) + "_downsample_scales", shape, down));
        String upScales = addInit(inits, Tensors.floatTensor(baseName(n) + "_upsample_scales", shape, up));
        String mid = names.fresh(n.getOutput(0) + "_downsampled");
        NodeProto first = toResize13(n.toBuilder().setName(names.fresh(baseName(n) + "_downsample")).setOutput(0, mid)
                .build(), downScales, "ceil");
        NodeProto second = toResize13(n.toBuilder().setInput(0, mid).build(), upScales, "floor");
        count("Resize-10 -> Resize-13 (asymmetric, ceil) on the downsampled axes, then (asymmetric, floor) on the"
                + " upsampled ones");
        return List.of(first, second);
    }

    private static NodeProto toResize13(NodeProto n, String scales, String nearestMode) {
        String mode = Attributes.getString(n, "mode", "nearest");
        NodeProto.Builder b = Attributes.without(n, "mode").toBuilder().setOpType("Resize").clearInput()
                .addInput(n.getInput(0)).addInput("").addInput(scales);
        b.addAttribute(Attributes.ofString("mode", mode.equals("bilinear") || mode.equals("trilinear") ? "linear" : mode));
        b.addAttribute(Attributes.ofString("coordinate_transformation_mode", "asymmetric"));
        if (mode.equals("nearest")) b.addAttribute(Attributes.ofString("nearest_mode", nearestMode));
        return b.build();
    }
}
