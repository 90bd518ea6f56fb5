package io.quantbridge.onnx.runtime;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import io.quantbridge.QuantbridgeException;
import io.quantbridge.tensor.ElementTypes;
import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.tensor.TensorInfo;
import java.nio.FloatBuffer;

/**
 * A model input from the float values quantbridge carries: float32 as it is, and the other element types an ONNX
 * model takes (a sample rate, token ids, masks, a double or half input) converted to that type by
 * {@link ElementTypes#encode}, which refuses values the type does not hold exactly. ONNX Runtime's Java API creates
 * no unsigned tensors wider than 8 bits, so those inputs are refused.
 */
final class InputTensors {
    private InputTensors() { }

    static OnnxTensor create(OrtEnvironment env, TensorInfo in, FloatTensor t, String label) throws OrtException {
        if (in.elementType().equals("float")) return OnnxTensor.createTensor(env, FloatBuffer.wrap(t.data()), t.shape());
        OnnxJavaType type = switch (in.elementType()) {
            case "double" -> OnnxJavaType.DOUBLE;
            case "float16" -> OnnxJavaType.FLOAT16;
            case "bfloat16" -> OnnxJavaType.BFLOAT16;
            case "int64" -> OnnxJavaType.INT64;
            case "int32" -> OnnxJavaType.INT32;
            case "int16" -> OnnxJavaType.INT16;
            case "int8" -> OnnxJavaType.INT8;
            case "uint8" -> OnnxJavaType.UINT8;
            case "bool" -> OnnxJavaType.BOOL;
            default -> throw new QuantbridgeException(label + ": input '" + in.name() + "' is " + in.elementType()
                    + "; quantbridge feeds float, double, float16, bfloat16, int64, int32, int16, int8, uint8 and"
                    + " bool inputs to ONNX Runtime");
        };
        return OnnxTensor.createTensor(env, ElementTypes.encode(t, in, label), t.shape(), type);
    }
}
