package io.quantbridge.onnx.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.Progress;
import io.quantbridge.data.NpyFile;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.data.SampleRef;
import io.quantbridge.data.SampleSource;
import io.quantbridge.eval.FidelityEvaluation;
import io.quantbridge.onnx.DataTypes;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.proto.Onnx.AttributeProto;
import io.quantbridge.onnx.proto.Onnx.GraphProto;
import io.quantbridge.onnx.proto.Onnx.ModelProto;
import io.quantbridge.onnx.proto.Onnx.NodeProto;
import io.quantbridge.onnx.proto.Onnx.OperatorSetIdProto;
import io.quantbridge.onnx.proto.Onnx.TensorProto;
import io.quantbridge.onnx.proto.Onnx.TensorShapeProto;
import io.quantbridge.onnx.proto.Onnx.TypeProto;
import io.quantbridge.onnx.proto.Onnx.ValueInfoProto;
import io.quantbridge.tensor.FloatTensor;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** eval compares outputs element by element, so two models must lay each output out alike (ONNX Runtime, real runs). */
class EvalLayoutTest {

    /** x [2, 3] -> Relu -> (then, if given, {@code last}) -> y. */
    private static OrtModelSession model(NodeProto last, TensorProto initializer) {
        GraphProto.Builder g = GraphProto.newBuilder().setName("g")
                .addInput(ValueInfoProto.newBuilder().setName("x").setType(TypeProto.newBuilder().setTensorType(
                        TypeProto.Tensor.newBuilder().setElemType(DataTypes.FLOAT).setShape(TensorShapeProto.newBuilder()
                                .addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(2))
                                .addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(3))))))
                .addOutput(OnnxModel.valueInfo("y", DataTypes.FLOAT))
                .addNode(NodeProto.newBuilder().setOpType("Relu").setName("relu").addInput("x")
                        .addOutput(last == null ? "y" : "r"));
        if (last != null) g.addNode(last);
        if (initializer != null) g.addInitializer(initializer);
        ModelProto m = ModelProto.newBuilder().setIrVersion(8).setGraph(g)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setVersion(13)).build();
        return OrtModelSession.open(m.toByteArray(), "model", 1);
    }

    private static Map<String, Map<String, Object>> eval(OrtModelSession ref, OrtModelSession cand, Path dir) {
        List<SampleRef> samples = SampleSource.discover(dir, SampleSource.EVALUATION).samples();
        return FidelityEvaluation.run(ref, cand, samples, Preprocessing.defaults(), FidelityEvaluation.Metrics.BASIC,
                1, Progress.NONE);
    }

    @Test
    void aBatchOfOneIsTheSameLayoutButATransposeIsRefused(@TempDir Path tmp) {
        NpyFile.write(tmp.resolve("a.npy"), new FloatTensor(new long[] {2, 3}, new float[] {1, -2, 3, -4, 5, 6}));
        TensorProto shape = TensorProto.newBuilder().setName("shape").setDataType(DataTypes.INT64).addDims(3)
                .addInt64Data(1).addInt64Data(2).addInt64Data(3).build();
        NodeProto reshape = NodeProto.newBuilder().setOpType("Reshape").setName("batch").addInput("r")
                .addInput("shape").addOutput("y").build();
        NodeProto transpose = NodeProto.newBuilder().setOpType("Transpose").setName("t").addInput("r").addOutput("y")
                .addAttribute(AttributeProto.newBuilder().setName("perm").setType(AttributeProto.AttributeType.INTS)
                        .addInts(1).addInts(0)).build();
        try (OrtModelSession ref = model(null, null);
             OrtModelSession batched = model(reshape, shape);
             OrtModelSession transposed = model(transpose, null)) {
            assertEquals(1.0, (double) eval(ref, batched, tmp).get("y").get("cosine"), 1e-12);

            QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> eval(ref, transposed, tmp));
            assertEquals("output 'y' has shape [2, 3] in the reference but [3, 2] in the candidate (as many values,"
                    + " laid out differently: compared element by element they would not match up), on a.npy",
                    e.getMessage());
        }
    }
}
