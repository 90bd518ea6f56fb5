package io.quantbridge.eval;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.ModelSession;
import io.quantbridge.backend.Progress;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.data.SampleRef;
import io.quantbridge.data.SampleSource;
import io.quantbridge.metrics.BoxAccumulator;
import io.quantbridge.metrics.FidelityAccumulator;
import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.tensor.TensorInfo;
import io.quantbridge.util.Workers;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Compares a candidate model (quantized) with its reference (float) on held-out samples: every output of the
 * reference is matched by name in the candidate and pooled over all samples ({@link FidelityAccumulator}), and so is
 * every requested {@link OutputView} (slices, sigmoids); outputs with a {@link BoxDecoder} also get box recall against the reference's
 * boxes.
 * Sessions must allow concurrent {@code run} calls when {@code threads > 1}.
 */
public final class FidelityEvaluation {
    /**
     * Which task metrics to add to cosine, SQNR and max abs error, and which views of the outputs (slices,
     * sigmoids) to judge on their own as well (reported under their labels, with the same metrics; a view may be
     * computed from a view listed before it).
     */
    public record Metrics(Double maskIouThreshold, boolean top1, List<OutputView> views, List<BoxDecoder> boxes,
                          List<String> labels) {
        public static final Metrics BASIC = new Metrics(null, false);

        /**
         * @param labels class names by class index ({@code --labels}), added as {@code label} to the per-class entries
         *               of top-1 and box counts; empty for none
         */
        public Metrics {
            views = List.copyOf(views);
            boxes = List.copyOf(boxes);
            labels = List.copyOf(labels);
        }

        public Metrics(Double maskIouThreshold, boolean top1, List<? extends OutputView> views,
                       List<BoxDecoder> boxes) {
            this(maskIouThreshold, top1, List.copyOf(views), boxes, List.of());
        }

        public Metrics(Double maskIouThreshold, boolean top1, List<? extends OutputView> views) {
            this(maskIouThreshold, top1, views, List.of());
        }

        public Metrics(Double maskIouThreshold, boolean top1) {
            this(maskIouThreshold, top1, List.of());
        }
    }

    private FidelityEvaluation() { }

    /**
     * Runs both models on every sample and returns, per reference output name, the pooled metrics as a map
     * ({@code cosine}, {@code sqnr_db}, {@code max_abs}, ... and {@code samples}).
     */
    public static Map<String, Map<String, Object>> run(ModelSession reference, ModelSession candidate,
                                                       List<SampleRef> samples, Preprocessing pre, Metrics metrics,
                                                       int threads, Progress progress) {
        return run(reference, candidate, samples, pre, metrics, threads, progress, Map.of());
    }

