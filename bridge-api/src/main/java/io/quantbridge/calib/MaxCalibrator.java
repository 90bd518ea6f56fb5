package io.quantbridge.calib;

/**
 * {@code amax = max|x|}: the exact largest magnitude observed (not a bin edge), so nothing is clipped. Returns 0 for
 * an empty or all-zero histogram. Stateless and thread-safe.
 */
public final class MaxCalibrator extends SpecCalibrator {
    public MaxCalibrator(CalibratorSpec spec) {
        super(spec);
    }

    @Override
    public double amax(Histogram histogram) {
        return histogram.absMax();
    }
}
