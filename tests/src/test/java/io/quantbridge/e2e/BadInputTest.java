package io.quantbridge.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.quantbridge.data.NpyFile;
import io.quantbridge.tensor.FloatTensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad input through {@code quantize}, on real models: the one-line error names the file, element or option at fault,
 * the exit code is 1, and the run leaves no output folder behind (nor touches one that was there before).
 */
class BadInputTest {
    @TempDir
    Path tmp;

    private static FloatTensor random(long[] shape, int seed) {
        int n = 1;
        for (long d : shape) n *= (int) d;
        float[] v = new float[n];
        Random r = new Random(seed);
        for (int i = 0; i < n; i++) v[i] = r.nextFloat();
        return new FloatTensor(shape, v);
    }

    /** Two classifier inputs in folder {@code name}: a.npy, and b.npy with a NaN at flat index {@code nanAt}. */
    private Path clsSamplesWithNaN(String name, int nanAt) throws java.io.IOException {
        Path calib = Files.createDirectories(tmp.resolve(name));
        long[] shape = {1, 3, 48, 192};
        NpyFile.write(calib.resolve("a.npy"), random(shape, 1));
        FloatTensor bad = random(shape, 2);
        bad.data()[nanAt] = Float.NaN;
        NpyFile.write(calib.resolve("b.npy"), bad);
        return calib;
    }

    @Test
    void nanInOneSampleOfTheOnnxPathNamesFileAndIndexAndLeavesNoFolder() throws Exception {
        Path model = RealModels.model("ch_ppocr_mobile_v2.0_cls_infer.onnx");
        Path calib = clsSamplesWithNaN("calib", 48 * 192 + 192 * 3 + 7); // channel 1, row 3, column 7
        Path out = tmp.resolve("out");
        Cli r = Cli.run(List.of("quantize", "--backend", "onnx",
                "--model", model.toString(), "--calib", calib.toString(), "--quiet", "--out", out.toString()));
        assertEquals(1, r.code(), r.err());
        assertEquals("quantbridge quantize: calibration data " + calib.resolve("b.npy") + ": NaN at element "
                + (48 * 192 + 192 * 3 + 7) + " (index [0, 1, 3, 7])\n", r.err());
        assertFalse(Files.exists(out), "a failed run left " + out);

        // a folder that existed before is left as it was
        Path existing = Files.createDirectories(tmp.resolve("existing"));
        Files.writeString(existing.resolve("keep.txt"), "mine");
        r = Cli.run(List.of("quantize", "--backend", "onnx", "--model", model.toString(),
                "--calib", calib.toString(), "--quiet", "--out", existing.toString()));
        assertEquals(1, r.code(), r.err());
        try (var entries = Files.list(existing)) {
            assertEquals(List.of(existing.resolve("keep.txt")), entries.toList());
        }
        Path empty = Files.createDirectories(tmp.resolve("empty-before"));
        r = Cli.run(List.of("quantize", "--backend", "onnx", "--model", model.toString(),
                "--calib", calib.toString(), "--quiet", "--out", empty.toString()));
        assertEquals(1, r.code(), r.err());
        assertTrue(Files.isDirectory(empty), "an empty --out folder given by the user is kept");
    }

    /** The detector takes any height and width: without --size, quantize says so before any step runs. */
    @Test
    void aMissingSizeIsRefusedBeforeAnyStepRuns() throws Exception {
        Path model = RealModels.model("ch_PP-OCRv4_det_infer.onnx");
        Path out = tmp.resolve("out-size");
        Cli r = Cli.run(List.of("quantize", "--backend", "onnx",
                "--model", model.toString(), "--calib", RealModels.photos().toString(), "--samples", "4", "--out",
                out.toString()));
        assertEquals(1, r.code(), r.err());
        // before, "channel statistics (4) ..." came first: the first sample found it out
        assertEquals("quantbridge quantize: --size: model input 'x' [-1, 3, -1, -1] has a dynamic height or width;"
                + " give the image size with --size WIDTHxHEIGHT\n", r.err());
        assertFalse(Files.exists(out), "a refused run left " + out);
    }

