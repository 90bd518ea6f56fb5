package io.quantbridge.tflite;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.Progress;
import io.quantbridge.calib.CalibrationMethod;
import io.quantbridge.calib.CalibratorSpec;
import io.quantbridge.data.Layout;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.data.SampleSource;
import io.quantbridge.eval.BoxDecoder;
import io.quantbridge.metrics.Box;
import io.quantbridge.request.IoType;
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

/** Real models through calibration in the interpreter, the full-integer rewrite and the interpreter again. */
class TfliteQuantizationTest {
    @TempDir
    Path tmp;

    private static final Preprocessing MINUS_ONE_TO_ONE = Preprocessing.builder().scale(1 / 127.5)
            .mean(1, 1, 1).std(1, 1, 1).layout(Layout.NHWC).build();

    private static QuantizationRequest.Builder request(Path model, Path out) {
        return QuantizationRequest.builder().model(model).outputDir(out).seed(1).threads(2)
                .calibrator(CalibratorSpec.of(CalibrationMethod.PERCENTILE));
    }

    /** Every CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED: int8 input, weights (per channel), output; int32 bias. */
    static int assertInt8Compute(TfliteModel m) {
        int n = 0;
        for (OperatorT op : RealData.weightedOps(m)) {
            int code = m.builtinCode(op);
            n++;
            String where = m.opName(op) + " -> " + m.tensor(op.getOutputs()[0]).getName();
            assertEquals(TensorType.INT8, m.tensor(op.getInputs()[0]).getType(), where + " input");
            TensorT w = m.tensor(op.getInputs()[1]);
            assertEquals(TensorType.INT8, w.getType(), where + " weights");
            assertEquals(TensorType.INT8, m.tensor(op.getOutputs()[0]).getType(), where + " output");
            if (code == BuiltinOperator.CONV_2D) {
                assertEquals(w.getShape()[0], w.getQuantization().getScale().length, where + " per-channel scales");
                assertEquals(0, w.getQuantization().getQuantizedDimension(), where);
                assertEquals(3, m.opCode(op).getVersion(), where + " version");
            } else if (code == BuiltinOperator.DEPTHWISE_CONV_2D) {
                assertEquals(w.getShape()[3], w.getQuantization().getScale().length, where + " per-channel scales");
                assertEquals(3, w.getQuantization().getQuantizedDimension(), where);
                assertTrue(m.opCode(op).getVersion() >= 3, where + " version");
            }
            if (op.getInputs().length > 2 && op.getInputs()[2] >= 0) {
                TensorT b = m.tensor(op.getInputs()[2]);
                assertEquals(TensorType.INT32, b.getType(), where + " bias");
                float in = m.tensor(op.getInputs()[0]).getQuantization().getScale()[0];
                float[] ws = w.getQuantization().getScale();
                float[] bs = b.getQuantization().getScale();
                for (int c = 0; c < bs.length; c++) {
                    assertEquals(in * ws[ws.length == 1 ? 0 : c], bs[c], 1e-6 * bs[c], where + " bias scale " + c);
                }
            }
        }
        return n;
    }

    @SuppressWarnings("unchecked")
    private static double cosine(QuantizationResult r, String output) {
        Map<String, Map<String, Object>> f = (Map<String, Map<String, Object>>) r.report().get("fidelity");
        return ((Number) f.get(output).get("cosine")).doubleValue();
    }

    private static double bestFaceScore(TfliteSession s, Map<String, FloatTensor> feed) {
        float[] logits = s.run(feed).get("classificators").data();
        double best = Double.NEGATIVE_INFINITY;
        for (float l : logits) best = Math.max(best, l);
        return 1 / (1 + Math.exp(-best));
    }

