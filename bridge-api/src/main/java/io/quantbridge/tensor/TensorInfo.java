package io.quantbridge.tensor;

import java.util.Arrays;

/**
 * The name, element type and shape of a model input or output. A dimension of -1 is dynamic (symbolic).
 */
public record TensorInfo(String name, String elementType, long[] shape) {
    public TensorInfo {
        shape = shape.clone();
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    public boolean isDynamic() {
        return Arrays.stream(shape).anyMatch(d -> d < 0);
    }

    @Override
    public String toString() {
        return name + " " + elementType + Arrays.toString(shape);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t && t.name.equals(name) && t.elementType.equals(elementType)
                && Arrays.equals(t.shape, shape);
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Arrays.hashCode(shape);
    }
}
