package io.quantbridge.tflite;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.Progress;
import io.quantbridge.data.Layout;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.request.Precision;
import io.quantbridge.request.QuantizationRequest;
import io.quantbridge.request.QuantizationResult;
import io.quantbridge.tensor.FloatTensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.lite.schema.BuiltinOperator;
import org.tensorflow.lite.schema.OperatorT;
import org.tensorflow.lite.schema.TensorT;
import org.tensorflow.lite.schema.TensorType;

/**
 * Dynamic range on the real models: int8 weights in every CONV_2D / FULLY_CONNECTED (DEPTHWISE_CONV_2D stays float,
 * see {@link DynamicRangeQuantizer#DEPTHWISE_STAYS_FLOAT}), float activations, run in the
 * interpreter and compared with the float model on held-out inputs (no calibration data is used at all).
 */
class DynamicRangeTest {
    @TempDir
    Path tmp;

    /** blazeface's CONV_2D ops (it has 16 DEPTHWISE_CONV_2D besides). */
    private static final int BLAZEFACE_CONVS = 21;

    private static final Preprocessing MINUS_ONE_TO_ONE = Preprocessing.builder().scale(1 / 127.5)
            .mean(1, 1, 1).std(1, 1, 1).layout(Layout.NHWC).build();

    private QuantizationResult dynamic(Path model, Path eval, Preprocessing pre) {
        QuantizationRequest.Builder b = QuantizationRequest.builder().model(model).outputDir(tmp).seed(1).threads(2)
                .precision(Precision.DYNAMIC).evaluationData(eval);
        if (pre != null) b.preprocessing(pre);
        return new TfliteBackend().quantize(b.build(), Progress.NONE);
    }

    /**
     * Every CONV_2D / FULLY_CONNECTED (and DEPTHWISE_CONV_2D when {@code depthwise}) is hybrid: float32 input and
     * output, int8 symmetric per-channel weights on the kernel's dimension, float32 bias, hybrid op version; no
     * DEQUANTIZE feeds one. Without {@code depthwise}, every DEPTHWISE_CONV_2D reads float weights. Returns the number
     * of hybrid ops.
     */
    static int assertHybrid(TfliteModel m, boolean depthwise) {
        int n = 0;
        for (OperatorT op : RealData.weightedOps(m)) {
            int code = m.builtinCode(op);
            String where = m.opName(op) + " -> " + m.tensor(op.getOutputs()[0]).getName();
            if (code == BuiltinOperator.DEPTHWISE_CONV_2D && !depthwise) {
                assertEquals(TensorType.FLOAT32, m.tensor(op.getInputs()[1]).getType(), where + " weights");
                continue;
            }
            n++;
            assertEquals(TensorType.FLOAT32, m.tensor(op.getInputs()[0]).getType(), where + " input");
            assertEquals(TensorType.FLOAT32, m.tensor(op.getOutputs()[0]).getType(), where + " output");
            TensorT w = m.tensor(op.getInputs()[1]);
            assertEquals(TensorType.INT8, w.getType(), where + " weights");
            assertTrue(m.isConstant(op.getInputs()[1]), where + " weights constant");
            var q = w.getQuantization();
            int axis = code == BuiltinOperator.DEPTHWISE_CONV_2D ? 3 : 0;
            assertEquals(axis, q.getQuantizedDimension(), where);
            assertEquals(w.getShape()[axis], q.getScale().length, where + " per-channel scales");
            for (long zp : q.getZeroPoint()) assertEquals(0, zp, where + " zero point");
            byte[] data = m.bytes(op.getInputs()[1]);
            for (byte v : data) assertTrue(v >= -127, where + " symmetric range");
            if (op.getInputs().length > 2 && op.getInputs()[2] >= 0) {
                assertEquals(TensorType.FLOAT32, m.tensor(op.getInputs()[2]).getType(), where + " bias");
                assertTrue(m.isConstant(op.getInputs()[2]), where + " bias constant");
            }
            int version = m.opCode(op).getVersion();
            assertEquals(code == BuiltinOperator.CONV_2D ? 5 : code == BuiltinOperator.DEPTHWISE_CONV_2D ? 6 : 12,
                    version, where + " version");
        }
        return n;
    }