    /**
     * {@link #run(ModelSession, ModelSession, List, Preprocessing, Metrics, int, Progress)} for two models that may
     * name their inputs and outputs differently (the same network exported to ONNX and to TFLite): outputs pair by
     * name, then by {@code outputMap} (reference output to candidate output), then the single output left on each
     * side, then by a declared shape only one output left on each side has; a single input on each side pairs
     * whatever its names. An output paired under another name reports it as {@code candidate_output}.
     */
    public static Map<String, Map<String, Object>> run(ModelSession reference, ModelSession candidateSession,
                                                       List<SampleRef> samples, Preprocessing pre, Metrics metrics,
                                                       int threads, Progress progress, Map<String, String> outputMap) {
        if (samples.isEmpty()) {
            throw new QuantbridgeException("evaluation data is empty: no held-out samples to compare on");
        }
        List<String> outputs = new ArrayList<>();
        for (TensorInfo o : reference.outputs()) if (!outputs.contains(o.name())) outputs.add(o.name()); // listed twice: once
        Map<String, String> paired = new LinkedHashMap<>();
        ModelSession candidate = CandidateNames.matched(reference, candidateSession, outputMap, paired);
        Map<String, BoxDecoder> boxes = boxDecoders(metrics.boxes(), reference.outputs(), reference.inputs());
        List<String> keys = new ArrayList<>(outputs);
        for (OutputView v : metrics.views()) {
            if (!keys.contains(v.output())) {
                throw new QuantbridgeException(v.option() + " " + v.label() + ": the model has no output '"
                        + v.output() + "' (its outputs: " + outputs + (keys.size() > outputs.size()
                        ? "; views given before it: " + keys.subList(outputs.size(), keys.size()) : "") + ")");
            }
            if (keys.contains(v.label())) {
                throw new QuantbridgeException(v.option() + ": the label '" + v.label() + "' is taken; give another");
            }
            keys.add(v.label());
        }
        List<TensorInfo> inputs = reference.inputs();
        int n = Math.max(1, Math.min(threads, samples.size()));
        AtomicInteger next = new AtomicInteger();
        progress.begin("evaluating", samples.size());
        // one accumulator per sample and output, summed in sample order at the end: the pooled numbers are then the
        // same to the last bit whichever worker took which sample (merging per-worker sums in the order the workers
        // happened to take the samples moved them in the 16th digit from run to run)
        List<Map<String, FidelityAccumulator>> parts = new ArrayList<>(java.util.Collections.nCopies(samples.size(),
                null));
        List<Map<String, BoxAccumulator>> boxParts = new ArrayList<>(java.util.Collections.nCopies(samples.size(),
                null));
        Workers.run("quantbridge-eval", "evaluation", n, w -> workers -> {
            int i;
            while (!workers.stopped() && (i = next.getAndIncrement()) < samples.size()) {
                Map<String, FidelityAccumulator> acc = new LinkedHashMap<>();
                Map<String, FloatTensor> feed = SampleSource.load(samples.get(i), inputs, pre);
                Map<String, FloatTensor> ref = reference.run(feed);
                Map<String, FloatTensor> cand = candidate.run(feed);
                for (String name : outputs) {
                    FloatTensor r = ref.get(name);
                    FloatTensor c = cand.get(name);
                    requireSameLayout(name, r, c, samples.get(i));
                    acc.computeIfAbsent(name, k -> accumulator(metrics, null, r)).add(r.data(), c.data());
                }
                if (!metrics.views().isEmpty()) {
                    ref = new LinkedHashMap<>(ref);
                    cand = new LinkedHashMap<>(cand);
                }
                for (OutputView v : metrics.views()) {
                    FloatTensor r = v.of(ref.get(v.output()));
                    FloatTensor c = v.of(cand.get(v.output()));
                    ref.put(v.label(), r);
                    cand.put(v.label(), c);
                    acc.computeIfAbsent(v.label(), k -> accumulator(metrics, v, r)).add(r.data(), c.data());
                }
                Map<String, BoxAccumulator> found = new LinkedHashMap<>();
                for (Map.Entry<String, BoxDecoder> b : boxes.entrySet()) {
                    BoxAccumulator a = new BoxAccumulator(b.getValue().matchIou());
                    a.add(b.getValue().decode(ref), b.getValue().decode(cand));
                    found.put(b.getKey(), a);
                }
                synchronized (parts) {
                    parts.set(i, acc);
                    boxParts.set(i, found);
                }
                progress.advance(1);
            }
            return null;
        });
        progress.end();
        Map<String, Map<String, Object>> result = new LinkedHashMap<>();
        for (String name : keys) {
            FidelityAccumulator total = null;
            int largest = -1;
            for (int i = 0; i < parts.size(); i++) {
                Map<String, FidelityAccumulator> p = parts.get(i);
                FidelityAccumulator a = p == null ? null : p.get(name);
                if (a == null) continue;
                if (total == null) total = a.emptyCopy();
                total.merge(a);
                if (largest < 0 || a.squaredError() > parts.get(largest).get(name).squaredError()) largest = i;
            }
            if (total == null) continue;
            Map<String, Object> m = total.toMap();
            if (total.samples() > 1 && total.squaredError() > 0 && Double.isFinite(total.squaredError())) {
                // pooled metrics over a set are the metrics of its largest errors: say whose they are
                FidelityAccumulator worst = parts.get(largest).get(name);
                m.put("largest_error_sample", samples.get(largest).id());
                m.put("largest_error_share", worst.squaredError() / total.squaredError());
                m.put("largest_error_sample_cosine", worst.cosine());
            }
            if (paired.containsKey(name)) m.put("candidate_output", paired.get(name));
            result.put(name, m);
        }
        for (Map.Entry<String, BoxDecoder> b : boxes.entrySet()) {
            result.get(b.getKey()).putAll(boxReport(b.getValue(), boxParts, samples));
        }
        if (!metrics.labels().isEmpty()) {
            for (Map<String, Object> m : result.values()) {
                for (String key : List.of("top1_per_class", "top1_worst_classes", "box_per_class")) {
                    label(m.get(key), metrics.labels());
                }
            }
        }
        return result;
    }

