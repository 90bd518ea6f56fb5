package io.quantbridge.onnx;

import io.quantbridge.onnx.proto.Onnx.AttributeProto;
import io.quantbridge.onnx.proto.Onnx.GraphProto;
import io.quantbridge.onnx.proto.Onnx.NodeProto;
import io.quantbridge.onnx.proto.Onnx.TensorProto;
import io.quantbridge.onnx.proto.Onnx.ValueInfoProto;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Converts a float32 ONNX model to compute in float16: float32 initializers become float16, nodes compute in
 * float16, and Cast nodes keep the graph's inputs and outputs float32 under their original names (a Cast to
 * float16 after each float input, a Cast to float32 before each float output).
 *
 * <p>Nodes that stay float32 (their float inputs are cast back where needed):
 * <ul>
 *   <li>shape computations: every node that (transitively) feeds a shape-like input (Reshape shape, Resize
 *       roi/scales/sizes, Slice starts/ends, Expand/Tile/ConstantOfShape/Pad/Squeeze/Unsqueeze/Reduce.../Split/TopK/
 *       OneHot parameter inputs, Range) up to the Shape/Size nodes that read data tensors;</li>
 *   <li>ops listed in {@link #DEFAULT_KEEP_FLOAT32} (Range, Q/DQ, random generators, NonMaxSuppression, RoiAlign)
 *       or given by the caller, nodes in other domains, nodes with subgraphs (subgraphs stay as they are, and the
 *       outer tensors they read stay float32);</li>
 *   <li>Resize's roi and scales and Upsample's scales inputs stay float32 in any case (the spec types them so).</li>
 * </ul>
 * BatchNormalization whose statistics exceed the float16 range is first rewritten exactly into parameters
 * that fit; any other node with a constant input beyond the float16 range stays float32.
 * Tensor names stay stable except where a float16 value needs its own name ({@code <t>_fp16}, {@code <t>_fp32}).
 * Value infos are updated to the new element types. ONNX Runtime's CPU provider inserts its own casts around
 * float16 ops it has no kernel for, so the result runs there (slowly); GPUs and TensorRT run it natively.
 */
public final class Fp16Converter {
    /** Ops kept in float32 by default. */
    public static final Set<String> DEFAULT_KEEP_FLOAT32 = Set.of("Range", "QuantizeLinear", "DequantizeLinear",
            "DynamicQuantizeLinear", "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
            "Multinomial", "NonMaxSuppression", "RoiAlign");

    /** Node input slots that carry shapes or parameters (op -> input indices; empty = all inputs). */
    private static final Map<String, Set<Integer>> SHAPE_SLOTS = new HashMap<>();

    static {
        SHAPE_SLOTS.put("Reshape", Set.of(1));
        SHAPE_SLOTS.put("Expand", Set.of(1));
        SHAPE_SLOTS.put("Tile", Set.of(1));
        SHAPE_SLOTS.put("ConstantOfShape", Set.of(0));
        SHAPE_SLOTS.put("Range", Set.of());
        SHAPE_SLOTS.put("Slice", Set.of(1, 2, 3, 4));
        SHAPE_SLOTS.put("Squeeze", Set.of(1));
        SHAPE_SLOTS.put("Unsqueeze", Set.of(1));
        SHAPE_SLOTS.put("Split", Set.of(1));
        SHAPE_SLOTS.put("TopK", Set.of(1));
        SHAPE_SLOTS.put("OneHot", Set.of(1));
        SHAPE_SLOTS.put("Pad", Set.of(1));
        SHAPE_SLOTS.put("Resize", Set.of(1, 2, 3));
        SHAPE_SLOTS.put("Upsample", Set.of(1));
        for (String r : new String[] {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
            "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"}) {
            SHAPE_SLOTS.put(r, Set.of(1));
        }
    }

    /** Ops that accept any input type: their inputs are never cast. */
    private static final Set<String> TYPE_AGNOSTIC = Set.of("Cast", "Shape", "Size");

    /** Inputs that stay float32 even on a float16 node. */
    private static boolean forcedFloat32(String op, int input) {
        return (op.equals("Resize") && (input == 1 || input == 2)) || (op.equals("Upsample") && input == 1);
    }

    /** The converted model and what stayed float32. */
    public record Result(OnnxModel model, int convertedInitializers, int castsInserted,
                         Map<String, String> float32Nodes) { }

    private Fp16Converter() { }

    /** Converts with the default float32 ops. */
    public static Result convert(OnnxModel model) {
        return convert(model, DEFAULT_KEEP_FLOAT32, List.of());
    }

    /**
     * Converts, keeping in float32 the ops in {@code keepFloat32Ops} and the nodes matching {@code excludes}
     * (same matching as {@link QdqOptions#excludedBy}: node name, op type, or regex over the node name).
     */
    public static Result convert(OnnxModel model, Set<String> keepFloat32Ops, List<String> excludes) {
        return convert(model, keepFloat32Ops, excludes, Map.of());
    }

    /**
     * As {@link #convert(OnnxModel, Set, List)}, also keeping in float32 every node that reads or writes a tensor
     * whose largest |x| in {@code observedAbsMax} (measured in float32, on calibration data, under the tensor names of
     * {@code model} after constant folding) is beyond {@link #FLOAT16_OBSERVED_LIMIT}: in float16 it would become
     * infinity (a mel spectrogram's power spectrum of 16-bit audio reaches 1e9; its log then became NaN). The nodes
     * that read such a node's small outputs go back to float16 through a Cast.
     */
    public static Result convert(OnnxModel model, Set<String> keepFloat32Ops, List<String> excludes,
                                 Map<String, Double> observedAbsMax) {
        OnnxModel m = rescaleBatchNorms(model.foldConstants().withoutInitializerInputs());
        GraphProto g = m.graph();
        Map<String, Float> initMaxAbs = new HashMap<>();
        for (TensorProto t : g.getInitializerList()) {
            if (t.getDataType() != DataTypes.FLOAT) continue;
            float mx = 0;
            for (float v : Tensors.toFloats(t)) mx = Math.max(mx, Math.abs(v));
            initMaxAbs.put(t.getName(), mx);
        }
        QdqOptions matcher = QdqOptions.defaults().withExcludes(excludes);
        TensorTypes types = TensorTypes.infer(g);
        int n = g.getNodeCount();
        Map<String, Integer> producer = new HashMap<>();
        for (int i = 0; i < n; i++) for (String o : g.getNode(i).getOutputList()) producer.put(o, i);

        // 1. which nodes stay float32
        Map<String, String> fp32Reason = new LinkedHashMap<>();
        boolean[] fp32 = new boolean[n];
        Deque<String> work = new ArrayDeque<>();
        for (int i = 0; i < n; i++) {
            NodeProto node = g.getNode(i);
            String op = node.getOpType();
            String reason = null;
            if (!OnnxModel.isDefaultDomain(node.getDomain())) {
                reason = "custom domain " + node.getDomain();
            } else if (node.getAttributeList().stream().anyMatch(Attributes::isGraph)) {
                reason = "carries subgraphs";
            } else if (keepFloat32Ops.contains(op)) {
                reason = "op kept in float32";
            } else if (matcher.excludedBy(node.getName(), op).isPresent()) {
                reason = "excluded by pattern '" + matcher.excludedBy(node.getName(), op).get() + "'";
            } else {
                for (String in : node.getInputList()) {
                    Float mx = initMaxAbs.get(in);
                    if (mx != null && mx > FLOAT16_MAX) {
                        reason = "constant input " + in + " reaches " + mx + ", beyond the float16 range";
                        break;
                    }
                }
                if (reason == null) reason = observedOverflow(node, observedAbsMax);
            }
            if (reason != null) {
                fp32[i] = true;
                fp32Reason.put(label(node, i), reason);
            }
            Set<Integer> slots = OnnxModel.isDefaultDomain(node.getDomain()) ? SHAPE_SLOTS.get(op) : null;
            if (slots != null) {
                for (int k = 0; k < node.getInputCount(); k++) {
                    if (slots.isEmpty() || slots.contains(k)) work.add(node.getInput(k));
                }
            }
        }
        Set<String> seen = new HashSet<>();
        while (!work.isEmpty()) {
            String t = work.poll();
            if (t.isEmpty() || !seen.add(t)) continue;
            Integer pi = producer.get(t);
            if (pi == null) continue;
            NodeProto p = g.getNode(pi);
            if (p.getOpType().equals("Shape") || p.getOpType().equals("Size")) continue;
            if (!fp32[pi]) {
                fp32[pi] = true;
                fp32Reason.put(label(p, pi), "computes a shape or parameter");
            }
            work.addAll(p.getInputList());
        }

        // 2. names that must keep float32 under their own name
        Set<String> pinned = new HashSet<>(m.tensorsUsedBySubgraphs());
        for (ValueInfoProto v : g.getOutputList()) pinned.add(v.getName());

        Names names = Names.of(g);
        Map<String, Integer> actual = new HashMap<>();   // float tensor name -> current elem type
        Map<String, String> rename = new HashMap<>();    // producer output renamed to hold the fp16 value
        for (ValueInfoProto v : g.getInputList()) {
            if (types.elemType(v.getName()) == DataTypes.FLOAT) actual.put(v.getName(), DataTypes.FLOAT);
        }

        // 3. initializers: float16 where every float reader wants float16; copies where readers disagree
        Map<String, Set<Integer>> wanted = new HashMap<>();
        for (int i = 0; i < n; i++) {
            NodeProto node = g.getNode(i);
            for (int k = 0; k < node.getInputCount(); k++) {
                String t = node.getInput(k);
                if (t.isEmpty() || types.elemType(t) != DataTypes.FLOAT) continue;
                int want = fp32[i] || forcedFloat32(node.getOpType(), k) ? DataTypes.FLOAT : DataTypes.FLOAT16;
                wanted.computeIfAbsent(t, x -> new HashSet<>()).add(want);
            }
        }
        for (String t : pinned) wanted.computeIfAbsent(t, x -> new HashSet<>()).add(DataTypes.FLOAT);
        List<TensorProto> inits = new ArrayList<>();
        Map<String, String> fp16Copy = new HashMap<>();
        int converted = 0;
        for (TensorProto t : g.getInitializerList()) {
            Set<Integer> w = wanted.getOrDefault(t.getName(), Set.of());
            if (t.getDataType() != DataTypes.FLOAT || !w.contains(DataTypes.FLOAT16)) {
                inits.add(t);
                if (t.getDataType() == DataTypes.FLOAT) actual.put(t.getName(), DataTypes.FLOAT);
                continue;
            }
            converted++;
            if (w.contains(DataTypes.FLOAT)) {
                inits.add(t);
                actual.put(t.getName(), DataTypes.FLOAT);
                String copy = names.fresh(t.getName() + "_fp16");
                inits.add(Tensors.toFloat16(t).toBuilder().setName(copy).build());
                fp16Copy.put(t.getName(), copy);
            } else {
                inits.add(Tensors.toFloat16(t));
                actual.put(t.getName(), DataTypes.FLOAT16);
            }
        }

        // 4. nodes, with casts where a reader wants the other type
        List<NodeProto> head = new ArrayList<>();
        List<NodeProto> out = new ArrayList<>();
        Map<String, String> castCache = new HashMap<>();   // key type:tensor -> name of the cast output
        int[] casts = {0};
        for (Map.Entry<String, String> e : fp16Copy.entrySet()) {
            castCache.put(DataTypes.FLOAT16 + ":" + e.getKey(), e.getValue());
        }
        for (int i = 0; i < n; i++) {
            NodeProto node = g.getNode(i);
            String op = node.getOpType();
            NodeProto.Builder nb = node.toBuilder();
            List<NodeProto> castsBefore = new ArrayList<>();
            for (int k = 0; k < node.getInputCount(); k++) {
                String t = node.getInput(k);
                if (t.isEmpty() || types.elemType(t) != DataTypes.FLOAT) continue;
                if (TYPE_AGNOSTIC.contains(op)) continue;
                int want = fp32[i] || forcedFloat32(op, k) ? DataTypes.FLOAT : DataTypes.FLOAT16;
                if (rename.containsKey(t)) {
                    // the producer writes <t>_fp16 and a Cast restores t in float32: pick the one wanted
                    if (want == DataTypes.FLOAT16) nb.setInput(k, rename.get(t));
                    continue;
                }
                String src = t;
                int have = actual.getOrDefault(src, DataTypes.FLOAT);
                if (have == want) continue;
                String key = want + ":" + t;
                String c = castCache.get(key);
                if (c == null) {
                    c = names.fresh(t + (want == DataTypes.FLOAT16 ? "_fp16" : "_fp32"));
                    NodeProto cast = NodeProto.newBuilder().setName(names.fresh(c + "_Cast")).setOpType("Cast")
                            .addInput(src).addOutput(c).addAttribute(Attributes.ofInt("to", want)).build();
                    castCache.put(key, c);
                    actual.put(c, want);
                    casts[0]++;
                    Integer pi = producer.get(t);
                    (pi == null ? head : castsBefore).add(cast);
                }
                nb.setInput(k, c);
            }
            if (!fp32[i]) {
                convertAttributes(nb, op);
                for (int k = 0; k < node.getOutputCount(); k++) {
                    String o = node.getOutput(k);
                    if (o.isEmpty() || types.elemType(o) != DataTypes.FLOAT) continue;
                    if (pinned.contains(o)) {
                        String r = names.fresh(o + "_fp16");
                        nb.setOutput(k, r);
                        rename.put(o, r);
                        actual.put(r, DataTypes.FLOAT16);
                        actual.put(o, DataTypes.FLOAT);
                    } else {
                        actual.put(o, DataTypes.FLOAT16);
                    }
                }
            } else {
                for (String o : node.getOutputList()) {
                    if (types.elemType(o) == DataTypes.FLOAT) actual.put(o, DataTypes.FLOAT);
                }
            }
            out.addAll(castsBefore);
            out.add(nb.build());
            for (int k = 0; k < node.getOutputCount(); k++) {
                String o = node.getOutput(k);
                String r = rename.get(o);
                if (r != null && nb.getOutput(k).equals(r)) {
                    out.add(NodeProto.newBuilder().setName(names.fresh(o + "_Cast")).setOpType("Cast").addInput(r)
                            .addOutput(o).addAttribute(Attributes.ofInt("to", DataTypes.FLOAT)).build());
                    casts[0]++;
                }
            }
        }

        // 5. value infos
        GraphProto.Builder gb = g.toBuilder().clearNode().addAllNode(head).addAllNode(out)
                .clearInitializer().addAllInitializer(inits);
        for (int i = 0; i < gb.getValueInfoCount(); i++) {
            ValueInfoProto v = gb.getValueInfo(i);
            Integer t = actual.get(v.getName());
            if (t != null && t == DataTypes.FLOAT16 && v.getType().hasTensorType()) {
                ValueInfoProto.Builder vb = v.toBuilder();
                vb.getTypeBuilder().getTensorTypeBuilder().setElemType(DataTypes.FLOAT16);
                gb.setValueInfo(i, vb);
            }
        }
        OnnxModel result = m.withProto(m.proto().toBuilder().setGraph(gb).build());
        return new Result(result, converted, casts[0], fp32Reason);
    }

    /** The largest finite float16 value. */
    static final float FLOAT16_MAX = 65504f;
    /**
     * Observed |x| beyond which a tensor stays float32: half of {@link #FLOAT16_MAX}, a margin for inputs larger than
     * the calibration samples.
     */
    public static final double FLOAT16_OBSERVED_LIMIT = FLOAT16_MAX / 2.0;

    /** Why {@code node} must stay float32 given the observed ranges, or null. */
    private static String observedOverflow(NodeProto node, Map<String, Double> observedAbsMax) {
        if (observedAbsMax.isEmpty()) return null;
        for (int k = 0; k < node.getInputCount() + node.getOutputCount(); k++) {
            boolean input = k < node.getInputCount();
            String t = input ? node.getInput(k) : node.getOutput(k - node.getInputCount());
            Double mx = t.isEmpty() ? null : observedAbsMax.get(t);
            if (mx != null && !(mx <= FLOAT16_OBSERVED_LIMIT)) {
                return (input ? "reads " : "writes ") + t + ", which reaches " + String.format(java.util.Locale.ROOT,
                        "%.4g", mx) + " on the calibration data (float16 holds up to 65504; kept below half of it)";
            }
        }
        return null;
    }

    /**
     * BatchNormalization with statistics beyond the float16 range (running variances of 1e7 occur in real models)
     * is rewritten exactly: {@code var' = 1 - eps}, {@code scale' = scale / sqrt(var + eps)}, so that
     * {@code scale' * (x - mean) / sqrt(var' + eps) + B} is unchanged. New initializers are used, so shared ones
     * are not altered.
     */
    private static OnnxModel rescaleBatchNorms(OnnxModel m) {
        GraphProto g = m.graph();
        Map<String, TensorProto> inits = new HashMap<>();
        for (TensorProto t : g.getInitializerList()) inits.put(t.getName(), t);
        Names names = null;
        GraphProto.Builder gb = null;
        for (int i = 0; i < g.getNodeCount(); i++) {
            NodeProto n = g.getNode(i);
            if (!n.getOpType().equals("BatchNormalization") || !OnnxModel.isDefaultDomain(n.getDomain())
                    || n.getInputCount() < 5 || n.getOutputCount() > 1) continue;
            TensorProto scale = inits.get(n.getInput(1));
            TensorProto var = inits.get(n.getInput(4));
            if (scale == null || var == null || scale.getDataType() != DataTypes.FLOAT
                    || var.getDataType() != DataTypes.FLOAT) continue;
            float[] s = Tensors.toFloats(scale);
            float[] v = Tensors.toFloats(var);
            if (s.length != v.length) continue;
            float mx = 0;
            for (float x : v) mx = Math.max(mx, Math.abs(x));
            if (mx <= FLOAT16_MAX) continue;
            float eps = Attributes.getFloat(n, "epsilon", 1e-5f);
            float[] s2 = new float[s.length];
            float[] v2 = new float[v.length];
            for (int c = 0; c < s.length; c++) {
                s2[c] = (float) (s[c] / Math.sqrt((double) v[c] + eps));
                v2[c] = 1f - eps;
            }
            if (names == null) {
                names = Names.of(g);
                gb = g.toBuilder();
            }
            String sName = names.fresh(n.getInput(1) + "_rescaled");
            String vName = names.fresh(n.getInput(4) + "_rescaled");
            gb.addInitializer(Tensors.floatTensor(sName, Tensors.dims(scale), s2));
            gb.addInitializer(Tensors.floatTensor(vName, Tensors.dims(var), v2));
            gb.setNode(i, n.toBuilder().setInput(1, sName).setInput(4, vName));
        }
        if (gb == null) return m;
        // initializers no longer read by anything are dropped
        java.util.Set<String> used = new HashSet<>();
        for (NodeProto n : gb.getNodeList()) used.addAll(n.getInputList());
        for (ValueInfoProto v : gb.getOutputList()) used.add(v.getName());
        used.addAll(m.tensorsUsedBySubgraphs());
        List<TensorProto> keep = new ArrayList<>();
        for (TensorProto t : gb.getInitializerList()) if (used.contains(t.getName())) keep.add(t);
        gb.clearInitializer().addAllInitializer(keep);
        return m.withProto(m.proto().toBuilder().setGraph(gb).build());
    }

    private static String label(NodeProto node, int i) {
        return node.getName().isEmpty() ? node.getOpType() + "#" + i : node.getName();
    }

    /** Attributes that fix an output type to float32 are switched to float16 on float16 nodes. */
    private static void convertAttributes(NodeProto.Builder nb, String op) {
        if (op.equals("ConstantOfShape") && nb.getAttributeList().stream().noneMatch(a -> a.getName().equals("value"))) {
            // without a value the spec fills float32 zeros: give it the float16 zero explicitly
            nb.addAttribute(AttributeProto.newBuilder().setName("value").setType(AttributeProto.AttributeType.TENSOR)
                    .setT(Tensors.toFloat16(Tensors.floatTensor("value", new long[] {1}, new float[] {0f}))));
        }
        for (int j = 0; j < nb.getAttributeCount(); j++) {
            AttributeProto a = nb.getAttribute(j);
            if (op.equals("Cast") && a.getName().equals("to") && a.getI() == DataTypes.FLOAT) {
                nb.setAttribute(j, a.toBuilder().setI(DataTypes.FLOAT16));
            } else if (op.equals("ConstantOfShape") && a.getName().equals("value") && a.getT().getDataType() == DataTypes.FLOAT) {
                nb.setAttribute(j, a.toBuilder().setT(Tensors.toFloat16(a.getT())));
            } else if (op.equals("EyeLike") && a.getName().equals("dtype") && a.getI() == DataTypes.FLOAT) {
                nb.setAttribute(j, a.toBuilder().setI(DataTypes.FLOAT16));
            }
        }
    }
}
