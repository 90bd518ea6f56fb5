package io.quantbridge.request;

import io.quantbridge.QuantbridgeException;
import java.util.Locale;

/** Element type of a quantized model's inputs and outputs: float (quantize/dequantize at the edges) or int8. */
public enum IoType {
    FLOAT, INT8;

    public static IoType parse(String text) {
        try {
            return valueOf(text.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new QuantbridgeException("--io: unknown type '" + text + "' (use float or int8)");
        }
    }

    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }
}
