package io.quantbridge.tflite;

import static org.tensorflow.lite.schema.BuiltinOperator.ABS;
import static org.tensorflow.lite.schema.BuiltinOperator.ADD;
import static org.tensorflow.lite.schema.BuiltinOperator.AVERAGE_POOL_2D;
import static org.tensorflow.lite.schema.BuiltinOperator.BATCH_MATMUL;
import static org.tensorflow.lite.schema.BuiltinOperator.BATCH_TO_SPACE_ND;
import static org.tensorflow.lite.schema.BuiltinOperator.BROADCAST_TO;
import static org.tensorflow.lite.schema.BuiltinOperator.CALL_ONCE;
import static org.tensorflow.lite.schema.BuiltinOperator.CONCATENATION;
import static org.tensorflow.lite.schema.BuiltinOperator.CONV_2D;
import static org.tensorflow.lite.schema.BuiltinOperator.CUSTOM;
import static org.tensorflow.lite.schema.BuiltinOperator.DEPTHWISE_CONV_2D;
import static org.tensorflow.lite.schema.BuiltinOperator.DEPTH_TO_SPACE;
import static org.tensorflow.lite.schema.BuiltinOperator.DEQUANTIZE;
import static org.tensorflow.lite.schema.BuiltinOperator.ELU;
import static org.tensorflow.lite.schema.BuiltinOperator.EXP;
import static org.tensorflow.lite.schema.BuiltinOperator.EXPAND_DIMS;
import static org.tensorflow.lite.schema.BuiltinOperator.FULLY_CONNECTED;
import static org.tensorflow.lite.schema.BuiltinOperator.GATHER;
import static org.tensorflow.lite.schema.BuiltinOperator.GATHER_ND;
import static org.tensorflow.lite.schema.BuiltinOperator.GELU;
import static org.tensorflow.lite.schema.BuiltinOperator.HARD_SWISH;
import static org.tensorflow.lite.schema.BuiltinOperator.IF;
import static org.tensorflow.lite.schema.BuiltinOperator.L2_NORMALIZATION;
import static org.tensorflow.lite.schema.BuiltinOperator.LEAKY_RELU;
import static org.tensorflow.lite.schema.BuiltinOperator.LOGISTIC;
import static org.tensorflow.lite.schema.BuiltinOperator.LOG_SOFTMAX;
import static org.tensorflow.lite.schema.BuiltinOperator.MAXIMUM;
import static org.tensorflow.lite.schema.BuiltinOperator.MAX_POOL_2D;
import static org.tensorflow.lite.schema.BuiltinOperator.MEAN;
import static org.tensorflow.lite.schema.BuiltinOperator.MINIMUM;
import static org.tensorflow.lite.schema.BuiltinOperator.MIRROR_PAD;
import static org.tensorflow.lite.schema.BuiltinOperator.MUL;
import static org.tensorflow.lite.schema.BuiltinOperator.PACK;
import static org.tensorflow.lite.schema.BuiltinOperator.PAD;
import static org.tensorflow.lite.schema.BuiltinOperator.PADV2;
import static org.tensorflow.lite.schema.BuiltinOperator.PRELU;
import static org.tensorflow.lite.schema.BuiltinOperator.QUANTIZE;
import static org.tensorflow.lite.schema.BuiltinOperator.REDUCE_MAX;
import static org.tensorflow.lite.schema.BuiltinOperator.REDUCE_MIN;
import static org.tensorflow.lite.schema.BuiltinOperator.RELU;
import static org.tensorflow.lite.schema.BuiltinOperator.RELU6;
import static org.tensorflow.lite.schema.BuiltinOperator.RESHAPE;
import static org.tensorflow.lite.schema.BuiltinOperator.RESIZE_BILINEAR;
import static org.tensorflow.lite.schema.BuiltinOperator.RESIZE_NEAREST_NEIGHBOR;
import static org.tensorflow.lite.schema.BuiltinOperator.REVERSE_V2;
import static org.tensorflow.lite.schema.BuiltinOperator.RSQRT;
import static org.tensorflow.lite.schema.BuiltinOperator.SLICE;
import static org.tensorflow.lite.schema.BuiltinOperator.SOFTMAX;
import static org.tensorflow.lite.schema.BuiltinOperator.SPACE_TO_BATCH_ND;
import static org.tensorflow.lite.schema.BuiltinOperator.SPACE_TO_DEPTH;
import static org.tensorflow.lite.schema.BuiltinOperator.SPLIT;
import static org.tensorflow.lite.schema.BuiltinOperator.SPLIT_V;
import static org.tensorflow.lite.schema.BuiltinOperator.SQUARED_DIFFERENCE;
import static org.tensorflow.lite.schema.BuiltinOperator.SQUEEZE;
import static org.tensorflow.lite.schema.BuiltinOperator.STRIDED_SLICE;
import static org.tensorflow.lite.schema.BuiltinOperator.SUB;
import static org.tensorflow.lite.schema.BuiltinOperator.SUM;
import static org.tensorflow.lite.schema.BuiltinOperator.TANH;
import static org.tensorflow.lite.schema.BuiltinOperator.TILE;
import static org.tensorflow.lite.schema.BuiltinOperator.TRANSPOSE;
import static org.tensorflow.lite.schema.BuiltinOperator.TRANSPOSE_CONV;
import static org.tensorflow.lite.schema.BuiltinOperator.UNPACK;
import static org.tensorflow.lite.schema.BuiltinOperator.WHILE;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.request.IoType;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.tensorflow.lite.schema.ActivationFunctionType;
import org.tensorflow.lite.schema.OperatorT;
import org.tensorflow.lite.schema.SubGraphT;
import org.tensorflow.lite.schema.TensorT;
import org.tensorflow.lite.schema.TensorType;

