package io.quantbridge.tflite;

import java.util.Map;

/**
 * The arithmetic of MediaPipe's attention-mesh custom operators (version 2), as MediaPipe's face landmark model with
 * attention uses them: a crop transform estimated from landmarks, a bilinear crop of a feature map along it, and
 * landmarks mapped back through it. Matrices are 4x4, row-major, acting on column vectors {@code (x, y, z, 1)}.
 */
final class MediaPipeTransforms {
    private MediaPipeTransforms() { }

    /** The options of {@code Landmarks2TransformMatrix} v2, from its FlexBuffers map. */
    record CropOptions(int[] subset, int leftRotation, int rightRotation, float targetRotation, int outputHeight,
                       int outputWidth, float scaleX, float scaleY) {
        static CropOptions parse(byte[] flex) {
            Map<String, Object> m = FlexBuffers.readMap(flex);
            long[] s = (long[]) required(m, "subset_idxs", long[].class);
            // pairs of landmarks; an odd last index pairs with itself
            int[] subset = new int[(s.length + 1) / 2 * 2];
            for (int i = 0; i < subset.length; i++) subset[i] = (int) s[Math.min(i, s.length - 1)];
            CropOptions o = new CropOptions(subset, integer(m, "left_rotation_idx"), integer(m, "right_rotation_idx"),
                    real(m, "target_rotation_radians"), integer(m, "output_height"), integer(m, "output_width"),
                    real(m, "scale_x"), real(m, "scale_y"));
            if (subset.length == 0) throw new IllegalArgumentException("subset_idxs is empty");
            for (int i : subset) if (i < 0) throw new IllegalArgumentException("subset_idxs holds " + i);
            if (o.leftRotation < 0 || o.rightRotation < 0) {
                throw new IllegalArgumentException("rotation landmarks " + o.leftRotation + ", " + o.rightRotation);
            }
            if (o.outputHeight <= 0 || o.outputWidth <= 0) {
                throw new IllegalArgumentException("output size " + o.outputWidth + "x" + o.outputHeight);
            }
            if (!(o.scaleX > 0) || !(o.scaleY > 0)) {
                throw new IllegalArgumentException("scale " + o.scaleX + ", " + o.scaleY);
            }
            return o;
        }

        /** The largest landmark index the options read. */
        int largestIndex() {
            int max = Math.max(leftRotation, rightRotation);
            for (int i : subset) max = Math.max(max, i);
            return max;
        }
    }

    private static Object required(Map<String, Object> m, String key, Class<?> type) {
        Object v = m.get(key);
        if (!type.isInstance(v)) {
            throw new IllegalArgumentException("option " + key + " is " + (v == null ? "missing" : "not a "
                    + type.getSimpleName()));
        }
        return v;
    }

    private static int integer(Map<String, Object> m, String key) {
        Object v = m.get(key);
        if (v instanceof Long l) return Math.toIntExact(l);
        if (v instanceof Double d && d == Math.rint(d)) return (int) (double) d;
        throw new IllegalArgumentException("option " + key + " is " + (v == null ? "missing" : "not an integer"));
    }

    private static float real(Map<String, Object> m, String key) {
        Object v = m.get(key);
        if (v instanceof Number n) return n.floatValue();
        throw new IllegalArgumentException("option " + key + " is " + (v == null ? "missing" : "not a number"));
    }

    /**
     * {@code Landmarks2TransformMatrix} v2: the matrix that maps a pixel of the {@code outputWidth x outputHeight}
     * crop to the landmarks' coordinates. The crop is turned so that the line from the left to the right rotation
     * landmark lies at {@code targetRotation}; it is centred on the box of the subset's landmarks in that turned
     * frame and scaled to that box times {@code scaleX, scaleY}.
     *
     * @param landmarks {@code x, y, z} per landmark
     */
    static float[] cropMatrix(float[] landmarks, CropOptions o) {
        float lx = landmarks[o.leftRotation * 3];
        float ly = landmarks[o.leftRotation * 3 + 1];
        float rx = landmarks[o.rightRotation * 3];
        float ry = landmarks[o.rightRotation * 3 + 1];
        float rotation = o.targetRotation - (float) Math.atan2(ry - ly, rx - lx);
        float cos = (float) Math.cos(rotation);
        float sin = (float) Math.sin(rotation);
        float minX = Float.POSITIVE_INFINITY;
        float minY = Float.POSITIVE_INFINITY;
        float maxX = Float.NEGATIVE_INFINITY;
        float maxY = Float.NEGATIVE_INFINITY;
        for (int i : o.subset) {
            float x = landmarks[i * 3];
            float y = landmarks[i * 3 + 1];
            float tx = cos * x - sin * y;
            float ty = sin * x + cos * y;
            minX = Math.min(minX, tx);
            maxX = Math.max(maxX, tx);
            minY = Math.min(minY, ty);
            maxY = Math.max(maxY, ty);
        }
        float width = maxX - minX;
        float height = maxY - minY;
        float mx = (minX + maxX) / 2;
        float my = (minY + maxY) / 2;
        // the centre back in the landmarks' frame (turned by -rotation)
        float cosBack = (float) Math.cos(-rotation);
        float sinBack = (float) Math.sin(-rotation);
        float cx = cosBack * mx - sinBack * my;
        float cy = sinBack * mx + cosBack * my;
        float sx = o.scaleX * width / o.outputWidth;
        float sy = o.scaleY * height / o.outputHeight;
        // shift(cx, cy) * turn(-rotation) * scale(sx, sy) * shift(-outputWidth / 2, -outputHeight / 2)
        float[] t = identity();
        t = multiply(t, translation(cx, cy));
        t = multiply(t, turn(-rotation));
        t = multiply(t, scaling(sx, sy));
        t = multiply(t, translation(-(o.outputWidth / 2.0f), -(o.outputHeight / 2.0f)));
        return t;
    }

