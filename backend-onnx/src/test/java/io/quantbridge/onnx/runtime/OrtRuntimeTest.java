package io.quantbridge.onnx.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OrtRuntimeTest {
    /** Fails on an ONNX Runtime upgrade that renames the loader's field: then every run leaves a folder again. */
    @Test
    void theLoaderFolderIsFoundInTheTemporaryFolder() {
        OrtRuntime.environment();
        Path dir = OrtRuntime.loaderFolder();
        assertNotNull(dir, "ai.onnxruntime.OnnxRuntime.tempDirectory is gone: check how this ONNX Runtime extracts");
        assertEquals(Path.of(System.getProperty("java.io.tmpdir")).toAbsolutePath(), dir.toAbsolutePath().getParent());
        assertTrue(dir.getFileName().toString().startsWith("onnxruntime-java"), dir.toString());
    }

    @Test
    void removesALoaderFolderAndItsFilesButNothingElse(@TempDir Path tmp) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("onnxruntime-java123"));
        Files.writeString(dir.resolve("libonnxruntime_providers_shared.so"), "x");
        OrtRuntime.removeFolder(dir);
        assertFalse(Files.exists(dir));

        Path other = Files.createDirectories(tmp.resolve("models"));
        Files.writeString(other.resolve("a.onnx"), "x");
        OrtRuntime.removeFolder(other);
        assertTrue(Files.exists(other.resolve("a.onnx")));
    }
}
