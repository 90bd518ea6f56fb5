package io.quantbridge.onnx.runtime;

import ai.onnxruntime.OrtEnvironment;
import java.io.IOException;
import java.lang.reflect.Field;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/**
 * ONNX Runtime's environment, with the folder its Java loader leaves behind removed at exit.
 *
 * <p>ONNX Runtime 1.29's loader copies its provider bridge ({@code libonnxruntime_providers_shared.so}) into a new
 * {@code onnxruntime-java*} folder under {@code java.io.tmpdir} and marks the folder for deletion at exit before the
 * file, so the JVM tries the folder while it still holds the file: every process that loads ONNX Runtime left an empty
 * folder behind (hundreds a day here). A shutdown hook of ours runs before those deletions and removes the folder with
 * what it holds; the CPU provider never loads that file, and at exit nothing will.
 *
 * <p>ONNX Runtime 1.29 also sends telemetry from Linux: on load it creates a device id and an event database under
 * {@code ~/.cache/Microsoft/DeveloperTools/.onnxruntime}, {@code /tmp/.ses} and {@code /tmp/mat-debug-<pid>.log},
 * and looks up its upload host. Only {@value #TELEMETRY_ENV}{@code =1} in the process environment, before the library
 * loads, stops all of it (Java cannot set it for its own process); {@code bin/quantbridge}, the test builds and the
 * container images set it. Here the environment's telemetry events are turned off as soon as it exists, and
 * {@link #telemetryNote()} says when the uploader itself was left running.
 */
public final class OrtRuntime {
    /** ONNX Runtime's switch: {@code 1} before the library loads stops its telemetry. */
    public static final String TELEMETRY_ENV = "ORT_DISABLE_TELEMETRY";
    private static boolean hooked;

    private OrtRuntime() { }

    /** {@link OrtEnvironment#getEnvironment()}, loading ONNX Runtime on first use. */
    public static OrtEnvironment environment() {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        firstUse(env);
        return env;
    }

    /**
     * Null when {@value #TELEMETRY_ENV} is {@code 1}; otherwise a sentence for status lines saying that ONNX Runtime's
     * uploader runs in this process and how to stop it.
     */
    public static String telemetryNote() {
        if ("1".equals(System.getenv(TELEMETRY_ENV))) return null;
        return "ONNX Runtime's telemetry uploader runs in this process (its events are turned off; set "
                + TELEMETRY_ENV + "=1 before the JVM starts to stop it, as bin/quantbridge does)";
    }

    private static synchronized void firstUse(OrtEnvironment env) {
        if (hooked) return;
        hooked = true;
        try {
            env.setTelemetry(false);
        } catch (ai.onnxruntime.OrtException | RuntimeException e) {
            // a build without telemetry: nothing to turn off
        }
        Path dir = loaderFolder();
        if (dir == null) return;
        Runtime.getRuntime().addShutdownHook(new Thread(() -> removeFolder(dir), "quantbridge-ort-tmp"));
    }

    /** The folder ONNX Runtime's loader extracted into (a private static field), or null when this version has none. */
    static Path loaderFolder() {
        try {
            Field f = Class.forName("ai.onnxruntime.OnnxRuntime").getDeclaredField("tempDirectory");
            f.setAccessible(true);
            return f.get(null) instanceof Path p ? p : null;
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null; // another ONNX Runtime version: nothing to clean then
        }
    }

    /** Deletes a loader folder and the files directly in it; anything else is left alone. */
    static void removeFolder(Path dir) {
        if (!Files.isDirectory(dir) || !dir.getFileName().toString().startsWith("onnxruntime-java")) return;
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.toList()) Files.deleteIfExists(f);
            Files.deleteIfExists(dir);
        } catch (IOException e) {
            // left for the system's cleaning of its temporary folder
        }
    }
}
