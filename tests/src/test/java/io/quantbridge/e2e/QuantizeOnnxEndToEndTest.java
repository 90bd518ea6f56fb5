package io.quantbridge.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.proto.Onnx.NodeProto;
import io.quantbridge.table.CalibrationTable;
import io.quantbridge.table.PortableTableFormat;
import io.quantbridge.table.TensorRtCache;
import io.quantbridge.util.Hashing;
import io.quantbridge.util.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * The command line on the real PaddleOCR detector and real photos, through the onnx backend: a small version of
 * the acceptance run (320x320, 12 calibration photos, 6 held out) that checks the artifacts, the report, fidelity
 * against FP32, and table reuse.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class QuantizeOnnxEndToEndTest {
    @TempDir
    static Path out;

    static List<String> quantizeArgs(Path dir, String calibrator) {
        Path model = RealModels.model("ch_PP-OCRv4_det_infer.onnx");
        Path photos = RealModels.photos();
        return new ArrayList<>(List.of("quantize", "--backend", "onnx", "--model", model.toString(),
                "--calib", photos.toString(), "--eval", photos.toString(), "--calibrator", calibrator,
                "--precision", "int8", "--size", "320x320", "--mean", "0.485,0.456,0.406",
                "--std", "0.229,0.224,0.225", "--samples", "12", "--seed", "7", "--mask-threshold", "0.3",
                "--quiet", "--out", dir.toString()));
    }

    /** {@code quantize} into {@code dir} with the common arguments and then {@code more}. */
    static Cli quantize(Path dir, String calibrator, String... more) {
        List<String> args = quantizeArgs(dir, calibrator);
        args.addAll(List.of(more));
        return Cli.run(args);
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> report(Path dir) throws Exception {
        return Json.parseObject(Files.readString(dir.resolve("report.json")));
    }

    @Test
    @Order(1)
    void percentileQuantizationWritesArtifactsAndMeasuresFidelity() throws Exception {
        Path dir = out.resolve("pct");
        // evaluate on 6 held-out photos only, to keep the test short: cap the folder via a second folder
        Cli r = quantize(dir, "percentile", "--boxes", "mask", "--layers", "3");
        assertEquals(0, r.code(), r.err());
        for (String f : new String[] {"model.int8.onnx", "calibration.json", "calibration.cache", "report.json"}) {
            assertTrue(Files.size(dir.resolve(f)) > 0, f);
        }
        Map<String, Object> rep = report(dir);
        assertEquals("onnx", rep.get("backend"));
        assertEquals("int8", rep.get("precision"));
        assertEquals("percentile", ((Map<?, ?>) rep.get("calibrator")).get("method"));
        assertEquals(99.99, ((Number) ((Map<?, ?>) rep.get("calibrator")).get("percentile")).doubleValue());
        Map<?, ?> model = (Map<?, ?>) rep.get("model");
        assertEquals(Hashing.sha256(RealModels.model("ch_PP-OCRv4_det_infer.onnx")), model.get("sha256"));
        assertEquals(12L, ((Map<?, ?>) rep.get("calibration")).get("samples"));
        assertTrue(((Number) ((Map<?, ?>) rep.get("calibration")).get("seconds")).doubleValue() > 0);
        assertTrue(((Number) rep.get("quantized_nodes")).intValue() >= 64, rep.get("quantized_nodes").toString());
        assertTrue(((Number) rep.get("float_nodes")).intValue() > 0);

        Map<?, ?> split = (Map<?, ?>) rep.get("data_split");
        List<?> calib = (List<?>) split.get("calibration");
        List<?> eval = (List<?>) split.get("evaluation");
        assertEquals(12, calib.size());
        assertEquals(91 - 12, eval.size());
        assertTrue(calib.stream().noneMatch(eval::contains), "calibration and evaluation are disjoint");

        Map<?, ?> fid = (Map<?, ?>) ((Map<?, ?>) rep.get("fidelity")).get("sigmoid_0.tmp_0");
        double cosine = ((Number) fid.get("cosine")).doubleValue();
        double iou = ((Number) fid.get("mask_iou")).doubleValue();
        double sqnr = ((Number) fid.get("sqnr_db")).doubleValue();
        // far above ONNX Runtime's Python quantizer on this model (cosine ~0.7, IoU ~0.45); see the issue notes
        assertTrue(cosine > 0.85, "cosine " + cosine);
        assertTrue(iou > 0.75, "mask IoU " + iou);
        assertTrue(sqnr > 5, "SQNR " + sqnr);
        // box recall: the text boxes of the float model's map (DBNet's defaults) that the int8 map finds too
        assertEquals(Map.of("kind", "mask", "output", "sigmoid_0.tmp_0", "threshold", 0.3, "box_score", 0.6,
                "min_side", 3L, "match_iou", 0.5), fid.get("box_decoder"));
        long found = ((Number) fid.get("boxes_reference")).longValue();
        double recall = ((Number) fid.get("box_recall")).doubleValue();
        assertTrue(found > 50, "boxes " + found);
        assertTrue(recall > 0.6 && recall < 1, "box recall " + recall);
        assertEquals(((Number) fid.get("boxes_matched")).doubleValue() / found, recall, 1e-12);
        assertTrue(r.out().contains("boxes sigmoid_0.tmp_0: recall="), r.out());

        // the TensorRT cache lists the graph input and holds scale = amax / 127 of the portable table
        CalibrationTable table = PortableTableFormat.read(dir.resolve("calibration.json"));
        TensorRtCache.Contents cache = TensorRtCache.read(dir.resolve("calibration.cache"));
        assertEquals("100900", cache.version());
        assertEquals("EntropyCalibration2", cache.algorithm());
        assertTrue(cache.table().tensors().containsKey("x"));
        double amax = table.get("x").orElseThrow().amax();
        assertEquals((float) (amax / 127), (float) cache.table().get("x").orElseThrow().scale());
        assertTrue(r.out().contains("fidelity sigmoid_0.tmp_0: cosine="), r.out());
    }

    @Test
    @Order(2)
    void reusingTheTableGivesTheSameModelAndADifferentCalibratorIsRefused() throws Exception {
        Path first = out.resolve("pct");
        Path again = out.resolve("reuse");
        Cli r = quantize(again, "percentile", "--table", first.resolve("calibration.json").toString());
        assertEquals(0, r.code(), r.err());
        assertArrayEquals(Files.readAllBytes(first.resolve("model.int8.onnx")),
                Files.readAllBytes(again.resolve("model.int8.onnx")));
        assertArrayEquals(Files.readAllBytes(first.resolve("calibration.cache")),
                Files.readAllBytes(again.resolve("calibration.cache")));

        Cli refused = quantize(out.resolve("refused"), "max", "--table", first.resolve("calibration.json").toString());
        assertEquals(1, refused.code());
        assertTrue(refused.err().startsWith("quantbridge quantize: calibration table cannot be reused: calibrator "
                + "differs (table {method=percentile"), refused.err());
        assertTrue(refused.err().contains("(pass --force-table to use it anyway)"), refused.err());
        assertTrue(Files.notExists(out.resolve("refused").resolve("model.int8.onnx")), "nothing written on failure");
    }

    /**
     * {@code --empirical-bias-correction 6} on the first run's table: every quantized conv gets a measured shift, the
     * ranges and the TensorRT cache stay those of the table, the calibrated float model carries the same biases as the
     * Q/DQ model, and the held-out fidelity rises.
     */
    @Test
    @Order(3)
    void empiricalBiasCorrectionShiftsEveryQuantizedConvAndRaisesHeldOutFidelity() throws Exception {
        Path first = out.resolve("pct");
        Path dir = out.resolve("empirical");
        Cli r = quantize(dir, "percentile", "--table", first.resolve("calibration.json").toString(),
                "--empirical-bias-correction", "6");
        assertEquals(0, r.code(), r.err());
        assertArrayEquals(Files.readAllBytes(first.resolve("calibration.cache")),
                Files.readAllBytes(dir.resolve("calibration.cache")));
        Map<String, Object> rep = report(dir);
        Map<?, ?> eb = (Map<?, ?>) rep.get("empirical_bias_correction");
        assertEquals(6L, eb.get("samples"));
        OnnxModel int8 = OnnxModel.load(dir.resolve("model.int8.onnx"));
        OnnxModel fp32 = OnnxModel.load(dir.resolve("model.fp32.onnx"));
        Map<String, io.quantbridge.onnx.proto.Onnx.NodeProto> floatNodes = new java.util.HashMap<>();
        for (var n : fp32.nodes()) floatNodes.put(n.getName(), n);
        int quantizedConvs = 0;
        for (var n : int8.nodes()) {
            if (!n.getOpType().startsWith("Conv") || !n.getInput(1).endsWith("_dequantized")) continue;
            quantizedConvs++;
            float[] b = io.quantbridge.onnx.Tensors.toFloats(int8.initializers().get(n.getInput(2)));
            float[] fb = io.quantbridge.onnx.Tensors.toFloats(fp32.initializers().get(floatNodes.get(n.getName())
                    .getInput(2)));
            assertArrayEquals(fb, b, n.getName());
        }
        assertEquals((long) quantizedConvs, eb.get("corrected_nodes"));
        double plain = heldOutCosine(first);
        double corrected = heldOutCosine(dir);
        System.out.println("empirical bias correction, det 320x320, 12 calibration photos: held-out cosine " + plain
                + " -> " + corrected);
        assertTrue(corrected > plain, "held-out cosine " + plain + " -> " + corrected);
    }

    /**
     * {@code --gptq 12} on the first run's table: every quantized Conv is rounded (the two ConvTransposes are skipped
     * and named), the Q/DQ model's int8 weights are exactly the calibrated float model's weights requantized (so
     * TensorRT's own weight quantization of model.fp32.onnx gives the same codes), the scales are those of nearest
     * rounding and the layer-wise output error falls. End to end it does not gain here: held-out cosine 0.888 ->
     * 0.882 at this size and these defaults (it gains on ppocr-det 640 with the stem float, see
     * docs/command-line.md), so the test only bounds the loss.
     */
    @Test
    @Order(3)
    void gptqRoundsEveryQuantizedConvOnTheSameScales() throws Exception {
        Path first = out.resolve("pct");
        Path dir = out.resolve("gptq");
        Map<?, ?> g = convStepOnTheFirstTable(dir, "--gptq", 12, "gptq", Map.of("p2o.ConvTranspose.0",
                "ConvTranspose (only Conv)", "p2o.ConvTranspose.2", "ConvTranspose (only Conv)"));
        double ratio = ((Number) g.get("output_error_ratio")).doubleValue();
        assertTrue(ratio < 0.2, "output error ratio " + ratio);

        int changedCodes = assertInt8WeightsAreTheFloatModelsRequantized(dir, first, true, false, g, "rounded_nodes");
        double plainCos = heldOutCosine(first);
        double gptq = heldOutCosine(dir);
        System.out.println("gptq, det 320x320, 12 calibration photos: held-out cosine " + plainCos + " -> " + gptq
                + ", output error ratio " + ratio + ", " + changedCodes + " codes changed");
        assertTrue(gptq > plainCos - 0.02, "held-out cosine " + plainCos + " -> " + gptq);
    }

    /**
     * {@code --refit 6} on the first run's table: every quantized Conv and ConvTranspose is refitted, the ranges and
     * TensorRT cache stay the table's, the Q/DQ model's int8 weights are exactly the calibrated float model's weights
     * requantized and its biases are the float model's, the fit lowers the conv outputs' error against the float convs
     * on the calibration samples, and held-out fidelity rises.
     */
    @Test
    @Order(3)
    void refitFitsEveryQuantizedConvToItsInt8InputsAndRaisesHeldOutFidelity() throws Exception {
        Path first = out.resolve("pct");
        Path dir = out.resolve("refit");
        Map<?, ?> g = convStepOnTheFirstTable(dir, "--refit", 6, "refit", Map.of());
        double before = ((Number) g.get("relative_error_before")).doubleValue();
        double after = ((Number) g.get("relative_error_after")).doubleValue();
        assertTrue(after < before, "relative error of the conv outputs " + before + " -> " + after);

        int changedCodes = assertInt8WeightsAreTheFloatModelsRequantized(dir, first, false, true, g, "refitted_nodes");
        double plainCos = heldOutCosine(first);
        double refit = heldOutCosine(dir);
        System.out.println("refit, det 320x320, 6 calibration photos: held-out cosine " + plainCos + " -> " + refit
                + ", conv output error " + before + " -> " + after + ", " + changedCodes + " codes changed");
        assertTrue(refit > plainCos, "held-out cosine " + plainCos + " -> " + refit);
    }

    /**
     * Quantizes into {@code dir} on the first run's table with {@code option K} (a step that changes the quantized
     * convs' weights): the run succeeds, the TensorRT cache is the table run's, and the report section {@code key}
     * names K samples and the nodes {@code skipped}, with why. Returns that section.
     */
    private static Map<?, ?> convStepOnTheFirstTable(Path dir, String option, int k, String key, Map<String, String> skipped)
            throws Exception {
        Path first = out.resolve("pct");
        Cli r = quantize(dir, "percentile", "--table", first.resolve("calibration.json").toString(), option,
                String.valueOf(k));
        assertEquals(0, r.code(), r.err());
        assertArrayEquals(Files.readAllBytes(first.resolve("calibration.cache")),
                Files.readAllBytes(dir.resolve("calibration.cache")));
        Map<?, ?> section = (Map<?, ?>) report(dir).get(key);
        assertEquals((long) k, section.get("samples"));
        assertEquals(skipped, section.get("skipped"));
        return section;
    }

    /**
     * Every quantized Conv (and ConvTranspose, {@code withTransposed}) of {@code dir}'s Q/DQ model holds exactly its
     * calibrated float model's weights requantized (so TensorRT's own weight quantization of model.fp32.onnx gives the
     * same codes) and the float model's bias; with {@code sameScales}, its scales are those of {@code plain}'s model.
     * Those convs are the report section's {@code countKey}, and some of their codes differ from {@code plain}'s.
     * Returns how many codes differ.
     */
    private static int assertInt8WeightsAreTheFloatModelsRequantized(Path dir, Path plain, boolean sameScales,
            boolean withTransposed, Map<?, ?> section, String countKey) throws Exception {
        OnnxModel int8 = OnnxModel.load(dir.resolve("model.int8.onnx"));
        OnnxModel fp32 = OnnxModel.load(dir.resolve("model.fp32.onnx"));
        OnnxModel plainInt8 = OnnxModel.load(plain.resolve("model.int8.onnx"));
        Map<String, io.quantbridge.onnx.proto.Onnx.NodeProto> producers = new java.util.HashMap<>();
        for (var n : int8.nodes()) for (String o : n.getOutputList()) producers.put(o, n);
        Map<String, io.quantbridge.onnx.proto.Onnx.NodeProto> floatNodes = new java.util.HashMap<>();
        for (var n : fp32.nodes()) floatNodes.put(n.getName(), n);
        int convs = 0;
        int changedCodes = 0;
        for (var n : int8.nodes()) {
            boolean transposed = n.getOpType().equals("ConvTranspose");
            if (!(n.getOpType().equals("Conv") || transposed && withTransposed)
                    || !n.getInput(1).endsWith("_dequantized")) continue;
            convs++;
            var dq = producers.get(n.getInput(1));
            var fn = floatNodes.get(n.getName());
            float[] fw = io.quantbridge.onnx.Tensors.toFloats(fp32.initializers().get(fn.getInput(1)));
            float[] scales = io.quantbridge.onnx.Tensors.toFloats(int8.initializers().get(dq.getInput(1)));
            byte[] q = int8.initializers().get(dq.getInput(0)).getRawData().toByteArray();
            long[] dims = io.quantbridge.onnx.Tensors.dims(fp32.initializers().get(fn.getInput(1)));
            int per = fw.length / scales.length;
            int kernel = (int) (dims[2] * dims[3]);
            for (int i = 0; i < fw.length; i++) {
                // per output channel: axis 0 of a Conv's weight, axis 1 of a ConvTranspose's [C, O, kh, kw]
                int c = scales.length == 1 ? 0 : transposed ? (i / kernel) % scales.length : i / per;
                assertEquals(fw[i], q[i] * scales[c], Math.abs(fw[i]) * 1e-6f, n.getName() + "[" + i + "]");
            }
            assertEquals(n.getInputCount() > 2, fn.getInputCount() > 2, n.getName() + " bias");
            if (n.getInputCount() > 2) {
                assertArrayEquals(io.quantbridge.onnx.Tensors.toFloats(fp32.initializers().get(fn.getInput(2))),
                        io.quantbridge.onnx.Tensors.toFloats(int8.initializers().get(n.getInput(2))), n.getName());
            }
            if (sameScales) {
                assertArrayEquals(io.quantbridge.onnx.Tensors.toFloats(plainInt8.initializers().get(dq.getInput(1))),
                        scales, n.getName());
            }
            byte[] before = plainInt8.initializers().get(dq.getInput(0)).getRawData().toByteArray();
            for (int i = 0; i < q.length; i++) if (q[i] != before[i]) changedCodes++;
        }
        assertEquals((long) convs, section.get(countKey), countKey);
        assertTrue(changedCodes > 0, "no int8 weight changed (" + countKey + " " + convs + ")");
        return changedCodes;
    }

    private static double heldOutCosine(Path dir) throws Exception {
        Map<?, ?> fid = (Map<?, ?>) ((Map<?, ?>) report(dir).get("fidelity")).get("sigmoid_0.tmp_0");
        return ((Number) fid.get("cosine")).doubleValue();
    }

    /**
     * {@code --equalize-alpha 1} (without bias correction, so that the written float model must compute exactly what
     * the original does) rescales differently from the default 0.5, records the strength in the report and the table,
     * and a table calibrated with the default is refused for it.
     */
    @Test
    @Order(2)
    void equalizeAlphaRescalesDifferentlyKeepsTheFloatFunctionAndIsPartOfTheTable() throws Exception {
        Path half = out.resolve("alpha-half");
        Path full = out.resolve("alpha-full");
        assertEquals(0, quantize(half, "percentile", "--no-bias-correction").code());
        Cli r = quantize(full, "percentile", "--no-bias-correction", "--equalize-alpha", "1");
        assertEquals(0, r.code(), r.err());

        Map<?, ?> cond = (Map<?, ?>) report(full).get("conditioning");
        assertEquals(1.0, ((Number) cond.get("alpha")).doubleValue());
        assertEquals(0.5, ((Number) ((Map<?, ?>) report(half).get("conditioning")).get("alpha")).doubleValue());
        assertTrue(((Number) cond.get("equalized_tensors")).intValue() > 20, cond.toString());
        Map<String, Object> table = Json.parseObject(Files.readString(full.resolve("calibration.json")));
        assertEquals(Map.of("equalization", true, "alpha", 1.0, "bias_correction", false),
                ((Map<?, ?>) table.get("data")).get("conditioning"));

        // both float models compute what the original computes; their weights differ
        Path original = RealModels.model("ch_PP-OCRv4_det_infer.onnx");
        byte[] halfModel = Files.readAllBytes(half.resolve("model.fp32.onnx"));
        assertTrue(!java.util.Arrays.equals(halfModel, Files.readAllBytes(full.resolve("model.fp32.onnx"))));
        io.quantbridge.data.Preprocessing pre = io.quantbridge.data.Preprocessing.builder().size(320, 320)
                .mean(0.485, 0.456, 0.406).std(0.229, 0.224, 0.225).build();
        try (var ref = io.quantbridge.onnx.runtime.OrtModelSession.open(original, 2);
             var eq = io.quantbridge.onnx.runtime.OrtModelSession.open(full.resolve("model.fp32.onnx"), 2)) {
            Path two = Files.createDirectories(out.resolve("two-photos"));
            for (String photo : List.of("imageTextN.png", "messi5.jpg")) {
                Files.createSymbolicLink(two.resolve(photo), RealModels.photos().resolve(photo));
            }
            for (io.quantbridge.data.SampleRef photo : io.quantbridge.data.SampleSource.discover(two).samples()) {
                Map<String, io.quantbridge.tensor.FloatTensor> x = io.quantbridge.data.SampleSource.load(photo,
                        ref.inputs(), pre);
                float[] p = ref.run(x).get("sigmoid_0.tmp_0").data();
                float[] q = eq.run(x).get("sigmoid_0.tmp_0").data();
                double dot = 0;
                double pp = 0;
                double qq = 0;
                double worst = 0;
                for (int i = 0; i < p.length; i++) {
                    dot += (double) p[i] * q[i];
                    pp += (double) p[i] * p[i];
                    qq += (double) q[i] * q[i];
                    worst = Math.max(worst, Math.abs(p[i] - q[i]));
                }
                assertTrue(dot / Math.sqrt(pp * qq) > 0.99999 && worst < 1e-3, photo + ": cosine "
                        + dot / Math.sqrt(pp * qq) + ", max |diff| " + worst);
            }
        }
        double cosine = ((Number) ((Map<?, ?>) ((Map<?, ?>) report(full).get("fidelity")).get("sigmoid_0.tmp_0"))
                .get("cosine")).doubleValue();
        assertTrue(cosine > 0.85, "cosine " + cosine);

        Cli refused = quantize(out.resolve("alpha-refused"), "percentile", "--no-bias-correction",
                "--equalize-alpha", "1", "--table", half.resolve("calibration.json").toString());
        assertEquals(1, refused.code());
        assertTrue(refused.err().startsWith("quantbridge quantize: calibration table cannot be reused: conditioning "
                + "differs (table {equalization=true, bias_correction=false}, this run {equalization=true, alpha=1.0, "
                + "bias_correction=false})"), refused.err());
    }

    /**
     * {@code --equalize-alpha 0.5,1} scores both strengths, keeps the higher-scoring one, and writes exactly what a
     * run with that strength alone writes (same model bytes, same ranges, same table key).
     */
    @Test
    @Order(2)
    void equalizeAlphaSearchKeepsTheBestScoringStrengthExactlyAsAFixedRunWould() throws Exception {
        Path searched = out.resolve("alpha-search");
        Cli r = quantize(searched, "percentile", "--equalize-alpha", "1,0.5");
        assertEquals(0, r.code(), r.err());
        Map<?, ?> cond = (Map<?, ?>) report(searched).get("conditioning");
        Map<?, ?> search = (Map<?, ?>) cond.get("alpha_search");
        List<?> candidates = (List<?>) search.get("candidates");
        assertEquals(List.of(0.5, 1.0), candidates.stream().map(c -> ((Number) ((Map<?, ?>) c).get("alpha"))
                .doubleValue()).toList(), "tried in ascending order");
        double c05 = ((Number) ((Map<?, ?>) candidates.get(0)).get("cosine")).doubleValue();
        double c1 = ((Number) ((Map<?, ?>) candidates.get(1)).get("cosine")).doubleValue();
        assertTrue(c05 > 0.8 && c1 > 0.8 && c05 != c1, c05 + " " + c1);
        double chosen = c1 > c05 ? 1.0 : 0.5;
        assertEquals(chosen, ((Number) search.get("chosen")).doubleValue());
        assertEquals(chosen, ((Number) cond.get("alpha")).doubleValue());
        assertEquals(12L, search.get("samples"));

        Path fixed = out.resolve("alpha-fixed");
        assertEquals(0, quantize(fixed, "percentile", "--equalize-alpha", Double.toString(chosen)).code());
        for (String f : List.of("model.int8.onnx", "model.fp32.onnx", "calibration.cache")) {
            assertArrayEquals(Files.readAllBytes(fixed.resolve(f)), Files.readAllBytes(searched.resolve(f)), f);
        }
        CalibrationTable a = PortableTableFormat.read(searched.resolve("calibration.json"));
        CalibrationTable b = PortableTableFormat.read(fixed.resolve("calibration.json"));
        assertEquals(b.tensors(), a.tensors());
        assertEquals(b.data().get("conditioning"), a.data().get("conditioning"));
        // the same model: the same fidelity, up to the order the evaluation threads add up in
        Map<?, ?> fa = (Map<?, ?>) ((Map<?, ?>) report(searched).get("fidelity")).get("sigmoid_0.tmp_0");
        Map<?, ?> fb = (Map<?, ?>) ((Map<?, ?>) report(fixed).get("fidelity")).get("sigmoid_0.tmp_0");
        assertEquals(((Number) fb.get("cosine")).doubleValue(), ((Number) fa.get("cosine")).doubleValue(), 1e-12);
        assertEquals(fb.get("mask_iou"), fa.get("mask_iou"));
    }

    /**
     * {@code --target onnxruntime}: the same calibration, written in the layout ONNX Runtime's CPU kernels fuse
     * (uint8 activations, output Q/DQ, int32 biases, BatchNormalization and affine blocks folded, hard swishes fused),
     * and about the fidelity of the TensorRT layout of the first test.
     */
    @Test
    @Order(3)
    void onnxruntimeTargetWritesTheLayoutItsKernelsFuse() throws Exception {
        Path dir = out.resolve("ort");
        Cli r = quantize(dir, "percentile", "--target", "onnxruntime");
        assertEquals(0, r.code(), r.err());
        Map<String, Object> rep = report(dir);
        assertEquals("onnxruntime", rep.get("target"));
        Map<?, ?> layout = (Map<?, ?>) rep.get("onnxruntime_layout");
        assertEquals(62L, layout.get("output_qdq_pairs"), layout.toString());
        assertEquals(24L, layout.get("hard_swishes_fused"), layout.toString());
        assertEquals(List.of(), layout.get("notes"));
        assertEquals(Map.of("Add", 30L, "BatchNormalization", 3L, "Mul", 28L),
                ((Map<?, ?>) rep.get("quantization")).get("foldedIntoConvs"));
        assertEquals(List.of(-64L, 64L), ((Map<?, ?>) rep.get("quantization")).get("weight_codes"));

        OnnxModel q = OnnxModel.load(dir.resolve("model.int8.onnx"));
        assertEquals(14, q.opsetVersion());
        assertEquals(0, q.nodes().stream().filter(n -> n.getOpType().equals("BatchNormalization")).count());
        // every activation is uint8 (data type 2) with its zero point: no int8 pair is left
        List<NodeProto> quantizers = q.nodes().stream().filter(n -> n.getOpType().equals("QuantizeLinear")).toList();
        assertTrue(quantizers.size() >= 62, "quantizers " + quantizers.size());
        for (NodeProto n : quantizers) {
            assertEquals(2, q.initializer(n.getInput(2)).orElseThrow().getDataType(), n.getName());
        }

        double trt = heldOutCosine(out.resolve("pct"));
        double ort = heldOutCosine(dir);
        assertTrue(ort > 0.85 && ort > trt - 0.03, "held-out cosine " + ort + " (TensorRT layout " + trt + ")");
    }

    @Test
    @Order(4)
    void fp16KeepsFloatInterfaceAndMatchesFloat() throws Exception {
        Path dir = out.resolve("fp16");
        Path model = RealModels.model("ch_PP-OCRv4_det_infer.onnx");
        Path photos = RealModels.photos();
        Cli r = Cli.run(List.of("quantize", "--backend", "onnx", "--model", model.toString(), "--calib",
                photos.toString(), "--eval", photos.toString(), "--samples", "85", "--seed", "3", "--precision",
                "fp16", "--size", "320x320", "--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225",
                "--quiet", "--out", dir.toString()));
        assertEquals(0, r.code(), r.err());
        Map<?, ?> fid = (Map<?, ?>) ((Map<?, ?>) report(dir).get("fidelity")).get("sigmoid_0.tmp_0");
        assertEquals(6L, fid.get("samples"));
        // probabilities in [0, 1]: FP16 may move them by far less than the 0.3 mask threshold
        assertTrue(((Number) fid.get("max_abs")).doubleValue() < 0.01, fid.toString());
        assertTrue(((Number) fid.get("cosine")).doubleValue() > 0.99, fid.toString());
        assertTrue(Files.size(dir.resolve("model.fp16.onnx")) < Files.size(model) * 0.6);
    }

    /**
     * openWakeWord's mel-spectrogram model on spoken sentences (espeak-ng, 16-bit samples): its STFT and power
     * spectrum reach 1e9, beyond float16. FP16 with --calib measures every tensor in float32 first and keeps those
     * nodes float32; without that the output was NaN on every sample.
     */
    @Test
    @Order(4)
    void fp16KeepsTensorsBeyondTheFloat16RangeInFloat32() throws Exception {
        Path model = RealModels.npmModel("wakeword-embed", "melspectrogram.onnx");
        Path speech = RealModels.root().resolve(".cache/data/speech");
        Path calib = Files.createDirectories(out.resolve("mel-calib"));
        Path eval = Files.createDirectories(out.resolve("mel-eval"));
        List<Path> wavs;
        try (var s = Files.list(speech)) {
            wavs = s.filter(f -> f.toString().endsWith(".wav")).sorted().limit(12).toList();
        }
        assertEquals(12, wavs.size(), "speech recordings in " + speech);
        for (int i = 0; i < wavs.size(); i++) {
            io.quantbridge.data.NpyFile.write((i < 8 ? calib : eval).resolve("s" + i + ".npy"), firstSecond(wavs.get(i)));
        }
        Path dir = out.resolve("mel-fp16");
        Cli r = Cli.run(List.of("quantize", "--backend", "onnx", "--model", model.toString(), "--calib", calib.toString(),
                "--eval", eval.toString(), "--precision", "fp16", "--quiet", "--out", dir.toString()));
        assertEquals(0, r.code(), r.err());
        Map<String, Object> rep = report(dir);
        Map<?, ?> fid = (Map<?, ?>) ((Map<?, ?>) rep.get("fidelity")).get("output");
        assertTrue(((Number) fid.get("cosine")).doubleValue() > 0.9999, fid.toString());
        Map<?, ?> check = (Map<?, ?>) ((Map<?, ?>) rep.get("fp16")).get("range_check");
        assertEquals(8L, check.get("samples"));
        assertTrue(((List<?>) check.get("beyond_float16")).contains("mel_spectrogram"), check.toString());

        // without --calib nothing is measured: the output overflows, and the run says so
        Path blind = out.resolve("mel-fp16-blind");
        Cli b = Cli.run(List.of("quantize", "--backend", "onnx", "--model", model.toString(), "--eval", eval.toString(),
                "--precision", "fp16", "--out", blind.toString()));
        assertEquals(0, b.code(), b.err());
        assertTrue(b.out().contains("warning: output of the quantized model holds NaN or infinity on 4 of 4 samples"),
                b.out());
        Map<String, Object> blindReport = report(blind);
        assertEquals(4L, ((Map<?, ?>) ((Map<?, ?>) blindReport.get("fidelity")).get("output")).get("non_finite_samples"));
        assertTrue(String.valueOf(((Map<?, ?>) blindReport.get("fp16")).get("range_check")).startsWith("none"));
    }

    /**
     * The first 16000 samples of a 16-bit mono WAV file as [1, 16000] floats at 16-bit scale (zeros past its end;
     * espeak-ng writes 22.05 kHz, which is still speech at the model's scale, all a range check needs).
     */
    private static io.quantbridge.tensor.FloatTensor firstSecond(Path wav) throws Exception {
        try (javax.sound.sampled.AudioInputStream in = javax.sound.sampled.AudioSystem.getAudioInputStream(
                wav.toFile())) {
            byte[] b = in.readAllBytes();
            boolean big = in.getFormat().isBigEndian();
            float[] x = new float[16000];
            for (int i = 0; i < x.length && 2 * i + 1 < b.length; i++) {
                int lo = b[2 * i + (big ? 1 : 0)] & 0xff;
                int hi = b[2 * i + (big ? 0 : 1)];
                x[i] = (short) ((hi << 8) | lo);
            }
            return new io.quantbridge.tensor.FloatTensor(new long[] {1, x.length}, x);
        }
    }

    /**
     * Pooled metrics over a set are the metrics of its largest errors. MediaPipe's face detector (blazeface-onnx) on
     * the opencv photos: opencv-logo.png, a flat synthetic image, drives its raw logits into the thousands, far beyond
     * the calibration range, and holds nearly all the squared error; report.json and the run say which sample it is.
     */
    @Test
    @Order(4)
    void fidelityNamesTheSampleThatHoldsMostOfTheError() throws Exception {
        Path model = RealModels.npmModel("blazeface-onnx", "face_detection_front_128x128_barracuda.onnx");
        Path photos = RealModels.photos();
        Path dir = out.resolve("blazeface");
        Cli r = Cli.run(List.of("quantize", "--backend", "onnx", "--model", model.toString(), "--calib", photos.toString(),
                "--eval", photos.toString(), "--samples", "64", "--seed", "1", "--size", "128x128", "--layout", "nhwc",
                "--scale", "0.00784313725", "--mean", "1,1,1", "--std", "1,1,1", "--out", dir.toString()));
        assertEquals(0, r.code(), r.err());
        Map<?, ?> scores = (Map<?, ?>) ((Map<?, ?>) report(dir).get("fidelity")).get("Identity_1:0");
        assertEquals("opencv-logo.png", scores.get("largest_error_sample"), scores.toString());
        assertTrue(((Number) scores.get("largest_error_share")).doubleValue() > 0.95, scores.toString());
        assertTrue(((Number) scores.get("cosine")).doubleValue() < 0.5, scores.toString());
        assertTrue(((Number) scores.get("cosine_mean")).doubleValue() > 0.9, "the other photos are fine: " + scores);
        assertTrue(r.out().contains("note: one of the 27 samples holds 100% of the squared error of Identity_1:0, so "
                + "the pooled numbers mostly describe it: opencv-logo.png (its own cosine "), r.out());
    }

    @Test
    @Order(5)
    void inspectAndEvalOnTheQuantizedModel() throws Exception {
        Path q = out.resolve("pct").resolve("model.int8.onnx");
        Cli r = Cli.run(List.of("inspect", q.toString()));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("quantization: explicit Q/DQ ("), r.out());
        assertTrue(r.out().contains("opsets: ai.onnx=13"), r.out());
        // ONNX Runtime runs TensorRT's layout as float convs; the onnxruntime target's as integer kernels
        assertTrue(r.out().matches("(?s).*ONNX Runtime [0-9.]+ \\(CPU\\), as optimized: conv/matmul layers in int8: "
                + "[0-2] of 64 .*"), r.out());
        // the run's report.json, summarized as quantize printed it when it finished
        Path report = out.resolve("pct").resolve("report.json");
        Cli rep = Cli.run(List.of("inspect", report.toString()));
        assertEquals(0, rep.code(), rep.err());
        assertTrue(rep.out().startsWith("quantize report " + report + "\nbackend:     onnx (selected by --backend), "
                + "target tensorrt\nprecision:   int8\nmodel:       "), rep.out());
        assertTrue(rep.out().contains("\nmodel              " + q + " ("), rep.out());
        // the options that give eval the run's inputs (those of the eval below)
        assertTrue(rep.out().contains("\nimages:      --size 320x320 --scale 1/255 --mean 0.485,0.456,0.406 --std"
                + " 0.229,0.224,0.225 --layout nchw\n"), rep.out());
        assertTrue(rep.out().matches("(?s).*\nfidelity sigmoid_0\\.tmp_0: cosine=0\\.[0-9]+ sqnr_db=.* "
                + "mask_iou=0\\.[0-9]+ samples=79\n.*"), rep.out());
        Cli ort = Cli.run(List.of("inspect", out.resolve("ort").resolve("model.int8.onnx").toString()));
        assertEquals(0, ort.code(), ort.err());
        assertTrue(ort.out().contains("conv/matmul layers in int8: 62 of 64 {QLinearConv=62}, float: "
                + "{ConvTranspose=2}"), ort.out());

        Path model = RealModels.model("ch_PP-OCRv4_det_infer.onnx");
        Path one = RealModels.photos().resolve("imageTextN.png");
        Cli e = Cli.run(List.of("eval", "--model", model.toString(), "--candidate", q.toString(), "--data",
                one.toString(), "--size", "320x320", "--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225",
                "--mask-threshold", "0.3", "--quiet"));
        assertEquals(0, e.code(), e.err());
        assertTrue(e.out().matches("(?s)fidelity sigmoid_0\\.tmp_0: cosine=0\\.9\\d+ .*mask_iou=0\\.[789]\\d+ .*"),
                e.out());

        // the float model against itself finds every box; a decoder that does not fit the output names it
        List<String> self = new ArrayList<>(List.of("eval", "--model", model.toString(), "--candidate",
                model.toString(), "--data", one.toString(), "--size", "320x320", "--mean", "0.485,0.456,0.406",
                "--std", "0.229,0.224,0.225", "--quiet", "--boxes"));
        self.add("mask,output=sigmoid_0.tmp_0");
        Cli same = Cli.run(self);
        assertEquals(0, same.code(), same.err());
        assertTrue(same.out().matches("(?s).*boxes sigmoid_0\\.tmp_0: recall=1\\.0000 precision=1\\.0000 \\((\\d+) of "
                + "\\1 float-model boxes matched at IoU 0\\.5, \\1 boxes found\\); by size .*"), same.out());
        self.set(self.size() - 1, "yolo");
        Cli bad = Cli.run(self);
        assertEquals(1, bad.code(), bad.out());
        assertTrue(bad.err().endsWith("quantbridge eval: --boxes yolo: output 'sigmoid_0.tmp_0' has shape [1, 1, 320,"
                + " 320]; a dense detector head is [N, 4 + classes, anchors] or [N, anchors, 4 + classes] with at least"
                + " one class\n"), bad.err());
    }

    /**
     * {@code eval --layers}: every tensor of the int8 model is compared with its namesake in model.fp32.onnx, and the
     * int8 roundings that add the most error are listed; the graph output's row is the output's fidelity.
     */
    @Test
    @Order(6)
    void evalLayersListsTheInt8RoundingsThatAddTheMostError() throws Exception {
        Path dir = out.resolve("pct");
        Path q = dir.resolve("model.int8.onnx");
        Path fp32 = dir.resolve("model.fp32.onnx");
        Path one = RealModels.photos().resolve("imageTextN.png");
        Path json = out.resolve("layers.json");
        List<String> args = new ArrayList<>(List.of("eval", "--model", fp32.toString(), "--candidate", q.toString(),
                "--data", one.toString(), "--size", "320x320", "--mean", "0.485,0.456,0.406", "--std",
                "0.229,0.224,0.225", "--quiet", "--layers", "5", "--out", json.toString()));
        Cli r = Cli.run(args);
        assertEquals(0, r.code(), r.err());
        assertEquals("", r.err());
        assertTrue(r.out().matches("(?s).*layers: \\d{3} tensors compared by name on 1 samples \\(0 without a namesake "
                + "in the reference\\); the 5 int8 roundings that add the most error.*"), r.out());
        Map<String, Object> res = Json.parseObject(Files.readString(json));
        Map<?, ?> layers = (Map<?, ?>) res.get("layers");
        List<?> worst = (List<?>) layers.get("worst");
        assertEquals(5, worst.size());
        double previous = Double.NEGATIVE_INFINITY;
        for (Object o : worst) {
            Map<?, ?> w = (Map<?, ?>) o;
            assertTrue(Set.of("activation", "weights").contains(w.get("int8_source")), w.toString());
            double added = ((Number) w.get("added_sqnr_db")).doubleValue();
            assertTrue(added >= previous, "worst first: " + worst);
            previous = added;
        }
        List<?> rows = (List<?>) layers.get("tensors");
        assertEquals(((Number) layers.get("compared_tensors")).intValue(), rows.size());
        // the graph output's row is the output's fidelity, pooled alike, up to what exposing every tensor changes:
        // ONNX Runtime then fuses other nodes, and a float rounding difference moves some values across an int8
        // rounding boundary (measured at 640x640 on imageTextN.png, the same int8 model with its tensors exposed as
        // outputs: 13.57 dB against 13.61; here 14.18 against 14.34)
        Map<?, ?> fid = (Map<?, ?>) ((Map<?, ?>) res.get("fidelity")).get("sigmoid_0.tmp_0");
        Map<?, ?> output = rows.stream().map(o -> (Map<?, ?>) o)
                .filter(m -> m.get("tensor").equals("sigmoid_0.tmp_0")).findFirst().orElseThrow();
        assertEquals(((Number) fid.get("sqnr_db")).doubleValue(), ((Number) output.get("sqnr_db")).doubleValue(), 0.5);
        assertEquals(((Number) fid.get("cosine")).doubleValue(), ((Number) output.get("cosine")).doubleValue(), 0.005);
        // an activation's Q/DQ adds the difference of relative error powers between the tensor and its int8 version
        Map<String, Map<?, ?>> byCandidate = new java.util.HashMap<>();
        for (Object o : rows) byCandidate.put((String) ((Map<?, ?>) o).get("candidate_tensor") == null
                ? (String) ((Map<?, ?>) o).get("tensor") : (String) ((Map<?, ?>) o).get("candidate_tensor"), (Map<?, ?>) o);
        int activations = 0;
        for (Object o : rows) {
            Map<?, ?> m = (Map<?, ?>) o;
            if (!"activation".equals(m.get("int8_source"))) continue;
            activations++;
            Map<?, ?> before = byCandidate.get((String) m.get("tensor"));
            if (before == null || !(before.get("sqnr_db") instanceof Number b) || !(m.get("added_sqnr_db") instanceof Number a)) {
                continue;
            }
            double expected = Math.pow(10, -((Number) m.get("sqnr_db")).doubleValue() / 10)
                    - Math.pow(10, -b.doubleValue() / 10);
            assertEquals(expected, Math.pow(10, -a.doubleValue() / 10), 1e-9 + 1e-6 * expected, m.toString());
        }
        assertTrue(activations >= 60, "activation rows " + activations);

        // the float model against itself: nothing differs, and no rounding is listed
        List<String> self = new ArrayList<>(args);
        self.set(self.indexOf(q.toString()), fp32.toString());
        self.remove(self.size() - 1);
        self.remove(self.size() - 1);
        Cli same = Cli.run(self);
        assertEquals(0, same.code(), same.err());
        assertTrue(same.out().contains("(0 without a namesake in the reference); no int8 rounding adds error\n"),
                same.out());

        // against the input model rather than the one the int8 model was written from: said on stderr
        List<String> input = new ArrayList<>(self);
        input.set(input.indexOf("--model") + 1, RealModels.model("ch_PP-OCRv4_det_infer.onnx").toString());
        input.set(input.indexOf("--candidate") + 1, q.toString());
        Cli orig = Cli.run(input);
        assertEquals(0, orig.code(), orig.err());
        assertTrue(orig.err().startsWith("note: " + fp32.toAbsolutePath() + " is the float model model.int8.onnx was"
                + " written from; layers are compared by name against --model "), orig.err());

        // quantize --layers compares with the float function the int8 model stands for (the input model on the
        // conditioned channels, biases not corrected), so its output row is the fidelity against the input model
        Map<String, Object> rep = report(dir);
        Map<?, ?> ql = (Map<?, ?>) rep.get("layers");
        assertEquals(3, ((List<?>) ql.get("worst")).size());
        assertEquals(0, ((Number) ql.get("unmatched_tensors")).intValue());
        Map<?, ?> qfid = (Map<?, ?>) ((Map<?, ?>) rep.get("fidelity")).get("sigmoid_0.tmp_0");
        Map<?, ?> qout = ((List<?>) ql.get("tensors")).stream().map(o -> (Map<?, ?>) o)
                .filter(m -> m.get("tensor").equals("sigmoid_0.tmp_0")).findFirst().orElseThrow();
        assertEquals(((Number) qfid.get("sqnr_db")).doubleValue(), ((Number) qout.get("sqnr_db")).doubleValue(), 0.5);
        assertEquals(((Number) qfid.get("samples")).intValue(), ((Number) ql.get("samples")).intValue());

        // an ONNX model is not compared with a .tflite one
        List<String> tflite = new ArrayList<>(self);
        tflite.set(tflite.indexOf("--candidate") + 1, RealModels.npmModel("blazeface-tflite", "face_detection_short_range.tflite").toString());
        Cli refused = Cli.run(tflite);
        assertEquals(1, refused.code(), refused.out());
        assertTrue(refused.err().contains("--layers compares two ONNX models or two .tflite models by tensor name, and"
                + " got model.fp32.onnx and face_detection_short_range.tflite"), refused.err());
    }
}