    @Test
    void blazefaceIsFullIntegerAndKeepsTheAstronautsFace() {
        Path model = RealData.model("blazeface-tflite", "face_detection_short_range.tflite");
        Path photos = RealData.data("opencv");
        Path astronaut = RealData.data("skimage").resolve("astronaut.png");
        // every opencv photo but one: messi5.jpg has faces, without which the face logits' range would stop below
        // 0.5; opencv-logo.png stretches 40 tensors up to 35x (calibration.outlier_samples), and with it the int8
        // model reports a face at every anchor whose logit rounds to 0 (80 on five photos with people, see the e2e
        // BoxRecallTest), while its best face score on astronaut.png stays within 0.05 all the same
        QuantizationResult r = new TfliteBackend().quantize(request(model, tmp).calibrationData(photos)
                .calibrationExcludes(List.of("opencv-logo.png"))
                .calibrator(CalibratorSpec.of(CalibrationMethod.MAX)).preprocessing(MINUS_ONE_TO_ONE).build(),
                Progress.NONE);
        assertFalse(((Map<?, ?>) r.report().get("calibration")).containsKey("outlier_samples"));
        Path out = tmp.resolve(TfliteQuantization.INT8_MODEL);
        TfliteModel q = TfliteModel.load(out);
        assertEquals(37, assertInt8Compute(q));
        assertEquals(TensorType.FLOAT32, q.tensor(q.main().getInputs()[0]).getType());
        assertEquals("input", q.tensor(q.main().getInputs()[0]).getName());
        try (TfliteSession f = TfliteSession.open(model, 1); TfliteSession i8 = TfliteSession.open(out, 1)) {
            var feed = SampleSource.load(SampleSource.discover(astronaut).samples().get(0), f.inputs(),
                    MINUS_ONE_TO_ONE);
            double sf = bestFaceScore(f, feed);
            double sq = bestFaceScore(i8, feed);
            assertTrue(sf > 0.9, "float model finds the face: " + sf);
            assertEquals(sf, sq, 0.05, "best face score float vs int8");
            // and only the face: as many boxes at MediaPipe's threshold as the float model, in the same place
            BoxDecoder faces = BoxDecoder.parse("anchors").resolve(f.outputs(), f.inputs());
            List<Box> fb = faces.decode(f.run(feed));
            List<Box> qb = faces.decode(i8.run(feed));
            assertEquals(1, fb.size(), fb.toString());
            assertEquals(1, qb.size(), qb.toString());
            assertTrue(Box.iou(fb.get(0), qb.get(0)) > 0.8, fb + " vs " + qb);
        }
        // the 17 standalone RELUs after ADD/CONV are fused (XNNPACK has no int8 RELU): 17 fewer quantized nodes
        assertTrue(((Number) r.report().get("quantized_nodes")).intValue() >= 71);
        assertEquals(17, rewrites(r).get("fused_activations"));
        // XNNPACK takes the whole int8 model: one partition, no TFLite kernel in between
        try (TfliteSession s = TfliteSession.open(out, 1)) {
            TfliteSession.Delegation d = s.delegation();
            assertEquals(Map.of(), d.undelegated(), d.toString());
            assertEquals(1, d.partitions(), d.toString());
            assertEquals(q.operators().size(), d.delegatedNodes(), d.toString());
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> rewrites(QuantizationResult r) {
        return (Map<String, Object>) ((Map<String, Object>) r.report().get("quantization")).get("graph_rewrites");
    }

    @Test
    void selfieSegmentationWithTheCustomOpExcludedLeavesOnlyItInFloat() {
        // by default the custom op becomes the builtin TRANSPOSE_CONV (next test); excluded, it stays the custom op,
        // in float, and the report says which op stayed float and why
        Path model = RealData.model("selfie-seg", "selfie_segmentation.tflite");
        QuantizationResult r = new TfliteBackend().quantize(request(model, tmp)
                .calibrationData(RealData.data("opencv")).maxSamples(12).exclude(CustomOps.TRANSPOSE_CONV_BIAS)
                .build(), Progress.NONE);
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> floatOps = (List<Map<String, Object>>) ((Map<String, Object>) r.report()
                .get("quantization")).get("float_ops");
        assertEquals(1, floatOps.size(), floatOps.toString());
        assertEquals("Convolution2DTransposeBias", floatOps.get(0).get("op"));
        assertEquals("excluded by --exclude Convolution2DTransposeBias", floatOps.get(0).get("reason"));
        TfliteModel q = TfliteModel.load(tmp.resolve(TfliteQuantization.INT8_MODEL));
        // 43 CONV_2D + 11 DEPTHWISE_CONV_2D, plus the 11 1x1 DEPTHWISE_CONV_2D of HARD_SWISH = x * hard_sigmoid(x)
        assertEquals(65, assertInt8Compute(q));
        Map<String, Object> rw = rewrites(r);
        assertEquals(22, rw.get("fused_activations"));
        assertEquals(10, rw.get("global_average_pool_to_mean"));
        assertEquals(11, rw.get("hard_swish_to_dwconv_mul"));
        // the 10 squeeze-excite gates and the mask logits (calibrated down to about -1000) read by LOGISTIC alone
        assertEquals(10, rw.get("saturating_inputs_narrowed"));
        for (OperatorT op : q.operators()) {
            String n = q.opName(op);
            if (n.equals("LOGISTIC")) {
                QuantParams in = QuantParams.of(q.tensor(op.getInputs()[0]).getQuantization());
                assertTrue(in.min() >= GraphRewrites.LOGISTIC_INPUT[0] - in.scale()
                        && in.max() <= GraphRewrites.LOGISTIC_INPUT[1] + in.scale(), in + " " + in.min() + " "
                        + in.max());
            }
            assertTrue(!n.equals("RELU") && !n.equals("HARD_SWISH") && !n.equals("AVERAGE_POOL_2D"), n);
            if (n.equals("MUL") && q.tensor(op.getInputs()[1]).getName().endsWith("/hard_sigmoid")) {
                var hs = q.tensor(op.getInputs()[1]).getQuantization();
                assertEquals(1f / 255, hs.getScale()[0], 1e-7);
                assertEquals(-128, hs.getZeroPoint()[0]);
            }
        }
        // only the custom op runs outside XNNPACK: two partitions around it
        try (TfliteSession s = TfliteSession.open(tmp.resolve(TfliteQuantization.INT8_MODEL), 1)) {
            TfliteSession.Delegation d = s.delegation();
            assertEquals(Map.of("Convolution2DTransposeBias", 1), d.undelegated(), d.toString());
            assertEquals(2, d.partitions(), d.toString());
        }
        for (OperatorT op : q.operators()) {
            if (EdgeTpu.usesFloat(q, op)) {
                String n = q.opName(op);
                assertTrue(n.equals("QUANTIZE") || n.equals("DEQUANTIZE") || n.equals("Convolution2DTransposeBias")
                        || n.equals("LOGISTIC") && q.tensor(op.getOutputs()[0]).getName().equals("activation_10"),
                        "float op " + n + " -> " + q.tensor(op.getOutputs()[0]).getName());
            }
        }
        try (TfliteSession s = TfliteSession.open(tmp.resolve(TfliteQuantization.INT8_MODEL), 1)) {
            assertEquals(List.of(1L, 256L, 256L, 1L), toList(s.run(Map.of("input_1", new FloatTensor(
                    new long[] {1, 256, 256, 3}, new float[256 * 256 * 3]))).get("activation_10").shape()));
        }
        QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> new TfliteBackend().quantize(
                request(model, tmp.resolve("edgetpu")).calibrationData(RealData.data("opencv")).maxSamples(4)
                        .exclude(CustomOps.TRANSPOSE_CONV_BIAS).target("edgetpu").build(), Progress.NONE));
        assertTrue(e.getMessage().startsWith("--target edgetpu: the model cannot run on the Edge TPU: #112"
                + " Convolution2DTransposeBias stays float"), e.getMessage());
        // the excluded custom op is float already: --keep-float refuses it, saying why
        String custom = (String) floatOps.get(0).get("output");
        e = assertThrows(QuantbridgeException.class, () -> new TfliteBackend().quantize(
                request(model, tmp.resolve("keep-float")).calibrationData(RealData.data("opencv")).maxSamples(4)
                        .exclude(CustomOps.TRANSPOSE_CONV_BIAS).keepFloat(List.of(custom)).build(), Progress.NONE));
        // the op's index in the rewritten model, as quantization.float_ops has it
        assertEquals(123, ((Number) floatOps.get(0).get("index")).intValue());
        assertEquals("--keep-float: op #123 Convolution2DTransposeBias ('" + custom + "') is not quantized in this "
                + "run (excluded by --exclude Convolution2DTransposeBias)", e.getMessage());
        e = assertThrows(QuantbridgeException.class, () -> new TfliteBackend().quantize(
                request(model, tmp.resolve("alpha")).calibrationData(RealData.data("opencv")).maxSamples(4)
                        .equalizeAlpha(1).build(), Progress.NONE));
        assertEquals("--equalize-alpha: the tflite backend equalizes only a conv and the depthwise conv that alone "
                + "reads it, where the depthwise weights take any scale without loss; there is no migration strength "
                + "to choose", e.getMessage());
        assertFalse(Files.exists(tmp.resolve("alpha").resolve(TfliteQuantization.INT8_MODEL)));
        e = assertThrows(QuantbridgeException.class, () -> new TfliteBackend().quantize(
                request(model, tmp.resolve("gptq-edgetpu")).calibrationData(RealData.data("opencv")).maxSamples(4)
                        .target("edgetpu").gptqSamples(4).build(), Progress.NONE));
        assertEquals("--gptq: it rounds on per-channel weight scales, and --target edgetpu asks for per-tensor ones",
                e.getMessage());
        e = assertThrows(QuantbridgeException.class, () -> new TfliteBackend().quantize(
                request(model, tmp.resolve("gptq-table")).reuseTable(tmp.resolve("calibration.json")).gptqSamples(4)
                        .build(), Progress.NONE));
        assertEquals("--gptq: it gathers its statistics in the calibration pass, which a reused --table skips; "
                + "calibrate again", e.getMessage());
        e = assertThrows(QuantbridgeException.class, () -> new TfliteBackend().quantize(
                request(model, tmp.resolve("alpha-search")).calibrationData(RealData.data("opencv")).maxSamples(4)
                        .equalizeAlphaSearch(List.of(0.5, 1.0)).build(), Progress.NONE));
        assertTrue(e.getMessage().startsWith("--equalize-alpha: the tflite backend equalizes only a conv"),
                e.getMessage());
    }

    /**
     * {@code --keep-float} names an op by its first output tensor, as the written model has it (blazeface's first
     * conv writes {@code activation} once its RELU is fused); a name that is no op's, or an op the run does not
     * quantize, is refused, naming it; the Edge TPU takes no float op.
     */
    @Test
    void keepFloatKeepsTheNamedOpsFloatAndRefusesWhatItCannotKeep() {
        Path model = RealData.model("blazeface-tflite", "face_detection_short_range.tflite");
        Path photos = RealData.data("opencv");
        QuantizationResult r = new TfliteBackend().quantize(request(model, tmp.resolve("kept")).calibrationData(photos)
                .maxSamples(4).keepFloat(List.of("depthwise_conv2d", "activation")).build(), Progress.NONE);
        assertEquals(Map.of("given", List.of("depthwise_conv2d", "activation")), r.report().get("float_layers"));
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> floats = (List<Map<String, Object>>) ((Map<String, Object>) r.report()
                .get("quantization")).get("float_ops");
        Map<String, String> why = new java.util.HashMap<>();
        for (Map<String, Object> f : floats) why.put((String) f.get("output"), f.get("op") + ": " + f.get("reason"));
        assertEquals("DEPTHWISE_CONV_2D: kept float by --keep-float", why.get("depthwise_conv2d"));
        assertEquals("CONV_2D: kept float by --keep-float", why.get("activation"));
        TfliteModel q = TfliteModel.load(tmp.resolve("kept").resolve(TfliteQuantization.INT8_MODEL));
        for (OperatorT op : q.operators()) {
            String out = q.tensor(op.getOutputs()[0]).getName();
            if (out.equals("depthwise_conv2d") || out.equals("activation")) {
                assertEquals(TensorType.FLOAT32, q.tensor(op.getInputs()[1]).getType(), out + " weights");
            }
        }

        QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> new TfliteBackend().quantize(
                request(model, tmp.resolve("unknown")).calibrationData(photos).maxSamples(4)
                        .keepFloat(List.of("conv2d_99")).build(), Progress.NONE));
        assertEquals("--keep-float: no operator of the model has the first output tensor 'conv2d_99' (an op is "
                + "named by its first output tensor, as report.json's float_layers ranking and quantization.float_ops"
                + " name them)", e.getMessage());
        e = assertThrows(QuantbridgeException.class, () -> new TfliteBackend().quantize(
                request(model, tmp.resolve("excluded")).calibrationData(photos).maxSamples(4)
                        .excludes(List.of("depthwise_conv2d")).keepFloat(List.of("depthwise_conv2d")).build(),
                Progress.NONE));
        assertEquals("--keep-float: op #1 DEPTHWISE_CONV_2D ('depthwise_conv2d') is not quantized in this run "
                + "(excluded by --exclude depthwise_conv2d)", e.getMessage());
        e = assertThrows(QuantbridgeException.class, () -> new TfliteBackend().quantize(
                request(model, tmp.resolve("edgetpu")).calibrationData(photos).maxSamples(4).target("edgetpu")
                        .floatLayers(2).build(), Progress.NONE));
        assertEquals("--float-layers: --target edgetpu needs every op in int8 (a float op ends what the Edge TPU "
                + "runs)", e.getMessage());
    }

