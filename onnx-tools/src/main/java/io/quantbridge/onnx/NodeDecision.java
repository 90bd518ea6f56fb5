package io.quantbridge.onnx;

/** What the quantizer does with one node of the main graph, and why. */
public record NodeDecision(String node, String opType, boolean quantized, String reason) {
    @Override
    public String toString() {
        return opType + " '" + node + "': " + (quantized ? "quantized" : "float") + " (" + reason + ")";
    }
}
