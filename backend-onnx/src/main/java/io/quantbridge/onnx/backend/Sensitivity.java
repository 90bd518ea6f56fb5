package io.quantbridge.onnx.backend;

import io.quantbridge.backend.Progress;
import io.quantbridge.calib.CalibratorSpec;
import io.quantbridge.calib.TensorStatistics;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.data.SampleRef;
import io.quantbridge.data.SampleSource;
import io.quantbridge.metrics.FidelityAccumulator;
import io.quantbridge.onnx.NodeDecision;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.QdqOptions;
import io.quantbridge.onnx.QdqPlan;
import io.quantbridge.onnx.QdqQuantizer;
import io.quantbridge.onnx.QdqResult;
import io.quantbridge.onnx.runtime.ActivationObserver;
import io.quantbridge.onnx.runtime.OrtModelSession;
import io.quantbridge.table.TensorRange;
import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.tensor.TensorInfo;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Layer-wise sensitivity analysis of int8 Q/DQ quantization: which nodes, when kept in float, recover the most
 * fidelity (the candidates for {@code --exclude}).
 *
 * <p>Activations are observed once on the calibration samples (histograms for every tensor the full placement
 * quantizes); ranges for any {@link CalibratorSpec} are then computed from those histograms without running the model
 * again. The float outputs on the evaluation samples are computed once too, so each variant costs one Q/DQ model
 * write, one session and one pass over the evaluation samples. Metrics are pooled over all evaluation samples and
 * all outputs ({@link FidelityAccumulator}).
 *
 * <p>Typical use: {@link #observe}, then {@link #evaluate} for the full placement, then {@link #leaveOneOut} over the
 * quantized nodes and keep in float the few whose exclusion gains the most. Not thread-safe; each evaluation uses
 * {@code threads} intra-op threads.
 */
public final class Sensitivity implements AutoCloseable {
    /** Fidelity of one variant, pooled over the evaluation samples and outputs. */
    public record Result(String label, double cosine, double sqnrDb, double maxAbs, double maskIou) {
        @Override
        public String toString() {
            return String.format(java.util.Locale.ROOT, "%-60s cos=%.5f sqnr=%6.2f dB max=%.4f iou=%.4f", label, cosine,
                    sqnrDb, maxAbs, maskIou);
        }
    }

    private final OnnxModel model;
    private final QdqOptions options;
    private final Preprocessing pre;
    private final int threads;
    private final Double maskThreshold;
    private final QdqPlan fullPlan;
    private final List<Map<String, FloatTensor>> evalFeeds = new ArrayList<>();
    private final List<Map<String, FloatTensor>> evalReference = new ArrayList<>();
    private TensorStatistics stats;
    private boolean asWritten;

    /**
     * @param model         the float model
     * @param options       placement options (excludes given here apply to every variant)
     * @param evaluation    held-out samples
     * @param pre           preprocessing for calibration and evaluation samples
     * @param maskThreshold threshold for mask IoU, or null for none
     * @param threads       intra-op threads for each session (0 = ONNX Runtime's default)
     */
    public Sensitivity(OnnxModel model, QdqOptions options, List<SampleRef> evaluation, Preprocessing pre,
                       Double maskThreshold, int threads) {
        this.model = Objects.requireNonNull(model, "model");
        this.options = Objects.requireNonNull(options, "options");
        this.pre = pre;
        this.threads = threads;
        this.maskThreshold = maskThreshold;
        this.fullPlan = QdqQuantizer.plan(model, options);
        List<TensorInfo> inputs = fullPlan.preparedModel().inputs();
        try (OrtModelSession ref = OrtModelSession.open(fullPlan.preparedModel().proto().toByteArray(), "float model",
                threads)) {
            for (SampleRef s : evaluation) {
                Map<String, FloatTensor> feed = SampleSource.load(s, inputs, pre);
                evalFeeds.add(feed);
                evalReference.add(ref.run(feed));
            }
        }
    }

    /**
     * Runs the quantized variants as written ({@link OrtModelSession#open(byte[], String, int, boolean)}), not through
     * ONNX Runtime's integer kernels: for models written for TensorRT or OpenVINO. Returns this.
     */
    public Sensitivity runQdqAsWritten(boolean v) {
        this.asWritten = v;
        return this;
    }

    /** The placement with nothing excluded beyond the constructor's options. */
    public QdqPlan fullPlan() {
        return fullPlan;
    }

    /** Observes the calibration samples (histograms of every activation the full placement quantizes). */
    public TensorStatistics observe(List<SampleRef> calibration, CalibratorSpec histogramSpec, Progress progress) {
        List<TensorInfo> inputs = fullPlan.preparedModel().inputs();
        Set<String> observed = new LinkedHashSet<>(fullPlan.activationTensors());
        ActivationObserver observer = new ActivationObserver(fullPlan.preparedModel(), observed, histogramSpec,
                threads);
        stats = observer.observe(calibration.size(), i -> SampleSource.load(calibration.get(i), inputs, pre), progress);
        return stats;
    }

    /** The ranges a calibrator gives from the observed histograms. */
    public Map<String, TensorRange> ranges(CalibratorSpec spec) {
        if (stats == null) throw new IllegalStateException("observe() first");
        Map<String, TensorRange> m = new HashMap<>();
        for (TensorRange r : stats.ranges(spec)) m.put(r.name(), r);
        return m;
    }

    /** Fidelity of the model quantized with these ranges, additionally keeping {@code keepFloat} nodes in float. */
    public Result evaluate(String label, Map<String, TensorRange> ranges, List<String> keepFloat) {
        QdqOptions o = options;
        if (!keepFloat.isEmpty()) {
            List<String> ex = new ArrayList<>(options.excludes());
            ex.addAll(keepFloat); // exact node names match before any regular expression
            o = options.withExcludes(ex);
        }
        QdqPlan plan = QdqQuantizer.plan(model, o);
        QdqResult q = QdqQuantizer.apply(plan, ranges);
        return evaluate(label, q.model());
    }

    /** Fidelity of an already quantized model against the float outputs. */
    public Result evaluate(String label, OnnxModel candidate) {
        return evaluate(label, candidate, null, null);
    }

    /**
     * Fidelity of an already quantized model against the float outputs, pooled over the evaluation samples at
     * {@code samples} (indices into the constructor's list), or over all of them when null; when {@code squaredError}
     * is given, its entry {@code i} receives sample {@code i}'s sum of squared output differences.
     */
    Result evaluate(String label, OnnxModel candidate, int[] samples, double[] squaredError) {
        Map<String, FidelityAccumulator> acc = new LinkedHashMap<>();
        int n = samples == null ? evalFeeds.size() : samples.length;
        try (OrtModelSession s = OrtModelSession.open(candidate.proto().toByteArray(), label, threads, asWritten)) {
            for (int j = 0; j < n; j++) {
                int i = samples == null ? j : samples[j];
                Map<String, FloatTensor> out = s.run(evalFeeds.get(i));
                for (Map.Entry<String, FloatTensor> e : evalReference.get(i).entrySet()) {
                    FidelityAccumulator a = acc.computeIfAbsent(e.getKey(), k -> maskThreshold == null
                            ? new FidelityAccumulator() : new FidelityAccumulator().withMaskIou(maskThreshold));
                    float[] ref = e.getValue().data();
                    float[] got = out.get(e.getKey()).data();
                    a.add(ref, got);
                    if (squaredError != null) {
                        double sq = 0;
                        for (int k = 0; k < ref.length; k++) sq += (double) (got[k] - ref[k]) * (got[k] - ref[k]);
                        squaredError[i] += sq;
                    }
                }
            }
        }
        FidelityAccumulator total = null;
        for (FidelityAccumulator a : acc.values()) {
            if (total == null) total = a; else total.merge(a);
        }
        return new Result(label, total.cosine(), total.sqnrDb(), total.maxAbs(),
                maskThreshold == null ? Double.NaN : total.maskIou());
    }

    /**
     * One result per quantized node of the full placement: the fidelity with that node alone kept in float (plus
     * {@code alsoFloat}), sorted best first.
     */
    public List<Result> leaveOneOut(Map<String, TensorRange> ranges, List<String> alsoFloat, Progress progress) {
        List<NodeDecision> nodes = fullPlan.quantizedNodes();
        progress.begin("sensitivity", nodes.size());
        List<Result> out = new ArrayList<>();
        for (NodeDecision d : nodes) {
            if (alsoFloat.contains(d.node())) continue;
            List<String> keep = new ArrayList<>(alsoFloat);
            keep.add(d.node());
            out.add(evaluate(d.node() + " (" + d.opType() + ")", ranges, keep));
            progress.advance(1);
        }
        progress.end();
        out.sort((a, b) -> Double.compare(b.cosine(), a.cosine()));
        return out;
    }

    @Override
    public void close() {
        evalFeeds.clear();
        evalReference.clear();
    }
}
