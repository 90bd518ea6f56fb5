package io.quantbridge.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.onnx.proto.Onnx.AttributeProto;
import io.quantbridge.onnx.proto.Onnx.GraphProto;
import io.quantbridge.onnx.proto.Onnx.ModelProto;
import io.quantbridge.onnx.proto.Onnx.NodeProto;
import io.quantbridge.onnx.proto.Onnx.OperatorSetIdProto;
import io.quantbridge.onnx.proto.Onnx.StringStringEntryProto;
import io.quantbridge.onnx.proto.Onnx.TensorProto;
import io.quantbridge.tensor.Float16;
import io.quantbridge.tensor.TensorInfo;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OnnxModelTest {
    @TempDir
    Path tmp;

    @Test
    void realModelRoundTripIsByteIdentical() throws Exception {
        Path cls = TestModels.ppocr(TestModels.CLS);
        byte[] original = Files.readAllBytes(cls);
        OnnxModel m = OnnxModel.load(cls);
        assertEquals(11, m.opsetVersion());
        Path out = tmp.resolve("cls.onnx");
        m.save(out);
        byte[] written = Files.readAllBytes(out);
        assertArrayEquals(original, written, "load/save must not change a single byte");
        // and no temporary file is left beside it
        try (var s = Files.list(tmp)) {
            assertEquals(List.of(out), s.toList());
        }
    }

    @Test
    void unknownFieldsSurviveRoundTrip() {
        ModelProto p = TinyModels.reluModel().proto();
        // field 99 on the model and on the graph: not in our onnx.proto
        ModelProto withUnknown = p.toBuilder().setUnknownFields(com.google.protobuf.UnknownFieldSet.newBuilder()
                .addField(99, com.google.protobuf.UnknownFieldSet.Field.newBuilder().addVarint(42).build()).build())
                .build();
        OnnxModel back = OnnxModel.fromBytes(withUnknown.toByteArray(), "test");
        assertEquals(42L, back.proto().getUnknownFields().getField(99).getVarintList().get(0));
        assertArrayEquals(withUnknown.toByteArray(), back.toBytes());
    }

    @Test
    void inputsAndOutputsUseMinusOneForSymbolicDims() {
        OnnxModel m = OnnxModel.load(TestModels.ppocr(TestModels.DET));
        List<TensorInfo> in = m.inputs();
        assertEquals(1, in.size());
        assertEquals("x", in.get(0).name());
        assertEquals("float", in.get(0).elementType());
        assertArrayEquals(new long[] {-1, 3, -1, -1}, in.get(0).shape());
        assertEquals(1, m.outputs().size());
        assertEquals("float", m.outputs().get(0).elementType());
    }

    @Test
    void missingGarbageAndTruncatedFilesNameTheFile() throws Exception {
        Path missing = tmp.resolve("nope.onnx");
        QuantbridgeException e1 = assertThrows(QuantbridgeException.class, () -> OnnxModel.load(missing));
        assertTrue(e1.getMessage().contains(missing.toString()), e1.getMessage());
        assertTrue(e1.getMessage().contains("not found"), e1.getMessage());

        Path text = tmp.resolve("text.onnx");
        Files.writeString(text, "this is not a model at all, just some text\n");
        QuantbridgeException e2 = assertThrows(QuantbridgeException.class, () -> OnnxModel.load(text));
        assertTrue(e2.getMessage().contains(text.toString()), e2.getMessage());

        Path empty = tmp.resolve("empty.onnx");
        Files.write(empty, new byte[0]);
        QuantbridgeException e3 = assertThrows(QuantbridgeException.class, () -> OnnxModel.load(empty));
        assertTrue(e3.getMessage().contains(empty.toString()), e3.getMessage());

        // the first 8 bytes of a .tflite flatbuffer: root offset, then the file identifier
        Path tflite = tmp.resolve("model.tflite");
        Files.write(tflite, new byte[] {0x1c, 0, 0, 0, 'T', 'F', 'L', '3', 0, 0, 0, 0});
        QuantbridgeException e5 = assertThrows(QuantbridgeException.class, () -> OnnxModel.load(tflite));
        assertEquals(tflite + " is a TFLite model (file identifier TFL3), not ONNX: use the tflite backend"
                + " (--backend tflite)", e5.getMessage());

        byte[] full = TinyModels.convModel().toBytes();
        for (int cut : new int[] {full.length / 3, full.length / 2, full.length - 3}) {
            Path trunc = tmp.resolve("trunc" + cut + ".onnx");
            Files.write(trunc, Arrays.copyOf(full, cut));
            QuantbridgeException e4 = assertThrows(QuantbridgeException.class, () -> OnnxModel.load(trunc));
            assertTrue(e4.getMessage().contains(trunc.toString()), e4.getMessage());
        }
    }

    @Test
    void externalDataIsReadRelativeToTheModelFolder() throws Exception {
        float[] w = {1.5f, -2f, 3.25f, 0f};
        ByteBuffer b = ByteBuffer.allocate(8 + 16).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(0x1234L);                     // 8 bytes of something else first: offset 8
        for (float f : w) b.putFloat(f);
        Files.createDirectories(tmp.resolve("m/data"));
        Files.write(tmp.resolve("m/data/weights.bin"), b.array());
        TensorProto ext = TensorProto.newBuilder().setName("w").setDataType(DataTypes.FLOAT).addDims(4)
                .setDataLocation(TensorProto.DataLocation.EXTERNAL)
                .addExternalData(StringStringEntryProto.newBuilder().setKey("location").setValue("data/weights.bin"))
                .addExternalData(StringStringEntryProto.newBuilder().setKey("offset").setValue("8"))
                .addExternalData(StringStringEntryProto.newBuilder().setKey("length").setValue("16")).build();
        GraphProto g = GraphProto.newBuilder().setName("g").addInitializer(ext)
                .addInput(OnnxModel.valueInfo("x", DataTypes.FLOAT))
                .addOutput(OnnxModel.valueInfo("y", DataTypes.FLOAT))
                .addNode(NodeProto.newBuilder().setOpType("Add").setName("add").addInput("x").addInput("w").addOutput("y"))
                .build();
        ModelProto mp = ModelProto.newBuilder().setIrVersion(8).setGraph(g)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setVersion(13)).build();
        Path model = tmp.resolve("m/model.onnx");
        Files.write(model, mp.toByteArray());

        OnnxModel m = OnnxModel.load(model);
        TensorProto loaded = m.initializer("w").orElseThrow();
        assertFalse(loaded.getDataLocation() == TensorProto.DataLocation.EXTERNAL);
        assertArrayEquals(w, Tensors.toFloats(loaded));
        // and the loaded model runs on its own
        Map<String, float[]> out = Ort.run(m, Map.of("x", new Ort.Input(new float[] {1, 1, 1, 1}, new long[] {4})));
        assertArrayEquals(new float[] {2.5f, -1f, 4.25f, 1f}, out.get("y"));

        for (String[] bad : new String[][] {{"offset", "-8"}, {"length", "16 bytes"}}) {
            TensorProto t = ext.toBuilder().setExternalData(bad[0].equals("offset") ? 1 : 2,
                    StringStringEntryProto.newBuilder().setKey(bad[0]).setValue(bad[1])).build();
            Path p = tmp.resolve("m/bad-" + bad[0] + ".onnx");
            Files.write(p, mp.toBuilder().setGraph(g.toBuilder().setInitializer(0, t)).build().toByteArray());
            QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> OnnxModel.load(p));
            assertEquals(p + ": external data of tensor w has " + bad[0] + " '" + bad[1] + "', not a count"
                    + " of bytes", e.getMessage());
        }
        TensorProto outside = ext.toBuilder().setExternalData(0, StringStringEntryProto.newBuilder().setKey("location")
                .setValue("../../etc/passwd")).build();
        Path escaping = tmp.resolve("m/escaping.onnx");
        Files.write(escaping, mp.toBuilder().setGraph(g.toBuilder().setInitializer(0, outside)).build().toByteArray());
        QuantbridgeException esc = assertThrows(QuantbridgeException.class, () -> OnnxModel.load(escaping));
        assertTrue(esc.getMessage().endsWith(": external data file ../../etc/passwd of tensor w lies outside the"
                + " model's folder " + tmp.resolve("m")), esc.getMessage());

        Files.delete(tmp.resolve("m/data/weights.bin"));
        QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> OnnxModel.load(model));
        assertTrue(e.getMessage().contains("weights.bin") && e.getMessage().contains("not found"), e.getMessage());
    }

    @Test
    void foldConstantsOnRealDetectorKeepsOutputsBitIdentical() throws Exception {
        OnnxModel det = OnnxModel.load(TestModels.ppocr(TestModels.DET));
        long constants = det.nodes().stream().filter(n -> n.getOpType().equals("Constant")).count();
        assertTrue(constants > 300, "the detector stores its weights in Constant nodes: " + constants);
        OnnxModel folded = det.foldConstants();
        assertEquals(0, folded.nodes().stream().filter(n -> n.getOpType().equals("Constant")).count());
        assertEquals(det.nodes().size() - constants, folded.nodes().size());
        assertEquals(det.graph().getInitializerCount() + constants, folded.graph().getInitializerCount());
        // names are stable: every Constant output is now an initializer of the same name
        det.nodes().stream().filter(n -> n.getOpType().equals("Constant"))
                .forEach(n -> assertTrue(folded.initializer(n.getOutput(0)).isPresent(), n.getOutput(0)));

        Map<String, Ort.Input> in = Map.of("x", Ort.random(7, 1, 3, 64, 96));
        float[] before = Ort.run(det, in).values().iterator().next();
        float[] after = Ort.run(folded, in).values().iterator().next();
        assertEquals(0.0, Ort.maxAbsDiff(before, after));
    }

    @Test
    void foldsEveryConstantAttributeKind() {
        GraphProto.Builder g = GraphProto.newBuilder().setName("g");
        g.addNode(NodeProto.newBuilder().setOpType("Constant").setName("c1").addOutput("f")
                .addAttribute(Attributes.ofFloat("value_float", 2.5f)));
        g.addNode(NodeProto.newBuilder().setOpType("Constant").setName("c2").addOutput("fs")
                .addAttribute(AttributeProto.newBuilder().setName("value_floats")
                        .setType(AttributeProto.AttributeType.FLOATS).addFloats(1).addFloats(2)));
        g.addNode(NodeProto.newBuilder().setOpType("Constant").setName("c3").addOutput("i")
                .addAttribute(Attributes.ofInt("value_int", 7)));
        g.addNode(NodeProto.newBuilder().setOpType("Constant").setName("c4").addOutput("is")
                .addAttribute(Attributes.ofInts("value_ints", 3, 4, 5)));
        g.addNode(NodeProto.newBuilder().setOpType("Constant").setName("c5").addOutput("t")
                .addAttribute(Attributes.ofTensor("value", Tensors.floatTensor("", new long[] {2}, new float[] {9, 8}))));
        OnnxModel m = OnnxModel.of(ModelProto.newBuilder().setIrVersion(8).setGraph(g)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setVersion(13)).build()).foldConstants();
        assertEquals(0, m.nodes().size());
        assertArrayEquals(new float[] {2.5f}, Tensors.toFloats(m.initializer("f").orElseThrow()));
        assertEquals(0, m.initializer("f").orElseThrow().getDimsCount());
        assertArrayEquals(new float[] {1, 2}, Tensors.toFloats(m.initializer("fs").orElseThrow()));
        assertArrayEquals(new long[] {7}, Tensors.toLongs(m.initializer("i").orElseThrow()));
        assertArrayEquals(new long[] {3, 4, 5}, Tensors.toLongs(m.initializer("is").orElseThrow()));
        assertArrayEquals(new float[] {9, 8}, Tensors.toFloats(m.initializer("t").orElseThrow()));
    }

    @Test
    void subgraphsAreListedAndTheirOuterReferencesKnown() {
        OnnxModel m = TinyModels.ifModel();
        List<SubgraphInfo> sg = m.subgraphs();
        assertEquals(1, sg.size());
        assertEquals("If", sg.get(0).opType());
        assertEquals("the_if", sg.get(0).nodeName());
        assertEquals(List.of("then_branch", "else_branch"), sg.get(0).attributes());
        assertEquals(2, sg.get(0).nodeCount());
        assertTrue(m.tensorsUsedBySubgraphs().contains("x"));
    }

    @Test
    void float16ConversionRoundsToNearestEven() {
        assertEquals((short) 0x3c00, Float16.fromFloat(1f));
        assertEquals((short) 0x7bff, Float16.fromFloat(65504f));
        assertEquals((short) 0x7c00, Float16.fromFloat(65520f));          // rounds up to infinity
        assertEquals((short) 0x7bff, Float16.fromFloat(65519f));
        assertEquals((short) 0x0001, Float16.fromFloat(0x1p-24f));        // smallest subnormal
        assertEquals((short) 0x0000, Float16.fromFloat(0x1p-25f));        // tie to even: 0
        assertEquals((short) 0x0002, Float16.fromFloat(0x1.8p-24f));      // tie between 1 and 2 units: even (2)
        assertEquals((short) 0x3c00, Float16.fromFloat(1f + 0x1p-11f));  // tie between 1 and next: even (1)
        assertEquals((short) 0x3c02, Float16.fromFloat(1f + 3 * 0x1p-11f)); // tie: even (0x3c02)
        assertEquals((short) 0xc000, Float16.fromFloat(-2f));
        assertTrue(Float.isNaN(Float16.toFloat(Float16.fromFloat(Float.NaN))));
        for (int h = 0; h < 0x10000; h++) {
            float f = Float16.toFloat((short) h);
            if (Float.isNaN(f)) continue;
            assertEquals((short) h, Float16.fromFloat(f), "half " + Integer.toHexString(h));
        }
    }

    @Test
    void prunedToKeepsOnlyTheNodesAndInitializersAnOutputNeedsAndComputesTheSameValues() throws Exception {
        OnnxModel m = TinyModels.convModel();
        OnnxModel p = m.prunedTo(List.of("c3"));
        assertEquals(List.of("conv1", "relu1", "pool1", "conv3"), p.nodes().stream().map(NodeProto::getName).toList());
        assertEquals(java.util.Set.of("w1", "b1", "w3"), p.initializers().keySet());
        assertEquals(List.of("c3"), p.outputs().stream().map(TensorInfo::name).toList());
        assertEquals(List.of("x"), p.inputs().stream().map(TensorInfo::name).toList());
        Map<String, Ort.Input> in = Map.of("x", Ort.random(5, 1, 3, 16, 16));
        float[] full = Ort.run(m.withOutputs(List.of("c3")), in).get("c3");
        assertArrayEquals(full, Ort.run(p, in).get("c3"));
        // an output that was one keeps its declaration
        assertEquals(m.outputs().get(0), m.prunedTo(List.of("y")).outputs().get(0));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> m.prunedTo(List.of("nope")));
        assertEquals("no node of tiny computes tensor 'nope'", e.getMessage());
    }
}
