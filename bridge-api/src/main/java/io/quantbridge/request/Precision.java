package io.quantbridge.request;

import io.quantbridge.QuantbridgeException;
import java.util.Locale;

/**
 * Target numeric precision of the quantized artifact: {@code int8} (int8 weights and activations, calibrated),
 * {@code fp16} (float16 weights) or {@code dynamic} (dynamic range: int8 weights, float activations quantized on the
 * fly by the runtime's hybrid kernels; no calibration data).
 */
public enum Precision {
    INT8, FP16, DYNAMIC;

    public static Precision parse(String text) {
        try {
            return valueOf(text.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new QuantbridgeException("--precision: unknown precision '" + text + "' (use int8, fp16 or dynamic)");
        }
    }

    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }
}
