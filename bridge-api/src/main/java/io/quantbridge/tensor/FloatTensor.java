package io.quantbridge.tensor;

import java.util.Arrays;
import java.util.Objects;

/** A dense float32 tensor in row-major (C) order. The data array is owned by the tensor; callers must not mutate it. */
public final class FloatTensor {
    private final long[] shape;
    private final float[] data;

    public FloatTensor(long[] shape, float[] data) {
        Objects.requireNonNull(shape, "shape");
        Objects.requireNonNull(data, "data");
        long n = elementCount(shape);
        if (n != data.length) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " holds " + n
                    + " elements but the data has " + data.length);
        }
        this.shape = shape.clone();
        this.data = data;
    }

    public static long elementCount(long[] shape) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
            }
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    public long dim(int i) {
        return shape[i];
    }

    /** The backing array (not a copy). */
    public float[] data() {
        return data;
    }

    public int size() {
        return data.length;
    }

    @Override
    public String toString() {
        return "FloatTensor" + Arrays.toString(shape);
    }
}
