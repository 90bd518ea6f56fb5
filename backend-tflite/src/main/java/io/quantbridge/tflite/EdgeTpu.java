package io.quantbridge.tflite;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.tensorflow.lite.schema.ActivationFunctionType;
import org.tensorflow.lite.schema.BuiltinOperator;
import org.tensorflow.lite.schema.OperatorT;
import org.tensorflow.lite.schema.Pool2DOptionsT;
import org.tensorflow.lite.schema.TensorT;
import org.tensorflow.lite.schema.TensorType;

/**
 * Whether a TFLite model can run on the Edge TPU (SPEC section 7): fully int8, constant tensor sizes, batch 1 (only
 * the 3 innermost dimensions may exceed 1), supported operators only. The compiler maps operators in execution order
 * until the first one it cannot run and leaves the rest to the CPU; {@link Report#firstUnmapped} names that one.
 */
final class EdgeTpu {
    private EdgeTpu() { }

    static final Set<String> SUPPORTED_OPS = Set.of("ADD", "SUB", "MUL", "MAXIMUM", "MINIMUM", "LOGISTIC", "RELU",
            "RELU6", "RELU_N1_TO_1", "TANH", "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D",
            "MAX_POOL_2D", "CONCATENATION", "L2_NORMALIZATION", "MEAN", "PAD", "RESHAPE", "RESIZE_BILINEAR",
            "RESIZE_NEAREST_NEIGHBOR", "SOFTMAX", "SPACE_TO_DEPTH", "SQUEEZE", "TRANSPOSE_CONV", "STRIDED_SLICE",
            "SLICE", "SPLIT", "PACK", "HARD_SWISH", "QUANTIZE", "DEQUANTIZE");

    /** The first operator the compiler would not map, and why. */
    record Unmapped(int index, String op, String output, String reason) {
        Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("index", index);
            m.put("op", op);
            m.put("output", output);
            m.put("reason", reason);
            return m;
        }

