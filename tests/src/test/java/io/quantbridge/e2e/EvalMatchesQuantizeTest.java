package io.quantbridge.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.util.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code eval} on the model {@code quantize} wrote, with the same held-out photos, reports the numbers quantize
 * reported. A Q/DQ model written for TensorRT (int8 activations) is scored as written in both; before, eval ran it
 * through ONNX Runtime's fused integer kernels and disagreed (ppocr-cls 0.9963 against 0.9961 on a VNNI CPU; on x86
 * without VNNI those kernels saturate with full-range weights, and the gap is far wider). {@code --fused-kernels} asks
 * for ONNX Runtime's kernels.
 */
class EvalMatchesQuantizeTest {
    @TempDir
    Path tmp;

    private Path photos(String name, String... files) throws Exception {
        return RealModels.copyPhotos(tmp.resolve(name), files);
    }

    private static Map<?, ?> only(Object fidelity) {
        return (Map<?, ?>) ((Map<?, ?>) fidelity).values().iterator().next();
    }

    @Test
    void evalReportsWhatQuantizeReportedForTheModelItWrote() throws Exception {
        Path model = RealModels.model("ch_ppocr_mobile_v2.0_cls_infer.onnx");
        Path calib = photos("calib", "imageTextR.png", "notes.png", "box.png", "graf1.png");
        Path eval = photos("eval", "imageTextN.png", "text_defocus.jpg", "building.jpg");
        String[] images = {"--size", "192x48", "--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5", "--quiet"};
        Path out = tmp.resolve("out");
        Cli q = Cli.run(concat(new String[] {"quantize", "--backend", "onnx", "--model", model.toString(), "--calib",
                calib.toString(), "--eval", eval.toString(), "--calibrator", "mse", "--out", out.toString()}, images));
        assertEquals(0, q.code(), q.err());
        Map<?, ?> quantized = only(Json.parseObject(Files.readString(out.resolve("report.json"))).get("fidelity"));
        Path int8 = out.resolve("model.int8.onnx");

        Path json = tmp.resolve("eval.json");
        Cli e = Cli.run(concat(new String[] {"eval", "--backend", "onnx", "--model", model.toString(), "--candidate",
                int8.toString(), "--data", eval.toString(), "--out", json.toString()}, images));
        assertEquals(0, e.code(), e.err());
        assertTrue(e.err().contains("note: model.int8.onnx has int8 activations (the Q/DQ layout written for TensorRT"
                + " and OpenVINO): ONNX Runtime computes its Q/DQ pairs as written, in float, as quantize scores it"
                + " (--fused-kernels: through ONNX Runtime's integer kernels)\n"), e.err());
        Map<String, Object> evaluated = Json.parseObject(Files.readString(json));
        assertEquals("as written", evaluated.get("candidate_qdq"));
        for (String k : new String[] {"cosine", "sqnr_db", "max_abs", "samples"}) {
            assertEquals(quantized.get(k), only(evaluated.get("fidelity")).get(k), k);
        }
        String line = q.out().lines().filter(l -> l.startsWith("fidelity ")).findFirst().orElseThrow();
        assertTrue(e.out().lines().anyMatch(line::equals), q.out() + "\n" + e.out());

        Cli fused = Cli.run(concat(new String[] {"eval", "--backend", "onnx", "--model", model.toString(), "--candidate",
                int8.toString(), "--data", eval.toString(), "--fused-kernels", "--out", json.toString()}, images));
        assertEquals(0, fused.code(), fused.err());
        assertFalse(fused.err().contains("note:"), fused.err());
        assertEquals("onnxruntime kernels", Json.parseObject(Files.readString(json)).get("candidate_qdq"));
        double cosine = ((Number) only(Json.parseObject(Files.readString(json)).get("fidelity")).get("cosine"))
                .doubleValue();
        assertEquals(((Number) quantized.get("cosine")).doubleValue(), cosine, 0.05, "the same model, other kernels");

        // a float candidate, or one another backend runs, has nothing to fuse
        Cli none = Cli.run(concat(new String[] {"eval", "--backend", "onnx", "--model", model.toString(), "--candidate",
                out.resolve("model.fp32.onnx").toString(), "--data", eval.toString(), "--fused-kernels"}, images));
        assertEquals(1, none.code());
        assertEquals("quantbridge eval: --fused-kernels: model.fp32.onnx has no int8 activations, and ONNX Runtime runs"
                + " it through its own kernels already", none.err().strip());
        Cli plain = Cli.run(concat(new String[] {"eval", "--backend", "onnx", "--model", model.toString(), "--candidate",
                out.resolve("model.fp32.onnx").toString(), "--data", eval.toString(), "--out", json.toString()},
                images));
        assertEquals(0, plain.code(), plain.err());
        assertFalse(Json.parseObject(Files.readString(json)).containsKey("candidate_qdq"));
    }

    private static String[] concat(String[] a, String[] b) {
        String[] all = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }
}
