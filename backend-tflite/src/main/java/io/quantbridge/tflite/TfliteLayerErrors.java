package io.quantbridge.tflite;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.Progress;
import io.quantbridge.metrics.LayerErrors;
import io.quantbridge.tensor.FloatTensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.IntFunction;
import org.tensorflow.lite.schema.BuiltinOperator;
import org.tensorflow.lite.schema.OperatorT;
import org.tensorflow.lite.schema.TensorType;

/**
 * {@link LayerErrors} of a quantized TFLite model against its float reference: both run in the interpreter with every
 * tensor preserved (TFLite's own kernels, no XNNPACK, so the int8 arithmetic is the reference kernels'), each int8
 * (uint8, int16) tensor is read dequantized with its own scale and zero point, and compared with the float tensor of
 * the same name.
 *
 * <p>In a full-integer model an activation's rounding is no node of its own: the op that writes an int8 tensor
 * rounds it. So every op with a quantized output is an int8 source: {@code "weights"} when it reads int8 weights (the
 * error it adds is then its weights' rounding, its output's rounding, and what it amplifies of the error it reads),
 * {@code "activation"} otherwise (an ADD, a LOGISTIC, a QUANTIZE of the float input). Ops that pass int8 values on
 * with the same parameters (RESHAPE, MAX_POOL_2D) add nothing and do not show up in the ranking.
 *
 * <p>Names: a tensor that a QUANTIZE or DEQUANTIZE converts without a namesake of its own (the int8 copy of a float
 * input, the int8 tensor behind a float output, a requantized copy before a CONCATENATION) stands for the reference
 * tensor on the other side of the conversion. The reference must be the float model the candidate was written from:
 * for quantbridge's int8 models with equalized channels, the equalized float model ({@code quantize --layers} uses it
 * by itself).
 */
public final class TfliteLayerErrors {
    private TfliteLayerErrors() { }

    /**
     * Compares the two models on {@code samples} inputs ({@code loader} serves indices below that), one sample at a
     * time, each interpreter with {@code threads} threads.
     */
    public static LayerErrors.Result compare(TfliteModel reference, TfliteModel candidate, int samples,
                                             IntFunction<Map<String, FloatTensor>> loader, int threads,
                                             Progress progress) {
        if (samples <= 0) throw new QuantbridgeException("layer errors: no samples to compare on");
        Map<String, Integer> refByName = new HashMap<>();
        for (int i : reference.main().getInputs()) addFloat(reference, i, refByName);
        for (OperatorT op : reference.operators()) for (int o : op.getOutputs()) addFloat(reference, o, refByName);

        int tensors = candidate.main().getTensors().length;
        String[] key = keys(candidate);
        int[] standsFor = new int[tensors]; // candidate tensor -> reference tensor index, -1 when none
        Arrays.fill(standsFor, -1);
        Set<Integer> graphInputs = new HashSet<>();
        for (int i : candidate.main().getInputs()) graphInputs.add(i);
        List<OperatorT> ops = candidate.operators();
        for (int i : graphInputs) match(candidate, i, refByName, standsFor);
        for (OperatorT op : ops) for (int o : op.getOutputs()) match(candidate, o, refByName, standsFor);
        // conversions without a namesake on one side take the other side's, forward then backward
        for (OperatorT op : ops) {
            int[] io = conversion(candidate, op);
            if (io != null && standsFor[io[1]] < 0 && standsFor[io[0]] >= 0) standsFor[io[1]] = standsFor[io[0]];
        }
        for (int k = ops.size() - 1; k >= 0; k--) {
            int[] io = conversion(candidate, ops.get(k));
            if (io != null && standsFor[io[0]] < 0 && standsFor[io[1]] >= 0 && !graphInputs.contains(io[0])) {
                standsFor[io[0]] = standsFor[io[1]];
            }
        }

        // exact: constants, float graph inputs (both models are fed alike), dequantized constants
        Set<String> exact = new HashSet<>();
        Set<Integer> weights = new HashSet<>();
        for (int t = 0; t < tensors; t++) {
            if (candidate.isConstant(t)) {
                exact.add(key[t]);
                byte type = candidate.tensor(t).getType();
                if (type == TensorType.INT8 || type == TensorType.UINT8 || type == TensorType.INT4) weights.add(t);
            }
        }
        for (int i : graphInputs) if (candidate.tensor(i).getType() == TensorType.FLOAT32) exact.add(key[i]);
        for (OperatorT op : ops) {
            if (candidate.builtinCode(op) == BuiltinOperator.DEQUANTIZE && op.getInputs().length > 0
                    && op.getInputs()[0] >= 0 && candidate.isConstant(op.getInputs()[0])) {
                for (int o : op.getOutputs()) {
                    exact.add(key[o]);
                    weights.add(o);
                }
            }
        }

        List<LayerErrors.Node> nodes = new ArrayList<>();
        Map<Integer, Integer> compared = new LinkedHashMap<>(); // candidate tensor -> reference tensor
        int computed = 0;
        for (int i : graphInputs) {
            if (exact.contains(key[i]) || standsFor[i] < 0) continue;
            compared.put(i, standsFor[i]);
            nodes.add(new LayerErrors.Node("(input)", "INPUT", key[i], name(reference, standsFor[i]), List.of(),
                    "activation"));
        }
        for (int k = 0; k < ops.size(); k++) {
            OperatorT op = ops.get(k);
            String opName = candidate.opName(op);
            List<String> reads = new ArrayList<>();
            boolean readsWeights = false;
            for (int in : op.getInputs()) {
                if (in < 0) continue;
                reads.add(key[in]);
                readsWeights |= weights.contains(in);
            }
            for (int o : op.getOutputs()) {
                if (o < 0 || exact.contains(key[o]) || !isNumeric(candidate.tensor(o).getType())) continue;
                computed++;
                if (standsFor[o] < 0) continue;
                byte type = candidate.tensor(o).getType();
                boolean quantized = type == TensorType.INT8 || type == TensorType.UINT8 || type == TensorType.INT16;
                String source = readsWeights ? "weights" : quantized ? "activation" : null;
                compared.put(o, standsFor[o]);
                nodes.add(new LayerErrors.Node("#" + k, opName, key[o], name(reference, standsFor[o]),
                        reads, source));
            }
        }
        if (compared.isEmpty()) {
            throw new QuantbridgeException("layer errors: no tensor of " + candidate.label() + " has a float namesake"
                    + " in " + reference.label() + ", so there is nothing to compare");
        }

        LayerErrors.Sums sums = new LayerErrors.Sums();
        TfliteSession.Options options = new TfliteSession.Options(threads, false, true);
        progress.begin("comparing layers", samples);
        try (TfliteSession ref = TfliteSession.open(reference.toBytes(), reference.label() + " (layers)", options);
             TfliteSession cand = TfliteSession.open(candidate.toBytes(), candidate.label() + " (layers)", options)) {
            for (int s = 0; s < samples; s++) {
                Map<String, FloatTensor> feed = loader.apply(s);
                ref.run(feed);
                cand.run(feed);
                Map<Integer, float[]> r = new HashMap<>();
                for (Map.Entry<Integer, Integer> e : compared.entrySet()) {
                    float[] x = r.computeIfAbsent(e.getValue(), ref::tensorAsFloat);
                    float[] c = cand.tensorAsFloat(e.getKey());
                    if (x == null || c == null || x.length != c.length) {
                        sums.mismatch(key[e.getKey()]);
                    } else {
                        sums.add(key[e.getKey()], x, c, c.length);
                    }
                }
                progress.advance(1);
            }
        } finally {
            progress.end();
        }
        return LayerErrors.result(nodes, sums, exact, samples, computed);
    }

