package io.quantbridge.onnx;

import io.quantbridge.onnx.proto.Onnx.AttributeProto;
import io.quantbridge.onnx.proto.Onnx.GraphProto;
import io.quantbridge.onnx.proto.Onnx.ModelProto;
import io.quantbridge.onnx.proto.Onnx.NodeProto;
import io.quantbridge.onnx.proto.Onnx.OperatorSetIdProto;
import io.quantbridge.onnx.proto.Onnx.TensorShapeProto;
import io.quantbridge.onnx.proto.Onnx.TypeProto;
import io.quantbridge.onnx.proto.Onnx.ValueInfoProto;
import java.util.Random;

/** Small models built through the proto classes, for tests. */
final class TinyModels {
    private TinyModels() { }

    static ValueInfoProto input(String name, long... shape) {
        TensorShapeProto.Builder s = TensorShapeProto.newBuilder();
        for (long d : shape) {
            s.addDim(d < 0 ? TensorShapeProto.Dimension.newBuilder().setDimParam("N")
                    : TensorShapeProto.Dimension.newBuilder().setDimValue(d));
        }
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(
                TypeProto.Tensor.newBuilder().setElemType(DataTypes.FLOAT).setShape(s))).build();
    }

    static NodeProto node(String op, String name, String[] in, String[] out, AttributeProto... attrs) {
        NodeProto.Builder b = NodeProto.newBuilder().setOpType(op).setName(name);
        for (String i : in) b.addInput(i);
        for (String o : out) b.addOutput(o);
        for (AttributeProto a : attrs) b.addAttribute(a);
        return b.build();
    }

    static String[] s(String... x) {
        return x;
    }

    static float[] randomWeights(Random r, int n, float scale) {
        float[] f = new float[n];
        for (int i = 0; i < n; i++) f[i] = (float) (r.nextGaussian() * scale);
        return f;
    }

    static OnnxModel model(GraphProto g, long opset) {
        return OnnxModel.of(ModelProto.newBuilder().setIrVersion(7).setProducerName("quantbridge-test").setGraph(g)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(opset)).build(), "tiny");
    }

    static OnnxModel reluModel() {
        GraphProto g = GraphProto.newBuilder().setName("relu").addInput(input("x", 1, 4))
                .addOutput(input("y", 1, 4)).addNode(node("Relu", "relu", s("x"), s("y"))).build();
        return model(g, 13);
    }

    /**
     * x[1,3,16,16] -> conv1 -> relu1 -> pool1 (MaxPool 2x2) -> p1
     * p1 -> conv2 -> c2;  add1 = c2 + p1 (residual, skip p1)
     * p1 -> conv3 (1x1) -> c3;  cat = Concat(add1, c3) -> conv4 (1x1) -> y (output 1)
     * y -> gap (GlobalAveragePool) -> flat (Reshape [1,6]) -> fc (MatMul [6,5]) -> logits (output 2)
     */
    static OnnxModel convModel() {
        Random r = new Random(3);
        GraphProto.Builder g = GraphProto.newBuilder().setName("tiny_convnet");
        g.addInput(input("x", 1, 3, 16, 16));
        g.addInitializer(Tensors.floatTensor("w1", new long[] {8, 3, 3, 3}, randomWeights(r, 8 * 27, 0.3f)));
        g.addInitializer(Tensors.floatTensor("b1", new long[] {8}, randomWeights(r, 8, 0.1f)));
        g.addInitializer(Tensors.floatTensor("w2", new long[] {8, 8, 3, 3}, randomWeights(r, 8 * 72, 0.15f)));
        g.addInitializer(Tensors.floatTensor("w3", new long[] {4, 8, 1, 1}, randomWeights(r, 32, 0.3f)));
        g.addInitializer(Tensors.floatTensor("w4", new long[] {6, 12, 1, 1}, randomWeights(r, 72, 0.3f)));
        g.addInitializer(Tensors.floatTensor("w5", new long[] {6, 5}, randomWeights(r, 30, 0.5f)));
        g.addInitializer(Tensors.int64Vector("flat_shape", 1, 6));
        AttributeProto pads1 = Attributes.ofInts("pads", 1, 1, 1, 1);
        g.addNode(node("Conv", "conv1", s("x", "w1", "b1"), s("c1"), pads1, Attributes.ofInts("kernel_shape", 3, 3)));
        g.addNode(node("Relu", "relu1", s("c1"), s("r1")));
        g.addNode(node("MaxPool", "pool1", s("r1"), s("p1"), Attributes.ofInts("kernel_shape", 2, 2),
                Attributes.ofInts("strides", 2, 2)));
        g.addNode(node("Conv", "conv2", s("p1", "w2"), s("c2"), pads1));
        g.addNode(node("Add", "add1", s("c2", "p1"), s("add1")));
        g.addNode(node("Conv", "conv3", s("p1", "w3"), s("c3")));
        g.addNode(node("Concat", "cat", s("add1", "c3"), s("cat"), Attributes.ofInt("axis", 1)));
        g.addNode(node("Conv", "conv4", s("cat", "w4"), s("y")));
        g.addNode(node("GlobalAveragePool", "gap", s("y"), s("g")));
        g.addNode(node("Reshape", "flatten", s("g", "flat_shape"), s("flat")));
        g.addNode(node("MatMul", "fc", s("flat", "w5"), s("logits")));
        g.addOutput(input("y", 1, 6, 8, 8));
        g.addOutput(input("logits", 1, 5));
        return model(g.build(), 13);
    }

    /** An If whose branches read the outer tensor x. */
    static OnnxModel ifModel() {
        GraphProto thenG = GraphProto.newBuilder().setName("then").addOutput(input("t_out", 4))
                .addNode(node("Relu", "t_relu", s("x"), s("t_out"))).build();
        GraphProto elseG = GraphProto.newBuilder().setName("else").addOutput(input("e_out", 4))
                .addNode(node("Neg", "e_neg", s("x"), s("e_out"))).build();
        GraphProto g = GraphProto.newBuilder().setName("ifg").addInput(input("x", 4))
                .addInput(ValueInfoProto.newBuilder().setName("c").setType(TypeProto.newBuilder().setTensorType(
                        TypeProto.Tensor.newBuilder().setElemType(DataTypes.BOOL))))
                .addOutput(input("y", 4))
                .addNode(node("If", "the_if", s("c"), s("y"),
                        AttributeProto.newBuilder().setName("then_branch").setType(AttributeProto.AttributeType.GRAPH)
                                .setG(thenG).build(),
                        AttributeProto.newBuilder().setName("else_branch").setType(AttributeProto.AttributeType.GRAPH)
                                .setG(elseG).build()))
                .build();
        return model(g, 13);
    }

    /**
     * Opset 11: x[1,3,8,8] -> conv1 -> c1; conv2(c1) -> y2; If(mean(x) > -100) then Squeeze(Relu(c1), axes=[0])
     * else Squeeze(c1, axes=[0]) -> y. The branches read c1 from the outer graph and use the opset-11 Squeeze form.
     */
    static OnnxModel convWithIf() {
        Random r = new Random(5);
        GraphProto thenG = GraphProto.newBuilder().setName("then").addOutput(OnnxModel.valueInfo("t_out", DataTypes.FLOAT))
                .addNode(node("Relu", "t_relu", s("c1"), s("t_r")))
                .addNode(node("Squeeze", "t_sq", s("t_r"), s("t_out"), Attributes.ofInts("axes", 0))).build();
        GraphProto elseG = GraphProto.newBuilder().setName("else").addOutput(OnnxModel.valueInfo("e_out", DataTypes.FLOAT))
                .addNode(node("Squeeze", "e_sq", s("c1"), s("e_out"), Attributes.ofInts("axes", 0))).build();
        GraphProto.Builder g = GraphProto.newBuilder().setName("conv_if").addInput(input("x", 1, 3, 8, 8));
        g.addInitializer(Tensors.floatTensor("w1", new long[] {4, 3, 3, 3}, randomWeights(r, 108, 0.3f)));
        g.addInitializer(Tensors.floatTensor("w2", new long[] {2, 4, 1, 1}, randomWeights(r, 8, 0.5f)));
        g.addInitializer(Tensors.floatScalar("limit", -100f));
        g.addNode(node("Conv", "conv1", s("x", "w1"), s("c1"), Attributes.ofInts("pads", 1, 1, 1, 1)));
        g.addNode(node("Conv", "conv2", s("c1", "w2"), s("y2")));
        g.addNode(node("ReduceMean", "mean", s("x"), s("m"), Attributes.ofInt("keepdims", 0)));
        g.addNode(node("Greater", "gt", s("m", "limit"), s("cond")));
        g.addNode(node("If", "branch", s("cond"), s("y"),
                AttributeProto.newBuilder().setName("then_branch").setType(AttributeProto.AttributeType.GRAPH)
                        .setG(thenG).build(),
                AttributeProto.newBuilder().setName("else_branch").setType(AttributeProto.AttributeType.GRAPH)
                        .setG(elseG).build()));
        g.addOutput(OnnxModel.valueInfo("y", DataTypes.FLOAT));
        g.addOutput(OnnxModel.valueInfo("y2", DataTypes.FLOAT));
        return model(g.build(), 11);
    }
}
