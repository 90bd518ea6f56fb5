package io.quantbridge.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code quantize} in JVMs with little memory. Calibration pins each worker's observed tensors in direct buffers
 * (ppocr-det at 320x320: about 62 MB per worker), which the JVM caps at {@code -XX:MaxDirectMemorySize} (by default
 * the heap size): it runs as many workers as fit, with the same artifacts as any other number of workers, and a JVM too
 * small for even that gets one line saying so and how to give it more, not a stack trace.
 */
class MemoryLimitTest {
    @TempDir
    Path work;

    record Proc(int code, String err) { }

    private Proc quantizeIn(String jvmOption, Path out, String... more) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                jvmOption, "-cp", System.getProperty("java.class.path"), "io.quantbridge.cli.Main"));
        cmd.addAll(QuantizeOnnxEndToEndTest.quantizeArgs(out, "mse"));
        cmd.addAll(List.of(more));
        Path err = work.resolve("stderr-" + out.getFileName());
        Process p = new ProcessBuilder(cmd).directory(work.toFile()).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(err.toFile()).start();
        if (!p.waitFor(300, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("quantize with " + jvmOption + " did not finish");
        }
        return new Proc(p.exitValue(), Files.readString(err, StandardCharsets.UTF_8));
    }

    @Test
    void directMemoryForOneWorkerOnlyRunsOneAndWritesTheSameModel() throws Exception {
        Path reference = work.resolve("reference");
        Cli r = QuantizeOnnxEndToEndTest.quantize(reference, "mse", "--threads", "1");
        assertEquals(0, r.code(), r.err());
        Path small = work.resolve("small");
        Proc p = quantizeIn("-XX:MaxDirectMemorySize=100m", small, "--threads", "2");
        assertEquals(0, p.code(), p.err());
        assertArrayEquals(Files.readAllBytes(reference.resolve("model.int8.onnx")),
                Files.readAllBytes(small.resolve("model.int8.onnx")));
        assertArrayEquals(Files.readAllBytes(reference.resolve("calibration.cache")),
                Files.readAllBytes(small.resolve("calibration.cache")));
        // and the same fidelity to the last digit: evaluation sums its samples in sample order, whoever ran them
        assertEquals(QuantizeOnnxEndToEndTest.report(reference).get("fidelity"),
                QuantizeOnnxEndToEndTest.report(small).get("fidelity"));
        // before: "Exception in thread "main" java.lang.OutOfMemoryError: Cannot reserve 245760 bytes of direct buffer
        // memory" half-way through calibration
        assertFalse(p.err().contains("OutOfMemoryError"), p.err());
    }

    @Test
    void aHeapTooSmallGetsOneLineSayingHowToGiveItMore() throws Exception {
        Path out = work.resolve("tiny");
        Proc p = quantizeIn("-Xmx40m", out);
        assertEquals(1, p.code(), p.err());
        List<String> lines = p.err().lines().toList();
        String last = lines.get(lines.size() - 1);
        assertTrue(last.startsWith("quantbridge quantize: the JVM ran out of memory (") && last.contains("-Xmx8g"),
                p.err());
        assertFalse(p.err().contains("\tat "), "no stack trace: " + p.err());
        assertFalse(Files.exists(out), "no output folder");
    }
}
