package io.quantbridge.calib;

import io.quantbridge.QuantbridgeException;
import java.util.Locale;

/** How a calibrator chooses the clipping threshold {@code amax} from a histogram of |x|. */
public enum CalibrationMethod {
    MAX, PERCENTILE, ENTROPY, MSE;

    public static CalibrationMethod parse(String text) {
        try {
            return valueOf(text.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new QuantbridgeException("--calibrator: unknown calibrator '" + text
                    + "' (use entropy, percentile, max or mse)");
        }
    }

    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }
}