        @Override
        public String toString() {
            return "#" + index + " " + op + " (" + output + "): " + reason;
        }
    }

    record Report(boolean fullyInt8, List<String> floatOps, boolean staticShapes, List<String> dynamicTensors,
                  boolean batchOne, List<String> batchTensors, List<String> unsupportedOps, int mappableOps,
                  int totalOps, Unmapped firstUnmapped) {
        boolean compatible() {
            return fullyInt8 && staticShapes && batchOne && unsupportedOps.isEmpty();
        }

        Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("compatible", compatible());
            m.put("fully_int8", fullyInt8);
            m.put("float_ops", floatOps);
            m.put("static_shapes", staticShapes);
            m.put("dynamic_tensors", dynamicTensors);
            m.put("batch_1", batchOne);
            m.put("batch_tensors", batchTensors);
            m.put("unsupported_ops", unsupportedOps);
            m.put("ops_before_first_unmapped", mappableOps);
            m.put("ops", totalOps);
            m.put("first_unmapped", firstUnmapped == null ? null : firstUnmapped.toMap());
            return m;
        }

        String describe() {
            StringBuilder sb = new StringBuilder();
            sb.append("Edge TPU: ").append(compatible() ? "compatible" : "not fully compatible").append('\n');
            sb.append("  fully int8:     ").append(fullyInt8 ? "yes" : "no, float ops: " + limit(floatOps)).append('\n');
            sb.append("  static shapes:  ").append(staticShapes ? "yes" : "no: " + limit(dynamicTensors)).append('\n');
            sb.append("  batch 1:        ").append(batchOne ? "yes" : "no: " + limit(batchTensors)).append('\n');
            sb.append("  supported ops:  ").append(unsupportedOps.isEmpty() ? "all" : "not " + unsupportedOps)
                    .append('\n');
            sb.append("  mapping:        ").append(firstUnmapped == null ? "all " + totalOps + " ops"
                    : mappableOps + " of " + totalOps + " ops, stops at " + firstUnmapped).append('\n');
            return sb.toString();
        }
    }

    private static String limit(List<String> l) {
        return l.size() <= 6 ? l.toString() : l.subList(0, 6) + " and " + (l.size() - 6) + " more";
    }

    static Report analyze(TfliteModel m) {
        List<String> floatOps = new ArrayList<>();
        List<String> dynamic = new ArrayList<>();
        List<String> batch = new ArrayList<>();
        java.util.TreeSet<String> unsupported = new java.util.TreeSet<>();
        boolean[] constantDerived = constantDerived(m);
        TensorT[] all = m.main().getTensors();
        for (int ti = 0; ti < all.length; ti++) {
            if (m.isConstant(ti) || constantDerived[ti]) continue;
            TensorT t = all[ti];
            int[] sig = TfliteModel.signature(t);
            for (int d : sig) {
                if (d < 0) {
                    dynamic.add(t.getName());
                    break;
                }
            }
            int[] s = t.getShape();
            for (int d = 0; d < s.length - 3; d++) {
                if (s[d] > 1) {
                    batch.add(t.getName());
                    break;
                }
            }
        }
        Unmapped first = null;
        int mappable = 0;
        List<OperatorT> ops = m.operators();
        for (int i = 0; i < ops.size(); i++) {
            OperatorT op = ops.get(i);
            String name = m.opName(op);
            String out = op.getOutputs().length == 0 ? "" : m.tensor(op.getOutputs()[0]).getName();
            String reason = null;
            if (!SUPPORTED_OPS.contains(name)) {
                unsupported.add(name);
                reason = "operator " + name + " is not supported by the Edge TPU";
            }
            boolean edge = name.equals("QUANTIZE") || name.equals("DEQUANTIZE");
            boolean constantOnly = true;
            for (int in : op.getInputs()) if (in >= 0 && !m.isConstant(in) && !constantDerived[in]) constantOnly = false;
            if (constantOnly) {
                if (first == null) mappable++;
                continue;
            }
            if (!edge && usesFloat(m, op)) {
                floatOps.add("#" + i + " " + name);
                if (reason == null) reason = "it computes in float";
            }
            if (reason == null && (name.equals("MAX_POOL_2D") || name.equals("AVERAGE_POOL_2D"))
                    && op.getBuiltinOptions() != null && op.getBuiltinOptions().getValue() instanceof Pool2DOptionsT p
                    && p.getFusedActivationFunction() != ActivationFunctionType.NONE) {
                reason = "pooling with a fused activation";
            }
            if (reason == null) {
                for (int t : concat(op.getInputs(), op.getOutputs())) {
                    if (t < 0 || m.isConstant(t)) continue;
                    if (dynamic.contains(m.tensor(t).getName())) {
                        reason = "tensor '" + m.tensor(t).getName() + "' has a dynamic size";
                        break;
                    }
                    if (batch.contains(m.tensor(t).getName())) {
                        reason = "tensor '" + m.tensor(t).getName() + "' has a batch (outer dimension) above 1";
                        break;
                    }
                }
            }
            if (reason != null && first == null) first = new Unmapped(i, name, out, reason);
            if (first == null) mappable++;
        }
        return new Report(floatOps.isEmpty(), floatOps, dynamic.isEmpty(), dynamic, batch.isEmpty(), batch,
                new ArrayList<>(unsupported), mappable, ops.size(), first);
    }

    /** Tensors computed only from constants (e.g. DEQUANTIZE of float16 weights): weights, not activations. */
    static boolean[] constantDerived(TfliteModel m) {
        boolean[] d = new boolean[m.main().getTensors().length];
        for (OperatorT op : m.operators()) {
            boolean all = op.getInputs().length > 0;
            for (int in : op.getInputs()) if (in >= 0 && !m.isConstant(in) && !d[in]) all = false;
            if (all) for (int o : op.getOutputs()) d[o] = true;
        }
        return d;
    }

    private static int[] concat(int[] a, int[] b) {
        int[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    /** Whether an op reads or writes a float activation or float weights. */
    static boolean usesFloat(TfliteModel m, OperatorT op) {
        for (int t : concat(op.getInputs(), op.getOutputs())) {
            if (t < 0) continue;
            byte ty = m.tensor(t).getType();
            if (ty == TensorType.FLOAT32 || ty == TensorType.FLOAT16) return true;
        }
        return m.builtinCode(op) == BuiltinOperator.CUSTOM;
    }
}
