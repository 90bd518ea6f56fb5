package io.quantbridge.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.quantbridge.backend.Backend;
import io.quantbridge.backend.BackendSelector;
import io.quantbridge.backend.Progress;
import io.quantbridge.calib.CalibrationMethod;
import io.quantbridge.calib.CalibratorSpec;
import io.quantbridge.data.Layout;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.request.QuantizationRequest;
import io.quantbridge.request.QuantizationResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A Java service quantizes on several threads at once: ppocr-cls through the onnx backend and BlazeFace through the
 * tflite backend, two of each at the same time, in one JVM. Each writes exactly what it writes alone: the same
 * calibration tables, caches and models, byte for byte, and the same fidelity.
 */
class ConcurrentQuantizeTest {
    @TempDir
    Path tmp;

    private static QuantizationRequest cls(Path out) {
        return QuantizationRequest.builder().model(RealModels.model("ch_ppocr_mobile_v2.0_cls_infer.onnx"))
                .calibrationData(RealModels.photos()).evaluationData(RealModels.photos()).maxSamples(8).seed(5)
                .preprocessing(Preprocessing.builder().size(192, 48).mean(0.5, 0.5, 0.5).std(0.5, 0.5, 0.5).build())
                .calibrator(CalibratorSpec.of(CalibrationMethod.MSE)).outputDir(out).build();
    }

    private static QuantizationRequest blazeface(Path out) {
        return QuantizationRequest.builder()
                .model(RealModels.npmModel("blazeface-tflite", "face_detection_short_range.tflite"))
                .calibrationData(RealModels.photos()).evaluationData(RealModels.photos()).maxSamples(8).seed(5)
                .preprocessing(Preprocessing.builder().layout(Layout.NHWC).scale(1 / 127.5).mean(1, 1, 1)
                        .std(1, 1, 1).build())
                .calibrator(CalibratorSpec.of(CalibrationMethod.PERCENTILE)).outputDir(out).build();
    }

    private static QuantizationResult run(Backend backend, QuantizationRequest request) {
        return backend.quantize(request, Progress.NONE);
    }

    @Test
    void quantizationsOnSeveralThreadsWriteWhatEachWritesAlone() throws Exception {
        BackendSelector selector = BackendSelector.fromEnvironment();
        Backend onnx = selector.find("onnx").orElseThrow();
        Backend tflite = selector.find("tflite").orElseThrow();
        QuantizationResult clsAlone = run(onnx, cls(tmp.resolve("cls-alone")));
        QuantizationResult faceAlone = run(tflite, blazeface(tmp.resolve("face-alone")));

        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<QuantizationResult>> runs = List.of(
                    pool.submit(() -> run(onnx, cls(tmp.resolve("cls-0")))),
                    pool.submit(() -> run(tflite, blazeface(tmp.resolve("face-0")))),
                    pool.submit(() -> run(onnx, cls(tmp.resolve("cls-1")))),
                    pool.submit(() -> run(tflite, blazeface(tmp.resolve("face-1")))));
            for (int i = 0; i < runs.size(); i++) {
                boolean isCls = i % 2 == 0;
                QuantizationResult alone = isCls ? clsAlone : faceAlone;
                QuantizationResult together = runs.get(i).get();
                Path a = tmp.resolve(isCls ? "cls-alone" : "face-alone");
                Path t = tmp.resolve((isCls ? "cls-" : "face-") + (i / 2));
                List<String> files = isCls ? List.of("model.int8.onnx", "calibration.json", "calibration.cache")
                        : List.of("model.int8.tflite", "calibration.json");
                for (String f : files) {
                    assertArrayEquals(Files.readAllBytes(a.resolve(f)), Files.readAllBytes(t.resolve(f)), t + " " + f);
                }
                assertEquals(fidelity(alone), fidelity(together), t.toString());
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /** report.json's fidelity without wall times (there are none in it, but the map is compared whole). */
    private static String fidelity(QuantizationResult r) {
        return String.valueOf(((Map<?, ?>) r.report().get("fidelity")));
    }
}
