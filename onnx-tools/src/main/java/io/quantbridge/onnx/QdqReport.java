package io.quantbridge.onnx;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What a Q/DQ quantization did: opset change, nodes folded into convs ({@link ConvFolding}), nodes quantized and kept float (by op type, and each float node with
 * its reason), subgraphs left in float, and how many Q/DQ pairs and quantized weights were written.
 */
public record QdqReport(long opsetBefore, long opsetAfter, List<String> opsetConversions, int foldedConstants,
                        Map<String, Integer> foldedIntoConvs, List<NodeDecision> decisions, List<SubgraphInfo> subgraphs, int activationQdqPairs,
                        int quantizedWeights, List<String> notes) {
    public QdqReport {
        opsetConversions = List.copyOf(opsetConversions);
        foldedIntoConvs = Map.copyOf(foldedIntoConvs);
        decisions = List.copyOf(decisions);
        subgraphs = List.copyOf(subgraphs);
        notes = List.copyOf(notes);
    }

    public List<NodeDecision> quantizedNodes() {
        return decisions.stream().filter(NodeDecision::quantized).toList();
    }

    public List<NodeDecision> floatNodes() {
        return decisions.stream().filter(d -> !d.quantized()).toList();
    }

    /** Number of quantized nodes by op type (sorted by op type). */
    public Map<String, Integer> quantizedByOp() {
        return countByOp(true);
    }

    /** Number of float nodes by op type (sorted by op type). */
    public Map<String, Integer> floatByOp() {
        return countByOp(false);
    }

    private Map<String, Integer> countByOp(boolean quantized) {
        Map<String, Integer> m = new TreeMap<>();
        for (NodeDecision d : decisions) {
            if (d.quantized() == quantized) m.merge(d.opType(), 1, Integer::sum);
        }
        return m;
    }

    /** Float nodes grouped by reason, e.g. "not a quantizable op" -> 120; specific reasons list the nodes. */
    public Map<String, List<String>> floatNodesByReason() {
        Map<String, List<String>> m = new LinkedHashMap<>();
        for (NodeDecision d : decisions) {
            if (!d.quantized()) m.computeIfAbsent(d.reason(), k -> new ArrayList<>()).add(d.node());
        }
        return m;
    }

    /** A JSON-friendly view (maps, lists, strings and numbers). */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("opsetBefore", opsetBefore);
        m.put("opsetAfter", opsetAfter);
        m.put("opsetConversions", opsetConversions);
        m.put("foldedConstants", foldedConstants);
        m.put("foldedIntoConvs", new TreeMap<>(foldedIntoConvs));
        m.put("quantizedByOp", quantizedByOp());
        m.put("floatByOp", floatByOp());
        m.put("activationQdqPairs", activationQdqPairs);
        m.put("quantizedWeights", quantizedWeights);
        List<Map<String, Object>> fl = new ArrayList<>();
        for (NodeDecision d : decisions) {
            if (d.quantized() || d.reason().equals(QdqQuantizer.NOT_QUANTIZABLE)) continue;
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("node", d.node());
            e.put("op", d.opType());
            e.put("reason", d.reason());
            fl.add(e);
        }
        m.put("floatNodes", fl);
        List<String> sg = new ArrayList<>();
        for (SubgraphInfo s : subgraphs) sg.add(s.toString());
        m.put("subgraphsLeftFloat", sg);
        m.put("notes", notes);
        return m;
    }

    /** A few lines for a person. */
    public String summary() {
        StringBuilder sb = new StringBuilder();
        sb.append("opset ").append(opsetBefore).append(" -> ").append(opsetAfter);
        if (!opsetConversions.isEmpty()) sb.append(" (").append(String.join("; ", opsetConversions)).append(')');
        sb.append('\n');
        if (foldedConstants > 0) sb.append("Constant nodes folded into initializers: ").append(foldedConstants).append('\n');
        if (!foldedIntoConvs.isEmpty()) {
            sb.append("folded into the preceding Conv/ConvTranspose: ").append(new TreeMap<>(foldedIntoConvs)).append('\n');
        }
        sb.append("quantized nodes: ").append(quantizedByOp()).append('\n');
        sb.append("float nodes: ").append(floatByOp()).append('\n');
        sb.append("Q/DQ pairs on activations: ").append(activationQdqPairs).append(", quantized weights: ")
                .append(quantizedWeights).append('\n');
        floatNodesByReason().forEach((reason, nodes) -> {
            if (reason.equals(QdqQuantizer.NOT_QUANTIZABLE)) return;
            sb.append("kept float (").append(reason).append("): ")
                    .append(nodes.size() > 8 ? nodes.subList(0, 8) + " and " + (nodes.size() - 8) + " more" : nodes)
                    .append('\n');
        });
        for (SubgraphInfo s : subgraphs) sb.append("left float: subgraphs of ").append(s).append('\n');
        for (String n : notes) sb.append("note: ").append(n).append('\n');
        return sb.toString();
    }
}
