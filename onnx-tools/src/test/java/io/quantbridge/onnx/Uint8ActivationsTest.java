package io.quantbridge.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import io.quantbridge.onnx.proto.Onnx.NodeProto;
import io.quantbridge.onnx.proto.Onnx.TensorProto;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class Uint8ActivationsTest {
    @Test
    void activationsMoveToUint8WithZeroPoint128AndComputeExactlyTheSame() throws Exception {
        OnnxModel m = TinyModels.convModel();
        QdqPlan plan = QdqQuantizer.plan(m, QdqOptions.defaults());
        OnnxModel q = QdqQuantizer.apply(plan, QdqQuantizerTest.table(plan,
                QdqQuantizerTest.batches("x", 1, 4, 1, 3, 16, 16))).model();
        Uint8Activations.Result r = Uint8Activations.apply(q);
        OnnxModel u = r.model();

        Map<String, TensorProto> inits = u.initializers();
        int activations = 0;
        for (NodeProto n : u.nodes()) {
            if (n.getOpType().equals("QuantizeLinear")) {
                TensorProto zp = inits.get(n.getInput(2));
                assertEquals(DataTypes.UINT8, zp.getDataType(), n.getName());
                assertArrayEquals(new float[] {128}, Tensors.toFloats(zp), n.getName());
                activations++;
            } else if (n.getOpType().equals("DequantizeLinear") && inits.containsKey(n.getInput(0))) {
                assertEquals(DataTypes.INT8, inits.get(n.getInput(0)).getDataType(), n.getName()); // weights stay
                assertEquals(DataTypes.INT8, inits.get(n.getInput(2)).getDataType(), n.getName());
            }
        }
        assertEquals(activations, r.zeroPoints());
        assertEquals(true, activations > 3);

        // the same grid: every output is bit for bit what the int8 model computes (as written, no fused kernels)
        for (long seed : List.of(50L, 51L)) {
            Map<String, Ort.Input> in = Map.of("x", Ort.random(seed, 1, 3, 16, 16));
            Map<String, float[]> a = Ort.runAsWritten(q, in);
            Map<String, float[]> b = Ort.runAsWritten(u, in);
            for (String k : a.keySet()) assertArrayEquals(a.get(k), b.get(k), k);
        }
        // a model without int8 activations is returned as it is
        assertSame(m, Uint8Activations.apply(m).model());
    }
}
