package io.quantbridge.tflite;

import static org.tensorflow.lite.schema.BuiltinOperator.ADD;
import static org.tensorflow.lite.schema.BuiltinOperator.AVERAGE_POOL_2D;
import static org.tensorflow.lite.schema.BuiltinOperator.CONV_2D;
import static org.tensorflow.lite.schema.BuiltinOperator.DEPTHWISE_CONV_2D;
import static org.tensorflow.lite.schema.BuiltinOperator.DEPTH_TO_SPACE;
import static org.tensorflow.lite.schema.BuiltinOperator.EXPAND_DIMS;
import static org.tensorflow.lite.schema.BuiltinOperator.DEQUANTIZE;
import static org.tensorflow.lite.schema.BuiltinOperator.FULLY_CONNECTED;
import static org.tensorflow.lite.schema.BuiltinOperator.HARD_SWISH;
import static org.tensorflow.lite.schema.BuiltinOperator.LEAKY_RELU;
import static org.tensorflow.lite.schema.BuiltinOperator.LOGISTIC;
import static org.tensorflow.lite.schema.BuiltinOperator.MAXIMUM;
import static org.tensorflow.lite.schema.BuiltinOperator.MEAN;
import static org.tensorflow.lite.schema.BuiltinOperator.MINIMUM;
import static org.tensorflow.lite.schema.BuiltinOperator.MUL;
import static org.tensorflow.lite.schema.BuiltinOperator.RELU;
import static org.tensorflow.lite.schema.BuiltinOperator.RELU6;
import static org.tensorflow.lite.schema.BuiltinOperator.RELU_N1_TO_1;
import static org.tensorflow.lite.schema.BuiltinOperator.RESHAPE;
import static org.tensorflow.lite.schema.BuiltinOperator.SPACE_TO_DEPTH;
import static org.tensorflow.lite.schema.BuiltinOperator.SQUEEZE;
import static org.tensorflow.lite.schema.BuiltinOperator.SUB;
import static org.tensorflow.lite.schema.BuiltinOperator.TANH;
import static org.tensorflow.lite.schema.BuiltinOperator.TRANSPOSE;
import static org.tensorflow.lite.schema.BuiltinOperator.TRANSPOSE_CONV;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.tensorflow.lite.schema.ActivationFunctionType;
import org.tensorflow.lite.schema.AddOptionsT;
import org.tensorflow.lite.schema.BuiltinOptions;
import org.tensorflow.lite.schema.BuiltinOptionsUnion;
import org.tensorflow.lite.schema.Conv2DOptionsT;
import org.tensorflow.lite.schema.DepthwiseConv2DOptionsT;
import org.tensorflow.lite.schema.FullyConnectedOptionsT;
import org.tensorflow.lite.schema.MulOptionsT;
import org.tensorflow.lite.schema.OperatorT;
import org.tensorflow.lite.schema.Padding;
import org.tensorflow.lite.schema.Pool2DOptionsT;
import org.tensorflow.lite.schema.ReducerOptionsT;
import org.tensorflow.lite.schema.SubGraphT;
import org.tensorflow.lite.schema.SubOptionsT;
import org.tensorflow.lite.schema.TensorT;
import org.tensorflow.lite.schema.TensorType;
import org.tensorflow.lite.schema.TransposeConvOptionsT;