    @Test
    void wrongShapeOnTheTflitePathNamesFileAndInputAndLeavesNoFolder() throws Exception {
        Path model = RealModels.root().resolve(".cache/models/wakeword-embed/embedding_model.tflite");
        assumeTrue(Files.isRegularFile(model), "models not fetched: run scripts/fetch-models.sh");
        Path calib = Files.createDirectories(tmp.resolve("mel"));
        NpyFile.write(calib.resolve("a.npy"), random(new long[] {1, 76, 32, 1}, 3));
        NpyFile.write(calib.resolve("b.npy"), random(new long[] {1, 70, 32, 1}, 4));
        Path out = tmp.resolve("out-tflite");
        Cli r = Cli.run(List.of("quantize", "--backend", "tflite",
                "--model", model.toString(), "--calib", calib.toString(), "--quiet", "--out", out.toString()));
        assertEquals(1, r.code(), r.err());
        assertEquals("quantbridge quantize: calibration data " + calib.resolve("b.npy") + ": shape [1, 70, 32, 1] "
                + "does not match model input 'serving_default_input_1:0' [1, 76, 32, 1]\n", r.err());
        assertFalse(Files.exists(out), "a failed run left " + out);
    }

    @Test
    void theOnnxBackendChecksAndRecordsItsTarget() throws Exception {
        Path model = RealModels.model("ch_ppocr_mobile_v2.0_cls_infer.onnx");
        Path calib = Files.createDirectories(tmp.resolve("calib"));
        NpyFile.write(calib.resolve("a.npy"), random(new long[] {1, 3, 48, 192}, 5));
        Path out = tmp.resolve("out-gpu");
        Cli r = Cli.run(List.of("quantize", "--backend", "onnx",
                "--model", model.toString(), "--calib", calib.toString(), "--target", "gpu", "--quiet", "--out",
                out.toString()));
        assertEquals(1, r.code(), r.err());
        assertEquals("quantbridge quantize: onnx: --target gpu is not one of tensorrt, openvino, onnxruntime (device "
                + "targets such as gpu, jetson, dla or cpu belong to --backend tensorrt or openvino)\n", r.err());
        assertFalse(Files.exists(out), "a refused run left " + out);

        for (String target : new String[] {"OpenVINO", ""}) {
            Path dir = tmp.resolve("out-" + (target.isEmpty() ? "default" : target));
            List<String> args = new java.util.ArrayList<>(List.of("quantize", "--backend", "onnx", "--model",
                    model.toString(), "--calib", calib.toString(), "--quiet", "--out", dir.toString()));
            if (!target.isEmpty()) args.addAll(List.of("--target", target));
            r = Cli.run(args);
            assertEquals(0, r.code(), r.err());
            String report = Files.readString(dir.resolve("report.json"));
            String expected = target.isEmpty() ? "tensorrt" : "openvino";
            assertTrue(report.contains("\"target\": \"" + expected + "\""), report);
        }
    }

    @Test
    void evaluationAndDataOptionsThatCannotBeMetNameThemselves() throws Exception {
        Path model = RealModels.model("ch_ppocr_mobile_v2.0_cls_infer.onnx");
        Path calib = Files.createDirectories(tmp.resolve("calib-options"));
        NpyFile.write(calib.resolve("a.npy"), random(new long[] {1, 3, 48, 192}, 5));
        NpyFile.write(calib.resolve("b.npy"), random(new long[] {1, 3, 48, 192}, 6));
        Path missing = tmp.resolve("no-such-labels.txt");
        Path out = tmp.resolve("out-options");
        Cli r = Cli.run(List.of("quantize", "--backend", "onnx",
                "--model", model.toString(), "--calib", calib.toString(), "--top1", "--labels", missing.toString(),
                "--quiet", "--out", out.toString()));
        assertEquals(1, r.code(), r.err());
        assertEquals("quantbridge quantize: --labels " + missing + " does not exist\n", r.err());
        assertFalse(Files.exists(out), "a refused run left " + out);

        r = Cli.run(List.of("quantize", "--backend", "onnx", "--model", model.toString(),
                "--calib", calib.toString(), "--calib-exclude", "c.npy", "--quiet", "--out", out.toString()));
        assertEquals(1, r.code(), r.err());
        assertEquals("quantbridge quantize: --calib-exclude 'c.npy' matches none of the 2 calibration samples (ids look"
                + " like 'a.npy')\n", r.err());
        assertFalse(Files.exists(out), "a refused run left " + out);
    }

