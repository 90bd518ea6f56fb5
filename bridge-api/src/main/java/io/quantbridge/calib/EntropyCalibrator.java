package io.quantbridge.calib;

/**
 * KL-divergence ("entropy") calibration in the style of TensorRT's EntropyCalibration2: the threshold whose int8
 * quantization loses the least information about the histogram of |x|.
 *
 * <h2>Algorithm</h2>
 * With {@code b} the histogram counts ({@code n = binCount()} bins of width {@code w}), {@code L} =
 * {@link CalibratorSpec#levels()} (default 128) and {@code startBin} = {@link CalibratorSpec#startBin()} (default 128),
 * for every candidate end bin {@code i = startBin .. n} (inclusive):
 * <ol>
 *   <li>Reference {@code P = b[0..i)}, with every count at or beyond {@code i} (the values clipped by this candidate)
 *       added to {@code P[i-1]}.</li>
 *   <li>Candidate {@code Q}: the bins {@code b[0..i)} (without the clipped counts) merged into {@code L} levels and
 *       expanded back: each non-empty bin gets the mean of its level over the level's non-empty bins, empty bins stay
 *       0. <b>Level split:</b> bin {@code k} belongs to level {@code floor(k * L / i)} (exact integer arithmetic), i.e.
 *       level {@code j} covers bins {@code [ceil(j*i/L), ceil((j+1)*i/L))} - the split of NumPy's
 *       {@code digitize(range(i), linspace(0, i, L+1))} in NVIDIA's pytorch-quantization (up to floating point).
 *       When {@code i < L} some levels are empty and each bin is its own level.</li>
 *   <li>{@code KL(P || Q)} after normalising both to sum 1: {@code sum over P[k] > 0 of P[k] log(P[k] / Q[k])}
 *       (natural log).</li>
 * </ol>
 * The candidate with the smallest KL gives {@code amax = i * w} (the right edge of the last kept bin).
 *
 * <h2>Documented choices</h2>
 * <ul>
 *   <li><b>P &gt; 0 where Q = 0.</b> With {@link CalibratorSpec.QMask#KEPT} (default) Q's non-empty bins are those
 *       of {@code b[0..i)}, so this happens only in bin {@code i-1}, when counts are clipped into it but the bin
 *       itself is empty. The divergence is then taken as +infinity (as {@code scipy.stats.entropy} does), i.e. the
 *       candidate is never chosen; no epsilon smoothing. The candidate {@code i = n} clips nothing and is always
 *       finite, so a result always exists. With {@link CalibratorSpec.QMask#REFERENCE} Q's support is that of P
 *       (clipped mass folded in, MXNet's / ONNX Runtime's reading): an empty last bin then shares its level's mean
 *       (the level's count grows by one, its mass does not), and only a last level with no kept mass at all is
 *       infinite.</li>
 *   <li><b>Ties.</b> {@link CalibratorSpec.TieBreak#FIRST} (default) keeps the first minimum, {@code LAST} the last.
 *       Divergences closer than {@value #TIE_TOLERANCE} (absolute, in nats) count as equal, so exact mathematical ties
 *       (e.g. several candidates with KL = 0) are broken by the rule rather than by rounding noise.</li>
 *   <li><b>Zero bin.</b> {@link CalibratorSpec.ZeroBin#SUPPRESS} replaces bin 0's count with bin 1's before the search
 *       (NVIDIA's variant, which keeps the spike of exact zeros after ReLU from dominating; the default);
 *       {@code KEEP} uses the histogram as observed (the literal definition).</li>
 *   <li>Fewer bins than {@code startBin}: the result is {@code absMax}. Empty or all-zero histogram: 0.</li>
 *   <li><b>Floor.</b> With {@link CalibratorSpec.Floor#MSE} the result is at least what {@link MseCalibrator} picks
 *       from the same histogram (same {@code startBin}); the default {@code NONE} is the search alone.</li>
 * </ul>
 *
 * <h2>Cost</h2>
 * The definition costs O(i) per candidate, O(n^2) in all. This implementation gives the same divergences in
 * O(L) per candidate, O(n + (n - startBin) * L) in all (about 250k steps for 2048 bins, 4M for a histogram that grew to
 * 32768 bins), by writing
 * {@code KL = (sum_k P'[k] log P'[k] - sum_j S'_j log m_j) / N + log(S / N)}, where {@code P'} are the unnormalised
 * reference counts, {@code N} their total, {@code S} the sum of {@code b[0..i)}, {@code m_j} the mean of level
 * {@code j} over its non-empty bins and {@code S'_j} the reference mass of level {@code j} (its counts plus, for the
 * level holding bin {@code i-1}, the clipped counts). Prefix sums (of counts, of non-empty bins, and of
 * {@code b log b} with compensated summation) make every term O(1) per level. Stateless and thread-safe.
 */
public final class EntropyCalibrator extends SpecCalibrator {
    /** Divergences closer than this count as a tie. */
    public static final double TIE_TOLERANCE = 1e-12;

