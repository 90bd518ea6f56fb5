package io.quantbridge.calib;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.table.TensorRange;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.stream.IntStream;

/**
 * Calibration statistics of many tensors: one {@link Histogram} of |x| (with signed min/max) per tensor name, in the
 * order the tensors were first observed.
 *
 * <p>Memory is bounded by the number of tensors, not the number of samples: each histogram holds at most
 * {@code maxBins} counters (default 16 x {@code bins}) however many values it sees.
 *
 * <p><b>Threads.</b> Every method is thread-safe: observing different tensors proceeds in parallel, observing the same
 * tensor from several threads is serialised on that tensor's histogram. For the least contention a calibration loop
 * can instead give each worker thread its own {@code TensorStatistics} and {@link #merge(TensorStatistics) merge} them
 * at the end; the merged histograms do not depend on the merge order (see {@link Histogram}).
 *
 * <p>Typical use:
 * <pre>{@code
 * TensorStatistics stats = new TensorStatistics(spec.bins());
 * for (each sample) for (each activation) stats.observe(name, values, 0, values.length);
 * List<TensorRange> ranges = stats.ranges(spec);
 * }</pre>
 */
public final class TensorStatistics {
    private final int bins;
    private final int maxBins;
    /** Guarded by itself; the histograms are guarded by their own monitors. */
    private final Map<String, Histogram> histograms = new LinkedHashMap<>();

    /** Histograms of {@value Histogram#DEFAULT_BINS} bins, capped at 16 times that. */
    public TensorStatistics() {
        this(Histogram.DEFAULT_BINS);
    }

    /** Histograms of {@code bins} bins, capped at 16 times that. */
    public TensorStatistics(int bins) {
        this(bins, Histogram.defaultCap(bins));
    }

    /** Histograms of {@code bins} bins that never grow beyond {@code maxBins} bins. */
    public TensorStatistics(int bins, int maxBins) {
        new Histogram(bins, maxBins); // validates
        this.bins = bins;
        this.maxBins = maxBins;
    }

    /** Statistics with the histogram size {@code spec} asks for ({@link CalibratorSpec#bins()}). */
    public static TensorStatistics forSpec(CalibratorSpec spec) {
        return new TensorStatistics(spec.bins());
    }

    /** Adds every value of {@code data} to the statistics of {@code tensor}. */
    public void observe(String tensor, float[] data) {
        observe(tensor, data, 0, data.length);
    }

    /**
     * Adds {@code data[off .. off+len)} to the statistics of {@code tensor}.
     *
     * @throws QuantbridgeException if a value is NaN or infinite, naming the tensor; its statistics are unchanged
     */
    public void observe(String tensor, float[] data, int off, int len) {
        Histogram h = histogramFor(tensor);
        try {
            synchronized (h) {
                h.add(data, off, len);
            }
        } catch (NonFiniteValueException e) {
            throw nonFinite(tensor, e);
        }
    }

    /**
     * Adds the remaining values of {@code data} (its position is not moved) to the statistics of {@code tensor}.
     *
     * @throws QuantbridgeException if a value is NaN or infinite, naming the tensor; its statistics are unchanged
     */
    public void observe(String tensor, FloatBuffer data) {
        Histogram h = histogramFor(tensor);
        try {
            synchronized (h) {
                h.add(data);
            }
        } catch (NonFiniteValueException e) {
            throw nonFinite(tensor, e);
        }
    }

    private static QuantbridgeException nonFinite(String tensor, NonFiniteValueException e) {
        return new QuantbridgeException("calibration data produced a non-finite value (" + e.describe()
                + ") in tensor '" + tensor + "'", e);
    }

    private Histogram histogramFor(String tensor) {
        Objects.requireNonNull(tensor, "tensor");
        synchronized (histograms) {
            return histograms.computeIfAbsent(tensor, t -> new Histogram(bins, maxBins));
        }
    }

    /**
     * Adds everything {@code other} has observed. Tensors new to this object are appended in {@code other}'s order.
     * {@code other} is not changed; it may be observed concurrently (what it holds at the time of the snapshot of each
     * tensor is merged).
     */
    public void merge(TensorStatistics other) {
        for (Map.Entry<String, Histogram> e : other.snapshot().entrySet()) {
            Histogram h = histogramFor(e.getKey());
            synchronized (h) {
                h.merge(e.getValue());
            }
        }
    }

    /**
     * Empty statistics for the same tensors, each histogram with this one's bin width already fixed
     * ({@link Histogram#emptyLike}): what parallel observers fill from such copies merges back exactly.
     */
    public TensorStatistics emptyLike() {
        TensorStatistics t = new TensorStatistics(bins, maxBins);
        for (Map.Entry<String, Histogram> e : snapshot().entrySet()) {
            t.histograms.put(e.getKey(), e.getValue().emptyLike());
        }
        return t;
    }

    /**
     * Sets the statistics of {@code tensor} to a copy of {@code histogram} (a histogram derived from others, such as
     * {@link Histogram#scaledSum}), replacing what was observed for it; a new tensor is appended to the order.
     */
    public void put(String tensor, Histogram histogram) {
        Objects.requireNonNull(tensor, "tensor");
        Histogram copy = histogram.copy();
        synchronized (histograms) {
            histograms.put(tensor, copy);
        }
    }

    /** Consistent copies of the histograms, in order. Never holds two locks at once. */
    private Map<String, Histogram> snapshot() {
        List<Map.Entry<String, Histogram>> live;
        synchronized (histograms) {
            live = new ArrayList<>(histograms.entrySet());
        }
        Map<String, Histogram> copies = new LinkedHashMap<>();
        for (Map.Entry<String, Histogram> e : live) {
            Histogram h = e.getValue();
            synchronized (h) {
                copies.put(e.getKey(), h.copy());
            }
        }
        return copies;
    }

    /** The tensor names, in the order they were first observed. */
    public List<String> names() {
        synchronized (histograms) {
            return List.copyOf(histograms.keySet());
        }
    }

    /** Whether {@code tensor} has been observed. */
    public boolean contains(String tensor) {
        synchronized (histograms) {
            return histograms.containsKey(tensor);
        }
    }

    /** The number of tensors observed. */
    public int size() {
        synchronized (histograms) {
            return histograms.size();
        }
    }

    /**
     * A copy of the histogram of {@code tensor}.
     *
     * @throws IllegalArgumentException if the tensor has not been observed
     */
    public Histogram histogram(String tensor) {
        Histogram h;
        synchronized (histograms) {
            h = histograms.get(tensor);
        }
        if (h == null) throw new IllegalArgumentException("no calibration statistics for tensor '" + tensor + "'");
        synchronized (h) {
            return h.copy();
        }
    }

    /**
     * Runs the calibrator {@code spec} describes on every tensor (in parallel) and returns
     * {@code TensorRange.symmetric(name, amax, min, max)} for each, in the order the tensors were first observed.
     * A tensor that was registered but saw no values gets amax 0 and NaN min/max. {@link CalibratorSpec#bins()} is
     * not consulted here: the histograms are as they were built.
     */
    public List<TensorRange> ranges(CalibratorSpec spec) {
        Calibrator calibrator = spec.create();
        List<Map.Entry<String, Histogram>> entries = new ArrayList<>(snapshot().entrySet());
        return IntStream.range(0, entries.size()).parallel()
                .mapToObj(i -> {
                    String name = entries.get(i).getKey();
                    Histogram h = entries.get(i).getValue();
                    return TensorRange.symmetric(name, calibrator.amax(h), h.min(), h.max());
                })
                .toList();
    }

    @Override
    public String toString() {
        return "TensorStatistics" + names();
    }
}
