package io.quantbridge.tflite;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Reads the FlexBuffers maps that TFLite custom operators carry as their options (MediaPipe's ops among them): keys
 * to numbers ({@link Long} or {@link Double}), booleans, strings, and vectors of numbers ({@code long[]} or
 * {@code double[]}). Nested maps and untyped vectors are read as maps and {@code Object[]}. Every offset is checked
 * against the buffer, so corrupt options give an {@link IllegalArgumentException}, never a wrong read.
 */
final class FlexBuffers {
    private static final int NULL = 0;
    private static final int INT = 1;
    private static final int UINT = 2;
    private static final int FLOAT = 3;
    private static final int KEY = 4;
    private static final int STRING = 5;
    private static final int INDIRECT_INT = 6;
    private static final int INDIRECT_UINT = 7;
    private static final int INDIRECT_FLOAT = 8;
    private static final int MAP = 9;
    private static final int VECTOR = 10;
    private static final int VECTOR_INT = 11;
    private static final int VECTOR_FLOAT = 13;
    private static final int VECTOR_KEY = 14;
    private static final int VECTOR_INT2 = 16;
    private static final int VECTOR_FLOAT4 = 24;
    private static final int BLOB = 25;
    private static final int BOOL = 26;
    private static final int VECTOR_BOOL = 36;

    private final byte[] buf;

    private FlexBuffers(byte[] buf) {
        this.buf = buf;
    }

    /** The root of {@code bytes}, which must be a map. */
    static Map<String, Object> readMap(byte[] bytes) {
        if (bytes == null || bytes.length < 3) throw new IllegalArgumentException("no FlexBuffers data");
        FlexBuffers f = new FlexBuffers(bytes);
        int rootWidth = bytes[bytes.length - 1] & 0xFF;
        int packed = bytes[bytes.length - 2] & 0xFF;
        if (rootWidth != 1 && rootWidth != 2 && rootWidth != 4 && rootWidth != 8) {
            throw new IllegalArgumentException("FlexBuffers root width " + rootWidth);
        }
        Object root = f.value(bytes.length - 2 - rootWidth, rootWidth, packed);
        if (!(root instanceof Map<?, ?> m)) throw new IllegalArgumentException("FlexBuffers root is not a map");
        @SuppressWarnings("unchecked")
        Map<String, Object> map = (Map<String, Object>) m;
        return map;
    }

    private void check(int pos, int len) {
        if (pos < 0 || len < 0 || pos > buf.length - len) {
            throw new IllegalArgumentException("FlexBuffers offset " + pos + " (+" + len + ") outside " + buf.length
                    + " bytes");
        }
    }

    private long unsigned(int pos, int width) {
        check(pos, width);
        long v = 0;
        for (int i = width - 1; i >= 0; i--) v = (v << 8) | (buf[pos + i] & 0xFF);
        return v;
    }

    private long signed(int pos, int width) {
        long v = unsigned(pos, width);
        int shift = 64 - 8 * width;
        return (v << shift) >> shift;
    }

    private double real(int pos, int width) {
        return switch (width) {
            case 4 -> Float.intBitsToFloat((int) unsigned(pos, 4));
            case 8 -> Double.longBitsToDouble(unsigned(pos, 8));
            default -> throw new IllegalArgumentException("FlexBuffers float of " + width + " bytes");
        };
    }

    /** Where the offset stored at {@code pos} (in {@code width} bytes) points. */
    private int target(int pos, int width) {
        long off = unsigned(pos, width);
        long t = pos - off;
        if (off > pos || t < 0) throw new IllegalArgumentException("FlexBuffers offset " + off + " at " + pos);
        return (int) t;
    }

    private String cString(int pos) {
        check(pos, 0);
        int end = pos;
        while (end < buf.length && buf[end] != 0) end++;
        if (end == buf.length) throw new IllegalArgumentException("FlexBuffers key without its terminating zero");
        return new String(buf, pos, end - pos, StandardCharsets.UTF_8);
    }

    /** The value stored at {@code pos} in its parent's {@code width}, of packed type {@code packed}. */
    private Object value(int pos, int width, int packed) {
        int type = packed >>> 2;
        int childWidth = 1 << (packed & 3);
        switch (type) {
            case NULL:
                return null;
            case INT:
                return signed(pos, width);
            case UINT:
                return unsigned(pos, width);
            case FLOAT:
                return real(pos, width);
            case BOOL:
                return unsigned(pos, width) != 0;
            case INDIRECT_INT:
                return signed(target(pos, width), childWidth);
            case INDIRECT_UINT:
                return unsigned(target(pos, width), childWidth);
            case INDIRECT_FLOAT:
                return real(target(pos, width), childWidth);
            case KEY:
                return cString(target(pos, width));
            case STRING, BLOB: {
                int t = target(pos, width);
                int size = (int) unsigned(t - childWidth, childWidth);
                check(t, size);
                return type == STRING ? new String(buf, t, size, StandardCharsets.UTF_8) : java.util.Arrays.copyOfRange(buf, t, t + size);
            }
            case MAP:
                return map(target(pos, width), childWidth);
            case VECTOR: {
                int t = target(pos, width);
                int size = size(t, childWidth);
                Object[] v = new Object[size];
                for (int i = 0; i < size; i++) {
                    v[i] = value(t + i * childWidth, childWidth, (int) unsigned(t + size * childWidth + i, 1));
                }
                return v;
            }
            default:
                break;
        }
        if ((type >= VECTOR_INT && type <= VECTOR_KEY) || type == VECTOR_BOOL) {
            int t = target(pos, width);
            return typed(t, size(t, childWidth), childWidth, type == VECTOR_BOOL ? UINT : type - VECTOR_INT + INT);
        }
        if (type >= VECTOR_INT2 && type <= VECTOR_FLOAT4) {
            int n = (type - VECTOR_INT2) / 3 + 2;
            return typed(target(pos, width), n, childWidth, (type - VECTOR_INT2) % 3 + INT);
        }
        throw new IllegalArgumentException("FlexBuffers type " + type);
    }

    private int size(int t, int width) {
        long size = unsigned(t - width, width);
        if (size > buf.length) throw new IllegalArgumentException("FlexBuffers vector of " + size + " elements");
        check(t, (int) size * width);
        return (int) size;
    }

    private Object typed(int t, int n, int width, int elementType) {
        check(t, n * width);
        switch (elementType) {
            case FLOAT: {
                double[] v = new double[n];
                for (int i = 0; i < n; i++) v[i] = real(t + i * width, width);
                return v;
            }
            case KEY: {
                String[] v = new String[n];
                for (int i = 0; i < n; i++) v[i] = cString(target(t + i * width, width));
                return v;
            }
            default: {
                long[] v = new long[n];
                for (int i = 0; i < n; i++) {
                    v[i] = elementType == INT ? signed(t + i * width, width) : unsigned(t + i * width, width);
                }
                return v;
            }
        }
    }

    private Map<String, Object> map(int t, int width) {
        int size = size(t, width);
        int keysAt = t - 3 * width;
        int keys = target(keysAt, width);
        int keyWidth = (int) unsigned(t - 2 * width, width);
        if (keyWidth != 1 && keyWidth != 2 && keyWidth != 4 && keyWidth != 8) {
            throw new IllegalArgumentException("FlexBuffers key width " + keyWidth);
        }
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < size; i++) {
            String key = cString(target(keys + i * keyWidth, keyWidth));
            m.put(key, value(t + i * width, width, (int) unsigned(t + size * width + i, 1)));
        }
        return m;
    }
}
