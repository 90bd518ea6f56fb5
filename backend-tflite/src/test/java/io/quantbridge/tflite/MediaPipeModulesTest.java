package io.quantbridge.tflite;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.backend.Progress;
import io.quantbridge.calib.CalibrationMethod;
import io.quantbridge.calib.CalibratorSpec;
import io.quantbridge.data.Layout;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.data.SampleSource;
import io.quantbridge.request.QuantizationRequest;
import io.quantbridge.request.QuantizationResult;
import io.quantbridge.tensor.FloatTensor;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.lite.schema.BuiltinOperator;
import org.tensorflow.lite.schema.OperatorT;

/**
 * MediaPipe models from its Python wheel (scripts/fetch-models.sh, id mediapipe-modules): face_landmark, a PRELU
 * network, and pose_detection, whose 1x1 conv weights are sparse.
 */
class MediaPipeModulesTest {
    @TempDir
    Path tmp;

    private static final String ID = "mediapipe-modules";
    private static final Preprocessing UNIT = Preprocessing.builder().layout(Layout.NHWC).build();

    private static QuantizationRequest.Builder request(Path model, Path out) {
        Path photos = RealData.data("opencv");
        return QuantizationRequest.builder().model(model).outputDir(out).seed(1).threads(2).maxSamples(32)
                .calibrationData(photos).evaluationData(photos).preprocessing(UNIT)
                .calibrator(CalibratorSpec.of(CalibrationMethod.MSE));
    }

    @SuppressWarnings("unchecked")
    private static double cosine(QuantizationResult r, String output) {
        Map<String, Map<String, Object>> f = (Map<String, Map<String, Object>>) r.report().get("fidelity");
        return ((Number) f.get(output).get("cosine")).doubleValue();
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> floatOps(QuantizationResult r) {
        Map<String, Object> q = (Map<String, Object>) r.report().get("quantization");
        return (List<Map<String, Object>>) q.get("float_ops");
    }

    @Test
    void preluStaysFloatOnTheCpuInOneXnnpackPartition() {
        Path model = RealData.model(ID, "face_landmark.tflite");
        QuantizationResult r = new TfliteBackend().quantize(request(model, tmp).build(), Progress.NONE);
        List<Map<String, Object>> kept = floatOps(r);
        assertEquals(23, kept.size());
        for (Map<String, Object> f : kept) {
            assertEquals("PRELU", f.get("op"));
            assertTrue(((String) f.get("reason")).startsWith("PRELU stays float: XNNPACK (TFLite 2.20) has no int8"
                    + " PRELU"), f.toString());
        }
        assertTrue(cosine(r, "conv2d_21") > 0.999, "landmarks " + cosine(r, "conv2d_21"));
        assertTrue(cosine(r, "conv2d_31") > 0.995, "face flag " + cosine(r, "conv2d_31"));
        try (TfliteSession s = TfliteSession.open(tmp.resolve(TfliteQuantization.INT8_MODEL), 1)) {
            assertEquals(1, s.delegation().partitions(), s.delegation().toString());
            assertEquals(Map.of(), s.delegation().undelegated());
        }
    }

    @Test
    void preluSplitsIntoOpsTheEdgeTpuMapsAndIsExactInFloat() throws Exception {
        Path model = RealData.model(ID, "face_landmark.tflite");
        // in float the split computes what PRELU computes, bit for bit (the interpreter's own kernels)
        TfliteModel m = TfliteModel.load(model);
        m.dequantizeFloat16Weights();
        Map<Integer, double[]> ranges = new HashMap<>();
        for (OperatorT op : m.operators()) {
            if (m.builtinCode(op) != BuiltinOperator.PRELU) continue;
            ranges.put(op.getInputs()[0], new double[] {-1, 1});
            ranges.put(op.getOutputs()[0], new double[] {-1, 1});
        }
        GraphRewrites.Counts c = GraphRewrites.apply(m, ranges, false, op -> false);
        assertEquals(23, c.preluSplit());
        assertTrue(m.operators().stream().noneMatch(op -> m.builtinCode(op) == BuiltinOperator.PRELU));
        Path split = tmp.resolve("split.tflite");
        m.save(split);
        TfliteSession.Options plain = new TfliteSession.Options(1, false, false);
        try (TfliteSession a = TfliteSession.open(model, plain); TfliteSession b = TfliteSession.open(split, plain)) {
            Path photo = RealData.data("skimage").resolve("astronaut.png");
            Map<String, FloatTensor> feed = SampleSource.load(SampleSource.discover(photo).samples().get(0),
                    a.inputs(), UNIT);
            Map<String, FloatTensor> ra = a.run(feed);
            Map<String, FloatTensor> rb = b.run(feed);
            for (String k : ra.keySet()) assertArrayEquals(ra.get(k).data(), rb.get(k).data(), 0f, k);
        }

        // int8 for the Edge TPU: before, the model was refused (23 PRELUs would stay float)
        QuantizationResult r = new TfliteBackend().quantize(request(model, tmp.resolve("edgetpu")).target("edgetpu")
                .build(), Progress.NONE);
        TfliteModel q = TfliteModel.load(tmp.resolve("edgetpu").resolve(TfliteQuantization.INT8_MODEL));
        EdgeTpu.Report report = EdgeTpu.analyze(q);
        assertTrue(report.compatible(), report.toString());
        assertEquals(null, report.firstUnmapped());
        assertEquals(List.of(), floatOps(r));
        assertTrue(cosine(r, "conv2d_21") > 0.999, "landmarks " + cosine(r, "conv2d_21"));
        assertTrue(cosine(r, "conv2d_31") > 0.995, "face flag " + cosine(r, "conv2d_31"));
    }

    @Test
    void sparsePoseDetectorIsQuantizedWhole() {
        Path model = RealData.model(ID, "pose_detection.tflite");
        Preprocessing minusOneToOne = Preprocessing.builder().scale(1 / 127.5).mean(1).std(1)
                .layout(Layout.NHWC).build();
        QuantizationResult r = new TfliteBackend().quantize(request(model, tmp).preprocessing(minusOneToOne).build(),
                Progress.NONE);
        TfliteModel q = TfliteModel.load(tmp.resolve(TfliteQuantization.INT8_MODEL));
        // before: 38 sparse convs stayed float and XNNPACK ran them wrongly (person score cosine 0.92)
        assertEquals(RealData.weightedOps(q).size(), TfliteQuantizationTest.assertInt8Compute(q));
        assertTrue(q.operators().stream().noneMatch(op -> q.builtinCode(op) == BuiltinOperator.DENSIFY));
        assertTrue(cosine(r, "Identity_1") > 0.985, "person scores " + cosine(r, "Identity_1"));
    }
}
