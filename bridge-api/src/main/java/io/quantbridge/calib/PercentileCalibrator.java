package io.quantbridge.calib;

/**
 * {@code amax} = the left edge {@code i * w} of the first bin {@code i} at which the cumulative count reaches the
 * rank {@code ceil(p/100 * total)} of the p-quantile ({@code p} = {@link CalibratorSpec#percentile()}, default
 * 99.99). The exact p-quantile of |x| lies in that bin, so the result is within one bin width below it. Values beyond
 * the threshold are clipped.
 *
 * <p>As the definition implies, the result is 0 when the quantile falls in bin 0 (a tensor that is almost entirely
 * zeros). Returns 0 for an empty or all-zero histogram. O(bins). Stateless and thread-safe.
 */
public final class PercentileCalibrator extends SpecCalibrator {
    public PercentileCalibrator(CalibratorSpec spec) {
        super(spec);
    }

    @Override
    public double amax(Histogram histogram) {
        if (histogram.absMax() == 0) return 0;
        long[] counts = histogram.counts();
        long total = 0;
        for (long c : counts) total += c;
        long rank = rank(spec.percentile(), total);
        long cumulative = 0;
        for (int i = 0; i < counts.length; i++) {
            cumulative += counts[i];
            if (cumulative >= rank) {
                return i * histogram.binWidth();
            }
        }
        return (counts.length - 1) * histogram.binWidth(); // not reached: the last cumulative is the total
    }

    /**
     * The 1-based rank of the p-quantile among {@code total} values: {@code ceil(p/100 * total)}, at least 1. A
     * relative slack of 1e-12 keeps decimal percentiles such as 99.9 (not exact in binary) from rounding up to the
     * next rank.
     */
    static long rank(double p, long total) {
        double exact = p / 100.0 * total;
        long rank = (long) Math.ceil(exact - 1e-12 * exact);
        return Math.max(1, Math.min(total, rank));
    }
}
