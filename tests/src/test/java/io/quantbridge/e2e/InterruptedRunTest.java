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

    @Test
    void sigtermDuringCalibrationStopsCleanly() throws Exception {
        Path out = work.resolve("out");
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx2g", "-cp", System.getProperty("java.class.path"), "io.quantbridge.cli.Main"));
        List<String> args = QuantizeOnnxEndToEndTest.quantizeArgs(out, "entropy");
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
                    Thread.sleep(500); // inside the histogram pass: sessions run on the worker threads
                    p.toHandle().destroy(); // SIGTERM; Process.destroy would also close the pipe read here
                    signalled = true;
                }
            }
        } finally {
            if (!p.waitFor(60, TimeUnit.SECONDS)) p.destroyForcibly();
        }
        assertTrue(signalled, "the run never reached calibration: " + lines);
        assertEquals(143, p.exitValue(), String.join("\n", lines));
        String last = lines.get(lines.size() - 1);
        // the run's staging folder goes, and with it the output folder the run created
        assertTrue(last.matches("quantbridge: interrupted \\(SIGTERM\\); removed unfinished \\["
                + java.util.regex.Pattern.quote(out.resolve(".quantbridge-run-").toString())
                + "[0-9]+\\]; the output folder keeps what it held before this run"), last);
        assertTrue(!Files.exists(out), "an interrupted run left " + out);
        try (Stream<Path> s = Files.walk(work)) {
            List<Path> left = s.filter(f -> f.getFileName().toString().endsWith(".tmp")
                    || f.getFileName().toString().startsWith("hs_err")).toList();
            assertEquals(List.of(), left);
        }
    }
}
