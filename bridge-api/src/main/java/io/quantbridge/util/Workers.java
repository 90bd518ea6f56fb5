package io.quantbridge.util;

import io.quantbridge.QuantbridgeException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Runs a few workers that share native sessions, and returns only when every one of them has returned.
 *
 * <p>A worker inside a native run cannot be interrupted, and the caller closes the sessions as soon as this returns;
 * returning on the first failure while another worker was still running freed the session under it (a truncated JPEG
 * among the evaluation photos crashed the JVM in ONNX Runtime). So the first failure raises {@link #stopped()}, which
 * the workers check before taking their next sample, every worker is waited for, and then that failure is thrown,
 * with any other worker's own failure added as suppressed.
 */
public final class Workers {
    private final AtomicBoolean stop = new AtomicBoolean();

    /** True once a worker has failed (or the waiting thread was interrupted): take no further sample. */
    public boolean stopped() {
        return stop.get();
    }

    /** A worker's body; it checks {@link #stopped()} before each sample. */
    @FunctionalInterface
    public interface Task<T> {
        T run(Workers workers) throws Exception;
    }

    /**
     * Runs {@code count} copies of {@code task} (given its worker index) on daemon threads named {@code threadName} and
     * returns their results in worker order. A RuntimeException or Error thrown by a worker is rethrown as it is, a
     * checked one as "{@code what} failed: ..."; an interruption of the calling thread stops the workers, is waited out
     * like a failure, then restores the thread's flag and becomes "{@code what} was interrupted".
     */
    public static <T> List<T> run(String threadName, String what, int count,
                                  java.util.function.IntFunction<Task<T>> task) {
        Workers workers = new Workers();
        ExecutorService pool = Executors.newFixedThreadPool(Math.max(1, count), r -> {
            Thread t = new Thread(r, threadName);
            t.setDaemon(true);
            return t;
        });
        List<Future<T>> futures = new ArrayList<>();
        Throwable first = null;
        boolean interrupted = false;
        try {
            for (int w = 0; w < count; w++) {
                Task<T> body = task.apply(w);
                Callable<T> c = () -> {
                    try {
                        return body.run(workers);
                    } catch (Throwable t) {
                        workers.stop.set(true); // the others stop at their next sample, before anyone waits on them
                        throw t;
                    }
                };
                futures.add(pool.submit(c));
            }
        } catch (RuntimeException | Error e) {
            workers.stop.set(true);
            first = e;
        }
        List<T> results = new ArrayList<>();
        for (Future<T> f : futures) {
            while (true) {
                try {
                    results.add(f.get());
                    break;
                } catch (InterruptedException e) {
                    interrupted = true; // keep waiting: the workers may be inside native code on shared sessions
                    workers.stop.set(true);
                } catch (ExecutionException e) {
                    Throwable cause = e.getCause();
                    if (first == null) first = cause;
                    else if (cause != first) first.addSuppressed(cause);
                    results.add(null);
                    break;
                }
            }
        }
        pool.shutdown();
        if (interrupted) Thread.currentThread().interrupt();
        if (first instanceof RuntimeException r) throw r;
        if (first instanceof Error err) throw err; // out of memory stays out of memory
        if (first != null) throw new QuantbridgeException(what + " failed: " + first, first);
        if (interrupted) throw new QuantbridgeException(what + " was interrupted");
        return results;
    }
}