/**
 * Rewrites a float32 TFLite model to full integer (SPEC section 6): int8 asymmetric per-tensor activations from
 * calibrated ranges, int8 symmetric weights (per channel on dim 0 for CONV_2D and TRANSPOSE_CONV, dim 3 for
 * DEPTHWISE_CONV_2D; per tensor for FULLY_CONNECTED), int32 biases with {@code scale = input_scale x weight_scale},
 * fixed output parameters for SOFTMAX/LOGISTIC/TANH/LOG_SOFTMAX and the input's parameters on the outputs of ops that
 * cannot rescale (pooling, reshapes, resize, pad, concatenation, maximum/minimum ...), with an int8 requantize
 * (QUANTIZE int8 to int8) inserted where an input's parameters differ from what the op needs.
 *
 * <p>Operators without an int8 kernel (custom operators, unsupported builtins), excluded by pattern, or (on the CPU
 * target) run by XNNPACK in float only ({@link #cpuFloatReason}) stay float:
 * DEQUANTIZE before and QUANTIZE after them. Graph inputs and outputs stay float32 (QUANTIZE after each input,
 * DEQUANTIZE before each output; the float tensors keep the original names) or become int8 with {@code --io int8}.
 */
final class IntegerQuantizer {
    /** How to quantize. */
    /**
     * @param floatOutputConcat with float I/O, a CONCATENATION that produces a graph output from inputs whose scales
     *                          differ by more than {@link #CONCAT_SCALE_RATIO} is done in float after DEQUANTIZE:
     *                          int8 would requantize the finer inputs to the coarsest scale and lose their
     *                          resolution, while the output is float anyway (off for the Edge TPU)
     */
    /**
     * @param xnnpack           rewrite the float graph so that the int8 model runs inside XNNPACK, TFLite's default
     *                          CPU delegate ({@link GraphRewrites}; off for the Edge TPU)
     */
    /**
     * @param keepFloat         ops kept float by the name of their first output tensor, with the reason the report
     *                          gives ({@code --float-layers}, {@code --keep-float})
     */
    record Options(boolean perChannel, IoType io, List<String> excludes, boolean floatOutputConcat, boolean xnnpack,
                   Map<String, String> keepFloat) {
        Options {
            keepFloat = Map.copyOf(keepFloat);
        }

        static Options defaults() {
            return new Options(true, IoType.FLOAT, List.of(), true, true, Map.of());
        }

        /** These options with {@code names} (first output tensors) also kept float, for {@code reason}. */
        Options withKeepFloat(java.util.Collection<String> names, String reason) {
            Map<String, String> k = new LinkedHashMap<>(keepFloat);
            for (String n : names) k.putIfAbsent(n, reason);
            return new Options(perChannel, io, excludes, floatOutputConcat, xnnpack, k);
        }
    }

    static final double CONCAT_SCALE_RATIO = 4.0;
    /** Appended to the name of a float tensor for its int8 copy (weights, requantized activations). */
    static final String INT8_SUFFIX = "/int8";
    /**
     * The least scale of a constant ADD/SUB operand on the CPU target, as a fraction of the output's: XNNPACK's int8
     * add and subtract need each input-to-output scale ratio in [2^-10, 2^8) and leave the op to TFLite's own kernel
     * otherwise. A layer norm's epsilon (1e-3 on its own range, scale 3.9e-6) was 600x finer than the variance it is
     * added to; 2^-9 keeps a margin over the bound, and the constant's rounding (half a step) stays under 1/1000 of
     * the output's step.
     */
    static final double XNNPACK_MIN_ADD_INPUT_RATIO = 0x1.0p-9;

