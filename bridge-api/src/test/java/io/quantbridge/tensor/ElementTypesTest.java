package io.quantbridge.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.quantbridge.QuantbridgeException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;

class ElementTypesTest {
    private static ByteBuffer encode(String type, float... v) {
        return ElementTypes.encode(new FloatTensor(new long[] {v.length}, v),
                new TensorInfo("n", type, new long[] {v.length}), "m.onnx");
    }

    private static float[] roundTrip(String type, float... v) {
        ByteBuffer b = encode(type, v);
        assertEquals(v.length * ElementTypes.byteSize(type), b.remaining(), type);
        float[] back = new float[v.length];
        ElementTypes.decode(b, type, back, v.length);
        return back;
    }

    private static String refusal(String type, float v) {
        return assertThrows(QuantbridgeException.class, () -> encode(type, 0, v)).getMessage();
    }

    @Test
    void everyTypeKeepsTheValuesItHoldsToTheEndsOfItsRange() {
        float[][] cases = {
            {0, 255}, {-128, 127}, {0, 65535}, {-32768, 32767}, {0, 4294967040f}, {Integer.MIN_VALUE, 2147483520f},
            {0, 0x1p63f, 0x1p64f - 0x1p40f}, {-0x1p63f, 0x1p63f - 0x1p39f}, {0, 1}, {-65504, 1e-7f},
            {-3.4e38f, 1f / 3}, {Float.MIN_VALUE, -0f}};
        String[] types = {"uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64", "bool",
                "float16", "double", "float"};
        for (int i = 0; i < types.length; i++) {
            float[] want = cases[i].clone();
            if (types[i].equals("float16")) want[1] = 0x1p-23f; // the nearest float16 subnormal
            assertArrayEquals(want, roundTrip(types[i], cases[i]), types[i]);
        }
        // bfloat16 rounds to 8 significant bits, to nearest even
        assertArrayEquals(new float[] {0.333984375f, 1, -2.5f}, roundTrip("bfloat16", 1f / 3, 1.00390625f, -2.5f));
        // uint64's high half is unsigned on the way in and out: 2^63 is bit 63 alone
        assertEquals(Long.MIN_VALUE, encode("uint64", 0x1p63f).order(ByteOrder.nativeOrder()).getLong(0));
    }

    @Test
    void valuesATypeCannotHoldAreNamedWithTheRange() {
        assertEquals("m.onnx: input 'n' is uint8, but value 256.0 at flat index 1 is not an integer in [0, 255]",
                refusal("uint8", 256));
        assertEquals("m.onnx: input 'n' is uint8, but value 0.5 at flat index 1 is not an integer in [0, 255]; images"
                + " reach a uint8 input as whole pixel values with --scale 1 --mean 0 --std 1", refusal("uint8", 0.5f));
        assertEquals("m.onnx: input 'n' is int64, but value 9.223372E18 at flat index 1 is not an integer in"
                + " [-9223372036854775808, 9223372036854775807]", refusal("int64", 0x1p63f));
        assertEquals("m.onnx: input 'n' is uint64, but value 1.8446744E19 at flat index 1 is not an integer in"
                + " [0, 18446744073709551615]", refusal("uint64", 0x1p64f));
        assertEquals("m.onnx: input 'n' is uint32, but value 4.2949673E9 at flat index 1 is not an integer in"
                + " [0, 4294967295]", refusal("uint32", 0x1p32f));
        assertEquals("m.onnx: input 'n' is int16, but value NaN at flat index 1 is not an integer in [-32768, 32767]",
                refusal("int16", Float.NaN));
        assertEquals("m.onnx: input 'n' is bool, but value -1.0 at flat index 1 is not 0 or 1", refusal("bool", -1));
        assertEquals("m.onnx: input 'n' is string; quantbridge feeds float, double, float16, bfloat16, int64, int32,"
                + " int16, int8, uint64, uint32, uint16, uint8, bool inputs", refusal("string", 1));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ElementTypes.decode(ByteBuffer.allocate(7), "int64", new float[1], 1));
        assertEquals("1 int64 values need 8 bytes, the buffer holds 7", e.getMessage());
    }
}
