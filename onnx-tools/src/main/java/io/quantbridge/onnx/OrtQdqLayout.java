package io.quantbridge.onnx;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.onnx.proto.Onnx.GraphProto;
import io.quantbridge.onnx.proto.Onnx.NodeProto;
import io.quantbridge.onnx.proto.Onnx.TensorProto;
import io.quantbridge.onnx.proto.Onnx.ValueInfoProto;
import io.quantbridge.table.TensorRange;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Turns a Q/DQ model written for TensorRT ({@link QdqQuantizer}) into the layout ONNX Runtime's CPU execution
 * provider turns into integer kernels (its QDQ fusion: {@code DQ(x), DQ(w), DQ(bias) -> Conv -> Q} becomes
 * QLinearConv, {@code DQ, DQ -> Add -> Q} QLinearAdd, and so on):
 * <ul>
 *   <li>activations become <b>uint8 with a zero point</b> over {@code [max(min, -amax), min(max, amax)]} (always
 *       holding 0): ONNX Runtime's x86 kernels are built for uint8 activations with int8 weights, and most of its
 *       QDQ fusions refuse int8 activations there (measured on ppocr-det, ONNX Runtime 1.31: symmetric int8
 *       activations left 478 DequantizeLinear nodes and ran 2.2x slower than FP32; uint8 fused every conv);
 *       tensors that share a scale (Concat) share the union of their ranges;</li>
 *   <li>each quantized Conv and MatMul gets a Q/DQ pair on its <b>output</b>, after a Relu or a Clip from 0 that
 *       alone reads it (the pair's range then starts at 0 and ONNX Runtime drops the activation), and every reader
 *       of that tensor reads the dequantized value; when only a hard swish reads it, the range starts two steps
 *       below the swish's floor (-3), below which the swish is 0 whatever the input;</li>
 *   <li>each such Conv's float bias becomes <b>int32</b> behind a DequantizeLinear with scale
 *       {@code input scale x weight scale} per output channel, which QLinearConv requires.</li>
 * </ul>
 * Weights keep their int8 per-channel quantization. TensorRT needs symmetric int8 activations and no output Q/DQ,
 * so this layout is for ONNX Runtime only; the calibration table and TensorRT cache are unaffected. Tensors without
 * a calibrated range keep their int8 pair, and a conv whose output range is unknown or is a graph output keeps a
 * float output; {@link Result#notes()} says where.
 */
public final class OrtQdqLayout {
    /** The rewritten model and what changed. */
    public record Result(OnnxModel model, int uint8Tensors, int outputPairs, int int32Biases, int hardSwishFloors,
                         int hardSwishes, List<String> notes) {
        public Result {
            notes = List.copyOf(notes);
        }

        public Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("layout", "onnxruntime");
            m.put("uint8_activations", uint8Tensors);
            m.put("output_qdq_pairs", outputPairs);
            m.put("int32_biases", int32Biases);
            m.put("hard_swish_floors", hardSwishFloors);
            m.put("hard_swishes_fused", hardSwishes);
            m.put("notes", notes);
            return m;
        }
    }

    /** uint8 quantization parameters. */
    record Uint8(float scale, int zeroPoint) {
        static Uint8 of(double lo, double hi) {
            lo = Math.min(0, lo);
            hi = Math.max(0, hi);
            double scale = (hi - lo) / 255.0;
            if (!(scale > 0) || Double.isInfinite(scale)) return null;
            int zp = (int) Math.round(-lo / scale);
            return new Uint8((float) scale, Math.max(0, Math.min(255, zp)));
        }
    }

    private final Map<String, TensorProto> inits = new LinkedHashMap<>();
    private final List<NodeProto> nodes;
    private final Names names;
    private final Map<String, TensorRange> ranges;
    private final Set<String> graphOutputs = new HashSet<>();
    private final List<String> notes = new ArrayList<>();
    private final List<NodeProto> head = new ArrayList<>();
    private final Map<String, List<NodeProto>> afterTensor = new HashMap<>();
    private final Set<String> replacedBiases = new HashSet<>();
    private int clippedBelow;
    private int fusedSwishes;
    /** HardSwish exists from opset 14 on. */
    static final long HARD_SWISH_OPSET = 14;

    private OrtQdqLayout(GraphProto g, Map<String, TensorRange> ranges) {
        for (TensorProto t : g.getInitializerList()) inits.put(t.getName(), t);
        nodes = new ArrayList<>(g.getNodeList());
        names = Names.of(g);
        this.ranges = ranges;
        for (ValueInfoProto v : g.getOutputList()) graphOutputs.add(v.getName());
    }

    /**
     * @param qdq          the model {@link QdqQuantizer#apply} wrote
     * @param ranges       the calibrated ranges it was written from (amax, and the observed min and max)
     * @param sharedScales the groups of tensors that share one scale ({@link QdqPlan#sharedScaleGroups()})
     */
    public static Result apply(OnnxModel qdq, Map<String, TensorRange> ranges, List<Set<String>> sharedScales) {
        OrtQdqLayout l = new OrtQdqLayout(qdq.graph(), ranges);
        int u8 = l.activationsToUint8(sharedScales);
        int[] outs = l.outputPairsAndBiases();
        GraphProto.Builder gb = qdq.graph().toBuilder().clearNode().clearInitializer();
        Set<String> read = new HashSet<>(qdq.tensorsUsedBySubgraphs());
        for (NodeProto n : l.nodes) read.addAll(n.getInputList());
        for (NodeProto n : l.head) read.addAll(n.getInputList());
        for (List<NodeProto> a : l.afterTensor.values()) for (NodeProto n : a) read.addAll(n.getInputList());
        for (TensorProto t : l.inits.values()) {
            // the float biases replaced by int32 ones go; anything else stays
            if (read.contains(t.getName()) || !l.replacedBiases.contains(t.getName())) gb.addInitializer(t);
        }
        gb.addAllNode(l.head);
        for (NodeProto n : l.nodes) {
            gb.addNode(n);
            for (String o : n.getOutputList()) {
                List<NodeProto> a = l.afterTensor.get(o);
                if (a != null) gb.addAllNode(a);
            }
        }
        OnnxModel out = qdq.withProto(qdq.proto().toBuilder().setGraph(gb).build());
        int swishes = 0;
        if (l.hardSwishes(out.graph().toBuilder(), false)) {
            try {
                OnnxModel raised = OpsetConverter.toAtLeast(out, HARD_SWISH_OPSET).model();
                GraphProto.Builder fused = raised.graph().toBuilder();
                l.hardSwishes(fused, true);
                swishes = l.fusedSwishes;
                out = raised.withProto(raised.proto().toBuilder().setGraph(fused).build());
            } catch (QuantbridgeException e) {
                l.notes.add("hard swishes left decomposed (HardSwish needs opset " + HARD_SWISH_OPSET + "): "
                        + e.getMessage());
            }
        }
        return new Result(out, u8, outs[0], outs[1], l.clippedBelow, swishes, l.notes);
    }

    // ------------------------------------------------------------------------------------------------ activations

    /** An activation Q/DQ pair as QdqQuantizer writes it. */
    private record Pair(NodeProto q, String tensor) { }

    private List<Pair> activationPairs() {
        List<Pair> out = new ArrayList<>();
        for (NodeProto n : nodes) {
            if (n.getOpType().equals("QuantizeLinear") && n.getInputCount() == 3 && !inits.containsKey(n.getInput(0))
                    && isScalar(inits.get(n.getInput(1))) && isScalar(inits.get(n.getInput(2)))
                    && inits.get(n.getInput(2)).getDataType() == DataTypes.INT8) {
                out.add(new Pair(n, n.getInput(0)));
            }
        }
        return out;
    }

    private static boolean isScalar(TensorProto t) {
        return t != null && Tensors.elementCount(t) == 1;
    }

    /** The clipped range [lo, hi] of a tensor (lo <= 0 <= hi), or null when not calibrated. */
    private double[] range(String t) {
        TensorRange r = ranges.get(t);
        if (r == null || !(r.amax() > 0)) return null;
        double lo = Double.isNaN(r.min()) ? -r.amax() : Math.max(r.min(), -r.amax());
        double hi = Double.isNaN(r.max()) ? r.amax() : Math.min(r.max(), r.amax());
        return new double[] {Math.min(0, lo), Math.max(0, hi)};
    }

    private int activationsToUint8(List<Set<String>> sharedScales) {
        Map<String, Set<String>> groupOf = new HashMap<>();
        for (Set<String> g : sharedScales) for (String t : g) groupOf.put(t, g);
        int count = 0;
        for (Pair p : activationPairs()) {
            Set<String> group = groupOf.getOrDefault(p.tensor(), Set.of(p.tensor()));
            double lo = 0;
            double hi = 0;
            boolean known = true;
            for (String t : group) {
                double[] r = range(t);
                if (r == null) {
                    known = t.equals(p.tensor()) ? false : known;
                    continue;
                }
                lo = Math.min(lo, r[0]);
                hi = Math.max(hi, r[1]);
            }
            Uint8 u = known ? Uint8.of(lo, hi) : null;
            if (u == null) {
                notes.add("tensor '" + p.tensor() + "' has no usable range: its pair stays int8");
                continue;
            }
            String scaleName = p.q().getInput(1);
            String zpName = p.q().getInput(2);
            inits.put(scaleName, Tensors.floatScalar(scaleName, u.scale()));
            inits.put(zpName, Tensors.uint8Scalar(zpName, u.zeroPoint()));
            count++;
        }
        return count;
    }

    // --------------------------------------------------------------------------------------------- conv outputs

    private Map<String, List<Integer>> readers() {
        Map<String, List<Integer>> r = new HashMap<>();
        for (int i = 0; i < nodes.size(); i++) {
            for (String in : nodes.get(i).getInputList()) r.computeIfAbsent(in, k -> new ArrayList<>()).add(i);
        }
        return r;
    }

    private Map<String, NodeProto> producers() {
        Map<String, NodeProto> p = new HashMap<>();
        for (NodeProto n : nodes) for (String o : n.getOutputList()) p.put(o, n);
        for (List<NodeProto> l : afterTensor.values()) for (NodeProto n : l) for (String o : n.getOutputList()) p.put(o, n);
        return p;
    }

    /** The DequantizeLinear producing {@code t} when it dequantizes a uint8 activation, else null. */
    private NodeProto uint8Dq(String t, Map<String, NodeProto> producer) {
        NodeProto dq = producer.get(t);
        if (dq == null || !dq.getOpType().equals("DequantizeLinear") || dq.getInputCount() < 3) return null;
        TensorProto zp = inits.get(dq.getInput(2));
        return zp != null && zp.getDataType() == DataTypes.UINT8 ? dq : null;
    }

    /** The DequantizeLinear of an int8 weight initializer producing {@code t}, else null. */
    private NodeProto weightDq(String t, Map<String, NodeProto> producer) {
        NodeProto dq = producer.get(t);
        if (dq == null || !dq.getOpType().equals("DequantizeLinear") || !inits.containsKey(dq.getInput(0))) return null;
        return inits.get(dq.getInput(0)).getDataType() == DataTypes.INT8 ? dq : null;
    }

    private int[] outputPairsAndBiases() {
        int pairs = 0;
        int biases = 0;
        for (int i = 0; i < nodes.size(); i++) {
            NodeProto n = nodes.get(i);
            boolean conv = n.getOpType().equals("Conv");
            if (!(conv || n.getOpType().equals("MatMul")) || n.getInputCount() < 2 || n.getOutputCount() != 1) continue;
            Map<String, NodeProto> producer = producers();
            NodeProto xdq = uint8Dq(n.getInput(0), producer);
            NodeProto wdq = weightDq(n.getInput(1), producer);
            if (xdq == null || wdq == null) continue;
            if (!outputPair(n, readers(), producer)) continue;
            pairs++;
            if (conv && n.getInputCount() > 2 && !n.getInput(2).isEmpty() && inits.containsKey(n.getInput(2))) {
                nodes.set(i, int32Bias(n, xdq, wdq));
                biases++;
            }
        }
        return new int[] {pairs, biases};
    }

    /** Puts a uint8 Q/DQ pair on the conv's output (after a lone Relu or Clip from 0); false when it cannot. */
    private boolean outputPair(NodeProto conv, Map<String, List<Integer>> readers, Map<String, NodeProto> producer) {
        String y = conv.getOutput(0);
        double[] r = range(y);
        String point = y;
        List<Integer> yReaders = readers.getOrDefault(y, List.of());
        if (yReaders.size() == 1 && !graphOutputs.contains(y)) {
            NodeProto act = nodes.get(yReaders.get(0));
            double[] clip = activationClip(act);
            if (clip != null) {
                point = act.getOutput(0);
                double[] own = range(point);
                r = own != null ? own : r == null ? null
                        : new double[] {Math.max(r[0], clip[0]), Math.min(r[1], clip[1])};
            }
        }
        if (graphOutputs.contains(point)) {
            notes.add("'" + conv.getName() + "' writes a graph output: its output stays float");
            return false;
        }
        double swishFloor = hardSwishFloor(point, readers);
        if (r != null && swishFloor > Double.NEGATIVE_INFINITY) {
            // two uint8 steps below the swish's floor: the zero point's rounding moves the saturated value by up to
            // half a step, and just above the floor the swish is no longer 0 (a constant offset over flat regions)
            double floor = (swishFloor - 2 * r[1] / 255) / (1 - 2.0 / 255);
            if (floor > r[0]) {
                r = new double[] {floor, r[1]};
                clippedBelow++;
            }
        }
        List<Integer> pointReaders = readers.getOrDefault(point, List.of());
        NodeProto existing = null;
        for (int k : pointReaders) {
            if (nodes.get(k).getOpType().equals("QuantizeLinear") && uint8Dq(dqOf(nodes.get(k), readers), producer) != null) {
                existing = nodes.get(k);
            }
        }
        String dqOut;
        if (existing != null) {
            dqOut = dqOf(existing, readers);
        } else {
            Uint8 u = r == null ? null : Uint8.of(r[0], r[1]);
            if (u == null) {
                notes.add("'" + conv.getName() + "': no calibrated range for " + point + ", its output stays float");
                return false;
            }
            String scale = names.fresh(point + "_scale");
            String zp = names.fresh(point + "_zero_point");
            String q = names.fresh(point + "_quantized");
            dqOut = names.fresh(point + "_dequantized");
            inits.put(scale, Tensors.floatScalar(scale, u.scale()));
            inits.put(zp, Tensors.uint8Scalar(zp, u.zeroPoint()));
            NodeProto qn = NodeProto.newBuilder().setName(names.fresh(point + "_QuantizeLinear"))
                    .setOpType("QuantizeLinear").addInput(point).addInput(scale).addInput(zp).addOutput(q).build();
            NodeProto dqn = NodeProto.newBuilder().setName(names.fresh(point + "_DequantizeLinear"))
                    .setOpType("DequantizeLinear").addInput(q).addInput(scale).addInput(zp).addOutput(dqOut).build();
            afterTensor.computeIfAbsent(point, k -> new ArrayList<>()).addAll(List.of(qn, dqn));
        }
        // every other reader reads the dequantized tensor, so that the Q is the conv's only consumer
        for (int k : pointReaders) {
            NodeProto n = nodes.get(k);
            if (n == existing) continue;
            NodeProto.Builder b = n.toBuilder();
            for (int j = 0; j < b.getInputCount(); j++) if (b.getInput(j).equals(point)) b.setInput(j, dqOut);
            nodes.set(k, b.build());
        }
        return true;
    }

    /**
     * The value below which nothing that reads {@code t} changes any more, when every reader is part of a hard swish
     * {@code x * clip(x + c, 0, ...)} (as exporters decompose it: an Add of {@code c} read only by a Clip from 0 or a
     * Relu, and a Mul of {@code t} by that gate), a HardSwish ({@code c = 3}) or a HardSigmoid ({@code beta/alpha});
     * else -infinity. Below {@code -c} the gate is 0, so a range clipped there loses nothing and spends its uint8
     * steps on the part that matters.
     */
    private double hardSwishFloor(String t, Map<String, List<Integer>> readers) {
        List<Integer> rs = readers.getOrDefault(t, List.of());
        Set<String> gates = new HashSet<>();
        double floor = Double.POSITIVE_INFINITY;
        List<NodeProto> muls = new ArrayList<>();
        for (int k : rs) {
            NodeProto n = nodes.get(k);
            switch (n.getOpType()) {
                case "HardSwish" -> floor = Math.min(floor, -3);
                case "HardSigmoid" -> {
                    double alpha = Attributes.getFloat(n, "alpha", 0.2f);
                    double beta = Attributes.getFloat(n, "beta", 0.5f);
                    if (!(alpha > 0)) return Double.NEGATIVE_INFINITY;
                    floor = Math.min(floor, -beta / alpha);
                    gates.add(n.getOutput(0));
                }
                case "Add" -> {
                    int other = n.getInput(0).equals(t) ? 1 : 0;
                    float c = constant(n.getInput(other));
                    if (Float.isNaN(c) || n.getInput(1 - other).equals(n.getInput(other))) {
                        return Double.NEGATIVE_INFINITY;
                    }
                    for (int g : readers.getOrDefault(n.getOutput(0), List.of())) {
                        NodeProto gate = nodes.get(g);
                        double[] clip = activationClip(gate);
                        if (clip == null || clip[0] != 0) return Double.NEGATIVE_INFINITY;
                        gates.add(gate.getOutput(0));
                    }
                    floor = Math.min(floor, -c);
                }
                case "Mul" -> muls.add(n);
                default -> {
                    return Double.NEGATIVE_INFINITY;
                }
            }
        }
        for (NodeProto m : muls) {
            String other = m.getInput(0).equals(t) ? m.getInput(1) : m.getInput(0);
            if (!gates.contains(other)) return Double.NEGATIVE_INFINITY;
        }
        return floor == Double.POSITIVE_INFINITY ? Double.NEGATIVE_INFINITY : floor;
    }

    /**
     * Replaces each hard swish that an exporter decomposed into {@code Div(Mul(x, Clip(Add(x, 3), 0, 6)), 6)} by one
     * HardSwish node writing the Div's output (the same function; ONNX Runtime runs it in one pass over the tensor
     * instead of four: ppocr-det's 24 took the int8 model from 52 to 44 ms). The intermediate tensors must have no
     * other reader. Returns whether any was fused (the model then needs opset 14); with {@code fuse} false, only
     * whether there is one, changing nothing.
     */
    private boolean hardSwishes(GraphProto.Builder gb, boolean fuse) {
        Map<String, TensorProto> constants = new HashMap<>();
        for (TensorProto t : gb.getInitializerList()) constants.put(t.getName(), t);
        Map<String, List<NodeProto>> readers = new HashMap<>();
        for (NodeProto n : gb.getNodeList()) {
            for (String in : n.getInputList()) readers.computeIfAbsent(in, k -> new ArrayList<>()).add(n);
        }
        Set<String> outputs = new HashSet<>(graphOutputs);
        Map<NodeProto, NodeProto> replace = new HashMap<>();
        Set<NodeProto> drop = new HashSet<>();
        for (NodeProto add : gb.getNodeList()) {
            if (!add.getOpType().equals("Add") || add.getInputCount() != 2) continue;
            int ci = value(constants, add.getInput(1)) == 3f ? 1 : value(constants, add.getInput(0)) == 3f ? 0 : -1;
            if (ci < 0) continue;
            String x = add.getInput(1 - ci);
            NodeProto clip = only(readers, add.getOutput(0), outputs);
            if (clip == null || !clip.getOpType().equals("Clip") || clip.getInputCount() != 3
                    || value(constants, clip.getInput(1)) != 0f || value(constants, clip.getInput(2)) != 6f) {
                continue;
            }
            NodeProto mul = only(readers, clip.getOutput(0), outputs);
            if (mul == null || !mul.getOpType().equals("Mul") || mul.getInputCount() != 2
                    || !(mul.getInput(0).equals(x) || mul.getInput(1).equals(x))) {
                continue;
            }
            NodeProto div = only(readers, mul.getOutput(0), outputs);
            if (div == null || !div.getOpType().equals("Div") || !div.getInput(0).equals(mul.getOutput(0))
                    || value(constants, div.getInput(1)) != 6f) {
                continue;
            }
            if (!fuse) return true; // there is one: the caller raises the opset first
            drop.addAll(List.of(add, clip, mul));
            replace.put(div, NodeProto.newBuilder().setName(names.fresh(div.getName() + "_HardSwish"))
                    .setOpType("HardSwish").addInput(x).addOutput(div.getOutput(0)).build());
        }
        if (replace.isEmpty()) return false;
        List<NodeProto> kept = new ArrayList<>();
        for (NodeProto n : gb.getNodeList()) {
            if (drop.contains(n)) continue;
            kept.add(replace.getOrDefault(n, n));
        }
        gb.clearNode().addAllNode(kept);
        // the swishes' constants (3, 0, 6) that nothing reads any more go
        Set<String> read = new HashSet<>();
        for (NodeProto n : kept) read.addAll(n.getInputList());
        Set<String> freed = new HashSet<>();
        for (NodeProto n : drop) freed.addAll(n.getInputList());
        for (NodeProto n : replace.keySet()) freed.addAll(n.getInputList());
        List<TensorProto> keptInits = new ArrayList<>();
        for (TensorProto t : gb.getInitializerList()) {
            if (read.contains(t.getName()) || !freed.contains(t.getName())) keptInits.add(t);
        }
        gb.clearInitializer().addAllInitializer(keptInits);
        fusedSwishes = replace.size();
        return true;
    }

    /** The one node reading {@code t} when there is exactly one and {@code t} is no graph output, else null. */
    private static NodeProto only(Map<String, List<NodeProto>> readers, String t, Set<String> graphOutputs) {
        List<NodeProto> r = readers.getOrDefault(t, List.of());
        return r.size() == 1 && !graphOutputs.contains(t) ? r.get(0) : null;
    }

    /** The value of a one-element float constant, or NaN. */
    private static float value(Map<String, TensorProto> constants, String name) {
        TensorProto t = constants.get(name);
        return t != null && Tensors.elementCount(t) == 1 && t.getDataType() == DataTypes.FLOAT
                ? Tensors.toFloats(t)[0] : Float.NaN;
    }

    /** The output tensor of the DequantizeLinear reading {@code q}'s output, or null. */
    private String dqOf(NodeProto q, Map<String, List<Integer>> readers) {
        for (int k : readers.getOrDefault(q.getOutput(0), List.of())) {
            if (nodes.get(k).getOpType().equals("DequantizeLinear")) return nodes.get(k).getOutput(0);
        }
        return null;
    }

    /** [lo, hi] an activation clips to when it is a Relu or a Clip from 0 with constant bounds, else null. */
    private double[] activationClip(NodeProto act) {
        if (act.getOpType().equals("Relu")) return new double[] {0, Double.POSITIVE_INFINITY};
        if (!act.getOpType().equals("Clip")) return null;
        float lo = act.getInputCount() > 1 && !act.getInput(1).isEmpty() ? constant(act.getInput(1)) : Float.NaN;
        float hi = act.getInputCount() > 2 && !act.getInput(2).isEmpty() ? constant(act.getInput(2))
                : Float.POSITIVE_INFINITY;
        return lo == 0f && !Float.isNaN(hi) ? new double[] {0, hi} : null;
    }

    private float constant(String name) {
        TensorProto t = inits.get(name);
        return t != null && Tensors.elementCount(t) == 1 && t.getDataType() == DataTypes.FLOAT ? Tensors.toFloats(t)[0]
                : Float.NaN;
    }

    /** The conv reading its bias as int32 (scale = input scale x weight scale per output channel) through a DQ. */
    private NodeProto int32Bias(NodeProto conv, NodeProto xdq, NodeProto wdq) {
        float[] b = Tensors.toFloats(inits.get(conv.getInput(2)));
        float sx = Tensors.toFloats(inits.get(xdq.getInput(1)))[0];
        float[] sw = Tensors.toFloats(inits.get(wdq.getInput(1)));
        float[] scale = new float[b.length];
        int[] q = new int[b.length];
        for (int c = 0; c < b.length; c++) {
            scale[c] = sx * sw[sw.length == 1 ? 0 : c];
            double v = scale[c] > 0 ? Math.rint(b[c] / (double) scale[c]) : 0;
            q[c] = (int) Math.max(Integer.MIN_VALUE, Math.min(Integer.MAX_VALUE, v));
        }
        String base = conv.getInput(2);
        replacedBiases.add(base);
        String qName = names.fresh(base + "_int32");
        String sName = names.fresh(base + "_int32_scale");
        String zName = names.fresh(base + "_int32_zero_point");
        String out = names.fresh(base + "_dequantized");
        long[] dims = {b.length};
        inits.put(qName, Tensors.int32Tensor(qName, dims, q));
        inits.put(sName, Tensors.floatTensor(sName, dims, scale));
        inits.put(zName, Tensors.int32Tensor(zName, dims, new int[b.length]));
        head.add(NodeProto.newBuilder().setName(names.fresh(base + "_DequantizeLinear")).setOpType("DequantizeLinear")
                .addInput(qName).addInput(sName).addInput(zName).addOutput(out)
                .addAttribute(Attributes.ofInt("axis", 0)).build());
        return conv.toBuilder().setInput(2, out).build();
    }
}