    /** Adds {@code label} to each per-class entry (keyed by class index) that has a name. */
    @SuppressWarnings("unchecked")
    private static void label(Object perClass, List<String> labels) {
        if (!(perClass instanceof Map<?, ?> classes)) return;
        for (Map.Entry<?, ?> e : classes.entrySet()) {
            int k = Integer.parseInt(e.getKey().toString());
            if (k < labels.size() && e.getValue() instanceof Map<?, ?> v) {
                Map<String, Object> entry = (Map<String, Object>) v;
                Map<String, Object> named = new LinkedHashMap<>();
                named.put("label", labels.get(k));
                named.putAll(entry);
                entry.clear();
                entry.putAll(named);
            }
        }
    }

    /** The decoders, resolved against the models' outputs, by the output they report under. */
    private static Map<String, BoxDecoder> boxDecoders(List<BoxDecoder> decoders, List<TensorInfo> outputs,
                                                       List<TensorInfo> inputs) {
        Map<String, BoxDecoder> byOutput = new LinkedHashMap<>();
        for (BoxDecoder d : decoders) {
            BoxDecoder r = d.resolve(outputs, inputs);
            if (byOutput.put(r.reportedUnder(), r) != null) {
                throw new QuantbridgeException("--boxes: output '" + r.reportedUnder() + "' is given twice");
            }
        }
        return byOutput;
    }

    /**
     * The pooled box counts of one output ({@link BoxAccumulator#toMap}), the decoder, and the sample with the most
     * boxes missed or added ({@code box_worst_sample}, with its missed and extra counts) when any was.
     */
    private static Map<String, Object> boxReport(BoxDecoder decoder, List<Map<String, BoxAccumulator>> parts,
                                                 List<SampleRef> samples) {
        String name = decoder.reportedUnder();
        BoxAccumulator total = new BoxAccumulator(decoder.matchIou());
        int worst = -1;
        long worstWrong = 0;
        for (int i = 0; i < parts.size(); i++) {
            BoxAccumulator a = parts.get(i) == null ? null : parts.get(i).get(name);
            if (a == null) continue;
            total.merge(a);
            long wrong = a.missed() + a.candidateBoxes() - a.matched();
            if (wrong > worstWrong) {
                worstWrong = wrong;
                worst = i;
            }
        }
        Map<String, Object> m = total.toMap();
        m.put("box_decoder", decoder.describe());
        if (worst >= 0) {
            BoxAccumulator w = parts.get(worst).get(name);
            m.put("box_worst_sample", samples.get(worst).id());
            m.put("box_worst_sample_missed", w.missed());
            m.put("box_worst_sample_extra", w.candidateBoxes() - w.matched());
        }
        return m;
    }

    /** The accumulator of one output, or of a view of one ({@code view} null for the output itself). */
    /**
     * The two models' values of an output are compared element by element, so they must be laid out alike: the same
     * shape, ignoring dimensions of size 1 (a batch of one that one runtime reports and the other drops). The same
     * count in another shape (NHWC against NCHW, a flattened map) would pair unrelated values and still give a number.
     */
    static void requireSameLayout(String name, FloatTensor reference, FloatTensor candidate, SampleRef sample) {
        long[] r = reference.shape();
        long[] c = candidate.shape();
        if (reference.size() != candidate.size()) {
            throw new QuantbridgeException("output '" + name + "' has " + reference.size() + " elements "
                    + Arrays.toString(r) + " in the reference but " + candidate.size() + " "
                    + Arrays.toString(c) + " in the candidate, on " + sample.id());
        }
        if (!Arrays.equals(withoutOnes(r), withoutOnes(c))) {
            throw new QuantbridgeException("output '" + name + "' has shape " + Arrays.toString(r)
                    + " in the reference but " + Arrays.toString(c) + " in the candidate (as many values,"
                    + " laid out differently: compared element by element they would not match up), on " + sample.id());
        }
    }

    private static long[] withoutOnes(long[] shape) {
        return Arrays.stream(shape).filter(d -> d != 1).toArray();
    }

    private static FidelityAccumulator accumulator(Metrics m, OutputView view, FloatTensor sampleOutput) {
        FidelityAccumulator a = new FidelityAccumulator();
        if (m.top1()) {
            long[] s = sampleOutput.shape();
            a = a.withTop1((int) (s.length == 0 ? 1 : s[s.length - 1]));
        }
        Double mask = m.maskIouThreshold() != null ? m.maskIouThreshold()
                : view != null ? view.defaultMaskThreshold() : null;
        if (mask != null) a = a.withMaskIou(mask);
        return a;
    }
}
