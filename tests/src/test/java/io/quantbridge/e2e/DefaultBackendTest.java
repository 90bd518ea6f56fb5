package io.quantbridge.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.quantbridge.backend.BackendSelector;
import io.quantbridge.onnx.Attributes;
import io.quantbridge.onnx.DataTypes;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.Tensors;
import io.quantbridge.onnx.proto.Onnx.AttributeProto;
import io.quantbridge.onnx.proto.Onnx.GraphProto;
import io.quantbridge.onnx.proto.Onnx.NodeProto;
import io.quantbridge.onnx.proto.Onnx.ValueInfoProto;
import io.quantbridge.openvino.OpenVinoBackend;
import io.quantbridge.util.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * How the command line picks a backend when none is named on it. The configuration (here the system property
 * quantbridge.backend) is honoured by eval, bench and inspect as by quantize; and the default passes over a backend
 * that cannot read the model. The model: the real PaddleOCR classifier behind the If that PyTorch exports for
 * {@code x.squeeze(0)} (Squeeze in one branch, Identity in the other, as silero-vad has it), which ONNX Runtime runs
 * and OpenVINO 2026.4's ONNX reader cannot convert (the branches' ranks differ, and Conv needs one).
 */
class DefaultBackendTest {
    private static final String CLS = "ch_ppocr_mobile_v2.0_cls_infer.onnx";

    @TempDir
    Path tmp;

    /** {@code cli} with the system property quantbridge.backend set to {@code backend} for the call. */
    static Cli withBackendProperty(String backend, String... args) {
        String before = System.getProperty(BackendSelector.PROPERTY);
        System.setProperty(BackendSelector.PROPERTY, backend);
        try {
            return Cli.run(args);
        } finally {
            if (before == null) System.clearProperty(BackendSelector.PROPERTY);
            else System.setProperty(BackendSelector.PROPERTY, before);
        }
    }

    /**
     * The classifier with its input x unsqueezed to [1, N, 3, 48, 192] and squeezed back inside an If on "dimension 0
     * is 1", as PyTorch exports {@code squeeze(0)}: the else branch keeps rank 5.
     */
    static Path squeezeGated(Path published, Path file) throws Exception {
        OnnxModel m = OnnxModel.load(published);
        var p = m.proto().toBuilder();
        GraphProto.Builder g = p.getGraphBuilder();
        String x = g.getInput(0).getName();
        for (NodeProto.Builder n : g.getNodeBuilderList()) {
            for (int k = 0; k < n.getInputCount(); k++) if (n.getInput(k).equals(x)) n.setInput(k, "x_squeezed");
        }
        GraphProto thenG = GraphProto.newBuilder().setName("then")
                .addNode(NodeProto.newBuilder().setOpType("Squeeze").setName("squeeze").addInput("x5")
                        .addOutput("t_out").addAttribute(Attributes.ofInts("axes", 0)))
                .addOutput(OnnxModel.valueInfo("t_out", DataTypes.FLOAT)).build();
        GraphProto elseG = GraphProto.newBuilder().setName("else")
                .addNode(NodeProto.newBuilder().setOpType("Identity").setName("keep").addInput("x5").addOutput("e_out"))
                .addOutput(OnnxModel.valueInfo("e_out", DataTypes.FLOAT)).build();
        g.addInitializer(Tensors.int64Tensor("one", new long[0], new long[] {1}));
        List<NodeProto> front = List.of(
                NodeProto.newBuilder().setOpType("Unsqueeze").setName("unsqueeze").addInput(x).addOutput("x5")
                        .addAttribute(Attributes.ofInts("axes", 0)).build(),
                NodeProto.newBuilder().setOpType("Shape").setName("shape").addInput("x5").addOutput("dims").build(),
                NodeProto.newBuilder().setOpType("Gather").setName("dim0").addInput("dims").addInput("one")
                        .addOutput("d0").addAttribute(Attributes.ofInt("axis", 0)).build(),
                NodeProto.newBuilder().setOpType("Equal").setName("is_one").addInput("d0").addInput("one")
                        .addOutput("cond").build(),
                NodeProto.newBuilder().setOpType("If").setName("squeeze_if").addInput("cond").addOutput("x_squeezed")
                        .addAttribute(AttributeProto.newBuilder().setName("then_branch")
                                .setType(AttributeProto.AttributeType.GRAPH).setG(thenG))
                        .addAttribute(AttributeProto.newBuilder().setName("else_branch")
                                .setType(AttributeProto.AttributeType.GRAPH).setG(elseG)).build());
        for (int i = front.size() - 1; i >= 0; i--) g.addNode(0, front.get(i));
        Files.write(file, p.build().toByteArray());
        return file;
    }

