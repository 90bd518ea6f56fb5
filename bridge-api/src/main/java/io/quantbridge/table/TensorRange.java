package io.quantbridge.table;

/**
 * The calibrated range of one tensor. Symmetric int8: {@code scale = amax / 127}, zero point 0. {@code min} and
 * {@code max} are the signed extremes observed during calibration (NaN when unknown, e.g. read from a TensorRT cache).
 */
public record TensorRange(String name, double amax, double scale, int zeroPoint, double min, double max) {
    public TensorRange {
        if (name == null || name.isEmpty()) throw new IllegalArgumentException("tensor name is empty");
        if (!(amax >= 0) || Double.isInfinite(amax)) {
            throw new IllegalArgumentException("tensor " + name + ": amax " + amax + " is not finite and >= 0");
        }
    }

    /** The symmetric int8 range for {@code amax}: scale amax/127, zero point 0. */
    public static TensorRange symmetric(String name, double amax, double min, double max) {
        return new TensorRange(name, amax, amax / 127.0, 0, min, max);
    }
}
