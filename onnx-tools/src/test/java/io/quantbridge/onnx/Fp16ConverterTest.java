package io.quantbridge.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.onnx.proto.Onnx.NodeProto;
import io.quantbridge.onnx.proto.Onnx.TensorProto;
import java.util.Map;
import org.junit.jupiter.api.Test;

class Fp16ConverterTest {

    private static Fp16Converter.Result convertAndCompare(OnnxModel m, Map<String, Ort.Input> in, double minCosine)
            throws Exception {
        Fp16Converter.Result r = Fp16Converter.convert(m);
        OnnxModel h = r.model();
        // graph inputs and outputs keep float32 and their names
        assertEquals(m.inputs(), h.inputs());
        assertEquals(m.outputs(), h.outputs());
        long fp16 = h.graph().getInitializerList().stream().filter(t -> t.getDataType() == DataTypes.FLOAT16).count();
        long fp32 = h.graph().getInitializerList().stream().filter(t -> t.getDataType() == DataTypes.FLOAT).count();
        assertTrue(fp16 > 5 * fp32, fp16 + " float16 vs " + fp32 + " float32 initializers");
        // the heavy ops compute in float16: their weights are float16
        for (NodeProto n : h.nodes()) {
            if (n.getOpType().equals("Conv")) {
                TensorProto w = h.initializer(n.getInput(1)).orElseThrow();
                assertEquals(DataTypes.FLOAT16, w.getDataType(), n.getName());
            }
        }
        float[] ref = Ort.run(m, in).values().iterator().next();
        float[] got = Ort.run(h, in).values().iterator().next();
        double cos = Ort.cosine(ref, got);
        System.out.println(m.label() + " fp16 cosine " + cos + ", max abs diff " + Ort.maxAbsDiff(ref, got)
                + ", casts " + r.castsInserted() + ", float32 nodes " + r.float32Nodes().size());
        assertTrue(cos > minCosine, "cosine " + cos);
        return r;
    }

    @Test
    void classifierRunsInFloat16() throws Exception {
        convertAndCompare(OnnxModel.load(TestModels.ppocr(TestModels.CLS)), Photos.heldOut(48, 192, Photos.HALF, Photos.HALF), 0.999);
    }

    @Test
    void detectorRunsInFloat16AndKeepsResizeScalesFloat32() throws Exception {
        Fp16Converter.Result r = convertAndCompare(OnnxModel.load(TestModels.ppocr(TestModels.DET)),
                Photos.heldOut(256, 544, Photos.IMAGENET_MEAN, Photos.IMAGENET_STD), 0.999);
        OnnxModel h = r.model();
        for (NodeProto n : h.nodes()) {
            if (n.getOpType().equals("Resize")) {
                for (int k = 1; k <= 2 && k < n.getInputCount(); k++) {
                    if (n.getInput(k).isEmpty()) continue;
                    TensorProto t = h.initializer(n.getInput(k)).orElseThrow();
                    assertEquals(DataTypes.FLOAT, t.getDataType(), "Resize input " + k + " of " + n.getName());
                }
            }
        }
    }

    @Test
    void recognizerRunsInFloat16WithShapeMathInFloat32() throws Exception {
        Fp16Converter.Result r = convertAndCompare(OnnxModel.load(TestModels.ppocr(TestModels.REC)),
                Photos.heldOut(48, 320, Photos.HALF, Photos.HALF), 0.999);
        assertTrue(r.float32Nodes().values().stream().anyMatch(v -> v.contains("shape")), r.float32Nodes().toString());
    }

    /**
     * tf2onnx writes channel padding as Concat(x, ConstantOfShape(shape)) with no {@code value}, which the spec fills
     * with float32 zeros: converted as it was, the Concat mixed float16 and float32 and neither ONNX Runtime nor
     * OpenVINO could load the model.
     */
    @Test
    void blazefaceOnnxPadsChannelsWithFloat16Zeros() throws Exception {
        OnnxModel m = OnnxModel.load(TestModels.blazefaceOnnx());
        OnnxModel h = Fp16Converter.convert(m).model();
        long padded = 0;
        for (NodeProto n : h.nodes()) {
            if (!n.getOpType().equals("ConstantOfShape")) continue;
            padded++;
            TensorProto value = n.getAttributeList().stream().filter(a -> a.getName().equals("value")).findFirst()
                    .orElseThrow().getT();
            assertEquals(DataTypes.FLOAT16, value.getDataType(), n.getName());
        }
        assertEquals(11, padded);
        Ort.Input nchw = Photos.tensor("messi5.jpg", 128, 128, Photos.HALF, Photos.HALF);
        float[] nhwc = new float[nchw.data().length];
        for (int c = 0; c < 3; c++) {
            for (int p = 0; p < 128 * 128; p++) nhwc[p * 3 + c] = nchw.data()[c * 128 * 128 + p];
        }
        Map<String, Ort.Input> in = Map.of("input:0", new Ort.Input(nhwc, new long[] {1, 128, 128, 3}));
        Map<String, float[]> ref = Ort.run(m, in);
        Map<String, float[]> got = Ort.run(h, in);
        assertEquals(4, ref.size());
        for (String o : ref.keySet()) {
            double cos = Ort.cosine(ref.get(o), got.get(o));
            assertTrue(cos > 0.9999, o + " fp16 cosine " + cos);
        }
    }

