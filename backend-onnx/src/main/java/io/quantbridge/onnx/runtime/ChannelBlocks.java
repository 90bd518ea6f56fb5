package io.quantbridge.onnx.runtime;

/** Tight loops over the values of one channel block (the {@code inner} contiguous values of one channel). */
final class ChannelBlocks {
    private static final ThreadLocal<float[]> SCRATCH = ThreadLocal.withInitial(() -> new float[0]);

    private ChannelBlocks() { }

    /** This thread's array for one channel block, of at least {@code n} floats. */
    static float[] scratch(int n) {
        float[] a = SCRATCH.get();
        if (a.length < n) {
            a = new float[n];
            SCRATCH.set(a);
        }
        return a;
    }

    /**
     * The sum of {@code data[off .. off+len)} and raises {@code absMax[c]} to their largest |x|. The sum is taken in
     * double as four interleaved partial sums added at the end (a fixed order, so the result depends on nothing but
     * the data); four independent chains run about four times faster than one.
     */
    static double sumAndAbsMax(float[] data, int off, int len, float[] absMax, int c) {
        double s0 = 0;
        double s1 = 0;
        double s2 = 0;
        double s3 = 0;
        float m = absMax[c];
        int i = off;
        int end = off + len;
        for (; i + 3 < end; i += 4) {
            float a = data[i];
            float b = data[i + 1];
            float d = data[i + 2];
            float e = data[i + 3];
            s0 += a;
            s1 += b;
            s2 += d;
            s3 += e;
            float x = Math.max(Math.abs(a), Math.abs(b));
            float y = Math.max(Math.abs(d), Math.abs(e));
            if (x > m) m = x;
            if (y > m) m = y;
        }
        for (; i < end; i++) {
            s0 += data[i];
            float x = Math.abs(data[i]);
            if (x > m) m = x;
        }
        absMax[c] = m;
        return (s0 + s1) + (s2 + s3);
    }
}
