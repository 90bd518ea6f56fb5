package io.quantbridge.openvino;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.onnx.Attributes;
import io.quantbridge.onnx.DataTypes;
import io.quantbridge.onnx.proto.Onnx.GraphProto;
import io.quantbridge.onnx.proto.Onnx.ModelProto;
import io.quantbridge.onnx.proto.Onnx.NodeProto;
import io.quantbridge.onnx.proto.Onnx.OperatorSetIdProto;
import io.quantbridge.onnx.proto.Onnx.TensorShapeProto;
import io.quantbridge.onnx.proto.Onnx.TypeProto;
import io.quantbridge.onnx.proto.Onnx.ValueInfoProto;
import io.quantbridge.tensor.FloatTensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * OpenVINO sessions feed inputs and read outputs of the integer, bool and other float types (they took float32
 * only): a model whose inputs of each type are cast to float, and whose float input is cast to each type.
 */
class OpenVinoElementTypesTest {
    private static final String[] IN = {"uint8", "int8", "int16", "int32", "int64", "bool", "float16", "double"};
    private static final String[] OUT = {"uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64",
            "bool", "float16", "double"};

    private static int code(String type) {
        for (int c = 1; c <= DataTypes.BFLOAT16; c++) if (DataTypes.name(c).equals(type)) return c;
        throw new IllegalArgumentException(type);
    }

    private static ValueInfoProto row(String name, String type) {
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(
                TypeProto.Tensor.newBuilder().setElemType(code(type)).setShape(TensorShapeProto.newBuilder()
                        .addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(1))
                        .addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(4))))).build();
    }

    private static NodeProto cast(String in, String out, String type) {
        return NodeProto.newBuilder().setOpType("Cast").setName("cast_" + out).addInput(in).addOutput(out)
                .addAttribute(Attributes.ofInt("to", code(type))).build();
    }

    private static Path model(Path dir) throws Exception {
        GraphProto.Builder g = GraphProto.newBuilder().setName("casts").addInput(row("x", "float"));
        for (String t : OUT) g.addNode(cast("x", "x_" + t, t)).addOutput(row("x_" + t, t));
        for (String t : IN) {
            g.addInput(row("in_" + t, t)).addNode(cast("in_" + t, "from_" + t, "float"))
                    .addOutput(row("from_" + t, "float"));
        }
        Path p = dir.resolve("casts.onnx");
        Files.write(p, ModelProto.newBuilder().setIrVersion(8).setGraph(g)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setVersion(13)).build().toByteArray());
        return p;
    }

    private static FloatTensor row(float... v) {
        return new FloatTensor(new long[] {1, 4}, v);
    }

    @Test
    void everyNumericTypeGoesInAndComesOutWithItsValues(@TempDir Path tmp) throws Exception {
        OpenVinoTesting.runtime();
        try (OpenVinoSession s = OpenVinoSession.open(model(tmp))) {
            Map<String, FloatTensor> feed = new HashMap<>();
            feed.put("x", row(0, 1, 100, 127));
            feed.put("in_uint8", row(0, 1, 200, 255));
            feed.put("in_int8", row(-128, -1, 0, 127));
            feed.put("in_int16", row(-32768, -300, 300, 32767));
            feed.put("in_int32", row(-1e9f, -1, 1, 16777216));
            feed.put("in_int64", row(-5, 0, 1L << 40, 7));
            feed.put("in_bool", row(0, 1, 1, 0));
            feed.put("in_float16", row(-0.5f, 1f / 3, 65504, 2)); // 1/3 -> 0.33325195 in float16
            feed.put("in_double", row(-2, 0.5f, 1f / 3, 1e30f));
            Map<String, FloatTensor> y = s.run(feed);
            for (String t : OUT) {
                float[] want = t.equals("bool") ? new float[] {0, 1, 1, 1} : new float[] {0, 1, 100, 127};
                assertArrayEquals(want, y.get("x_" + t).data(), t);
            }
            assertArrayEquals(new float[] {0, 1, 200, 255}, y.get("from_uint8").data());
            assertArrayEquals(new float[] {-128, -1, 0, 127}, y.get("from_int8").data());
            assertArrayEquals(new float[] {-32768, -300, 300, 32767}, y.get("from_int16").data());
            assertArrayEquals(new float[] {-1e9f, -1, 1, 16777216}, y.get("from_int32").data());
            assertArrayEquals(new float[] {0, 1, 1, 0}, y.get("from_bool").data());
            assertArrayEquals(new float[] {-0.5f, 0.33325195f, 65504, 2}, y.get("from_float16").data());
            assertArrayEquals(new float[] {-2, 0.5f, 1f / 3, 1e30f}, y.get("from_double").data());
            assertArrayEquals(new float[] {-5, 0, 1L << 40, 7}, y.get("from_int64").data());

            feed.put("in_uint8", row(0, 1, 2.5f, 3));
            QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> s.run(feed));
            assertEquals("openvino: casts.onnx: input 'in_uint8' is uint8, but value 2.5 at flat index 2 is not an"
                    + " integer in [0, 255]; images reach a uint8 input as whole pixel values with --scale 1 --mean 0"
                    + " --std 1", e.getMessage());
        }
    }
}
