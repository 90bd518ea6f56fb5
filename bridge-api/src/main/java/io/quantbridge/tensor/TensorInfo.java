package io.quantbridge.tensor;

import java.util.Arrays;

/**
 * The name, element type and shape of a model input or output. A dimension of -1 is dynamic (symbolic). A value whose
 * rank the model leaves open (an ONNX value type without a shape) has {@code rankKnown} false and an empty shape, so
 * that it is not mistaken for a scalar, whose shape is empty too.
 */
public record TensorInfo(String name, String elementType, long[] shape, boolean rankKnown) {
    public TensorInfo {
        shape = shape.clone();
        if (!rankKnown && shape.length != 0) {
            throw new IllegalArgumentException(name + ": a value of unknown rank has no dimensions: "
                    + Arrays.toString(shape));
        }
    }

    /** A value of known rank. */
    public TensorInfo(String name, String elementType, long[] shape) {
        this(name, elementType, shape, true);
    }

    /** A value whose rank is not known until it is fed. */
    public static TensorInfo ofUnknownRank(String name, String elementType) {
        return new TensorInfo(name, elementType, new long[0], false);
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    public boolean isDynamic() {
        return !rankKnown || Arrays.stream(shape).anyMatch(d -> d < 0);
    }

    /** The shape as printed: {@code [1, 3, -1, -1]}, or {@code [any rank]}. */
    public String shapeText() {
        return rankKnown ? Arrays.toString(shape) : "[any rank]";
    }

    @Override
    public String toString() {
        return name + " " + elementType + shapeText();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t && t.name.equals(name) && t.elementType.equals(elementType)
                && Arrays.equals(t.shape, shape) && t.rankKnown == rankKnown;
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Arrays.hashCode(shape) + (rankKnown ? 0 : 1);
    }
}
