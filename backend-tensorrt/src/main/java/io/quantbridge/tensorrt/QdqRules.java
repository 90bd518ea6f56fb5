package io.quantbridge.tensorrt;

import io.quantbridge.onnx.Attributes;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.Tensors;
import io.quantbridge.onnx.proto.Onnx;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The rules TensorRT puts on an explicitly quantized (Q/DQ) ONNX model, checked without TensorRT: opset 13 or later
 * (per-axis scales), int8 zero points that are all 0, scales that are constant, finite and positive, and per-channel
 * weight scales on the output-channel axis (Conv weights [Cout, Cin, ...]: axis 0; ConvTranspose [Cin, Cout, ...]:
 * axis 1; Gemm: 0 with transB, else 1; MatMul: the last axis) with one scale per channel.
 */
public final class QdqRules {
    /** What was checked and what broke a rule; {@link #violations()} empty means TensorRT-ready. */
    public record Report(int quantizeNodes, int dequantizeNodes, int perChannelWeights, List<String> violations) {
        public Report {
            violations = List.copyOf(violations);
        }

        public boolean ok() {
            return violations.isEmpty();
        }
    }

    private QdqRules() { }

    public static Report check(OnnxModel model) {
        List<String> v = new ArrayList<>();
        if (model.opsetVersion() < 13) {
            v.add("opset " + model.opsetVersion() + " < 13: per-axis QuantizeLinear/DequantizeLinear need opset 13");
        }
        Map<String, Onnx.TensorProto> inits = model.initializers();
        Map<String, Onnx.TensorProto> constants = new HashMap<>(inits);
        Map<String, Onnx.NodeProto> producer = new HashMap<>();
        Map<String, List<Onnx.NodeProto>> consumers = new HashMap<>();
        for (Onnx.NodeProto n : model.nodes()) {
            for (String o : n.getOutputList()) producer.put(o, n);
            for (String i : n.getInputList()) consumers.computeIfAbsent(i, k -> new ArrayList<>()).add(n);
            if (n.getOpType().equals("Constant")) {
                OnnxModel.constantValue(n).ifPresent(t -> constants.put(n.getOutput(0), t));
            }
        }
        int q = 0;
        int dq = 0;
        int perChannel = 0;
        for (Onnx.NodeProto n : model.nodes()) {
            boolean isQ = n.getOpType().equals("QuantizeLinear");
            boolean isDq = n.getOpType().equals("DequantizeLinear");
            if (!isQ && !isDq) continue;
            if (isQ) q++; else dq++;
            String where = n.getOpType() + " '" + n.getName() + "'";
            if (n.getInputCount() < 2 || !constants.containsKey(n.getInput(1))) {
                v.add(where + ": scale is not a constant");
                continue;
            }
            float[] scales = Tensors.toFloats(constants.get(n.getInput(1)));
            for (float s : scales) {
                if (!(s > 0) || !Float.isFinite(s)) {
                    v.add(where + ": scale " + s + " is not finite and positive");
                    break;
                }
            }
            if (n.getInputCount() < 3 || n.getInput(2).isEmpty()) {
                v.add(where + ": no zero point (defaults to uint8; TensorRT needs an int8 zero point of 0)");
            } else if (!constants.containsKey(n.getInput(2))) {
                v.add(where + ": zero point is not a constant");
            } else {
                Onnx.TensorProto zp = constants.get(n.getInput(2));
                if (zp.getDataType() != Onnx.TensorProto.DataType.INT8_VALUE) {
                    v.add(where + ": zero point type " + zp.getDataType() + " is not int8");
                }
                for (float z : Tensors.toFloats(zp)) {
                    if (z != 0f) {
                        v.add(where + ": zero point " + (int) z + " is not 0");
                        break;
                    }
                }
            }
            if (scales.length > 1 && isDq) {
                perChannel++;
                checkAxis(n, scales.length, where, inits, producer, consumers, v);
            }
        }
        return new Report(q, dq, perChannel, v);
    }

    private static void checkAxis(Onnx.NodeProto dq, int scaleCount, String where,
                                  Map<String, Onnx.TensorProto> inits, Map<String, Onnx.NodeProto> producer,
                                  Map<String, List<Onnx.NodeProto>> consumers, List<String> v) {
        long axis = Attributes.getInt(dq, "axis", 1);
        Onnx.TensorProto weight = inits.get(dq.getInput(0));
        if (weight == null) {
            Onnx.NodeProto p = producer.get(dq.getInput(0));
            if (p != null && p.getOpType().equals("QuantizeLinear")) weight = inits.get(p.getInput(0));
        }
        if (weight == null) {
            v.add(where + ": per-axis scales on a tensor that is not a weight initializer");
            return;
        }
        long[] dims = Tensors.dims(weight);
        long ax = axis < 0 ? axis + dims.length : axis;
        if (ax < 0 || ax >= dims.length || dims[(int) ax] != scaleCount) {
            v.add(where + ": " + scaleCount + " scales do not match axis " + axis + " of the weight "
                    + java.util.Arrays.toString(dims));
        }
        for (Onnx.NodeProto c : consumers.getOrDefault(dq.getOutput(0), List.of())) {
            if (c.getInputCount() < 2 || !c.getInput(1).equals(dq.getOutput(0))) continue;
            long want = switch (c.getOpType()) {
                case "Conv" -> 0;
                case "ConvTranspose" -> 1;
                case "Gemm" -> Attributes.getInt(c, "transB", 0) != 0 ? 0 : 1;
                case "MatMul" -> dims.length - 1;
                default -> -1;
            };
            if (want >= 0 && ax != want) {
                v.add(where + ": weight of " + c.getOpType() + " '" + c.getName() + "' is quantized on axis " + axis
                        + ", TensorRT needs the output-channel axis " + want);
            }
        }
    }
}
