package io.quantbridge.util;

import io.quantbridge.QuantbridgeException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;

/** Waiting for worker results: a worker's own exception or error comes through unchanged, anything else as a clear error. */
public final class Futures {
    private Futures() { }

    /**
     * The result of {@code f}. A RuntimeException or Error thrown by the worker is rethrown as it is; a checked one becomes a
     * {@link QuantbridgeException} "{@code what} failed: ..."; an interruption restores the thread's flag and becomes
     * "{@code what} was interrupted".
     */
    public static <T> T await(Future<T> f, String what) {
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new QuantbridgeException(what + " was interrupted", e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) throw r;
            if (e.getCause() instanceof Error err) throw err; // out of memory stays out of memory
            throw new QuantbridgeException(what + " failed: " + e.getCause(), e.getCause());
        }
    }
}
