package io.quantbridge.calib;

import java.util.Objects;

/**
 * {@code amax = max|x|}: the exact largest magnitude observed (not a bin edge), so nothing is clipped. Returns 0 for
 * an empty or all-zero histogram. Stateless and thread-safe.
 */
public final class MaxCalibrator implements Calibrator {
    private final CalibratorSpec spec;

    public MaxCalibrator(CalibratorSpec spec) {
        this.spec = Objects.requireNonNull(spec, "spec");
    }

    @Override
    public CalibratorSpec spec() {
        return spec;
    }

    @Override
    public double amax(Histogram histogram) {
        return histogram.absMax();
    }
}
