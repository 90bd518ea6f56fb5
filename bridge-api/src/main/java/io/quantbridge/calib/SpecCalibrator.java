package io.quantbridge.calib;

import java.util.Objects;

/** Holds the spec every calibrator is made from; subclasses only choose {@code amax}. */
abstract class SpecCalibrator implements Calibrator {
    protected final CalibratorSpec spec;

    SpecCalibrator(CalibratorSpec spec) {
        this.spec = Objects.requireNonNull(spec, "spec");
    }

    @Override
    public final CalibratorSpec spec() {
        return spec;
    }
}
