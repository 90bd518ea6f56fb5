package io.quantbridge.tensor;

import io.quantbridge.QuantbridgeException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

/**
 * Model inputs and outputs of element types other than float32, to and from the float values quantbridge carries
 * (ONNX's names for the types, as in {@link TensorInfo#elementType()}). Integer and bool inputs take only values that
 * are exactly integers in the type's range (bool: 0 or 1), so nothing is rounded or wrapped on the way in; anything
 * else is an error naming the input and the first value at fault. Outputs are read as the float nearest their value
 * (exact up to 2^24 for integers), unsigned types as unsigned, bool as 0 or 1.
 */
public final class ElementTypes {
    /** The element types that {@link #encode} writes and {@link #decode} reads. */
    public static final List<String> CONVERTED = List.of("float", "double", "float16", "bfloat16", "int64", "int32",
            "int16", "int8", "uint64", "uint32", "uint16", "uint8", "bool");

    private ElementTypes() { }

    /** Bytes per element of {@code elementType}, or 0 when it is not one of {@link #CONVERTED}. */
    public static int byteSize(String elementType) {
        return switch (elementType) {
            case "double", "int64", "uint64" -> 8;
            case "float", "int32", "uint32" -> 4;
            case "float16", "bfloat16", "int16", "uint16" -> 2;
            case "int8", "uint8", "bool" -> 1;
            default -> 0;
        };
    }

    /**
     * The values of {@code t} as elements of the input {@code port}'s type, in native byte order, in a new direct
     * buffer (its limit is the data's length).
     *
     * @param label what runs the model, for errors ({@code "onnx: det.onnx"})
     * @throws QuantbridgeException when the type is not one of {@link #CONVERTED}, or a value does not fit it
     */
    public static ByteBuffer encode(FloatTensor t, TensorInfo port, String label) {
        String type = port.elementType();
        int size = byteSize(type);
        if (size == 0) {
            throw new QuantbridgeException(label + ": input '" + port.name() + "' is " + type + "; quantbridge feeds "
                    + String.join(", ", CONVERTED) + " inputs");
        }
        float[] v = t.data();
        ByteBuffer b = ByteBuffer.allocateDirect(Math.multiplyExact(v.length, size)).order(ByteOrder.nativeOrder());
        for (int i = 0; i < v.length; i++) {
            float x = v[i];
            switch (type) {
                case "float" -> b.putFloat(x);
                case "double" -> b.putDouble(x);
                case "float16" -> b.putShort(Float16.fromFloat(x));
                case "bfloat16" -> b.putShort(bfloat16(x));
                case "int64" -> b.putLong((long) whole(v, i, -0x1p63, 0x1p63, port, label));
                case "int32" -> b.putInt((int) whole(v, i, Integer.MIN_VALUE, Integer.MAX_VALUE, port, label));
                case "int16" -> b.putShort((short) whole(v, i, Short.MIN_VALUE, Short.MAX_VALUE, port, label));
                case "int8" -> b.put((byte) whole(v, i, Byte.MIN_VALUE, Byte.MAX_VALUE, port, label));
                case "uint64" -> b.putLong(unsigned64(whole(v, i, 0, 0x1p64, port, label)));
                case "uint32" -> b.putInt((int) (long) whole(v, i, 0, 0xFFFF_FFFFL, port, label));
                case "uint16" -> b.putShort((short) whole(v, i, 0, 0xFFFF, port, label));
                case "uint8" -> b.put((byte) whole(v, i, 0, 255, port, label));
                default -> b.put((byte) whole(v, i, 0, 1, port, label)); // bool
            }
        }
        return b.flip();
    }

    /**
     * Reads {@code n} elements of {@code elementType} from {@code raw} (native byte order, from index 0) into
     * {@code dst} as floats.
     *
     * @throws IllegalArgumentException when the type is not one of {@link #CONVERTED} or {@code raw} is too short
     */
    public static void decode(ByteBuffer raw, String elementType, float[] dst, int n) {
        int size = byteSize(elementType);
        if (size == 0) throw new IllegalArgumentException("cannot read " + elementType + " values as float");
        if ((long) n * size > raw.limit()) {
            throw new IllegalArgumentException(n + " " + elementType + " values need " + (long) n * size
                    + " bytes, the buffer holds " + raw.limit());
        }
        ByteBuffer b = raw.duplicate().order(ByteOrder.nativeOrder());
        for (int i = 0; i < n; i++) {
            dst[i] = switch (elementType) {
                case "float" -> b.getFloat(i * 4);
                case "double" -> (float) b.getDouble(i * 8);
                case "float16" -> Float16.toFloat(b.getShort(i * 2));
                case "bfloat16" -> Float.intBitsToFloat(b.getShort(i * 2) << 16);
                case "int64" -> b.getLong(i * 8);
                case "int32" -> b.getInt(i * 4);
                case "int16" -> b.getShort(i * 2);
                case "int8" -> b.get(i);
                case "uint64" -> unsignedToFloat(b.getLong(i * 8));
                case "uint32" -> Integer.toUnsignedLong(b.getInt(i * 4));
                case "uint16" -> Short.toUnsignedInt(b.getShort(i * 2));
                case "uint8" -> Byte.toUnsignedInt(b.get(i));
                default -> b.get(i) != 0 ? 1f : 0f; // bool
            };
        }
    }

    /** {@code v[i]}, which must be an integer in [min, max] (as a double, exact for every float). */
    private static double whole(float[] v, int i, double min, double max, TensorInfo port, String label) {
        double x = v[i];
        if (x != Math.rint(x) || x < min || x > max || (max >= 0x1p63 && x == max)) {
            String type = port.elementType();
            throw new QuantbridgeException(label + ": input '" + port.name() + "' is " + type + ", but value "
                    + v[i] + " at flat index " + i + " is not " + (type.equals("bool") ? "0 or 1"
                    : "an integer in [" + bound(min, type, false) + ", " + bound(max, type, true) + "]"
                    + (x >= min && x <= max && type.equals("uint8") ? "; images reach a uint8 input as whole pixel"
                    + " values with --scale 1 --mean 0 --std 1" : "")));
        }
        return x;
    }

    /** A range's end as written in an error: exact for the 64-bit types, whose ends no double holds. */
    private static String bound(double b, String type, boolean upper) {
        if (type.equals("int64")) return upper ? Long.toString(Long.MAX_VALUE) : Long.toString(Long.MIN_VALUE);
        if (type.equals("uint64") && upper) return Long.toUnsignedString(-1L);
        return Long.toString((long) b);
    }

    /** The bits of a whole number in [0, 2^64) as an unsigned 64-bit integer. */
    private static long unsigned64(double x) {
        return x < 0x1p63 ? (long) x : (long) (x - 0x1p63) ^ Long.MIN_VALUE;
    }

    /** An unsigned 64-bit integer as the nearest float. */
    private static float unsignedToFloat(long u) {
        if (u >= 0) return u;
        return ((u >>> 1) | (u & 1)) * 2f; // halve (keeping the sticky bit for rounding), convert, double
    }

    /** float32 to bfloat16, rounding to nearest even; NaN stays NaN. */
    private static short bfloat16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) return (short) ((bits >>> 16) | 0x40);
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }
}
