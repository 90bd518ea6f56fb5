package io.quantbridge.tflite;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.Progress;
import io.quantbridge.calib.CalibratorSpec;
import io.quantbridge.calib.TensorStatistics;
import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.util.Workers;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Set;
import java.util.TreeMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tensorflow.lite.schema.OperatorT;
import org.tensorflow.lite.schema.TensorT;
import org.tensorflow.lite.schema.TensorType;

/**
 * Runs calibration samples through the TFLite interpreter with every tensor preserved and streams each float
 * activation (graph inputs and operator outputs) into its histogram right after the run. Memory does not grow with
 * the number of samples: each worker holds one interpreter (whose tensors are overwritten by every run), one scratch
 * array and one histogram per tensor.
 *
 * <p>Worker {@code w} of {@code n} runs samples {@code w, w + n, ...} in its own single-threaded interpreter; the
 * per-worker statistics are merged in worker order, so a run is reproducible for a given number of workers.
 */
final class TfliteObserver {
    /** Loads sample {@code index} as model inputs; called from worker threads. */
    @FunctionalInterface
    interface SampleLoader {
        Map<String, FloatTensor> load(int index);
    }

    private final TfliteModel model;
    private final byte[] bytes;
    private final int workers;
    private final CalibratorSpec spec;
    /** tensor index -> unique statistics key */
    private final Map<Integer, String> keys;

    TfliteObserver(TfliteModel model, CalibratorSpec spec, int workers) {
        this.model = model;
        this.bytes = model.toBytes();
        this.spec = spec;
        this.workers = workers > 0 ? workers : Runtime.getRuntime().availableProcessors();
        this.keys = observedTensors(model);
    }

    /** The float32 activations of the main subgraph (graph inputs, then op outputs in order) with unique keys. */
    static Map<Integer, String> observedTensors(TfliteModel model) {
        Map<Integer, String> keys = new LinkedHashMap<>();
        Map<String, Integer> seen = new java.util.HashMap<>();
        List<Integer> order = new ArrayList<>();
        for (int i : model.main().getInputs()) order.add(i);
        for (OperatorT op : model.operators()) for (int o : op.getOutputs()) order.add(o);
        for (int i : order) {
            TensorT t = model.tensor(i);
            if (t.getType() != TensorType.FLOAT32 || model.isConstant(i) || keys.containsKey(i)) continue;
            String name = t.getName() == null || t.getName().isEmpty() ? "tensor#" + i : t.getName();
            if (seen.containsKey(name)) name = name + "#" + i;
            seen.put(name, i);
            keys.put(i, name);
        }
        return keys;
    }

    Map<Integer, String> keys() {
        return keys;
    }

    TensorStatistics observe(int count, SampleLoader loader, Progress progress) {
        return observe(count, loader, progress, Set.of(), null).statistics();
    }

    /** GPTQ patch statistics to gather in the pass: the ops, the seed of the positions, and which samples feed it. */
    record GptqRequest(TfliteGptq.Plan plan, long seed, Set<Integer> samples) { }

    /**
     * What one pass gives: the histograms of every observed tensor, and the mean of each channel (last axis, NHWC)
     * of the tensors asked for, over every sample and position; GPTQ patch statistics when asked for (else null).
     */
    record Observation(TensorStatistics statistics, Map<Integer, float[]> channelMeans, TfliteGptq.Statistics gptq) { }

