package io.quantbridge.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.proto.Onnx.GraphProto;
import io.quantbridge.onnx.proto.Onnx.ModelProto;
import io.quantbridge.onnx.proto.Onnx.NodeProto;
import io.quantbridge.util.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * eval on two models that name their inputs and outputs differently: the same network exported to ONNX and to TFLite,
 * and ONNX models whose outputs were renamed.
 */
class CrossFormatEvalTest {
    @TempDir
    Path tmp;

    private static final String CLS_OUT = "save_infer_model/scale_0.tmp_1";

    @Test
    void theOnnxAndTfliteExportsOfTheWakewordEmbeddingAgree() throws Exception {
        Path dir = RealModels.root().resolve(".cache/models/wakeword-embed");
        Path mel = RealModels.root().resolve(".cache/data/wakeword-mel/eval");
        assumeTrue(Files.isDirectory(mel), "mel windows not made: the backend-tflite tests make them");
        Path json = tmp.resolve("eval.json");
        Cli r = Cli.run(List.of("eval", "--model",
                dir.resolve("embedding_model.onnx").toString(), "--candidate",
                dir.resolve("embedding_model.tflite").toString(), "--data", mel.toString(), "--samples", "24",
                "--seed", "1", "--quiet", "--out", json.toString()));
        assertEquals(0, r.code(), r.err());
        // input_1 is fed to serving_default_input_1:0, and conv2d_19 is compared with StatefulPartitionedCall:0
        assertTrue(r.out().startsWith("fidelity conv2d_19 (candidate's StatefulPartitionedCall:0): cosine=1.0000"),
                r.out());
        Map<?, ?> f = (Map<?, ?>) ((Map<?, ?>) Json.parseObject(Files.readString(json)).get("fidelity"))
                .get("conv2d_19");
        assertEquals("StatefulPartitionedCall:0", f.get("candidate_output"));
        assertEquals(24, ((Number) f.get("samples")).intValue());
        // two float32 runtimes (ONNX Runtime, XNNPACK) on the same weights
        assertTrue(((Number) f.get("sqnr_db")).doubleValue() > 90, f.toString());
    }

    /** ppocr-cls with a second output, a copy of the first or the input's channel means, both renamed or not. */
    private Path cls(String name, String probs, String second, boolean means) throws Exception {
        ModelProto p = OnnxModel.load(RealModels.model("ch_ppocr_mobile_v2.0_cls_infer.onnx")).proto();
        GraphProto.Builder g = p.getGraph().toBuilder();
        int last = g.getNodeCount() - 1; // Identity softmax_0.tmp_0 -> save_infer_model/scale_0.tmp_1
        g.setNode(last, g.getNode(last).toBuilder().setOutput(0, probs));
        g.setOutput(0, g.getOutput(0).toBuilder().setName(probs));
        if (means) {
            g.addNode(NodeProto.newBuilder().setOpType("ReduceMean").addInput("x").addOutput(second)
                    .addAttribute(io.quantbridge.onnx.Attributes.ofInts("axes", 2, 3))
                    .addAttribute(io.quantbridge.onnx.Attributes.ofInt("keepdims", 0)));
            g.addOutput(g.getOutput(0).toBuilder().setName(second).setType(g.getOutput(0).getType().toBuilder()
                    .setTensorType(g.getOutput(0).getType().getTensorType().toBuilder().setShape(g.getOutput(0)
                            .getType().getTensorType().getShape().toBuilder().setDim(1, g.getOutput(0).getType()
                                    .getTensorType().getShape().getDim(1).toBuilder().setDimValue(3))))));
        } else {
            g.addNode(NodeProto.newBuilder().setOpType("Identity").addInput(probs).addOutput(second));
            g.addOutput(g.getOutput(0).toBuilder().setName(second));
        }
        Path f = tmp.resolve(name + ".onnx");
        Files.write(f, p.toBuilder().setGraph(g).build().toByteArray());
        return f;
    }

    private static List<String> eval(Path model, Path candidate, String... more) {
        List<String> a = new ArrayList<>(List.of("eval", "--backend", "onnx", "--model", model.toString(),
                "--candidate", candidate.toString(), "--data", RealModels.photos().toString(), "--samples", "3",
                "--size", "192x48", "--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5", "--quiet"));
        a.addAll(List.of(more));
        return a;
    }

    @Test
    void renamedOutputsPairByShapeOrAsGiven() throws Exception {
        Path ref = cls("ref", CLS_OUT, "means", true);
        Path renamed = cls("renamed", "probs", "channel_means", true);
        Cli r = Cli.run(eval(ref, renamed));
        assertEquals(0, r.code(), r.err());
        assertEquals("fidelity " + CLS_OUT + " (candidate's probs): cosine=1.0000 sqnr_db=Infinity max_abs=0.0000"
                + " samples=3\nfidelity means (candidate's channel_means): cosine=1.0000 sqnr_db=Infinity"
                + " max_abs=0.0000 samples=3\n", r.out());

        // two outputs of one shape: which is which is not guessed
        Path copies = cls("copies", CLS_OUT, "copy", false);
        Path renamedCopies = cls("renamed-copies", "probs", "probs_copy", false);
        r = Cli.run(eval(copies, renamedCopies));
        assertEquals(1, r.code(), r.err());
        assertEquals("quantbridge eval: the candidate model has no output '" + CLS_OUT + "' (its outputs: [probs,"
                + " probs_copy]); if it has it under another name, pair them with --output-map " + CLS_OUT
                + "=CANDIDATE_OUTPUT\n", r.err());
        r = Cli.run(eval(copies, renamedCopies, "--output-map", CLS_OUT + "=probs"));
        assertEquals(0, r.code(), r.err()); // the one left pairs with the one left
        assertTrue(r.out().contains("fidelity copy (candidate's probs_copy): cosine=1.0000"), r.out());
        // a map that names no such output, or no pair, is refused
        r = Cli.run(eval(copies, renamedCopies, "--output-map", CLS_OUT + "=prob"));
        assertEquals("quantbridge eval: --output-map " + CLS_OUT + "=prob: the candidate model has no output 'prob'"
                + " (its outputs: [probs, probs_copy])\n", r.err());
        r = Cli.run(eval(copies, renamedCopies, "--output-map", "probs"));
        assertEquals("quantbridge eval: --output-map probs: give REFERENCE_OUTPUT=CANDIDATE_OUTPUT\n", r.err());
    }
}
