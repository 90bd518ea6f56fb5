package io.quantbridge.onnx;

import com.google.protobuf.ByteString;
import io.quantbridge.QuantbridgeException;
import io.quantbridge.onnx.proto.Onnx.TensorProto;
import io.quantbridge.tensor.Float16;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Reading values out of {@link TensorProto}s (raw_data is little-endian; the typed *_data fields are the
 * alternative) and building new ones (always raw_data, which is the compact form).
 */
public final class Tensors {
    private Tensors() { }

    /** The number of elements: the product of the dims (1 for a scalar). */
    public static long elementCount(TensorProto t) {
        long n = 1;
        for (long d : t.getDimsList()) {
            n *= d;
        }
        return n;
    }

    public static long[] dims(TensorProto t) {
        return t.getDimsList().stream().mapToLong(Long::longValue).toArray();
    }

    private static void requireInline(TensorProto t) {
        if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
            throw new QuantbridgeException("tensor " + t.getName() + " keeps its data in an external file that was not"
                    + " loaded (load the model with OnnxModel.load so that external data is read)");
        }
    }

    private static int count(TensorProto t) {
        long n = elementCount(t);
        if (n > Integer.MAX_VALUE) {
            throw new QuantbridgeException("tensor " + t.getName() + " has " + n + " elements, too many to read");
        }
        return (int) n;
    }

    private static ByteBuffer raw(TensorProto t, int n, int elemSize) {
        ByteBuffer b = t.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        if (b.remaining() != (long) n * elemSize) {
            throw new QuantbridgeException("tensor " + t.getName() + ": raw_data has " + b.remaining()
                    + " bytes, expected " + (long) n * elemSize + " for " + n + " " + DataTypes.name(t.getDataType())
                    + " values");
        }
        return b;
    }

    /**
     * The values as floats, for FLOAT, FLOAT16, BFLOAT16, DOUBLE and the integer types (converted). A tensor of an
     * unsupported type (string, complex) is an error naming it.
     */
    public static float[] toFloats(TensorProto t) {
        requireInline(t);
        int n = count(t);
        int type = t.getDataType();
        float[] out = new float[n];
        if (t.hasRawData()) {
            ByteBuffer b = raw(t, n, DataTypes.size(type) == 0 ? 1 : DataTypes.size(type));
            for (int i = 0; i < n; i++) {
                out[i] = switch (type) {
                    case DataTypes.FLOAT -> b.getFloat();
                    case DataTypes.DOUBLE -> (float) b.getDouble();
                    case DataTypes.FLOAT16 -> Float16.toFloat(b.getShort());
                    case DataTypes.BFLOAT16 -> Float.intBitsToFloat((b.getShort() & 0xffff) << 16);
                    case DataTypes.INT8 -> b.get();
                    case DataTypes.UINT8, DataTypes.BOOL -> b.get() & 0xff;
                    case DataTypes.INT16 -> b.getShort();
                    case DataTypes.UINT16 -> b.getShort() & 0xffff;
                    case DataTypes.INT32 -> b.getInt();
                    case DataTypes.UINT32 -> b.getInt() & 0xffffffffL;
                    case DataTypes.INT64 -> b.getLong();
                    default -> throw unsupported(t);
                };
            }
            return out;
        }
        switch (type) {
            case DataTypes.FLOAT -> {
                checkCount(t, t.getFloatDataCount(), n);
                for (int i = 0; i < n; i++) out[i] = t.getFloatData(i);
            }
            case DataTypes.DOUBLE -> {
                checkCount(t, t.getDoubleDataCount(), n);
                for (int i = 0; i < n; i++) out[i] = (float) t.getDoubleData(i);
            }
            case DataTypes.FLOAT16 -> {
                checkCount(t, t.getInt32DataCount(), n);
                for (int i = 0; i < n; i++) out[i] = Float16.toFloat((short) t.getInt32Data(i));
            }
            case DataTypes.BFLOAT16 -> {
                checkCount(t, t.getInt32DataCount(), n);
                for (int i = 0; i < n; i++) out[i] = Float.intBitsToFloat((t.getInt32Data(i) & 0xffff) << 16);
            }
            case DataTypes.INT8, DataTypes.UINT8, DataTypes.INT16, DataTypes.UINT16, DataTypes.INT32, DataTypes.BOOL -> {
                checkCount(t, t.getInt32DataCount(), n);
                for (int i = 0; i < n; i++) out[i] = t.getInt32Data(i);
            }
            case DataTypes.INT64 -> {
                checkCount(t, t.getInt64DataCount(), n);
                for (int i = 0; i < n; i++) out[i] = t.getInt64Data(i);
            }
            case DataTypes.UINT32, DataTypes.UINT64 -> {
                checkCount(t, t.getUint64DataCount(), n);
                for (int i = 0; i < n; i++) out[i] = t.getUint64Data(i);
            }
            default -> throw unsupported(t);
        }
        return out;
    }

    /** The values as longs, for the integer types (and floats, truncated). */
    public static long[] toLongs(TensorProto t) {
        requireInline(t);
        int n = count(t);
        int type = t.getDataType();
        long[] out = new long[n];
        if (t.hasRawData()) {
            if (type == DataTypes.INT64 || type == DataTypes.UINT64) {
                ByteBuffer b = raw(t, n, 8);
                for (int i = 0; i < n; i++) out[i] = b.getLong();
                return out;
            }
            if (type == DataTypes.INT32) {
                ByteBuffer b = raw(t, n, 4);
                for (int i = 0; i < n; i++) out[i] = b.getInt();
                return out;
            }
        } else if (type == DataTypes.INT64) {
            checkCount(t, t.getInt64DataCount(), n);
            for (int i = 0; i < n; i++) out[i] = t.getInt64Data(i);
            return out;
        } else if (type == DataTypes.INT32) {
            checkCount(t, t.getInt32DataCount(), n);
            for (int i = 0; i < n; i++) out[i] = t.getInt32Data(i);
            return out;
        }
        float[] f = toFloats(t);
        for (int i = 0; i < n; i++) out[i] = (long) f[i];
        return out;
    }

    private static void checkCount(TensorProto t, int have, int n) {
        if (have != n) {
            throw new QuantbridgeException("tensor " + t.getName() + " has " + have + " values for " + n
                    + " elements (dims " + t.getDimsList() + ")");
        }
    }

    private static QuantbridgeException unsupported(TensorProto t) {
        return new QuantbridgeException("tensor " + t.getName() + " has element type "
                + DataTypes.name(t.getDataType()) + ", which cannot be read as numbers");
    }

    private static TensorProto.Builder header(String name, int type, long[] dims) {
        TensorProto.Builder b = TensorProto.newBuilder().setName(name).setDataType(type);
        for (long d : dims) b.addDims(d);
        return b;
    }

    private static void checkLength(String name, long[] dims, int length) {
        long n = 1;
        for (long d : dims) n *= d;
        if (n != length) {
            throw new IllegalArgumentException("tensor " + name + ": " + length + " values for dims "
                    + java.util.Arrays.toString(dims));
        }
    }

    public static TensorProto floatTensor(String name, long[] dims, float[] values) {
        checkLength(name, dims, values.length);
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(values);
        return header(name, DataTypes.FLOAT, dims).setRawData(ByteString.copyFrom(b.array())).build();
    }

    /** A FLOAT16 tensor holding {@code values} rounded to half precision. */
    public static TensorProto float16Tensor(String name, long[] dims, float[] values) {
        checkLength(name, dims, values.length);
        ByteBuffer b = ByteBuffer.allocate(values.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) b.putShort(Float16.fromFloat(v));
        return header(name, DataTypes.FLOAT16, dims).setRawData(ByteString.copyFrom(b.array())).build();
    }

    public static TensorProto int8Tensor(String name, long[] dims, byte[] values) {
        checkLength(name, dims, values.length);
        return header(name, DataTypes.INT8, dims).setRawData(ByteString.copyFrom(values)).build();
    }

    public static TensorProto int64Tensor(String name, long[] dims, long[] values) {
        checkLength(name, dims, values.length);
        ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        b.asLongBuffer().put(values);
        return header(name, DataTypes.INT64, dims).setRawData(ByteString.copyFrom(b.array())).build();
    }

    /** A 1-D INT64 tensor. */
    public static TensorProto int64Vector(String name, long... values) {
        return int64Tensor(name, new long[] {values.length}, values);
    }

    /** A scalar (rank 0) FLOAT tensor. */
    public static TensorProto floatScalar(String name, float value) {
        return floatTensor(name, new long[0], new float[] {value});
    }

    /** A scalar (rank 0) UINT8 tensor. */
    public static TensorProto uint8Scalar(String name, int value) {
        if (value < 0 || value > 255) throw new IllegalArgumentException("tensor " + name + ": " + value + " is not a uint8");
        return header(name, DataTypes.UINT8, new long[0]).setRawData(ByteString.copyFrom(new byte[] {(byte) value})).build();
    }

    public static TensorProto int32Tensor(String name, long[] dims, int[] values) {
        checkLength(name, dims, values.length);
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asIntBuffer().put(values);
        return header(name, DataTypes.INT32, dims).setRawData(ByteString.copyFrom(b.array())).build();
    }

    /** A scalar (rank 0) INT8 tensor. */
    public static TensorProto int8Scalar(String name, byte value) {
        return int8Tensor(name, new long[0], new byte[] {value});
    }

    /** A copy of {@code t} (FLOAT or DOUBLE) converted to FLOAT16, keeping name and dims. */
    public static TensorProto toFloat16(TensorProto t) {
        TensorProto.Builder b = float16Tensor(t.getName(), dims(t), toFloats(t)).toBuilder();
        if (t.hasDocString()) b.setDocString(t.getDocString());
        return b.build();
    }
}
