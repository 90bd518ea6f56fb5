package io.quantbridge.onnx.runtime;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.Progress;
import io.quantbridge.calib.CalibratorSpec;
import io.quantbridge.calib.Histogram;
import io.quantbridge.calib.TensorStatistics;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.proto.Onnx;
import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.util.Workers;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Runs calibration samples through ONNX Runtime with the tensors to calibrate exposed as extra graph outputs, and
 * streams every tensor into its histogram as soon as it arrives. Memory does not grow with the number of samples:
 * each worker holds one sample's outputs at a time and one histogram per tensor.
 *
 * <p>Parallelism: {@code workers} threads each run whole samples with a single-threaded ONNX Runtime session, so
 * that the forward pass and the histogram work of different samples overlap on all cores. Sample 0 is observed
 * first, alone: it fixes the bin width of every histogram. Worker {@code w} then takes samples
 * {@code 1 + w, 1 + w + workers, ...} into empty copies with those widths, and histograms of equal width merge by
 * summing counts; per-channel means are summed per sample in sample order. So the result is the same for any number of
 * workers and any thread timing (exactly, except for a tensor whose sample 0 was all zeros: its width is then set by
 * each worker's first non-zero sample, and merging rebins). Memory: one sample's channel sums per sample index.
 */
public final class ActivationObserver {
    /** Loads sample {@code index}; called from worker threads. */
    @FunctionalInterface
    public interface SampleLoader {
        Map<String, FloatTensor> load(int index);
    }

    private final Onnx.ModelProto model;
    private final String modelLabel;
    private final Set<String> tensors;
    private final int workers;
    private final CalibratorSpec spec;

    /**
     * @param model   the (constant-folded) float model
     * @param tensors names of float tensors to observe: graph inputs, initializers excluded
     * @param spec    the calibrator, for its histogram size
     * @param workers threads; 0 = the number of available processors
     */
    public ActivationObserver(Onnx.ModelProto model, Set<String> tensors, CalibratorSpec spec, int workers) {
        this(model, "model", tensors, spec, workers);
    }

    /** As {@link #ActivationObserver(Onnx.ModelProto, Set, CalibratorSpec, int)}; errors name the model's file. */
    public ActivationObserver(OnnxModel model, Set<String> tensors, CalibratorSpec spec, int workers) {
        this(model.proto(), model.label(), tensors, spec, workers);
    }

    private ActivationObserver(Onnx.ModelProto model, String label, Set<String> tensors, CalibratorSpec spec,
                               int workers) {
        this.spec = spec;
        this.model = model;
        this.modelLabel = label;
        this.tensors = new LinkedHashSet<>(tensors);
        this.workers = workers > 0 ? workers : Runtime.getRuntime().availableProcessors();
    }

    /** The model with every observed tensor that is not already an output added as a float graph output. */
    public static Onnx.ModelProto withOutputs(Onnx.ModelProto model, Set<String> tensors) {
        Onnx.GraphProto.Builder g = model.getGraph().toBuilder();
        Set<String> present = new HashSet<>();
        g.getOutputList().forEach(o -> present.add(o.getName()));
        Set<String> graphInputs = new HashSet<>();
        g.getInputList().forEach(i -> graphInputs.add(i.getName()));
        for (String t : tensors) {
            if (present.contains(t) || graphInputs.contains(t)) continue;
            g.addOutput(Onnx.ValueInfoProto.newBuilder().setName(t).setType(Onnx.TypeProto.newBuilder()
                    .setTensorType(Onnx.TypeProto.Tensor.newBuilder().setElemType(Onnx.TensorProto.DataType.FLOAT_VALUE))));
        }
        return model.toBuilder().setGraph(g).build();
    }

    /** Observes {@code count} samples and returns the merged statistics, tensors in the order given. */
    public TensorStatistics observe(int count, SampleLoader loader, Progress progress) {
        List<TensorStatistics> perWorker = run(tensors, count, loader, progress, "calibrating",
                () -> TensorStatistics.forSpec(spec), TensorStatistics::emptyLike,
                (stats, sample, name, shape, data) -> stats.observe(name, data, sample));
        TensorStatistics merged = perWorker.get(0);
        for (int i = 1; i < perWorker.size(); i++) merged.merge(perWorker.get(i));
        return merged;
    }

    /**
     * What {@link #observe(int, SampleLoader, Request, Progress)} collects in one pass: a per-tensor histogram (of the
     * calibrator's size) of each tensor in {@code tensors}; per-channel statistics (axis 1: largest |x|, and the mean
     * where asked) of each tensor in {@code channelMeans} and {@code channelHistograms}, the latter also with a
     * histogram of |x| per channel of {@code channelBins} bins, capped at {@code channelMaxBins}. A tensor may be in
     * several sets.
     */
    public record Request(Set<String> tensors, Set<String> channelMeans, Set<String> channelHistograms,
                          int channelBins, int channelMaxBins) {
        public Request {
            tensors = new LinkedHashSet<>(tensors);
            channelMeans = Set.copyOf(channelMeans);
            channelHistograms = Set.copyOf(channelHistograms);
        }

        /** Every tensor to fetch, per-tensor ones first, in order. */
        Set<String> all() {
            Set<String> all = new LinkedHashSet<>(tensors);
            all.addAll(channelHistograms);
            all.addAll(channelMeans);
            return all;
        }
    }

    /** What one pass collected: per-tensor histograms, and per-channel statistics by tensor name. */
    public record Observation(TensorStatistics tensors, Map<String, ChannelStats> channels) { }

    /**
     * Observes {@code count} samples once, collecting what {@code request} asks for (the tensors passed to the
     * constructor are not used). Same worker layout and guarantees as {@link #observe(int, SampleLoader, Progress)}.
     * {@code label} names the pass in the progress output.
     */
    public Observation observe(int count, SampleLoader loader, Request request, String label, Progress progress) {
        List<Observation> perWorker = run(request.all(), count, loader, progress, label,
                () -> new Observation(TensorStatistics.forSpec(spec), new LinkedHashMap<>()),
                first -> new Observation(first.tensors().emptyLike(), emptyLike(first.channels())),
                (acc, sample, name, shape, data) -> {
                    if (request.tensors().contains(name)) acc.tensors().observe(name, data, sample);
                    boolean histograms = request.channelHistograms().contains(name);
                    boolean means = request.channelMeans().contains(name);
                    if ((histograms || means) && shape.length >= 2 && shape[1] > 0) {
                        acc.channels().computeIfAbsent(name, k -> new ChannelStats((int) shape[1],
                                histograms ? request.channelBins() : 0, histograms ? request.channelMaxBins() : 0,
                                means)).add(shape, data, name, sample);
                    }
                });
        Observation merged = perWorker.get(0);
        for (int i = 1; i < perWorker.size(); i++) {
            merged.tensors().merge(perWorker.get(i).tensors());
            mergeInto(merged.channels(), perWorker.get(i).channels());
        }
        return merged;
    }

    private static Map<String, ChannelStats> emptyLike(Map<String, ChannelStats> first) {
        Map<String, ChannelStats> m = new LinkedHashMap<>();
        first.forEach((k, v) -> m.put(k, v.emptyLike()));
        return m;
    }

    private static void mergeInto(Map<String, ChannelStats> merged, Map<String, ChannelStats> other) {
        for (Map.Entry<String, ChannelStats> e : other.entrySet()) {
            ChannelStats m = merged.get(e.getKey());
            if (m == null) merged.put(e.getKey(), e.getValue()); else m.merge(e.getValue());
        }
    }

    /**
     * Per-channel (axis 1) statistics of one tensor: the largest |x| of each channel, optionally its mean, and
     * optionally a histogram of |x| per channel.
     */
    public static final class ChannelStats {
        private final float[] absMax;
        /** Channel sums of each sample, by sample index: added up in index order, so that means do not depend on
         *  which worker saw which sample; null when means are not asked for. */
        private final java.util.TreeMap<Integer, double[]> sums;
        private final Histogram[] histograms;
        private long perChannel;

        ChannelStats(int channels, int bins) {
            this(channels, bins, bins > 0 ? bins * Histogram.DEFAULT_CAP_FACTOR : 0, true);
        }

        ChannelStats(int channels, int bins, int maxBins, boolean means) {
            absMax = new float[channels];
            sums = means ? new java.util.TreeMap<>() : null;
            histograms = bins > 0 ? new Histogram[channels] : null;
            if (histograms != null) for (int c = 0; c < channels; c++) histograms[c] = new Histogram(bins, maxBins);
        }

        private ChannelStats(ChannelStats first) {
            absMax = new float[first.absMax.length];
            sums = first.sums == null ? null : new java.util.TreeMap<>();
            histograms = first.histograms == null ? null : new Histogram[first.histograms.length];
            if (histograms != null) {
                for (int c = 0; c < histograms.length; c++) histograms[c] = first.histograms[c].emptyLike();
            }
        }

        /** Empty statistics whose channel histograms have this one's bin widths (see {@link Histogram#emptyLike}). */
        ChannelStats emptyLike() {
            return new ChannelStats(this);
        }

        /** The histogram of channel {@code c}, or null when this tensor has none. */
        public Histogram histogram(int c) {
            return histograms == null ? null : histograms[c];
        }

        /** The channel histograms in channel order (empty when this tensor has none). */
        public List<Histogram> histograms() {
            return histograms == null ? List.of() : List.of(histograms);
        }

        public int channels() {
            return absMax.length;
        }

        public float[] absMax() {
            if (histograms == null) return absMax.clone();
            float[] a = new float[histograms.length];
            for (int c = 0; c < a.length; c++) a[c] = (float) histograms[c].absMax();
            return a;
        }

        /** The mean of each channel over every sample and position seen (zeros when means were not asked for). */
        public float[] mean() {
            double[] total = new double[absMax.length];
            if (sums != null) for (double[] s : sums.values()) for (int c = 0; c < total.length; c++) total[c] += s[c];
            float[] m = new float[total.length];
            for (int c = 0; c < m.length; c++) m[c] = perChannel == 0 ? 0 : (float) (total[c] / perChannel);
            return m;
        }

        /**
         * Adds one sample's values ({@code data} from its position to its limit; the position is not moved). Each
         * channel block is copied out once into a per-thread array (at most a few hundred KiB: it stays in the L2
         * cache while its histogram, sum and |x| max read it), rather than the whole tensor first.
         */
        void add(long[] shape, FloatBuffer data, String name, int sample) {
            int ch = absMax.length;
            int len = data.remaining();
            int start = data.position();
            if (shape[1] != ch) {
                throw new QuantbridgeException("tensor " + name + " changed its channel count from " + ch + " to "
                        + shape[1] + " between samples");
            }
            int inner = 1;
            for (int d = 2; d < shape.length; d++) inner *= (int) shape[d];
            int outer = len / (ch * inner);
            double[] sum = sums == null ? null : sums.computeIfAbsent(sample, k -> new double[ch]);
            float[] block = ChannelBlocks.scratch(inner);
            for (int o = 0; o < outer; o++) {
                for (int c = 0; c < ch; c++) {
                    data.get(start + (o * ch + c) * inner, block, 0, inner);
                    if (histograms != null) histograms[c].add(block, 0, inner); // also keeps |x| max
                    if (sum != null) sum[c] += ChannelBlocks.sumAndAbsMax(block, 0, inner, absMax, c);
                    else if (histograms == null) ChannelBlocks.sumAndAbsMax(block, 0, inner, absMax, c);
                }
            }
            perChannel += (long) outer * inner;
        }

        void merge(ChannelStats o) {
            for (int c = 0; c < absMax.length; c++) {
                absMax[c] = Math.max(absMax[c], o.absMax[c]);
                if (histograms != null) histograms[c].merge(o.histograms[c]);
            }
            if (sums != null) {
                o.sums.forEach((k, v) -> {
                    double[] mine = sums.computeIfAbsent(k, x -> new double[v.length]);
                    for (int c = 0; c < v.length; c++) mine[c] += v[c];
                });
            }
            perChannel += o.perChannel;
        }
    }

    /**
     * Per-channel statistics (axis 1) of each observed tensor over {@code count} samples; tensors of rank below 2 are
     * left out. Tensors in {@code withHistograms} also get a histogram per channel of {@code bins} bins.
     */
    public Map<String, ChannelStats> channelStatistics(int count, SampleLoader loader, Set<String> withHistograms,
                                                       int bins, Progress progress) {
        List<Map<String, ChannelStats>> perWorker = run(tensors, count, loader, progress, "channel statistics",
                LinkedHashMap::new, ActivationObserver::emptyLike, (acc, sample, name, shape, data) -> {
                    if (shape.length < 2 || shape[1] <= 0) return;
                    acc.computeIfAbsent(name, k -> new ChannelStats((int) shape[1],
                            withHistograms.contains(name) ? bins : 0)).add(shape, data, name, sample);
                });
        Map<String, ChannelStats> merged = perWorker.get(0);
        for (int i = 1; i < perWorker.size(); i++) mergeInto(merged, perWorker.get(i));
        return merged;
    }

    /** What a worker does with each fetched tensor of a sample ({@code data}: its values, from position 0). */
    @FunctionalInterface
    private interface Accumulate<A> {
        void add(A accumulator, int sample, String name, long[] shape, FloatBuffer data);
    }

    /** Runs the samples on all workers; one accumulator per worker, in worker order. */
    private <A> List<A> run(Set<String> observed, int count, SampleLoader loader, Progress progress, String label,
                            java.util.function.Supplier<A> fresh, java.util.function.UnaryOperator<A> like,
                            Accumulate<A> accumulate) {
        if (count <= 0) {
            throw new QuantbridgeException("calibration data is empty: no samples to observe");
        }
        Set<String> graphInputs = new HashSet<>();
        model.getGraph().getInputList().forEach(i -> graphInputs.add(i.getName()));
        Set<String> fetched = new LinkedHashSet<>();
        for (String t : observed) if (!graphInputs.contains(t)) fetched.add(t);

        byte[] bytes = withOutputs(model, fetched).toByteArray();
        int n = Math.min(workers, count);
        progress.begin(label, count);
        List<A> perWorker = new ArrayList<>();
        try (OrtModelSession session = OrtModelSession.open(bytes,
                modelLabel + " (with its observed tensors as outputs, for calibration)", 1)) {
            // sample 0 alone first: it fixes every histogram's bin width, the workers start from empty copies with
            // those widths, and equal widths merge exactly, so the result is the same for any number of workers
            A first = fresh.get();
            OrtModelSession.OutputBuffers sample0 = new OrtModelSession.OutputBuffers();
            try {
                observeSample(0, first, loader, accumulate, observed, graphInputs, fetched, session, sample0);
            } catch (RuntimeException e) {
                sample0.close();
                throw e;
            }
            progress.advance(1);
            perWorker.add(first);
            int workers = fittingWorkers(n, sample0);
            // worker 0 goes on with sample 0's pinned buffers, the others start with buffers pinned to the same
            // outputs (all made here, before any worker runs); each worker closes its own
            List<OrtModelSession.OutputBuffers> own = new ArrayList<>();
            try {
                for (int w = 0; w < workers && count > 1; w++) own.add(w == 0 ? sample0 : sample0.sameShapes());
            } catch (RuntimeException e) {
                if (own.isEmpty()) sample0.close();
                own.forEach(OrtModelSession.OutputBuffers::close); // sample0 among them
                throw e;
            }
            if (own.isEmpty()) sample0.close();
            // every worker has returned before the session closes (Workers), even when one of them failed
            perWorker.addAll(Workers.run("quantbridge-calibration", "calibration", own.size(), w -> stop -> {
                try (OrtModelSession.OutputBuffers buffers = own.get(w)) {
                    return work(count, loader, progress, () -> like.apply(first), accumulate, observed,
                            graphInputs, fetched, workers, w, stop, session, buffers);
                }
            }));
        }
        progress.end();
        return perWorker;
    }

    /**
     * How many of {@code n} workers to run: each pins its own copy of the observed tensors in direct memory, so no
     * more than the direct memory left can hold (with a tenth to spare for the input tensors), and one when sample 0's
     * outputs could not be pinned at all (each run then copies them into the heap instead). Histograms merge exactly,
     * so fewer workers give the same result, only later.
     */
    static int fittingWorkers(int n, OrtModelSession.OutputBuffers sample0) {
        long per = sample0.pinnedBytes();
        if (per == 0) return sample0.isUnpinnable() ? 1 : n;
        long room = (long) (DirectMemory.headroom() * 0.9);
        return (int) Math.max(1, Math.min(n, 1 + room / per));
    }

    /** One worker: samples worker, worker + n, ... into a fresh accumulator. */
    private <A> A work(int count, SampleLoader loader, Progress progress, java.util.function.Supplier<A> fresh,
                       Accumulate<A> accumulate, Set<String> observed, Set<String> graphInputs,
                       Set<String> fetched, int n, int worker, Workers stop, OrtModelSession session,
                       OrtModelSession.OutputBuffers buffers) {
        A acc = fresh.get();
        // samples 1 + worker, 1 + worker + n, ...; histograms start with the widths sample 0 fixed
        for (int i = 1 + worker; i < count && !stop.stopped(); i += n) {
            observeSample(i, acc, loader, accumulate, observed, graphInputs, fetched, session, buffers);
            progress.advance(1);
        }
        return acc;
    }

    private <A> void observeSample(int i, A acc, SampleLoader loader, Accumulate<A> accumulate, Set<String> observed,
                                   Set<String> graphInputs, Set<String> fetched, OrtModelSession session,
                                   OrtModelSession.OutputBuffers buffers) {
        Map<String, FloatTensor> feed = loader.load(i);
        for (String in : graphInputs) {
            FloatTensor t = feed.get(in);
            if (t != null && observed.contains(in)) {
                accumulate.add(acc, i, in, t.shape(), FloatBuffer.wrap(t.data(), 0, t.size()));
            }
        }
        if (!fetched.isEmpty()) { // only graph inputs observed: nothing to run
            session.runStreaming(feed, fetched, (name, shape, data) -> accumulate.add(acc, i, name, shape, data),
                    buffers);
        }
    }
}
