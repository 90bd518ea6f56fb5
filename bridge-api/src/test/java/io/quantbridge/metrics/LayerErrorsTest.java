package io.quantbridge.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class LayerErrorsTest {
    /** Relative error power of {@code c} against {@code r}. */
    private static double nsr(float[] r, float[] c) {
        double p = 0;
        double e = 0;
        for (int i = 0; i < r.length; i++) {
            p += (double) r[i] * r[i];
            e += (double) (c[i] - r[i]) * (c[i] - r[i]);
        }
        return e / p;
    }

    /**
     * A chain x -> a (activation rounding) -> b (weights, reading a and a constant) -> c (a Relu that passes the error
     * on) plus d, whose inputs are unknown: added errors are differences of relative error powers, the ranking lists
     * only int8 sources, worst first.
     */
    @Test
    void addedErrorIsTheDifferenceOfRelativeErrorPowersAlongTheChain() {
        float[] a = {1, -2, 3, -4};
        float[] aq = {1.1f, -2, 3, -3.9f};
        float[] b = {2, 4, 6, 8};
        float[] bq = {2.5f, 4, 5.5f, 8.2f};
        float[] c = {2, 4, 6, 8};
        LayerErrors.Sums sums = new LayerErrors.Sums();
        sums.add("a_dq", a, aq, 4);
        sums.add("b", b, bq, 4);
        sums.add("c", c, bq, 4);
        sums.add("d", c, bq, 4);
        sums.add("e", c, bq, 4);
        sums.mismatch("e");
        List<LayerErrors.Node> nodes = List.of(
                new LayerErrors.Node("dq", "DequantizeLinear", "a_dq", "a", List.of("x"), "activation"),
                new LayerErrors.Node("conv", "Conv", "b", "b", List.of("a_dq", "w"), "weights"),
                new LayerErrors.Node("relu", "Relu", "c", "c", List.of("b"), null),
                new LayerErrors.Node("other", "Mul", "d", "d", null, "weights"),
                new LayerErrors.Node("mismatched", "Add", "e", "e", List.of("b"), null),
                new LayerErrors.Node("never run", "Add", "f", "f", List.of("b"), null));
        LayerErrors.Result r = LayerErrors.result(nodes, sums, Set.of("x", "w"), 1, 9);
        assertEquals(4, r.rows().size());
        assertEquals(5, r.unmatched());
        LayerErrors.Row dq = r.rows().get(0);
        assertEquals(-10 * Math.log10(nsr(a, aq)), dq.sqnrDb(), 1e-9);
        assertEquals(dq.sqnrDb(), dq.addedSqnrDb(), 1e-9); // it reads an exact input
        LayerErrors.Row conv = r.rows().get(1);
        assertEquals(nsr(b, bq) - nsr(a, aq), conv.addedError(), 1e-12);
        assertTrue(Double.isNaN(r.rows().get(2).addedSqnrDb()), "reads as much error as it has: adds none");
        assertTrue(Double.isNaN(r.rows().get(3).addedSqnrDb()), "inputs unknown");
        // the conv adds more than the activation rounding: it comes first; the Relu and the unknown are not listed
        assertEquals(List.of("conv", "dq"), r.worst(5).stream().map(LayerErrors.Row::node).toList());
        assertEquals(List.of("conv"), r.worst(1).stream().map(LayerErrors.Row::node).toList());
        Map<String, Object> m = r.toMap(1);
        assertEquals(4, m.get("compared_tensors"));
        assertEquals("a_dq", ((List<?>) m.get("tensors")).stream().map(o -> (Map<?, ?>) o).findFirst().orElseThrow()
                .get("candidate_tensor"));
    }

    @Test
    void equalTensorsHaveInfiniteSqnrAndAddNothing() {
        float[] x = {0.5f, -1, 2};
        LayerErrors.Sums sums = new LayerErrors.Sums();
        sums.add("y", x, x.clone(), 3);
        LayerErrors.Result r = LayerErrors.result(List.of(new LayerErrors.Node("n", "Conv", "y", "y", List.of(),
                "weights")), sums, Set.of(), 1, 1);
        assertEquals(Double.POSITIVE_INFINITY, r.rows().get(0).sqnrDb());
        assertEquals(List.of(), r.worst(3));
        assertEquals(null, r.rows().get(0).toMap().get("sqnr_db"));
    }
}
