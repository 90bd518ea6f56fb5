package io.quantbridge.onnx;

import io.quantbridge.onnx.proto.Onnx.TensorProto.DataType;

/** ONNX tensor element types: codes, names (as in {@code tensor(float)}) and sizes. */
public final class DataTypes {
    private DataTypes() { }

    public static final int UNDEFINED = 0;
    public static final int FLOAT = DataType.FLOAT_VALUE;
    public static final int UINT8 = DataType.UINT8_VALUE;
    public static final int INT8 = DataType.INT8_VALUE;
    public static final int UINT16 = DataType.UINT16_VALUE;
    public static final int INT16 = DataType.INT16_VALUE;
    public static final int INT32 = DataType.INT32_VALUE;
    public static final int INT64 = DataType.INT64_VALUE;
    public static final int STRING = DataType.STRING_VALUE;
    public static final int BOOL = DataType.BOOL_VALUE;
    public static final int FLOAT16 = DataType.FLOAT16_VALUE;
    public static final int DOUBLE = DataType.DOUBLE_VALUE;
    public static final int UINT32 = DataType.UINT32_VALUE;
    public static final int UINT64 = DataType.UINT64_VALUE;
    public static final int BFLOAT16 = DataType.BFLOAT16_VALUE;

    /** The ONNX type name ("float", "float16", "int8", ...), or "unknown(N)". */
    public static String name(int code) {
        return switch (code) {
            case FLOAT -> "float";
            case UINT8 -> "uint8";
            case INT8 -> "int8";
            case UINT16 -> "uint16";
            case INT16 -> "int16";
            case INT32 -> "int32";
            case INT64 -> "int64";
            case STRING -> "string";
            case BOOL -> "bool";
            case FLOAT16 -> "float16";
            case DOUBLE -> "double";
            case UINT32 -> "uint32";
            case UINT64 -> "uint64";
            case BFLOAT16 -> "bfloat16";
            case UNDEFINED -> "undefined";
            default -> {
                DataType t = DataType.forNumber(code);
                yield t != null ? t.name().toLowerCase(java.util.Locale.ROOT) : "unknown(" + code + ")";
            }
        };
    }

    /** Bytes per element in raw_data; 0 for strings and sub-byte types. */
    public static int size(int code) {
        return switch (code) {
            case FLOAT, INT32, UINT32 -> 4;
            case UINT8, INT8, BOOL -> 1;
            case UINT16, INT16, FLOAT16, BFLOAT16 -> 2;
            case INT64, DOUBLE, UINT64 -> 8;
            default -> 0;
        };
    }

    public static boolean isFloatingPoint(int code) {
        return code == FLOAT || code == FLOAT16 || code == DOUBLE || code == BFLOAT16;
    }
}
