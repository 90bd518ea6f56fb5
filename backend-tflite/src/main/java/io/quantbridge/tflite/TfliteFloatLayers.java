package io.quantbridge.tflite;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.Progress;
import io.quantbridge.eval.SensitivitySearch;
import io.quantbridge.metrics.FidelityAccumulator;
import io.quantbridge.tensor.FloatTensor;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * {@code --float-layers N} and {@code --keep-float} on the tflite backend. An op is named by its first output tensor
 * (the name {@code --exclude} patterns match, and {@code report.json}'s {@code float_layers} lists). The candidates
 * are the ops the all-int8 model quantizes; a variant is the int8 model written again with some of them float
 * (DEQUANTIZE before, QUANTIZE after, neighbours without weights that then only connect float ops float too), from
 * the same ranges: the calibration observes the float model, so it does not depend on which ops end up int8, and a
 * float op simply keeps its float bias (the bias correction lives in the int32 biases of int8 ops). Each variant runs
 * in the interpreter as the written model does (XNNPACK), on K calibration samples.
 *
 * <p>The score is the mean over the model's outputs of each output's pooled cosine against the float model, so that
 * an output of large values (pose-lite's 256x256 segmentation logits) does not decide for the small ones (its pose
 * flag, one value per sample); for a model with one output it is the pooled cosine the ONNX-based backends use. A
 * sample's squared difference, for the screening round, is summed over the outputs relative to each output's energy
 * over all samples.
 */
final class TfliteFloatLayers {
    static final String METRIC = "mean over the outputs of each output's pooled cosine against the float model, on"
            + " calibration samples, in the interpreter (XNNPACK)";
    static final String SEARCH_REASON = "kept float by the float-layer search (--float-layers)";
    static final String GIVEN_REASON = "kept float by --keep-float";

    private TfliteFloatLayers() { }

    /**
     * Runs the search.
     *
     * @param reference the float model the int8 one is written from
     * @param allInt8   the int8 model written with no op kept float by the search (its quantized ops are the
     *                  candidates)
     * @param writer    the int8 model with the given ops (first output names) kept float
     * @param feeds     the samples to score on, as the model's inputs
     */
    static SensitivitySearch.Outcome search(TfliteModel reference, IntegerQuantizer.Result allInt8,
                                            Function<List<String>, TfliteModel> writer,
                                            List<Map<String, FloatTensor>> feeds, int maxFloat, int threads,
                                            Progress progress) {
        if (feeds.isEmpty()) {
            throw new QuantbridgeException("--float-layers: the search scores variants on calibration samples; pass "
                    + "--calib");
        }
        List<SensitivitySearch.Node> nodes = new ArrayList<>();
        for (IntegerQuantizer.QuantizedOp q : allInt8.quantized()) {
            nodes.add(new SensitivitySearch.Node(q.output(), q.op()));
        }
        Scorer scorer = new Scorer(reference, feeds, threads);
        return SensitivitySearch.run(nodes, maxFloat, feeds.size(),
                (keep, subset, squaredError) -> scorer.score(writer.apply(keep), subset, squaredError), METRIC,
                progress);
    }

    /**
     * {@code --keep-float}: the given names, each checked to be the first output of an op that the all-int8 model
     * quantizes.
     *
     * @throws QuantbridgeException naming an op that the model lacks or does not quantize, and why
     */
    static List<String> given(IntegerQuantizer.Result allInt8, List<String> names) {
        Map<String, String> quantized = new HashMap<>();
        for (IntegerQuantizer.QuantizedOp q : allInt8.quantized()) quantized.put(q.output(), q.op());
        Map<String, IntegerQuantizer.FloatOp> floats = new HashMap<>();
        for (IntegerQuantizer.FloatOp f : allInt8.floatOps()) floats.putIfAbsent(f.output(), f);
        for (String n : names) {
            if (quantized.containsKey(n)) continue;
            IntegerQuantizer.FloatOp f = floats.get(n);
            if (f != null) {
                throw new QuantbridgeException("--keep-float: op #" + f.index() + " " + f.op() + " ('" + n + "') is"
                        + " not quantized in this run (" + f.reason() + ")");
            }
            throw new QuantbridgeException("--keep-float: no operator of the model has the first output tensor '" + n
                    + "' (an op is named by its first output tensor, as report.json's float_layers ranking and "
                    + "quantization.float_ops name them)");
        }
        return List.copyOf(names);
    }

    /** Runs variants on the samples and scores them against the float model's outputs, computed once. */
    private static final class Scorer {
        private final List<Map<String, FloatTensor>> feeds;
        private final List<Map<String, float[]>> expected = new ArrayList<>();
        private final Map<String, Double> energy = new LinkedHashMap<>();
        private final int threads;

        Scorer(TfliteModel reference, List<Map<String, FloatTensor>> feeds, int threads) {
            this.feeds = feeds;
            this.threads = threads;
            try (TfliteSession s = TfliteSession.open(reference.toBytes(), "float model",
                    TfliteSession.Options.defaults(threads))) {
                for (Map<String, FloatTensor> feed : feeds) {
                    Map<String, float[]> out = new LinkedHashMap<>();
                    for (Map.Entry<String, FloatTensor> e : s.run(feed).entrySet()) {
                        float[] v = e.getValue().data();
                        out.put(e.getKey(), v);
                        double sq = 0;
                        for (float x : v) sq += (double) x * x;
                        energy.merge(e.getKey(), sq, Double::sum);
                    }
                    expected.add(out);
                }
            }
        }

        double score(TfliteModel variant, int[] subset, double[] squaredError) {
            Map<String, FidelityAccumulator> acc = new LinkedHashMap<>();
            int n = subset == null ? feeds.size() : subset.length;
            try (TfliteSession s = TfliteSession.open(variant.toBytes(), "float-layer variant",
                    TfliteSession.Options.defaults(threads))) {
                for (int j = 0; j < n; j++) {
                    int i = subset == null ? j : subset[j];
                    Map<String, FloatTensor> got = s.run(feeds.get(i));
                    for (Map.Entry<String, float[]> e : expected.get(i).entrySet()) {
                        FloatTensor t = got.get(e.getKey());
                        if (t == null) {
                            throw new IllegalStateException("the int8 variant has no output '" + e.getKey() + "'");
                        }
                        float[] ref = e.getValue();
                        float[] cand = t.data();
                        acc.computeIfAbsent(e.getKey(), k -> new FidelityAccumulator()).add(ref, cand);
                        if (squaredError != null) {
                            double sq = 0;
                            for (int k = 0; k < ref.length; k++) sq += (double) (cand[k] - ref[k]) * (cand[k] - ref[k]);
                            double total = energy.get(e.getKey());
                            squaredError[i] += total > 0 ? sq / total : sq;
                        }
                    }
                }
            }
            double sum = 0;
            for (FidelityAccumulator a : acc.values()) sum += a.cosine();
            return sum / acc.size();
        }
    }
}
