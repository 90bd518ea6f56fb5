package io.quantbridge.tflite;

import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.Pointer;

/**
 * Turns off the TFLite runtime's own INFO lines. It prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
 * once per process on stderr, in the middle of quantbridge's progress output or of {@code bench}'s table. Warnings
 * and errors still print, and so do the interpreter's error reports, which take another route.
 *
 * <p>The JavaCPP presets do not map {@code tflite::LoggerOptions::SetMinimumLogSeverity}, so the runtime's threshold
 * (the static {@code tflite::logging_internal::MinimalLogger::minimum_log_severity_}, an {@code int}-sized
 * {@code LogSeverity}) is found by name in the loaded library. It is written only when it holds the value
 * expected there, {@code TFLITE_LOG_INFO} (1), the default of TFLite 2.20; then {@code TFLITE_LOG_WARNING} (2) goes
 * in. A runtime that lacks the symbol, or holds anything else, is left alone.
 */
final class TfliteLogs {
    static final String SEVERITY_SYMBOL = "_ZN6tflite16logging_internal13MinimalLogger21minimum_log_severity_E";
    static final int TFLITE_LOG_INFO = 1;
    static final int TFLITE_LOG_WARNING = 2;

    private static boolean done;

    private TfliteLogs() { }

    /** Once per process: INFO lines off, if the runtime's threshold is where and what it is expected to be. */
    static synchronized void infoOff() {
        if (done) return;
        done = true;
        IntPointer severity = severity();
        if (severity != null && severity.get() == TFLITE_LOG_INFO) severity.put(TFLITE_LOG_WARNING);
    }

    /** The runtime's threshold now, or -1 when the symbol is not found (for tests). */
    static int threshold() {
        IntPointer severity = severity();
        return severity == null ? -1 : severity.get();
    }

    /** The runtime's threshold variable, found by name once the library is loaded; null when it is not found. */
    private static IntPointer severity() {
        Loader.load(org.bytedeco.tensorflowlite.global.tensorflowlite.class);
        Pointer p = Loader.addressof(SEVERITY_SYMBOL);
        return p == null || p.isNull() ? null : new IntPointer(p);
    }
}