    /** An operator left in float and why. */
    record FloatOp(int index, String op, String output, String reason) {
        Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("index", index);
            m.put("op", op);
            m.put("output", output);
            m.put("reason", reason);
            return m;
        }
    }

    /** A quantized operator: its index, builtin name and first output tensor (the name {@code keepFloat} takes). */
    record QuantizedOp(int index, String op, String output) { }

    /** The rewritten model and what happened. */
    record Result(TfliteModel model, List<QuantizedOp> quantized, List<FloatOp> floatOps, int quantizeOps,
                  int dequantizeOps, int requantizeOps, Map<String, Integer> quantizedByType,
                  GraphRewrites.Counts rewrites, int biasCorrected, int gptqRounded) {
        int quantizedOps() {
            return quantized.size();
        }

        Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("graph_rewrites", rewrites.toMap());
            m.put("bias_corrected_ops", biasCorrected);
            m.put("quantized_ops", quantized.size());
            m.put("quantized_by_type", quantizedByType);
            m.put("float_ops", floatOps.stream().map(FloatOp::toMap).toList());
            m.put("inserted_quantize", quantizeOps);
            m.put("inserted_dequantize", dequantizeOps);
            m.put("inserted_requantize", requantizeOps);
            return m;
        }
    }

    /** Ops whose int8 kernel takes any output parameters. */
    private static final Set<Integer> OWN_PARAMS = Set.of(CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, TRANSPOSE_CONV,
            ADD, SUB, MUL, MEAN, SUM, RELU, RELU6, LEAKY_RELU, HARD_SWISH, ELU, GELU, ABS, EXP, RSQRT,
            SQUARED_DIFFERENCE, BATCH_MATMUL);
    /** Ops whose int8 kernel needs the output parameters equal to the (first) input's. */
    private static final Set<Integer> SAME_PARAMS = Set.of(AVERAGE_POOL_2D, MAX_POOL_2D, RESHAPE, RESIZE_BILINEAR,
            RESIZE_NEAREST_NEIGHBOR, SPACE_TO_DEPTH, DEPTH_TO_SPACE, PAD, PADV2, GATHER, TRANSPOSE, SQUEEZE, SLICE,
            STRIDED_SLICE, BATCH_TO_SPACE_ND, SPACE_TO_BATCH_ND, EXPAND_DIMS, TILE, MIRROR_PAD, SPLIT, SPLIT_V, UNPACK,
            REDUCE_MAX, REDUCE_MIN, BROADCAST_TO, GATHER_ND, REVERSE_V2);
    /** Ops whose inputs must all share the output's parameters. */
    private static final Set<Integer> SHARED_INPUTS = Set.of(CONCATENATION, PACK, MAXIMUM, MINIMUM);
    private static final Map<Integer, QuantParams> FIXED = Map.of(SOFTMAX, QuantParams.UNIT_OUTPUT,
            LOGISTIC, QuantParams.UNIT_OUTPUT, TANH, QuantParams.TANH_OUTPUT, LOG_SOFTMAX,
            QuantParams.LOG_SOFTMAX_OUTPUT, L2_NORMALIZATION, QuantParams.TANH_OUTPUT);

    /** The op version of each quantized builtin with int8 tensors (tensorflow/lite/tools/versioning). */
    static int int8Version(int code, OperatorT op) {
        return switch (code) {
            case CONV_2D, DEPTHWISE_CONV_2D -> 3;
            case FULLY_CONNECTED -> op.getInputs().length < 3 || op.getInputs()[2] < 0 ? 6 : 4;
            case TRANSPOSE_CONV -> transposeConvActivation(op) != ActivationFunctionType.NONE
                    ? GraphRewrites.TRANSPOSE_CONV_FUSED_VERSION
                    : op.getInputs().length > 3 && op.getInputs()[3] >= 0 ? 3 : 2;
            case LEAKY_RELU, HARD_SWISH, RESHAPE, SQUEEZE, EXPAND_DIMS, QUANTIZE, GATHER_ND, ELU -> 1;
            case TILE, BROADCAST_TO, REVERSE_V2 -> 3;
            default -> 2;
        };
    }

    private static byte transposeConvActivation(OperatorT op) {
        Object v = op.getBuiltinOptions() == null ? null : op.getBuiltinOptions().getValue();
        return v instanceof org.tensorflow.lite.schema.TransposeConvOptionsT t ? t.getFusedActivationFunction()
                : ActivationFunctionType.NONE;
    }

    static boolean supported(int code) {
        return OWN_PARAMS.contains(code) || SAME_PARAMS.contains(code) || SHARED_INPUTS.contains(code)
                || FIXED.containsKey(code);
    }

    private final TfliteModel m;
    private final Map<Integer, double[]> ranges;
    private final Options options;
    private final int originalTensorCount;
    /** Float32 non-constant tensors of the model as given (types change while rewriting). */
    private final boolean[] floatActivation;
    private final List<OperatorT> newOps = new ArrayList<>();
    private final Map<Integer, Integer> quantTwins = new HashMap<>();
    private final Map<Integer, Integer> dequantTwins = new HashMap<>();
    private final Map<String, Integer> requantTwins = new HashMap<>();
    /** Int8 parameters of every int8 activation tensor (by index in the rewritten model). */
    private final Map<Integer, QuantParams> params = new HashMap<>();
    /** Channel means of float activations (by tensor index of the prepared model), for bias correction. */
    private final Map<Integer, float[]> inputMeans = new HashMap<>();
    /** GPTQ-rounded weights by weight tensor name. */
    private final Map<String, TfliteGptq.Rounded> rounded = new HashMap<>();
    /** Output parameters of weighted ops that write a CONCATENATION's or PACK's input ({@link #shareConcatParams}). */
    private final Map<Integer, QuantParams> sharedOutputParams = new HashMap<>();
    private int biasCorrected;
    private int gptqRounded;
    private int quantizeOps;
    private int dequantizeOps;
    private int requantizeOps;

    private final OpExcludes excludes;
    private final GraphRewrites.Counts rewrites;
    /** TRANSPOSE_CONV ops that were MediaPipe's custom transposed convolution (see {@link #floatReason}). */
    private final List<OperatorT> fromCustomOp;

    private IntegerQuantizer(TfliteModel prepared, Map<Integer, double[]> ranges, Options options) {
        this.m = prepared.copy();
        this.ranges = new HashMap<>(ranges);
        this.options = options;
        this.excludes = new OpExcludes(options.excludes());
        this.fromCustomOp = GraphRewrites.customTransposeConvToBuiltin(m, op -> excludedBy(op) != null);
        this.rewrites = GraphRewrites.apply(m, this.ranges, options.xnnpack(), op -> excludedBy(op) != null)
                .withCustomToBuiltin(fromCustomOp.size());
        this.originalTensorCount = m.main().getTensors().length;
        this.floatActivation = new boolean[originalTensorCount];
        for (int t = 0; t < originalTensorCount; t++) {
            floatActivation[t] = m.tensor(t).getType() == TensorType.FLOAT32 && !m.isConstant(t);
        }
    }

    /**
     * @param prepared a float32 model (float16 weights already converted) whose tensor indices the ranges use
     * @param ranges   calibrated {min, max} of the float activations (graph inputs and op outputs) by tensor index
     */
    static Result quantize(TfliteModel prepared, Map<Integer, double[]> ranges, Options options) {
        return quantize(prepared, ranges, options, Map.of());
    }

    /**
     * As {@link #quantize(TfliteModel, Map, Options)}, with bias correction: where the float input of a CONV_2D,
     * DEPTHWISE_CONV_2D or FULLY_CONNECTED has channel means in {@code inputMeans} (by tensor index of
     * {@code prepared}, channels last), its float bias loses the expected error of the int8 weights before it is
     * quantized, {@code b[o] -= sum((Wq - W)[o, ...] * E[x])}, so that rounding the weights does not shift the
     * op's output on average (border positions of padded convs, which see zeros, are treated like the rest).
     */
    static Result quantize(TfliteModel prepared, Map<Integer, double[]> ranges, Options options,
                           Map<Integer, float[]> inputMeans) {
        return quantize(prepared, ranges, options, inputMeans, List.of());
    }

    /**
     * As {@link #quantize(TfliteModel, Map, Options, Map)}, writing the int8 codes of {@code rounded} (GPTQ, on the
     * nearest rounding's per-channel scales) for those weights instead of the nearest ones, where the weights are
     * still the ones they were rounded from and per-channel.
     */
    static Result quantize(TfliteModel prepared, Map<Integer, double[]> ranges, Options options,
                           Map<Integer, float[]> inputMeans, List<TfliteGptq.Rounded> rounded) {
        if (prepared.isQuantized()) {
            throw new QuantbridgeException("model " + prepared.label() + " is already quantized (it has int8/uint8"
                    + " tensors with quantization parameters); give the float model");
        }
        IntegerQuantizer q = new IntegerQuantizer(prepared, ranges, options);
        q.inputMeans.putAll(inputMeans);
        for (TfliteGptq.Rounded r : rounded) q.rounded.put(r.weightName(), r);
        return q.run();
    }

    private Result run() {
        SubGraphT g = m.main();
        OperatorT[] ops = g.getOperators();
        String[] reasons = new String[ops.length];
        boolean[] quantized = new boolean[ops.length];
        for (int i = 0; i < ops.length; i++) {
            reasons[i] = floatReason(ops[i]);
            quantized[i] = reasons[i] == null && hasFloat(ops[i]);
        }
        keepFloatIslands(ops, reasons, quantized, g);
        Set<OperatorT> int8Ops = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        for (int i = 0; i < ops.length; i++) if (quantized[i]) int8Ops.add(ops[i]);
        int saturated = GraphRewrites.narrowSaturatingInputs(m, ranges, int8Ops::contains);
        GraphRewrites.Counts counts = rewrites.withRangeCuts(saturated,
                GraphRewrites.narrowAddInputs(m, ranges, int8Ops::contains));
        boolean[] int8Home = new boolean[originalTensorCount];
        for (int i = 0; i < ops.length; i++) {
            if (!quantized[i]) continue;
            for (int o : ops[i].getOutputs()) if (isFloatActivation(o)) int8Home[o] = true;
        }
        shareConcatParams(ops, quantized, g);
        Set<Integer> graphInputs = new HashSet<>();
        for (int in : g.getInputs()) graphInputs.add(in);
        if (options.io() == IoType.INT8) {
            for (int in : g.getInputs()) {
                if (!isFloatActivation(in)) continue;
                QuantParams p = rangeParams(in);
                setInt8(in, p);
                int8Home[in] = true;
            }
        }

        List<FloatOp> floatOps = new ArrayList<>();
        Map<String, Integer> byType = new java.util.TreeMap<>();
        List<QuantizedOp> quantizedList = new ArrayList<>();
        for (int i = 0; i < ops.length; i++) {
            OperatorT op = ops[i];
            if (!quantized[i]) {
                if (reasons[i] != null) {
                    floatOps.add(new FloatOp(i, m.opName(op), outputName(op), reasons[i]));
                    int[] ins = op.getInputs().clone();
                    for (int k = 0; k < ins.length; k++) {
                        int t = ins[k];
                        if (t >= 0 && t < originalTensorCount && int8Home[t]) ins[k] = dequantTwin(t);
                    }
                    op.setInputs(ins);
                }
                newOps.add(op);
                continue;
            }
            quantizedList.add(new QuantizedOp(i, m.opName(op), outputName(op)));
            quantizeOp(op, int8Home);
            byType.merge(m.opName(op), 1, Integer::sum);
            newOps.add(op);
        }

        int[] outs = g.getOutputs().clone();
        // a tensor listed as two outputs gets one twin, named once
        Map<Integer, Integer> outputTwins = new HashMap<>();
        for (int k = 0; k < outs.length; k++) {
            int o = outs[k];
            if (!isFloatActivation(o)) continue;
            Integer done = outputTwins.get(o);
            if (done != null) {
                outs[k] = done;
            } else if (options.io() == IoType.FLOAT && int8Home[o]) {
                int twin = dequantTwin(o);
                swapNames(o, twin, INT8_SUFFIX);
                outs[k] = twin;
                outputTwins.put(o, twin);
            } else if (options.io() == IoType.INT8 && !int8Home[o]) {
                int twin = quantTwin(o);
                swapNames(o, twin, "/float");
                outs[k] = twin;
                outputTwins.put(o, twin);
            }
        }
        g.setOutputs(outs);
        g.setOperators(newOps.toArray(new OperatorT[0]));
        m.compact();
        return new Result(m, List.copyOf(quantizedList), floatOps, quantizeOps, dequantizeOps, requantizeOps, byType, counts,
                biasCorrected, gptqRounded);
    }

    /**
     * An int8 CONCATENATION (PACK) needs its inputs on its output's parameters; an input that a quantized CONV_2D,
     * DEPTHWISE_CONV_2D, TRANSPOSE_CONV or FULLY_CONNECTED writes for it alone (no other reader, not a graph output)
     * is written on those parameters directly, instead of on its own and then requantized: one int8 op less and one
     * rounding less, and the same grid (a weighted op takes any output parameters). U-Nets concatenate each decoder
     * stage's transposed conv with a skip connection this way.
     */
    private void shareConcatParams(OperatorT[] ops, boolean[] quantized, SubGraphT g) {
        int[] readers = new int[originalTensorCount];
        Map<Integer, Integer> producer = new HashMap<>();
        for (int i = 0; i < ops.length; i++) {
            for (int t : ops[i].getInputs()) if (t >= 0 && t < originalTensorCount) readers[t]++;
            for (int t : ops[i].getOutputs()) producer.put(t, i);
        }
        for (int t : g.getOutputs()) if (t >= 0 && t < originalTensorCount) readers[t]++;
        for (int i = 0; i < ops.length; i++) {
            int code = m.builtinCode(ops[i]);
            if (!quantized[i] || (code != CONCATENATION && code != PACK)) continue;
            QuantParams p = rangeParams(ops[i].getOutputs()[0]);
            for (int t : ops[i].getInputs()) {
                Integer j = producer.get(t);
                if (!isFloatActivation(t) || readers[t] != 1 || j == null || !quantized[j]) continue;
                if (isWeighted(m.builtinCode(ops[j])) && ops[j].getOutputs().length == 1) {
                    sharedOutputParams.put(t, p);
                }
            }
        }
    }

    /**
     * Keeps in float every op without weights that reads only from float ops (besides constants) and feeds only float
     * ops: in int8 it would only add a QUANTIZE and a DEQUANTIZE and round what passes through. MediaPipe's attention mesh scales
     * the crop matrix of its custom Landmarks2TransformMatrix with a MUL before TransformLandmarks maps points
     * through it; an int8 matrix (translations near 100 and scales near 0.3 on one scale) moved the refined eye
     * points by 6-12 px. Runs to a fixed point, so chains of such ops stay float too.
     */
    private void keepFloatIslands(OperatorT[] ops, String[] reasons, boolean[] quantized, SubGraphT g) {
        Map<Integer, Integer> producer = new HashMap<>();
        Map<Integer, List<Integer>> consumers = new HashMap<>();
        for (int i = 0; i < ops.length; i++) {
            for (int o : ops[i].getOutputs()) producer.put(o, i);
            for (int t : ops[i].getInputs()) if (t >= 0) consumers.computeIfAbsent(t, k -> new ArrayList<>()).add(i);
        }
        Set<Integer> graphOutputs = new HashSet<>();
        for (int o : g.getOutputs()) graphOutputs.add(o);
        boolean changed = true;
        while (changed) {
            changed = false;
            for (int i = 0; i < ops.length; i++) {
                if (!quantized[i] || !islandMember(ops[i], reasons, producer, consumers, graphOutputs)) continue;
                quantized[i] = false;
                reasons[i] = "reads only from float ops and feeds only float ops: in int8 it would add a QUANTIZE"
                        + " and a DEQUANTIZE and round what passes through";
                changed = true;
            }
        }
    }

    private boolean islandMember(OperatorT op, String[] reasons, Map<Integer, Integer> producer,
                                 Map<Integer, List<Integer>> consumers, Set<Integer> graphOutputs) {
        // convolutions and fully connected layers stay int8 whatever surrounds them: that is where int8 pays
        if (isWeighted(m.builtinCode(op))) return false;
        boolean reads = false;
        for (int t : op.getInputs()) {
            if (!isFloatActivation(t)) continue;
            Integer p = producer.get(t);
            if (p == null || reasons[p] == null) return false;
            reads = true;
        }
        if (!reads) return false;
        boolean feeds = false;
        for (int o : op.getOutputs()) {
            if (graphOutputs.contains(o) && options.io() == IoType.INT8) return false;
            for (int c : consumers.getOrDefault(o, List.of())) {
                if (reasons[c] == null) return false;
                feeds = true;
            }
        }
        return feeds;
    }

    /** The --exclude pattern that keeps {@code op} in float, or null. */
    private String excludedBy(OperatorT op) {
        return excludes.match(m, op);
    }

    /** Null when the op can be quantized (or has nothing to quantize); otherwise why it stays float. */
    private String floatReason(OperatorT op) {
        int code = m.builtinCode(op);
        String name = m.opName(op);
        String pat = excludedBy(op);
        if (pat != null) return "excluded by --exclude " + pat;
        String kept = options.keepFloat().get(outputName(op));
        if (kept != null) return kept;
        if (!hasFloat(op)) return null;
        if (code == CONCATENATION && options.floatOutputConcat() && options.io() == IoType.FLOAT) {
            String why = concatScales(op);
            if (why != null) return why;
        }
        if (code == CUSTOM) {
            return "custom operator '" + name + "' has no int8 kernel in TFLite; it runs in float between"
                    + " DEQUANTIZE and QUANTIZE";
        }
        if (options.xnnpack() && fromCustomOp.contains(op)) {
            return "MediaPipe's custom " + CustomOps.TRANSPOSE_CONV_BIAS + ", rewritten as the builtin TRANSPOSE_CONV"
                    + " (stock TFLite runtimes run it, XNNPACK included), stays float on the CPU target: with an int8"
                    + " TRANSPOSE_CONV, LiteRT 2.3 ran selfie-seg in 13 ms against 5 ms (11.7 ms with no delegate at"
                    + " all); --target edgetpu quantizes it";
        }
        if (code == DEQUANTIZE || code == QUANTIZE) return "already a (de)quantization op";
        if (code == PRELU && options.xnnpack()) {
            return "PRELU stays float: XNNPACK (TFLite 2.20) has no int8 PRELU, and the interpreter's own int8 kernel"
                    + " between XNNPACK partitions ran MediaPipe's iris, face and palm models 4-8x slower than float;"
                    + " a float PRELU keeps the model in one XNNPACK partition";
        }
        if (code == WHILE || code == IF || code == CALL_ONCE) {
            return "control flow: " + name + " runs subgraphs " + TfliteModel.calledSubgraphs(op) + ", which stay"
                    + " float (only the main subgraph is quantized)";
        }
        if (!supported(code)) {
            return "builtin " + name + " is not quantized by this tool (no int8 kernel with known parameter"
                    + " rules); it runs in float";
        }
        String cpu = cpuFloatReason(op, code, name);
        if (cpu != null) return cpu;
        for (int o : op.getOutputs()) {
            TensorT t = m.tensor(o);
            if (t.getType() != TensorType.FLOAT32) return "output '" + t.getName() + "' is not float32";
            if (!ranges.containsKey(o) && !FIXED.containsKey(code) && !SAME_PARAMS.contains(code)) {
                return "output '" + t.getName() + "' was not observed during calibration";
            }
        }
        int[] ins = op.getInputs();
        if (SAME_PARAMS.contains(code) || SHARED_INPUTS.contains(code) || FIXED.containsKey(code)) {
            boolean any = false;
            for (int i : ins) any |= isFloatActivation(i);
            if (!any) return "it has no float activation input (constant inputs only)";
        }
        if (isWeighted(code)) {
            int w = weightSlot(code);
            if (ins.length <= w || ins[w] < 0 || !m.isConstant(ins[w])) return "its weights are not constant";
            int b = biasSlot(code);
            if (ins.length > b && ins[b] >= 0 && !m.isConstant(ins[b])) return "its bias is not constant";
        }
        for (int i : ins) {
            if (i < 0 || m.tensor(i).getType() != TensorType.FLOAT32 || m.isConstant(i)) continue;
            if (!ranges.containsKey(i)) return "input '" + m.tensor(i).getName() + "' was not observed";
        }
        return null;
    }

    /** Why a concatenation into a graph output should join in float, or null. */
    private String concatScales(OperatorT op) {
        int out = op.getOutputs()[0];
        boolean graphOutput = false;
        for (int o : m.main().getOutputs()) graphOutput |= o == out;
        if (!graphOutput) return null;
        double lo = Double.MAX_VALUE;
        double hi = 0;
        for (int i : op.getInputs()) {
            double[] r = ranges.get(i);
            if (r == null) return null;
            double sc = QuantParams.asymmetric(r[0], r[1]).scale();
            lo = Math.min(lo, sc);
            hi = Math.max(hi, sc);
        }
        double ratio = hi / lo;
        if (ratio <= CONCAT_SCALE_RATIO) return null;
        return String.format(java.util.Locale.ROOT, "concatenation into the float output of inputs whose int8 scales"
                + " differ %.1fx: joined in float after DEQUANTIZE so that no input loses resolution", ratio);
    }

    /**
     * Why an op stays float on the CPU target, or null: XNNPACK (TFLite 2.20) runs these in float only, so in int8
     * they fall to TFLite's own kernels between delegate partitions. Each was measured on a Keras transformer converted
     * by TensorFlow (2 blocks, 4 heads, 128 tokens x 128; one after the other, in this order).
     */
    private String cpuFloatReason(OperatorT op, int code, String name) {
        if (!options.xnnpack()) return null;
        int[] ins = op.getInputs();
        String cost = switch (code) {
            case SQUARED_DIFFERENCE -> broadcasts(op) ? "broadcasts element by element: a layer norm's variance in"
                    + " int8 made the transformer 1.96 ms against 1.47 ms" : null;
            case SOFTMAX -> "made the transformer 1.49 ms against 0.64 ms";
            case BATCH_MATMUL -> isFloatActivation(ins[0]) && isFloatActivation(ins[1])
                    ? "of two activations made the transformer 0.64 ms against 0.52 ms" : null;
            case RSQRT, GELU -> "(with RSQRT and GELU both) made the transformer 0.55 ms against 0.49 ms";
            default -> null;
        };
        if (cost == null) return null;
        return name + " stays float on the CPU target: XNNPACK (TFLite 2.20) runs it in float only, and TFLite's int8"
                + " kernel " + cost;
    }

    /** Whether the op's first two inputs differ in shape. */
    private boolean broadcasts(OperatorT op) {
        int[] ins = op.getInputs();
        return ins.length >= 2 && !java.util.Arrays.equals(m.tensor(ins[0]).getShape(), m.tensor(ins[1]).getShape());
    }

    private boolean hasFloat(OperatorT op) {
        for (int i : op.getInputs()) if (i >= 0 && m.tensor(i).getType() == TensorType.FLOAT32) return true;
        for (int i : op.getOutputs()) if (m.tensor(i).getType() == TensorType.FLOAT32) return true;
        return false;
    }

    private static boolean isWeighted(int code) {
        return code == CONV_2D || code == DEPTHWISE_CONV_2D || code == FULLY_CONNECTED || code == TRANSPOSE_CONV;
    }

    private static int weightSlot(int code) {
        return 1;
    }

    private static int biasSlot(int code) {
        return code == TRANSPOSE_CONV ? 3 : 2;
    }

    private static int activationSlot(int code) {
        return code == TRANSPOSE_CONV ? 2 : 0;
    }

    private String outputName(OperatorT op) {
        return op.getOutputs().length == 0 ? "" : m.tensor(op.getOutputs()[0]).getName();
    }

    private boolean isFloatActivation(int t) {
        return t >= 0 && t < originalTensorCount && floatActivation[t];
    }

    private QuantParams rangeParams(int t) {
        double[] r = ranges.get(t);
        if (r == null) {
            throw new QuantbridgeException("no calibrated range for tensor '" + m.tensor(t).getName() + "'");
        }
        return QuantParams.asymmetric(r[0], r[1]);
    }

    private void setInt8(int t, QuantParams p) {
        TensorT tt = m.tensor(t);
        tt.setType(TensorType.INT8);
        tt.setQuantization(p.toSchema());
        params.put(t, p);
    }

    /** The int8 tensor carrying activation {@code t} for a quantized consumer. */
    private int int8Of(int t, boolean[] int8Home) {
        if (t < originalTensorCount && int8Home[t]) return t;
        return quantTwin(t);
    }

    private int quantTwin(int t) {
        Integer twin = quantTwins.get(t);
        if (twin != null) return twin;
        TensorT src = m.tensor(t);
        QuantParams p = rangeParams(t);
        int n = m.addTensor(TfliteModel.newTensor(src.getName() + INT8_SUFFIX, TensorType.INT8, src.getShape(),
                src.getShapeSignature(), 0, p.toSchema()));
        params.put(n, p);
        newOps.add(op(QUANTIZE, 1, new int[] {t}, new int[] {n}));
        quantizeOps++;
        quantTwins.put(t, n);
        return n;
    }

    private int dequantTwin(int t) {
        Integer twin = dequantTwins.get(t);
        if (twin != null) return twin;
        TensorT src = m.tensor(t);
        int n = m.addTensor(TfliteModel.newTensor(src.getName() + "/float", TensorType.FLOAT32, src.getShape(),
                src.getShapeSignature(), 0, null));
        newOps.add(op(DEQUANTIZE, 2, new int[] {t}, new int[] {n}));
        dequantizeOps++;
        dequantTwins.put(t, n);
        return n;
    }

    /** An int8 copy of int8 tensor {@code t} with parameters {@code p} (QUANTIZE int8 to int8). */
    private int requantized(int t, QuantParams p) {
        QuantParams have = params.get(t);
        if (p.equals(have)) return t;
        String key = t + "@" + p;
        Integer twin = requantTwins.get(key);
        if (twin != null) return twin;
        TensorT src = m.tensor(t);
        int n = m.addTensor(TfliteModel.newTensor(src.getName() + "/requant", TensorType.INT8, src.getShape(),
                src.getShapeSignature(), 0, p.toSchema()));
        params.put(n, p);
        newOps.add(op(QUANTIZE, 1, new int[] {t}, new int[] {n}));
        requantizeOps++;
        requantTwins.put(key, n);
        return n;
    }

    private void swapNames(int a, int b, String suffix) {
        String name = m.tensor(a).getName();
        m.tensor(a).setName(name + suffix);
        m.tensor(b).setName(name);
    }

    private OperatorT op(int code, int version, int[] in, int[] out) {
        OperatorT o = new OperatorT();
        o.setOpcodeIndex(m.opCodeIndex(code, version));
        o.setInputs(in);
        o.setOutputs(out);
        return o;
    }

    private void quantizeOp(OperatorT op, boolean[] int8Home) {
        int code = m.builtinCode(op);
        int[] ins = op.getInputs().clone();
        int version = Math.max(m.opCode(op).getVersion(), int8Version(code, op));
        if (isWeighted(code)) {
            int a = activationSlot(code);
            float[] mean = inputMeans.get(ins[a]);
            int x = int8Of(ins[a], int8Home);
            ins[a] = x;
            QuantParams inP = params.get(x);
            int w = ins[weightSlot(code)];
            int axis = code == DEPTHWISE_CONV_2D ? 3 : 0;
            boolean perChannel = options.perChannel() && code != FULLY_CONNECTED;
            float[] wFloat = m.floats(w);
            int[] wShape = m.tensor(w).getShape();
            ins[weightSlot(code)] = quantizeWeights(w, perChannel, axis);
            float[] scales = weightScales;
            int b = biasSlot(code);
            if (ins.length > b && ins[b] >= 0) {
                float[] correction = mean == null || code == TRANSPOSE_CONV ? null
                        : biasCorrection(code, wFloat, wShape, lastWeights, mean);
                if (correction != null) biasCorrected++;
                ins[b] = quantizeBias(ins[b], inP, scales, correction);
            }
            QuantParams outP = sharedOutputParams.get(op.getOutputs()[0]);
            setInt8(op.getOutputs()[0], outP != null ? outP : rangeParams(op.getOutputs()[0]));
        } else if (FIXED.containsKey(code)) {
            for (int k = 0; k < ins.length; k++) ins[k] = int8Input(ins[k], int8Home, null);
            for (int o : op.getOutputs()) setInt8(o, FIXED.get(code));
        } else if (SAME_PARAMS.contains(code)) {
            int first = -1;
            for (int k = 0; k < ins.length; k++) {
                if (isFloatActivation(ins[k])) {
                    first = k;
                    break;
                }
            }
            if (first < 0) throw new QuantbridgeException("internal: " + m.opName(op) + " has no float input");
            ins[first] = int8Of(ins[first], int8Home);
            QuantParams p = params.get(ins[first]);
            for (int k = 0; k < ins.length; k++) if (k != first) ins[k] = int8Input(ins[k], int8Home, p);
            for (int o : op.getOutputs()) setInt8(o, p);
        } else if (SHARED_INPUTS.contains(code)) {
            QuantParams p;
            if (code == CONCATENATION || code == PACK) {
                p = rangeParams(op.getOutputs()[0]);
            } else {
                int first = -1;
                for (int k = 0; k < ins.length && first < 0; k++) if (isFloatActivation(ins[k])) first = k;
                p = first >= 0 ? params.get(int8Of(ins[first], int8Home)) : rangeParams(op.getOutputs()[0]);
            }
            for (int k = 0; k < ins.length; k++) {
                if (isFloatActivation(ins[k])) {
                    ins[k] = requantized(int8Of(ins[k], int8Home), p);
                } else {
                    ins[k] = int8Input(ins[k], int8Home, p);
                }
            }
            for (int o : op.getOutputs()) setInt8(o, p);
        } else {
            // XNNPACK runs an int8 ADD or SUB only where each input's scale is at least 2^-10 of the output's
            double minScale = (code == ADD || code == SUB) && options.xnnpack()
                    ? rangeParams(op.getOutputs()[0]).scale() * XNNPACK_MIN_ADD_INPUT_RATIO : 0;
            for (int k = 0; k < ins.length; k++) ins[k] = int8Input(ins[k], int8Home, null, minScale);
            for (int o : op.getOutputs()) setInt8(o, rangeParams(o));
        }
        op.setInputs(ins);
        op.setOpcodeIndex(opCodeFor(op, code, version));
    }

    /** Keeps the op's own op code entry when only its version changes, sharing entries between ops. */
    private int opCodeFor(OperatorT op, int code, int version) {
        if (code == CUSTOM) return (int) op.getOpcodeIndex();
        return m.opCodeIndex(code, version);
    }

    /**
     * The int8 form of a non-weight input: activations through {@link #int8Of}, float constants quantized per tensor
     * (with {@code required} parameters when given, else their own range); other types unchanged.
     */
    private int int8Input(int t, boolean[] int8Home, QuantParams required) {
        return int8Input(t, int8Home, required, 0);
    }

    /**
     * As {@link #int8Input(int, boolean[], QuantParams)}; a float constant quantized on its own range gets a scale of
     * at least {@code minScale}.
     */
    private int int8Input(int t, boolean[] int8Home, QuantParams required, double minScale) {
        if (t < 0) return t;
        if (t >= originalTensorCount) return required == null ? t : requantized(t, required);
        TensorT tt = m.tensor(t);
        if (tt.getType() == TensorType.INT8 && params.containsKey(t)) {
            return required == null ? t : requantized(t, required);
        }
        if (tt.getType() != TensorType.FLOAT32) return t;
        if (m.isConstant(t)) {
            float[] v = m.floats(t);
            QuantParams p = required;
            if (p == null) {
                double lo = 0, hi = 0;
                for (float x : v) {
                    lo = Math.min(lo, x);
                    hi = Math.max(hi, x);
                }
                p = QuantParams.asymmetric(lo, hi, minScale);
            }
            byte[] q = new byte[v.length];
            for (int i = 0; i < v.length; i++) q[i] = (byte) p.quantize(v[i]);
            int buf = m.addBuffer(q);
            return m.addTensor(TfliteModel.newTensor(tt.getName() + INT8_SUFFIX, TensorType.INT8, tt.getShape(),
                    tt.getShapeSignature(), buf, p.toSchema()));
        }
        int x = int8Of(t, int8Home);
        return required == null ? x : requantized(x, required);
    }

    private float[] weightScales;
    private QuantizedWeights lastWeights;

    /**
     * The expected output error of int8 weights per output channel, {@code sum((Wq - W) * E[x])} over the input
     * channels (and kernel taps) that output reads; null when the means do not fit the weights.
     * Layouts: CONV_2D [O, kh, kw, I], DEPTHWISE_CONV_2D [1, kh, kw, O] with input channel {@code o / multiplier},
     * FULLY_CONNECTED [O, I].
     */
    static float[] biasCorrection(int code, float[] w, int[] shape, QuantizedWeights q, float[] mean) {
        int axis = code == DEPTHWISE_CONV_2D ? 3 : 0;
        int outs = shape[axis];
        float[] s = q.scales();
        double[] err = new double[outs];
        if (code == DEPTHWISE_CONV_2D) {
            if (shape.length != 4 || outs % mean.length != 0) return null;
            int mult = outs / mean.length;
            for (int i = 0; i < w.length; i++) {
                int o = i % outs;
                double wq = q.data()[i] * (double) s[s.length == 1 ? 0 : o];
                err[o] += (wq - w[i]) * mean[o / mult];
            }
        } else {
            int inCh = shape[shape.length - 1];
            if (inCh != mean.length) return null;
            int perOut = w.length / outs;
            for (int i = 0; i < w.length; i++) {
                int o = i / perOut;
                double wq = q.data()[i] * (double) s[s.length == 1 ? 0 : o];
                err[o] += (wq - w[i]) * mean[i % inCh];
            }
        }
        float[] out = new float[outs];
        for (int o = 0; o < outs; o++) out[o] = (float) err[o];
        return out;
    }

    /** Symmetric int8 weights in [-127, 127]; per channel along {@code axis} or per tensor. Sets weightScales. */
    private int quantizeWeights(int w, boolean perChannel, int axis) {
        TensorT t = m.tensor(w);
        int[] shape = t.getShape();
        float[] v = m.floats(w);
        TfliteGptq.Rounded g = perChannel ? rounded.get(t.getName()) : null;
        QuantizedWeights q = g == null ? null : g.codesFor(v);
        if (q != null) {
            gptqRounded++;
        } else {
            q = QuantizedWeights.symmetric(v, shape, perChannel, axis);
        }
        int buf = m.addBuffer(q.data());
        this.weightScales = q.scales();
        this.lastWeights = q;
        return m.addTensor(TfliteModel.newTensor(t.getName() + INT8_SUFFIX, TensorType.INT8, shape,
                t.getShapeSignature(), buf, QuantParams.perAxis(q.scales(), perChannel ? axis : 0)));
    }

    /** Int32 bias with per-channel scale {@code input_scale * weight_scale[c]}, zero point 0. */
    private int quantizeBias(int b, QuantParams in, float[] wScales, float[] correction) {
        TensorT t = m.tensor(b);
        float[] v = m.floats(b);
        if (correction != null && correction.length == v.length) {
            v = v.clone();
            for (int i = 0; i < v.length; i++) v[i] -= correction[i];
        }
        float[] scales = new float[wScales.length == 1 ? 1 : v.length];
        for (int c = 0; c < scales.length; c++) {
            scales[c] = (float) ((double) in.scale() * (double) wScales[wScales.length == 1 ? 0 : c]);
        }
        int[] q = new int[v.length];
        for (int i = 0; i < v.length; i++) {
            double s = scales[scales.length == 1 ? 0 : i];
            double r = Math.rint(v[i] / s);
            q[i] = (int) Math.max(Integer.MIN_VALUE + 1, Math.min(Integer.MAX_VALUE, r));
        }
        int buf = m.addBuffer(TfliteModel.intBytes(q));
        return m.addTensor(TfliteModel.newTensor(t.getName() + "/int32", TensorType.INT32, t.getShape(),
                t.getShapeSignature(), buf, QuantParams.perAxis(scales, 0)));
    }
}
