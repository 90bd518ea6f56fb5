package io.quantbridge.onnx;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.onnx.proto.Onnx.GraphProto;
import io.quantbridge.onnx.proto.Onnx.ModelProto;
import io.quantbridge.onnx.proto.Onnx.NodeProto;
import io.quantbridge.onnx.proto.Onnx.TensorProto;
import io.quantbridge.onnx.proto.Onnx.ValueInfoProto;
import io.quantbridge.table.CalibrationTable;
import io.quantbridge.table.TensorRange;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Inserts QuantizeLinear/DequantizeLinear pairs into an ONNX model (explicit quantization, the input TensorRT,
 * OpenVINO and ONNX Runtime turn into int8 kernels). Two steps: {@link #plan} decides, from the model alone, which
 * nodes get Q/DQ and so which activation tensors need a calibrated range; {@link #apply} writes the quantized model
 * from a {@link CalibrationTable} holding those ranges.
 *
 * <p>Placement (the pattern TensorRT fuses well):
 * <ul>
 *   <li>Conv, ConvTranspose, Gemm, MatMul with a constant weight: Q/DQ on the activation input and on the weight;
 *       not on outputs; bias stays float. Weight scales are max|w|/127 per output channel (Conv axis 0,
 *       ConvTranspose axis 1, MatMul weight [K, N] the last axis, Gemm axis 1, or 0 with transB=1), or per tensor
 *       (asked, or a MatMul weight of rank 1 or of rank 3 and more, batched, which ONNX Runtime's integer MatMul and
 *       OpenVINO do not take per channel).
 *       A MatMul whose inputs are both activations (attention) stays float unless
 *       {@link QdqOptions#quantizeAttention()}.</li>
 *   <li>Residual Add (both inputs activations, at least one coming straight from a quantized Conv/ConvTranspose,
 *       possibly through BatchNormalization): Q/DQ on the other (skip) input only, so the conv branch can fuse
 *       with the Add; with two conv branches the one produced earlier is treated as the skip.</li>
 *   <li>Concat whose output feeds a quantized input: Q/DQ on all its activation inputs, all tensors of the
 *       Concat (inputs and output) sharing one scale from the largest amax among them.</li>
 *   <li>MaxPool/AveragePool/GlobalAveragePool/GlobalMaxPool: Q/DQ on the input only when the output feeds a
 *       quantized input and the input comes from a quantized node (through BatchNormalization/Relu/Clip) or
 *       already carries Q/DQ.</li>
 *   <li>Everything else (Softmax, LayerNorm chains, elementwise ops ...) stays float; so do excluded nodes and
 *       whatever is inside subgraphs.</li>
 * </ul>
 * Zero points are 0 everywhere (int8, symmetric, as TensorRT requires) and scales > 0. An activation whose range
 * is missing or has amax 0 gets no Q/DQ: the nodes that would have read it stay float and the report says why
 * (or, with {@link QdqOptions#strict()}, it is an error). A weight channel that is all zeros gets scale 1 (any
 * positive scale represents it exactly). A tensor read by several quantized nodes gets one shared Q/DQ pair.
 * Names are deterministic: {@code <t>_QuantizeLinear}, {@code <t>_DequantizeLinear}, outputs
 * {@code <t>_quantized} / {@code <t>_dequantized}, initializers {@code <t>_scale} / {@code <t>_zero_point} (for
 * int8 weights {@code <w>_quantized} is the int8 initializer). Graph inputs and outputs keep type and names.
 */
public final class QdqQuantizer {
    /** The reason recorded for nodes that are simply not of a quantizable kind. */
    public static final String NOT_QUANTIZABLE = "not a quantizable op";
    /** Why a quantization node of the input model (Q/DQ, integer or QLinear op) stays as it is. */
    public static final String ALREADY_QDQ = "already a quantization node";
    /**
     * Nodes that only an already-quantized model has: Q/DQ pairs, ONNX Runtime's dynamic quantization
     * (DynamicQuantizeLinear feeding ConvInteger/MatMulInteger) and its static QOperator format (QLinear*).
     */
    public static final Set<String> QUANTIZATION_OPS = Set.of("QuantizeLinear", "DequantizeLinear",
            "DynamicQuantizeLinear", "ConvInteger", "MatMulInteger", "QLinearConv", "QLinearMatMul", "QLinearAdd",
            "QLinearMul", "QLinearConcat", "QLinearSigmoid", "QLinearLeakyRelu", "QLinearGlobalAveragePool",
            "QLinearAveragePool", "QLinearSoftmax", "DynamicQuantizeMatMul", "DynamicQuantizeLSTM", "MatMulIntegerToFloat",
            "QGemm", "QAttention");

    static final Set<String> COMPUTE = Set.of("Conv", "ConvTranspose", "Gemm", "MatMul");
    static final Set<String> POOLS = Set.of("MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool");
    private static final Set<String> NONDETERMINISTIC = Set.of("RandomNormal", "RandomUniform",
            "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli");
    private static final Set<String> FUSIBLE_AFTER_CONV = Set.of("BatchNormalization", "Relu", "Clip", "LeakyRelu",
            "Identity");

    private QdqQuantizer() { }

    /** The activation tensors whose ranges {@link #apply} will need for this model and these options. */
    public static Set<String> activationTensorsToCalibrate(OnnxModel model, QdqOptions opts) {
        return plan(model, opts).activationTensors();
    }

    /**
     * Prepares the model (folds Constant nodes, drops initializers from the input list, raises the opset to 13,
     * with {@link QdqOptions#foldIntoConvs()} folds BatchNormalization and constant bias Adds into the convs before
     * them, names unnamed nodes) and decides
     * the placement.
     */
    public static QdqPlan plan(OnnxModel model, QdqOptions opts) {
        Objects.requireNonNull(opts, "options");
        long before = model.opsetVersion();
        int constantsBefore = countConstants(model.graph());
        OnnxModel folded = model.foldConstants().withoutInitializerInputs();
        int folded0 = constantsBefore - countConstants(folded.graph());
        OpsetConverter.Result conv = OpsetConverter.toAtLeast(folded, OpsetConverter.QDQ_OPSET);
        IdentityRemoval.Result identities = IdentityRemoval.apply(conv.model());
        // constant bias Adds always (Paddle2ONNX's newer exporter writes every conv bias as one); BatchNormalization
        // and Mul with foldIntoConvs
        ConvFolding.Result intoConvs = ConvFolding.apply(identities.model(), !opts.foldIntoConvs());
        OnnxModel prepared = nameNodes(intoConvs.model());
        Placement p = decide(prepared.graph(), opts, Map.of());
        Map<String, Integer> foldedIntoConvs = new LinkedHashMap<>();
        if (intoConvs.batchNorms() > 0) foldedIntoConvs.put("BatchNormalization", intoConvs.batchNorms());
        if (intoConvs.biasAdds() > 0) foldedIntoConvs.put("Add", intoConvs.biasAdds());
        if (intoConvs.scaleMuls() > 0) foldedIntoConvs.put("Mul", intoConvs.scaleMuls());
        if (identities.removed() > 0) foldedIntoConvs.put("Identity (removed)", identities.removed());
        return new QdqPlan(model, prepared, opts, before, conv.conversions(), folded0, foldedIntoConvs, p.tensorsInOrder(),
                p.groups(), p.decisions, prepared.subgraphs());
    }

    private static int countConstants(GraphProto g) {
        int c = 0;
        for (NodeProto n : g.getNodeList()) if (n.getOpType().equals("Constant")) c++;
        return c;
    }

    private static OnnxModel nameNodes(OnnxModel m) {
        GraphProto g = m.graph();
        boolean any = g.getNodeList().stream().anyMatch(n -> n.getName().isEmpty());
        if (!any) return m;
        Names names = Names.of(g);
        GraphProto.Builder b = g.toBuilder();
        for (int i = 0; i < b.getNodeCount(); i++) {
            if (b.getNode(i).getName().isEmpty()) {
                b.setNode(i, b.getNode(i).toBuilder().setName(names.fresh(b.getNode(i).getOpType() + "_" + i)));
            }
        }
        return m.withProto(m.proto().toBuilder().setGraph(b).build());
    }

    // ------------------------------------------------------------------------------------------------- placement

    /** A use of a tensor: input {@code input} of node {@code node}. */
    record Slot(int node, int input) { }

    /** Where a node decision says that a per-channel MatMul weight was made per tensor, being batched. */
    private static final String BATCHED = "per-tensor: batched weight of rank ";

    /** A weight to quantize: tensor and axis (-1 per tensor). */
    record WeightKey(String tensor, int axis) { }

    private static final class Placement {
        final NodeDecision[] decisionsArr;
        List<NodeDecision> decisions;
        final Map<String, List<Slot>> act = new LinkedHashMap<>();
        final Map<WeightKey, List<Slot>> weights = new LinkedHashMap<>();
        final Map<String, String> parent = new HashMap<>();
        final List<String> tensorOrder;

        Placement(int n, List<String> tensorOrder) {
            decisionsArr = new NodeDecision[n];
            this.tensorOrder = tensorOrder;
        }

        void addAct(String t, Slot s) {
            act.computeIfAbsent(t, k -> new ArrayList<>()).add(s);
        }

        String find(String t) {
            String p = parent.getOrDefault(t, t);
            if (p.equals(t)) return t;
            String r = find(p);
            parent.put(t, r);
            return r;
        }

        void union(String a, String b) {
            String ra = find(a), rb = find(b);
            if (!ra.equals(rb)) parent.put(ra, rb);
        }

        Set<String> tensorsInOrder() {
            Set<String> out = new LinkedHashSet<>();
            for (String t : tensorOrder) if (act.containsKey(t)) out.add(t);
            out.addAll(act.keySet());
            return out;
        }

        List<Set<String>> groups() {
            Map<String, Set<String>> g = new LinkedHashMap<>();
            for (String t : tensorsInOrder()) {
                if (parent.containsKey(t) || parent.containsValue(t)) {
                    g.computeIfAbsent(find(t), k -> new LinkedHashSet<>()).add(t);
                }
            }
            List<Set<String>> out = new ArrayList<>();
            for (Set<String> s : g.values()) if (s.size() > 1) out.add(s);
            return out;
        }
    }

    private static final class Index {
        final GraphProto g;
        final Map<String, Integer> producer = new HashMap<>();
        final Set<String> inits = new HashSet<>();
        final TensorTypes types;
        final Map<String, TensorProto> initMap = new HashMap<>();

        Index(GraphProto g) {
            this.g = g;
            for (TensorProto t : g.getInitializerList()) {
                inits.add(t.getName());
                initMap.put(t.getName(), t);
            }
            for (int i = 0; i < g.getNodeCount(); i++) {
                for (String o : g.getNode(i).getOutputList()) producer.put(o, i);
            }
            types = TensorTypes.infer(g);
            // tensors computed from initializers alone (e.g. Reshape of a bias) are constants, not activations
            for (NodeProto n : g.getNodeList()) {
                if (!OnnxModel.isDefaultDomain(n.getDomain()) || NONDETERMINISTIC.contains(n.getOpType())
                        || n.getAttributeList().stream().anyMatch(Attributes::isGraph)) continue;
                boolean allConst = true;
                for (String in : n.getInputList()) {
                    if (!in.isEmpty() && !inits.contains(in) && !computedConstants.contains(in)) allConst = false;
                }
                if (allConst) computedConstants.addAll(n.getOutputList());
            }
        }

        final Set<String> computedConstants = new HashSet<>();

        boolean isConstant(String t) {
            return inits.contains(t) || computedConstants.contains(t);
        }

        boolean isFloat(String t) {
            int type = types.elemType(t);
            return !t.isEmpty() && (type == DataTypes.FLOAT || type == 0);
        }

        /** A float tensor that depends on the graph inputs. */
        boolean isActivation(String t) {
            return isFloat(t) && !isConstant(t);
        }

        NodeProto producerOf(String t) {
            Integer i = producer.get(t);
            return i == null ? null : g.getNode(i);
        }

        List<String> tensorOrder() {
            List<String> order = new ArrayList<>();
            for (ValueInfoProto v : g.getInputList()) order.add(v.getName());
            for (NodeProto n : g.getNodeList()) order.addAll(n.getOutputList());
            return order;
        }
    }

    private static Placement decide(GraphProto g, QdqOptions opts, Map<String, String> unavailable) {
        Index ix = new Index(g);
        int n = g.getNodeCount();
        Placement p = new Placement(n, ix.tensorOrder());
        NodeDecision[] d = p.decisionsArr;

        // 1. compute nodes
        for (int i = 0; i < n; i++) {
            NodeProto node = g.getNode(i);
            if (!OnnxModel.isDefaultDomain(node.getDomain())) {
                d[i] = new NodeDecision(node.getName(), node.getOpType(), false, "custom domain " + node.getDomain());
                continue;
            }
            if (node.getAttributeList().stream().anyMatch(Attributes::isGraph)) {
                d[i] = new NodeDecision(node.getName(), node.getOpType(), false, "carries subgraphs, left in float");
                continue;
            }
            if (!COMPUTE.contains(node.getOpType())) continue;
            var ex = opts.exclusionReason(node.getName(), node.getOpType());
            if (ex.isPresent()) {
                d[i] = floatNode(node, ex.get());
                continue;
            }
            d[i] = decideCompute(i, node, ix, opts, unavailable, p);
        }

        // 2. residual Add
        for (int i = 0; i < n; i++) {
            NodeProto node = g.getNode(i);
            if (d[i] != null || !node.getOpType().equals("Add") || node.getInputCount() != 2) continue;
            var ex = opts.exclusionReason(node.getName(), node.getOpType());
            if (ex.isPresent()) {
                d[i] = floatNode(node, ex.get());
                continue;
            }
            String a = node.getInput(0), b = node.getInput(1);
            if (!ix.isActivation(a) || !ix.isActivation(b) || a.equals(b)) continue;
            int ca = convBranch(a, ix, d), cb = convBranch(b, ix, d);
            if (ca < 0 && cb < 0) continue;
            int skipIdx;
            if (ca >= 0 && cb >= 0) {
                skipIdx = ca < cb ? 0 : 1;
            } else {
                skipIdx = ca >= 0 ? 1 : 0;
            }
            String skip = node.getInput(skipIdx);
            if (unavailable.containsKey(skip)) {
                d[i] = floatNode(node, unavailable.get(skip));
                continue;
            }
            p.addAct(skip, new Slot(i, skipIdx));
            d[i] = new NodeDecision(node.getName(), node.getOpType(), true,
                    "residual Add: Q/DQ on skip input " + skip);
        }

        // 3. Concat and pooling, next to quantized neighbours: reverse passes until nothing changes
        boolean changed = true;
        while (changed) {
            changed = false;
            for (int i = n - 1; i >= 0; i--) {
                if (d[i] != null) continue;
                NodeProto node = g.getNode(i);
                String op = node.getOpType();
                boolean concat = op.equals("Concat");
                if (!concat && !POOLS.contains(op)) continue;
                if (opts.exclusionReason(node.getName(), op).isPresent()) continue;
                String out = node.getOutput(0);
                if (!p.act.containsKey(out) || ix.types.elemType(out) != DataTypes.FLOAT && ix.types.elemType(out) != 0) {
                    continue;
                }
                if (concat) {
                    List<Integer> actInputs = new ArrayList<>();
                    for (int k = 0; k < node.getInputCount(); k++) {
                        if (ix.isActivation(node.getInput(k))) actInputs.add(k);
                    }
                    if (actInputs.isEmpty()) continue;
                    for (int k : actInputs) {
                        p.addAct(node.getInput(k), new Slot(i, k));
                        p.union(node.getInput(k), out);
                    }
                    d[i] = new NodeDecision(node.getName(), op, true, "Concat: inputs share the scale of " + out);
                    changed = true;
                } else {
                    String in = node.getInput(0);
                    if (!ix.isActivation(in) || unavailable.containsKey(in)) continue;
                    if (!p.act.containsKey(in) && !quantizedUpstream(in, ix, d)) continue;
                    p.addAct(in, new Slot(i, 0));
                    d[i] = new NodeDecision(node.getName(), op, true, "pooling between quantized neighbours");
                    changed = true;
                }
            }
        }

        // 4. the rest
        for (int i = 0; i < n; i++) {
            if (d[i] != null) continue;
            NodeProto node = g.getNode(i);
            String op = node.getOpType();
            var ex = opts.exclusionReason(node.getName(), op);
            String reason;
            if (ex.isPresent() && (op.equals("Add") || op.equals("Concat") || POOLS.contains(op))) {
                reason = ex.get();
            } else if (op.equals("Softmax") || op.equals("LayerNormalization")) {
                reason = "Softmax/LayerNorm stay float";
            } else if (QUANTIZATION_OPS.contains(op)) {
                reason = ALREADY_QDQ;
            } else if (op.equals("Add")) {
                reason = "Add without a quantized conv branch";
            } else if (op.equals("Concat")) {
                reason = "Concat whose output feeds no quantized input";
            } else if (POOLS.contains(op)) {
                reason = "pooling without quantized neighbours on both sides";
            } else {
                reason = NOT_QUANTIZABLE;
            }
            d[i] = floatNode(node, reason);
        }
        p.decisions = List.of(d);
        return p;
    }

    private static NodeDecision floatNode(NodeProto node, String reason) {
        return new NodeDecision(node.getName(), node.getOpType(), false, reason);
    }

    private static NodeDecision decideCompute(int i, NodeProto node, Index ix, QdqOptions opts,
                                              Map<String, String> unavailable, Placement p) {
        String op = node.getOpType();
        if (node.getInputCount() < 2) return floatNode(node, "has fewer than 2 inputs");
        String a = node.getInput(0), w = node.getInput(1);
        for (String t : List.of(a, w)) {
            NodeProto prod = ix.producerOf(t);
            if (prod != null && prod.getOpType().equals("DequantizeLinear")) {
                return floatNode(node, "already quantized (input " + t + " comes from DequantizeLinear)");
            }
            if (!ix.isFloat(t)) return floatNode(node, "input " + t + " is " + DataTypes.name(ix.types.elemType(t)));
        }
        boolean aConst = ix.isConstant(a), wConst = ix.isConstant(w);
        if (aConst && wConst) return floatNode(node, "all inputs are constants");
        List<Slot> actSlots = new ArrayList<>();
        WeightKey weight = null;
        int weightSlot = 1;
        String constSide = null;                 // constant operand that is computed, not an initializer
        String batched = null;                   // why a MatMul weight is per tensor although per channel was asked
        switch (op) {
            case "Conv", "ConvTranspose", "Gemm" -> {
                if (aConst) return floatNode(node, "input " + a + " is a constant");
                actSlots.add(new Slot(i, 0));
                if (ix.inits.contains(w)) {
                    int rank = ix.initMap.get(w).getDimsCount();
                    int axis = op.equals("Conv") ? 0 : op.equals("ConvTranspose") ? 1
                            : Attributes.getInt(node, "transB", 0) != 0 ? 0 : 1;
                    weight = new WeightKey(w, opts.perChannel() && rank > axis ? axis : -1);
                } else {
                    actSlots.add(new Slot(i, 1));
                    if (wConst) constSide = w;
                }
            }
            default -> { // MatMul
                if (!aConst && !wConst) {
                    if (!opts.quantizeAttention()) {
                        return floatNode(node, "attention MatMul (both inputs are activations)");
                    }
                    actSlots.add(new Slot(i, 0));
                    actSlots.add(new Slot(i, 1));
                } else if (wConst) {
                    actSlots.add(new Slot(i, 0));
                    if (ix.inits.contains(w)) {
                        // per channel on [K, N] only: a batched weight [..., K, N] per channel on its last axis made
                        // ONNX Runtime 1.29's integer MatMul fail ("b zero point is not valid": it wants [..., 1, N])
                        // and OpenVINO 2026.4 compute noise (cosine 0.1 on one MatMul, varying between runs)
                        int rank = ix.initMap.get(w).getDimsCount();
                        weight = new WeightKey(w, opts.perChannel() && rank == 2 ? 1 : -1);
                        if (opts.perChannel() && rank > 2) batched = " (" + BATCHED + rank + ")";
                    } else {
                        actSlots.add(new Slot(i, 1));
                        constSide = w;
                    }
                } else {
                    // constant first operand: per-tensor (its channel axis is not the output's last axis)
                    actSlots.add(new Slot(i, 1));
                    if (ix.inits.contains(a)) {
                        weight = new WeightKey(a, -1);
                        weightSlot = 0;
                    } else {
                        actSlots.add(new Slot(i, 0));
                        constSide = a;
                    }
                }
            }
        }
        for (Slot s : actSlots) {
            String t = node.getInput(s.input());
            if (unavailable.containsKey(t)) return floatNode(node, unavailable.get(t));
        }
        for (Slot s : actSlots) p.addAct(node.getInput(s.input()), s);
        if (weight != null) p.weights.computeIfAbsent(weight, k -> new ArrayList<>()).add(new Slot(i, weightSlot));
        String what = weight != null ? "activation and weight"
                + (weight.axis() >= 0 ? " (per-channel axis " + weight.axis() + ")" : batched != null ? batched
                : " (per-tensor)")
                : constSide != null ? "activation and computed weight " + constSide + " (per-tensor, calibrated)"
                : "activations";
        return new NodeDecision(node.getName(), op, true, op + ": Q/DQ on " + what);
    }

    /** Node index of the quantized Conv/ConvTranspose that produces t (directly or through BatchNormalization). */
    private static int convBranch(String t, Index ix, NodeDecision[] d) {
        Integer pi = ix.producer.get(t);
        if (pi == null) return -1;
        NodeProto prod = ix.g.getNode(pi);
        if (prod.getOpType().equals("BatchNormalization")) {
            pi = ix.producer.get(prod.getInput(0));
            if (pi == null) return -1;
            prod = ix.g.getNode(pi);
        }
        boolean conv = prod.getOpType().equals("Conv") || prod.getOpType().equals("ConvTranspose");
        return conv && d[pi] != null && d[pi].quantized() ? pi : -1;
    }

    /** True when t comes from a quantized node, directly or through ops TensorRT fuses into it. */
    private static boolean quantizedUpstream(String t, Index ix, NodeDecision[] d) {
        for (int step = 0; step < 4; step++) {
            Integer pi = ix.producer.get(t);
            if (pi == null) return false;
            NodeProto prod = ix.g.getNode(pi);
            if (d[pi] != null && d[pi].quantized()) return true;
            if (!FUSIBLE_AFTER_CONV.contains(prod.getOpType())) return false;
            t = prod.getInput(0);
        }
        return false;
    }

    // ------------------------------------------------------------------------------------------------------ apply

    /**
     * Writes the quantized model. {@code table} must hold ranges (amax) for the plan's activation tensors; tensors
     * without a usable range leave the nodes that read them in float (see {@link QdqOptions#strict()}).
     */
    public static QdqResult apply(QdqPlan plan, CalibrationTable table) {
        return apply(plan, table.tensors());
    }

    /** As {@link #apply(QdqPlan, CalibrationTable)}, with the ranges as a map from tensor name. */
    public static QdqResult apply(QdqPlan plan, Map<String, TensorRange> ranges) {
        OnnxModel prepared = plan.preparedModel();
        GraphProto g = prepared.graph();
        QdqOptions opts = plan.options();
        Map<String, String> unavailable = new LinkedHashMap<>();
        Placement p;
        Map<String, Float> scales;
        while (true) {
            p = decide(g, opts, unavailable);
            scales = new HashMap<>();
            Map<String, String> missing = new LinkedHashMap<>();
            Map<String, Double> groupAmax = new HashMap<>();
            for (String t : p.act.keySet()) {
                double amax = usableAmax(ranges.get(t));
                if (amax > 0) groupAmax.merge(p.find(t), amax, Math::max);
            }
            for (String t : p.act.keySet()) {
                Double amax = groupAmax.get(p.find(t));
                if (amax == null) {
                    TensorRange r = ranges.get(t);
                    missing.put(t, r == null ? "no calibration range for tensor " + t
                            : "tensor " + t + " has amax " + r.amax() + " (needs a range > 0)");
                } else {
                    float s = (float) (amax / 127.0);
                    if (!(s > 0) || Float.isInfinite(s)) {
                        missing.put(t, "tensor " + t + " has amax " + amax + ", too small for a float32 scale");
                    } else {
                        scales.put(t, s);
                    }
                }
            }
            if (missing.isEmpty()) break;
            if (opts.strict()) {
                throw new QuantbridgeException("calibration table is missing usable ranges: "
                        + String.join("; ", missing.values()));
            }
            int before = unavailable.size();
            missing.forEach(unavailable::putIfAbsent);
            if (unavailable.size() == before) {
                throw new IllegalStateException("Q/DQ placement did not converge for " + missing.keySet());
            }
        }
        return emit(plan, p, scales, unavailable);
    }

    private static double usableAmax(TensorRange r) {
        if (r == null) return -1;
        double a = r.amax();
        return Double.isFinite(a) && a > 0 ? a : -1;
    }

    private static QdqResult emit(QdqPlan plan, Placement p, Map<String, Float> scales, Map<String, String> unavailable) {
        OnnxModel prepared = plan.preparedModel();
        GraphProto g = prepared.graph();
        Names names = Names.of(g);
        int n = g.getNodeCount();
        List<List<String>> inputs = new ArrayList<>();
        for (NodeProto node : g.getNodeList()) inputs.add(new ArrayList<>(node.getInputList()));
        Map<String, TensorProto> initByName = new LinkedHashMap<>();
        for (TensorProto t : g.getInitializerList()) initByName.put(t.getName(), t);

        List<TensorProto> newInits = new ArrayList<>();
        List<NodeProto> head = new ArrayList<>();
        Map<Integer, List<NodeProto>> after = new HashMap<>();
        Map<String, Integer> producer = new HashMap<>();
        for (int i = 0; i < n; i++) for (String o : g.getNode(i).getOutputList()) producer.put(o, i);

        // activations
        int actPairs = 0;
        for (Map.Entry<String, List<Slot>> e : p.act.entrySet()) {
            String t = e.getKey();
            float scale = scales.get(t);
            String scaleName = names.fresh(t + "_scale");
            String zpName = names.fresh(t + "_zero_point");
            String q = names.fresh(t + "_quantized");
            String dq = names.fresh(t + "_dequantized");
            newInits.add(Tensors.floatScalar(scaleName, scale));
            newInits.add(Tensors.int8Scalar(zpName, (byte) 0));
            NodeProto qn = NodeProto.newBuilder().setName(names.fresh(t + "_QuantizeLinear")).setOpType("QuantizeLinear")
                    .addInput(t).addInput(scaleName).addInput(zpName).addOutput(q).build();
            NodeProto dqn = NodeProto.newBuilder().setName(names.fresh(t + "_DequantizeLinear"))
                    .setOpType("DequantizeLinear").addInput(q).addInput(scaleName).addInput(zpName).addOutput(dq).build();
            Integer pi = producer.get(t);
            List<NodeProto> where = pi == null ? head : after.computeIfAbsent(pi, k -> new ArrayList<>());
            where.add(qn);
            where.add(dqn);
            for (Slot s : e.getValue()) inputs.get(s.node()).set(s.input(), dq);
            actPairs++;
        }

        // weights
        int weightCount = 0;
        boolean int8 = plan.options().int8Weights();
        for (Map.Entry<WeightKey, List<Slot>> e : p.weights.entrySet()) {
            WeightKey k = e.getKey();
            TensorProto w = initByName.get(k.tensor());
            QuantizedWeight qw = quantizeWeight(w, k.axis(), plan.options().weightMax());
            String base = k.tensor();
            String scaleName = names.fresh(base + "_scale");
            String zpName = names.fresh(base + "_zero_point");
            String q = names.fresh(base + "_quantized");
            String dq = names.fresh(base + "_dequantized");
            long[] sdims = k.axis() >= 0 ? new long[] {qw.scales.length} : new long[0];
            newInits.add(Tensors.floatTensor(scaleName, sdims, qw.scales));
            newInits.add(Tensors.int8Tensor(zpName, sdims, new byte[qw.scales.length]));
            NodeProto.Builder dqn = NodeProto.newBuilder().setName(names.fresh(base + "_DequantizeLinear"))
                    .setOpType("DequantizeLinear").addInput(q).addInput(scaleName).addInput(zpName).addOutput(dq);
            if (k.axis() >= 0) dqn.addAttribute(Attributes.ofInt("axis", k.axis()));
            if (int8) {
                newInits.add(Tensors.int8Tensor(q, Tensors.dims(w), qw.values));
            } else {
                NodeProto.Builder qn = NodeProto.newBuilder().setName(names.fresh(base + "_QuantizeLinear"))
                        .setOpType("QuantizeLinear").addInput(k.tensor()).addInput(scaleName).addInput(zpName)
                        .addOutput(q);
                if (k.axis() >= 0) qn.addAttribute(Attributes.ofInt("axis", k.axis()));
                head.add(qn.build());
            }
            head.add(dqn.build());
            for (Slot s : e.getValue()) inputs.get(s.node()).set(s.input(), dq);
            weightCount++;
        }

        // assemble nodes in topological order
        GraphProto.Builder gb = g.toBuilder().clearNode();
        gb.addAllNode(head);
        for (int i = 0; i < n; i++) {
            NodeProto node = g.getNode(i);
            if (!inputs.get(i).equals(node.getInputList())) {
                node = node.toBuilder().clearInput().addAllInput(inputs.get(i)).build();
            }
            gb.addNode(node);
            List<NodeProto> a = after.get(i);
            if (a != null) gb.addAllNode(a);
        }
        // float weights that nothing reads any more are dropped (int8 weights replace them)
        Set<String> used = new HashSet<>();
        for (NodeProto node : gb.getNodeList()) used.addAll(node.getInputList());
        for (ValueInfoProto v : g.getOutputList()) used.add(v.getName());
        used.addAll(prepared.tensorsUsedBySubgraphs());
        gb.clearInitializer();
        for (TensorProto t : g.getInitializerList()) {
            boolean quantizedWeight = p.weights.keySet().stream().anyMatch(k -> k.tensor().equals(t.getName()));
            if (!quantizedWeight || used.contains(t.getName())) gb.addInitializer(t);
        }
        gb.addAllInitializer(newInits);
        ModelProto mp = prepared.proto().toBuilder().setGraph(gb).build();
        OnnxModel out = prepared.withProto(mp);

        List<String> notes = new ArrayList<>();
        Set<String> reported = new LinkedHashSet<>(unavailable.values());
        if (!reported.isEmpty()) {
            notes.add(reported.size() + " tensor(s) without a usable range: their consumers stay float");
        }
        for (NodeDecision d : p.decisions) {
            if (d.quantized() && d.reason().contains(BATCHED)) {
                notes.add(d.opType() + " '" + d.node() + "': its batched weight is quantized per tensor (ONNX Runtime's"
                        + " integer MatMul and OpenVINO do not take one per channel)");
            }
        }
        QdqReport report = new QdqReport(plan.opsetBefore(), out.opsetVersion(), plan.opsetConversions(),
                plan.foldedConstants(), plan.foldedIntoConvs(), p.decisions, plan.subgraphs(), actPairs, weightCount, notes);
        return new QdqResult(out, report);
    }

    /**
     * Int8 values and float scales of a weight, symmetric in {@code [-qmax, qmax]}, per channel along {@code axis}
     * (-1: per tensor).
     */
    record QuantizedWeight(byte[] values, float[] scales) { }

    static QuantizedWeight quantizeWeight(TensorProto w, int axis) {
        return quantizeWeight(w, axis, QdqOptions.FULL_RANGE);
    }

    static QuantizedWeight quantizeWeight(TensorProto w, int axis, int qmax) {
        float[] v = Tensors.toFloats(w);
        long[] dims = Tensors.dims(w);
        int channels = axis >= 0 ? (int) dims[axis] : 1;
        long inner = 1;
        if (axis >= 0) for (int d = axis + 1; d < dims.length; d++) inner *= dims[d];
        float[] max = new float[channels];
        for (int i = 0; i < v.length; i++) {
            int c = axis >= 0 ? (int) ((i / inner) % channels) : 0;
            float a = Math.abs(v[i]);
            if (a > max[c]) max[c] = a;
        }
        float[] scales = new float[channels];
        for (int c = 0; c < channels; c++) {
            float s = (float) (max[c] / qmax);
            scales[c] = s > 0 && Float.isFinite(s) ? s : 1.0f;
        }
        byte[] q = new byte[v.length];
        for (int i = 0; i < v.length; i++) {
            int c = axis >= 0 ? (int) ((i / inner) % channels) : 0;
            double r = Math.rint(v[i] / scales[c]);
            q[i] = (byte) Math.max(-qmax, Math.min(qmax, r));
        }
        return new QuantizedWeight(q, scales);
    }
}
