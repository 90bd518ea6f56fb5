package io.quantbridge.tflite;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.tensor.TensorInfo;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class TfliteLogsTest {
    /**
     * In a fresh JVM (the runtime prints its INFO line once per process, on the native stderr): a session on the
     * float BlazeFace runs with XNNPACK and prints nothing, and the runtime's threshold is WARNING afterwards.
     */
    @Test
    void aSessionPrintsNoRuntimeInfoLine() throws Exception {
        Path model = RealData.model("blazeface-tflite", "face_detection_short_range.tflite");
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), Child.class.getName(), model.toString())
                .start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out + err);
        assertEquals("threshold before 1, after 2, outputs 2\n", out, err);
        assertFalse(err.contains("INFO:"), err);
    }

    /** The child process: opens the model, runs it once, reports the runtime's log threshold before and after. */
    static final class Child {
        public static void main(String[] args) throws IOException {
            int before = TfliteLogs.threshold();
            try (TfliteSession s = TfliteSession.open(Path.of(args[0]), 1)) {
                TensorInfo in = s.inputs().get(0);
                long[] shape = in.shape();
                Map<String, FloatTensor> y = s.run(Map.of(in.name(),
                        new FloatTensor(shape, new float[(int) FloatTensor.elementCount(shape)])));
                System.out.print("threshold before " + before + ", after " + TfliteLogs.threshold() + ", outputs "
                        + y.size() + "\n");
            }
        }
    }
}
