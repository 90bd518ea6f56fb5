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
 */
public final class OrtRuntime {
    private static boolean hooked;

    private OrtRuntime() { }

    /** {@link OrtEnvironment#getEnvironment()}, loading ONNX Runtime on first use. */
    public static OrtEnvironment environment() {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        removeLoaderFolderAtExit();
        return env;
    }

    private static synchronized void removeLoaderFolderAtExit() {
        if (hooked) return;
        hooked = true;
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