    @SuppressWarnings("unchecked")
    private static double cosine(QuantizationResult r, String output) {
        Map<String, Map<String, Object>> f = (Map<String, Map<String, Object>>) r.report().get("fidelity");
        return ((Number) f.get(output).get("cosine")).doubleValue();
    }

    @SuppressWarnings("unchecked")
    private static double meanCosine(QuantizationResult r, String output) {
        Map<String, Map<String, Object>> f = (Map<String, Map<String, Object>>) r.report().get("fidelity");
        return ((Number) f.get(output).get("cosine_mean")).doubleValue();
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> dynamicReport(QuantizationResult r) {
        return (Map<String, Object>) r.report().get("dynamic_range");
    }

    private static double sizeRatio(QuantizationResult r) {
        @SuppressWarnings("unchecked")
        Map<String, Object> size = (Map<String, Object>) dynamicReport(r).get("size");
        return ((Number) size.get("ratio")).doubleValue();
    }

    private TfliteModel written() {
        return TfliteModel.load(tmp.resolve(TfliteQuantization.DYNAMIC_MODEL));
    }

    /** The written model runs in the interpreter (XNNPACK) on a zero input and gives finite outputs. */
    private void runsOnZeros() {
        try (TfliteSession s = TfliteSession.open(tmp.resolve(TfliteQuantization.DYNAMIC_MODEL), 1)) {
            long[] shape = s.inputs().get(0).shape().clone();
            if (shape[0] < 0) shape[0] = 1;
            var out = s.run(Map.of(s.inputs().get(0).name(),
                    new FloatTensor(shape, new float[(int) FloatTensor.elementCount(shape)])));
            for (FloatTensor t : out.values()) for (float v : t.data()) assertTrue(Float.isFinite(v));
        }
    }

    @Test
    void wakewordEmbeddingTrueFp32() {
        Path model = RealData.model("wakeword-embed", "embedding_model.tflite");
        QuantizationResult r = dynamic(model, RealData.wakewordMel().resolve("eval"), null);
        TfliteModel q = written();
        assertEquals(20, assertHybrid(q, false));
        runsOnZeros();
        // measured 0.9977 over 709 held-out windows
        assertTrue(cosine(r, "StatefulPartitionedCall:0") >= 0.995, r.report().get("fidelity").toString());
        // float32 weights to int8: a quarter of the file, plus the float32 biases
        assertTrue(sizeRatio(r) < 0.29, "size ratio " + sizeRatio(r));
        assertEquals(List.of(), dynamicReport(r).get("float_weights"));
        assertEquals(Map.of("CONV_2D", 20), dynamicReport(r).get("hybrid_by_type"));
        assertEquals(null, r.report().get("calibrator"));
        assertTrue(Files.isRegularFile(tmp.resolve(TfliteQuantization.DYNAMIC_MODEL)));
        assertEquals(List.of(), q.float16Tensors());
    }

    @Test
    void blazefaceFloat16WeightsBecomeInt8AndTheirDequantizeGoes() {
        Path model = RealData.model("blazeface-tflite", "face_detection_short_range.tflite");
        QuantizationResult r = dynamic(model, RealData.data("opencv"), MINUS_ONE_TO_ONE);
        TfliteModel q = written();
        assertEquals(BLAZEFACE_CONVS, assertHybrid(q, false));
        runsOnZeros();
        // the float16 weights and biases of the convs became int8 / float32: their DEQUANTIZE are gone; those of the
        // depthwise convs stay
        assertEquals(2 * BLAZEFACE_CONVS, dynamicReport(r).get("dropped_dequantize"));
        assertEquals(2 * 16, q.operators().stream().filter(o -> q.opName(o).equals("DEQUANTIZE"))
                .count());
        // measured over 91 opencv photos: pooled 0.9420 / 0.9391, per-photo mean 0.9988 / 0.9954. The pooled numbers
        // follow opencv-logo.png alone, on which the float logits reach -16,800 (hybrid depthwise convs gave pooled
        // 0.9829 / 0.9908 there, at 15x the latency)
        assertTrue(cosine(r, "regressors") >= 0.93, r.report().get("fidelity").toString());
        assertTrue(cosine(r, "classificators") >= 0.93, r.report().get("fidelity").toString());
        assertTrue(meanCosine(r, "regressors") >= 0.995, r.report().get("fidelity").toString());
        assertTrue(meanCosine(r, "classificators") >= 0.99, r.report().get("fidelity").toString());
        // from float16 weights: about 0.68 of the file
        assertTrue(sizeRatio(r) < 0.70, "size ratio " + sizeRatio(r));
    }

    @Test
    void selfieSegmentationsTransposedConvolutionBecomesAHybridConvAndDepthToSpace() {
        Path model = RealData.model("selfie-seg", "selfie_segmentation.tflite");
        QuantizationResult r = dynamic(model, RealData.data("opencv"), null);
        TfliteModel q = written();
        assertEquals(44, assertHybrid(q, false));
        runsOnZeros();
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> floatOps = (List<Map<String, Object>>) dynamicReport(r).get("float_weighted_ops");
        assertEquals(11, floatOps.size(), floatOps.toString());
        for (Map<String, Object> k : floatOps) {
            assertEquals(DynamicRangeQuantizer.DEPTHWISE_STAYS_FLOAT, k.get("reason"), k.toString());
        }
        // MediaPipe's custom transposed convolution is written as the builtin TRANSPOSE_CONV, and that (its 2x2
        // kernel is its stride) as a 1x1 CONV_2D, hybrid like the others, and DEPTH_TO_SPACE; the weights and biases
        // of the 11 depthwise convs stay float16 behind DEQUANTIZE
        assertEquals(1, dynamicReport(r).get("custom_transpose_conv_to_builtin"));
        assertEquals(1, dynamicReport(r).get("transpose_conv_to_conv_depth_to_space"));
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> kept = (List<Map<String, Object>>) dynamicReport(r).get("float_weights");
        assertEquals(2 * 11, kept.size(), kept.toString());
        List<String> names = q.operators().stream().map(q::opName).toList();
        assertTrue(!names.contains("Convolution2DTransposeBias") && !names.contains("TRANSPOSE_CONV"), names.toString());
        assertEquals(List.of("CONV_2D", "DEPTH_TO_SPACE", "LOGISTIC"), names.subList(names.size() - 3, names.size()));
        OperatorT conv = q.operators().get(names.size() - 3);
        assertEquals(TensorType.INT8, q.tensor(conv.getInputs()[1]).getType(), "hybrid weights");
        assertTrue(q.operators().stream().anyMatch(o -> q.opName(o).equals("DEQUANTIZE")
                && q.tensor(o.getInputs()[0]).getType() == TensorType.FLOAT16));
        // measured 0.9955 over 91 opencv photos (0.9593 with hybrid depthwise convs)
        assertTrue(cosine(r, "activation_10") >= 0.99, r.report().get("fidelity").toString());
        // 0.749: float16 weights to int8, less the depthwise weights and the float32 biases
        assertTrue(sizeRatio(r) < 0.76, "size ratio " + sizeRatio(r));
    }

    @Test
    void hybridDepthwiseWhenAsked() throws Exception {
        TfliteModel original = TfliteModel.load(RealData.model("selfie-seg", "selfie_segmentation.tflite"));
        DynamicRangeQuantizer.Result r = DynamicRangeQuantizer.quantize(original, true, List.of(), true);
        assertEquals(55, assertHybrid(r.model(), true));
        assertEquals(Map.of("CONV_2D", 44, "DEPTHWISE_CONV_2D", 11), r.toMap().get("hybrid_by_type"));
        r.model().save(tmp.resolve(TfliteQuantization.DYNAMIC_MODEL));
        runsOnZeros();
    }

    @Test
    void poseLandmarks() {
        Path model = RealData.model("pose-lite", "pose_landmark_lite.tflite");
        QuantizationResult r = dynamic(model, RealData.data("opencv"), null);
        TfliteModel q = written();
        assertEquals(54, assertHybrid(q, false));
        runsOnZeros();
        // measured over 91 opencv photos: 0.9512 landmarks, 0.7314 pose flag, 0.7859 segmentation, 0.9851 heatmap,
        // 0.9158 world landmarks (0.9389 / 0.7127 / 0.7409 / 0.9776 / 0.9059 with hybrid depthwise convs): pose-lite
        // loses about as much with dynamic range as with full int8 (the hybrid kernels quantize activations too)
        double[] measured = {0.9512, 0.7314, 0.7859, 0.9851, 0.9158};
        String[] outputs = {"Identity", "Identity_1", "Identity_2", "Identity_3", "Identity_4"};
        for (int i = 0; i < outputs.length; i++) {
            assertTrue(cosine(r, outputs[i]) >= measured[i] - 0.02, outputs[i] + ": " + r.report().get("fidelity"));
        }
        assertTrue(sizeRatio(r) < 0.60, "size ratio " + sizeRatio(r));
    }

    @Test
    void unusedCalibrationSamplesAreSaid() {
        List<String> notes = new java.util.ArrayList<>();
        new TfliteBackend().quantize(QuantizationRequest.builder()
                .model(RealData.model("blazeface-tflite", "face_detection_short_range.tflite"))
                .outputDir(tmp.resolve("unused-calib")).precision(Precision.DYNAMIC).preprocessing(MINUS_ONE_TO_ONE)
                .calibrationData(RealData.data("opencv")).maxSamples(4).build(), new Progress() {
                    @Override public void begin(String task, long total) { }
                    @Override public void advance(long steps) { }
                    @Override public void end() { }
                    @Override public void note(String message) { notes.add(message); }
                });
        assertTrue(notes.contains("--precision dynamic does not calibrate, so the 4 --calib samples go unused; --gptq K"
                + " rounds the int8 weights from K of them (Hessian-aware, usually far closer to the float model than"
                + " nearest rounding)"), notes.toString());
    }

    @Test
    void dynamicRangeRefusesWhatItCannotDo() {
        Path model = RealData.model("wakeword-embed", "embedding_model.tflite");
        QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> new TfliteBackend().quantize(
                QuantizationRequest.builder().model(model).outputDir(tmp).precision(Precision.DYNAMIC)
                        .target("edgetpu").build(), Progress.NONE));
        assertEquals("--target edgetpu needs --precision int8: the Edge TPU runs only full-integer models",
                e.getMessage());
        e = assertThrows(QuantbridgeException.class, () -> new TfliteBackend().quantize(
                QuantizationRequest.builder().model(model).outputDir(tmp).precision(Precision.DYNAMIC)
                        .reuseTable(tmp.resolve("calibration.json")).build(), Progress.NONE));
        assertEquals("--table: --precision dynamic does not calibrate, so it takes no calibration table",
                e.getMessage());
        // excluding every conv leaves nothing to quantize: said, not written
        e = assertThrows(QuantbridgeException.class, () -> new TfliteBackend().quantize(
                QuantizationRequest.builder().model(model).outputDir(tmp).precision(Precision.DYNAMIC)
                        .excludes(List.of("CONV_2D")).build(), Progress.NONE));
        assertTrue(e.getMessage().startsWith("--precision dynamic: model " + model + " has no CONV_2D,"
                + " DEPTHWISE_CONV_2D or FULLY_CONNECTED with constant float weights"), e.getMessage());
        assertTrue(!Files.exists(tmp.resolve(TfliteQuantization.DYNAMIC_MODEL)));
        // GPTQ needs calibration samples, and per-channel scales
        e = assertThrows(QuantbridgeException.class, () -> new TfliteBackend().quantize(
                QuantizationRequest.builder().model(model).outputDir(tmp).precision(Precision.DYNAMIC)
                        .gptqSamples(8).build(), Progress.NONE));
        assertEquals("--gptq: GPTQ rounds from the input statistics of calibration samples; give them with --calib"
                + " (--precision dynamic needs no other data)", e.getMessage());
        e = assertThrows(QuantbridgeException.class, () -> new TfliteBackend().quantize(
                QuantizationRequest.builder().model(model).outputDir(tmp).precision(Precision.DYNAMIC)
                        .calibrationData(RealData.data("opencv")).perChannel(false).gptqSamples(8).build(),
                Progress.NONE));
        assertEquals("--gptq: it rounds on per-channel weight scales, and --per-tensor asks for per-tensor ones",
                e.getMessage());
        assertTrue(!Files.exists(tmp.resolve(TfliteQuantization.DYNAMIC_MODEL)));
    }
}
