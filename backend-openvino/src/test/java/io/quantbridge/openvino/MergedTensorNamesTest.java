package io.quantbridge.openvino;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.backend.Progress;
import io.quantbridge.onnx.DataTypes;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.Tensors;
import io.quantbridge.onnx.proto.Onnx.GraphProto;
import io.quantbridge.onnx.proto.Onnx.ModelProto;
import io.quantbridge.onnx.proto.Onnx.NodeProto;
import io.quantbridge.onnx.proto.Onnx.OperatorSetIdProto;
import io.quantbridge.request.Precision;
import io.quantbridge.request.QuantizationRequest;
import io.quantbridge.request.QuantizationResult;
import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.tensor.TensorInfo;
import io.quantbridge.util.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * OpenVINO merges a tensor into the one an Identity (or a Cast to its own type) reads, and describes the merged
 * tensor's port by the smallest of its names: a graph input x read by Identity -> a came out as input a, an output z
 * written by Identity from k as output k. The float model then had input a and its quantized model (Identity
 * removed) input x, so quantize --backend openvino failed at its last step ("the model has no input 'a'"), and a
 * caller feeding the ONNX names was refused. Ports are now called by the ONNX graph's names, and an exported model by
 * the names its sidecar records.
 */
class MergedTensorNamesTest {
    @TempDir
    Path tmp;

    private static NodeProto node(String op, String input, String output,
                                  io.quantbridge.onnx.proto.Onnx.AttributeProto... a) {
        NodeProto.Builder b = NodeProto.newBuilder().setOpType(op).setName(output).addInput(input).addOutput(output);
        for (var attr : a) b.addAttribute(attr);
        return b.build();
    }

    private static io.quantbridge.onnx.proto.Onnx.ValueInfoProto input(String name) {
        io.quantbridge.onnx.proto.Onnx.TensorShapeProto.Builder sb =
                io.quantbridge.onnx.proto.Onnx.TensorShapeProto.newBuilder();
        for (long d : new long[] {1, 4, 8, 8}) {
            sb.addDim(io.quantbridge.onnx.proto.Onnx.TensorShapeProto.Dimension.newBuilder().setDimValue(d));
        }
        return io.quantbridge.onnx.proto.Onnx.ValueInfoProto.newBuilder().setName(name).setType(
                io.quantbridge.onnx.proto.Onnx.TypeProto.newBuilder().setTensorType(
                        io.quantbridge.onnx.proto.Onnx.TypeProto.Tensor.newBuilder().setElemType(DataTypes.FLOAT)
                                .setShape(sb))).build();
    }

    private static NodeProto conv(String input, String weights, String output) {
        return NodeProto.newBuilder().setOpType("Conv").setName(output).addInput(input).addInput(weights)
                .addInput(weights + "_b").addOutput(output)
                .addAttribute(io.quantbridge.onnx.Attributes.ofInts("pads", 1, 1, 1, 1)).build();
    }

    /** x -> Identity -> a -> Conv -> y; x2 -> Cast(float) -> c -> Conv -> k -> Identity -> z. */
    private Path model() throws Exception {
        Random r = new Random(3);
        GraphProto.Builder g = GraphProto.newBuilder().setName("merged");
        for (String x : List.of("x", "x2")) g.addInput(input(x));
        for (String w : List.of("w", "w2")) {
            float[] v = new float[4 * 4 * 9];
            for (int i = 0; i < v.length; i++) v[i] = (float) (r.nextGaussian() * 0.3);
            g.addInitializer(Tensors.floatTensor(w, new long[] {4, 4, 3, 3}, v));
            g.addInitializer(Tensors.floatTensor(w + "_b", new long[] {4}, new float[] {0.1f, -0.2f, 0.3f, 0f}));
        }
        g.addNode(node("Identity", "x", "a")).addNode(conv("a", "w", "y"));
        g.addNode(node("Cast", "x2", "c", io.quantbridge.onnx.Attributes.ofInt("to", DataTypes.FLOAT)))
                .addNode(conv("c", "w2", "k")).addNode(node("Identity", "k", "z"));
        g.addOutput(OnnxModel.valueInfo("y", DataTypes.FLOAT)).addOutput(OnnxModel.valueInfo("z", DataTypes.FLOAT));
        Path model = tmp.resolve("merged.onnx");
        Files.write(model, ModelProto.newBuilder().setIrVersion(8).setGraph(g)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(17)).build().toByteArray());
        return model;
    }

    private static List<Map<String, FloatTensor>> samples(int n, long seed) {
        Random r = new Random(seed);
        List<Map<String, FloatTensor>> l = new ArrayList<>();
        for (int s = 0; s < n; s++) {
            Map<String, FloatTensor> feed = new LinkedHashMap<>();
            for (String x : List.of("x", "x2")) {
                float[] v = new float[4 * 8 * 8];
                for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
                feed.put(x, new FloatTensor(new long[] {1, 4, 8, 8}, v));
            }
            l.add(feed);
        }
        return l;
    }

    private static List<String> names(List<TensorInfo> ports) {
        return ports.stream().map(TensorInfo::name).toList();
    }

    @Test
    void portsAreCalledByTheOnnxGraphsNames() throws Exception {
        OpenVinoTesting.runtime();
        Path model = model();
        try (OpenVinoSession s = OpenVinoSession.open(model)) {
            assertEquals(List.of("x", "x2"), names(s.inputs()));
            assertEquals(List.of("y", "z"), names(s.outputs()));
            Map<String, FloatTensor> out = s.run(samples(1, 1).get(0));
            assertEquals(List.of("y", "z"), List.copyOf(out.keySet()));
        }
        try (OpenVinoSession s = OpenVinoSession.compile(Files.readAllBytes(model), "merged.onnx",
                OpenVinoSession.Options.defaults())) {
            assertEquals(List.of("x", "x2"), names(s.inputs()));
            assertEquals(List.of("y", "z"), names(s.outputs()));
        }
    }

    @Test
    void quantizeMeasuresFidelityAndTheExportedModelKeepsTheNames() throws Exception {
        OpenVinoTesting.runtime();
        for (Precision p : List.of(Precision.INT8, Precision.FP16)) {
            Path out = tmp.resolve(p.id());
            QuantizationResult r = new OpenVinoBackend().quantize(QuantizationRequest.builder().model(model())
                    .calibrationSamples(samples(16, 1)).evaluationSamples(samples(4, 2)).precision(p).seed(1)
                    .outputDir(out).build(), Progress.NONE);
            assertEquals(List.of("y", "z"), List.copyOf(r.fidelity().keySet()), p.id());
            for (var f : r.fidelity().values()) {
                assertTrue(f.cosine() > 0.999, p.id() + " " + f.output() + " cosine " + f.cosine());
            }
            Path blob = r.artifact("openvino compiled model").orElseThrow().path();
            Map<String, Object> side = Json.parseObject(Files.readString(BlobSidecar.of(blob)));
            assertEquals(List.of("x", "x2"), side.get("inputs"));
            assertEquals(List.of("y", "z"), side.get("outputs"));
            try (OpenVinoSession s = OpenVinoSession.open(blob)) {
                assertEquals(List.of("x", "x2"), names(s.inputs()));
                assertEquals(List.of("y", "z"), names(s.outputs()));
            }
        }
    }
}
