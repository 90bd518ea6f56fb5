package io.quantbridge.onnx;

import com.google.protobuf.ByteString;
import io.quantbridge.onnx.proto.Onnx.GraphProto;
import io.quantbridge.onnx.proto.Onnx.NodeProto;
import io.quantbridge.onnx.proto.Onnx.TensorProto;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;

/**
 * Rewrites the symmetric int8 activation Q/DQ pairs of a model ({@link QdqQuantizer}'s, zero point 0) as uint8 with
 * zero point 128, the same grid: code {@code q} in [-128, 127] becomes {@code q + 128} in [0, 255], and both
 * dequantize to {@code q * scale}, so the model computes exactly what it did. Weights (int8 initializers read by
 * DequantizeLinear, or QuantizeLinear of an initializer) keep their int8 codes.
 *
 * <p>For OpenVINO's CPU plugin on x86 CPUs without VNNI (AVX2 only, AMD before Zen 4): there its kernels for int8
 * activations computed garbage (ppocr-det at 320x320 on an AVX2 EPYC: output cosine 0.15 against the float model,
 * where the same Q/DQ model means 0.972), while uint8 activations with 7-bit weights gave 0.9726.
 */
public final class Uint8Activations {
    private Uint8Activations() { }

    /** The model rewritten, and how many zero-point tensors changed. */
    public record Result(OnnxModel model, int zeroPoints) { }

    /**
     * The int8 zero points of the model's activation QuantizeLinear nodes (those that quantize a tensor, not an
     * initializer), by name: empty when no activation is int8.
     */
    public static Set<String> int8ActivationZeroPoints(OnnxModel model) {
        Map<String, TensorProto> inits = model.initializers();
        Set<String> zeroPoints = new LinkedHashSet<>();
        for (NodeProto n : model.nodes()) {
            if (!n.getOpType().equals("QuantizeLinear") || n.getInputCount() < 3) continue;
            if (inits.containsKey(n.getInput(0))) continue; // a weight
            TensorProto zp = inits.get(n.getInput(2));
            if (zp != null && zp.getDataType() == DataTypes.INT8) zeroPoints.add(zp.getName());
        }
        return zeroPoints;
    }

    /**
     * Whether an ONNX model file quantizes activations to int8 (a QuantizeLinear of a tensor with an int8 zero point):
     * the Q/DQ layout written for TensorRT and OpenVINO. False for other files and files that do not parse, whose
     * reader then says what is wrong.
     */
    public static boolean hasInt8Activations(java.nio.file.Path model) {
        if (!model.getFileName().toString().toLowerCase(java.util.Locale.ROOT).endsWith(".onnx")) return false;
        OnnxModel m;
        try {
            m = OnnxModel.load(model);
        } catch (RuntimeException e) {
            return false;
        }
        return !int8ActivationZeroPoints(m).isEmpty();
    }

    public static Result apply(OnnxModel model) {
        Map<String, TensorProto> inits = model.initializers();
        Set<String> zeroPoints = int8ActivationZeroPoints(model);
        for (String name : zeroPoints) {
            for (float b : Tensors.toFloats(inits.get(name))) {
                if (b != 0) throw new IllegalArgumentException("activation zero point " + name + " is not 0");
            }
        }
        // a zero point shared with a weight's DequantizeLinear would move the weight: refuse rather than corrupt it
        for (NodeProto n : model.nodes()) {
            if (n.getOpType().equals("DequantizeLinear") && n.getInputCount() >= 3 && inits.containsKey(n.getInput(0))
                    && zeroPoints.contains(n.getInput(2))) {
                throw new IllegalArgumentException("zero point " + n.getInput(2) + " is shared by weight "
                        + n.getInput(0) + " and an activation");
            }
        }
        if (zeroPoints.isEmpty()) return new Result(model, 0);
        GraphProto.Builder g = model.graph().toBuilder();
        for (int i = 0; i < g.getInitializerCount(); i++) {
            TensorProto t = g.getInitializer(i);
            if (!zeroPoints.contains(t.getName())) continue;
            long[] dims = Tensors.dims(t);
            byte[] v = new byte[(int) Tensors.elementCount(t)];
            Arrays.fill(v, (byte) 128);
            g.setInitializer(i, TensorProto.newBuilder().setName(t.getName()).setDataType(DataTypes.UINT8)
                    .addAllDims(Arrays.stream(dims).boxed().toList()).setRawData(ByteString.copyFrom(v)).build());
        }
        return new Result(model.withProto(model.proto().toBuilder().setGraph(g).build()), zeroPoints.size());
    }
}
