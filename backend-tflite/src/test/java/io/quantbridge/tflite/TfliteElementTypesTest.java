package io.quantbridge.tflite;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.tensor.FloatTensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.tensorflow.lite.schema.BuiltinOperator;
import org.tensorflow.lite.schema.OperatorT;
import org.tensorflow.lite.schema.TensorT;
import org.tensorflow.lite.schema.TensorType;

/**
 * Inputs and outputs of the integer, bool and 16-bit float types in the interpreter: a graph of CAST operators (one
 * input of each type, cast to float32 and back to each type) run with and without XNNPACK.
 */
class TfliteElementTypesTest {
    private static final byte[] TYPES = {TensorType.INT32, TensorType.INT64, TensorType.UINT8, TensorType.INT8,
            TensorType.INT16, TensorType.BOOL, TensorType.FLOAT16};
    /** The output types, cast from the uint8 input's float values (0..255: no type wraps them, but bool). */
    private static final byte[] OUT = {TensorType.INT32, TensorType.INT64, TensorType.UINT8, TensorType.INT16,
            TensorType.BOOL, TensorType.FLOAT16};

    private static String name(byte type) {
        return TfliteModel.typeName(type).toLowerCase(java.util.Locale.ROOT);
    }

    /** in_T -> CAST -> as_float_T (float32), and as_float_uint8 -> CAST -> out_T for every T of {@link #OUT}. */
    private static byte[] castModel() {
        TfliteModel m = TfliteModel.load(RealData.model("blazeface-tflite", "face_detection_short_range.tflite"));
        m.main().setTensors(new TensorT[0]);
        List<OperatorT> ops = new ArrayList<>();
        int cast = m.opCodeIndex(BuiltinOperator.CAST, 1);
        int[] shape = {1, 4};
        int[] inputs = new int[TYPES.length];
        List<Integer> outputs = new ArrayList<>();
        int asFloatUint8 = -1;
        for (int i = 0; i < TYPES.length; i++) {
            inputs[i] = m.addTensor(TfliteModel.newTensor("in_" + name(TYPES[i]), TYPES[i], shape, null, 0, null));
            int f = m.addTensor(TfliteModel.newTensor("as_float_" + name(TYPES[i]), TensorType.FLOAT32, shape, null, 0,
                    null));
            if (TYPES[i] == TensorType.UINT8) asFloatUint8 = f;
            OperatorT op = new OperatorT();
            op.setOpcodeIndex(cast);
            op.setInputs(new int[] {inputs[i]});
            op.setOutputs(new int[] {f});
            ops.add(op);
            outputs.add(f);
        }
        for (byte t : OUT) {
            int o = m.addTensor(TfliteModel.newTensor("out_" + name(t), t, shape, null, 0, null));
            OperatorT op = new OperatorT();
            op.setOpcodeIndex(cast);
            op.setInputs(new int[] {asFloatUint8});
            op.setOutputs(new int[] {o});
            ops.add(op);
            outputs.add(o);
        }
        m.main().setOperators(ops.toArray(new OperatorT[0]));
        m.main().setInputs(inputs);
        m.main().setOutputs(outputs.stream().mapToInt(Integer::intValue).toArray());
        return m.toBytes();
    }

    private static FloatTensor row(float... v) {
        return new FloatTensor(new long[] {1, 4}, v);
    }

    @Test
    void integerBoolAndHalfInputsAndOutputsKeepTheirValues() {
        byte[] bytes = castModel();
        for (boolean xnnpack : new boolean[] {false, true}) {
            try (TfliteSession s = TfliteSession.open(bytes, "casts.tflite",
                    new TfliteSession.Options(1, xnnpack, false))) {
                Map<String, FloatTensor> feed = new LinkedHashMap<>();
                feed.put("in_int32", row(-70000, 0, 200, 300));
                feed.put("in_int64", row(-5, 0, 1L << 40, 7));
                feed.put("in_uint8", row(0, 1, 200, 255));
                feed.put("in_int8", row(-128, -1, 0, 127));
                feed.put("in_int16", row(-32768, -2, 3, 32767));
                feed.put("in_bool", row(0, 1, 1, 0));
                feed.put("in_float16", row(-0.5f, 1f / 3, 65504, 1e-7f));
                Map<String, FloatTensor> out = s.run(feed);
                assertArrayEquals(new float[] {-70000, 0, 200, 300}, out.get("as_float_int32").data());
                assertArrayEquals(new float[] {-5, 0, 1L << 40, 7}, out.get("as_float_int64").data());
                assertArrayEquals(new float[] {0, 1, 200, 255}, out.get("as_float_uint8").data());
                assertArrayEquals(new float[] {-128, -1, 0, 127}, out.get("as_float_int8").data());
                assertArrayEquals(new float[] {-32768, -2, 3, 32767}, out.get("as_float_int16").data());
                assertArrayEquals(new float[] {0, 1, 1, 0}, out.get("as_float_bool").data());
                // float16 keeps 11 significant bits: 1/3 -> 0.33325195, 1e-7 -> a subnormal, 2^-24 * 2
                assertArrayEquals(new float[] {-0.5f, 0.33325195f, 65504, 0x1p-23f}, out.get("as_float_float16").data());
                // outputs of each type, read back as numbers: uint8 200 and 255 stay unsigned
                for (byte t : new byte[] {TensorType.INT32, TensorType.INT64, TensorType.UINT8, TensorType.INT16,
                        TensorType.FLOAT16}) {
                    assertArrayEquals(new float[] {0, 1, 200, 255}, out.get("out_" + name(t)).data(), name(t));
                }
                assertArrayEquals(new float[] {0, 1, 1, 1}, out.get("out_bool").data());
            }
        }
    }

    @Test
    void valuesAnIntegerInputCannotHoldAreNamed() {
        try (TfliteSession s = TfliteSession.open(castModel(), "casts.tflite", TfliteSession.Options.defaults(1))) {
            Map<String, FloatTensor> feed = new LinkedHashMap<>();
            for (byte t : TYPES) feed.put("in_" + name(t), row(0, 0, 0, 0));
            feed.put("in_uint8", row(0, 1, 2.5f, 3));
            QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> s.run(feed));
            assertEquals("casts.tflite: input 'in_uint8' is uint8, but value 2.5 at flat index 2 is not an integer in"
                    + " [0, 255]; images reach a uint8 input as whole pixel values with --scale 1 --mean 0 --std 1",
                    e.getMessage());
            feed.put("in_uint8", row(0, 0, 0, 0));
            feed.put("in_bool", row(0, 2, 0, 0));
            e = assertThrows(QuantbridgeException.class, () -> s.run(feed));
            assertEquals("casts.tflite: input 'in_bool' is bool, but value 2.0 at flat index 1 is not 0 or 1",
                    e.getMessage());
            feed.put("in_bool", row(0, 0, 0, 0));
            feed.put("in_int32", row(0, 0, 3e9f, 0));
            e = assertThrows(QuantbridgeException.class, () -> s.run(feed));
            assertTrue(e.getMessage().endsWith("is int32, but value 3.0E9 at flat index 2 is not an integer in"
                    + " [-2147483648, 2147483647]"), e.getMessage());
        }
    }
}
