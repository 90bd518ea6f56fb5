package io.quantbridge.calib;

/**
 * Thrown by {@link Histogram} when the data holds a NaN or an infinity. The histogram is left unchanged. Callers that
 * know which tensor the data came from (such as {@link TensorStatistics}) turn it into a user-facing error naming the
 * tensor.
 */
public final class NonFiniteValueException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    private final float value;

    public NonFiniteValueException(float value) {
        super("non-finite value (" + describe(value) + ") seen in calibration data");
        this.value = value;
    }

    /** The first offending value: {@code NaN}, {@code +Infinity} or {@code -Infinity}. */
    public float value() {
        return value;
    }

    /** "NaN", "+Inf" or "-Inf". */
    public String describe() {
        return describe(value);
    }

    static String describe(float v) {
        if (Float.isNaN(v)) return "NaN";
        return v > 0 ? "+Inf" : "-Inf";
    }
}
