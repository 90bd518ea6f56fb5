package io.quantbridge.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.quantbridge.onnx.proto.Onnx.NodeProto;
import org.junit.jupiter.api.Test;

class OnnxArityTest {
    private static NodeProto node(String op, String... inputs) {
        NodeProto.Builder b = NodeProto.newBuilder().setOpType(op).setName(op.toLowerCase()).addOutput("y");
        for (String i : inputs) b.addInput(i);
        return b.build();
    }

    @Test
    void countsAndRequiredInputsFollowTheSchemaOfTheModelsOpset() {
        assertEquals("has 0 inputs; Conv takes 2 to 3", OnnxArity.violation(node("Conv"), 13));
        assertEquals("has 4 inputs; Conv takes 2 to 3", OnnxArity.violation(node("Conv", "x", "w", "b", "z"), 13));
        assertNull(OnnxArity.violation(node("Conv", "x", "w"), 13));
        assertEquals("leaves its required input 1 unnamed (absent)", OnnxArity.violation(node("Conv", "x", ""), 13));
        // Pad took its pads as an attribute until opset 11, as an input since
        assertNull(OnnxArity.violation(node("Pad", "x"), 10));
        assertEquals("has 1 input; Pad takes 2 to 3", OnnxArity.violation(node("Pad", "x"), 11));
        // optional inputs may be left unnamed, even before required ones (Scan's sequence_lens)
        assertNull(OnnxArity.violation(node("Clip", "x", "", "max"), 13));
        assertNull(OnnxArity.violation(node("Scan", "", "state", "scan"), 8));
        assertEquals("has 0 inputs; Concat takes 1 or more", OnnxArity.violation(node("Concat"), 13));
        // operators the table does not know, or that the opset predates, are the runtime's business
        assertNull(OnnxArity.violation(node("FrobnicateV2"), 13));
        assertNull(OnnxArity.violation(node("Gelu"), 13));
        assertEquals("has 0 inputs; Gelu takes 1", OnnxArity.violation(node("Gelu"), 20));
    }

    @Test
    void theFirstViolationNamesTheModelAndTheNode() {
        var g = io.quantbridge.onnx.proto.Onnx.GraphProto.newBuilder().setName("main")
                .addNode(node("Relu", "x")).addNode(node("Conv").toBuilder().setName(""));
        var m = OnnxModel.of(io.quantbridge.onnx.proto.Onnx.ModelProto.newBuilder().setIrVersion(8).setGraph(g)
                .addOpsetImport(io.quantbridge.onnx.proto.Onnx.OperatorSetIdProto.newBuilder().setVersion(13)).build(),
                "m.onnx");
        var e = org.junit.jupiter.api.Assertions.assertThrows(io.quantbridge.QuantbridgeException.class,
                () -> OnnxArity.check(m));
        assertEquals("m.onnx: node 1 of graph 'main' (unnamed, Conv) has 0 inputs; Conv takes 2 to 3 (ONNX operator"
                + " schema, opset 13); the model is invalid", e.getMessage());
    }
}
