package io.quantbridge.data;

import io.quantbridge.QuantbridgeException;
import java.util.Locale;

/** Memory layout of an image tensor: channels first or channels last. */
public enum Layout {
    NCHW, NHWC;

    public static Layout parse(String text) {
        try {
            return valueOf(text.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new QuantbridgeException("--layout: unknown layout '" + text + "' (use nchw or nhwc)");
        }
    }
}
