package io.quantbridge.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.backend.Backend;
import io.quantbridge.backend.BackendSelector;
import io.quantbridge.backend.ModelSession;
import io.quantbridge.backend.Progress;
import io.quantbridge.calib.CalibrationMethod;
import io.quantbridge.calib.CalibratorSpec;
import io.quantbridge.data.ImageLoader;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.metrics.Fidelity;
import io.quantbridge.metrics.OutputFidelity;
import io.quantbridge.request.Precision;
import io.quantbridge.request.QuantizationRequest;
import io.quantbridge.request.QuantizationResult;
import io.quantbridge.tensor.FloatTensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Java example of README.md ("From Java"), run as written on the real detector and photos: the README shows the
 * body of {@link #example} between the markers, and this test checks that it still does, word for word.
 */
class JavaApiExampleTest {
    @TempDir
    Path tmp;

    /** What the example hands back, for the assertions. */
    record Outcome(Backend backend, QuantizationResult result, FloatTensor probabilities) { }

    static Outcome example(Path model, Path photos, Path out) {
        // README:begin
        QuantizationRequest request = QuantizationRequest.builder()
                .model(model)                      // ONNX for onnx/openvino/tensorrt, .tflite for tflite
                .calibrationData(photos)           // a folder of images or .npy tensors
                .evaluationData(photos)            // the photos not drawn for calibration measure fidelity
                .maxSamples(32).seed(1)            // a seeded split: 32 calibrate, the rest evaluate
                .preprocessing(Preprocessing.builder().size(640, 640)
                        .mean(0.485, 0.456, 0.406).std(0.229, 0.224, 0.225).build())
                .calibrator(CalibratorSpec.of(CalibrationMethod.MSE))
                .precision(Precision.INT8)
                .maskIouThreshold(0.3)
                .outputDir(out)
                .build();

        // -Dquantbridge.backend, QUANTBRIDGE_BACKEND or a config file choose; else the best usable one taking it
        Backend backend = BackendSelector.fromEnvironment().selectToQuantize(null, request).backend();
        QuantizationResult result = backend.quantize(request, Progress.NONE);
        Path int8 = result.artifact("model").orElseThrow().path();
        result.fidelity().forEach((output, f) ->          // pooled over the held-out photos
                System.out.printf("%s: cosine %.4f, mask IoU %.3f%n", output, f.cosine(), f.maskIou().orElseThrow()));

        FloatTensor probabilities;
        try (ModelSession session = backend.open(int8)) { // AutoCloseable: it holds native memory
            FloatTensor image = ImageLoader.load(photos.resolve("imageTextN.png"), request.preprocessing());
            Map<String, FloatTensor> outputs = session.run(Map.of(session.inputs().get(0).name(), image));
            probabilities = outputs.get(session.outputs().get(0).name()); // [1, 1, 640, 640] text probability
        }
        // README:end
        return new Outcome(backend, result, probabilities);
    }

    @Test
    @SuppressWarnings("unchecked")
    void theReadmeExampleRunsAsWrittenAndMeasuresFidelity() throws Exception {
        Path model = RealModels.model("ch_PP-OCRv4_det_infer.onnx");
        Path photos = RealModels.photos();
        Outcome o = example(model, photos, tmp.resolve("out"));

        // the default backend for an ONNX model here: openvino when its runtime is fetched (CI), else onnx
        String expected = BackendSelector.fromEnvironment().select(null, model).backend().id();
        assertEquals(expected, o.backend().id());
        assertTrue(List.of("onnx", "openvino").contains(o.backend().id()), o.backend().id());
        Map<String, OutputFidelity> fidelity = o.result().fidelity();
        assertEquals(List.of("sigmoid_0.tmp_0"), List.copyOf(fidelity.keySet()));
        OutputFidelity det = fidelity.get("sigmoid_0.tmp_0");
        assertEquals(59, det.samples()); // 91 photos, 32 calibrate
        double cosine = det.cosine();
        double iou = det.maskIou().orElseThrow();
        // the typed view is report.json's entry
        Map<String, Object> entry = (Map<String, Object>) ((Map<String, Object>) o.result().report().get("fidelity"))
                .get("sigmoid_0.tmp_0");
        assertEquals(entry, det.values());
        assertEquals(((Number) entry.get("sqnr_db")).doubleValue(), det.sqnrDb());
        assertEquals(0.3, ((Number) det.values().get("mask_threshold")).doubleValue());
        assertTrue(det.top1Agreement().isEmpty());
        assertTrue(cosine > 0.95, "pooled cosine " + cosine);
        assertTrue(iou > 0.88, "mask IoU " + iou);

        // the int8 map of the example photo against the float model's, in the same runtime
        assertEquals(List.of(1L, 1L, 640L, 640L), boxed(o.probabilities().shape()));
        try (ModelSession fp32 = o.backend().open(model)) {
            FloatTensor image = ImageLoader.load(photos.resolve("imageTextN.png"), Preprocessing.builder()
                    .size(640, 640).mean(0.485, 0.456, 0.406).std(0.229, 0.224, 0.225).build());
            float[] ref = fp32.run(Map.of("x", image)).get("sigmoid_0.tmp_0").data();
            double c = Fidelity.cosine(ref, o.probabilities().data());
            double u = Fidelity.maskIou(ref, o.probabilities().data(), 0.3);
            assertTrue(c > 0.97, "cosine on imageTextN.png " + c);
            assertTrue(u > 0.9, "mask IoU on imageTextN.png " + u);
        }
    }

    @Test
    void theReadmeShowsTheExampleWordForWord() throws Exception {
        String source = Files.readString(RealModels.root().resolve(
                "tests/src/test/java/io/quantbridge/e2e/JavaApiExampleTest.java"));
        String body = source.substring(source.indexOf("// README:begin\n") + "// README:begin\n".length(),
                source.indexOf("        // README:end"));
        String readme = Files.readString(RealModels.root().resolve("README.md"));
        String block = readme.substring(readme.indexOf("```java\n") + "```java\n".length());
        block = block.substring(0, block.indexOf("```"));
        assertEquals(dedent(body), dedent(block), "README.md's Java example differs from JavaApiExampleTest.example");
    }

    /** Lines without their common indentation (blank lines kept). */
    private static String dedent(String text) {
        List<String> lines = text.lines().toList();
        int common = Integer.MAX_VALUE;
        for (String l : lines) if (!l.isBlank()) common = Math.min(common, l.length() - l.stripLeading().length());
        List<String> out = new ArrayList<>();
        for (String l : lines) out.add(l.isBlank() ? "" : l.substring(common));
        return String.join("\n", out).strip();
    }

    private static List<Long> boxed(long[] a) {
        List<Long> l = new ArrayList<>();
        for (long v : a) l.add(v);
        return l;
    }
}