    private Path photos(String name, String... files) throws Exception {
        return RealModels.copyPhotos(tmp.resolve(name), files);
    }

    private static final String[] CLS_IMAGES = {"--size", "192x48", "--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5"};

    /** The command line {@code command} followed by the {@code images} options. */
    private static String[] args(String[] images, String... command) {
        String[] all = new String[command.length + images.length];
        System.arraycopy(command, 0, all, 0, command.length);
        System.arraycopy(images, 0, all, command.length, images.length);
        return all;
    }

    @Test
    void theDefaultPassesOverOpenVinoForAModelItsReaderCannotConvert() throws Exception {
        assumeTrue(OpenVinoBackend.findLibrary().isPresent(), "OpenVINO not fetched: run scripts/fetch-openvino.sh");
        Path published = RealModels.model(CLS);
        Path gated = squeezeGated(published, tmp.resolve("cls-squeeze-if.onnx"));
        OpenVinoBackend ov = new OpenVinoBackend();
        assertEquals(Optional.of("OpenVINO's ONNX reader cannot convert Conv-11"), ov.readProblem(gated));
        assertEquals(Optional.empty(), ov.readProblem(published));
        assertEquals(Optional.empty(), ov.readProblem(tmp.resolve("absent.onnx")));
        assertTrue(Cli.run("backends").out().contains("selected: openvino (default (highest-ranked usable backend))"),
                "this test needs openvino as the default");

        Path calib = photos("calib", "imageTextR.png", "notes.png", "box.png", "graf1.png");
        Path eval = photos("eval", "imageTextN.png", "text_defocus.jpg", "building.jpg");
        String note = "note: openvino cannot read cls-squeeze-if.onnx: OpenVINO's ONNX reader cannot convert Conv-11; ";
        Path out = tmp.resolve("out");
        Cli q = Cli.run(args(CLS_IMAGES, "quantize", "--model", gated.toString(), "--calib", calib.toString(), "--eval",
                eval.toString(), "--calibrator", "mse", "--quiet", "--out", out.toString()));
        assertEquals(0, q.code(), q.err());
        assertTrue(q.err().contains(note + "quantizing it with onnx, the next usable backend (--backend openvino to"
                + " insist)\n"), q.err());
        Map<String, Object> rep = Json.parseObject(Files.readString(out.resolve("report.json")));
        assertEquals("onnx", rep.get("backend"));
        assertEquals("default (highest-ranked usable backend that reads the model and takes the request; openvino"
                + " cannot read cls-squeeze-if.onnx: OpenVINO's ONNX reader cannot convert Conv-11)", rep.get("backend_selected_by"));
        double cosine = ((Number) ((Map<?, ?>) ((Map<?, ?>) rep.get("fidelity")).values().iterator().next())
                .get("cosine")).doubleValue();
        assertTrue(cosine > 0.95, rep.get("fidelity").toString());
        // exactly what --backend onnx writes
        Path named = tmp.resolve("named");
        assertEquals(0, Cli.run(args(CLS_IMAGES, "quantize", "--backend", "onnx", "--model", gated.toString(), "--calib",
                calib.toString(), "--calibrator", "mse", "--quiet", "--out", named.toString())).code());
        assertArrayEquals(Files.readAllBytes(named.resolve("model.int8.onnx")),
                Files.readAllBytes(out.resolve("model.int8.onnx")));
        assertArrayEquals(Files.readAllBytes(named.resolve("calibration.cache")),
                Files.readAllBytes(out.resolve("calibration.cache")));

        // eval, bench and inspect run it too, with the same note
        Cli e = Cli.run(args(CLS_IMAGES, "eval", "--model", gated.toString(), "--candidate",
                out.resolve("model.int8.onnx").toString(), "--data", eval.toString(), "--quiet"));
        assertEquals(0, e.code(), e.err());
        assertTrue(e.err().contains(note + "running it with onnx"), e.err());
        Cli b = Cli.run("bench", "--model", gated.toString(), "--size", "192x48", "--iterations", "3", "--warmup", "1");
        assertEquals(0, b.code(), b.err());
        Cli i = Cli.run("inspect", gated.toString());
        assertEquals(0, i.code(), i.err());
        assertTrue(i.err().contains(note + "inspecting it with onnx"), i.err());
        assertTrue(i.out().contains("subgraph If node 'squeeze_if'"), i.out());

        // named, it is kept, and fails with OpenVINO's own words before anything is written
        Path ovOut = tmp.resolve("ov");
        Cli insist = Cli.run(args(CLS_IMAGES, "quantize", "--backend", "openvino", "--model", gated.toString(), "--calib",
                calib.toString(), "--quiet", "--out", ovOut.toString()));
        assertEquals(1, insist.code(), insist.out());
        assertTrue(insist.err().contains("openvino: cannot read model " + gated + ": ov_core_read_model failed")
                && insist.err().contains("Conversion is failed for: Conv-11"), insist.err());
        assertFalse(Files.exists(ovOut));
        Cli fused = Cli.run(args(CLS_IMAGES, "eval", "--backend", "openvino", "--model", published.toString(),
                "--candidate", published.toString(), "--data", eval.toString(), "--fused-kernels"));
        assertEquals("quantbridge eval: --fused-kernels: the candidate runs in the openvino backend, not in ONNX"
                + " Runtime", fused.err().strip());
        // the published model stays with openvino
        Cli plain = Cli.run("inspect", published.toString());
        assertFalse(plain.err().contains("note:"), plain.err());
        assertTrue(plain.out().contains("OpenVINO "), plain.out());
    }

