package io.quantbridge.tflite;

import static org.tensorflow.lite.schema.BuiltinOperator.CONV_2D;
import static org.tensorflow.lite.schema.BuiltinOperator.DEPTH_TO_SPACE;
import static org.tensorflow.lite.schema.BuiltinOperator.DEQUANTIZE;
import static org.tensorflow.lite.schema.BuiltinOperator.TRANSPOSE_CONV;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.tensorflow.lite.schema.ActivationFunctionType;
import org.tensorflow.lite.schema.BuiltinOptions;
import org.tensorflow.lite.schema.Conv2DOptionsT;
import org.tensorflow.lite.schema.DepthToSpaceOptionsT;
import org.tensorflow.lite.schema.OperatorT;
import org.tensorflow.lite.schema.Padding;
import org.tensorflow.lite.schema.SubGraphT;
import org.tensorflow.lite.schema.TensorT;
import org.tensorflow.lite.schema.TensorType;
import org.tensorflow.lite.schema.TransposeConvOptionsT;

/**
 * A TRANSPOSE_CONV whose kernel equals its stride (s x s, the same on both axes) writes non-overlapping s x s blocks
 * and pads nothing (the output is the input times s, under SAME and VALID alike): output {@code [s*y + dy, s*x + dx,
 * o] = b[o] + sum_i in[y, x, i] * W[o, dy, dx, i]}. That is channel {@code (dy*s + dx)*O + o} of a 1x1 CONV_2D with
 * {@code s*s*O} outputs at {@code (y, x)}, which DEPTH_TO_SPACE(s) puts in place: the same function in float, and two
 * ops XNNPACK runs in float and int8. XNNPACK's own float deconvolution took 0.75 ms of selfie-seg's 2.0 ms for its
 * mask upsampling (16 channels to 1 at 256 x 256), and TFLite's int8 TRANSPOSE_CONV outside XNNPACK was slower still
 * (see {@link IntegerQuantizer}); as a CONV_2D the mask upsampling becomes int8 on the CPU target too.
 */
final class TransposeConvRewrites {
    private TransposeConvRewrites() { }

    /**
     * Rewrites, in the main subgraph, every TRANSPOSE_CONV that {@code keep} leaves alone and that has float constant
     * weights {@code [O, s, s, I]} and bias, if any (float32, or float16 behind DEQUANTIZE; written as float32),
     * stride s on both axes (s >= 2), a constant output shape, and static NHWC float32 input {@code [N, H, W, I]} and
     * output {@code [N, s*H, s*W, O]}. The 1x1 conv's output gets the transposed conv's calibrated range (the block
     * rearrangement moves values, it does not change them) and its fused activation, or the activation of a RELU,
     * RELU6 or RELU_N1_TO_1 that alone reads its output (which then goes, and the conv gets that op's range).
     *
     * @return how many were rewritten
     */
    static int toConvDepthToSpace(TfliteModel m, Map<Integer, double[]> ranges, Predicate<OperatorT> keep) {
        SubGraphT g = m.main();
        OperatorT[] ops = g.getOperators();
        OperatorT[] producers = new OperatorT[g.getTensors().length];
        for (OperatorT op : ops) for (int o : op.getOutputs()) if (o >= 0) producers[o] = op;
        int[] readers = new int[g.getTensors().length];
        OperatorT[] reader = new OperatorT[readers.length];
        for (OperatorT op : ops) {
            for (int i : op.getInputs()) {
                if (i < 0) continue;
                readers[i]++;
                reader[i] = op;
            }
        }
        for (int o : g.getOutputs()) readers[o]++;
        java.util.Set<OperatorT> absorbed = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        List<OperatorT> out = new ArrayList<>();
        int n = 0;
        for (OperatorT op : ops) {
            if (absorbed.contains(op)) continue;
            int s = blockSize(m, op, producers);
            if (s < 2 || keep.test(op)) {
                out.add(op);
                continue;
            }
            int[] ins = op.getInputs();
            TransposeConvOptionsT options = (TransposeConvOptionsT) op.getBuiltinOptions().getValue();
            byte activation = options.getFusedActivationFunction();
            int x = ins[2];
            int y = op.getOutputs()[0];
            // a RELU / RELU6 / RELU_N1_TO_1 that alone reads the output goes into the conv (XNNPACK has no int8 RELU)
            OperatorT next = readers[y] == 1 ? reader[y] : null;
            byte fusable = next == null ? -1 : GraphRewrites.activationOf(m.builtinCode(next));
            if (activation == ActivationFunctionType.NONE && fusable >= 0 && !keep.test(next)
                    && next.getInputs().length == 1 && next.getOutputs().length == 1) {
                activation = fusable;
                y = next.getOutputs()[0];
                absorbed.add(next);
            }
            int[] inShape = m.tensor(x).getShape();
            int[] wShape = m.tensor(ins[1]).getShape();
            int outCh = wShape[0];
            int inCh = wShape[3];
            int convCh = s * s * outCh;
            float[] w = constantValues(m, ins[1], producers);
            float[] b = ins.length > 3 && ins[3] >= 0 ? constantValues(m, ins[3], producers) : new float[outCh];
            float[] cw = new float[convCh * inCh];
            float[] cb = new float[convCh];
            for (int o = 0; o < outCh; o++) {
                for (int dy = 0; dy < s; dy++) {
                    for (int dx = 0; dx < s; dx++) {
                        int c = (dy * s + dx) * outCh + o;
                        cb[c] = b[o];
                        System.arraycopy(w, ((o * s + dy) * s + dx) * inCh, cw, c * inCh, inCh);
                    }
                }
            }
            String name = m.tensor(y).getName();
            int wt = m.addTensor(TfliteModel.newTensor(name + "/space_to_depth_weights", TensorType.FLOAT32,
                    new int[] {convCh, 1, 1, inCh}, null, m.addBuffer(TfliteModel.floatBytes(cw)), null));
            int bt = m.addTensor(TfliteModel.newTensor(name + "/space_to_depth_bias", TensorType.FLOAT32,
                    new int[] {convCh}, null, m.addBuffer(TfliteModel.floatBytes(cb)), null));
            int[] sig = m.tensor(x).getShapeSignature();
            int batch = sig == null || sig.length == 0 ? inShape[0] : sig[0];
            int blocks = m.addTensor(TfliteModel.newTensor(name + "/blocks", TensorType.FLOAT32,
                    new int[] {inShape[0], inShape[1], inShape[2], convCh},
                    new int[] {batch, inShape[1], inShape[2], convCh}, 0, null));
            double[] r = ranges.get(y);
            if (r != null) ranges.put(blocks, r.clone());

            Conv2DOptionsT c = new Conv2DOptionsT();
            c.setPadding(Padding.VALID);
            c.setStrideH(1);
            c.setStrideW(1);
            c.setDilationHFactor(1);
            c.setDilationWFactor(1);
            c.setFusedActivationFunction(activation);
            OperatorT conv = GraphRewrites.builtin(m, CONV_2D, BuiltinOptions.Conv2DOptions, c,
                    new int[] {x, wt, bt}, blocks);
            DepthToSpaceOptionsT d = new DepthToSpaceOptionsT();
            d.setBlockSize(s);
            out.add(conv);
            out.add(GraphRewrites.builtin(m, DEPTH_TO_SPACE, BuiltinOptions.DepthToSpaceOptions, d,
                    new int[] {blocks}, y));
            n++;
        }
        if (n > 0) g.setOperators(out.toArray(new OperatorT[0]));
        return n;
    }

