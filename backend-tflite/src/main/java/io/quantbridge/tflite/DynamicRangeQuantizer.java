package io.quantbridge.tflite;

import static org.tensorflow.lite.schema.BuiltinOperator.CONV_2D;
import static org.tensorflow.lite.schema.BuiltinOperator.DEPTHWISE_CONV_2D;
import static org.tensorflow.lite.schema.BuiltinOperator.DEQUANTIZE;
import static org.tensorflow.lite.schema.BuiltinOperator.FULLY_CONNECTED;
import static org.tensorflow.lite.schema.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM;

import io.quantbridge.QuantbridgeException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.tensorflow.lite.schema.BuiltinOptions;
import org.tensorflow.lite.schema.BuiltinOptionsUnion;
import org.tensorflow.lite.schema.FullyConnectedOptionsT;
import org.tensorflow.lite.schema.OperatorT;
import org.tensorflow.lite.schema.SubGraphT;
import org.tensorflow.lite.schema.TensorT;
import org.tensorflow.lite.schema.TensorType;
import org.tensorflow.lite.schema.UnidirectionalSequenceLSTMOptionsT;

/**
 * Dynamic-range ("hybrid") TFLite models: int8 weights, float activations, no calibration data. CONV_2D and
 * FULLY_CONNECTED (and DEPTHWISE_CONV_2D when asked, see {@link #DEPTHWISE_STAYS_FLOAT}) keep their float32 input and
 * output while their constant weights become int8 (and UNIDIRECTIONAL_SEQUENCE_LSTM's matrices, per tensor, see
 * {@link #hybridLstm})
 * symmetric ([-127, 127], zero point 0) with per-channel scales (dim 0 for CONV_2D and FULLY_CONNECTED, dim 3 for
 * DEPTHWISE_CONV_2D); the interpreter's hybrid kernels quantize the input on the fly (asymmetrically, per batch row)
 * and compute in integers. The bias stays float32. Op versions follow TFLite's versioning rules for hybrid ops: CONV_2D
 * 2 (per tensor) / 5 (per channel), DEPTHWISE_CONV_2D 4 / 6, FULLY_CONNECTED 9 (per tensor, with
 * {@code asymmetric_quantize_inputs}) / 12 (per channel).
 *
 * <p>Weights stored as FLOAT16 constants behind DEQUANTIZE (MediaPipe) are read from the float16 values; the DEQUANTIZE
 * goes away once no float op reads its output. Everything else (weights of other ops, biases of float ops) is left as
 * it was, float32 or float16 behind DEQUANTIZE.
 */
