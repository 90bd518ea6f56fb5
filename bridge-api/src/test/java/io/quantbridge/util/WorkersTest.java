package io.quantbridge.util;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.QuantbridgeException;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** Workers that share a session: nobody returns to close it while one of them is still running. */
class WorkersTest {

    @Test
    void resultsComeBackInWorkerOrder() {
        assertEquals(List.of(0, 10, 20), Workers.run("t", "work", 3, w -> workers -> {
            Thread.sleep(30L * (3 - w)); // the last worker finishes first
            return 10 * w;
        }));
    }

    /**
     * Worker 0 fails while worker 1 is still in its (slow) sample. The failure is thrown only once worker 1 has
     * returned, and worker 1 takes no further sample after the failure.
     */
    @Test
    void theFirstFailureWaitsForTheOthersAndStopsThem() {
        CountDownLatch inSample = new CountDownLatch(1);
        AtomicBoolean slowSampleDone = new AtomicBoolean();
        AtomicInteger samplesAfterIt = new AtomicInteger();
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> Workers.run("t", "work", 2, w -> workers -> {
                    if (w == 0) {
                        assertTrue(inSample.await(10, TimeUnit.SECONDS));
                        throw new IllegalStateException("sample 0: cannot decode the image");
                    }
                    inSample.countDown();
                    Thread.sleep(300); // a native run: not interruptible
                    slowSampleDone.set(true);
                    while (!workers.stopped() && samplesAfterIt.get() < 1000) samplesAfterIt.incrementAndGet();
                    return 1;
                }));
        assertEquals("sample 0: cannot decode the image", e.getMessage());
        assertTrue(slowSampleDone.get(), "the failure was thrown while worker 1 was still in its sample");
        assertEquals(0, samplesAfterIt.get());
    }

    @Test
    void aSecondFailureIsKeptAsSuppressedAndACheckedOneIsNamed() {
        CountDownLatch firstFailed = new CountDownLatch(1);
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> Workers.run("t", "calibration", 2, w -> workers -> {
                    if (w == 0) {
                        try {
                            throw new IOException("disk gone");
                        } finally {
                            firstFailed.countDown();
                        }
                    }
                    assertTrue(firstFailed.await(10, TimeUnit.SECONDS));
                    while (!workers.stopped()) Thread.onSpinWait();
                    throw new IllegalArgumentException("second");
                }));
        assertEquals("calibration failed: java.io.IOException: disk gone", e.getMessage());
        assertEquals(1, e.getCause().getSuppressed().length);
        assertEquals("second", e.getCause().getSuppressed()[0].getMessage());
    }

    @Test
    void anErrorComesThroughUnchanged() {
        OutOfMemoryError oom = new OutOfMemoryError("Java heap space");
        assertSame(oom, assertThrows(OutOfMemoryError.class, () -> Workers.run("t", "work", 1, w -> workers -> {
            throw oom;
        })));
    }

    /** An interrupted caller still waits for the workers (they stop at their next sample), then says so. */
    @Test
    void anInterruptedCallerWaitsForTheWorkersThenSaysSo() throws Exception {
        AtomicBoolean workerDone = new AtomicBoolean();
        CountDownLatch started = new CountDownLatch(1);
        Thread caller = Thread.currentThread();
        Thread interrupter = new Thread(() -> {
            try {
                started.await();
                caller.interrupt();
            } catch (InterruptedException ignored) {
                // the test ends
            }
        });
        interrupter.start();
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> Workers.run("t", "evaluation", 1, w -> workers -> {
                    started.countDown();
                    while (!workers.stopped()) Thread.sleep(5);
                    Thread.sleep(100); // the sample under way when the caller was interrupted
                    workerDone.set(true);
                    return null;
                }));
        assertTrue(Thread.interrupted(), "the interrupt flag is restored");
        interrupter.join();
        assertEquals("evaluation was interrupted", e.getMessage());
        assertTrue(workerDone.get(), "returned before the worker had");
    }
}
