package io.quantbridge.onnx.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.onnx.proto.Onnx.GraphProto;
import io.quantbridge.onnx.proto.Onnx.ModelProto;
import io.quantbridge.onnx.proto.Onnx.NodeProto;
import io.quantbridge.onnx.proto.Onnx.OperatorSetIdProto;
import io.quantbridge.onnx.proto.Onnx.TensorProto;
import io.quantbridge.onnx.proto.Onnx.TensorShapeProto;
import io.quantbridge.onnx.proto.Onnx.TypeProto;
import io.quantbridge.onnx.proto.Onnx.ValueInfoProto;
import io.quantbridge.tensor.FloatTensor;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Inputs that are not float32 (a sample rate, token ids, a mask), fed through ONNX Runtime from float values. */
class InputTensorsTest {
    private static ValueInfoProto value(String name, int type, long... shape) {
        TensorShapeProto.Builder s = TensorShapeProto.newBuilder();
        for (long d : shape) s.addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(d));
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(
                TypeProto.Tensor.newBuilder().setElemType(type).setShape(s))).build();
    }

    private static NodeProto cast(String in, String out) {
        return NodeProto.newBuilder().setOpType("Cast").setName("cast_" + in).addInput(in).addOutput(out)
                .addAttribute(io.quantbridge.onnx.proto.Onnx.AttributeProto.newBuilder().setName("to")
                        .setType(io.quantbridge.onnx.proto.Onnx.AttributeProto.AttributeType.INT)
                        .setI(TensorProto.DataType.FLOAT_VALUE))
                .build();
    }

    private static NodeProto binary(String op, String a, String b, String out) {
        return NodeProto.newBuilder().setOpType(op).setName(op + "_" + out).addInput(a).addInput(b).addOutput(out)
                .build();
    }

    /** y = x * float(n) + float(mask) + float(half): an int64, a bool and a float16 input beside a float one. */
    private static byte[] model() {
        GraphProto g = GraphProto.newBuilder().setName("mixed")
                .addInput(value("x", TensorProto.DataType.FLOAT_VALUE, 1, 3))
                .addInput(value("n", TensorProto.DataType.INT64_VALUE, 1))
                .addInput(value("mask", TensorProto.DataType.BOOL_VALUE, 1, 3))
                .addInput(value("half", TensorProto.DataType.FLOAT16_VALUE, 1, 3))
                .addOutput(value("y", TensorProto.DataType.FLOAT_VALUE, 1, 3))
                .addNode(cast("n", "nf")).addNode(cast("mask", "mf")).addNode(cast("half", "hf"))
                .addNode(binary("Mul", "x", "nf", "xn")).addNode(binary("Add", "xn", "mf", "xm"))
                .addNode(binary("Add", "xm", "hf", "y"))
                .build();
        return ModelProto.newBuilder().setIrVersion(8).setGraph(g)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(13)).build().toByteArray();
    }

    private static Map<String, FloatTensor> feed(float n, float... mask) {
        return Map.of("x", new FloatTensor(new long[] {1, 3}, new float[] {1, 2, 3}),
                "n", new FloatTensor(new long[] {1}, new float[] {n}),
                "mask", new FloatTensor(new long[] {1, 3}, mask),
                "half", new FloatTensor(new long[] {1, 3}, new float[] {0.5f, 0.25f, 1000f}));
    }

    @Test
    void integerBoolAndHalfInputsAreFedAsTheirTypes() {
        try (OrtModelSession s = OrtModelSession.open(model(), "mixed.onnx", 1)) {
            FloatTensor y = s.run(feed(16000, 1, 0, 1)).get("y");
            assertArrayEquals(new float[] {16001.5f, 32000.25f, 49001f}, y.data());
        }
    }

    @Test
    void valuesTheTypeCannotHoldAreRefusedNamingTheInput() {
        try (OrtModelSession s = OrtModelSession.open(model(), "mixed.onnx", 1)) {
            QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> s.run(feed(2.5f, 1, 0, 1)));
            assertEquals("mixed.onnx: input 'n' is int64, but value 2.5 at flat index 0 is not an integer in"
                    + " [-9223372036854775808, 9223372036854775807]", e.getMessage());
            e = assertThrows(QuantbridgeException.class, () -> s.run(feed(1, 1, 2, 1)));
            assertEquals("mixed.onnx: input 'mask' is bool, but value 2.0 at flat index 1 is not 0 or 1",
                    e.getMessage());
        }
    }

    @Test
    void aFixedBatchSaysWhatASampleIs() {
        GraphProto g = GraphProto.newBuilder().setName("batch4")
                .addInput(value("x", TensorProto.DataType.FLOAT_VALUE, 4, 3))
                .addOutput(value("y", TensorProto.DataType.FLOAT_VALUE, 4, 3))
                .addNode(NodeProto.newBuilder().setOpType("Relu").setName("relu").addInput("x").addOutput("y")).build();
        byte[] m = ModelProto.newBuilder().setIrVersion(8).setGraph(g)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(13)).build().toByteArray();
        try (OrtModelSession s = OrtModelSession.open(m, "batch4.onnx", 1)) {
            QuantbridgeException e = assertThrows(QuantbridgeException.class,
                    () -> s.run(Map.of("x", new FloatTensor(new long[] {1, 3}, new float[3]))));
            assertEquals("batch4.onnx: input 'x' expects shape [4, 3] (-1 = any) but got [1, 3]; the model's batch is"
                    + " fixed at 4 and a sample is one image or .npy of batch 1: export the model with a dynamic (or 1)"
                    + " batch, or give .npy samples of batch 4", e.getMessage());
        }
    }
    @Test
    void aShapeThatFailsInsideTheGraphIsNamedBesideRuntimesMessage() {
        // x [1, W] with W free, plus a constant [1, 4]: any W but 4 (and 1) fails in the Add, deep in a real model
        TensorShapeProto.Builder free = TensorShapeProto.newBuilder()
                .addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(1))
                .addDim(TensorShapeProto.Dimension.newBuilder().setDimParam("W"));
        ValueInfoProto x = ValueInfoProto.newBuilder().setName("x").setType(TypeProto.newBuilder().setTensorType(
                TypeProto.Tensor.newBuilder().setElemType(TensorProto.DataType.FLOAT_VALUE).setShape(free))).build();
        TensorProto b = TensorProto.newBuilder().setName("b").setDataType(TensorProto.DataType.FLOAT_VALUE)
                .addDims(1).addDims(4).addFloatData(1).addFloatData(2).addFloatData(3).addFloatData(4).build();
        GraphProto g = GraphProto.newBuilder().setName("neck").addInput(x).addInitializer(b)
                .addOutput(ValueInfoProto.newBuilder().setName("y").setType(TypeProto.newBuilder().setTensorType(
                        TypeProto.Tensor.newBuilder().setElemType(TensorProto.DataType.FLOAT_VALUE))))
                .addNode(binary("Add", "x", "b", "y")).build();
        byte[] m = ModelProto.newBuilder().setIrVersion(8).setGraph(g)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(13)).build().toByteArray();
        try (OrtModelSession s = OrtModelSession.open(m, "neck.onnx", 1)) {
            assertArrayEquals(new float[] {1, 2, 3, 4},
                    s.run(Map.of("x", new FloatTensor(new long[] {1, 4}, new float[4]))).get("y").data());
            QuantbridgeException e = assertThrows(QuantbridgeException.class,
                    () -> s.run(Map.of("x", new FloatTensor(new long[] {1, 3}, new float[3]))));
            assertTrue(e.getMessage().startsWith("neck.onnx: ONNX Runtime failed on input x [1, 3]: "), e.getMessage());
            assertTrue(e.getMessage().contains("Add_y"), e.getMessage()); // and runtime's own message, naming the node
        }
    }
}