/**
 * Float-graph rewrites done before the full-integer rewrite so that the int8 model runs inside XNNPACK (TFLite's
 * default CPU delegate) rather than falling back to TFLite's own int8 kernels, which splits the graph into many
 * delegate partitions with the non-delegated ops between them. The XNNPACK delegate of the bundled TFLite (2.20)
 * takes int8 CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD, SUB, MUL, MEAN, LOGISTIC, LEAKY_RELU, PAD, MAX_POOL_2D,
 * RESIZE_BILINEAR, CONCATENATION, RESHAPE and QUANTIZE/DEQUANTIZE, but not int8 RELU/RELU6, HARD_SWISH,
 * AVERAGE_POOL_2D or MAXIMUM (measured: {@link TfliteSession#delegation()}).
 *
 * <ul>
 *   <li>A standalone RELU / RELU6 / RELU_N1_TO_1 whose input comes only from a CONV_2D, DEPTHWISE_CONV_2D,
 *       FULLY_CONNECTED, ADD, SUB or MUL without fused activation is fused into that op (exact in float; in int8 the
 *       op's output then gets the activation's calibrated range, which is also finer). Always on; with
 *       {@code xnnpack} also into a TRANSPOSE_CONV (which then takes op version 4, TFLite 2.13 and later): XNNPACK
 *       has no int8 RELU, and a Keras {@code Conv2DTranspose(..., activation="relu")} converts to TRANSPOSE_CONV +
 *       RELU.</li>
 *   <li>A global AVERAGE_POOL_2D (window = input, 1x1 output) becomes MEAN over axes [1, 2] with keep_dims (exact).
 *       </li>
 *   <li>HARD_SWISH(x) = x * hard_sigmoid(x) becomes MUL(x, DEPTHWISE_CONV_2D 1x1(x; w = 1/6, b = 1/2, RELU_N1_TO_1))
 *       whose output {@code hard_sigmoid} is given the fixed range [0, 1] (int8 scale 1/255, zero point -128): int8
 *       saturation supplies the clamp at 0, so this is only done for ops that become int8, on 4-D tensors.</li>
 * </ul>
 * The last two only with {@code xnnpack} (not for the Edge TPU, which has its own AVERAGE_POOL_2D and HARD_SWISH).
 * Before all of these, and in the fp16 and dynamic-range writers too, MediaPipe's custom
 * {@code Convolution2DTransposeBias} becomes the builtin TRANSPOSE_CONV ({@link #customTransposeConvToBuiltin}). For
 * the Edge TPU, instead of the XNNPACK rewrites:
 * <ul>
 *   <li>LEAKY_RELU(x; alpha), which the Edge TPU does not run (its compiler would stop mapping at the first one),
 *       becomes MAXIMUM(x, MUL(x, alpha)) for 0 &lt;= alpha &lt;= 1 (exact in float: alpha x &gt;= x exactly where
 *       x &lt; 0). In int8 MAXIMUM needs one set of parameters for its inputs and output, so the MUL output and the
 *       result take x's calibrated range: no requantize op is added, and the result's int8 step is x's, coarser than
 *       the leaky output's own range would give where x reaches far below zero (wakeword-embed: cosine 0.9969
 *       against 0.9966 with LEAKY_RELU left in).</li>
 *   <li>PRELU(x; alpha) becomes RELU(x) + MUL(MINIMUM(x, 0), alpha) ({@link EdgeTpuRewrites#splitPrelu}).</li>
 * </ul>
 */
final class GraphRewrites {
    private GraphRewrites() { }

