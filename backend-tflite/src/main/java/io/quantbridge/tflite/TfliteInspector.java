package io.quantbridge.tflite;

import io.quantbridge.tensor.TensorInfo;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import org.tensorflow.lite.schema.OperatorT;
import org.tensorflow.lite.schema.QuantizationParametersT;
import org.tensorflow.lite.schema.SubGraphT;
import org.tensorflow.lite.schema.TensorT;
import org.tensorflow.lite.schema.TensorType;

/** A person-readable description of a TFLite model: I/O, operators with their tensor types, an Edge TPU report. */
final class TfliteInspector {
    private TfliteInspector() { }

    static String describe(TfliteModel m) {
        StringBuilder sb = new StringBuilder();
        sb.append("TFLite model ").append(m.label()).append('\n');
        sb.append("schema version ").append(m.raw().getVersion()).append(", ").append(m.raw().getSubgraphs().length)
                .append(" subgraph(s), ").append(m.main().getTensors().length).append(" tensors, ")
                .append(m.buffers().length).append(" buffers");
        if (m.raw().getDescription() != null && !m.raw().getDescription().isEmpty()) {
            sb.append(", description '").append(m.raw().getDescription()).append('\'');
        }
        sb.append('\n');
        for (TensorInfo t : m.inputs()) sb.append("input   ").append(t).append(quant(m, t.name(), true)).append('\n');
        for (TensorInfo t : m.outputs()) sb.append("output  ").append(t).append(quant(m, t.name(), false)).append('\n');
        Map<String, Integer> counts = new TreeMap<>();
        Map<String, Integer> types = new TreeMap<>();
        List<OperatorT> ops = m.operators();
        sb.append(ops.size()).append(" operators:\n");
        for (int i = 0; i < ops.size(); i++) {
            OperatorT op = ops.get(i);
            String name = m.opName(op);
            counts.merge(name, 1, Integer::sum);
            sb.append(String.format(Locale.ROOT, "%4d %-26s v%-2d ", i, name, m.opCode(op).getVersion()));
            sb.append(tensors(m, op.getInputs())).append(" -> ").append(tensors(m, op.getOutputs())).append('\n');
        }
        int weights = 0;
        for (int t = 0; t < m.main().getTensors().length; t++) {
            TensorT tt = m.tensor(t);
            String key = (m.isConstant(t) ? "constant " : "activation ")
                    + TfliteModel.typeName(tt.getType()).toLowerCase(Locale.ROOT);
            types.merge(key, 1, Integer::sum);
            if (m.isConstant(t)) weights++;
        }
        sb.append("operator counts:");
        counts.forEach((k, v) -> sb.append(' ').append(k).append('=').append(v));
        sb.append('\n');
        sb.append("tensors (").append(weights).append(" constant):");
        types.forEach((k, v) -> sb.append(' ').append(k).append('=').append(v));
        sb.append('\n');
        sb.append("quantization: ").append(summary(m)).append('\n');
        sb.append(subgraphs(m));
        sb.append(EdgeTpu.analyze(m).describe());
        return sb.toString();
    }

    /**
     * One line for each subgraph beyond the main one (the condition and body of a WHILE, the branches of an IF): who
     * runs it, its operators by type and its constants by type.
     */
    private static String subgraphs(TfliteModel m) {
        SubGraphT[] all = m.raw().getSubgraphs();
        StringBuilder sb = new StringBuilder();
        for (int k = 1; k < all.length; k++) {
            SubGraphT g = all[k];
            sb.append("subgraph ").append(k);
            if (g.getName() != null && !g.getName().isEmpty()) sb.append(" '").append(g.getName()).append('\'');
            for (int sg = 0; sg < all.length; sg++) {
                OperatorT[] ops = all[sg].getOperators();
                for (int i = 0; i < ops.length; i++) {
                    if (TfliteModel.calledSubgraphs(ops[i]).contains(k)) {
                        sb.append(", run by ").append(sg == 0 ? "" : "subgraph " + sg + " ").append('#').append(i)
                                .append(' ').append(m.opName(ops[i]));
                    }
                }
            }
            Map<String, Integer> counts = new TreeMap<>();
            for (OperatorT op : g.getOperators()) counts.merge(m.opName(op), 1, Integer::sum);
            Map<String, Integer> constants = new TreeMap<>();
            for (int t = 0; t < g.getTensors().length; t++) {
                if (!m.isConstant(g, t)) continue;
                constants.merge(TfliteModel.typeName(TfliteModel.tensor(g, t).getType()).toLowerCase(Locale.ROOT), 1,
                        Integer::sum);
            }
            sb.append(": ").append(g.getOperators().length).append(" operators");
            counts.forEach((op, n) -> sb.append(' ').append(op).append('=').append(n));
            sb.append("; constants");
            if (constants.isEmpty()) sb.append(" none");
            constants.forEach((type, n) -> sb.append(' ').append(type).append('=').append(n));
            sb.append('\n');
        }
        return sb.toString();
    }

    private static String summary(TfliteModel m) {
        boolean int8Act = false;
        boolean floatAct = false;
        boolean fp16 = false;
        boolean int8Weights = false;
        for (int t = 0; t < m.main().getTensors().length; t++) {
            TensorT tt = m.tensor(t);
            boolean c = m.isConstant(t);
            if (tt.getType() == TensorType.FLOAT16 && c) fp16 = true;
            if (tt.getType() == TensorType.INT8 && c) int8Weights = true;
            if (!c && tt.getType() == TensorType.INT8) int8Act = true;
            if (!c && tt.getType() == TensorType.FLOAT32) floatAct = true;
        }
        if (int8Act && !floatAct) return "full integer (int8 activations and weights, int8 I/O)";
        if (int8Act) return "integer with float parts (int8 activations; some float tensors, e.g. float I/O or float ops)";
        if (int8Weights) return "dynamic range (int8 weights, float activations)";
        if (fp16) return "float16 weights (dequantized to float32 at load)";
        return "none (float32 model)";
    }

    private static String quant(TfliteModel m, String name, boolean input) {
        int[] idx = input ? m.main().getInputs() : m.main().getOutputs();
        for (int i : idx) {
            TensorT t = m.tensor(i);
            if (t.getName().equals(name)) {
                QuantParams p = QuantParams.of(t.getQuantization());
                if (p != null && t.getType() != TensorType.FLOAT32) {
                    return String.format(Locale.ROOT, " (scale %.6g, zero point %d)", p.scale(), p.zeroPoint());
                }
            }
        }
        return "";
    }

    private static String tensors(TfliteModel m, int[] idx) {
        StringBuilder sb = new StringBuilder("[");
        for (int k = 0; k < idx.length; k++) {
            if (k > 0) sb.append(", ");
            int i = idx[k];
            if (i < 0) {
                sb.append("-");
                continue;
            }
            TensorT t = m.tensor(i);
            sb.append(TfliteModel.typeName(t.getType()).toLowerCase(Locale.ROOT));
            sb.append(Arrays.toString(t.getShape()).replace(" ", ""));
            if (m.isConstant(i)) sb.append('c');
            QuantizationParametersT q = t.getQuantization();
            if (q != null && q.getScale() != null && q.getScale().length > 1) {
                sb.append("/ch").append(q.getQuantizedDimension());
            }
        }
        return sb.append(']').toString();
    }
}
