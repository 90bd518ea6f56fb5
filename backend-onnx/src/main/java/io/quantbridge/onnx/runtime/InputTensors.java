package io.quantbridge.onnx.runtime;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.platform.Fp16Conversions;
import io.quantbridge.QuantbridgeException;
import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.tensor.TensorInfo;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.nio.ShortBuffer;

/**
 * A model input from the float values quantbridge carries: float32 as it is, and the other element types an ONNX
 * model takes (a sample rate, token ids, masks, a double or half input) converted to that type. Integer and bool
 * inputs take only values that are exactly integers in the type's range (bool: 0 or 1), so nothing is rounded or
 * wrapped on the way; anything else is an error naming the input and the first value at fault.
 */
final class InputTensors {
    private InputTensors() { }

    static OnnxTensor create(OrtEnvironment env, TensorInfo in, FloatTensor t, String label) throws OrtException {
        float[] v = t.data();
        long[] shape = t.shape();
        switch (in.elementType()) {
            case "float":
                return OnnxTensor.createTensor(env, FloatBuffer.wrap(v), shape);
            case "double": {
                double[] d = new double[v.length];
                for (int i = 0; i < v.length; i++) d[i] = v[i];
                return OnnxTensor.createTensor(env, DoubleBuffer.wrap(d), shape);
            }
            case "float16": {
                ShortBuffer h = Fp16Conversions.convertFloatBufferToFp16Buffer(FloatBuffer.wrap(v));
                return OnnxTensor.createTensor(env, h, shape, OnnxJavaType.FLOAT16);
            }
            case "int64": {
                long[] l = new long[v.length];
                for (int i = 0; i < v.length; i++) l[i] = integer(v, i, Long.MIN_VALUE, Long.MAX_VALUE, in, label);
                return OnnxTensor.createTensor(env, LongBuffer.wrap(l), shape);
            }
            case "int32": {
                int[] n = new int[v.length];
                for (int i = 0; i < v.length; i++) {
                    n[i] = (int) integer(v, i, Integer.MIN_VALUE, Integer.MAX_VALUE, in, label);
                }
                return OnnxTensor.createTensor(env, IntBuffer.wrap(n), shape);
            }
            case "int16": {
                short[] n = new short[v.length];
                for (int i = 0; i < v.length; i++) n[i] = (short) integer(v, i, Short.MIN_VALUE, Short.MAX_VALUE, in, label);
                return OnnxTensor.createTensor(env, ShortBuffer.wrap(n), shape);
            }
            case "int8":
                return bytes(env, in, t, label, Byte.MIN_VALUE, Byte.MAX_VALUE, OnnxJavaType.INT8);
            case "uint8":
                return bytes(env, in, t, label, 0, 255, OnnxJavaType.UINT8);
            case "bool":
                return bytes(env, in, t, label, 0, 1, OnnxJavaType.BOOL);
            default:
                throw new QuantbridgeException(label + ": input '" + in.name() + "' is " + in.elementType()
                        + "; quantbridge feeds float, float16, double, int64, int32, int16, int8, uint8 and bool"
                        + " inputs");
        }
    }

    private static OnnxTensor bytes(OrtEnvironment env, TensorInfo in, FloatTensor t, String label, long min, long max,
                                    OnnxJavaType type) throws OrtException {
        float[] v = t.data();
        ByteBuffer b = ByteBuffer.allocateDirect(v.length).order(ByteOrder.nativeOrder());
        for (int i = 0; i < v.length; i++) b.put(i, (byte) integer(v, i, min, max, in, label));
        return OnnxTensor.createTensor(env, b, t.shape(), type);
    }

    private static long integer(float[] v, int i, long min, long max, TensorInfo in, String label) {
        float x = v[i];
        if (x != Math.rint(x) || x < min || x > max) {
            throw new QuantbridgeException(label + ": input '" + in.name() + "' is " + in.elementType() + ", but value "
                    + x + " at flat index " + i + " is not " + (in.elementType().equals("bool") ? "0 or 1"
                    : "an integer in [" + min + ", " + max + "]" + (x >= min && x <= max
                    && in.elementType().equals("uint8") ? "; images reach a uint8 input as whole pixel values with"
                    + " --scale 1 --mean 0 --std 1" : "")));
        }
        return (long) x;
    }
}
