package io.quantbridge.onnx.backend;

import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.SubgraphInfo;
import io.quantbridge.onnx.proto.Onnx;
import io.quantbridge.tensor.TensorInfo;
import java.util.Map;
import java.util.TreeMap;

/** A person-readable description of an ONNX model: I/O, opsets, operators, and how much of it is quantized. */
final class OnnxInspector {
    private OnnxInspector() { }

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