    private static List<Long> toList(long[] a) {
        return java.util.Arrays.stream(a).boxed().toList();
    }

    @Test
    void selfieSegmentationCustomTransposeConvBecomesTheBuiltin() throws Exception {
        Path model = RealData.model("selfie-seg", "selfie_segmentation.tflite");
        // in float the builtin computes what the custom op computes
        TfliteModel rewritten = TfliteModel.load(model);
        rewritten.dequantizeFloat16Weights();
        assertEquals(1, GraphRewrites.customTransposeConvToBuiltin(rewritten, op -> false).size());
        Path builtin = tmp.resolve("builtin.tflite");
        rewritten.save(builtin);
        FloatTensor photo = SampleSource.load(SampleSource.discover(RealData.data("skimage").resolve("astronaut.png"))
                .samples().get(0), List.of(new io.quantbridge.tensor.TensorInfo("input_1", "float",
                new long[] {1, 256, 256, 3})), Preprocessing.builder().size(256, 256).scale(1 / 255.0)
                .layout(Layout.NHWC).build()).get("input_1");
        float[] a;
        float[] b;
        try (TfliteSession s = TfliteSession.open(model, 1); TfliteSession t = TfliteSession.open(builtin, 1)) {
            a = s.run(Map.of("input_1", photo)).get("activation_10").data();
            b = t.run(Map.of("input_1", photo)).get("activation_10").data();
        }
        double worst = 0;
        for (int i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
        assertTrue(worst < 1e-5, "largest difference " + worst);

        // CPU: its 2x2 kernel is its stride, so the builtin becomes an int8 1x1 CONV_2D and DEPTH_TO_SPACE, and the
        // whole int8 model runs in one XNNPACK partition, no custom op left to register
        QuantizationResult r = new TfliteBackend().quantize(request(model, tmp.resolve("int8"))
                .calibrationData(RealData.data("opencv")).maxSamples(12).build(), Progress.NONE);
        assertEquals(1, rewrites(r).get("custom_transpose_conv_to_builtin"));
        assertEquals(1, rewrites(r).get("transpose_conv_to_conv_depth_to_space"));
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> floatOps = (List<Map<String, Object>>) ((Map<String, Object>) r.report()
                .get("quantization")).get("float_ops");
        assertEquals(List.of(), floatOps);
        TfliteModel q = TfliteModel.load(tmp.resolve("int8").resolve(TfliteQuantization.INT8_MODEL));
        assertEquals(66, assertInt8Compute(q));
        assertEquals(List.of("CONV_2D", "DEPTH_TO_SPACE", "LOGISTIC", "DEQUANTIZE"), q.operators()
                .subList(q.operators().size() - 4, q.operators().size()).stream().map(q::opName).toList());
        for (OperatorT op : q.operators()) assertTrue(q.builtinCode(op) != BuiltinOperator.CUSTOM, q.opName(op));
        try (TfliteSession s = TfliteSession.open(tmp.resolve("int8").resolve(TfliteQuantization.INT8_MODEL), 1)) {
            TfliteSession.Delegation d = s.delegation();
            assertEquals(Map.of(), d.undelegated(), d.toString());
            assertEquals(1, d.partitions(), d.toString());
        }

        // FP16: float16 weights, a 1x1 conv and DEPTH_TO_SPACE in place of the custom op, the float function kept
        QuantizationResult h = new TfliteBackend().quantize(request(model, tmp.resolve("fp16"))
                .precision(Precision.FP16).evaluationData(RealData.data("skimage").resolve("astronaut.png"))
                .build(), Progress.NONE);
        assertEquals(1, ((Map<?, ?>) h.report().get("fp16")).get("custom_transpose_conv_to_builtin"));
        assertEquals(1, ((Map<?, ?>) h.report().get("fp16")).get("transpose_conv_to_conv_depth_to_space"));
        TfliteModel hm = TfliteModel.load(tmp.resolve("fp16").resolve(TfliteQuantization.FP16_MODEL));
        for (OperatorT op : hm.operators()) assertTrue(hm.builtinCode(op) != BuiltinOperator.CUSTOM, hm.opName(op));
        assertEquals(1, hm.operators().stream().filter(o -> hm.opName(o).equals("DEPTH_TO_SPACE")).count());
        assertTrue(hm.operators().stream().noneMatch(o -> hm.opName(o).equals("TRANSPOSE_CONV")));
        assertTrue(cosine(h, "activation_10") > 0.9999, h.report().get("fidelity").toString());

        // Edge TPU: quantized like the other convs, and the whole model maps
        new TfliteBackend().quantize(request(model, tmp.resolve("edgetpu")).calibrationData(RealData.data("opencv"))
                .maxSamples(4).target("edgetpu").build(), Progress.NONE);
        TfliteModel e = TfliteModel.load(tmp.resolve("edgetpu").resolve(TfliteQuantization.INT8_MODEL));
        int transposed = 0;
        for (OperatorT op : e.operators()) {
            if (e.builtinCode(op) != BuiltinOperator.TRANSPOSE_CONV) continue;
            transposed++;
            assertEquals(3, e.opCode(op).getVersion());
            assertEquals(TensorType.INT8, e.tensor(op.getInputs()[1]).getType(), "weights");
            assertEquals(1, e.tensor(op.getInputs()[1]).getQuantization().getScale().length, "per-tensor weights");
            assertEquals(TensorType.INT8, e.tensor(op.getInputs()[2]).getType(), "input");
            assertEquals(TensorType.INT32, e.tensor(op.getInputs()[3]).getType(), "bias");
            assertEquals(TensorType.INT8, e.tensor(op.getOutputs()[0]).getType(), "output");
        }
        assertEquals(1, transposed);
        String text = new TfliteBackend().inspect(tmp.resolve("edgetpu").resolve(TfliteQuantization.INT8_MODEL));
        assertTrue(text.contains("Edge TPU: compatible"), text);
    }

    @Test
    @SuppressWarnings("unchecked")
    void perTensorWeightsReportHowUnevenTheChannelsAre() {
        Path model = RealData.model("pose-lite", "pose_landmark_lite.tflite");
        QuantizationResult r = new TfliteBackend().quantize(request(model, tmp.resolve("edgetpu"))
                .calibrationData(RealData.data("opencv")).maxSamples(4).target("edgetpu").build(), Progress.NONE);
        Map<String, Object> q = (Map<String, Object>) r.report().get("quantization");
        Map<String, Object> spread = (Map<String, Object>) q.get("per_tensor_weight_spread");
        assertEquals(88, spread.get("weighted_ops"));
        // pose-lite's depthwise filters: many channels far below the largest one (per-tensor int8 collapses it)
        assertTrue((Integer) spread.get("flagged_ops") >= 20, spread.toString());
        Map<String, Object> widest = ((List<Map<String, Object>>) spread.get("widest")).get(0);
        assertEquals("DEPTHWISE_CONV_2D", widest.get("op"));
        assertTrue((Double) widest.get("max_over_median") > WeightSpread.SEVERE, widest.toString());
        // per-channel weights (the CPU target) do not need it
        QuantizationResult cpu = new TfliteBackend().quantize(request(model, tmp.resolve("cpu"))
                .calibrationData(RealData.data("opencv")).maxSamples(4).build(), Progress.NONE);
        assertFalse(((Map<String, Object>) cpu.report().get("quantization")).containsKey("per_tensor_weight_spread"));
    }

    @Test
    void wakewordEmbeddingOnRealSpeechKeepsCosineAbove098() {
        Path model = RealData.model("wakeword-embed", "embedding_model.tflite");
        Path mel = RealData.wakewordMel();
        QuantizationResult r = new TfliteBackend().quantize(request(model, tmp).calibrationData(mel.resolve("calib"))
                .evaluationData(mel.resolve("eval")).maxSamples(200)
                .calibrator(CalibratorSpec.of(CalibrationMethod.MAX)).build(), Progress.NONE);
        double cos = cosine(r, "StatefulPartitionedCall:0");
        assertTrue(cos >= 0.98, "cosine " + cos);
        TfliteModel q = TfliteModel.load(tmp.resolve(TfliteQuantization.INT8_MODEL));
        assertEquals(20, assertInt8Compute(q));
        // MAXIMUM(leaky_relu, -0.4) becomes the int8 range of the LEAKY_RELU output (XNNPACK has no int8 MAXIMUM)
        assertEquals(19, rewrites(r).get("constant_clamps_to_int8_range"));
        try (TfliteSession s = TfliteSession.open(tmp.resolve(TfliteQuantization.INT8_MODEL), 1)) {
            TfliteSession.Delegation d = s.delegation();
            assertEquals(Map.of(), d.undelegated(), d.toString());
            assertEquals(1, d.partitions(), d.toString());
        }
        // no MAXIMUM left; each LEAKY_RELU's int8 output starts within an int8 step of the clamp at -0.4
        for (OperatorT op : q.operators()) {
            assertTrue(q.builtinCode(op) != BuiltinOperator.MAXIMUM, "MAXIMUM left");
            if (q.builtinCode(op) != BuiltinOperator.LEAKY_RELU) continue;
            var o = q.tensor(op.getOutputs()[0]).getQuantization();
            double lowest = (-128 - o.getZeroPoint()[0]) * (double) o.getScale()[0];
            assertEquals(-0.4, lowest, o.getScale()[0], q.tensor(op.getOutputs()[0]).getName());
        }
        String text = new TfliteBackend().inspect(tmp.resolve(TfliteQuantization.INT8_MODEL));
        assertTrue(text.contains("  fully int8:     yes"), text);
        assertTrue(text.contains("  supported ops:  not [LEAKY_RELU]"), text);
        assertTrue(text.contains("stops at #0 QUANTIZE (serving_default_input_1:0/int8): tensor"
                + " 'serving_default_input_1:0' has a dynamic size"), text);
    }

    @Test
    void wakewordForTheEdgeTpuSplitsLeakyReluAndMapsWhole() {
        Path model = RealData.model("wakeword-embed", "embedding_model.tflite");
        Path mel = RealData.wakewordMel();
        QuantizationResult r = new TfliteBackend().quantize(request(model, tmp).calibrationData(mel.resolve("calib"))
                .evaluationData(mel.resolve("eval")).maxSamples(200).target("edgetpu")
                .calibrator(CalibratorSpec.of(CalibrationMethod.MAX)).build(), Progress.NONE);
        double cos = cosine(r, "StatefulPartitionedCall:0");
        assertTrue(cos >= 0.99, "cosine " + cos);
        assertEquals(19, rewrites(r).get("leaky_relu_to_mul_maximum"));
        TfliteModel q = TfliteModel.load(tmp.resolve(TfliteQuantization.INT8_MODEL));
        int split = 0;
        for (OperatorT op : q.operators()) {
            int code = q.builtinCode(op);
            assertTrue(code != BuiltinOperator.LEAKY_RELU, "LEAKY_RELU left");
            if (code == BuiltinOperator.CONV_2D) {
                assertEquals(1, q.tensor(op.getInputs()[1]).getQuantization().getScale().length, "per-tensor weights");
            }
            if (code != BuiltinOperator.MAXIMUM || !q.tensor(op.getInputs()[1]).getName().endsWith("/alpha_x")) continue;
            split++;
            // MAXIMUM(x, MUL(x, alpha)): one set of int8 parameters for both inputs and the output, no requantize
            var x = q.tensor(op.getInputs()[0]).getQuantization();
            for (int t : new int[] {op.getInputs()[1], op.getOutputs()[0]}) {
                var o = q.tensor(t).getQuantization();
                assertEquals(x.getScale()[0], o.getScale()[0], q.tensor(t).getName());
                assertEquals(x.getZeroPoint()[0], o.getZeroPoint()[0], q.tensor(t).getName());
            }
        }
        assertEquals(19, split);
        String text = new TfliteBackend().inspect(tmp.resolve(TfliteQuantization.INT8_MODEL));
        assertTrue(text.contains("Edge TPU: compatible"), text);
        assertTrue(text.contains("  mapping:        all 85 ops"), text);
    }

    /**
     * A float model with one activation declared INT64 (a mutated blazeface: the float interpreter runs it, since
     * XNNPACK takes the ADD before anything checks that type) calibrates, and the writer's int8 model then fails in
     * the interpreter. Nothing is written: no model, no calibration table.
     */
    @Test
    void aRewrittenModelTheInterpreterRefusesIsNotWritten() throws Exception {
        TfliteModel m = TfliteModel.load(RealData.model("blazeface-tflite", "face_detection_short_range.tflite"));
        TensorT t = null;
        for (TensorT x : m.main().getTensors()) if (x.getName().equals("add_12__xeno_compat__1")) t = x;
        t.setType(TensorType.INT64);
        Path model = tmp.resolve("int64-activation.tflite");
        m.save(model);
        Path out = tmp.resolve("out");
        QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> new TfliteBackend().quantize(
                request(model, out).calibrationData(RealData.data("opencv")).maxSamples(4)
                        .preprocessing(MINUS_ONE_TO_ONE).build(), Progress.NONE));
        assertEquals("the full-integer model made from " + model + " does not load in the TFLite interpreter, so"
                + " nothing was written: model " + out.resolve(TfliteQuantization.INT8_MODEL) + ": the TFLite"
                + " interpreter cannot prepare it (AllocateTensors failed; TFLite's own message is on stderr)",
                e.getMessage());
        assertFalse(Files.exists(out.resolve(TfliteQuantization.INT8_MODEL)));
        assertFalse(Files.exists(out.resolve(TfliteQuantization.TABLE)));
    }

