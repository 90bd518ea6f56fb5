package io.quantbridge.tflite;

/**
 * Symmetric int8 weights in [-127, 127] (zero point 0): per channel along {@code axis} (scale = max|w| / 127 of each
 * channel) or per tensor. An all-zero channel gets scale 1/127.
 *
 * @param data   the int8 values in the layout of the float weights
 * @param scales one scale per channel, or one
 */
record QuantizedWeights(byte[] data, float[] scales) {
    static QuantizedWeights symmetric(float[] v, int[] shape, boolean perChannel, int axis) {
        int channels = perChannel ? shape[axis] : 1;
        int inner = 1;
        for (int d = axis + 1; d < shape.length; d++) inner *= shape[d];
        float[] amax = new float[channels];
        for (int i = 0; i < v.length; i++) {
            int c = perChannel ? (i / inner) % channels : 0;
            amax[c] = Math.max(amax[c], Math.abs(v[i]));
        }
        float[] scales = new float[channels];
        for (int c = 0; c < channels; c++) scales[c] = amax[c] > 0 ? amax[c] / 127f : 1f / 127f;
        byte[] q = new byte[v.length];
        for (int i = 0; i < v.length; i++) {
            int c = perChannel ? (i / inner) % channels : 0;
            double r = Math.rint(v[i] / (double) scales[c]);
            q[i] = (byte) Math.max(-127, Math.min(127, r));
        }
        return new QuantizedWeights(q, scales);
    }
}
