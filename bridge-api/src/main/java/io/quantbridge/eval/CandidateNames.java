package io.quantbridge.eval;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.ModelSession;
import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.tensor.TensorInfo;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Which candidate input and output stands for which of the reference's, when the two models name them differently:
 * the same network exported twice (ONNX and TFLite: wakeword-embed's {@code conv2d_19} is TFLite's
 * {@code StatefulPartitionedCall:0}). Outputs pair by name, then as given ({@code --output-map REFERENCE=CANDIDATE}),
 * then the one output left on each side, then by a declared shape that only one output left on each side has; an
 * output still unpaired is an error that names both sides. A single input on each side pairs whatever its names.
 */
final class CandidateNames {
    private CandidateNames() { }

    /**
     * The candidate as a session with the reference's names (the candidate itself when they agree), and in
     * {@code paired} the candidate output of each reference output whose name differs.
     */
    static ModelSession matched(ModelSession reference, ModelSession candidate, Map<String, String> given,
                                Map<String, String> paired) {
        List<String> refOut = names(reference.outputs());
        List<String> candOut = names(candidate.outputs());
        Map<String, String> outputs = new LinkedHashMap<>();
        for (Map.Entry<String, String> g : given.entrySet()) {
            if (!refOut.contains(g.getKey())) {
                throw new QuantbridgeException("--output-map " + g.getKey() + "=" + g.getValue() + ": the reference"
                        + " model has no output '" + g.getKey() + "' (its outputs: " + refOut + ")");
            }
            if (!candOut.contains(g.getValue())) {
                throw new QuantbridgeException("--output-map " + g.getKey() + "=" + g.getValue() + ": the candidate"
                        + " model has no output '" + g.getValue() + "' (its outputs: " + candOut + ")");
            }
            if (outputs.containsValue(g.getValue())) {
                throw new QuantbridgeException("--output-map: candidate output '" + g.getValue() + "' is given for two"
                        + " reference outputs");
            }
            outputs.put(g.getKey(), g.getValue());
        }
        for (String r : refOut) {
            if (!outputs.containsKey(r) && candOut.contains(r) && !outputs.containsValue(r)) outputs.put(r, r);
        }
        List<TensorInfo> refLeft = reference.outputs().stream().filter(t -> !outputs.containsKey(t.name())).toList();
        List<TensorInfo> candLeft = candidate.outputs().stream().filter(t -> !outputs.containsValue(t.name()))
                .toList();
        if (refLeft.size() == 1 && candLeft.size() == 1) {
            outputs.put(refLeft.get(0).name(), candLeft.get(0).name());
        } else {
            for (TensorInfo r : refLeft) {
                List<TensorInfo> same = candLeft.stream().filter(c -> Arrays.equals(c.shape(), r.shape())).toList();
                long twins = refLeft.stream().filter(o -> Arrays.equals(o.shape(), r.shape())).count();
                if (r.rankKnown() && same.size() == 1 && twins == 1) outputs.put(r.name(), same.get(0).name());
            }
        }
        List<String> unpaired = refOut.stream().filter(r -> !outputs.containsKey(r)).toList();
        if (!unpaired.isEmpty()) {
            throw new QuantbridgeException("the candidate model has no output '" + unpaired.get(0) + "' (its outputs: "
                    + candOut + ")" + (refOut.size() > 1 || candOut.size() > 1 ? "; if it has it under another name,"
                    + " pair them with --output-map " + unpaired.get(0) + "=CANDIDATE_OUTPUT" : ""));
        }
        Map<String, String> inputs = inputs(reference, candidate);
        outputs.forEach((r, c) -> {
            if (!r.equals(c)) paired.put(r, c);
        });
        if (paired.isEmpty() && inputs.entrySet().stream().allMatch(e -> e.getKey().equals(e.getValue()))) {
            return candidate;
        }
        return new Renamed(candidate, reference, inputs, outputs);
    }

    /** Reference input name to candidate input name. */
    private static Map<String, String> inputs(ModelSession reference, ModelSession candidate) {
        List<String> ref = names(reference.inputs());
        List<String> cand = names(candidate.inputs());
        Map<String, String> m = new LinkedHashMap<>();
        if (ref.size() == 1 && cand.size() == 1) {
            m.put(ref.get(0), cand.get(0));
            return m;
        }
        if (!new java.util.HashSet<>(ref).equals(new java.util.HashSet<>(cand))) {
            throw new QuantbridgeException("the candidate model's inputs " + cand + " are not the reference model's "
                    + ref + ": models with several inputs are fed by name");
        }
        for (String r : ref) m.put(r, r);
        return m;
    }

    private static List<String> names(List<TensorInfo> infos) {
        return infos.stream().map(TensorInfo::name).toList();
    }

    /** The candidate, fed and read under the reference's names. Closing it is the owner's business. */
    private record Renamed(ModelSession candidate, ModelSession reference, Map<String, String> inputNames,
                           Map<String, String> outputNames) implements ModelSession {
        @Override
        public List<TensorInfo> inputs() {
            return reference.inputs();
        }

        @Override
        public List<TensorInfo> outputs() {
            return reference.outputs();
        }

        @Override
        public Map<String, FloatTensor> run(Map<String, FloatTensor> feed) {
            Map<String, FloatTensor> in = new LinkedHashMap<>();
            feed.forEach((name, t) -> in.put(inputNames.getOrDefault(name, name), t));
            Map<String, FloatTensor> out = candidate.run(in);
            Map<String, FloatTensor> renamed = new LinkedHashMap<>();
            for (Map.Entry<String, String> e : outputNames.entrySet()) {
                FloatTensor t = out.get(e.getValue());
                if (t != null) renamed.put(e.getKey(), t);
            }
            return renamed;
        }

        @Override
        public void close() {
            // the caller opened the candidate and closes it
        }
    }
}
