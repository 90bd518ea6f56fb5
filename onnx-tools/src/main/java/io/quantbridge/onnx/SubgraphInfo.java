package io.quantbridge.onnx;

import java.util.List;

/**
 * A node of the main graph that carries subgraphs (If/Loop/Scan bodies): quantbridge leaves what is inside them in
 * float and reports them. {@code attributes} names the graph attributes; {@code nodeCount} counts the nodes of all
 * its subgraphs, nested ones included.
 */
public record SubgraphInfo(String nodeName, String opType, List<String> attributes, int nodeCount) {
    public SubgraphInfo {
        attributes = List.copyOf(attributes);
    }

    @Override
    public String toString() {
        return opType + " node '" + nodeName + "' (" + String.join(", ", attributes) + ": " + nodeCount + " nodes)";
    }
}
