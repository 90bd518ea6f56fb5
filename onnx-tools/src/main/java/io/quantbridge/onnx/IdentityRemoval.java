package io.quantbridge.onnx;

import io.quantbridge.onnx.proto.Onnx.GraphProto;
import io.quantbridge.onnx.proto.Onnx.NodeProto;
import io.quantbridge.onnx.proto.Onnx.ValueInfoProto;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Removes Identity nodes of the main graph: their readers read the Identity's input instead. Paddle2ONNX writes one
 * after many ops; left in, they hide a conv from the Relu and the conv after it (equalization and bias folding look
 * at the node that produces a tensor). An Identity whose output is a graph output or is read inside a subgraph stays,
 * and so does one whose input is a graph input feeding a graph output directly.
 */
public final class IdentityRemoval {
    /** The model without those Identity nodes, and how many went. */
    public record Result(OnnxModel model, int removed) { }

    private IdentityRemoval() { }

    public static Result apply(OnnxModel model) {
        GraphProto g = model.graph();
        Set<String> keep = new HashSet<>(model.tensorsUsedBySubgraphs());
        for (ValueInfoProto v : g.getOutputList()) keep.add(v.getName());
        Map<String, String> replace = new HashMap<>();
        List<NodeProto> nodes = new ArrayList<>();
        for (NodeProto n : g.getNodeList()) {
            if (n.getOpType().equals("Identity") && OnnxModel.isDefaultDomain(n.getDomain()) && n.getInputCount() == 1
                    && n.getOutputCount() == 1 && !keep.contains(n.getOutput(0)) && !n.getInput(0).isEmpty()) {
                replace.put(n.getOutput(0), resolve(replace, n.getInput(0)));
                continue;
            }
            nodes.add(n);
        }
        if (replace.isEmpty()) return new Result(model, 0);
        GraphProto.Builder b = g.toBuilder().clearNode();
        for (NodeProto n : nodes) {
            NodeProto.Builder nb = n.toBuilder();
            for (int i = 0; i < nb.getInputCount(); i++) {
                String in = nb.getInput(i);
                if (replace.containsKey(in)) nb.setInput(i, replace.get(in));
            }
            b.addNode(nb);
        }
        b.clearValueInfo();
        for (ValueInfoProto v : g.getValueInfoList()) if (!replace.containsKey(v.getName())) b.addValueInfo(v);
        return new Result(model.withProto(model.proto().toBuilder().setGraph(b).build()), replace.size());
    }

    private static String resolve(Map<String, String> replace, String t) {
        String r = t;
        while (replace.containsKey(r)) r = replace.get(r);
        return r;
    }
}
