package io.quantbridge;

/**
 * An error meant for the user: its message names the file, tensor or option at fault and, where there is one,
 * the way to fix it. The command-line tool prints the message alone (stack traces only with {@code --verbose}).
 */
public class QuantbridgeException extends RuntimeException {
    public QuantbridgeException(String message) {
        super(message);
    }

    public QuantbridgeException(String message, Throwable cause) {
        super(message, cause);
    }
}