    /**
     * The default for quantize passes over a backend that would refuse the options given: before, with OpenVINO
     * fetched, {@code quantize --target onnxruntime} (an onnx backend target, as README shows it) failed with
     * "openvino: --target onnxruntime is not supported" unless --backend onnx was added. And {@code --io int8}, which
     * the onnx backend ignored (its Q/DQ model kept float inputs and outputs without a word), is refused by every
     * backend that quantizes an ONNX model, each saying why.
     */
    @Test
    void theDefaultForQuantizePassesOverABackendThatWouldRefuseTheOptions() throws Exception {
        assumeTrue(OpenVinoBackend.findLibrary().isPresent(), "OpenVINO not fetched: run scripts/fetch-openvino.sh");
        assertTrue(Cli.run("backends").out().contains("selected: openvino (default (highest-ranked usable backend))"),
                "this test needs openvino as the default");
        Path model = RealModels.model(CLS);
        Path calib = photos("calib", "imageTextR.png", "notes.png", "box.png", "graf1.png");
        Path out = tmp.resolve("ort");
        Cli q = Cli.run(args(CLS_IMAGES, "quantize", "--model", model.toString(), "--calib", calib.toString(),
                "--target", "onnxruntime", "--quiet", "--out", out.toString()));
        assertEquals(0, q.code(), q.err());
        assertEquals("note: openvino would refuse this request: --target onnxruntime is not supported (targets: cpu);"
                + " quantizing it with onnx, the next usable backend (--backend openvino to insist)", q.err().strip());
        Map<String, Object> rep = Json.parseObject(Files.readString(out.resolve("report.json")));
        assertEquals("onnx", rep.get("backend"));
        assertEquals("onnxruntime", rep.get("target"));
        assertEquals("default (highest-ranked usable backend that reads the model and takes the request; openvino"
                + " would refuse this request: --target onnxruntime is not supported (targets: cpu))", rep.get("backend_selected_by"));
        // the same file as when the backend is named
        Path named = tmp.resolve("named");
        assertEquals(0, Cli.run(args(CLS_IMAGES, "quantize", "--backend", "onnx", "--model", model.toString(),
                "--calib", calib.toString(), "--target", "onnxruntime", "--quiet", "--out", named.toString())).code());
        assertArrayEquals(Files.readAllBytes(named.resolve("model.int8.onnx")),
                Files.readAllBytes(out.resolve("model.int8.onnx")));
        // without such an option openvino keeps the model
        Path ov = tmp.resolve("ov");
        Cli plain = Cli.run(args(CLS_IMAGES, "quantize", "--model", model.toString(), "--calib", calib.toString(),
                "--quiet", "--out", ov.toString()));
        assertEquals(0, plain.code(), plain.err());
        assertEquals("", plain.err().strip());
        assertEquals("openvino", Json.parseObject(Files.readString(ov.resolve("report.json"))).get("backend"));

        // no backend that quantizes an ONNX model writes int8 inputs and outputs: refused, each one's reason given
        Path io = tmp.resolve("io");
        Cli int8 = Cli.run(args(CLS_IMAGES, "quantize", "--model", model.toString(), "--calib", calib.toString(),
                "--io", "int8", "--quiet", "--out", io.toString()));
        assertEquals(1, int8.code());
        assertTrue(int8.err().startsWith("quantbridge quantize: no usable backend quantizes " + CLS + " (openvino would"
                + " refuse this request: --io int8 is not supported: OpenVINO's compiled models keep float inputs and"
                + " outputs (the int8 layers quantize inside); onnx would refuse this request: --io int8 is not"
                + " supported: the Q/DQ model keeps float inputs and outputs"), int8.err());
        Cli onnxInt8 = Cli.run(args(CLS_IMAGES, "quantize", "--backend", "onnx", "--model", model.toString(),
                "--calib", calib.toString(), "--io", "int8", "--quiet", "--out", io.toString()));
        assertEquals(1, onnxInt8.code());
        assertEquals("quantbridge quantize: onnx: --io int8 is not supported: the Q/DQ model keeps float inputs and"
                + " outputs (its QuantizeLinear and DequantizeLinear nodes quantize inside); int8 inputs and outputs"
                + " are written by --backend tflite", onnxInt8.err().strip());
        assertFalse(Files.exists(io));
    }

