package io.quantbridge.onnx;

import io.quantbridge.onnx.proto.Onnx.NodeProto;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * How far a convolutional model shrinks an image input before it grows it back: the largest product of Conv and
 * pooling strides from the input to any tensor, per spatial axis (height, width). A detector or segmenter whose neck
 * adds upsampled deep maps to shallow ones (PaddleOCR's DBNet, FPNs, U-Nets) needs a height and width that this
 * divides, or the maps differ by one row and an Add fails deep in the graph.
 *
 * <p>The walk follows the input through operators that keep the spatial axes (convolutions, pooling, element-wise
 * operators, normalizations, Concat, Pad, Resize, a Transpose between NCHW and NHWC) and stops at those that do not
 * (global pooling, Reshape, Flatten, MatMul...). A ConvTranspose divides by its strides, a Resize by constant scales.
 */
public final class SpatialStride {
    private SpatialStride() { }

    private static final Set<String> KEEP = Set.of("Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Mean", "Pow",
            "Relu", "LeakyRelu", "PRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Clip", "Elu", "Selu",
            "Gelu", "Mish", "Softplus", "Identity", "Dropout", "Cast", "Abs", "Neg", "Exp", "Log", "Sqrt", "Erf",
            "BatchNormalization", "InstanceNormalization", "Concat", "Pad", "Split", "Slice", "QuantizeLinear",
            "DequantizeLinear", "Upsample", "Resize", "Where");
    private static final Set<String> SHRINK = Set.of("Conv", "MaxPool", "AveragePool", "LpPool", "ConvInteger",
            "QLinearConv");

    /**
     * The largest stride {@code {height, width}} of any tensor computed from {@code input} (a rank-4 graph input),
     * or {@code {1, 1}} when nothing shrinks it.
     */
    public static int[] of(OnnxModel model, String input) {
        Map<String, double[]> stride = new HashMap<>();
        Map<String, double[]> scales = constantScales(model);
        stride.put(input, new double[] {1, 1});
        double[] max = {1, 1};
        for (NodeProto n : model.nodes()) {
            double[] in = null;
            for (String i : n.getInputList()) {
                double[] s = stride.get(i);
                if (s != null) in = in == null ? s.clone() : new double[] {Math.max(in[0], s[0]), Math.max(in[1], s[1])};
            }
            if (in == null) continue;
            String op = n.getOpType();
            double[] out;
            if (SHRINK.contains(op) && stride.containsKey(n.getInput(0))) {
                long[] s = Attributes.getInts(n, "strides").orElse(new long[0]);
                out = s.length == 2 ? new double[] {in[0] * s[0], in[1] * s[1]} : in;
            } else if (op.equals("ConvTranspose")) {
                long[] s = Attributes.getInts(n, "strides").orElse(new long[0]);
                out = s.length == 2 ? new double[] {in[0] / s[0], in[1] / s[1]} : in;
            } else if (op.equals("Resize") || op.equals("Upsample")) {
                double[] f = resizeScales(n, scales);
                out = f == null ? in : new double[] {in[0] / f[0], in[1] / f[1]};
            } else if (op.equals("Transpose")) {
                long[] perm = Attributes.getInts(n, "perm").orElse(new long[0]);
                if (!Arrays.equals(perm, new long[] {0, 3, 1, 2}) && !Arrays.equals(perm, new long[] {0, 2, 3, 1})) {
                    continue;
                }
                out = in;
            } else if (KEEP.contains(op)) {
                out = in;
            } else {
                continue;
            }
            max[0] = Math.max(max[0], out[0]);
            max[1] = Math.max(max[1], out[1]);
            for (String o : n.getOutputList()) stride.put(o, out);
        }
        return new int[] {(int) Math.round(max[0]), (int) Math.round(max[1])};
    }

    /**
     * For an image input of {@code model} fed {@code width x height}: that the model's downsampling does not divide
     * that size, and the nearest larger size it divides; empty when it divides it (or nothing shrinks the input).
     * Runtimes fail such a run deep in the graph, naming an Add or Concat, not the size.
     */
    public static String sizeHint(OnnxModel model, String input, long width, long height) {
        int[] stride = of(model, input);
        if (height % stride[0] == 0 && width % stride[1] == 0) return "";
        return "input '" + input + "' is fed " + width + "x" + height + ", but the model downsamples it "
                + (stride[0] == stride[1] ? stride[0] + "-fold" : stride[1] + "x" + stride[0] + "-fold")
                + ", and maps it adds back together then differ by a row or column: give a size it divides, e.g."
                + " --size " + roundUp(width, stride[1]) + "x" + roundUp(height, stride[0]);
    }

    private static long roundUp(long v, int m) {
        return (v + m - 1) / m * m;
    }

    /** The height and width factors of a Resize or Upsample with constant NCHW scales, or null. */
    private static double[] resizeScales(NodeProto n, Map<String, double[]> scales) {
        String name = n.getOpType().equals("Upsample") ? (n.getInputCount() > 1 ? n.getInput(1) : "")
                : (n.getInputCount() > 2 ? n.getInput(2) : "");
        double[] s = scales.get(name);
        if (s == null && n.getOpType().equals("Upsample")) {
            float[] attr = Attributes.getFloats(n, "scales").orElse(new float[0]);
            if (attr.length == 4) s = new double[] {attr[0], attr[1], attr[2], attr[3]};
        }
        return s == null || s.length != 4 || s[2] <= 0 || s[3] <= 0 ? null : new double[] {s[2], s[3]};
    }

    /** Float constants (initializers and Constant outputs) of four values: candidate Resize scales. */
    private static Map<String, double[]> constantScales(OnnxModel model) {
        Map<String, double[]> m = new HashMap<>();
        model.initializers().forEach((name, t) -> put(m, name, t));
        for (NodeProto n : model.nodes()) {
            if (n.getOutputCount() == 1) OnnxModel.constantValue(n).ifPresent(t -> put(m, n.getOutput(0), t));
        }
        return m;
    }

    private static void put(Map<String, double[]> m, String name, io.quantbridge.onnx.proto.Onnx.TensorProto t) {
        if (t.getDataType() != DataTypes.FLOAT || t.getDimsCount() != 1 || t.getDims(0) != 4) return;
        float[] v = Tensors.toFloats(t);
        m.put(name, new double[] {v[0], v[1], v[2], v[3]});
    }
}