    /** Registers reference tensor {@code i} by name when it is a computed float32 tensor (or a graph input). */
    private static void addFloat(TfliteModel m, int i, Map<String, Integer> byName) {
        if (i < 0 || m.isConstant(i) || m.tensor(i).getType() != TensorType.FLOAT32) return;
        String n = m.tensor(i).getName();
        if (n != null && !n.isEmpty()) byName.putIfAbsent(n, i);
    }

    private static void match(TfliteModel candidate, int t, Map<String, Integer> refByName, int[] standsFor) {
        if (t < 0 || candidate.isConstant(t)) return;
        String n = candidate.tensor(t).getName();
        Integer r = n == null ? null : refByName.get(n);
        if (r != null) standsFor[t] = r;
    }

    /** {input, output} of a QUANTIZE or DEQUANTIZE of a computed tensor; null for any other op. */
    private static int[] conversion(TfliteModel m, OperatorT op) {
        int code = m.builtinCode(op);
        if (code != BuiltinOperator.QUANTIZE && code != BuiltinOperator.DEQUANTIZE) return null;
        if (op.getInputs().length != 1 || op.getOutputs().length != 1) return null;
        int in = op.getInputs()[0];
        int out = op.getOutputs()[0];
        if (in < 0 || out < 0 || m.isConstant(in)) return null;
        return new int[] {in, out};
    }

    private static boolean isNumeric(byte type) {
        return type == TensorType.FLOAT32 || type == TensorType.INT8 || type == TensorType.UINT8
                || type == TensorType.INT16 || type == TensorType.FLOAT16;
    }

    /** Unique keys of the candidate's tensors: the name, or {@code name#index} for a repeated or missing name. */
    private static String[] keys(TfliteModel m) {
        int n = m.main().getTensors().length;
        String[] k = new String[n];
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < n; i++) {
            String name = m.tensor(i).getName();
            String key = name == null || name.isEmpty() ? "tensor#" + i : name;
            if (!seen.add(key)) key = key + "#" + i;
            seen.add(key);
            k[i] = key;
        }
        return k;
    }

    private static String name(TfliteModel m, int i) {
        String n = m.tensor(i).getName();
        return n == null || n.isEmpty() ? "tensor#" + i : n;
    }
}
