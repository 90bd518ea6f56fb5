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
    /** The two samples with the largest |x| of each tensor observed with sample indices; guarded by {@code histograms}. */
    private final Map<String, SampleMaxima> maxima = new LinkedHashMap<>();

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

    /**
     * Adds the remaining values of {@code data} (its position is not moved), all from calibration sample
     * {@code sample}, to the statistics of {@code tensor}, and remembers the sample if it is one of the two whose
     * values reach furthest ({@link #sampleOutliers}).
     *
     * @throws QuantbridgeException if a value is NaN or infinite, naming the tensor; its statistics are unchanged
     */
    public void observe(String tensor, FloatBuffer data, int sample) {
        Histogram h = histogramFor(tensor);
        double abs;
        try {
            synchronized (h) {
                abs = h.add(data);
            }
        } catch (NonFiniteValueException e) {
            throw nonFinite(tensor, e);
        }
        noteSample(tensor, abs, sample);
    }

    /** As {@link #observe(String, FloatBuffer, int)} for {@code data[off .. off+len)}. */
    public void observe(String tensor, float[] data, int off, int len, int sample) {
        Histogram h = histogramFor(tensor);
        double abs;
        try {
            synchronized (h) {
                abs = h.add(data, off, len);
            }
        } catch (NonFiniteValueException e) {
            throw nonFinite(tensor, e);
        }
        noteSample(tensor, abs, sample);
    }

    private void noteSample(String tensor, double abs, int sample) {
        if (sample < 0) throw new IllegalArgumentException("sample index " + sample + " is negative");
        synchronized (histograms) {
            maxima.computeIfAbsent(tensor, t -> new SampleMaxima()).add(abs, sample);
        }
    }

    /**
     * A tensor whose range one calibration sample stretches on its own: that sample's largest |x| and the calibrated
     * amax are both at least {@link #OUTLIER_FACTOR} times what every other sample reaches, so the tensor's int8 steps
     * are that much coarser than the other samples need (two bits of its eight lost). On ppocr-det, ellipses.jpg
     * stretches 4 tensors 4.3-6.2x under the max calibrator (leaving it out: held-out cosine 0.9508 -> 0.9587) and
     * one 2.8x under mse, which is not counted (leaving it out: 0.9722 -> 0.9688).
     *
     * @param sample       the sample's index in the order the samples were observed
     * @param sampleAmax   its largest |x|
     * @param othersAmax   the largest |x| of every other sample
     * @param amax         the calibrated amax
     */
    public record SampleOutlier(String tensor, int sample, double sampleAmax, double othersAmax, double amax) { }

    /** How far one sample's largest |x| must exceed every other's to count as an outlier. */
    public static final double OUTLIER_FACTOR = 4;

    /**
     * The tensors of {@code ranges} that one sample stretches ({@link SampleOutlier}), in the order of
     * {@code ranges}; only tensors observed with sample indices, with values other than 0 in at least two samples,
     * are considered.
     */
    public List<SampleOutlier> sampleOutliers(List<TensorRange> ranges) {
        List<SampleOutlier> out = new ArrayList<>();
        synchronized (histograms) {
            for (TensorRange r : ranges) {
                SampleMaxima m = maxima.get(r.name());
                if (m == null || m.second < 0) continue;
                if (m.secondValue > 0 && m.firstValue >= OUTLIER_FACTOR * m.secondValue
                        && r.amax() >= OUTLIER_FACTOR * m.secondValue) {
                    out.add(new SampleOutlier(r.name(), m.first, m.firstValue, m.secondValue, r.amax()));
                }
            }
        }
        return out;
    }

    /**
     * The two samples with the largest |x| of one tensor (value descending, then sample index ascending, so that the
     * result does not depend on the order samples arrive in or which worker saw them).
     */
    private static final class SampleMaxima {
        int first = -1;
        double firstValue;
        int second = -1;
        double secondValue;

        void add(double v, int sample) {
            if (sample == first) {
                firstValue = Math.max(firstValue, v);
                return;
            }
            if (sample == second) {
                secondValue = Math.max(secondValue, v);
                if (before(secondValue, second, firstValue, first)) swap();
                return;
            }
            if (first < 0 || before(v, sample, firstValue, first)) {
                second = first;
                secondValue = firstValue;
                first = sample;
                firstValue = v;
            } else if (second < 0 || before(v, sample, secondValue, second)) {
                second = sample;
                secondValue = v;
            }
        }

        void merge(SampleMaxima o) {
            if (o.first >= 0) add(o.firstValue, o.first);
            if (o.second >= 0) add(o.secondValue, o.second);
        }

        SampleMaxima copy() {
            SampleMaxima c = new SampleMaxima();
            c.merge(this);
            return c;
        }

        private static boolean before(double v, int s, double w, int t) {
            return v > w || v == w && s < t;
        }

        private void swap() {
            int s = first;
            double v = firstValue;
            first = second;
            firstValue = secondValue;
            second = s;
            secondValue = v;
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
        Map<String, SampleMaxima> theirs = new LinkedHashMap<>();
        synchronized (other.histograms) {
            other.maxima.forEach((k, v) -> theirs.put(k, v.copy()));
        }
        synchronized (histograms) {
            theirs.forEach((k, v) -> maxima.computeIfAbsent(k, t -> new SampleMaxima()).merge(v));
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
            maxima.remove(tensor); // derived, not observed: no sample to name
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