    /** Before, eval, bench and inspect took the highest-ranked backend whatever the configuration said. */
    @Test
    void evalBenchAndInspectHonourTheConfiguredBackend() throws Exception {
        Path model = RealModels.model(CLS);
        Cli i = withBackendProperty("onnx", "inspect", model.toString());
        assertEquals(0, i.code(), i.err());
        assertTrue(i.out().startsWith("ONNX model " + model + "\n"), i.out());
        assertFalse(i.out().contains("OpenVINO"), "inspected by the onnx backend: " + i.out());

        String wrong = "backend 'tflite' (from system property quantbridge.backend) does not read " + CLS
                + " (it reads [tflite])";
        Cli ti = withBackendProperty("tflite", "inspect", model.toString());
        assertEquals(1, ti.code());
        assertEquals("quantbridge inspect: " + wrong, ti.err().strip());
        Cli tb = withBackendProperty("tflite", "bench", "--model", model.toString(), "--size", "192x48",
                "--iterations", "1");
        assertEquals("quantbridge bench: " + wrong, tb.err().strip());
        Path eval = photos("eval", "imageTextN.png");
        Cli te = withBackendProperty("tflite", args(CLS_IMAGES, "eval", "--model", model.toString(), "--candidate",
                model.toString(), "--data", eval.toString(), "--quiet"));
        assertEquals("quantbridge eval: " + wrong, te.err().strip());
        // --backend still wins over the property
        Cli named = withBackendProperty("tflite", "inspect", "--backend", "onnx", model.toString());
        assertEquals(0, named.code(), named.err());
    }
}
