package io.quantbridge.tflite;

import org.tensorflow.lite.schema.QuantizationParametersT;

/** Per-tensor int8 parameters: {@code real = (q - zeroPoint) * scale}. */
record QuantParams(float scale, int zeroPoint) {
    /** SOFTMAX and LOGISTIC outputs. */
    static final QuantParams UNIT_OUTPUT = new QuantParams(1f / 256, -128);
    /** TANH and L2_NORMALIZATION outputs. */
    static final QuantParams TANH_OUTPUT = new QuantParams(1f / 128, 0);
    /** LOG_SOFTMAX outputs. */
    static final QuantParams LOG_SOFTMAX_OUTPUT = new QuantParams(16f / 256, 127);

    /**
     * Asymmetric int8 parameters for {@code [min, max]} (SPEC section 1): the range widened to include 0,
     * {@code scale = (max - min) / 255}, {@code zero_point = round(-128 - min / scale)} clamped to [-128, 127].
     * An empty range (all zeros) gets scale 1/255.
     */
    static QuantParams asymmetric(double min, double max) {
        return asymmetric(min, max, 0);
    }

    /** As {@link #asymmetric(double, double)}, with a scale of at least {@code minScale} (a coarser grid). */
    static QuantParams asymmetric(double min, double max, double minScale) {
        double lo = Math.min(min, 0);
        double hi = Math.max(max, 0);
        double scale = Math.max((hi - lo) / 255.0, minScale);
        if (!(scale > 0) || Double.isInfinite(scale)) {
            return new QuantParams(1f / 255, -128);
        }
        float s = (float) scale;
        long zp = Math.round(-128 - lo / s);
        return new QuantParams(s, (int) Math.max(-128, Math.min(127, zp)));
    }

    int quantize(float v) {
        double q = Math.rint(v / (double) scale) + zeroPoint;
        return (int) Math.max(-128, Math.min(127, q));
    }

    float dequantize(int q) {
        return (q - zeroPoint) * scale;
    }

    /** The real range that int8 covers. */
    double min() {
        return (-128 - zeroPoint) * (double) scale;
    }

    double max() {
        return (127 - zeroPoint) * (double) scale;
    }

    QuantizationParametersT toSchema() {
        QuantizationParametersT q = new QuantizationParametersT();
        q.setScale(new float[] {scale});
        q.setZeroPoint(new long[] {zeroPoint});
        q.setMin(new float[] {(float) min()});
        q.setMax(new float[] {(float) max()});
        q.setQuantizedDimension(0);
        return q;
    }

    static QuantizationParametersT perAxis(float[] scales, int dimension) {
        QuantizationParametersT q = new QuantizationParametersT();
        q.setScale(scales.clone());
        q.setZeroPoint(new long[scales.length]);
        q.setQuantizedDimension(dimension);
        return q;
    }

    /** Reads per-tensor parameters back from a schema tensor, or null when it has none. */
    static QuantParams of(QuantizationParametersT q) {
        if (q == null || q.getScale() == null || q.getScale().length != 1) return null;
        long zp = q.getZeroPoint() != null && q.getZeroPoint().length > 0 ? q.getZeroPoint()[0] : 0;
        return new QuantParams(q.getScale()[0], (int) zp);
    }
}
