package io.quantbridge.onnx;

import static io.quantbridge.onnx.TinyModels.input;
import static io.quantbridge.onnx.TinyModels.node;
import static io.quantbridge.onnx.TinyModels.s;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.onnx.proto.Onnx.GraphProto;
import io.quantbridge.onnx.proto.Onnx.NodeProto;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

class ConvFoldingTest {
    private static long count(OnnxModel m, String op) {
        return m.nodes().stream().filter(n -> n.getOpType().equals(op)).count();
    }

    private static Set<String> tensors(OnnxModel m) {
        return m.nodes().stream().flatMap(n -> n.getOutputList().stream()).collect(Collectors.toSet());
    }

    @Test
    void clsFoldsEveryBatchNormIntoItsConvAndComputesTheSame() throws Exception {
        OnnxModel cls = OnnxModel.load(TestModels.ppocr(TestModels.CLS)).foldConstants();
        assertEquals(35, count(cls, "BatchNormalization"));
        ConvFolding.Result r = ConvFolding.apply(cls);
        assertEquals(35, r.batchNorms());
        assertEquals(0, r.biasAdds());
        assertEquals(0, count(r.model(), "BatchNormalization"));
        assertEquals(count(cls, "Conv"), count(r.model(), "Conv"));
        assertEquals(cls.nodes().size() - 35, r.model().nodes().size());
        // every tensor that remains keeps its name: only the 35 conv outputs that fed a BatchNormalization go
        Set<String> before = tensors(cls);
        Set<String> after = tensors(r.model());
        assertTrue(before.containsAll(after));
        assertEquals(35, before.size() - after.size());
        // the parameters of the folded nodes are gone, nothing else is
        assertEquals(cls.graph().getInitializerCount() - 4 * 35 + bnConvsWithoutBias(cls),
                r.model().graph().getInitializerCount());

        Map<String, Ort.Input> in = Map.of("x", Photos.tensor("imageTextR.png", 48, 192, Photos.HALF, Photos.HALF));
        float[] a = Ort.run(cls, in).values().iterator().next();
        float[] b = Ort.run(r.model(), in).values().iterator().next();
        assertTrue(Ort.maxAbsDiff(a, b) < 1e-5, "max |diff| " + Ort.maxAbsDiff(a, b));
    }

    /** Convs feeding a BatchNormalization that had no bias: folding gives each one a bias initializer. */
    private static int bnConvsWithoutBias(OnnxModel m) {
        Map<String, NodeProto> producer = new java.util.HashMap<>();
        for (NodeProto n : m.nodes()) for (String o : n.getOutputList()) producer.put(o, n);
        int c = 0;
        for (NodeProto n : m.nodes()) {
            if (!n.getOpType().equals("BatchNormalization")) continue;
            NodeProto p = producer.get(n.getInput(0));
            if (p.getInputCount() < 3 || p.getInput(2).isEmpty()) c++;
        }
        return c;
    }

    @Test
    void detFoldsBatchNormsAffineBlocksAndTheTransposedConvsBiasAdds() throws Exception {
        OnnxModel det = OnnxModel.load(TestModels.ppocr(TestModels.DET)).foldConstants();
        ConvFolding.Result r = ConvFolding.apply(det);
        // p2o.Conv.0 -> BN, p2o.Conv.61 -> BN, ConvTranspose.0 -> Add(bias [1,24,1,1]) -> BN, the last
        // ConvTranspose's bias Add before the Sigmoid, and 28 learnable affine blocks (Mul, Add by scalars)
        assertEquals(3, r.batchNorms());
        assertEquals(28, r.scaleMuls());
        assertEquals(2 + 28, r.biasAdds());
        assertEquals(0, count(r.model(), "BatchNormalization"));
        Map<String, Ort.Input> in = Map.of("x", Photos.tensor("imageTextR.png", 160, 224, Photos.IMAGENET_MEAN,
                Photos.IMAGENET_STD));
        float[] a = Ort.run(det, in).values().iterator().next();
        float[] b = Ort.run(r.model(), in).values().iterator().next();
        // float rounding differs through sixty layers: probabilities agree to 1e-4
        assertTrue(Ort.maxAbsDiff(a, b) < 1e-4, "max |diff| " + Ort.maxAbsDiff(a, b));
    }

    @Test
    void leavesAConvWhoseOutputIsAlsoReadElsewhereOrAGraphOutput() {
        Random rnd = new Random(3);
        GraphProto.Builder g = GraphProto.newBuilder().setName("g");
        g.addInput(input("x", 1, 2, 4, 4));
        g.addInitializer(Tensors.floatTensor("w", new long[] {2, 2, 1, 1}, TinyModels.randomWeights(rnd, 4, 1)));
        for (String p : new String[] {"gamma", "beta", "mean", "var"}) {
            g.addInitializer(Tensors.floatTensor(p, new long[] {2}, new float[] {0.5f, 2f}));
        }
        g.addNode(node("Conv", "conv", s("x", "w"), s("y")));
        g.addNode(node("BatchNormalization", "bn", s("y", "gamma", "beta", "mean", "var"), s("z")));
        g.addNode(node("Relu", "relu", s("y"), s("r")));  // a second reader of the conv's output
        g.addOutput(input("z", 1, 2, 4, 4));
        g.addOutput(input("r", 1, 2, 4, 4));
        OnnxModel m = TinyModels.model(g.build(), 13);
        ConvFolding.Result r = ConvFolding.apply(m);
        assertEquals(0, r.folded());
        assertSame(m, r.model());

        // with the Relu gone but the conv output a graph output, it still stays
        GraphProto.Builder g2 = g.clone().removeNode(2).removeOutput(1).addOutput(input("y", 1, 2, 4, 4));
        OnnxModel m2 = TinyModels.model(g2.build(), 13);
        assertEquals(0, ConvFolding.apply(m2).folded());

        // alone, it folds; the shared weight case keeps the original for other readers
        GraphProto.Builder g3 = g.clone().removeNode(2).removeOutput(1);
        g3.addNode(node("Conv", "conv2", s("x", "w"), s("y2")));
        g3.addOutput(input("y2", 1, 2, 4, 4));
        OnnxModel m3 = TinyModels.model(g3.build(), 13);
        ConvFolding.Result r3 = ConvFolding.apply(m3);
        assertEquals(1, r3.batchNorms());
        NodeProto conv = r3.model().nodes().get(0);
        assertEquals("z", conv.getOutput(0));
        assertEquals("w_folded", conv.getInput(1));
        assertEquals("w", r3.model().nodes().get(1).getInput(1));
    }
}