    /**
     * {@code TransformTensorBilinear} v2: each output pixel's centre, mapped through {@code matrix} (pixel centres,
     * hence the half-pixel shifts), sampled bilinearly from {@code input} [h, w, c]; 0 outside the input.
     */
    static void cropBilinear(float[] input, int h, int w, int c, float[] matrix, float[] output, int oh, int ow) {
        float m0 = matrix[0];
        float m1 = matrix[1];
        float m3 = matrix[3] + matrix[0] * 0.5f + matrix[1] * 0.5f - 0.5f;
        float m4 = matrix[4];
        float m5 = matrix[5];
        float m7 = matrix[7] + matrix[4] * 0.5f + matrix[5] * 0.5f - 0.5f;
        for (int oy = 0; oy < oh; oy++) {
            for (int ox = 0; ox < ow; ox++) {
                float x = m0 * ox + m1 * oy + m3;
                float y = m4 * ox + m5 * oy + m7;
                int out = (oy * ow + ox) * c;
                if (!(x >= 0 && x <= w - 1 && y >= 0 && y <= h - 1)) {
                    java.util.Arrays.fill(output, out, out + c, 0f);
                    continue;
                }
                int x0 = (int) Math.floor(x);
                int y0 = (int) Math.floor(y);
                float fx = x - x0;
                float fy = y - y0;
                int x1 = x0 + 1;
                int y1 = y0 + 1;
                for (int k = 0; k < c; k++) {
                    float q00 = input[(y0 * w + x0) * c + k];
                    float q01 = x1 < w ? input[(y0 * w + x1) * c + k] : 0f;
                    float q10 = y1 < h ? input[(y1 * w + x0) * c + k] : 0f;
                    float q11 = x1 < w && y1 < h ? input[(y1 * w + x1) * c + k] : 0f;
                    float upper = (1 - fx) * q00 + fx * q01;
                    float lower = (1 - fx) * q10 + fx * q11;
                    output[out + k] = fy * lower + (1 - fy) * upper;
                }
            }
        }
    }

    /**
     * {@code TransformLandmarks} v2: each landmark's {@code x, y} mapped through {@code matrix}; a third coordinate,
     * when there is one, is copied.
     */
    static void mapLandmarks(float[] landmarks, int count, int dims, float[] matrix, float[] output) {
        for (int i = 0; i < count; i++) {
            int at = i * dims;
            float x = landmarks[at];
            float y = landmarks[at + 1];
            output[at] = matrix[0] * x + matrix[1] * y + matrix[3];
            output[at + 1] = matrix[4] * x + matrix[5] * y + matrix[7];
            if (dims == 3) output[at + 2] = landmarks[at + 2];
        }
    }

    private static float[] identity() {
        return new float[] {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
    }

    private static float[] translation(float x, float y) {
        float[] t = identity();
        t[3] = x;
        t[7] = y;
        return t;
    }

    private static float[] scaling(float x, float y) {
        float[] t = identity();
        t[0] = x;
        t[5] = y;
        return t;
    }

    private static float[] turn(float r) {
        float[] t = identity();
        float c = (float) Math.cos(r);
        float s = (float) Math.sin(r);
        t[0] = c;
        t[1] = -s;
        t[4] = s;
        t[5] = c;
        return t;
    }

    private static float[] multiply(float[] a, float[] b) {
        float[] r = new float[16];
        for (int i = 0; i < 4; i++) {
            for (int j = 0; j < 4; j++) {
                float s = 0;
                for (int k = 0; k < 4; k++) s += a[i * 4 + k] * b[k * 4 + j];
                r[i * 4 + j] = s;
            }
        }
        return r;
    }
}
