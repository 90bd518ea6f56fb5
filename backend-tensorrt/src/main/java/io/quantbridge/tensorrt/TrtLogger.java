package io.quantbridge.tensorrt;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.tensorrt.nvinfer.ILogger;

/** TensorRT's logger: keeps warnings and errors (for the failure message and the report), drops the rest. */
final class TrtLogger extends ILogger {
    private final List<String> messages = new ArrayList<>();

    @Override
    public synchronized void log(ILogger.Severity severity, String msg) {
        if (severity == ILogger.Severity.kINTERNAL_ERROR || severity == ILogger.Severity.kERROR
                || severity == ILogger.Severity.kWARNING) {
            messages.add(severity.name().substring(1).toLowerCase(java.util.Locale.ROOT) + ": " + msg);
        }
    }

    synchronized List<String> messages() {
        return List.copyOf(messages);
    }

    /** The last errors, for an exception message. */
    synchronized String lastErrors() {
        List<String> errors = new ArrayList<>();
        for (String m : messages) if (m.startsWith("error") || m.startsWith("internal_error")) errors.add(m);
        List<String> tail = errors.subList(Math.max(0, errors.size() - 5), errors.size());
        return tail.isEmpty() ? "(TensorRT logged no error)" : String.join("; ", tail);
    }
}
