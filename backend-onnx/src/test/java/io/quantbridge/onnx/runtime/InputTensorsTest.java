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

    private static NodeProto castTo(String in, String out, int type) {
        NodeProto c = cast(in, out);
        return c.toBuilder().setName("cast_to_" + out).setAttribute(0, c.getAttribute(0).toBuilder().setI(type))
                .build();
    }

    /**
     * x (float) cast to every type ONNX Runtime's Java API reads back, and one input of each type it creates cast to
     * float: the values come back as they were, unsigned types unsigned (uint8 200 was read as -56 before).
     */
    @Test
    void everyNumericTypeGoesInAndComesOutWithItsValues() {
        int[] out = {TensorProto.DataType.UINT8_VALUE, TensorProto.DataType.INT8_VALUE,
                TensorProto.DataType.UINT16_VALUE, TensorProto.DataType.INT16_VALUE,
                TensorProto.DataType.UINT32_VALUE, TensorProto.DataType.INT32_VALUE,
                TensorProto.DataType.UINT64_VALUE, TensorProto.DataType.INT64_VALUE,
                TensorProto.DataType.BOOL_VALUE, TensorProto.DataType.FLOAT16_VALUE,
                TensorProto.DataType.BFLOAT16_VALUE, TensorProto.DataType.DOUBLE_VALUE};
        int[] in = {TensorProto.DataType.UINT8_VALUE, TensorProto.DataType.INT8_VALUE,
                TensorProto.DataType.INT16_VALUE, TensorProto.DataType.INT32_VALUE,
                TensorProto.DataType.BFLOAT16_VALUE, TensorProto.DataType.DOUBLE_VALUE};
        GraphProto.Builder g = GraphProto.newBuilder().setName("casts")
                .addInput(value("x", TensorProto.DataType.FLOAT_VALUE, 1, 4));
        for (int t : out) {
            String name = TensorProto.DataType.forNumber(t).name().toLowerCase(java.util.Locale.ROOT);
            g.addNode(castTo("x", "x_" + name, t)).addOutput(value("x_" + name, t, 1, 4));
        }
        for (int t : in) {
            String name = TensorProto.DataType.forNumber(t).name().toLowerCase(java.util.Locale.ROOT);
            g.addInput(value("in_" + name, t, 1, 4)).addNode(cast("in_" + name, "from_" + name))
                    .addOutput(value("from_" + name, TensorProto.DataType.FLOAT_VALUE, 1, 4));
        }
        byte[] m = ModelProto.newBuilder().setIrVersion(8).setGraph(g)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(13)).build().toByteArray();
        try (OrtModelSession s = OrtModelSession.open(m, "casts.onnx", 1)) {
            assertEquals("[x float[1, 4], in_uint8 uint8[1, 4], in_int8 int8[1, 4], in_int16 int16[1, 4], "
                    + "in_int32 int32[1, 4], in_bfloat16 bfloat16[1, 4], in_double double[1, 4]]",
                    s.inputs().toString());
            assertEquals("x_uint16 uint16[1, 4]", s.outputs().get(2).toString());
            Map<String, FloatTensor> feed = new java.util.HashMap<>();
            feed.put("x", new FloatTensor(new long[] {1, 4}, new float[] {0, 1, 100, 127}));
            feed.put("in_uint8", new FloatTensor(new long[] {1, 4}, new float[] {0, 1, 200, 255}));
            feed.put("in_int8", new FloatTensor(new long[] {1, 4}, new float[] {-128, -1, 0, 127}));
            feed.put("in_int16", new FloatTensor(new long[] {1, 4}, new float[] {-32768, -300, 300, 32767}));
            feed.put("in_int32", new FloatTensor(new long[] {1, 4}, new float[] {-1e9f, -1, 1, 16777216}));
            feed.put("in_bfloat16", new FloatTensor(new long[] {1, 4}, new float[] {-2, 0.5f, 1f / 3, 1e30f}));
            feed.put("in_double", new FloatTensor(new long[] {1, 4}, new float[] {-2, 0.5f, 1f / 3, 1e30f}));
            Map<String, FloatTensor> y = s.run(feed);
            for (String t : new String[] {"uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64",
                    "float16", "bfloat16", "double"}) {
                assertArrayEquals(new float[] {0, 1, 100, 127}, y.get("x_" + t).data(), t);
            }
            assertArrayEquals(new float[] {0, 1, 1, 1}, y.get("x_bool").data());
            assertArrayEquals(new float[] {0, 1, 200, 255}, y.get("from_uint8").data());
            assertArrayEquals(new float[] {-128, -1, 0, 127}, y.get("from_int8").data());
            assertArrayEquals(new float[] {-32768, -300, 300, 32767}, y.get("from_int16").data());
            assertArrayEquals(new float[] {-1e9f, -1, 1, 16777216}, y.get("from_int32").data());
            // bfloat16 keeps 8 significant bits: 1/3 -> 0.333984375, 1e30 -> 1.00026e30
            assertArrayEquals(new float[] {-2, 0.5f, 0.333984375f, Float.intBitsToFloat(0x714A_0000)},
                    y.get("from_bfloat16").data());
            assertArrayEquals(new float[] {-2, 0.5f, 1f / 3, 1e30f}, y.get("from_double").data());
            feed.put("in_int16", new FloatTensor(new long[] {1, 4}, new float[] {0, 40000, 0, 0}));
            QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> s.run(feed));
            assertEquals("casts.onnx: input 'in_int16' is int16, but value 40000.0 at flat index 1 is not an integer"
                    + " in [-32768, 32767]", e.getMessage());
        }
    }

    @Test
    void anUnsignedInputWiderThanEightBitsIsRefusedNamingIt() {
        GraphProto g = GraphProto.newBuilder().setName("u16")
                .addInput(value("n", TensorProto.DataType.UINT16_VALUE, 1))
                .addOutput(value("y", TensorProto.DataType.FLOAT_VALUE, 1)).addNode(cast("n", "y")).build();
        byte[] m = ModelProto.newBuilder().setIrVersion(8).setGraph(g)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(13)).build().toByteArray();
        try (OrtModelSession s = OrtModelSession.open(m, "u16.onnx", 1)) {
            QuantbridgeException e = assertThrows(QuantbridgeException.class,
                    () -> s.run(Map.of("n", new FloatTensor(new long[] {1}, new float[] {3}))));
            assertEquals("u16.onnx: input 'n' is uint16; quantbridge feeds float, double, float16, bfloat16, int64,"
                    + " int32, int16, int8, uint8 and bool inputs to ONNX Runtime", e.getMessage());
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
