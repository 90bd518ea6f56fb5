package io.quantbridge.onnx.backend;

import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.quantbridge.QuantbridgeException;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.QdqOptions;
import io.quantbridge.onnx.SubgraphInfo;
import io.quantbridge.onnx.Tensors;
import io.quantbridge.onnx.proto.Onnx;
import io.quantbridge.onnx.runtime.OrtRuntime;
import io.quantbridge.tensor.TensorInfo;
import io.quantbridge.util.CpuInfo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * A person-readable description of an ONNX model: I/O, opsets, operators, how much of it is quantized, and for a Q/DQ
 * model what ONNX Runtime's CPU provider actually runs in int8 once it has fused the Q/DQ pairs.
 */
final class OnnxInspector {
    /** ONNX Runtime's integer compute kernels (what its QDQ fusion turns Conv/MatMul/Gemm groups into). */
    static final Set<String> INT8_COMPUTE = Set.of("QLinearConv", "QLinearMatMul", "QGemm", "ConvInteger",
            "MatMulInteger", "MatMulIntegerToFloat", "DynamicQuantizeMatMul");
    /** Its float compute kernels for the same layers (after its own fusions, NCHWc layouts included). */
    static final Set<String> FLOAT_COMPUTE = Set.of("Conv", "FusedConv", "ConvTranspose", "MatMul", "FusedMatMul",
            "Gemm", "FusedGemm");

    private OnnxInspector() { }

    /** {@link #describe(OnnxModel)}, plus ONNX Runtime's view of a Q/DQ model read from {@code file}. */
    static String describe(Path file) {
        OnnxModel model = OnnxModel.load(file);
        String text = describe(model);
        boolean qdq = model.nodes().stream().anyMatch(n -> n.getOpType().equals("QuantizeLinear")
                || n.getOpType().equals("DequantizeLinear"));
        return qdq ? text + onnxRuntimeView(file) : text;
    }

    /**
     * The graph ONNX Runtime runs (all optimizations, as written by its session) summarised: how many conv/matmul
     * layers became integer kernels and which stayed float.
     */
    static String onnxRuntimeView(Path file) {
        Path tmp = null;
        try {
            tmp = Files.createTempFile("quantbridge-ort-", ".onnx");
            try (OrtSession.SessionOptions so = new OrtSession.SessionOptions()) {
                so.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
                so.setSessionLogLevel(ai.onnxruntime.OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR); // no layout warning
                so.setIntraOpNumThreads(1);
                so.setOptimizedModelFilePath(tmp.toString());
                OrtRuntime.environment().createSession(file.toString(), so).close();
            }
            Map<String, Integer> int8 = new TreeMap<>();
            Map<String, Integer> fp = new TreeMap<>();
            for (Onnx.NodeProto n : OnnxModel.load(tmp).nodes()) {
                if (INT8_COMPUTE.contains(n.getOpType())) int8.merge(n.getOpType(), 1, Integer::sum);
                if (FLOAT_COMPUTE.contains(n.getOpType())) fp.merge(n.getOpType(), 1, Integer::sum);
            }
            int i = int8.values().stream().mapToInt(Integer::intValue).sum();
            int f = fp.values().stream().mapToInt(Integer::intValue).sum();
            String view = "ONNX Runtime " + OrtRuntime.environment().getVersion() + " (CPU), as optimized: "
                    + "conv/matmul layers in int8: " + i + " of " + (i + f) + (int8.isEmpty() ? "" : " " + int8)
                    + (fp.isEmpty() ? "" : ", float: " + fp) + "\n";
            int largest = i > 0 && CpuInfo.x86WithoutInt8Dot() ? largestWeightCode(OnnxModel.load(file)) : 0;
            if (largest > QdqOptions.REDUCED_RANGE) {
                view += "this CPU has no VNNI: its integer kernels add uint8 x int8 products in pairs into int16, which"
                        + " saturates with this model's weight codes (up to +-" + largest + "); quantize with"
                        + " --reduce-range (codes within +-64) for CPUs like this one\n";
            }
            return view;
        } catch (OrtException | IOException | QuantbridgeException e) {
            return "ONNX Runtime (CPU): cannot optimize " + file + ": " + e.getMessage() + "\n";
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // a temporary file left behind is harmless
                }
            }
        }
    }

    /** The largest |code| of the int8 weights that DequantizeLinear nodes read (0 if none). */
    static int largestWeightCode(OnnxModel model) {
        Map<String, Onnx.TensorProto> inits = model.initializers();
        int largest = 0;
        for (Onnx.NodeProto n : model.nodes()) {
            if (!n.getOpType().equals("DequantizeLinear")) continue;
            Onnx.TensorProto t = inits.get(n.getInput(0));
            if (t == null || t.getDataType() != Onnx.TensorProto.DataType.INT8_VALUE) continue;
            for (float v : Tensors.toFloats(t)) largest = Math.max(largest, (int) Math.abs(v));
        }
        return largest;
    }

    static String describe(OnnxModel model) {
        StringBuilder sb = new StringBuilder();
        Onnx.ModelProto p = model.proto();
        sb.append("ONNX model ").append(model.label()).append('\n');
        sb.append("producer: ").append(p.getProducerName()).append(' ').append(p.getProducerVersion())
                .append(", IR version ").append(p.getIrVersion()).append('\n');
        sb.append("opsets:");
        for (Onnx.OperatorSetIdProto o : p.getOpsetImportList()) {
            sb.append(' ').append(o.getDomain().isEmpty() ? "ai.onnx" : o.getDomain()).append('=')
                    .append(o.getVersion());
        }
        sb.append('\n');
        for (TensorInfo t : model.inputs()) sb.append("input   ").append(t).append('\n');
        for (TensorInfo t : model.outputs()) sb.append("output  ").append(t).append('\n');
        Map<String, Integer> ops = new TreeMap<>();
        for (Onnx.NodeProto n : model.nodes()) ops.merge(n.getOpType(), 1, Integer::sum);
        long weights = 0;
        int int8 = 0;
        for (Onnx.TensorProto t : model.initializers().values()) {
            long c = 1;
            for (long d : t.getDimsList()) c *= d;
            weights += c;
            if (t.getDataType() == Onnx.TensorProto.DataType.INT8_VALUE) int8++;
        }
        sb.append(model.nodes().size()).append(" nodes, ").append(model.initializers().size())
                .append(" initializers (").append(weights).append(" values, ").append(int8).append(" int8)\n");
        sb.append("operators:");
        ops.forEach((k, v) -> sb.append(' ').append(k).append('=').append(v));
        sb.append('\n');
        int q = ops.getOrDefault("QuantizeLinear", 0);
        int dq = ops.getOrDefault("DequantizeLinear", 0);
        sb.append(q + dq == 0 ? "quantization: none (float model)\n"
                : "quantization: explicit Q/DQ (" + q + " QuantizeLinear, " + dq + " DequantizeLinear)\n");
        for (SubgraphInfo s : model.subgraphs()) sb.append("subgraph ").append(s).append('\n');
        return sb.toString();
    }
}
