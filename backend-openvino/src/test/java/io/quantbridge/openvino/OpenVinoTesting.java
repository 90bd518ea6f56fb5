package io.quantbridge.openvino;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.quantbridge.backend.BackendStatus;
import io.quantbridge.data.ImageLoader;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.tensor.FloatTensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Finds the OpenVINO runtime (scripts/fetch-openvino.sh), the real PaddleOCR detector and the photos
 * (scripts/fetch-models.sh) at the repository root; tests skip cleanly when they were not fetched. When the runtime
 * is there, the backend must be usable: a missing JNI bridge is a build failure, not a reason to skip.
 */
final class OpenVinoTesting {
    static final String DETECTOR = "ch_PP-OCRv4_det_infer.onnx";
    static final Preprocessing PRE_320 = Preprocessing.builder().size(320, 320).mean(0.485, 0.456, 0.406)
            .std(0.229, 0.224, 0.225).build();

    private OpenVinoTesting() { }

    static Path root() {
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null && !Files.isRegularFile(dir.resolve("scripts").resolve("fetch-openvino.sh"))) {
            dir = dir.getParent();
        }
        if (dir == null) throw new IllegalStateException("repository root not found");
        return dir;
    }

    /** Skips without a fetched runtime; fails when the runtime is there but the backend is not usable. */
    static OpenVinoRuntime runtime() {
        assumeTrue(OpenVinoBackend.findLibrary().isPresent(), "OpenVINO not fetched: run scripts/fetch-openvino.sh");
        BackendStatus s = new OpenVinoBackend().status();
        assertTrue(s.usable(), s.describe());
        return OpenVinoRuntime.get();
    }

    static Path detector() {
        runtime();
        Path p = root().resolve(".cache/models/ppocr").resolve(DETECTOR);
        assumeTrue(Files.isRegularFile(p), "models not fetched: run scripts/fetch-models.sh");
        return p;
    }

    static Path photos() {
        Path p = root().resolve(".cache/data/opencv");
        assumeTrue(Files.isDirectory(p), "photos not fetched: run scripts/fetch-models.sh");
        return p;
    }

    /** A real photo as the detector's 320x320 input. */
    static Map<String, FloatTensor> photo(String file) {
        return Map.of("x", ImageLoader.load(photos().resolve(file), PRE_320));
    }
}
