package io.quantbridge.cli;

import io.quantbridge.request.StagedOutput;
import io.quantbridge.util.AtomicFiles;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import sun.misc.Signal;

/**
 * What Ctrl-C (SIGINT) and SIGTERM do to a running command: remove the temporary files of writes under way and the
 * staging folder of a quantization under way ({@link StagedOutput}: the output folder keeps what it held), say so,
 * and stop at once with 128 + the signal number, without running shutdown hooks.
 *
 * <p>The default would run the JVM's shutdown hooks while worker threads are still inside native code, and ONNX
 * Runtime's Java API registers one that releases its environment: a session then running on another thread can crash
 * the JVM (a SIGSEGV in libonnxruntime, with an hs_err file in the working folder, was seen on a SIGTERM during
 * fidelity evaluation). Nothing a shutdown hook would do is needed: artifacts are written atomically, so each file in
 * the output folder is complete, and native memory goes with the process.
 */
final class Interrupts {
    private Interrupts() { }

    /** Installs the handlers (where the JVM lets it: not under {@code -Xrs}). */
    static void install(PrintWriter err) {
        for (String name : List.of("INT", "TERM")) {
            try {
                Signal.handle(new Signal(name), s -> stop(s, err));
            } catch (IllegalArgumentException | IllegalStateException e) {
                // the signal is reserved or unavailable here: the JVM's default applies
            }
        }
    }

    private static void stop(Signal s, PrintWriter err) {
        List<Path> runs = StagedOutput.deletePending(); // first: the temporary files of its writes go with it
        List<Path> removed = new java.util.ArrayList<>(runs);
        removed.addAll(AtomicFiles.deletePending());
        err.println();
        err.println("quantbridge: interrupted (SIG" + s.getName() + ")"
                + (removed.isEmpty() ? "" : "; removed unfinished " + removed)
                + (runs.isEmpty() ? "; files already written are complete"
                        : "; the output folder keeps what it held before this run"));
        err.flush();
        Runtime.getRuntime().halt(128 + s.getNumber());
    }
}