    @Test
    void int8InputsAndOutputsAndFp16Weights() {
        Path model = RealData.model("wakeword-embed", "embedding_model.tflite");
        Path mel = RealData.wakewordMel();
        new TfliteBackend().quantize(request(model, tmp.resolve("io")).calibrationData(mel.resolve("calib"))
                .maxSamples(32).io(IoType.INT8).build(), Progress.NONE);
        TfliteModel q = TfliteModel.load(tmp.resolve("io").resolve(TfliteQuantization.INT8_MODEL));
        assertEquals(TensorType.INT8, q.tensor(q.main().getInputs()[0]).getType());
        assertEquals(TensorType.INT8, q.tensor(q.main().getOutputs()[0]).getType());
        for (OperatorT op : q.operators()) assertTrue(!EdgeTpu.usesFloat(q, op), q.opName(op));

        QuantizationResult r = new TfliteBackend().quantize(request(model, tmp.resolve("fp16"))
                .precision(Precision.FP16).evaluationData(mel.resolve("eval")).maxSamples(0).build(), Progress.NONE);
        assertTrue(cosine(r, "StatefulPartitionedCall:0") > 0.999);
        TfliteModel h = TfliteModel.load(tmp.resolve("fp16").resolve(TfliteQuantization.FP16_MODEL));
        assertEquals(40, h.operators().stream().filter(o -> h.opName(o).equals("DEQUANTIZE")).count());
    }
}