    /**
     * The mel spectrogram of 16-bit audio: its STFT convs and power spectrum reach 1e9, far beyond float16 (65504).
     * Converted blindly, the output was NaN; with the ranges observed in float32 those nodes stay float32 and the rest
     * (the log-mel scaling after them) computes in float16.
     */
    @Test
    void tensorsObservedBeyondTheFloat16RangeKeepTheirNodesFloat32() throws Exception {
        OnnxModel m = OnnxModel.load(TestModels.melspectrogram()).foldConstants();
        java.util.Random r = new java.util.Random(5);
        float[] audio = new float[16000];
        for (int i = 0; i < audio.length; i++) {
            audio[i] = (float) (12000 * Math.sin(2 * Math.PI * 440 * i / 16000.0) + 3000 * r.nextGaussian());
        }
        Map<String, Ort.Input> in = Map.of("input", new Ort.Input(audio, new long[] {1, audio.length}));
        java.util.List<String> tensors = new java.util.ArrayList<>();
        TensorTypes types = TensorTypes.infer(m.graph());
        for (NodeProto n : m.nodes()) {
            for (String o : n.getOutputList()) if (types.elemType(o) == DataTypes.FLOAT) tensors.add(o);
        }
        Map<String, Double> ranges = new java.util.HashMap<>();
        Ort.maxAbsRanges(m, tensors, java.util.List.of(in)).forEach((t, range) -> ranges.put(t, range.amax()));

        float[] ref = Ort.run(m, in).get("output");
        float[] blind = Ort.run(Fp16Converter.convert(m).model(), in).get("output");
        assertTrue(Float.isNaN(blind[0]) || Ort.cosine(ref, blind) < 0.5, "float16 overflowed before: " + blind[0]);

        Fp16Converter.Result r16 = Fp16Converter.convert(m, Fp16Converter.DEFAULT_KEEP_FLOAT32, java.util.List.of(),
                ranges);
        float[] got = Ort.run(r16.model(), in).get("output");
        double cos = Ort.cosine(ref, got);
        assertTrue(cos > 0.9999, "cosine " + cos);
        long overflowing = ranges.values().stream().filter(v -> v > Fp16Converter.FLOAT16_OBSERVED_LIMIT).count();
        assertTrue(overflowing >= 4, ranges.toString());
        assertTrue(r16.float32Nodes().values().stream().anyMatch(v -> v.contains("on the calibration data")),
                r16.float32Nodes().toString());
        // the log-mel scaling (Log reads the power spectrum, so stays float32; the Mul and Div after it do not)
        long fp16Nodes = r16.model().nodes().size() - r16.float32Nodes().size()
                - r16.model().nodes().stream().filter(n -> n.getOpType().equals("Cast")).count();
        assertTrue(fp16Nodes >= 3, fp16Nodes + " float16 nodes; float32: " + r16.float32Nodes());
    }

    @Test
    void tinyModelCastsAtTheBoundaries() throws Exception {
        OnnxModel m = TinyModels.convModel();
        Fp16Converter.Result r = convertAndCompare(m, Map.of("x", Ort.random(2024, 1, 3, 16, 16)), 0.9999);
        OnnxModel h = r.model();
        // x is cast once to float16; y and logits are produced by casts back to float32
        assertEquals(1, h.nodes().stream().filter(n -> n.getOpType().equals("Cast") && n.getInput(0).equals("x")).count());
        for (String out : new String[] {"y", "logits"}) {
            NodeProto p = h.nodes().stream().filter(n -> n.getOutputList().contains(out)).findFirst().orElseThrow();
            assertEquals("Cast", p.getOpType());
            assertEquals(DataTypes.FLOAT, Attributes.getInt(p, "to", -1));
        }
        // y is also read inside the graph (GlobalAveragePool) in float16, from the renamed producer output
        NodeProto gap = h.nodes().stream().filter(n -> n.getName().equals("gap")).findFirst().orElseThrow();
        assertEquals("y_fp16", gap.getInput(0));
        // the Reshape shape stays int64, untouched
        assertEquals(DataTypes.INT64, h.initializer("flat_shape").orElseThrow().getDataType());
    }

    @Test
    void tensorsReadBySubgraphsStayFloat32() throws Exception {
        OnnxModel m = TinyModels.convWithIf();
        Fp16Converter.Result r = Fp16Converter.convert(m);
        OnnxModel h = r.model();
        // c1 is read inside the If branches: the producer writes c1_fp16 and a Cast restores c1 in float32
        NodeProto conv1 = h.nodes().stream().filter(n -> n.getName().equals("conv1")).findFirst().orElseThrow();
        assertEquals("c1_fp16", conv1.getOutput(0));
        NodeProto conv2 = h.nodes().stream().filter(n -> n.getName().equals("conv2")).findFirst().orElseThrow();
        assertEquals("c1_fp16", conv2.getInput(0));
        assertTrue(r.float32Nodes().containsKey("branch"));
        Map<String, Ort.Input> in = Map.of("x", Ort.random(8, 1, 3, 8, 8));
        Map<String, float[]> ref = Ort.run(m, in);
        Map<String, float[]> got = Ort.run(h, in);
        for (String o : new String[] {"y", "y2"}) {
            assertTrue(Ort.cosine(ref.get(o), got.get(o)) > 0.9999, o + " " + Ort.cosine(ref.get(o), got.get(o)));
        }
    }
}