    private final MseCalibrator floor;

    public EntropyCalibrator(CalibratorSpec spec) {
        super(spec);
        this.floor = spec.floor() == CalibratorSpec.Floor.MSE ? new MseCalibrator(spec) : null;
    }

    @Override
    public double amax(Histogram histogram) {
        double amax = search(histogram);
        return floor == null ? amax : Math.max(amax, floor.amax(histogram));
    }

    private double search(Histogram histogram) {
        double absMax = histogram.absMax();
        if (absMax == 0) return 0;
        int n = histogram.binCount();
        int start = spec.startBin();
        if (n < start) return absMax;
        int best = bestEndBin(histogram.counts(), start, spec.levels(), spec.zeroBin(), spec.tieBreak(), spec.qMask());
        return best < 0 ? absMax : best * histogram.binWidth();
    }

    /**
     * The end bin {@code i} in {@code [start, b.length]} with the smallest divergence, or -1 if none is finite (only
     * possible for an all-empty histogram). {@code b} may be modified (zero-bin suppression).
     */
    static int bestEndBin(long[] b, int start, int levels, CalibratorSpec.ZeroBin zeroBin,
                          CalibratorSpec.TieBreak tieBreak) {
        return bestEndBin(b, start, levels, zeroBin, tieBreak, CalibratorSpec.QMask.KEPT);
    }

    /** As above, with the given support of Q ({@link CalibratorSpec.QMask}). */
    static int bestEndBin(long[] b, int start, int levels, CalibratorSpec.ZeroBin zeroBin,
                          CalibratorSpec.TieBreak tieBreak, CalibratorSpec.QMask qMask) {
        boolean referenceMask = qMask == CalibratorSpec.QMask.REFERENCE;
        int n = b.length;
        if (zeroBin == CalibratorSpec.ZeroBin.SUPPRESS && n > 1) {
            b[0] = b[1];
        }
        // prefix sums: counts, non-empty bins, and sum of b*log(b) (Kahan-compensated)
        long[] cum = new long[n + 1];
        int[] nonEmpty = new int[n + 1];
        double[] xLogX = new double[n + 1];
        double sum = 0;
        double compensation = 0;
        for (int k = 0; k < n; k++) {
            cum[k + 1] = cum[k] + b[k];
            nonEmpty[k + 1] = nonEmpty[k] + (b[k] != 0 ? 1 : 0);
            double y = xLogX(b[k]) - compensation;
            double t = sum + y;
            compensation = (t - sum) - y;
            sum = t;
            xLogX[k + 1] = sum;
        }
        long total = cum[n];
        if (total == 0) return -1;
        double totalD = total;

        boolean last = tieBreak == CalibratorSpec.TieBreak.LAST;
        double bestKl = Double.POSITIVE_INFINITY;
        int best = -1;
        for (int i = Math.max(start, 1); i <= n; i++) {
            long clipped = total - cum[i];
            long lastBin = b[i - 1];
            // with the KEPT mask, an empty last bin receiving clipped counts has P > 0 where Q == 0: infinite
            // divergence; with the REFERENCE mask it is a support bin of its level (if the level has mass)
            boolean extraSupport = referenceMask && clipped > 0 && lastBin == 0;
            if (clipped > 0 && lastBin == 0 && !referenceMask) continue;
            long kept = cum[i]; // > 0 here

            // sum over k < i of P'[k] log P'[k], P' = b with the clipped counts added to bin i-1
            double pLogP = xLogX[i - 1] + xLogX(lastBin + clipped);

            // sum over levels of S'_j log m_j (Kahan-compensated)
            double sLogM = 0;
            double c = 0;
            int lo = 0;
            for (int j = 0; j < levels; j++) {
                int hi = (int) ceilDiv((long) (j + 1) * i, levels);
                if (hi > lo) {
                    long s = cum[hi] - cum[lo];
                    boolean extra = extraSupport && hi == i;
                    if (s == 0 && extra) {
                        sLogM = Double.NaN; // the last level holds only clipped mass: Q == 0 where P > 0
                        break;
                    }
                    if (s > 0) {
                        double logMean = Math.log((double) s / (nonEmpty[hi] - nonEmpty[lo] + (extra ? 1 : 0)));
                        double mass = hi == i ? (double) (s + clipped) : (double) s;
                        double y = mass * logMean - c;
                        double t = sLogM + y;
                        c = (t - sLogM) - y;
                        sLogM = t;
                    }
                }
                lo = hi;
            }
            if (Double.isNaN(sLogM)) continue;
            double kl = (pLogP - sLogM) / totalD + Math.log(kept / totalD);
            if (last ? kl <= bestKl + TIE_TOLERANCE : kl < bestKl - TIE_TOLERANCE) {
                bestKl = Math.min(bestKl, kl); // a tie within the tolerance does not raise the bar
                best = i;
            }
        }
        return best;
    }

    private static double xLogX(long x) {
        return x <= 1 ? 0 : x * Math.log(x);
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }
}
