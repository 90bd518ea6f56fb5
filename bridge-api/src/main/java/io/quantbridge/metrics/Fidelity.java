package io.quantbridge.metrics;

/**
 * How closely a candidate output (from the quantized model) follows the reference output (from the float model).
 * All sums are accumulated in double precision. Every function takes two arrays of the same length and throws
 * {@link IllegalArgumentException} naming both lengths otherwise. A NaN in either array propagates to the result
 * (except in {@link #maskIou}, where NaN is simply not above the threshold).
 *
 * <p>Conventions for the degenerate cases:
 * <ul>
 *   <li>{@link #cosine}: 1.0 when both vectors are all zeros (identical), 0.0 when only one is;</li>
 *   <li>{@link #sqnrDb}: {@code +Infinity} when the arrays are identical (no noise, including both all zeros),
 *       {@code -Infinity} when the reference is all zeros but the candidate is not;</li>
 *   <li>{@link #maskIou}: 1.0 when both masks are empty;</li>
 *   <li>all of them: empty arrays count as identical (cosine 1, SQNR +Infinity, max error 0, IoU 1).</li>
 * </ul>
 */
public final class Fidelity {
    private Fidelity() { }

    /** Cosine similarity {@code dot(ref, cand) / (|ref| |cand|)}. */
    public static double cosine(float[] ref, float[] cand) {
        checkLengths(ref, cand);
        double dot = 0;
        double rr = 0;
        double cc = 0;
        for (int i = 0; i < ref.length; i++) {
            double r = ref[i];
            double c = cand[i];
            dot += r * c;
            rr += r * r;
            cc += c * c;
        }
        return cosine(dot, rr, cc);
    }

    /** Cosine from its sums (used by {@link FidelityAccumulator} as well). */
    static double cosine(double dot, double refSq, double candSq) {
        if (Double.isNaN(dot) || Double.isNaN(refSq) || Double.isNaN(candSq)) return Double.NaN;
        if (refSq == 0 && candSq == 0) return 1.0;
        if (refSq == 0 || candSq == 0) return 0.0;
        double c = dot / Math.sqrt(refSq * candSq); // exactly 1 for identical vectors
        return Math.max(-1.0, Math.min(1.0, c)); // rounding can overshoot 1 by an ulp
    }

    /** Signal-to-quantization-noise ratio in dB: {@code 10 log10(sum(ref^2) / sum((ref - cand)^2))}. */
    public static double sqnrDb(float[] ref, float[] cand) {
        checkLengths(ref, cand);
        double signal = 0;
        double noise = 0;
        for (int i = 0; i < ref.length; i++) {
            double r = ref[i];
            double e = r - cand[i];
            signal += r * r;
            noise += e * e;
        }
        return sqnrDb(signal, noise);
    }

    /** SQNR from its sums (used by {@link FidelityAccumulator} as well). */
    static double sqnrDb(double signal, double noise) {
        if (Double.isNaN(signal) || Double.isNaN(noise)) return Double.NaN;
        if (noise == 0) return Double.POSITIVE_INFINITY;
        if (signal == 0) return Double.NEGATIVE_INFINITY;
        return 10.0 * Math.log10(signal / noise);
    }

    /** The largest {@code |ref[i] - cand[i]|}; 0 for empty arrays. */
    public static double maxAbsError(float[] ref, float[] cand) {
        checkLengths(ref, cand);
        double max = 0;
        for (int i = 0; i < ref.length; i++) {
            double e = Math.abs((double) ref[i] - cand[i]);
            if (Double.isNaN(e)) return Double.NaN;
            if (e > max) max = e;
        }
        return max;
    }

    /**
     * The fraction of rows whose arg-max agrees, the arrays being a batch of logits (or probabilities) laid out as
     * rows of {@code classes} values. Ties go to the lowest index.
     *
     * @throws IllegalArgumentException if the length is not a positive multiple of {@code classes}
     */
    public static double top1Agreement(float[] ref, float[] cand, int classes) {
        checkLengths(ref, cand);
        int rows = rows(ref.length, classes);
        int agree = 0;
        for (int r = 0; r < rows; r++) {
            if (argmax(ref, r * classes, classes) == argmax(cand, r * classes, classes)) agree++;
        }
        return (double) agree / rows;
    }

    /**
     * Intersection over union of the masks {@code ref > threshold} and {@code cand > threshold}; 1.0 when both are
     * empty.
     */
    public static double maskIou(float[] ref, float[] cand, double threshold) {
        checkLengths(ref, cand);
        long inter = 0;
        long union = 0;
        for (int i = 0; i < ref.length; i++) {
            boolean a = ref[i] > threshold;
            boolean b = cand[i] > threshold;
            if (a && b) inter++;
            if (a || b) union++;
        }
        return union == 0 ? 1.0 : (double) inter / union;
    }

    /**
     * The index (relative to {@code offset}) of the largest of {@code a[offset .. offset+length)}; the first on ties.
     * NaN values never win unless all are NaN (then 0).
     */
    public static int argmax(float[] a, int offset, int length) {
        int best = 0;
        float bestValue = Float.NEGATIVE_INFINITY;
        boolean found = false;
        for (int i = 0; i < length; i++) {
            float v = a[offset + i];
            if (!found ? !Float.isNaN(v) : v > bestValue) {
                best = i;
                bestValue = v;
                found = true;
            }
        }
        return best;
    }

    static int rows(int length, int classes) {
        if (classes <= 0) throw new IllegalArgumentException("class count " + classes + " must be positive");
        if (length == 0 || length % classes != 0) {
            throw new IllegalArgumentException("output length " + length + " is not a positive multiple of the "
                    + classes + " classes");
        }
        return length / classes;
    }

    static void checkLengths(float[] ref, float[] cand) {
        if (ref.length != cand.length) {
            throw new IllegalArgumentException("reference has " + ref.length + " elements but candidate has "
                    + cand.length);
        }
    }
}
