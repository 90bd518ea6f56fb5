package io.quantbridge.onnx.runtime;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.Progress;
import io.quantbridge.calib.CalibratorSpec;
import io.quantbridge.calib.TensorStatistics;
import io.quantbridge.onnx.proto.Onnx;
import io.quantbridge.tensor.FloatTensor;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Runs calibration samples through ONNX Runtime with the tensors to calibrate exposed as extra graph outputs, and
 * streams every tensor into its histogram as soon as it arrives. Memory does not grow with the number of samples:
 * each worker holds one sample's outputs at a time and one histogram per tensor.
 *
 * <p>Parallelism: {@code workers} threads each run whole samples with a single-threaded ONNX Runtime session, so
 * that the forward pass and the histogram work of different samples overlap on all cores. Worker {@code w} takes
 * samples {@code w, w + workers, ...} and the per-worker statistics are merged in worker order, so a run is
 * reproducible for a given number of workers.
 */
public final class ActivationObserver {
    /** Loads sample {@code index}; called from worker threads. */
    @FunctionalInterface
    public interface SampleLoader {
        Map<String, FloatTensor> load(int index);
    }

    private final Onnx.ModelProto model;
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
        this.spec = spec;
        this.model = model;
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
        if (count <= 0) {
            throw new QuantbridgeException("calibration data is empty: no samples to observe");
        }
        Set<String> graphInputs = new HashSet<>();
        model.getGraph().getInputList().forEach(i -> graphInputs.add(i.getName()));
        Set<String> fetched = new LinkedHashSet<>();
        for (String t : tensors) if (!graphInputs.contains(t)) fetched.add(t);

        byte[] bytes = withOutputs(model, fetched).toByteArray();
        int n = Math.min(workers, count);
        progress.begin("calibrating", count);
        AtomicInteger next = new AtomicInteger();
        List<TensorStatistics> perWorker = new ArrayList<>();
        ExecutorService pool = Executors.newFixedThreadPool(n, r -> {
            Thread t = new Thread(r, "quantbridge-calibration");
            t.setDaemon(true);
            return t;
        });
        try (OrtModelSession session = OrtModelSession.open(bytes, "calibration model", 1)) {
            List<Future<TensorStatistics>> futures = new ArrayList<>();
            for (int w = 0; w < n; w++) {
                futures.add(pool.submit(() -> {
                    TensorStatistics stats = TensorStatistics.forSpec(spec);
                    // a fixed stride per worker, merged in worker order: the result depends on the number of
                    // workers but never on thread timing (a histogram's bin width is set by its first batch)
                    int worker = next.getAndIncrement();
                    for (int i = worker; i < count; i += n) {
                        Map<String, FloatTensor> feed = loader.load(i);
                        for (String in : graphInputs) {
                            FloatTensor t = feed.get(in);
                            if (t != null && tensors.contains(in)) stats.observe(in, t.data(), 0, t.size());
                        }
                        session.runStreaming(feed, fetched,
                                (name, shape, data, len) -> stats.observe(name, data, 0, len), true);
                        progress.advance(1);
                    }
                    return stats;
                }));
            }
            for (Future<TensorStatistics> f : futures) perWorker.add(get(f));
        } finally {
            pool.shutdownNow();
        }
        TensorStatistics merged = perWorker.get(0);
        for (int i = 1; i < perWorker.size(); i++) merged.merge(perWorker.get(i));
        progress.end();
        return merged;
    }

    private static <T> T get(Future<T> f) {
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new QuantbridgeException("calibration was interrupted", e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) throw r;
            throw new QuantbridgeException("calibration failed: " + e.getCause(), e.getCause());
        }
    }
}
