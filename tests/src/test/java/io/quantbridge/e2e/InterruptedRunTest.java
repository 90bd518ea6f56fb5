package io.quantbridge.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * SIGTERM to a {@code quantize} run while ONNX Runtime sessions are running on worker threads: the process stops with
 * 143 and a one-line reason, leaves no temporary files, no staging folder and no output folder, and does not crash (JVM shutdown hooks, ONNX Runtime's among
 * them, would release native state under the running sessions).
 */
class InterruptedRunTest {
    @TempDir
    Path work;

    /** The lines a {@code quantize} run in its own JVM wrote to stderr, and the process once it has ended. */
    private record Stopped(Process process, List<String> lines) { }

    /**
     * Runs {@code quantize} into {@code out} in a JVM of its own and calls {@code signal} with its handle once it
     * prints that calibration has begun; waits for it to end.
     */
    private Stopped stopDuringCalibration(Path out, String calibrator, java.util.function.Consumer<ProcessHandle> signal)
            throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx2g", "-cp", System.getProperty("java.class.path"), "io.quantbridge.cli.Main"));
        List<String> args = QuantizeOnnxEndToEndTest.quantizeArgs(out, calibrator);
        args.remove("--quiet");
        cmd.addAll(args);
        Process p = new ProcessBuilder(cmd).directory(work.toFile()).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .start();
        List<String> lines = new ArrayList<>();
        boolean signalled = false;
        try (BufferedReader err = new BufferedReader(new InputStreamReader(p.getErrorStream(),
                StandardCharsets.UTF_8))) {
            String line;
            while ((line = err.readLine()) != null) {
                lines.add(line);
                if (!signalled && line.contains("calibrating (")) {
                    // through the handle: Process.destroy would also close the pipe read here
                    signal.accept(p.toHandle());
                    signalled = true;
                }
            }
        } finally {
            if (!p.waitFor(60, TimeUnit.SECONDS)) p.destroyForcibly();
        }
        assertTrue(signalled, "the run never reached calibration: " + lines);
        return new Stopped(p, lines);
    }

    @Test
    void sigtermDuringCalibrationStopsCleanly() throws Exception {
        Path out = work.resolve("out");
        Stopped stopped = stopDuringCalibration(out, "entropy", h -> {
            try {
                Thread.sleep(500); // inside the histogram pass: sessions run on the worker threads
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
            h.destroy(); // SIGTERM
        });
        Process p = stopped.process();
        List<String> lines = stopped.lines();
        assertEquals(143, p.exitValue(), String.join("\n", lines));
        String last = lines.get(lines.size() - 1);
        // the run's staging folder goes, and with it the output folder the run created
        assertTrue(last.matches("quantbridge: interrupted \\(SIGTERM\\); removed unfinished \\["
                + java.util.regex.Pattern.quote(out.resolve(".quantbridge-run-").toString())
                + "[0-9a-f]{8}-[0-9]+-[0-9]+-[0-9]+\\]; the output folder keeps what it held before this run"), last);
        assertTrue(!Files.exists(out), "an interrupted run left " + out);
        try (Stream<Path> s = Files.walk(work)) {
            List<Path> left = s.filter(f -> f.getFileName().toString().endsWith(".tmp")
                    || f.getFileName().toString().startsWith("hs_err")).toList();
            assertEquals(List.of(), left);
        }
    }

    /**
     * SIGKILL (the out-of-memory killer's signal) cannot be caught: the run's staging folder stays in {@code --out}.
     * The next run into that folder removes it, naming it, since its process has ended.
     */
    @Test
    void theNextRunRemovesWhatAKilledRunLeft() throws Exception {
        Path out = work.resolve("killed");
        Process p = stopDuringCalibration(out, "max", ProcessHandle::destroyForcibly).process(); // SIGKILL
        assertEquals(137, p.exitValue());
        List<Path> left;
        try (Stream<Path> s = Files.list(out)) {
            left = s.toList();
        }
        assertEquals(1, left.size(), left.toString());
        String stage = left.get(0).getFileName().toString();
        assertTrue(stage.startsWith(".quantbridge-run-") && stage.contains("-" + p.pid() + "-"), stage);

        List<String> again = QuantizeOnnxEndToEndTest.quantizeArgs(out, "max");
        again.remove("--quiet"); // notes are progress output
        Cli next = Cli.run(again);
        assertEquals(0, next.code(), next.err());
        assertTrue(next.err().contains("--out " + out + ": removed " + stage + ", the staging folder of a run (process "
                + p.pid() + ", started "), next.err());
        try (Stream<Path> s = Files.list(out)) {
            assertEquals(List.of("calibration.cache", "calibration.json", "model.fp32.onnx", "model.int8.onnx",
                    "report.json"), s.map(f -> f.getFileName().toString()).sorted().toList());
        }
    }
}
