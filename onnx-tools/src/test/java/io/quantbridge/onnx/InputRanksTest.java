package io.quantbridge.onnx;

import static io.quantbridge.onnx.TinyModels.node;
import static io.quantbridge.onnx.TinyModels.s;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.quantbridge.onnx.proto.Onnx.GraphProto;
import io.quantbridge.onnx.proto.Onnx.ModelProto;
import io.quantbridge.onnx.proto.Onnx.NodeProto;
import io.quantbridge.onnx.proto.Onnx.TypeProto;
import io.quantbridge.onnx.proto.Onnx.ValueInfoProto;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

class InputRanksTest {
    /** The model with every input's shape removed: any rank. */
    private static OnnxModel anyRank(OnnxModel m) {
        ModelProto.Builder b = m.proto().toBuilder();
        for (int i = 0; i < b.getGraph().getInputCount(); i++) {
            b.getGraphBuilder().getInputBuilder(i).getTypeBuilder().getTensorTypeBuilder().clearShape();
        }
        return m.withProto(b.build());
    }

    private static ValueInfoProto anyRankInput(String name) {
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(
                TypeProto.Tensor.newBuilder().setElemType(DataTypes.FLOAT))).build();
    }

    /** x (any rank) -> the given nodes -> a Conv on weights w [4, 3, 3, 3] -> y. */
    private static OnnxModel intoConv(String convInput, NodeProto... front) {
        GraphProto.Builder g = GraphProto.newBuilder().setName("g").addInput(anyRankInput("x"));
        g.addInitializer(Tensors.floatTensor("w", new long[] {4, 3, 3, 3}, new float[108]));
        g.addInitializer(Tensors.floatTensor("mean", new long[] {1, 3, 1, 1}, new float[] {1, 2, 3}));
        g.addInitializer(Tensors.floatTensor("half", new long[] {}, new float[] {0.5f}));
        g.addInitializer(Tensors.floatTensor("five", new long[] {1, 1, 1, 1, 3}, new float[3]));
        for (NodeProto n : front) g.addNode(n);
        g.addNode(node("Conv", "conv", s(convInput, "w"), s("y")));
        g.addOutput(TinyModels.input("y", 1, 4, -1, -1));
        return TinyModels.model(g.build(), 13);
    }

    @Test
    void thePublishedModelsGetTheRankOfTheirFirstOperator() {
        for (String f : new String[] {TestModels.CLS, TestModels.DET, TestModels.REC}) {
            OnnxModel m = anyRank(OnnxModel.load(TestModels.ppocr(f)));
            assertEquals(Map.of("x", 4), InputRanks.fromGraph(m), f);
        }
        // tf2onnx's NHWC input goes through a Transpose first
        Path blazeface = TestModels.blazefaceOnnx();
        OnnxModel b = OnnxModel.load(blazeface);
        String input = b.inputs().get(0).name();
        assertEquals(Map.of(input, 4), InputRanks.fromGraph(anyRank(b)));
        // an input with a rank is not listed
        assertEquals(Map.of(), InputRanks.fromGraph(OnnxModel.load(TestModels.ppocr(TestModels.CLS))));
    }

    @Test
    void elementWiseNormalizationInFrontKeepsTheRank() {
        OnnxModel m = intoConv("d", node("Cast", "cast", s("x"), s("c"), Attributes.ofInt("to", 1)),
                node("Sub", "sub", s("c", "mean"), s("z")), node("Div", "div", s("z", "half"), s("d")),
                node("Shape", "shape", s("x"), s("sx")));
        assertEquals(Map.of("x", 4), InputRanks.fromGraph(m));
        OnnxModel pooled = intoConv("p", node("MaxPool", "pool", s("x"), s("p"),
                Attributes.ofInts("kernel_shape", 2, 2, 2)));
        assertEquals(Map.of("x", 5), InputRanks.fromGraph(pooled)); // its kernel says 3-d, the Conv after it is not asked
    }

    @Test
    void noRankWhereTheGraphDoesNotFixOneOrPathsDisagree() {
        // a reader that is not followed
        assertEquals(Map.of(), InputRanks.fromGraph(intoConv("x", node("Flatten", "flat", s("x"), s("f")))));
        // Gemm reads a matrix, the Conv rank 4
        assertEquals(Map.of(), InputRanks.fromGraph(intoConv("x", node("Gemm", "gemm", s("x", "w"), s("g")))));
        // broadcast with an operand whose rank is not known here
        assertEquals(Map.of(), InputRanks.fromGraph(intoConv("a", node("Relu", "r", s("x"), s("r")),
                node("Add", "add", s("x", "r"), s("a")))));
        // broadcast with a constant of higher rank than the Conv takes
        assertEquals(Map.of(), InputRanks.fromGraph(intoConv("a", node("Add", "add", s("x", "five"), s("a")))));
        // nothing reads it in a way that fixes a rank
        assertEquals(Map.of(), InputRanks.fromGraph(intoConv("w", node("Shape", "shape", s("x"), s("sx")))));
    }
}
