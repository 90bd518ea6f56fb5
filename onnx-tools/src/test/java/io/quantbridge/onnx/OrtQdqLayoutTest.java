package io.quantbridge.onnx;

import static io.quantbridge.onnx.TinyModels.input;
import static io.quantbridge.onnx.TinyModels.node;
import static io.quantbridge.onnx.TinyModels.s;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.quantbridge.onnx.proto.Onnx.GraphProto;
import io.quantbridge.onnx.proto.Onnx.NodeProto;
import io.quantbridge.onnx.proto.Onnx.TensorProto;
import io.quantbridge.table.TensorRange;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OrtQdqLayoutTest {
    @TempDir
    Path tmp;

    private static long count(OnnxModel m, String op) {
        return m.nodes().stream().filter(n -> n.getOpType().equals(op)).count();
    }

    /** The graph ONNX Runtime actually runs (all optimizations, written out by the session). */
    private OnnxModel optimizedByOnnxRuntime(OnnxModel m, String name) throws Exception {
        Path out = tmp.resolve(name);
        try (OrtSession.SessionOptions so = new OrtSession.SessionOptions()) {
            so.setIntraOpNumThreads(1);
            so.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            so.setOptimizedModelFilePath(out.toString());
            OrtEnvironment.getEnvironment().createSession(m.toBytes(), so).close();
        }
        return OnnxModel.load(out);
    }

    /** Max-abs ranges of the plan's activations and of the outputs of its quantized nodes. */
    private static Map<String, TensorRange> ranges(QdqPlan plan, List<Map<String, Ort.Input>> batches)
            throws Exception {
        Set<String> tensors = new LinkedHashSet<>(plan.activationTensors());
        Set<String> quantized = new java.util.HashSet<>();
        for (NodeDecision d : plan.quantizedNodes()) quantized.add(d.node());
        for (NodeProto n : plan.preparedModel().nodes()) if (quantized.contains(n.getName())) tensors.addAll(n.getOutputList());
        return Ort.maxAbsRanges(plan.preparedModel(), tensors, batches);
    }

    @Test
    void clsRunsEveryConvAsAnIntegerKernelInOnnxRuntime() throws Exception {
        OnnxModel cls = OnnxModel.load(TestModels.ppocr(TestModels.CLS));
        // 7-bit weights, as the onnx backend writes them for ONNX Runtime (--reduce-range)
        QdqPlan plan = QdqQuantizer.plan(cls, QdqOptions.defaults().withFoldIntoConvs(true)
                .withWeightMax(QdqOptions.REDUCED_RANGE));
        assertEquals(Map.of("BatchNormalization", 35), plan.foldedIntoConvs());
        List<Map<String, Ort.Input>> calib = Photos.calibration(48, 192, Photos.HALF, Photos.HALF);
        Map<String, TensorRange> r = ranges(plan, calib);
        QdqResult trt = QdqQuantizer.apply(plan, r);
        OrtQdqLayout.Result ort = OrtQdqLayout.apply(trt.model(), r, plan.sharedScaleGroups());

        long convs = count(plan.preparedModel(), "Conv");
        assertEquals(53, convs);
        assertEquals(1, count(plan.preparedModel(), "MatMul"));
        assertEquals(convs + 1, ort.outputPairs()); // and the classifier's MatMul
        // the 35 convs that had a BatchNormalization have a bias since folding; the others have none
        assertEquals(35, ort.int32Biases());
        assertEquals(trt.report().activationQdqPairs(), ort.uint8Tensors());
        assertEquals(List.of(), ort.notes());
        // MobileNetV3's 18 decomposed hard swishes become HardSwish nodes, which need opset 14
        assertEquals(18, ort.hardSwishes());
        assertEquals(14, ort.model().opsetVersion());
        // every activation zero point is uint8; every conv bias is int32 at input scale x weight scale
        Map<String, TensorProto> inits = ort.model().initializers();
        Map<String, NodeProto> producer = new HashMap<>();
        for (NodeProto n : ort.model().nodes()) for (String o : n.getOutputList()) producer.put(o, n);
        for (NodeProto n : ort.model().nodes()) {
            if (n.getOpType().equals("QuantizeLinear")) {
                assertEquals(DataTypes.UINT8, inits.get(n.getInput(2)).getDataType(), n.getName());
            }
            if (!n.getOpType().equals("Conv")) continue;
            NodeProto xdq = producer.get(n.getInput(0));
            NodeProto wdq = producer.get(n.getInput(1));
            if (n.getInputCount() < 3) continue;
            NodeProto bdq = producer.get(n.getInput(2));
            assertEquals(DataTypes.INT32, inits.get(bdq.getInput(0)).getDataType(), n.getName());
            float sx = Tensors.toFloats(inits.get(xdq.getInput(1)))[0];
            float[] sw = Tensors.toFloats(inits.get(wdq.getInput(1)));
            float[] sb = Tensors.toFloats(inits.get(bdq.getInput(1)));
            for (int c = 0; c < sb.length; c++) assertEquals(sx * sw[c], sb[c], 0f, n.getName() + " channel " + c);
        }

        // what ONNX Runtime makes of each layout: TensorRT's keeps float convs behind DequantizeLinear
        assertEquals(convs, count(optimizedByOnnxRuntime(ort.model(), "ort.onnx"), "QLinearConv"));
        assertTrue(count(optimizedByOnnxRuntime(trt.model(), "trt.onnx"), "QLinearConv") <= 1);

        // and it still computes the classifier: held-out crop, against the float model
        Map<String, Ort.Input> held = Photos.heldOut(48, 192, Photos.HALF, Photos.HALF);
        float[] f = Ort.run(cls, held).values().iterator().next();
        float[] q = Ort.run(ort.model(), held).values().iterator().next();
        assertTrue(Ort.cosine(f, q) > 0.99, "cosine " + Ort.cosine(f, q));
        // ONNX Runtime's integer kernels compute what the Q/DQ model says, on any x86 CPU: with 7-bit weights no
        // pair of uint8 x int8 products saturates int16 (full-range weights on an AVX2 EPYC: 0.954 against 0.9965);
        // integer and float accumulation may still round an output code apart here and there, hence not 1
        float[] asWritten = Ort.runAsWritten(ort.model(), held).values().iterator().next();
        assertTrue(Ort.cosine(asWritten, q) > 0.999, "fused against as written: " + Ort.cosine(asWritten, q));
        int largest = 0;
        for (NodeProto n : ort.model().nodes()) {
            if (!n.getOpType().equals("DequantizeLinear")) continue;
            TensorProto codes = inits.get(n.getInput(0));
            if (codes == null || codes.getDataType() != DataTypes.INT8) continue;
            for (byte b : codes.getRawData().toByteArray()) largest = Math.max(largest, Math.abs(b));
        }
        assertEquals(64, largest);
    }

    /**
     * x -> conv1 -> y -> Add 3 -> Clip [0, 6] -> Mul(y, .) -> Div 6 (a decomposed hard swish) -> h -> conv2 -> out.
     */
    private static OnnxModel convHardSwishConv() {
        Random rnd = new Random(5);
        GraphProto.Builder g = GraphProto.newBuilder().setName("hswish");
        g.addInput(input("x", 1, 4, 8, 8));
        g.addInitializer(Tensors.floatTensor("w1", new long[] {4, 4, 3, 3}, TinyModels.randomWeights(rnd, 144, 0.8f)));
        g.addInitializer(Tensors.floatTensor("b1", new long[] {4}, TinyModels.randomWeights(rnd, 4, 1f)));
        g.addInitializer(Tensors.floatTensor("w2", new long[] {4, 4, 1, 1}, TinyModels.randomWeights(rnd, 16, 0.5f)));
        g.addInitializer(Tensors.floatScalar("three", 3f));
        g.addInitializer(Tensors.floatScalar("zero", 0f));
        g.addInitializer(Tensors.floatScalar("six", 6f));
        g.addNode(node("Conv", "conv1", s("x", "w1", "b1"), s("y"), Attributes.ofInts("pads", 1, 1, 1, 1)));
        g.addNode(node("Add", "add3", s("y", "three"), s("y3")));
        g.addNode(node("Clip", "clip", s("y3", "zero", "six"), s("gate")));
        g.addNode(node("Mul", "mul", s("y", "gate"), s("yg")));
        g.addNode(node("Div", "div", s("yg", "six"), s("h")));
        g.addNode(node("Conv", "conv2", s("h", "w2"), s("out")));
        g.addOutput(input("out", 1, 4, 8, 8));
        return TinyModels.model(g.build(), 13);
    }

    @Test
    void aDecomposedHardSwishBecomesOneNodeAndItsInputRangeStartsJustBelowMinusThree() throws Exception {
        OnnxModel m = convHardSwishConv();
        QdqPlan plan = QdqQuantizer.plan(m, QdqOptions.defaults().withFoldIntoConvs(true)
                .withWeightMax(QdqOptions.REDUCED_RANGE));
        List<Map<String, Ort.Input>> calib = new ArrayList<>();
        for (int i = 0; i < 4; i++) calib.add(Map.of("x", Ort.random(20 + i, 1, 4, 8, 8)));
        Map<String, TensorRange> r = ranges(plan, calib);
        assertTrue(r.get("y").min() < -3.5, "the conv output reaches below the swish's floor: " + r.get("y"));
        OrtQdqLayout.Result ort = OrtQdqLayout.apply(QdqQuantizer.apply(plan, r).model(), r,
                plan.sharedScaleGroups());
        OnnxModel q = ort.model();
        assertEquals(1, ort.hardSwishes());
        assertEquals(1, ort.hardSwishFloors());
        assertEquals(14, q.opsetVersion());
        assertEquals(1, count(q, "HardSwish"));
        assertEquals(0, count(q, "Clip") + count(q, "Div"));
        // conv1's output pair spans [floor, max y], floor two steps below -3: zero point -floor / scale
        NodeProto yq = q.nodes().stream().filter(n -> n.getOpType().equals("QuantizeLinear")
                && n.getInput(0).equals("y")).findFirst().orElseThrow();
        float scale = Tensors.toFloats(q.initializer(yq.getInput(1)).orElseThrow())[0];
        int zp = Byte.toUnsignedInt(q.initializer(yq.getInput(2)).orElseThrow().getRawData().byteAt(0));
        double hi = r.get("y").max();
        double floor = (-3 - 2 * hi / 255) / (1 - 2.0 / 255);
        assertEquals((hi - floor) / 255, scale, 1e-6);
        assertEquals(-3 - 2 * scale, floor, 1e-5);
        assertEquals(Math.round(-floor / scale), zp);
        // conv2 writes the graph output, which keeps its float type: ONNX Runtime fuses conv1 only
        assertEquals(List.of("'conv2' writes a graph output: its output stays float"), ort.notes());
        assertEquals(1, count(optimizedByOnnxRuntime(q, "hs.onnx"), "QLinearConv"));

        Map<String, Ort.Input> held = Map.of("x", Ort.random(99, 1, 4, 8, 8));
        float[] f = Ort.run(m, held).get("out");
        float[] got = Ort.run(q, held).get("out");
        assertTrue(Ort.cosine(f, got) > 0.999, "cosine " + Ort.cosine(f, got));
    }

    @Test
    void withoutAHardSwishToFuseTheOpsetStaysWhereItWas() throws Exception {
        OnnxModel m = TinyModels.convModel();
        QdqPlan plan = QdqQuantizer.plan(m, QdqOptions.defaults().withFoldIntoConvs(true));
        List<Map<String, Ort.Input>> calib = new ArrayList<>();
        for (int i = 0; i < 3; i++) calib.add(Map.of("x", Ort.random(40 + i, 1, 3, 16, 16)));
        Map<String, TensorRange> r = ranges(plan, calib);
        OrtQdqLayout.Result ort = OrtQdqLayout.apply(QdqQuantizer.apply(plan, r).model(), r,
                plan.sharedScaleGroups());
        assertEquals(0, ort.hardSwishes());
        assertEquals(13, ort.model().opsetVersion());
        assertTrue(ort.outputPairs() > 0, ort.toMap().toString());
    }
}