final class DynamicRangeQuantizer {
    /** One op made hybrid. */
    record HybridOp(int subgraph, int index, String op, String output, String weights, int[] shape, int channels,
                    int axis, int version, boolean fromFloat16) {
        Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            if (subgraph > 0) m.put("subgraph", subgraph);
            m.put("index", index);
            m.put("op", op);
            m.put("output", output);
            m.put("weights", weights);
            m.put("weight_shape", Arrays.stream(shape).boxed().toList());
            m.put("scales", channels);
            m.put("quantized_dimension", axis);
            m.put("version", version);
            m.put("weights_were", fromFloat16 ? "float16 behind DEQUANTIZE" : "float32");
            return m;
        }
    }

    /** A weighted op that stays float, or a float constant left as it was. */
    record Kept(String what, String name, String reason) {
        Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put(what, name);
            m.put("reason", reason);
            return m;
        }
    }

    record Result(TfliteModel model, List<HybridOp> hybrid, List<Kept> floatOps, List<Kept> floatWeights,
                  int droppedDequantize, int gptqRounded, int customToBuiltin, int depthToSpace) {
        Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            Map<String, Integer> byType = new TreeMap<>();
            for (HybridOp h : hybrid) byType.merge(h.op(), 1, Integer::sum);
            m.put("hybrid_ops", hybrid.size());
            m.put("hybrid_by_type", byType);
            m.put("hybrid", hybrid.stream().map(HybridOp::toMap).toList());
            m.put("float_weighted_ops", floatOps.stream().map(Kept::toMap).toList());
            m.put("float_weights", floatWeights.stream().map(Kept::toMap).toList());
            m.put("dropped_dequantize", droppedDequantize);
            m.put("custom_transpose_conv_to_builtin", customToBuiltin);
            m.put("transpose_conv_to_conv_depth_to_space", depthToSpace);
            return m;
        }
    }

    private final TfliteModel m;
    /** The subgraph being rewritten: the main one, then those that control-flow operators run. */
    private SubGraphT g;
    private final boolean perChannel;
    private final OpExcludes excludes;
    private final boolean hybridDepthwise;
    private final int customToBuiltin;
    /** Transposed convs written as a 1x1 conv and DEPTH_TO_SPACE ({@link TransposeConvRewrites}). */
    private final int depthToSpace;
    /** The float32 biases of hybrid ops (by identity: indices change when the model is compacted). */
    private final java.util.Set<TensorT> hybridBiases =
            java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
    /** GPTQ-rounded weights by weight tensor name (per-channel CONV_2D). */
    private final Map<String, TfliteGptq.Rounded> rounded = new HashMap<>();
    private int gptqRounded;

    private DynamicRangeQuantizer(TfliteModel original, boolean perChannel, List<String> excludes,
                                  boolean hybridDepthwise) {
        this.m = original.copy();
        this.perChannel = perChannel;
        this.excludes = new OpExcludes(excludes);
        this.hybridDepthwise = hybridDepthwise;
        // MediaPipe's custom transposed convolution as the builtin (float here: it has no hybrid kernel), so that the
        // written model needs no custom op
        this.customToBuiltin = GraphRewrites.customTransposeConvToBuiltin(m, op -> this.excludes.match(m, op) != null)
                .size();
        // exact in float, and XNNPACK's float deconvolution is the slow part of MediaPipe's mask upsampling
        this.depthToSpace = TransposeConvRewrites.toConvDepthToSpace(m, new HashMap<>(),
                op -> this.excludes.match(m, op) != null);
    }

    /**
     * @param original   a float model as given (float32 weights, or float16 weights behind DEQUANTIZE)
     * @param perChannel per-channel weight scales for CONV_2D and FULLY_CONNECTED (DEPTHWISE_CONV_2D is per channel
     *                   always: TFLite's hybrid depthwise kernel reads one scale per output channel)
     * @param excludes   op names or regular expressions over output tensor names that stay float
     */
    static Result quantize(TfliteModel original, boolean perChannel, List<String> excludes) {
        return quantize(original, perChannel, excludes, false);
    }

    /**
     * As {@link #quantize(TfliteModel, boolean, List)}; {@code hybridDepthwise} makes DEPTHWISE_CONV_2D hybrid too (per
     * channel on dim 3), for runtimes with a fast hybrid depthwise kernel, which TFLite 2.20's XNNPACK is not.
     */
    static Result quantize(TfliteModel original, boolean perChannel, List<String> excludes, boolean hybridDepthwise) {
        return quantize(original, perChannel, excludes, hybridDepthwise, List.of());
    }

    /**
     * As {@link #quantize(TfliteModel, boolean, List, boolean)}, writing the codes of {@code rounded} (GPTQ, per
     * channel) for those weights instead of the nearest ones, where they are still the weights they were rounded from.
     */
    static Result quantize(TfliteModel original, boolean perChannel, List<String> excludes, boolean hybridDepthwise,
                           List<TfliteGptq.Rounded> rounded) {
        if (original.isQuantized()) {
            throw new QuantbridgeException("model " + original.label() + " is already quantized (it has int8/uint8"
                    + " tensors with quantization parameters); give the float model");
        }
        DynamicRangeQuantizer q = new DynamicRangeQuantizer(original, perChannel, excludes, hybridDepthwise);
        for (TfliteGptq.Rounded r : rounded) q.rounded.put(r.weightName(), r);
        return q.run();
    }

    private Result run() {
        List<HybridOp> hybrid = new ArrayList<>();
        List<Kept> floatOps = new ArrayList<>();
        List<Kept> floatWeights = new ArrayList<>();
        int dropped = 0;
        SubGraphT[] subgraphs = m.raw().getSubgraphs();
        for (int k = 0; k < subgraphs.length; k++) {
            g = subgraphs[k];
            rewrite(k, hybrid, floatOps);
            dropped += dropUnusedDequantize();
            m.compact(g);
            floatWeights.addAll(floatWeights());
        }
        return new Result(m, hybrid, floatOps, floatWeights, dropped, gptqRounded, customToBuiltin, depthToSpace);
    }

    /** Makes the weighted ops of subgraph {@code k} ({@link #g}) hybrid, or says why one stays float. */
    private void rewrite(int k, List<HybridOp> hybrid, List<Kept> floatOps) {
        String where = k == 0 ? "#" : "subgraph " + k + " #";
        OperatorT[] ops = g.getOperators();
        int[] producer = new int[g.getTensors().length];
        Arrays.fill(producer, -1);
        for (int i = 0; i < ops.length; i++) for (int o : ops[i].getOutputs()) producer[o] = i;

        Map<Integer, Integer> float32Bias = new HashMap<>();
        for (int i = 0; i < ops.length; i++) {
            OperatorT op = ops[i];
            int code = m.builtinCode(op);
            if (code == UNIDIRECTIONAL_SEQUENCE_LSTM) {
                hybridLstm(k, i, op, producer, hybrid, floatOps);
                continue;
            }
            if (code != CONV_2D && code != DEPTHWISE_CONV_2D && code != FULLY_CONNECTED) continue;
            String out = op.getOutputs().length == 0 ? "" : tensor(op.getOutputs()[0]).getName();
            String why = floatReason(op, out, producer);
            if (why != null) {
                floatOps.add(new Kept("op", where + i + " " + m.opName(op) + " (" + out + ")", why));
                continue;
            }
            int[] ins = op.getInputs().clone();
            int w = ins[1];
            int wSource = constantSource(w, producer);
            boolean half = wSource != w;
            boolean pc = perChannel || code == DEPTHWISE_CONV_2D;
            int axis = code == DEPTHWISE_CONV_2D ? 3 : 0;
            int[] shape = tensor(w).getShape();
            float[] values = m.floats(g, wSource);
            String name = tensor(w).getName();
            TfliteGptq.Rounded gr = pc ? rounded.get(name) : null;
            QuantizedWeights q = gr == null ? null : gr.codesFor(values);
            if (q != null) gptqRounded++;
            else q = QuantizedWeights.symmetric(values, shape, pc, axis);
            int buf = m.addBuffer(q.data());
            ins[1] = TfliteModel.addTensor(g, TfliteModel.newTensor(name + "/int8", TensorType.INT8, shape,
                    tensor(w).getShapeSignature(), buf, QuantParams.perAxis(q.scales(), pc ? axis : 0)));
            if (ins.length > 2 && ins[2] >= 0 && !m.isConstant(g, ins[2])) {
                int b = ins[2];
                Integer f32 = float32Bias.get(b);
                if (f32 == null) {
                    int src = constantSource(b, producer);
                    TensorT bt = tensor(b);
                    int buffer = m.addBuffer(TfliteModel.floatBytes(m.floats(g, src)));
                    f32 = TfliteModel.addTensor(g, TfliteModel.newTensor(bt.getName() + "/float32", TensorType.FLOAT32,
                            bt.getShape(), bt.getShapeSignature(), buffer, null));
                    float32Bias.put(b, f32);
                }
                ins[2] = f32;
            }
            if (ins.length > 2 && ins[2] >= 0) hybridBiases.add(tensor(ins[2]));
            op.setInputs(ins);
            int version = Math.max(m.opCode(op).getVersion(), hybridVersion(code, pc));
            if (code == FULLY_CONNECTED) asymmetricInputs(op);
            op.setOpcodeIndex(m.opCodeIndex(code, version));
            hybrid.add(new HybridOp(k, i, m.opName(op), out, name, shape, q.scales().length, pc ? axis : -1, version,
                    half));
        }
    }

    private TensorT tensor(int index) {
        return TfliteModel.tensor(g, index);
    }

    /** UNIDIRECTIONAL_SEQUENCE_LSTM's weight matrices: input-to-gate 1-4, recurrent-to-gate 5-8, projection 16. */
    private static final int[] LSTM_WEIGHTS = {1, 2, 3, 4, 5, 6, 7, 8, 16};
    /** Its gate biases 12-15 and projection bias 17, which stay float32 in the hybrid kernel. */
    private static final int[] LSTM_BIASES = {12, 13, 14, 15, 17};
    /** Its peephole (9-11) and layer-norm (20-23) weights: such an LSTM is left float. */
    private static final int[] LSTM_UNHANDLED = {9, 10, 11, 20, 21, 22, 23};

    /**
     * Makes a UNIDIRECTIONAL_SEQUENCE_LSTM (TensorFlow's fused Keras LSTM) hybrid, as TensorFlow's own dynamic-range
     * converter writes it: its weight matrices int8 symmetric per tensor (the hybrid kernel reads one scale per
     * matrix), biases and states float32, {@code asymmetric_quantize_inputs}, version 3.
     */
    private void hybridLstm(int k, int i, OperatorT op, int[] producer, List<HybridOp> hybrid, List<Kept> floatOps) {
        String out = op.getOutputs().length == 0 ? "" : tensor(op.getOutputs()[0]).getName();
        String why = lstmFloatReason(op, out, producer);
        if (why != null) {
            floatOps.add(new Kept("op", (k == 0 ? "#" : "subgraph " + k + " #") + i + " " + m.opName(op) + " ("
                    + out + ")", why));
            return;
        }
        int[] ins = op.getInputs().clone();
        List<String> names = new ArrayList<>();
        int[] first = null;
        boolean half = false;
        for (int slot : LSTM_WEIGHTS) {
            if (slot >= ins.length || ins[slot] < 0) continue;
            int w = ins[slot];
            int src = constantSource(w, producer);
            half |= src != w;
            TensorT t = tensor(w);
            QuantizedWeights q = QuantizedWeights.symmetric(m.floats(g, src), t.getShape(), false, 0);
            ins[slot] = TfliteModel.addTensor(g, TfliteModel.newTensor(t.getName() + "/int8", TensorType.INT8,
                    t.getShape(), t.getShapeSignature(), m.addBuffer(q.data()), QuantParams.perAxis(q.scales(), 0)));
            names.add(t.getName());
            if (first == null) first = t.getShape();
        }
        for (int slot : LSTM_BIASES) if (slot < ins.length && ins[slot] >= 0) hybridBiases.add(tensor(ins[slot]));
        op.setInputs(ins);
        options(op, UnidirectionalSequenceLSTMOptionsT.class, BuiltinOptions.UnidirectionalSequenceLSTMOptions,
                UnidirectionalSequenceLSTMOptionsT::new).setAsymmetricQuantizeInputs(true);
        int version = Math.max(m.opCode(op).getVersion(), 3);
        op.setOpcodeIndex(m.opCodeIndex(UNIDIRECTIONAL_SEQUENCE_LSTM, version));
        hybrid.add(new HybridOp(k, i, m.opName(op), out, String.join(", ", names), first, 1, -1, version, half));
    }

    /** Why an op cannot be hybrid for its first input and outputs (a hybrid kernel reads and writes float32). */
    private String floatIoReason(OperatorT op) {
        int in = op.getInputs()[0];
        if (tensor(in).getType() != TensorType.FLOAT32 || m.isConstant(g, in)) {
            return "its input is not a float32 activation";
        }
        for (int o : op.getOutputs()) {
            if (tensor(o).getType() != TensorType.FLOAT32) return "its output is not float32";
        }
        return null;
    }

    private String lstmFloatReason(OperatorT op, String out, int[] producer) {
        String pat = excludes.match(m.opName(op), out);
        if (pat != null) return "excluded by --exclude " + pat;
        int[] ins = op.getInputs();
        if (ins.length < 20 || ins[0] < 0 || ins[4] < 0) return "it lacks the inputs of TFLite's LSTM";
        String io = floatIoReason(op);
        if (io != null) return io;
        for (int slot : LSTM_UNHANDLED) {
            if (slot < ins.length && ins[slot] >= 0) {
                return "peephole or layer-norm LSTM (input " + slot + "): not made hybrid by this tool";
            }
        }
        for (int slot : LSTM_WEIGHTS) {
            if (slot >= ins.length || ins[slot] < 0) continue;
            if (tensor(ins[slot]).getType() != TensorType.FLOAT32 || constantSource(ins[slot], producer) < 0) {
                return "its weights '" + tensor(ins[slot]).getName() + "' are not a float constant";
            }
        }
        return null;
    }

    /** TFLite's op versions of hybrid (float input and output, int8 weights) ops. */
    static int hybridVersion(int code, boolean perChannel) {
        return switch (code) {
            case CONV_2D -> perChannel ? 5 : 2;
            case DEPTHWISE_CONV_2D -> perChannel ? 6 : 4;
            case FULLY_CONNECTED -> perChannel ? 12 : 9;
            default -> throw new IllegalArgumentException("no hybrid kernel for " + TfliteModel.builtinName(code));
        };
    }

    private static void asymmetricInputs(OperatorT op) {
        options(op, FullyConnectedOptionsT.class, BuiltinOptions.FullyConnectedOptions, FullyConnectedOptionsT::new)
                .setAsymmetricQuantizeInputs(true);
    }

    /**
     * The builtin options of {@code op} as {@code type}; a new {@code fresh} one (union type {@code unionType}) when it
     * has none.
     */
    private static <T> T options(OperatorT op, Class<T> type, byte unionType, java.util.function.Supplier<T> fresh) {
        BuiltinOptionsUnion u = op.getBuiltinOptions();
        if (u != null && type.isInstance(u.getValue())) return type.cast(u.getValue());
        T o = fresh.get();
        u = new BuiltinOptionsUnion();
        u.setType(unionType);
        u.setValue(o);
        op.setBuiltinOptions(u);
        return o;
    }

    /**
     * Why DEPTHWISE_CONV_2D keeps float weights. TFLite has a hybrid depthwise kernel, but the XNNPACK delegate of
     * TFLite 2.20 does not take it: it runs in TFLite's reference-speed kernel and splits the delegated graph around
     * it. Measured on 27 held-out photos: hybrid depthwise made blazeface 15x slower than float (23.7 ms against 1.6),
     * selfie-seg 3.4x and pose-lite 3.5x; with float depthwise they run at 1.8-1.9x float. It also costs accuracy
     * where it matters most (selfie-seg mask cosine 0.979 against 0.994, pose-lite's five outputs all lower), while
     * the depthwise weights are a few percent of the file. TFLite's converter leaves small weights float too (under
     * 1024 values by default, which covers most depthwise kernels).
     */
    static final String DEPTHWISE_STAYS_FLOAT = "depthwise weights stay float: TFLite 2.20's XNNPACK has no hybrid"
            + " DEPTHWISE_CONV_2D, whose reference kernel runs several times slower than float";

    private String floatReason(OperatorT op, String out, int[] producer) {
        String name = m.opName(op);
        String pat = excludes.match(name, out);
        if (pat != null) return "excluded by --exclude " + pat;
        if (m.builtinCode(op) == DEPTHWISE_CONV_2D && !hybridDepthwise) return DEPTHWISE_STAYS_FLOAT;
        int[] ins = op.getInputs();
        if (ins.length < 2 || ins[0] < 0 || ins[1] < 0) return "it has no weights input";
        String io = floatIoReason(op);
        if (io != null) return io;
        if (constantSource(ins[1], producer) < 0) {
            return "its weights '" + tensor(ins[1]).getName() + "' are computed, not constant";
        }
        if (ins.length > 2 && ins[2] >= 0 && (tensor(ins[2]).getType() != TensorType.FLOAT32
                || constantSource(ins[2], producer) < 0)) {
            return "its bias '" + tensor(ins[2]).getName() + "' is not a float constant";
        }
        if (m.builtinCode(op) == CONV_2D) {
            int[] w = tensor(ins[1]).getShape();
            int[] x = tensor(ins[0]).getShape();
            if (w.length == 4 && x.length == 4 && w[3] != x[3]) {
                return "grouped convolution (filter depth " + w[3] + ", input depth " + x[3] + "): TFLite has no"
                        + " hybrid grouped kernel";
            }
        }
        return null;
    }

    /**
     * The constant holding the values of float tensor {@code t}: {@code t} itself when it is a FLOAT32 constant, the
     * FLOAT16 constant when {@code t} is the output of a DEQUANTIZE of one; -1 otherwise.
     */
    private int constantSource(int t, int[] producer) {
        if (m.isConstant(g, t)) return tensor(t).getType() == TensorType.FLOAT32 ? t : -1;
        int p = producer[t];
        if (p < 0) return -1;
        OperatorT op = g.getOperators()[p];
        if (m.builtinCode(op) != DEQUANTIZE || op.getInputs().length != 1) return -1;
        int src = op.getInputs()[0];
        return m.isConstant(g, src) && tensor(src).getType() == TensorType.FLOAT16 ? src : -1;
    }

    /** Drops DEQUANTIZE ops of constants whose output nothing reads any more. */
    private int dropUnusedDequantize() {
        int[] uses = new int[g.getTensors().length];
        for (OperatorT op : g.getOperators()) for (int i : op.getInputs()) if (i >= 0) uses[i]++;
        for (int o : g.getOutputs()) uses[o]++;
        List<OperatorT> kept = new ArrayList<>();
        int dropped = 0;
        for (OperatorT op : g.getOperators()) {
            if (m.builtinCode(op) == DEQUANTIZE && op.getInputs().length == 1 && m.isConstant(g, op.getInputs()[0])
                    && op.getOutputs().length == 1 && uses[op.getOutputs()[0]] == 0) {
                dropped++;
                continue;
            }
            kept.add(op);
        }
        g.setOperators(kept.toArray(new OperatorT[0]));
        return dropped;
    }

    /**
     * Float constants (float32, or float16 behind DEQUANTIZE) of at least 16 values that ops other than as the bias of
     * a hybrid op still read.
     */
    private List<Kept> floatWeights() {
        Map<Integer, List<String>> readersOf = new HashMap<>();
        for (OperatorT op : g.getOperators()) {
            for (int i : op.getInputs()) if (i >= 0) readersOf.computeIfAbsent(i, k -> new ArrayList<>()).add(m.opName(op));
        }
        Map<Integer, String> kept = new TreeMap<>();
        for (OperatorT op : g.getOperators()) {
            for (int i : op.getInputs()) {
                if (i < 0 || !m.isConstant(g, i) || kept.containsKey(i) || hybridBiases.contains(tensor(i))) continue;
                byte ty = tensor(i).getType();
                if (ty != TensorType.FLOAT32 && ty != TensorType.FLOAT16) continue;
                if (elements(tensor(i).getShape()) < Fp16Weights.MIN_ELEMENTS) continue;
                boolean viaDequantize = m.builtinCode(op) == DEQUANTIZE;
                List<String> by = viaDequantize ? readersOf.getOrDefault(op.getOutputs()[0], List.of())
                        : readersOf.get(i);
                boolean weighted = by.stream().anyMatch(o -> o.equals("CONV_2D") || o.equals("DEPTHWISE_CONV_2D")
                        || o.equals("FULLY_CONNECTED"));
                kept.put(i, (ty == TensorType.FLOAT16 ? "float16 behind DEQUANTIZE" : "float32") + ", read by "
                        + String.join(", ", new java.util.TreeSet<>(by))
                        + (weighted ? " (kept float: see float_weighted_ops)" : " (no hybrid kernel)"));
            }
        }
        List<Kept> l = new ArrayList<>();
        kept.forEach((t, reason) -> l.add(new Kept("tensor", tensor(t).getName(), reason)));
        return l;
    }

    private static long elements(int[] shape) {
        long n = 1;
        for (int d : shape) n *= d;
        return n;
    }
}
