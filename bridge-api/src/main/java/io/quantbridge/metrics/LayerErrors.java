package io.quantbridge.metrics;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Where a quantized model departs from its float reference, layer by layer, whatever runs the two: each candidate
 * tensor is compared with the reference tensor it stands for (pooled over the samples), and each node's <em>added
 * error</em> is the relative error power of its output minus the largest of its inputs' (as the node reads them; graph
 * inputs, constants and dequantized weights are exact). Errors of independent sources add up along a chain in these
 * units, so the nodes that add the most are where fidelity goes. It is shown as the SQNR that error alone would give
 * ({@code added_sqnr_db}, lower is worse).
 *
 * <p>The runtimes differ in what a node is: in a Q/DQ ONNX model an activation's int8 rounding is a DequantizeLinear
 * of its own, in a full-integer TFLite model it is part of the op that writes the int8 tensor. The backends describe
 * their graph as {@link Node}s and feed the {@link Sums}; this class does the arithmetic and the ranking.
 */
public final class LayerErrors {
    /**
     * One compared candidate tensor, in the candidate's graph order.
     *
     * @param tensor      the reference tensor it stands for
     * @param candidate   its name in the candidate ({@code tensor} itself, or a dequantized or requantized copy)
     * @param node        the candidate node that computes it
     * @param opType      that node's operator
     * @param sqnrDb      pooled SQNR against the reference tensor (infinite when equal)
     * @param cosine      pooled cosine
     * @param addedSqnrDb the SQNR of the error this node adds; NaN when it removes error (a Relu that cuts noise below
     *                    zero) or when an input could not be compared
     * @param source      what int8 rounding happens in this node: {@code "activation"} (the rounding of an
     *                    activation), {@code "weights"} (a node reading int8 weights; in TFLite also the rounding of
     *                    its int8 output), or null (the node only passes on, and may amplify, the error it reads: a
     *                    Relu that drops the negative half of the signal raises the relative error without adding any)
     */
    public record Row(String tensor, String candidate, String node, String opType, double sqnrDb, double cosine,
                      double addedSqnrDb, String source) {
        /** The error power this node adds, relative to its output's power (0 when unknown or negative). */
        public double addedError() {
            return Double.isNaN(addedSqnrDb) ? 0 : Math.pow(10, -addedSqnrDb / 10);
        }

        public Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("tensor", tensor);
            if (!candidate.equals(tensor)) m.put("candidate_tensor", candidate);
            m.put("node", node);
            m.put("op_type", opType);
            m.put("sqnr_db", finite(sqnrDb));
            m.put("cosine", finite(cosine));
            m.put("added_sqnr_db", finite(addedSqnrDb));
            if (source != null) m.put("int8_source", source);
            return m;
        }
    }

    /** Every compared tensor in graph order, with how many samples and how many candidate tensors had no namesake. */
    public record Result(List<Row> rows, int samples, int unmatched) {
        /**
         * The {@code n} rows whose int8 rounding (of an activation, or of a node's weights) adds the most error, worst
         * first: where a range, a float layer or the weights' rounding can make a difference.
         */
        public List<Row> worst(int n) {
            return rows.stream().filter(r -> r.source() != null && !Double.isNaN(r.addedSqnrDb()))
                    .sorted(Comparator.comparingDouble(Row::addedSqnrDb)).limit(n).toList();
        }

        /** For report.json or eval's --out: the counts, the {@code top} worst rows, and every row. */
        public Map<String, Object> toMap(int top) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("samples", samples);
            m.put("compared_tensors", rows.size());
            m.put("unmatched_tensors", unmatched);
            m.put("metric", "pooled SQNR (dB) of each candidate tensor against the reference tensor of the same name;"
                    + " added_sqnr_db: the SQNR of the error its node adds to what it reads; worst: the int8 roundings"
                    + " (activations, weights) that add the most");
            m.put("worst", worst(top).stream().map(Row::toMap).toList());
            m.put("tensors", rows.stream().map(Row::toMap).toList());
            return m;
        }
    }

    /**
     * A candidate node output to compare.
     *
     * @param node   the node's name (or, where nodes have none, how to find it)
     * @param opType its operator
     * @param output the candidate tensor it computes (the key given to {@link Sums#add})
     * @param tensor the reference tensor that output stands for
     * @param reads  the candidate tensors whose error the node reads; null when that is not known (the added error is
     *               then NaN)
     * @param source as in {@link Row}
     */
    public record Node(String node, String opType, String output, String tensor, List<String> reads, String source) { }

    /** Pooled sums of each candidate tensor against its reference: reference power, error power, cross, candidate. */
    public static final class Sums {
        private final Map<String, double[]> sums = new HashMap<>();
        private final Set<String> mismatched = new HashSet<>();

        /** Adds one sample of candidate tensor {@code output}: {@code length} values of each. */
        public void add(String output, float[] reference, float[] candidate, int length) {
            if (reference == null || candidate == null || reference.length < length || candidate.length < length) {
                mismatched.add(output);
                return;
            }
            double xx = 0;
            double ee = 0;
            double xc = 0;
            double cc = 0;
            for (int j = 0; j < length; j++) {
                double a = reference[j];
                double b = candidate[j];
                xx += a * a;
                ee += (b - a) * (b - a);
                xc += a * b;
                cc += b * b;
            }
            double[] s = sums.computeIfAbsent(output, k -> new double[4]);
            s[0] += xx;
            s[1] += ee;
            s[2] += xc;
            s[3] += cc;
        }

        /** Marks {@code output} as not comparable (its size differs from the reference's in some sample). */
        public void mismatch(String output) {
            mismatched.add(output);
        }

        private double[] get(String output) {
            return mismatched.contains(output) ? null : sums.get(output);
        }
    }

    private LayerErrors() { }

    /**
     * The rows of {@code nodes} (graph order) that have sums.
     *
     * @param exact    candidate tensors as exact as the reference's (graph inputs fed alike, constants, dequantized
     *                 weights, what is not float)
     * @param computed how many float tensors the candidate computes; those without a row count as unmatched
     */
    public static Result result(List<Node> nodes, Sums sums, Set<String> exact, int samples, int computed) {
        Map<String, Double> nsr = new HashMap<>(); // relative error power of each compared candidate tensor
        for (Node n : nodes) {
            double[] s = sums.get(n.output());
            if (s != null) nsr.put(n.output(), s[0] > 0 ? s[1] / s[0] : (s[1] > 0 ? Double.POSITIVE_INFINITY : 0));
        }
        List<Row> rows = new ArrayList<>();
        for (Node n : nodes) {
            double[] s = sums.get(n.output());
            if (s == null) continue;
            double out = nsr.get(n.output());
            double in = inputError(n.reads(), nsr, exact);
            double added = Double.isNaN(in) ? Double.NaN : out - in;
            rows.add(new Row(n.tensor(), n.output(), n.node(), n.opType(), -10 * Math.log10(out),
                    s[2] / Math.sqrt(s[0] * s[3]), added > 0 ? -10 * Math.log10(added) : Double.NaN, n.source()));
        }
        return new Result(rows, samples, Math.max(0, computed - rows.size()));
    }

    /** The largest relative error power among {@code reads}; NaN when one is neither exact nor compared. */
    private static double inputError(List<String> reads, Map<String, Double> nsr, Set<String> exact) {
        if (reads == null) return Double.NaN;
        double worst = 0;
        for (String i : reads) {
            if (i == null || i.isEmpty() || exact.contains(i)) continue;
            Double e = nsr.get(i);
            if (e == null) return Double.NaN;
            worst = Math.max(worst, e);
        }
        return worst;
    }

    private static Object finite(double v) {
        return Double.isFinite(v) ? v : null;
    }
}
