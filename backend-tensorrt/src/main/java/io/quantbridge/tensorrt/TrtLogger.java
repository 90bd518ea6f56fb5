package io.quantbridge.tensorrt;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.tensorrt.nvinfer.ILogger;

/**
 * TensorRT's logger: keeps warnings and errors (for failure messages and the report), drops the rest. With
 * {@code -Dquantbridge.tensorrt.verbose=true} every message, down to TensorRT's verbose level, also goes to stderr.
 *
 * <p>TensorRT keeps the first logger a process registers and ignores any other, so there is one, {@link #get()};
 * a build or load reads what was logged since its {@link #mark()}.
 */
final class TrtLogger extends ILogger {
    static final String VERBOSE = "quantbridge.tensorrt.verbose";
    private static final int KEEP = 10_000;
    private static final TrtLogger INSTANCE = new TrtLogger();
    private final List<String> messages = new ArrayList<>();
    private final boolean verbose = Boolean.getBoolean(VERBOSE);
    private long dropped;

    private TrtLogger() { }

    static TrtLogger get() {
        return INSTANCE;
    }

    /** Severity names by TensorRT's values (kINTERNAL_ERROR = 0 ... kVERBOSE = 4). */
    private static final String[] LEVELS = {"internal_error", "error", "warning", "info", "verbose"};

    /**
     * The callback's severity is an enum object JavaCPP builds from the native value (its {@code name()} is null and
     * it is not one of the enum's constants), so it is read by {@code value}.
     */
    static String level(int value) {
        return value >= 0 && value < LEVELS.length ? LEVELS[value] : "severity " + value;
    }

    @Override
    public synchronized void log(ILogger.Severity severity, String msg) {
        int v = severity == null ? ILogger.Severity.kERROR.value : severity.value;
        if (verbose) System.err.println("[tensorrt " + level(v) + "] " + msg);
        if (v <= ILogger.Severity.kWARNING.value) {
            if (messages.size() == KEEP) {
                messages.remove(0);
                dropped++;
            }
            messages.add(level(v) + ": " + msg);
        }
    }

    /** A position in the log; what is logged after it is read with {@link #messages(long)}. */
    synchronized long mark() {
        return dropped + messages.size();
    }

    /** The warnings and errors logged since {@code mark}. */
    synchronized List<String> messages(long mark) {
        int from = (int) Math.max(0, mark - dropped);
        return List.copyOf(messages.subList(Math.min(from, messages.size()), messages.size()));
    }

    /** The last errors logged since {@code mark}, for an exception message. */
    synchronized String lastErrors(long mark) {
        List<String> errors = new ArrayList<>();
        for (String m : messages(mark)) if (m.startsWith("error") || m.startsWith("internal_error")) errors.add(m);
        List<String> tail = errors.subList(Math.max(0, errors.size() - 5), errors.size());
        return tail.isEmpty() ? "(TensorRT logged no error)" : String.join("; ", tail);
    }
}
