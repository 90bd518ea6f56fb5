package io.quantbridge.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.onnx.DataTypes;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.Tensors;
import io.quantbridge.onnx.proto.Onnx.GraphProto;
import io.quantbridge.onnx.proto.Onnx.ModelProto;
import io.quantbridge.onnx.proto.Onnx.NodeProto;
import io.quantbridge.util.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ppocr-cls with a uint8 image input that it normalizes itself (Cast, Sub 127.5, Div 127.5 in front of the published
 * graph), as models exported for raw camera frames take it. quantize feeds it the photos as whole pixel values and
 * measures what the published model measures with the same normalization done in Java.
 */
class IntegerImageInputTest {
    @TempDir
    Path tmp;

    private static Path uint8Input(Path published, Path out) {
        ModelProto p = OnnxModel.load(published).proto();
        GraphProto.Builder g = p.getGraph().toBuilder();
        String x = g.getInput(0).getName();
        for (int i = 0; i < g.getNodeCount(); i++) {
            NodeProto.Builder n = g.getNodeBuilder(i);
            for (int k = 0; k < n.getInputCount(); k++) if (n.getInput(k).equals(x)) n.setInput(k, "x_normalized");
        }
        g.addInitializer(Tensors.floatScalar("half_range", 127.5f));
        List<NodeProto> front = List.of(
                NodeProto.newBuilder().setName("cast_pixels").setOpType("Cast").addInput(x).addOutput("x_float")
                        .addAttribute(io.quantbridge.onnx.Attributes.ofInt("to", DataTypes.FLOAT)).build(),
                NodeProto.newBuilder().setName("center").setOpType("Sub").addInput("x_float").addInput("half_range")
                        .addOutput("x_centered").build(),
                NodeProto.newBuilder().setName("scale").setOpType("Div").addInput("x_centered")
                        .addInput("half_range").addOutput("x_normalized").build());
        for (int i = front.size() - 1; i >= 0; i--) g.addNode(0, front.get(i));
        g.getInputBuilder(0).getTypeBuilder().getTensorTypeBuilder().setElemType(DataTypes.UINT8);
        OnnxModel.of(p.toBuilder().setGraph(g).build()).save(out);
        return out;
    }

    private static List<String> quantize(Path model, Path out, String... pre) {
        return quantize("onnx", model, out, pre);
    }

    private static List<String> quantize(String backend, Path model, Path out, String... pre) {
        Path photos = RealModels.photos();
        List<String> args = new java.util.ArrayList<>(List.of("quantize", "--backend", backend, "--model",
                model.toString(), "--calib", photos.toString(), "--eval", photos.toString(), "--samples", "8",
                "--seed", "3", "--size", "192x48", "--quiet", "--out", out.toString()));
        args.addAll(List.of(pre));
        return args;
    }

    @Test
    @SuppressWarnings("unchecked")
    void photosReachAUint8InputAsWholePixels() throws Exception {
        Path published = RealModels.model("ch_ppocr_mobile_v2.0_cls_infer.onnx");
        Path u8 = uint8Input(published, tmp.resolve("cls-uint8.onnx"));
        assertEquals("x uint8[-1, 3, -1, -1]", OnnxModel.load(u8).inputs().get(0).toString());

        // the default scale (1/255) gives fractions, which a uint8 input does not take
        Cli r = Cli.run(quantize(u8, tmp.resolve("scaled")));
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("input 'x' is uint8, but value ") && r.err().contains(" is not an integer in"
                + " [0, 255]; images reach a uint8 input as whole pixel values with --scale 1 --mean 0 --std 1"),
                r.err());

        r = Cli.run(quantize(u8, tmp.resolve("pixels"), "--scale", "1", "--mean", "0,0,0",
                "--std", "1,1,1"));
        assertEquals(0, r.code(), r.err());
        Cli ref = Cli.run(quantize(published, tmp.resolve("published"),
                "--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5"));
        assertEquals(0, ref.code(), ref.err());
        Map<String, Object> f = (Map<String, Object>) ((Map<String, Object>) Json.parseObject(Files.readString(
                tmp.resolve("pixels/report.json"))).get("fidelity")).get("save_infer_model/scale_0.tmp_1");
        Map<String, Object> g = (Map<String, Object>) ((Map<String, Object>) Json.parseObject(Files.readString(
                tmp.resolve("published/report.json"))).get("fidelity")).get("save_infer_model/scale_0.tmp_1");
        double cosine = ((Number) f.get("cosine")).doubleValue();
        double published0 = ((Number) g.get("cosine")).doubleValue();
        assertEquals(83, ((Number) f.get("samples")).intValue());
        assertTrue(cosine > 0.97, "uint8 input: " + cosine);
        assertEquals(published0, cosine, 0.01, "the published model with the normalization in Java: " + published0);
    }

    /** The same uint8 model through OpenVINO: its sessions feed the uint8 input (they took float32 only). */
    @Test
    @SuppressWarnings("unchecked")
    void openVinoCompilesAndRunsTheUint8Model() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(io.quantbridge.openvino.OpenVinoBackend.findLibrary().isPresent(),
                "OpenVINO not fetched: run scripts/fetch-openvino.sh");
        Path u8 = uint8Input(RealModels.model("ch_ppocr_mobile_v2.0_cls_infer.onnx"), tmp.resolve("cls-uint8.onnx"));
        Cli r = Cli.run(quantize("openvino", u8, tmp.resolve("ov"),
                "--scale", "1", "--mean", "0,0,0", "--std", "1,1,1"));
        assertEquals(0, r.code(), r.err());
        Map<String, Object> report = Json.parseObject(Files.readString(tmp.resolve("ov/report.json")));
        assertEquals("openvino", report.get("backend"));
        Map<String, Object> f = (Map<String, Object>) ((Map<String, Object>) report.get("fidelity"))
                .get("save_infer_model/scale_0.tmp_1");
        double cosine = ((Number) f.get("cosine")).doubleValue();
        assertEquals(83, ((Number) f.get("samples")).intValue());
        assertTrue(cosine > 0.97, "uint8 input in OpenVINO: " + cosine); // 0.9818 on an AVX2 EPYC
        assertTrue(Files.isRegularFile(tmp.resolve("ov/model.int8.blob")));
    }
}
