package io.quantbridge.tensor;

/** Tensor names as a console line shows them. */
public final class TensorNames {
    /** The longest name a console line shows whole. */
    public static final int CONSOLE_CHARS = 100;

    private TensorNames() { }

    /**
     * {@code name} cut to {@value #CONSOLE_CHARS} characters (the last three "..."): TFLite converters name a fused
     * tensor by joining every name it stands for with ';' (pose-lite: up to 300 characters). report.json keeps the
     * whole name.
     */
    public static String forConsole(String name) {
        return name.length() <= CONSOLE_CHARS ? name : name.substring(0, CONSOLE_CHARS - 3) + "...";
    }
}
