package io.quantbridge.onnx;

import static io.quantbridge.onnx.TinyModels.input;
import static io.quantbridge.onnx.TinyModels.node;
import static io.quantbridge.onnx.TinyModels.s;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.onnx.proto.Onnx.AttributeProto;
import io.quantbridge.onnx.proto.Onnx.GraphProto;
import io.quantbridge.onnx.proto.Onnx.NodeProto;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class OpsetConverterTest {

    private static AttributeProto floats(String name, float... v) {
        AttributeProto.Builder b = AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.FLOATS);
        for (float f : v) b.addFloats(f);
        return b.build();
    }

    /** Converts to 13 and checks every output equals the original's on a random input (ORT runs both opsets). */
    private static OpsetConverter.Result convertAndCompare(OnnxModel m, Map<String, Ort.Input> in) throws Exception {
        OpsetConverter.Result r = OpsetConverter.toAtLeast(m, 13);
        assertEquals(13, r.model().opsetVersion());
        assertTrue(r.model().proto().getIrVersion() >= 7);
        Map<String, float[]> before = Ort.run(m, in);
        Map<String, float[]> after = Ort.run(r.model(), in);
        assertEquals(before.keySet(), after.keySet());
        for (String k : before.keySet()) {
            assertTrue(Ort.maxAbsDiff(before.get(k), after.get(k)) <= 1e-6, k + " differs by "
                    + Ort.maxAbsDiff(before.get(k), after.get(k)));
        }
        return r;
    }

    @Test
    void opset11AxesAttributesAndSoftmaxSemantics() throws Exception {
        GraphProto.Builder g = GraphProto.newBuilder().setName("o11").addInput(input("x", 2, 3, 4));
        g.addNode(node("Softmax", "sm1", s("x"), s("sm1"), Attributes.ofInt("axis", 1)));   // coerced 2-D: rewrite
        g.addNode(node("Softmax", "sm2", s("x"), s("sm2"), Attributes.ofInt("axis", 2)));   // last axis: kept
        g.addNode(node("LogSoftmax", "ls", s("x"), s("ls")));                                // default axis 1
        g.addNode(node("ReduceSum", "rs", s("x"), s("rs"), Attributes.ofInts("axes", 2), Attributes.ofInt("keepdims", 0)));
        g.addNode(node("Split", "sp", s("x"), s("sp1", "sp2"), Attributes.ofInt("axis", 1), Attributes.ofInts("split", 1, 2)));
        g.addNode(node("Squeeze", "sq", s("sp1"), s("sq"), Attributes.ofInts("axes", 1)));
        g.addNode(node("Unsqueeze", "usq", s("sq"), s("usq"), Attributes.ofInts("axes", 0, 3)));
        for (String o : List.of("sm1", "sm2", "ls", "rs", "sp2", "usq")) g.addOutput(OnnxModel.valueInfo(o, DataTypes.FLOAT));
        OnnxModel m = TinyModels.model(g.build(), 11);
        OpsetConverter.Result r = convertAndCompare(m, Map.of("x", Ort.random(1, 2, 3, 4)));
        OnnxModel c = r.model();
        assertTrue(c.nodes().stream().noneMatch(n -> Attributes.has(n, "axes") || Attributes.has(n, "split")));
        NodeProto sm2 = c.nodes().stream().filter(n -> n.getName().equals("sm2")).findFirst().orElseThrow();
        assertEquals("x", sm2.getInput(0), "softmax over the last axis needs no rewrite");
        assertEquals(1, c.nodes().stream().filter(n -> n.getOpType().equals("Flatten") && n.getName().startsWith("sm1")).count());
        assertTrue(r.conversions().contains("Squeeze: axes attribute -> input: 1 node"), r.conversions().toString());
        // output names unchanged
        assertEquals(m.outputs(), c.outputs());
    }

    @Test
    void opset10ClipPadResizeDropout() throws Exception {
        GraphProto.Builder g = GraphProto.newBuilder().setName("o10").addInput(input("x", 1, 2, 3, 3));
        g.addInitializer(Tensors.floatTensor("scales", new long[] {4}, new float[] {1, 1, 2, 2}));
        g.addNode(node("Clip", "clip", s("x"), s("clip"), Attributes.ofFloat("min", -0.5f), Attributes.ofFloat("max", 0.25f)));
        g.addNode(node("Pad", "pad", s("x"), s("pad"), Attributes.ofInts("pads", 0, 0, 1, 2, 0, 0, 2, 1),
                Attributes.ofFloat("value", 1.5f)));
        g.addNode(node("Resize", "rz", s("x", "scales"), s("rz"), Attributes.ofString("mode", "nearest")));
        g.addNode(node("Resize", "rzl", s("x", "scales"), s("rzl"), Attributes.ofString("mode", "linear")));
        g.addNode(node("Dropout", "drop", s("x"), s("drop"), Attributes.ofFloat("ratio", 0.3f)));
        for (String o : List.of("clip", "pad", "rz", "rzl", "drop")) g.addOutput(OnnxModel.valueInfo(o, DataTypes.FLOAT));
        convertAndCompare(TinyModels.model(g.build(), 10), Map.of("x", Ort.random(2, 1, 2, 3, 3)));
    }

    /**
     * ONNX Runtime's Resize-10 nearest rounds the source index x / scale down on upsampled axes and up on
     * downsampled ones; the converted model must pick the same pixels (with floor everywhere, scales 0.6 and 0.4 and
     * the mixed 0.75 x 1.7 picked other ones, differing by up to 1.8).
     */
    @Test
    void opset10NearestResizeRoundsAsOnnxRuntimeDoesOnEachAxis() throws Exception {
        float[][] scales = {{1, 1, 0.6f, 0.6f}, {1, 1, 0.4f, 0.5f}, {1, 1, 1.5f, 2.5f}, {1, 1, 0.75f, 1.7f},
            {1, 1, 1.7f, 0.75f}, {1, 1, 0.5f, 1}};
        GraphProto.Builder g = GraphProto.newBuilder().setName("o10").addInput(input("x", 1, 2, 5, 7));
        for (int i = 0; i < scales.length; i++) {
            g.addInitializer(Tensors.floatTensor("scales" + i, new long[] {4}, scales[i]));
            for (String mode : List.of("nearest", "linear")) {
                String y = mode + i;
                g.addNode(node("Resize", y, s("x", "scales" + i), s(y), Attributes.ofString("mode", mode)));
                g.addOutput(OnnxModel.valueInfo(y, DataTypes.FLOAT));
            }
        }
        // scales computed at run time: taken to upsample
        g.addNode(node("Identity", "id", s("scales2"), s("computed")));
        g.addNode(node("Resize", "rc", s("x", "computed"), s("rc")));
        g.addOutput(OnnxModel.valueInfo("rc", DataTypes.FLOAT));
        OpsetConverter.Result r = convertAndCompare(TinyModels.model(g.build(), 10), Map.of("x", Ort.random(3, 1, 2, 5, 7)));
        assertEquals(List.of("Resize-10 -> Resize-13 (asymmetric, ceil): 3 nodes",
                "Resize-10 -> Resize-13 (asymmetric): 6 nodes",
                "Resize-10 -> Resize-13 (asymmetric, floor): 1 node",
                "Resize-10 -> Resize-13 (asymmetric, ceil) on the downsampled axes, then (asymmetric, floor) on the"
                        + " upsampled ones: 2 nodes",
                "Resize-10 -> Resize-13 (asymmetric, floor; scales computed at run time are taken to upsample): 1 node"),
                r.conversions());
        // the mixed ones: two nodes each, the second writing the original output
        assertEquals(15, r.model().nodes().stream().filter(n -> n.getOpType().equals("Resize")).count());
    }

    @Test
    void opset9UpsampleSliceTopK() throws Exception {
        GraphProto.Builder g = GraphProto.newBuilder().setName("o9").addInput(input("x", 1, 2, 3, 4));
        g.addInitializer(Tensors.floatTensor("scales", new long[] {4}, new float[] {1, 1, 2, 3}));
        g.addNode(node("Upsample", "up", s("x", "scales"), s("up")));
        g.addNode(node("Slice", "sl", s("x"), s("sl"), Attributes.ofInts("starts", 1, 0), Attributes.ofInts("ends", 3, -1),
                Attributes.ofInts("axes", 2, 3)));
        g.addNode(node("TopK", "tk", s("x"), s("tk", "tk_idx"), Attributes.ofInt("k", 2)));
        for (String o : List.of("up", "sl", "tk")) g.addOutput(OnnxModel.valueInfo(o, DataTypes.FLOAT));
        convertAndCompare(TinyModels.model(g.build(), 9), Map.of("x", Ort.random(3, 1, 2, 3, 4)));
    }

    @Test
    void opset7UpsampleAttributeAndBatchNormSpatial() throws Exception {
        GraphProto.Builder g = GraphProto.newBuilder().setName("o7").addInput(input("x", 1, 2, 3, 3));
        g.addInitializer(Tensors.floatTensor("sc", new long[] {2}, new float[] {1.5f, 0.5f}));
        g.addInitializer(Tensors.floatTensor("bi", new long[] {2}, new float[] {0.1f, -0.2f}));
        g.addInitializer(Tensors.floatTensor("mu", new long[] {2}, new float[] {0.3f, 0f}));
        g.addInitializer(Tensors.floatTensor("va", new long[] {2}, new float[] {2f, 0.5f}));
        g.addNode(node("Upsample", "up", s("x"), s("up"), floats("scales", 1, 1, 2, 2), Attributes.ofString("mode", "nearest")));
        g.addNode(node("BatchNormalization", "bn", s("x", "sc", "bi", "mu", "va"), s("bn"), Attributes.ofInt("spatial", 1)));
        for (String o : List.of("up", "bn")) g.addOutput(OnnxModel.valueInfo(o, DataTypes.FLOAT));
        OpsetConverter.Result r = convertAndCompare(TinyModels.model(g.build(), 7), Map.of("x", Ort.random(4, 1, 2, 3, 3)));
        assertFalse(r.model().nodes().stream().anyMatch(n -> n.getOpType().equals("Upsample")));
    }

    @Test
    void unconvertibleOpsFailNamingTheOp() {
        GraphProto.Builder g = GraphProto.newBuilder().setName("bad").addInput(input("x", 1, 4))
                .addOutput(OnnxModel.valueInfo("y", DataTypes.FLOAT))
                .addNode(node("FancyNewOp", "fancy", s("x"), s("y")));
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> OpsetConverter.toAtLeast(TinyModels.model(g.build(), 11), 13));
        assertTrue(e.getMessage().contains("FancyNewOp") && e.getMessage().contains("fancy"), e.getMessage());

        GraphProto.Builder g2 = GraphProto.newBuilder().setName("bad2").addInput(input("x", 1, 1, 2, 2))
                .addOutput(OnnxModel.valueInfo("y", DataTypes.FLOAT))
                .addInitializer(Tensors.floatTensor("s", new long[] {4}, new float[] {1, 1, 2, 2}))
                .addInitializer(Tensors.floatTensor("roi", new long[] {0}, new float[0]))
                .addNode(node("Resize", "rz", s("x", "roi", "s"), s("y"),
                        Attributes.ofString("coordinate_transformation_mode", "tf_half_pixel_for_nn")));
        QuantbridgeException e2 = assertThrows(QuantbridgeException.class,
                () -> OpsetConverter.toAtLeast(TinyModels.model(g2.build(), 11), 13));
        assertTrue(e2.getMessage().contains("Resize") && e2.getMessage().contains("tf_half_pixel_for_nn"), e2.getMessage());

        QuantbridgeException e3 = assertThrows(QuantbridgeException.class,
                () -> OpsetConverter.toAtLeast(TinyModels.model(g.build(), 6), 13));
        assertTrue(e3.getMessage().contains("opset 6"), e3.getMessage());
    }

    @Test
    void realRecognizerConvertsWithIdenticalOutput() throws Exception {
        OnnxModel rec = OnnxModel.load(TestModels.ppocr(TestModels.REC)).foldConstants();
        OpsetConverter.Result r = convertAndCompare(rec, Map.of("x", Ort.random(5, 1, 3, 48, 160)));
        assertEquals(12, r.fromVersion());
        assertEquals(List.of("Squeeze: axes attribute -> input: 7 nodes"), r.conversions());
    }

    @Test
    void modelsAtTheTargetAreUnchanged() {
        OnnxModel m = TinyModels.convModel();
        assertTrue(OpsetConverter.toAtLeast(m, 13).model() == m);
    }
}
