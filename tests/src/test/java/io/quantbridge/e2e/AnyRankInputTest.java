package io.quantbridge.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.cli.Main;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.proto.Onnx.ModelProto;
import io.quantbridge.util.Json;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ppocr-cls with its input's shape removed from the file (a tensor type without a shape: any rank, which ONNX Runtime
 * reports as [], like a scalar). quantize takes the rank from the calibration data and does exactly what it does for
 * the model as published, whose input is [-1, 3, -1, -1].
 */
class AnyRankInputTest {
    @TempDir
    Path tmp;

    private static String[] run(List<String> args) {
        StringWriter o = new StringWriter();
        StringWriter e = new StringWriter();
        int code = Main.run(args.toArray(String[]::new), new PrintWriter(o), new PrintWriter(e));
        return new String[] {Integer.toString(code), o.toString(), e.toString()};
    }

    private static List<String> quantize(Path model, Path out) {
        Path photos = RealModels.photos();
        return new ArrayList<>(List.of("quantize", "--backend", "onnx", "--model", model.toString(), "--calib",
                photos.toString(), "--eval", photos.toString(), "--samples", "8", "--seed", "3", "--size", "192x48",
                "--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5", "--no-equalize", "--out", out.toString()));
    }

    private Path anyRank(Path published) throws Exception {
        ModelProto p = OnnxModel.load(published).proto();
        ModelProto.Builder b = p.toBuilder();
        b.getGraphBuilder().getInputBuilder(0).getTypeBuilder().getTensorTypeBuilder().clearShape();
        Path anyRank = tmp.resolve("cls-any-rank.onnx");
        Files.write(anyRank, b.build().toByteArray());
        return anyRank;
    }

    @Test
    void quantizeTakesTheRankFromTheDataAndWritesWhatTheRankedModelGives() throws Exception {
        Path published = RealModels.model("ch_ppocr_mobile_v2.0_cls_infer.onnx");
        Path anyRank = anyRank(published);
        assertEquals("x float[any rank]", OnnxModel.load(anyRank).inputs().get(0).toString());

        // without --size, images have no size to take
        List<String> noSize = quantize(anyRank, tmp.resolve("none"));
        noSize.subList(noSize.indexOf("--size"), noSize.indexOf("--size") + 2).clear();
        String[] r = run(noSize);
        assertEquals("1", r[0], r[2]);
        assertEquals("quantbridge quantize: --size: model input 'x' [any rank] has a dynamic height or width; give"
                + " the image size with --size WIDTHxHEIGHT", r[2].strip()); // at once, before any step has run

        r = run(quantize(anyRank, tmp.resolve("any")));
        assertEquals("0", r[0], r[2]);
        assertTrue(r[2].contains("model input 'x' declares no rank: the written models take the calibration data's"
                + " (4), every dimension open"), r[2]);
        String[] ranked = run(quantize(published, tmp.resolve("ranked")));
        assertEquals("0", ranked[0], ranked[2]);

        assertArrayEquals(Files.readAllBytes(tmp.resolve("ranked/calibration.cache")),
                Files.readAllBytes(tmp.resolve("any/calibration.cache")));
        Map<String, Object> report = Json.parseObject(Files.readString(tmp.resolve("any/report.json")));
        assertEquals("{x=4}", String.valueOf(((Map<?, ?>) report.get("model")).get("input_ranks_from_data")));
        Map<String, Object> rankedReport = Json.parseObject(Files.readString(tmp.resolve("ranked/report.json")));
        assertEquals(null, ((Map<?, ?>) rankedReport.get("model")).get("input_ranks_from_data"));
        for (String k : List.of("quantized_nodes", "float_nodes")) assertEquals(rankedReport.get(k), report.get(k), k);
        // measured against the float model as given, with its input of any rank, which ONNX Runtime optimizes a
        // little differently (the last digits of the float outputs): the same numbers
        Map<?, ?> f = (Map<?, ?>) ((Map<?, ?>) report.get("fidelity")).get("save_infer_model/scale_0.tmp_1");
        Map<?, ?> g = (Map<?, ?>) ((Map<?, ?>) rankedReport.get("fidelity")).get("save_infer_model/scale_0.tmp_1");
        for (String k : List.of("cosine", "sqnr_db", "max_abs")) {
            assertEquals(((Number) g.get(k)).doubleValue(), ((Number) f.get(k)).doubleValue(), 1e-5, k);
        }
        assertEquals(83, ((Number) f.get("samples")).intValue());
        assertEquals("x float[-1, -1, -1, -1]",
                OnnxModel.load(tmp.resolve("any/model.int8.onnx")).inputs().get(0).toString());
    }

    /**
     * OpenVINO's ONNX reader cannot convert a Conv on an input of unknown rank: sessions read the model with the rank
     * its graph fixes, and quantize reads, compiles and measures against the model with the calibration data's rank,
     * as the onnx backend writes it.
     */
    @Test
    void openVinoQuantizesTheModelWithTheDataRank() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(io.quantbridge.openvino.OpenVinoBackend.findLibrary().isPresent(),
                "OpenVINO not fetched: run scripts/fetch-openvino.sh");
        Path published = RealModels.model("ch_ppocr_mobile_v2.0_cls_infer.onnx");
        Path anyRank = anyRank(published);
        // eval reads it with the rank its first Conv fixes, and gives what the published model gives
        List<String> eval = List.of("eval", "--backend", "openvino", "--model", published.toString(), "--candidate",
                anyRank.toString(), "--data", RealModels.photos().toString(), "--samples", "4", "--size", "192x48",
                "--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5");
        String[] r = run(eval);
        assertEquals("0", r[0], r[2]);
        assertTrue(r[1].contains("cosine=1.0000 sqnr_db=Infinity max_abs=0.0000 samples=4"), r[1]);

        List<String> args = quantize(anyRank, tmp.resolve("ov"));
        args.set(args.indexOf("onnx"), "openvino");
        r = run(args);
        assertEquals("0", r[0], r[2]);
        Map<String, Object> report = Json.parseObject(Files.readString(tmp.resolve("ov/report.json")));
        assertEquals("openvino", report.get("backend"));
        assertEquals("{x=4}", String.valueOf(((Map<?, ?>) report.get("model")).get("input_ranks_from_data")));
        assertEquals("[1, 3, 48, 192]", String.valueOf(((Map<?, ?>) report.get("openvino")).get("input_shape")));
        Map<?, ?> f = (Map<?, ?>) ((Map<?, ?>) report.get("fidelity")).get("save_infer_model/scale_0.tmp_1");
        assertEquals(83, ((Number) f.get("samples")).intValue());
        // what the published model gives (0.9701 both on an AVX2 EPYC)
        List<String> published0 = quantize(published, tmp.resolve("ov-published"));
        published0.set(published0.indexOf("onnx"), "openvino");
        r = run(published0);
        assertEquals("0", r[0], r[2]);
        Map<?, ?> g = (Map<?, ?>) ((Map<?, ?>) Json.parseObject(Files.readString(tmp.resolve(
                "ov-published/report.json"))).get("fidelity")).get("save_infer_model/scale_0.tmp_1");
        for (String k : List.of("cosine", "sqnr_db", "max_abs")) {
            assertEquals(((Number) g.get(k)).doubleValue(), ((Number) f.get(k)).doubleValue(), 1e-4, k);
        }
    }
}