    /** A model with nothing int8 can quantize is refused before calibration: no float copy named model.int8.onnx. */
    /** A corrupt file among the evaluation samples fails the run before calibration, not after it. */
    @Test
    void aCorruptEvaluationImageFailsBeforeCalibrating() throws Exception {
        Path eval = Files.createDirectories(tmp.resolve("eval-corrupt"));
        Files.copy(RealModels.photos().resolve("baboon.jpg"), eval.resolve("baboon.jpg"));
        byte[] jpeg = Files.readAllBytes(RealModels.photos().resolve("fruits.jpg"));
        Files.write(eval.resolve("fruits-cut.jpg"), java.util.Arrays.copyOf(jpeg, 600)); // headers, then nothing
        Path out = tmp.resolve("out-corrupt");
        Cli r = Cli.run(List.of("quantize", "--backend", "onnx",
                "--model", RealModels.model("ch_ppocr_mobile_v2.0_cls_infer.onnx").toString(), "--calib",
                RealModels.photos().toString(), "--eval", eval.toString(), "--samples", "6", "--size", "192x48",
                "--out", out.toString()));
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("quantbridge quantize: evaluation data " + eval.resolve("fruits-cut.jpg")
                + ": cannot decode the image"), r.err());
        assertFalse(r.err().contains("calibrating"), "it failed after calibration: " + r.err());
        assertFalse(Files.exists(out), "a refused run left " + out);
    }

    /**
     * An evaluation sample the model cannot take (here a .npy in the other layout) fails the run before calibration
     * too; it used to fail at the fidelity step and leave the models and tables behind without report.json.
     */
    @Test
    void anEvaluationSampleOfTheWrongShapeFailsBeforeCalibrating() throws Exception {
        Path eval = Files.createDirectories(tmp.resolve("eval-layout"));
        NpyFile.write(eval.resolve("a.npy"), random(new long[] {1, 3, 48, 192}, 5));
        NpyFile.write(eval.resolve("b.npy"), random(new long[] {1, 48, 192, 3}, 6));
        for (String backend : List.of("onnx", "openvino")) {
            Path out = tmp.resolve("out-layout-" + backend);
            Cli r = Cli.run(List.of("quantize", "--backend", backend,
                    "--model", RealModels.model("ch_ppocr_mobile_v2.0_cls_infer.onnx").toString(), "--calib",
                    RealModels.photos().toString(), "--eval", eval.toString(), "--samples", "6", "--size", "192x48",
                    "--out", out.toString()));
            assertEquals(1, r.code(), r.err());
            assertTrue(r.err().endsWith("quantbridge quantize: evaluation data " + eval.resolve("b.npy") + ": shape "
                    + "[1, 48, 192, 3] does not match model input 'x' [-1, 3, -1, -1] (-1 = any size)\n"), r.err());
            assertFalse(r.err().contains("calibrating"), "it failed after calibration: " + r.err());
            assertFalse(Files.exists(out), backend + ": a refused run left " + out);
        }
    }

    /**
     * A run that fails late (ONNX Runtime refuses an evaluation sample's size during the fidelity step, after the
     * models were written) leaves the output folder as the last run that succeeded left it. It used to leave the
     * detector's models beside the classifier's report.json.
     */
    @Test
    void aRunThatFailsLateLeavesTheOutputOfTheLastRunThatSucceeded() throws Exception {
        Path out = tmp.resolve("out-late");
        Cli r = Cli.run(List.of("quantize", "--backend", "onnx",
                "--model", RealModels.model("ch_ppocr_mobile_v2.0_cls_infer.onnx").toString(), "--calib",
                RealModels.photos().toString(), "--samples", "4", "--size", "192x48", "--quiet", "--out",
                out.toString()));
        assertEquals(0, r.code(), r.err());
        java.util.Map<String, byte[]> before = new java.util.TreeMap<>();
        try (var files = Files.list(out)) {
            for (Path f : files.toList()) before.put(f.getFileName().toString(), Files.readAllBytes(f));
        }
        assertEquals(List.of("calibration.cache", "calibration.json", "model.fp32.onnx", "model.int8.onnx",
                "report.json"), List.copyOf(before.keySet()));

        Path eval = Files.createDirectories(tmp.resolve("eval-100"));
        NpyFile.write(eval.resolve("a.npy"), random(new long[] {1, 3, 100, 100}, 7)); // not a multiple of 32
        r = Cli.run(List.of("quantize", "--backend", "onnx", "--model",
                RealModels.model("ch_PP-OCRv4_det_infer.onnx").toString(), "--calib", RealModels.photos().toString(),
                "--samples", "2", "--size", "96x96", "--eval", eval.toString(), "--out", out.toString()));
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("evaluating (1)"), "it failed in the fidelity step: " + r.err());
        assertTrue(r.err().contains("ONNX Runtime failed on input x [1, 3, 100, 100]"), r.err());
        java.util.Map<String, byte[]> after = new java.util.TreeMap<>();
        try (var files = Files.list(out)) {
            for (Path f : files.toList()) after.put(f.getFileName().toString(), Files.readAllBytes(f));
        }
        assertEquals(before.keySet(), after.keySet());
        for (String f : before.keySet()) {
            assertTrue(java.util.Arrays.equals(before.get(f), after.get(f)), f + " changed");
        }
    }

    /**
     * A float model kept as models/model.fp32.onnx and quantized with --out models: the run would replace it with
     * the calibrated float model of the same name (it did, silently), so it is refused before it starts.
     */
    @Test
    void aModelInTheOutputFolderUnderAnOutputNameIsNotReplaced() throws Exception {
        Path models = Files.createDirectories(tmp.resolve("models"));
        Path model = models.resolve("model.fp32.onnx");
        Files.copy(RealModels.model("ch_ppocr_mobile_v2.0_cls_infer.onnx"), model);
        byte[] before = Files.readAllBytes(model);
        Cli r = Cli.run(List.of("quantize", "--backend", "onnx",
                "--model", model.toString(), "--calib", RealModels.photos().toString(), "--samples", "4", "--size",
                "192x48", "--out", models.toString()));
        assertEquals(1, r.code(), r.err());
        assertEquals("quantbridge quantize: --model " + model + " is in --out " + models + " under a name quantize "
                + "gives its own files (model.<precision>.<format>), so the run would replace it: choose another "
                + "--out, or rename the model\n", r.err());
        assertTrue(java.util.Arrays.equals(before, Files.readAllBytes(model)));
        try (var entries = Files.list(models)) {
            assertEquals(List.of(model), entries.toList());
        }
    }

    @Test
    void anAlreadyQuantizedModelIsRefusedAsSuch() throws Exception {
        Path cls = RealModels.model("ch_ppocr_mobile_v2.0_cls_infer.onnx");
        List<String> common = List.of("--backend", "onnx", "--calib", RealModels.photos().toString(), "--samples", "6",
                "--size", "192x48", "--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5", "--quiet");
        Path first = tmp.resolve("first");
        List<String> args = new java.util.ArrayList<>(List.of("quantize", "--model", cls.toString(), "--out",
                first.toString()));
        args.addAll(common);
        assertEquals(0, Cli.run(args).code());
        Path again = tmp.resolve("again");
        args = new java.util.ArrayList<>(List.of("quantize", "--model", first.resolve("model.int8.onnx").toString(),
                "--out", again.toString()));
        args.addAll(common);
        Cli r = Cli.run(args);
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().matches("quantbridge quantize: onnx: model\\.int8\\.onnx is already quantized \\([0-9]+ "
                + "quantization nodes: DequantizeLinear, QuantizeLinear\\): give quantize the float model it came "
                + "from\n"), r.err());
        assertFalse(Files.exists(again), "a refused run left " + again);
    }

    @Test
    void aModelWithNothingToQuantizeIsRefusedNamingWhatItHolds() throws Exception {
        io.quantbridge.onnx.proto.Onnx.GraphProto.Builder g = io.quantbridge.onnx.proto.Onnx.GraphProto.newBuilder()
                .setName("no_weights")
                .addInput(io.quantbridge.onnx.OnnxModel.valueInfo("x", io.quantbridge.onnx.DataTypes.FLOAT))
                .addOutput(io.quantbridge.onnx.OnnxModel.valueInfo("y", io.quantbridge.onnx.DataTypes.FLOAT))
                .addNode(io.quantbridge.onnx.proto.Onnx.NodeProto.newBuilder().setName("relu").setOpType("Relu")
                        .addInput("x").addOutput("r"))
                .addNode(io.quantbridge.onnx.proto.Onnx.NodeProto.newBuilder().setName("sigmoid")
                        .setOpType("Sigmoid").addInput("r").addOutput("y"));
        Path model = tmp.resolve("no_weights.onnx");
        io.quantbridge.onnx.OnnxModel.of(io.quantbridge.onnx.proto.Onnx.ModelProto.newBuilder().setIrVersion(8)
                .addOpsetImport(io.quantbridge.onnx.proto.Onnx.OperatorSetIdProto.newBuilder().setVersion(13))
                .setGraph(g).build()).save(model);
        Path calib = Files.createDirectories(tmp.resolve("calib-nothing"));
        NpyFile.write(calib.resolve("a.npy"), random(new long[] {1, 4}, 3));
        Path out = tmp.resolve("out-nothing");
        Cli r = Cli.run(List.of("quantize", "--backend", "onnx",
                "--model", model.toString(), "--calib", calib.toString(), "--quiet", "--out", out.toString()));
        assertEquals(1, r.code(), r.err());
        assertEquals("quantbridge quantize: onnx: no_weights.onnx has no node to quantize to int8 (int8 quantizes "
                + "Conv, ConvTranspose, Gemm and MatMul with constant weights in the main graph), so model.int8.onnx "
                + "would be the float model: 2 node(s) of other kinds [Relu, Sigmoid]\n", r.err());
        assertFalse(Files.exists(out), "a refused run left " + out);
    }

    @Test
    void anExcludePatternThatMatchesNothingIsRefusedOnEveryPath() throws Exception {
        Path cls = RealModels.model("ch_ppocr_mobile_v2.0_cls_infer.onnx");
        String ops = "Add, BatchNormalization, Cast, Clip, Concat, Constant, Conv, Div, GlobalAveragePool, HardSigmoid, "
                + "Identity, MatMul, MaxPool, Mul, Relu, Reshape, Shape, Slice, Softmax";
        for (String precision : List.of("int8", "fp16")) {
            Path out = tmp.resolve("out-exclude-" + precision);
            // 'Conv' keeps every conv float; 'conv' (case) and a name that is not there keep nothing
            Cli r = Cli.run(List.of("quantize", "--backend", "onnx",
                    "--model", cls.toString(), "--calib", RealModels.photos().toString(), "--samples", "2", "--size",
                    "192x48", "--precision", precision, "--exclude", "Conv", "--exclude", "conv", "--exclude",
                    "p2o.Conv.99", "--exclude", "Conv@[0", "--quiet", "--out", out.toString()));
            assertEquals(1, r.code(), r.err());
            assertEquals("quantbridge quantize: --exclude 'conv', 'p2o.Conv.99', 'Conv@[0' match no node of "
                    + "ch_ppocr_mobile_v2.0_cls_infer.onnx: a pattern is a node name, an op type (the model has " + ops
                    + ") or a regular expression that matches whole node names; 'Conv@[0' is no valid regular"
                    + " expression, so it was taken as a name\n", r.err());
            assertFalse(Files.exists(out), "a refused run left " + out);
        }
        // a regular expression counts when it matches whole names (the classifier's convs are Conv@0, Conv@1, ...)
        Path out = tmp.resolve("out-exclude-regex");
        Cli r = Cli.run(List.of("quantize", "--backend", "onnx",
                "--model", cls.toString(), "--calib", RealModels.photos().toString(), "--samples", "2", "--size",
                "192x48", "--exclude", "Conv@[0-2]", "--quiet", "--out", out.toString()));
        assertEquals(0, r.code(), r.err());
        String report = Files.readString(out.resolve("report.json"));
        assertTrue(report.contains("excluded by pattern 'Conv@[0-2]'"), report);

        Path pose = RealModels.root().resolve(".cache/models/pose-lite/pose_landmark_lite.tflite");
        assumeTrue(Files.isRegularFile(pose), "models not fetched: run scripts/fetch-models.sh");
        Path outTflite = tmp.resolve("out-exclude-tflite");
        r = Cli.run(List.of("quantize", "--backend", "tflite", "--model", pose.toString(),
                "--precision", "dynamic", "--exclude", "CONV2D", "--exclude", "(conv", "--quiet", "--out",
                outTflite.toString()));
        assertEquals(1, r.code(), r.err());
        assertEquals("quantbridge quantize: --exclude 'CONV2D', '(conv' match no operator of pose_landmark_lite.tflite:"
                + " a pattern is an operator (the model has ADD, CONV_2D, DEPTHWISE_CONV_2D, DEQUANTIZE, LOGISTIC, "
                + "MAX_POOL_2D, PAD, RESHAPE, RESIZE_BILINEAR) or a regular expression that matches the whole name of "
                + "an operator's first output tensor; '(conv' is no valid regular expression, so it was taken as a"
                + " name\n", r.err());
        assertFalse(Files.exists(outTflite), "a refused run left " + outTflite);
    }

    @Test
    void aFolderGivenAsTheModelIsNamedAsSuch() throws Exception {
        Path folder = Files.createDirectories(tmp.resolve("model.onnx"));
        Cli r = Cli.run(List.of("quantize", "--backend", "onnx",
                "--model", folder.toString(), "--calib", RealModels.photos().toString(), "--quiet", "--out",
                tmp.resolve("out-folder").toString()));
        assertEquals(1, r.code(), r.err());
        assertEquals("quantbridge quantize: model " + folder + " is a folder, not a file\n", r.err());
    }

    @Test
    void namesAndTablesAreCheckedBeforeAnyPassOverTheSamples() throws Exception {
        Path cls = RealModels.model("ch_ppocr_mobile_v2.0_cls_infer.onnx");
        // a calibration set whose second sample holds a NaN: a run that reached the samples would fail on it
        Path calib = clsSamplesWithNaN("calib-nan", 5);
        List<String> common = List.of("quantize", "--backend", "onnx", "--model", cls.toString(), "--calib",
                calib.toString(), "--quiet");

        Path out = tmp.resolve("out-keep");
        List<String> args = new java.util.ArrayList<>(common);
        args.addAll(List.of("--keep-float", "Conv@99", "--out", out.toString()));
        Cli r = Cli.run(args);
        assertEquals(1, r.code(), r.err());
        assertEquals("quantbridge quantize: --keep-float: the model has no node named 'Conv@99' (the names "
                + "report.json's float_layers ranking uses)\n", r.err());
        assertFalse(Files.exists(out), "a refused run left " + out);

        Path cache = tmp.resolve("calibration.cache");
        Files.writeString(cache, "TRT-100900-EntropyCalibration2\nx: 3c010a14\n");
        args = new java.util.ArrayList<>(common);
        args.addAll(List.of("--table", cache.toString(), "--out", out.toString()));
        r = Cli.run(args);
        assertEquals(1, r.code(), r.err());
        assertEquals("quantbridge quantize: calibration table " + cache + " is a TensorRT calibration cache "
                + "(TRT-100900-EntropyCalibration2), which holds scales only: give the portable table written beside "
                + "it, calibration.json\n", r.err());
        assertFalse(Files.exists(out), "a refused run left " + out);

        // --out names a file
        Path file = Files.writeString(tmp.resolve("a-file"), "mine");
        args = new java.util.ArrayList<>(common);
        args.addAll(List.of("--out", file.toString()));
        r = Cli.run(args);
        assertEquals(1, r.code(), r.err());
        assertEquals("quantbridge quantize: --out " + file + " is a file, not a folder\n", r.err());
        assertEquals("mine", Files.readString(file));
    }
}
