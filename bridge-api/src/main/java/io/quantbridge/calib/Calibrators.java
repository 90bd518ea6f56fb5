package io.quantbridge.calib;

/** Makes the calibrator a {@link CalibratorSpec} describes. */
public final class Calibrators {
    private Calibrators() { }

    public static Calibrator create(CalibratorSpec spec) {
        return switch (spec.method()) {
            case MAX -> new MaxCalibrator(spec);
            case PERCENTILE -> new PercentileCalibrator(spec);
            case ENTROPY -> new EntropyCalibrator(spec);
            case MSE -> new MseCalibrator(spec);
        };
    }
}
