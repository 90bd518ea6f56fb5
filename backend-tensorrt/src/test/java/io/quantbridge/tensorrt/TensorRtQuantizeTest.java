package io.quantbridge.tensorrt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.quantbridge.backend.BackendStatus;
import io.quantbridge.backend.Progress;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.onnx.Attributes;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.proto.Onnx;
import io.quantbridge.request.Artifact;
import io.quantbridge.request.QuantizationRequest;
import io.quantbridge.request.QuantizationResult;
import io.quantbridge.table.TensorRtCache;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code quantize --backend tensorrt} on the real PaddleOCR detector at 320x320 with a few real photos, on a machine
 * without a GPU: the portable files are written and TensorRT's rules hold for them.
 */
class TensorRtQuantizeTest {
    static final Preprocessing PRE_320 = Preprocessing.builder().size(320, 320).mean(0.485, 0.456, 0.406)
            .std(0.229, 0.224, 0.225).build();

    @TempDir static Path out;
    static QuantizationResult result;
    static final List<String> notes = new java.util.concurrent.CopyOnWriteArrayList<>();
    static BackendStatus status;

    static Path root() {
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null && !Files.isRegularFile(dir.resolve("scripts").resolve("fetch-models.sh"))) {
            dir = dir.getParent();
        }
        if (dir == null) throw new IllegalStateException("repository root not found");
        return dir;
    }

    static Path detector() {
        Path p = root().resolve(".cache/models/ppocr/ch_PP-OCRv4_det_infer.onnx");
        assumeTrue(Files.isRegularFile(p), "models not fetched: run scripts/fetch-models.sh");
        return p;
    }

    static Path photos() {
        Path p = root().resolve(".cache/data/opencv");
        assumeTrue(Files.isDirectory(p), "photos not fetched: run scripts/fetch-models.sh");
        return p;
    }

    @BeforeAll
    static void quantize() {
        TensorRtBackend backend = new TensorRtBackend();
        status = backend.status();
        assumeTrue(!status.usable(), "this test covers the machine without a GPU; GpuEngineTest covers the other");
        QuantizationRequest req = QuantizationRequest.builder().model(detector()).calibrationData(photos())
                .maxSamples(4).seed(1).preprocessing(PRE_320).outputDir(out).threads(2).build();
        result = backend.quantize(req, Progress.notes(notes::add));
    }

    @Test
    void writesThePortableFilesAndSaysWhyNoEngine() throws Exception {
        assertEquals("tensorrt", result.backend());
        Set<String> files = result.artifacts().stream().map(a -> a.path().getFileName().toString())
                .collect(Collectors.toSet());
        assertTrue(files.containsAll(List.of("model.int8.onnx", "model.fp32.onnx", "calibration.cache",
                "trtexec.txt")), files.toString());
        assertFalse(files.stream().anyMatch(f -> f.endsWith(".plan")), files.toString());
        for (Artifact a : result.artifacts()) assertEquals(Files.size(a.path()), a.bytes());
        @SuppressWarnings("unchecked")
        Map<String, Object> trt = (Map<String, Object>) result.report().get("tensorrt");
        assertEquals(false, trt.get("engine_built"));
        assertEquals(status.reason(), trt.get("engine_not_built_because"));
        assertTrue(notes.stream().anyMatch(n -> n.startsWith("tensorrt: engine not built: " + status.reason())),
                notes.toString());
        String commands = Files.readString(out.resolve("trtexec.txt"));
        assertTrue(commands.contains("trtexec --onnx=model.fp32.onnx --int8 --calib=calibration.cache "
                + "--minShapes=x:1x3x320x320"), commands);
        assertTrue(commands.contains("trtexec --onnx=model.int8.onnx --int8 --minShapes"), commands);
        assertTrue(commands.contains("trtexec --onnx=model.int8.onnx --minShapes"), commands);
    }

    /**
     * FP16 of openWakeWord's mel-spectrogram model (its power spectrum of 16-bit audio reaches 1e9): the FP16 model
     * keeps those layers float32, and the TensorRT 10 line builds it strongly typed rather than the float model with
     * --fp16, under which TensorRT may run any layer in fp16.
     */
    @Test
    void fp16WithLayersBeyondFloat16GetsAStronglyTypedTensorRt10Line(@org.junit.jupiter.api.io.TempDir Path tmp)
            throws Exception {
        Path mel = root().resolve(".cache/models/wakeword-embed/melspectrogram.onnx");
        assumeTrue(Files.isRegularFile(mel), "models not fetched: run scripts/fetch-models.sh");
        Path audio = Files.createDirectories(tmp.resolve("audio"));
        for (int clip = 0; clip < 3; clip++) {
            float[] chirp = new float[16000];
            for (int t = 0; t < chirp.length; t++) chirp[t] = (float) (20000 * Math.sin(0.05 * t + 1e-5 * t * t * clip));
            io.quantbridge.data.NpyFile.write(audio.resolve("clip" + clip + ".npy"),
                    new io.quantbridge.tensor.FloatTensor(new long[] {1, chirp.length}, chirp));
        }
        Path dir = tmp.resolve("mel-fp16");
        QuantizationResult r = new TensorRtQuantization(QuantizationRequest.builder().model(mel)
                .calibrationData(audio).precision(io.quantbridge.request.Precision.FP16).outputDir(dir).build(),
                Progress.NONE, status, java.util.Map.of()).run(); // input [-1, -1]: fixed at the first clip's shape
        assertTrue(!io.quantbridge.onnx.backend.OnnxBackend.fp16Float32Tensors(r.report()).isEmpty());
        String commands = Files.readString(dir.resolve("trtexec.txt"));
        assertTrue(commands.contains("trtexec --onnx=model.fp16.onnx --stronglyTyped --minShapes=input:1x16000 "
                + "--optShapes=input:1x16000 --maxShapes=input:1x16000 --saveEngine=model.fp16.plan"), commands);
    }

    /**
     * Clips of several lengths, calibration and evaluation: the engine's profile spans them all (it was fixed at the
     * first clip's length, and an engine built from trtexec.txt took no other).
     */
    @Test
    void samplesOfSeveralShapesGetAProfileSpanningThem(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        Path mel = root().resolve(".cache/models/wakeword-embed/melspectrogram.onnx");
        assumeTrue(Files.isRegularFile(mel), "models not fetched: run scripts/fetch-models.sh");
        Path calib = Files.createDirectories(tmp.resolve("calib"));
        Path eval = Files.createDirectories(tmp.resolve("eval"));
        int[][] lengths = {{16000, 12000, 20000, 16000}, {24000}};
        for (int set = 0; set < 2; set++) {
            for (int clip = 0; clip < lengths[set].length; clip++) {
                float[] chirp = new float[lengths[set][clip]];
                for (int t = 0; t < chirp.length; t++) chirp[t] = (float) (8000 * Math.sin(0.05 * t + 1e-5 * t * clip));
                io.quantbridge.data.NpyFile.write((set == 0 ? calib : eval).resolve("clip" + clip + ".npy"),
                        new io.quantbridge.tensor.FloatTensor(new long[] {1, chirp.length}, chirp));
            }
        }
        Path dir = tmp.resolve("mel-fp16");
        QuantizationResult r = new TensorRtQuantization(QuantizationRequest.builder().model(mel)
                .calibrationData(calib).evaluationData(eval).precision(io.quantbridge.request.Precision.FP16)
                .outputDir(dir).build(), Progress.NONE, status, java.util.Map.of()).run();
        String commands = Files.readString(dir.resolve("trtexec.txt"));
        assertTrue(commands.contains("--minShapes=input:1x12000 --optShapes=input:1x16000 --maxShapes=input:1x24000 "),
                commands);
        @SuppressWarnings("unchecked")
        Map<String, Object> config = (Map<String, Object>) ((Map<String, Object>) r.report().get("tensorrt"))
                .get("config");
        assertTrue(config.toString().contains("input:1x12000,1x16000,1x24000"), config.toString());
        assertEquals(1, r.fidelity().get(r.fidelity().keySet().iterator().next()).samples());
    }

    /**
     * {@code --resize fit}: each photo at its own size, fitted within 320x320, sides to multiples of 32, as Pillow and
     * PaddleOCR's formula give them: messi5.jpg 548x342 -> 320x192, fruits.jpg 512x480 -> 320x288, building.jpg
     * 868x600 -> 320x224. The profile spans the three.
     */
    @Test
    void imagesFedAtTheirOwnSizeGetAProfileSpanningThem(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        Path calib = Files.createDirectories(tmp.resolve("calib"));
        Path eval = Files.createDirectories(tmp.resolve("eval"));
        Files.copy(photos().resolve("messi5.jpg"), calib.resolve("messi5.jpg"));
        Files.copy(photos().resolve("fruits.jpg"), calib.resolve("fruits.jpg"));
        Files.copy(photos().resolve("building.jpg"), eval.resolve("building.jpg"));
        Path dir = tmp.resolve("fit");
        QuantizationResult r = new TensorRtQuantization(QuantizationRequest.builder().model(detector())
                .calibrationData(calib).evaluationData(eval).outputDir(dir)
                .preprocessing(PRE_320.toBuilder().resize(Preprocessing.Resize.FIT).build()).build(), Progress.NONE,
                status, java.util.Map.of()).run();
        String commands = Files.readString(dir.resolve("trtexec.txt"));
        assertTrue(commands.contains("--minShapes=x:1x3x192x320 --optShapes=x:1x3x224x320 --maxShapes=x:1x3x288x320 "),
                commands);
        assertEquals(1, r.fidelity().get("sigmoid_0.tmp_0").samples());
        @SuppressWarnings("unchecked")
        Map<String, Object> pre = (Map<String, Object>) r.report().get("preprocessing");
        assertEquals("fit", pre.get("resize"));
        assertEquals(32, pre.get("multiple_of"));
    }

    /**
     * {@code --resize height} on PaddleOCR's recogniser, whose width is dynamic: lines wider than --size are fed at
     * their own width (400x20 at height 48 is 960 wide; 100x20 would be 240, padded to 320), and the profile spans
     * them.
     */
    @Test
    void textLinesWiderThanTheSizeGetAProfileSpanningThem(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        Path rec = root().resolve(".cache/models/ppocr/ch_PP-OCRv4_rec_infer.onnx");
        assumeTrue(Files.isRegularFile(rec), "models not fetched: run scripts/fetch-models.sh");
        Path calib = Files.createDirectories(tmp.resolve("calib"));
        int[][] lines = {{100, 20}, {400, 20}, {200, 20}};
        for (int i = 0; i < lines.length; i++) {
            java.awt.image.BufferedImage img = new java.awt.image.BufferedImage(lines[i][0], lines[i][1],
                    java.awt.image.BufferedImage.TYPE_3BYTE_BGR);
            for (int x = 0; x < lines[i][0]; x++) {
                for (int y = 0; y < lines[i][1]; y++) img.setRGB(x, y, (x * 37 + y * 11) % 256 * 0x010101);
            }
            javax.imageio.ImageIO.write(img, "png", calib.resolve("line" + i + ".png").toFile());
        }
        Path dir = tmp.resolve("lines");
        new TensorRtQuantization(QuantizationRequest.builder().model(rec).calibrationData(calib).outputDir(dir)
                .preprocessing(Preprocessing.builder().size(320, 48).mean(0.5, 0.5, 0.5).std(0.5, 0.5, 0.5)
                        .resize(Preprocessing.Resize.HEIGHT).padColor(127.5).build()).build(), Progress.NONE,
                status, java.util.Map.of()).run();
        String commands = Files.readString(dir.resolve("trtexec.txt"));
        assertTrue(commands.contains("--minShapes=x:1x3x48x320 --optShapes=x:1x3x48x480 --maxShapes=x:1x3x48x960 "),
                commands);
    }

    @Test
    void theCacheIsTensorRtsTextFormatForTheFloatModel() throws Exception {
        byte[] bytes = Files.readAllBytes(out.resolve("calibration.cache"));
        String text = new String(bytes, java.nio.charset.StandardCharsets.US_ASCII);
        assertTrue(text.startsWith("TRT-100900-EntropyCalibration2\n"), text.substring(0, 40));
        assertTrue(text.endsWith("\n"));
        List<String> lines = text.lines().skip(1).toList();
        assertTrue(lines.size() > 50, "entries: " + lines.size());
        OnnxModel fp32 = OnnxModel.load(out.resolve("model.fp32.onnx"));
        Set<String> tensors = fp32.nodes().stream().flatMap(n -> n.getOutputList().stream())
                .collect(Collectors.toSet());
        tensors.add("x");
        for (String line : lines) {
            int colon = line.lastIndexOf(':');
            String name = line.substring(0, colon);
            String hex = line.substring(colon + 2);
            assertTrue(hex.matches("[0-9a-f]+") && (hex.equals("0") || !hex.startsWith("0")), line);
            float scale = Float.intBitsToFloat((int) Long.parseLong(hex, 16));
            assertTrue(scale > 0 && Float.isFinite(scale), line);
            assertTrue(tensors.contains(name), "cache names '" + name + "', not a tensor of model.fp32.onnx");
        }
        assertEquals("x", lines.get(0).substring(0, lines.get(0).lastIndexOf(':')));
        // implicit quantization runs a conv in int8 only with scales for its input and its output: every conv that
        // the Q/DQ model quantizes has both in the cache
        Set<String> cached = lines.stream().map(l -> l.substring(0, l.lastIndexOf(':'))).collect(Collectors.toSet());
        OnnxModel q = OnnxModel.load(out.resolve("model.int8.onnx"));
        Set<String> quantizedConvs = q.nodes().stream().filter(n -> n.getOpType().equals("Conv"))
                .filter(n -> n.getInput(0).endsWith("_dequantized")).map(Onnx.NodeProto::getName)
                .collect(Collectors.toSet());
        assertTrue(quantizedConvs.size() > 50, "quantized convs " + quantizedConvs.size());
        for (Onnx.NodeProto n : fp32.nodes()) {
            if (!quantizedConvs.contains(n.getName())) continue;
            assertTrue(cached.contains(n.getInput(0)), "no scale for the input of " + n.getName());
            assertTrue(cached.contains(n.getOutput(0)), "no scale for the output of " + n.getName());
        }
        TensorRtCache.Contents c = TensorRtCache.read(out.resolve("calibration.cache"));
        // the input, normalised with ImageNet mean/std, spans about [-2.1, 2.6]
        double inputAmax = c.table().get("x").get().amax();
        assertTrue(inputAmax > 1.5 && inputAmax < 2.7, "x amax " + inputAmax);
        // re-headed for another TensorRT release, only the header changes
        String reheaded = TensorRtCache.format(c.table(), "100300", TensorRtCache.ENTROPY_CALIBRATION_2);
        assertEquals(text.substring(text.indexOf('\n')), reheaded.substring(reheaded.indexOf('\n')));
    }

    @Test
    void theQdqModelKeepsTensorRtsRules() {
        OnnxModel m = OnnxModel.load(out.resolve("model.int8.onnx"));
        QdqRules.Report r = QdqRules.check(m);
        assertTrue(r.ok(), r.violations().toString());
        assertTrue(m.opsetVersion() >= 13, "opset " + m.opsetVersion());
        assertTrue(r.quantizeNodes() > 50 && r.dequantizeNodes() > 100, r.toString());
        assertTrue(r.perChannelWeights() > 50, r.toString());
        // per-channel axes, counted directly: Conv weights on axis 0, ConvTranspose weights on axis 1
        Map<String, Onnx.NodeProto> dqByOutput = m.nodes().stream()
                .filter(n -> n.getOpType().equals("DequantizeLinear"))
                .collect(Collectors.toMap(n -> n.getOutput(0), n -> n));
        int conv = 0;
        int convT = 0;
        for (Onnx.NodeProto n : m.nodes()) {
            if (!n.getOpType().equals("Conv") && !n.getOpType().equals("ConvTranspose")) continue;
            Onnx.NodeProto dq = dqByOutput.get(n.getInput(1));
            if (dq == null) continue;
            long axis = Attributes.getInt(dq, "axis", 1);
            if (n.getOpType().equals("Conv")) {
                assertEquals(0, axis, n.getName());
                conv++;
            } else {
                assertEquals(1, axis, n.getName());
                convT++;
            }
        }
        assertTrue(conv > 50, "quantized Conv weights: " + conv);
        assertTrue(convT >= 1, "the detector's head upsamples with ConvTranspose: " + convT);
    }

    @Test
    void rulesCatchWhatTensorRtRefuses() {
        OnnxModel m = OnnxModel.load(out.resolve("model.int8.onnx"));
        Onnx.ModelProto.Builder b = m.proto().toBuilder();
        Onnx.GraphProto.Builder g = b.getGraphBuilder();
        // break the first per-channel Conv weight DQ's axis, and one activation zero point
        boolean axisBroken = false;
        for (int i = 0; i < g.getNodeCount() && !axisBroken; i++) {
            Onnx.NodeProto n = g.getNode(i);
            if (n.getOpType().equals("DequantizeLinear") && Attributes.has(n, "axis")) {
                g.setNode(i, Attributes.with(Attributes.without(n, "axis"), Attributes.ofInt("axis", 1)));
                axisBroken = true;
            }
        }
        String zpName = null;
        for (Onnx.NodeProto n : g.getNodeList()) {
            if (n.getOpType().equals("QuantizeLinear")) {
                zpName = n.getInput(2);
                break;
            }
        }
        for (int i = 0; i < g.getInitializerCount(); i++) {
            if (g.getInitializer(i).getName().equals(zpName)) {
                g.setInitializer(i, io.quantbridge.onnx.Tensors.int8Scalar(zpName, (byte) 3));
            }
        }
        QdqRules.Report r = QdqRules.check(OnnxModel.of(b.build()));
        assertTrue(r.violations().stream().anyMatch(v -> v.contains("zero point 3 is not 0")), r.violations()
                .toString());
        assertTrue(r.violations().stream().anyMatch(v -> v.contains("do not match axis 1")
                || v.contains("output-channel axis 0")), r.violations().toString());
    }
}
