package io.quantbridge.onnx;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.onnx.proto.Onnx.AttributeProto;
import io.quantbridge.onnx.proto.Onnx.GraphProto;
import io.quantbridge.onnx.proto.Onnx.NodeProto;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Checks that every node of the default ONNX domain has as many inputs and outputs as its operator takes at the
 * model's opset (the ONNX operator schemas, in {@code onnx-arity.txt}), and that its required inputs are named.
 * OpenVINO's ONNX frontend takes node arity on trust: a Conv left without inputs (a mutated ppocr-cls, a Constant
 * node turned into a Conv) crashed the JVM in {@code ov_core_read_model}. ONNX Runtime checks arity itself, with its
 * own message. Operators of other domains, and operators this table does not know or that the model's opset
 * predates, are left to the runtime.
 */
public final class OnnxArity {
    /** One row of the table: from opset {@code since}; -1 is unbounded; {@code named}: inputs that must be named. */
    private record Arity(int since, int minInputs, int maxInputs, int minOutputs, int maxOutputs, int[] named) { }

    private static final Map<String, List<Arity>> TABLE = load();

    private OnnxArity() { }

    private static Map<String, List<Arity>> load() {
        Map<String, List<Arity>> t = new HashMap<>();
        try (InputStream in = OnnxArity.class.getResourceAsStream("onnx-arity.txt")) {
            if (in == null) throw new IllegalStateException("onnx-arity.txt is missing from onnx-tools");
            BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
            for (String line; (line = r.readLine()) != null; ) {
                if (line.isBlank() || line.startsWith("#")) continue;
                String[] f = line.trim().split(" ");
                int[] named = f[6].equals("-") ? new int[0]
                        : java.util.Arrays.stream(f[6].split(",")).mapToInt(Integer::parseInt).toArray();
                t.computeIfAbsent(f[0], k -> new ArrayList<>()).add(new Arity(Integer.parseInt(f[1]),
                        Integer.parseInt(f[2]), Integer.parseInt(f[3]), Integer.parseInt(f[4]), Integer.parseInt(f[5]),
                        named));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return t;
    }

    /** Refuses the first node, in the main graph or a subgraph, whose input or output count its operator forbids. */
    public static void check(OnnxModel model) {
        check(model.graph(), model.opsetVersion(), model.label());
    }

    private static void check(GraphProto g, long opset, String label) {
        for (int k = 0; k < g.getNodeCount(); k++) {
            NodeProto n = g.getNode(k);
            if (OnnxModel.isDefaultDomain(n.getDomain())) {
                String why = violation(n, opset);
                if (why != null) {
                    String node = n.getName().isEmpty() ? "node " + k + " of graph '" + g.getName() + "' (unnamed, "
                            + n.getOpType() + ")" : "node '" + n.getName() + "' (" + n.getOpType() + ")";
                    throw new QuantbridgeException(label + ": " + node + " " + why + " (ONNX operator schema, opset "
                            + opset + "); the model is invalid");
                }
            }
            for (AttributeProto a : n.getAttributeList()) {
                if (a.hasG()) check(a.getG(), opset, label);
                for (GraphProto sub : a.getGraphsList()) check(sub, opset, label);
            }
        }
    }

    /** What is wrong with the node's arity, or null. */
    static String violation(NodeProto n, long opset) {
        List<Arity> rows = TABLE.get(n.getOpType());
        if (rows == null) return null;
        Arity a = null;
        for (Arity r : rows) if (r.since() <= opset) a = r;
        if (a == null) return null;
        int in = n.getInputCount();
        if (in < a.minInputs() || (a.maxInputs() >= 0 && in > a.maxInputs())) {
            return "has " + in + " input" + (in == 1 ? "" : "s") + "; " + n.getOpType() + " takes "
                    + range(a.minInputs(), a.maxInputs());
        }
        for (int i : a.named()) {
            if (i < in && n.getInput(i).isEmpty()) return "leaves its required input " + i + " unnamed (absent)";
        }
        int out = n.getOutputCount();
        if (out < a.minOutputs() || (a.maxOutputs() >= 0 && out > a.maxOutputs())) {
            return "has " + out + " output" + (out == 1 ? "" : "s") + "; " + n.getOpType() + " gives "
                    + range(a.minOutputs(), a.maxOutputs());
        }
        return null;
    }

    private static String range(int min, int max) {
        if (max < 0) return min + " or more";
        return min == max ? String.valueOf(min) : min + " to " + max;
    }
}