    /** The stride s of a TRANSPOSE_CONV this rewrite takes, or 0. */
    private static int blockSize(TfliteModel m, OperatorT op, OperatorT[] producers) {
        if (m.builtinCode(op) != TRANSPOSE_CONV || op.getOutputs().length != 1 || op.getInputs().length < 3) return 0;
        Object v = op.getBuiltinOptions() == null ? null : op.getBuiltinOptions().getValue();
        if (!(v instanceof TransposeConvOptionsT o) || o.getStrideH() != o.getStrideW()) return 0;
        int s = o.getStrideH();
        byte act = o.getFusedActivationFunction();
        if (act != ActivationFunctionType.NONE && act != ActivationFunctionType.RELU
                && act != ActivationFunctionType.RELU6 && act != ActivationFunctionType.RELU_N1_TO_1) {
            return 0;
        }
        int[] ins = op.getInputs();
        int y = op.getOutputs()[0];
        if (ins[0] < 0 || !m.isConstant(ins[0]) || ins[1] < 0 || constantValues(m, ins[1], producers) == null
                || (ins.length > 3 && ins[3] >= 0 && constantValues(m, ins[3], producers) == null)) {
            return 0;
        }
        TensorT xt = m.tensor(ins[2]);
        TensorT yt = m.tensor(y);
        int[] in = xt.getShape();
        int[] w = m.tensor(ins[1]).getShape();
        int[] out = yt.getShape();
        if (xt.getType() != TensorType.FLOAT32 || yt.getType() != TensorType.FLOAT32 || m.isConstant(ins[2])
                || !staticRank4(in) || !staticRank4(out) || !staticRank4(w) || !staticSignature(xt)
                || !staticSignature(yt)) {
            return 0;
        }
        int[] declared = m.ints(ins[0]);
        boolean ok = w[1] == s && w[2] == s && w[3] == in[3] && w[0] == out[3] && out[0] == in[0]
                && out[1] == in[1] * s && out[2] == in[2] * s && java.util.Arrays.equals(declared, out);
        if (ok && ins.length > 3 && ins[3] >= 0) ok = constantValues(m, ins[3], producers).length == w[0];
        return ok ? s : 0;
    }

    /**
     * The values of a float32 constant, or of the float32 output of a DEQUANTIZE of a float16 constant (MediaPipe's
     * weights, which the dynamic-range writer keeps); null for anything else.
     */
    private static float[] constantValues(TfliteModel m, int t, OperatorT[] producers) {
        if (t < 0 || m.tensor(t).getType() != TensorType.FLOAT32) return null;
        if (m.isConstant(t)) return m.floats(t);
        OperatorT p = producers[t];
        if (p == null || m.builtinCode(p) != DEQUANTIZE || p.getInputs().length != 1) return null;
        int c = p.getInputs()[0];
        return c >= 0 && m.isConstant(c) && m.tensor(c).getType() == TensorType.FLOAT16 ? m.floats(c) : null;
    }

    private static boolean staticRank4(int[] shape) {
        if (shape == null || shape.length != 4) return false;
        for (int d : shape) if (d <= 0) return false;
        return true;
    }

    /** No dynamic dimension but the batch (a 1x1 conv and DEPTH_TO_SPACE take any batch). */
    private static boolean staticSignature(TensorT t) {
        int[] sig = t.getShapeSignature();
        if (sig == null || sig.length == 0) return true;
        for (int d = 1; d < sig.length; d++) if (sig[d] < 0) return false;
        return true;
    }
}