    /**
     * One pass over the samples: histograms of every observed tensor, and channel means of {@code meanTensors}
     * (observed tensor indices). Channel sums are kept per sample and added up in sample order, so the means do not
     * depend on how many workers there are. With {@code gptq}, the inputs of its ops also feed patch statistics (one
     * set per worker, merged in worker order).
     */
    Observation observe(int count, SampleLoader loader, Progress progress, Set<Integer> meanTensors,
                        GptqRequest gptq) {
        if (count <= 0) throw new QuantbridgeException("calibration data is empty: no samples to observe");
        int n = Math.min(workers, count);
        int[] indices = keys.keySet().stream().mapToInt(Integer::intValue).toArray();
        String[] names = new String[model.main().getTensors().length];
        keys.forEach((i, k) -> names[i] = k);
        progress.begin("calibrating", count);
        List<TensorStatistics> perWorker = new ArrayList<>();
        // tensor index -> sample index -> channel sums (per worker maps, disjoint samples)
        List<Map<Integer, TreeMap<Integer, double[]>>> sumsPerWorker = new ArrayList<>();
        for (int w = 0; w < n; w++) sumsPerWorker.add(new HashMap<>());
        List<TfliteGptq.Statistics> patches = new ArrayList<>();
        for (int w = 0; w < n && gptq != null; w++) patches.add(gptq.plan().newStatistics(gptq.seed(), gptq.samples()));
        // every worker has returned, its interpreter closed, before a failure is thrown (Workers)
        perWorker.addAll(Workers.run("quantbridge-tflite-calibration", "calibration", n, worker -> {
            final Map<Integer, TreeMap<Integer, double[]>> sums = sumsPerWorker.get(worker);
            final TfliteGptq.Statistics workerPatches = gptq == null ? null : patches.get(worker);
            return stop -> {
                TensorStatistics stats = TensorStatistics.forSpec(spec);
                // register in a fixed order so that every worker's statistics list the tensors alike
                for (int idx : indices) stats.observe(names[idx], new float[0], 0, 0);
                try (TfliteSession session = TfliteSession.open(bytes, model.label() + " (calibration)",
                        TfliteSession.Options.calibration())) {
                    for (int i = worker; i < count && !stop.stopped(); i += n) {
                        Map<String, FloatTensor> feed = loader.load(i);
                        final int sample = i;
                        session.runObserving(feed, indices, (idx, data, len) -> {
                            stats.observe(names[idx], data, 0, len, sample);
                            if (meanTensors.contains(idx)) {
                                double[] s = channelSums(idx, data, len);
                                if (s != null) sums.computeIfAbsent(idx, k -> new TreeMap<>()).put(sample, s);
                            }
                            if (workerPatches != null) workerPatches.add(idx, sample, data, len);
                        });
                        progress.advance(1);
                    }
                }
                return stats;
            };
        }));
        TensorStatistics merged = perWorker.get(0);
        for (int i = 1; i < perWorker.size(); i++) merged.merge(perWorker.get(i));
        Map<Integer, float[]> means = new HashMap<>();
        for (int idx : meanTensors) {
            TreeMap<Integer, double[]> bySample = new TreeMap<>();
            for (Map<Integer, TreeMap<Integer, double[]>> w : sumsPerWorker) {
                TreeMap<Integer, double[]> t = w.get(idx);
                if (t != null) bySample.putAll(t);
            }
            if (bySample.size() != count) continue; // some sample had an unexpected shape: no means
            int channels = bySample.firstEntry().getValue().length - 1;
            double[] total = new double[channels + 1];
            for (double[] s : bySample.values()) for (int c = 0; c <= channels; c++) total[c] += s[c];
            float[] m = new float[channels];
            for (int c = 0; c < channels; c++) m[c] = (float) (total[c] / total[channels]);
            means.put(idx, m);
        }
        TfliteGptq.Statistics mergedPatches = patches.isEmpty() ? null : patches.get(0);
        for (int i = 1; i < patches.size(); i++) mergedPatches.merge(patches.get(i));
        progress.end();
        return new Observation(merged, means, mergedPatches);
    }

    /** Sums of each channel (last axis) of one sample, then the count of values per channel; null if the length does
     *  not fit the tensor's channel count. */
    private double[] channelSums(int idx, float[] data, int len) {
        int[] shape = model.tensor(idx).getShape();
        if (shape == null || shape.length < 2) return null;
        int channels = shape[shape.length - 1];
        if (channels <= 0 || len % channels != 0) return null;
        double[] s = new double[channels + 1];
        for (int i = 0; i < len; i += channels) {
            for (int c = 0; c < channels; c++) s[c] += data[i + c];
        }
        s[channels] = len / channels;
        return s;
    }
}
