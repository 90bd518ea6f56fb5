package io.quantbridge.calib;

/** Chooses a symmetric clipping threshold {@code amax} (so {@code scale = amax / 127}) from a histogram of |x|. */
public interface Calibrator {
    /** The spec this calibrator was made from. */
    CalibratorSpec spec();

    /** The threshold for the tensor whose |x| values the histogram holds; 0 for a histogram of zeros only. */
    double amax(Histogram histogram);
}
