package io.quantbridge.tflite;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.backend.Progress;
import io.quantbridge.calib.CalibrationMethod;
import io.quantbridge.calib.CalibratorSpec;
import io.quantbridge.data.Layout;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.data.SampleRef;
import io.quantbridge.data.SampleSource;
import io.quantbridge.metrics.LayerErrors;
import io.quantbridge.request.QuantizationResult;
import io.quantbridge.request.QuantizationRequest;
import io.quantbridge.tensor.FloatTensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code quantize --layers} on the tflite backend: blazeface, int8, compared op by op in the interpreter. */
class TfliteLayerErrorsTest {
    @TempDir
    Path tmp;

    private static final Preprocessing MINUS_ONE_TO_ONE = Preprocessing.builder().scale(1 / 127.5)
            .mean(1, 1, 1).std(1, 1, 1).layout(Layout.NHWC).build();

    @Test
    void everyInt8OpIsComparedAndTheOutputRowsAreTheOutputsFidelityInTheSameKernels() throws IOException {
        Path model = RealData.model("blazeface-tflite", "face_detection_short_range.tflite");
        Path eval = Files.createDirectories(tmp.resolve("eval"));
        Files.createSymbolicLink(eval.resolve("astronaut.png"), RealData.data("skimage").resolve("astronaut.png"));
        Files.createSymbolicLink(eval.resolve("messi5.jpg"), RealData.data("opencv").resolve("messi5.jpg"));
        Path out = tmp.resolve("q");
        QuantizationResult r = new TfliteBackend().quantize(QuantizationRequest.builder().model(model)
                .outputDir(out).seed(1).threads(2).maxSamples(12).calibrationData(RealData.data("opencv"))
                .evaluationData(eval)
                .calibrator(CalibratorSpec.of(CalibrationMethod.PERCENTILE)).preprocessing(MINUS_ONE_TO_ONE)
                .layerErrors(4).build(), Progress.NONE);
        Map<?, ?> layers = (Map<?, ?>) r.report().get("layers");
        assertEquals(2, ((Number) layers.get("samples")).intValue());
        assertEquals(0, ((Number) layers.get("unmatched_tensors")).intValue(), layers.toString());
        List<Map<?, ?>> rows = ((List<?>) layers.get("tensors")).stream().<Map<?, ?>>map(o -> (Map<?, ?>) o).toList();
        // each of the 37 int8 convs reads int8 weights and is a row of its own
        assertEquals(37, rows.stream().filter(m -> "weights".equals(m.get("int8_source"))).count(), rows.toString());
        List<?> worst = (List<?>) layers.get("worst");
        assertEquals(4, worst.size());
        double previous = Double.NEGATIVE_INFINITY;
        for (Object o : worst) {
            Map<?, ?> m = (Map<?, ?>) o;
            assertTrue(m.get("int8_source") != null, m.toString());
            double added = ((Number) m.get("added_sqnr_db")).doubleValue();
            assertTrue(added >= previous, "worst first: " + worst);
            previous = added;
        }
        // the equalized float model is written when equalization rescaled channels, and is the reference
        int pairs = ((Number) ((Map<?, ?>) r.report().get("equalization")).get("pairs")).intValue();
        Path reference = out.resolve(TfliteQuantization.FLOAT_MODEL);
        assertEquals(pairs > 0, Files.isRegularFile(reference));
        if (pairs == 0) reference = model;
        // the rows of the outputs (and of the int8 tensors behind them, which stand for the same reference tensors)
        // are what the two models give in the same kernels (no XNNPACK), computed here on their own
        TfliteSession.Options plain = new TfliteSession.Options(1, false, false);
        List<SampleRef> samples = SampleSource.discover(eval).samples();
        try (TfliteSession f = TfliteSession.open(reference, plain);
             TfliteSession q = TfliteSession.open(out.resolve(TfliteQuantization.INT8_MODEL), plain)) {
            for (String output : List.of("classificators", "regressors")) {
                double p = 0;
                double e = 0;
                for (SampleRef s : samples) {
                    Map<String, FloatTensor> feed = SampleSource.load(s, f.inputs(), MINUS_ONE_TO_ONE);
                    float[] a = f.run(feed).get(output).data();
                    float[] b = q.run(feed).get(output).data();
                    for (int i = 0; i < a.length; i++) {
                        p += (double) a[i] * a[i];
                        e += (double) (b[i] - a[i]) * (b[i] - a[i]);
                    }
                }
                List<Map<?, ?>> named = rows.stream().filter(m -> m.get("tensor").equals(output)).toList();
                assertTrue(!named.isEmpty(), "no row for " + output);
                for (Map<?, ?> m : named) {
                    assertEquals(10 * Math.log10(p / e), ((Number) m.get("sqnr_db")).doubleValue(), 1e-6, m.toString());
                }
            }
        }
        // a float model against itself: every tensor equal, no rounding listed
        TfliteModel m = TfliteModel.load(model);
        List<SampleRef> one = samples.subList(0, 1);
        LayerErrors.Result self = TfliteLayerErrors.compare(m, m, 1,
                i -> SampleSource.load(one.get(i), m.inputs(), MINUS_ONE_TO_ONE), 1, Progress.NONE);
        // every op output but those of the DEQUANTIZE ops that widen its float16 weights (constants: exact)
        long dequantized = m.operators().stream()
                .filter(op -> m.builtinCode(op) == org.tensorflow.lite.schema.BuiltinOperator.DEQUANTIZE).count();
        assertTrue(dequantized > 50, "float16 weights: " + dequantized);
        assertEquals(m.operators().size() - dequantized, self.rows().size());
        assertEquals(0, self.unmatched());
        assertTrue(self.rows().stream().allMatch(row -> row.sqnrDb() == Double.POSITIVE_INFINITY), self.rows()
                .toString());
        assertEquals(List.of(), self.worst(3));
    }
}