    /** What was rewritten. */
    record Counts(int fusedActivations, int globalPoolsToMean, int hardSwishSplit, int clampsToRange,
                  int saturatedInputs, int leakyReluSplit, int customToBuiltin, int hardSwishFloors, int preluSplit,
                  int addInputsNarrowed, int transposeConvToDepthToSpace) {
        /** With the range cuts made once the int8 ops are known. */
        Counts withRangeCuts(int saturated, int addInputs) {
            return new Counts(fusedActivations, globalPoolsToMean, hardSwishSplit, clampsToRange, saturated,
                    leakyReluSplit, customToBuiltin, hardSwishFloors, preluSplit, addInputs,
                    transposeConvToDepthToSpace);
        }

        Counts withCustomToBuiltin(int n) {
            return new Counts(fusedActivations, globalPoolsToMean, hardSwishSplit, clampsToRange, saturatedInputs,
                    leakyReluSplit, n, hardSwishFloors, preluSplit, addInputsNarrowed, transposeConvToDepthToSpace);
        }

        Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("constant_clamps_to_int8_range", clampsToRange);
            m.put("saturating_inputs_narrowed", saturatedInputs);
            m.put("hard_swish_inputs_floored", hardSwishFloors);
            m.put("add_inputs_narrowed", addInputsNarrowed);
            m.put("fused_activations", fusedActivations);
            m.put("global_average_pool_to_mean", globalPoolsToMean);
            m.put("hard_swish_to_dwconv_mul", hardSwishSplit);
            m.put("leaky_relu_to_mul_maximum", leakyReluSplit);
            m.put("prelu_to_relu_minimum_mul_add", preluSplit);
            m.put("custom_transpose_conv_to_builtin", customToBuiltin);
            m.put("transpose_conv_to_conv_depth_to_space", transposeConvToDepthToSpace);
            return m;
        }
    }

    /**
     * Rewrites the main subgraph of {@code m} in place. New tensors are appended (existing indices keep their
     * meaning); {@code ranges} (calibrated float ranges by tensor index) gets entries for new activations.
     *
     * @param keep ops that must not be touched (excluded by the user)
     */
    static Counts apply(TfliteModel m, Map<Integer, double[]> ranges, boolean xnnpack, Predicate<OperatorT> keep) {
        int fused = fuseActivations(m, keep, xnnpack);
        int floors = floorHardSwishInputs(m, ranges);
        int pools = 0;
        int hswish = 0;
        int clamps = 0;
        int leaky = 0;
        int prelu = 0;
        int depthToSpace = 0;
        if (xnnpack) {
            depthToSpace = TransposeConvRewrites.toConvDepthToSpace(m, ranges, keep);
            pools = globalPoolsToMean(m, keep);
            hswish = splitHardSwish(m, ranges, keep);
            clamps = clampsToRange(m, ranges, keep);
        } else {
            leaky = EdgeTpuRewrites.splitLeakyRelu(m, ranges, keep);
            prelu = EdgeTpuRewrites.splitPrelu(m, ranges, keep);
        }
        return new Counts(fused, pools, hswish, clamps, 0, leaky, 0, floors, prelu, 0, depthToSpace);
    }

    /** HARD_SWISH(x) = x * relu6(x + 3) / 6 is 0 for every x <= -3. */
    static final double HARD_SWISH_FLOOR = -3;

    /**
     * A tensor read only by HARD_SWISH ops, and not a graph output, gets its calibrated range cut from below two int8
     * steps under {@link #HARD_SWISH_FLOOR}: whatever lies further down gives the same output (also after
     * {@link #splitHardSwish}, whose hard sigmoid is 0 at -3), so the int8 steps go where the swish moves. Conv
     * outputs before a hard swish often reach far below (selfie-seg: to -20 and beyond). Cut at -3 exactly, the
     * saturated value dequantizes up to half a step above -3 and the hard sigmoid gives 1/255 instead of 0 there:
     * flat regions far below -3 then carry a constant offset (measured on selfie-seg's synthetic held-out images,
     * such as HappyFish.jpg: squared error 414 -> 11,719).
     */
    static int floorHardSwishInputs(TfliteModel m, Map<Integer, double[]> ranges) {
        SubGraphT g = m.main();
        int n = g.getTensors().length;
        int[] swishReaders = new int[n];
        int[] readers = new int[n];
        for (OperatorT op : g.getOperators()) {
            boolean swish = m.builtinCode(op) == HARD_SWISH;
            for (int i : op.getInputs()) {
                if (i < 0) continue;
                readers[i]++;
                if (swish) swishReaders[i]++;
            }
        }
        for (int o : g.getOutputs()) readers[o]++;
        int floored = 0;
        for (int t = 0; t < n; t++) {
            if (readers[t] == 0 || swishReaders[t] != readers[t]) continue;
            double[] r = ranges.get(t);
            if (r == null || m.isConstant(t) || m.tensor(t).getType() != TensorType.FLOAT32
                    || r[0] >= HARD_SWISH_FLOOR) {
                continue;
            }
            // two int8 steps of margin: the zero point's rounding moves the saturated value by up to half a step,
            // and at -3 + half a step the hard sigmoid is already one output step above 0
            double hi = Math.max(r[1], 0);
            double floor = (HARD_SWISH_FLOOR - 2 * hi / 255) / (1 - 2.0 / 255);
            if (r[0] >= floor) continue;
            ranges.put(t, new double[] {floor, hi});
            floored++;
        }
        return floored;
    }

    /**
     * Beyond these inputs LOGISTIC (int8 output scale 1/256, zero point -128) and TANH (1/128, 0) give their extreme
     * int8 output: sigmoid(x) rounds to 255/256 above ln(254.5 / 1.5) = 5.13 and to 0 below ln(0.5 / 255.5) = -6.24;
     * tanh(x) rounds to 127/128 above atanh(126.5/128) = 2.57 and to -1 below atanh(-127.5/128) = -3.12. The bounds
     * carry a margin of about one input step.
     */
    static final double[] LOGISTIC_INPUT = {-6.3, 5.2};
    static final double[] TANH_INPUT = {-3.15, 2.6};
    /** Ops whose output holds their first input's values, moved: an int8 one takes that input's parameters. */
    private static final java.util.Set<Integer> MOVES_VALUES = java.util.Set.of(DEPTH_TO_SPACE, SPACE_TO_DEPTH,
            RESHAPE, SQUEEZE, EXPAND_DIMS, TRANSPOSE);

    /**
     * A tensor read only by LOGISTIC (or only by TANH) ops that become int8 ({@code int8}; the full-integer rewrite
     * calls this once it knows), and not a graph output, gets its calibrated range
     * intersected with {@link #LOGISTIC_INPUT} ({@link #TANH_INPUT}): whatever lies beyond gives the same int8 output,
     * so the narrower range only buys resolution where the curve moves. Calibrated ranges of such tensors are often
     * wide (logits of a segmentation mask reach -1000; gates of squeeze-excite blocks 150), which in int8 leaves a
     * step of several units where the sigmoid turns from 0 to 1 in about 10. The same goes for a tensor that alone
     * feeds an int8 op that only moves values ({@link #MOVES_VALUES}) into such a tensor: that op's output takes its
     * input's parameters (a transposed conv written as a 1x1 conv and DEPTH_TO_SPACE before a mask's LOGISTIC).
     */
    static int narrowSaturatingInputs(TfliteModel m, Map<Integer, double[]> ranges, Predicate<OperatorT> int8) {
        SubGraphT g = m.main();
        int n = g.getTensors().length;
        int[] reader = new int[n];
        Arrays.fill(reader, Integer.MIN_VALUE);
        for (OperatorT op : g.getOperators()) {
            int code = m.builtinCode(op);
            boolean saturating = (code == LOGISTIC || code == TANH) && int8.test(op);
            for (int i : op.getInputs()) {
                if (i < 0) continue;
                int r = saturating ? code : -1;
                reader[i] = reader[i] == Integer.MIN_VALUE || reader[i] == r ? r : -1;
            }
        }
        for (int o : g.getOutputs()) reader[o] = -1;
        // through ops that only move values (their int8 output takes the input's parameters), back to the producer
        int[] uses = consumers(m);
        OperatorT[] ops = g.getOperators();
        for (int k = ops.length - 1; k >= 0; k--) {
            OperatorT op = ops[k];
            if (!MOVES_VALUES.contains(m.builtinCode(op)) || !int8.test(op) || op.getOutputs().length != 1) continue;
            int in = op.getInputs().length > 0 ? op.getInputs()[0] : -1;
            int r = reader[op.getOutputs()[0]];
            if (in >= 0 && uses[in] == 1 && (r == LOGISTIC || r == TANH)) reader[in] = r;
        }
        int narrowed = 0;
        for (int t = 0; t < n; t++) {
            if (reader[t] != LOGISTIC && reader[t] != TANH) continue;
            double[] r = ranges.get(t);
            if (r == null || m.isConstant(t) || m.tensor(t).getType() != TensorType.FLOAT32) continue;
            double[] bound = reader[t] == LOGISTIC ? LOGISTIC_INPUT : TANH_INPUT;
            if (r[0] >= bound[0] && r[1] <= bound[1]) continue;
            // both ends clamped into the bound (a range wholly beyond it shrinks to its edge; 0 is added later)
            ranges.put(t, new double[] {Math.min(Math.max(r[0], bound[0]), bound[1]),
                    Math.max(Math.min(r[1], bound[1]), bound[0])});
            narrowed++;
        }
        return narrowed;
    }

    /**
     * An int8 ADD saturates its output at the ends of the output's int8 range (its fused RELU / RELU6 clamps within
     * it), so an input {@code a} whose partner {@code b} spans [bLo, bHi] and whose output spans [oLo, oHi] (each
     * widened to include 0, as int8 ranges are) gives the same int8 output for every {@code a} below
     * {@code oLo - bHi}, and for every {@code a} above {@code oHi - bLo}. A tensor read only by ADD ops that become
     * int8, and not a graph output, gets its calibrated range intersected with that span (the union of the spans where
     * several ADDs read it), with two int8 steps of each partner and output as margin for their zero points' rounding.
     * An ADD whose partner could be cut too (read only by ADDs itself) leaves both alone: each span assumes the
     * other's range. Conv outputs before an ADD with RELU6 reach far below what the RELU6 passes: pose-lite's
     * segmentation branch adds 1x1 conv outputs down to -58 to a skip path in [0, 6], where every value under -6
     * gives 0; cut to [-6.1, 6.1] their int8 step is 5x finer.
     */
    static int narrowAddInputs(TfliteModel m, Map<Integer, double[]> ranges, Predicate<OperatorT> int8) {
        SubGraphT g = m.main();
        int n = g.getTensors().length;
        int[] readers = new int[n];
        int[] addReaders = new int[n];
        List<OperatorT> adds = new ArrayList<>();
        for (OperatorT op : g.getOperators()) {
            boolean add = m.builtinCode(op) == ADD && int8.test(op) && op.getInputs().length == 2
                    && op.getOutputs().length == 1;
            if (add) adds.add(op);
            for (int i : op.getInputs()) {
                if (i < 0) continue;
                readers[i]++;
                if (add) addReaders[i]++;
            }
        }
        for (int o : g.getOutputs()) readers[o]++;
        java.util.function.IntPredicate candidate = t -> readers[t] > 0 && addReaders[t] == readers[t]
                && !m.isConstant(t) && m.tensor(t).getType() == TensorType.FLOAT32 && ranges.get(t) != null;
        Map<Integer, double[]> spans = new HashMap<>();
        java.util.Set<Integer> blocked = new java.util.HashSet<>();
        for (OperatorT op : adds) {
            int[] in = op.getInputs();
            double[] out = ranges.get(op.getOutputs()[0]);
            for (int k = 0; k < 2; k++) {
                int a = in[k];
                int b = in[1 - k];
                if (a < 0 || !candidate.test(a)) continue;
                double[] rb = b < 0 ? null : ranges.get(b);
                if (out == null || rb == null || a == b || candidate.test(b)) {
                    blocked.add(a);
                    continue;
                }
                double bLo = Math.min(rb[0], 0);
                double bHi = Math.max(rb[1], 0);
                double oLo = Math.min(out[0], 0);
                double oHi = Math.max(out[1], 0);
                double margin = 2 * ((bHi - bLo) + (oHi - oLo)) / 255;
                double[] span = {oLo - bHi - margin, oHi - bLo + margin};
                spans.merge(a, span, (x, y) -> new double[] {Math.min(x[0], y[0]), Math.max(x[1], y[1])});
            }
        }
        int narrowed = 0;
        for (Map.Entry<Integer, double[]> e : spans.entrySet()) {
            if (blocked.contains(e.getKey())) continue;
            double[] r = ranges.get(e.getKey());
            double[] span = e.getValue();
            if (r[0] >= span[0] && r[1] <= span[1]) continue;
            ranges.put(e.getKey(), new double[] {Math.min(Math.max(r[0], span[0]), span[1]),
                    Math.max(Math.min(r[1], span[1]), span[0])});
            narrowed++;
        }
        return narrowed;
    }

    private static int[] consumers(TfliteModel m) {
        SubGraphT g = m.main();
        int[] n = new int[g.getTensors().length];
        for (OperatorT op : g.getOperators()) for (int i : op.getInputs()) if (i >= 0) n[i]++;
        for (int o : g.getOutputs()) n[o]++;
        return n;
    }

    /** The fused activation that a standalone RELU, RELU6 or RELU_N1_TO_1 op computes, or -1 for other ops. */
    static byte activationOf(int code) {
        return switch (code) {
            case RELU -> ActivationFunctionType.RELU;
            case RELU6 -> ActivationFunctionType.RELU6;
            case RELU_N1_TO_1 -> ActivationFunctionType.RELU_N1_TO_1;
            default -> -1;
        };
    }

    /** The options object of an op that can take a fused activation, or null. */
    private static Object fusableOptions(TfliteModel m, OperatorT op) {
        BuiltinOptionsUnion u = op.getBuiltinOptions();
        Object v = u == null ? null : u.getValue();
        return switch (m.builtinCode(op)) {
            case CONV_2D -> v instanceof Conv2DOptionsT ? v : null;
            case DEPTHWISE_CONV_2D -> v instanceof DepthwiseConv2DOptionsT ? v : null;
            case FULLY_CONNECTED -> v instanceof FullyConnectedOptionsT ? v : null;
            case ADD -> v instanceof AddOptionsT ? v : null;
            case SUB -> v instanceof SubOptionsT ? v : null;
            case MUL -> v instanceof MulOptionsT ? v : null;
            case TRANSPOSE_CONV -> v instanceof TransposeConvOptionsT ? v : null;
            default -> null;
        };
    }

    private static byte fusedActivation(Object o) {
        if (o instanceof Conv2DOptionsT c) return c.getFusedActivationFunction();
        if (o instanceof DepthwiseConv2DOptionsT c) return c.getFusedActivationFunction();
        if (o instanceof FullyConnectedOptionsT c) return c.getFusedActivationFunction();
        if (o instanceof AddOptionsT c) return c.getFusedActivationFunction();
        if (o instanceof SubOptionsT c) return c.getFusedActivationFunction();
        if (o instanceof MulOptionsT c) return c.getFusedActivationFunction();
        if (o instanceof TransposeConvOptionsT c) return c.getFusedActivationFunction();
        return -1;
    }

    private static void setFusedActivation(Object o, byte a) {
        if (o instanceof Conv2DOptionsT c) c.setFusedActivationFunction(a);
        else if (o instanceof DepthwiseConv2DOptionsT c) c.setFusedActivationFunction(a);
        else if (o instanceof FullyConnectedOptionsT c) c.setFusedActivationFunction(a);
        else if (o instanceof AddOptionsT c) c.setFusedActivationFunction(a);
        else if (o instanceof SubOptionsT c) c.setFusedActivationFunction(a);
        else if (o instanceof MulOptionsT c) c.setFusedActivationFunction(a);
        else if (o instanceof TransposeConvOptionsT c) c.setFusedActivationFunction(a);
    }

    /** For each tensor of the graph, the index of the operator that writes it (-1: none, e.g. inputs, constants). */
    private static int[] producers(SubGraphT g) {
        OperatorT[] ops = g.getOperators();
        int[] producer = new int[g.getTensors().length];
        Arrays.fill(producer, -1);
        for (int i = 0; i < ops.length; i++) for (int o : ops[i].getOutputs()) producer[o] = i;
        return producer;
    }

    /** Removes the operators marked in {@code drop}, keeping the order of the rest. */
    private static void dropOperators(SubGraphT g, boolean[] drop) {
        OperatorT[] ops = g.getOperators();
        List<OperatorT> kept = new ArrayList<>();
        for (int i = 0; i < ops.length; i++) if (!drop[i]) kept.add(ops[i]);
        g.setOperators(kept.toArray(new OperatorT[0]));
    }

    /** The op version of a TRANSPOSE_CONV with a fused activation (tensorflow/lite/tools/versioning). */
    static final int TRANSPOSE_CONV_FUSED_VERSION = 4;

    private static int fuseActivations(TfliteModel m, Predicate<OperatorT> keep, boolean transposeConv) {
        SubGraphT g = m.main();
        OperatorT[] ops = g.getOperators();
        int[] uses = consumers(m);
        int[] producer = producers(g);
        boolean[] drop = new boolean[ops.length];
        int n = 0;
        for (int i = 0; i < ops.length; i++) {
            OperatorT act = ops[i];
            byte a = activationOf(m.builtinCode(act));
            if (a < 0 || act.getInputs().length != 1 || act.getOutputs().length != 1 || keep.test(act)) continue;
            int t = act.getInputs()[0];
            int p = producer[t];
            if (p < 0 || uses[t] != 1 || ops[p].getOutputs().length != 1 || keep.test(ops[p])) continue;
            if (m.tensor(t).getType() != TensorType.FLOAT32) continue;
            Object opts = fusableOptions(m, ops[p]);
            if (opts instanceof TransposeConvOptionsT && !transposeConv) continue;
            if (opts == null || fusedActivation(opts) != ActivationFunctionType.NONE) continue;
            setFusedActivation(opts, a);
            if (opts instanceof TransposeConvOptionsT) {
                ops[p].setOpcodeIndex(m.opCodeIndex(TRANSPOSE_CONV, TRANSPOSE_CONV_FUSED_VERSION));
            }
            ops[p].setOutputs(new int[] {act.getOutputs()[0]});
            drop[i] = true;
            n++;
        }
        if (n > 0) dropOperators(g, drop);
        return n;
    }

    private static int globalPoolsToMean(TfliteModel m, Predicate<OperatorT> keep) {
        int axes = -1;
        int n = 0;
        for (OperatorT op : m.main().getOperators()) {
            if (m.builtinCode(op) != AVERAGE_POOL_2D || keep.test(op)) continue;
            if (op.getInputs().length != 1 || op.getOutputs().length != 1) continue;
            Object v = op.getBuiltinOptions() == null ? null : op.getBuiltinOptions().getValue();
            if (!(v instanceof Pool2DOptionsT p) || p.getFusedActivationFunction() != ActivationFunctionType.NONE) {
                continue;
            }
            int[] in = m.tensor(op.getInputs()[0]).getShape();
            int[] out = m.tensor(op.getOutputs()[0]).getShape();
            if (in.length != 4 || out.length != 4 || out[1] != 1 || out[2] != 1) continue;
            if (p.getFilterHeight() != in[1] || p.getFilterWidth() != in[2]) continue;
            if (m.tensor(op.getInputs()[0]).getType() != TensorType.FLOAT32) continue;
            if (axes < 0) {
                int buf = m.addBuffer(TfliteModel.intBytes(new int[] {1, 2}));
                axes = m.addTensor(TfliteModel.newTensor("global_pool_axes", TensorType.INT32, new int[] {2},
                        null, buf, null));
            }
            op.setInputs(new int[] {op.getInputs()[0], axes});
            op.setOpcodeIndex(m.opCodeIndex(MEAN, 1));
            ReducerOptionsT r = new ReducerOptionsT();
            r.setKeepDims(true);
            BuiltinOptionsUnion u = new BuiltinOptionsUnion();
            u.setType(BuiltinOptions.ReducerOptions);
            u.setValue(r);
            op.setBuiltinOptions(u);
            n++;
        }
        return n;
    }

    /** Producers whose int8 kernel takes any output parameters (so the clamp can move into them). */
    private static final java.util.Set<Integer> RESCALING = java.util.Set.of(CONV_2D, DEPTHWISE_CONV_2D,
            FULLY_CONNECTED, ADD, SUB, MUL, LEAKY_RELU);

    /**
     * MAXIMUM(x, c) with a constant c <= 0 (MINIMUM with c >= 0) right after an op that rescales: the op writes the
     * clamp's output directly, whose calibrated range starts (ends) at c, so int8 saturation does the clamp and the
     * MAXIMUM disappears (XNNPACK has no int8 MAXIMUM with a constant; TFLite's kernel would split the graph). Within
     * half an int8 step of the float result; int8 only.
     */
    private static int clampsToRange(TfliteModel m, Map<Integer, double[]> ranges, Predicate<OperatorT> keep) {
        SubGraphT g = m.main();
        OperatorT[] ops = g.getOperators();
        int[] uses = consumers(m);
        int[] producer = producers(g);
        boolean[] drop = new boolean[ops.length];
        int n = 0;
        for (int i = 0; i < ops.length; i++) {
            OperatorT op = ops[i];
            int code = m.builtinCode(op);
            if (code != MAXIMUM && code != MINIMUM || keep.test(op) || op.getInputs().length != 2
                    || op.getOutputs().length != 1) continue;
            int x = op.getInputs()[0];
            int c = op.getInputs()[1];
            if (m.isConstant(x)) {
                int t = x;
                x = c;
                c = t;
            }
            if (m.isConstant(x) || !m.isConstant(c) || m.tensor(c).getType() != TensorType.FLOAT32) continue;
            float[] cv = m.floats(c);
            if (cv.length == 0) continue;
            boolean same = true;
            for (float v : cv) same &= v == cv[0];
            if (!same || (code == MAXIMUM ? cv[0] > 0 : cv[0] < 0)) continue;
            int out = op.getOutputs()[0];
            double[] r = ranges.get(out);
            int p = producer[x];
            if (r == null || p < 0 || uses[x] != 1 || keep.test(ops[p]) || ops[p].getOutputs().length != 1
                    || !RESCALING.contains(m.builtinCode(ops[p]))
                    || m.tensor(x).getType() != TensorType.FLOAT32) continue;
            double lo = code == MAXIMUM ? Math.max(r[0], cv[0]) : r[0];
            double hi = code == MINIMUM ? Math.min(r[1], cv[0]) : r[1];
            ranges.put(out, new double[] {lo, hi});
            ops[p].setOutputs(new int[] {out});
            drop[i] = true;
            n++;
        }
        if (n > 0) dropOperators(g, drop);
        return n;
    }

    private static int splitHardSwish(TfliteModel m, Map<Integer, double[]> ranges, Predicate<OperatorT> keep) {
        SubGraphT g = m.main();
        List<OperatorT> out = new ArrayList<>();
        int n = 0;
        for (OperatorT op : g.getOperators()) {
            if (m.builtinCode(op) != HARD_SWISH || keep.test(op) || op.getInputs().length != 1
                    || op.getOutputs().length != 1) {
                out.add(op);
                continue;
            }
            int x = op.getInputs()[0];
            int y = op.getOutputs()[0];
            TensorT xt = m.tensor(x);
            int[] shape = xt.getShape();
            if (shape.length != 4 || xt.getType() != TensorType.FLOAT32 || m.isConstant(x)
                    || !ranges.containsKey(x) || !ranges.containsKey(y)) {
                out.add(op);
                continue;
            }
            int c = shape[3];
            float[] w = new float[c];
            float[] b = new float[c];
            Arrays.fill(w, 1f / 6f);
            Arrays.fill(b, 0.5f);
            String name = m.tensor(y).getName();
            int wt = m.addTensor(TfliteModel.newTensor(name + "/hard_sigmoid_weights", TensorType.FLOAT32,
                    new int[] {1, 1, 1, c}, null, m.addBuffer(TfliteModel.floatBytes(w)), null));
            int bt = m.addTensor(TfliteModel.newTensor(name + "/hard_sigmoid_bias", TensorType.FLOAT32,
                    new int[] {c}, null, m.addBuffer(TfliteModel.floatBytes(b)), null));
            int s = m.addTensor(TfliteModel.newTensor(name + "/hard_sigmoid", TensorType.FLOAT32, shape,
                    xt.getShapeSignature(), 0, null));
            ranges.put(s, new double[] {0, 1});

            DepthwiseConv2DOptionsT d = new DepthwiseConv2DOptionsT();
            d.setPadding(Padding.VALID);
            d.setStrideH(1);
            d.setStrideW(1);
            d.setDepthMultiplier(1);
            d.setDilationHFactor(1);
            d.setDilationWFactor(1);
            d.setFusedActivationFunction(ActivationFunctionType.RELU_N1_TO_1);
            BuiltinOptionsUnion du = new BuiltinOptionsUnion();
            du.setType(BuiltinOptions.DepthwiseConv2DOptions);
            du.setValue(d);
            OperatorT dw = new OperatorT();
            dw.setOpcodeIndex(m.opCodeIndex(DEPTHWISE_CONV_2D, 1));
            dw.setInputs(new int[] {x, wt, bt});
            dw.setOutputs(new int[] {s});
            dw.setBuiltinOptions(du);

            out.add(dw);
            out.add(mul(m, x, s, y));
            n++;
        }
        if (n > 0) g.setOperators(out.toArray(new OperatorT[0]));
        return n;
    }

    /** MUL(a, b) -> out, no fused activation, version 1. */
    static OperatorT mul(TfliteModel m, int a, int b, int out) {
        MulOptionsT o = new MulOptionsT();
        o.setFusedActivationFunction(ActivationFunctionType.NONE);
        return builtin(m, MUL, BuiltinOptions.MulOptions, o, new int[] {a, b}, out);
    }

    /** A version-1 builtin op with these options, inputs and single output. */
    static OperatorT builtin(TfliteModel m, int code, byte optionsType, Object options, int[] inputs,
                                     int output) {
        BuiltinOptionsUnion u = new BuiltinOptionsUnion();
        u.setType(optionsType);
        u.setValue(options);
        OperatorT op = new OperatorT();
        op.setOpcodeIndex(m.opCodeIndex(code, 1));
        op.setInputs(inputs);
        op.setOutputs(new int[] {output});
        op.setBuiltinOptions(u);
        return op;
    }

    /**
     * MediaPipe's custom {@code Convolution2DTransposeBias} (see {@link CustomOps}) as the builtin TRANSPOSE_CONV
     * (version 3: with a bias input), which every TFLite runtime has (no custom op to register), XNNPACK runs, and the
     * Edge TPU maps: inputs [output shape, weights OHWI, input, bias], the custom options' padding and strides. Only
     * where the weights and bias are float constants, the output shape is static, the options parse (12 bytes:
     * padding 1 = SAME or 2 = VALID, stride_w, stride_h) and the padding is unambiguous ({@link #samePadding}); others
     * stay as they are. Weights and bias may be float32 constants or float16 ones behind DEQUANTIZE. The same function in
     * float (TFLite pads a transposed convolution as the custom kernel does).
     *
     * @return the rewritten ops (the same objects, now builtin)
     */
    static List<OperatorT> customTransposeConvToBuiltin(TfliteModel m, Predicate<OperatorT> keep) {
        SubGraphT g = m.main();
        List<OperatorT> converted = new ArrayList<>();
        OperatorT[] producers = new OperatorT[g.getTensors().length];
        for (OperatorT op : g.getOperators()) for (int o : op.getOutputs()) if (o >= 0) producers[o] = op;
        for (OperatorT op : g.getOperators()) {
            if (!CustomOps.TRANSPOSE_CONV_BIAS.equals(m.opName(op)) || keep.test(op) || op.getInputs().length != 3
                    || op.getOutputs().length != 1) {
                continue;
            }
            int[] in = op.getInputs();
            int[] options = transposeConvOptions(op.getCustomOptions());
            int[] outShape = m.tensor(op.getOutputs()[0]).getShape();
            boolean staticOut = outShape != null && outShape.length == 4;
            for (int d = 0; staticOut && d < 4; d++) staticOut = outShape[d] > 0;
            if (options == null || !staticOut || !floatConstant(m, in[1], producers)
                    || !floatConstant(m, in[2], producers)
                    || !samePadding(m.tensor(in[0]).getShape(), m.tensor(in[1]).getShape(), outShape, options)) {
                continue;
            }
            String name = m.tensor(op.getOutputs()[0]).getName();
            java.nio.ByteBuffer shape = java.nio.ByteBuffer.allocate(16).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            for (int d : outShape) shape.putInt(d);
            int shapeTensor = m.addTensor(TfliteModel.newTensor(name + "/output_shape", TensorType.INT32,
                    new int[] {4}, null, m.addBuffer(shape.array()), null));
            TransposeConvOptionsT t = new TransposeConvOptionsT();
            t.setPadding(options[0] == 1 ? Padding.SAME : Padding.VALID);
            t.setStrideW(options[1]);
            t.setStrideH(options[2]);
            t.setFusedActivationFunction(ActivationFunctionType.NONE);
            BuiltinOptionsUnion u = new BuiltinOptionsUnion();
            u.setType(BuiltinOptions.TransposeConvOptions);
            u.setValue(t);
            op.setOpcodeIndex(m.opCodeIndex(TRANSPOSE_CONV, 3));
            op.setInputs(new int[] {shapeTensor, in[1], in[0], in[2]});
            op.setBuiltinOptions(u);
            op.setCustomOptions(null);
            converted.add(op);
        }
        return converted;
    }

    /**
     * Whether the builtin pads as the custom kernel does: the output size the custom kernel gives (SAME: input times
     * stride; VALID: (input - 1) * stride + kernel), and for SAME a total padding that splits evenly (TFLite puts an odd
     * one at the end, the custom kernel's formula does not say), on static NHWC shapes with matching channels.
     */
    private static boolean samePadding(int[] in, int[] w, int[] out, int[] options) {
        if (in == null || w == null || in.length != 4 || w.length != 4 || w[3] != in[3] || w[0] != out[3]
                || in[0] != out[0]) {
            return false;
        }
        int[] strides = {options[2], options[1]}; // h, w
        for (int d = 0; d < 2; d++) {
            int i = in[1 + d];
            int k = w[1 + d];
            int s = strides[d];
            int o = out[1 + d];
            if (i <= 0) return false;
            if (options[0] == 2) {
                if (o != (i - 1) * s + k) return false;
            } else if (o != i * s || ((i - 1) * s + k - o) < 0 || ((i - 1) * s + k - o) % 2 != 0) {
                return false;
            }
        }
        return true;
    }

    /** A float32 constant, or the float32 output of a DEQUANTIZE of a float16 constant (MediaPipe's weights). */
    private static boolean floatConstant(TfliteModel m, int t, OperatorT[] producers) {
        if (t < 0 || m.tensor(t).getType() != TensorType.FLOAT32) return false;
        if (m.isConstant(t)) return true;
        OperatorT p = producers[t];
        return p != null && m.builtinCode(p) == DEQUANTIZE && p.getInputs().length == 1 && m.isConstant(p.getInputs()[0])
                && m.tensor(p.getInputs()[0]).getType() == TensorType.FLOAT16;
    }

    /** padding (1 SAME, 2 VALID), stride_w, stride_h of the custom op, or null when they do not parse. */
    private static int[] transposeConvOptions(int[] bytes) {
        if (bytes == null || bytes.length != 12) return null;
        int[] v = new int[3];
        for (int i = 0; i < 3; i++) {
            v[i] = (bytes[4 * i] & 0xFF) | (bytes[4 * i + 1] & 0xFF) << 8 | (bytes[4 * i + 2] & 0xFF) << 16
                    | (bytes[4 * i + 3] & 0xFF) << 24;
        }
        return (v[0] == 1 || v[0] == 2) && v[1] >= 1 && v[2] >= 1 ? v : null;
    }
}
