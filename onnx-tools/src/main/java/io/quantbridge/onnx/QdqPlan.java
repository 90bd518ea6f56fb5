package io.quantbridge.onnx;

import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What {@link QdqQuantizer#plan} decided for a model before calibration: the prepared model (constants folded,
 * opset raised to 13, BatchNormalization and constant bias Adds folded into the convs before them when the options
 * ask for it, unnamed nodes named), the activation tensors that will carry Q/DQ and so need a calibrated
 * range, the groups of tensors that share one scale (Concat), and a decision per node.
 *
 * <p>Every tensor in {@link #activationTensors()} exists under the same name in the original model and in the
 * prepared one (folding and opset conversion keep tensor names; a conv folded with the node after it writes that
 * node's output, and only the conv's own output, which nothing else read, disappears), so ranges may be observed on
 * either.
 */
public final class QdqPlan {
    private final OnnxModel source;
    private final OnnxModel prepared;
    private final QdqOptions options;
    private final long opsetBefore;
    private final List<String> opsetConversions;
    private final int foldedConstants;
    private final Map<String, Integer> foldedIntoConvs;
    private final Set<String> activationTensors;
    private final List<Set<String>> sharedScaleGroups;
    private final List<NodeDecision> decisions;
    private final List<SubgraphInfo> subgraphs;

    QdqPlan(OnnxModel source, OnnxModel prepared, QdqOptions options, long opsetBefore, List<String> opsetConversions,
            int foldedConstants, Map<String, Integer> foldedIntoConvs, Set<String> activationTensors, List<Set<String>> sharedScaleGroups,
            List<NodeDecision> decisions, List<SubgraphInfo> subgraphs) {
        this.source = source;
        this.prepared = prepared;
        this.options = options;
        this.opsetBefore = opsetBefore;
        this.opsetConversions = List.copyOf(opsetConversions);
        this.foldedConstants = foldedConstants;
        this.foldedIntoConvs = Map.copyOf(foldedIntoConvs);
        this.activationTensors = java.util.Collections.unmodifiableSet(new java.util.LinkedHashSet<>(activationTensors));
        this.sharedScaleGroups = List.copyOf(sharedScaleGroups);
        this.decisions = List.copyOf(decisions);
        this.subgraphs = List.copyOf(subgraphs);
    }

    /** The model the plan was made for, as given. */
    public OnnxModel sourceModel() { return source; }

    /** The model Q/DQ will be inserted into: constants folded, opset >= 13, every node named. */
    public OnnxModel preparedModel() { return prepared; }

    public QdqOptions options() { return options; }

    public long opsetBefore() { return opsetBefore; }

    public List<String> opsetConversions() { return opsetConversions; }

    public int foldedConstants() { return foldedConstants; }

    /** Nodes folded into the Conv/ConvTranspose before them ({@link ConvFolding}), by op type; empty when none. */
    public Map<String, Integer> foldedIntoConvs() { return foldedIntoConvs; }

    /** The activation tensors (graph inputs included where they feed a quantized node) that need a range. */
    public Set<String> activationTensors() { return activationTensors; }

    /** Groups of tensors that share one scale (inputs and output of a quantized Concat): the max amax is used. */
    public List<Set<String>> sharedScaleGroups() { return sharedScaleGroups; }

    /** One decision per node of the prepared main graph, in graph order. */
    public List<NodeDecision> decisions() { return decisions; }

    public List<NodeDecision> quantizedNodes() {
        return decisions.stream().filter(NodeDecision::quantized).toList();
    }

    public List<NodeDecision> floatNodes() {
        return decisions.stream().filter(d -> !d.quantized()).toList();
    }

    /** Nodes with subgraphs; everything inside them stays float. */
    public List<SubgraphInfo> subgraphs() { return subgraphs; }
}
