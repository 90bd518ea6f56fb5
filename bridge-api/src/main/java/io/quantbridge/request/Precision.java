package io.quantbridge.request;

import io.quantbridge.QuantbridgeException;
import java.util.Locale;

/** Target numeric precision of the quantized artifact. */
public enum Precision {
    INT8, FP16;

    public static Precision parse(String text) {
        try {
            return valueOf(text.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new QuantbridgeException("--precision: unknown precision '" + text + "' (use int8 or fp16)");
        }
    }

    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }
}
