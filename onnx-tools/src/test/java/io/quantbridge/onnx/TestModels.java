package io.quantbridge.onnx;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;

/** Locates the fetched real models; tests skip when they are absent. */
final class TestModels {
    static final String CLS = "ch_ppocr_mobile_v2.0_cls_infer.onnx";
    static final String DET = "ch_PP-OCRv4_det_infer.onnx";
    static final String REC = "ch_PP-OCRv4_rec_infer.onnx";

    private TestModels() { }

    /** The repository root: the first folder upwards from the working directory holding scripts/fetch-models.sh. */
    static Path repoRoot() {
        Path p = Path.of("").toAbsolutePath();
        while (p != null) {
            if (Files.isRegularFile(p.resolve("scripts/fetch-models.sh"))) return p;
            p = p.getParent();
        }
        return null;
    }

    /** The path of a PaddleOCR model, or a skipped test when it has not been fetched. */
    static Path ppocr(String file) {
        return fetched("ppocr", file);
    }

    /** MediaPipe's face detector converted to ONNX (NHWC [1,128,128,3] in [-1, 1]; tf2onnx, opset 12). */
    static Path blazefaceOnnx() {
        return fetched("blazeface-onnx", "face_detection_front_128x128_barracuda.onnx");
    }

    /** openWakeWord's mel-spectrogram front end: raw 16 kHz audio [1, samples] at 16-bit scale in, log-mel out. */
    static Path melspectrogram() {
        return fetched("wakeword-embed", "melspectrogram.onnx");
    }

    private static Path fetched(String id, String file) {
        Path root = repoRoot();
        Path f = root == null ? null : root.resolve(".cache/models").resolve(id).resolve(file);
        assumeTrue(f != null && Files.isRegularFile(f), "models not fetched: run scripts/fetch-models.sh");
        return f;
    }
}
