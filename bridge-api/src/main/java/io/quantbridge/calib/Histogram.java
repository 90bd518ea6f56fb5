package io.quantbridge.calib;

import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;

/**
 * A histogram of |x| over the values of one tensor, accumulated batch by batch, plus the exact signed minimum, signed
 * maximum, maximum of |x| and total count. Its memory is bounded (at most {@link #maxBins()} counters), whatever the
 * number of values added.
 *
 * <h2>Bins</h2>
 * Bin {@code i} covers {@code [i*w, (i+1)*w)} where {@code w} is {@link #binWidth()}; a value at (or, through
 * rounding, just above) the top of the range {@code binCount()*w} goes into the last bin. The bin index of a value is
 * {@code (int) (|x| * (1/w))}, clamped to the last bin.
 * <ul>
 *   <li><b>Width.</b> The first batch that holds a non-zero value fixes {@code w = absmax(batch) / bins} and creates
 *       {@code bins} bins (default {@value #DEFAULT_BINS}). Batches of zeros only that come before it are counted
 *       (they are kept aside and added to bin 0 when the width is fixed). A histogram made by {@link #emptyLike()}
 *       from one without a width takes the finest power of two that covers the batch in {@code bins} bins, and
 *       keeps its width such a power of two (see {@link #cap()}).</li>
 *   <li><b>Growth.</b> When a later batch goes beyond the range, the width is kept and bins are <em>appended</em>
 *       ({@code binCount = ceil(absMax / w)}); the old counts stay in the low bins. The first range is closed at its
 *       top: a value up to the first batch's absMax that lands at index {@code bins} counts in bin {@code bins - 1},
 *       in any batch. Any other value gets the bin of its own index while values are added (one more bin is kept when
 *       that index is {@code ceil(absMax / w)}, a value at the very top), and the clamp into the last bin is applied
 *       when the histogram is read. So, once the width is fixed, the result does not depend on the order of the
 *       batches. (Clamping as values arrived put a value at the top of the range so far in the last bin, or in a bin
 *       of its own if a batch with a larger value had come first: parallel observers that split the samples
 *       differently disagreed.)</li>
 *   <li><b>Cap.</b> The bin count never exceeds {@link #maxBins()} (a constructor parameter, default 16 x bins). When
 *       it would, the width is doubled (repeatedly) by summing adjacent pairs of bins {@code 2k, 2k+1 -> k}. Bin
 *       boundaries stay aligned, so this is exact: every value stays in the bin it would have been put in had the
 *       histogram been built at the doubled width from the start (up to rounding of the index computation).</li>
 * </ul>
 *
 * <h2>Merging</h2>
 * {@link #merge(Histogram)} adds another histogram. Counts of the same width are summed exactly. Counts of a different
 * width are kept as a separate <em>component</em> (one per distinct width, summed exactly within it), and the
 * histogram as read ({@link #binWidth()}, {@link #counts()}...) is the sum of all components, each rebinned
 * <em>once</em> into the coarsest width (doubled while the range needs more than {@code maxBins} bins), with
 * {@code ceil(absMax / width)} bins. So merging a set of histograms gives identical counts in any order or grouping
 * ({@code a.merge(b)} equals {@code b.merge(a)}; {@code (a+b)+c} equals {@code a+(b+c)}): no rounding depends on the
 * order. Values added after a merge go into the active component (the first one, whose width was fixed first). Up to
 * {@value #MAX_COMPONENTS} extra widths are kept apart (memory: at most that many arrays of at most {@code maxBins}
 * counters); beyond that, all components are collapsed into one and further merges are exact only up to the rebinning
 * rule below.
 *
 * <p>Rebinning rule, from a finer width {@code f} to a coarser width {@code c}:
 * <ul>
 *   <li>if {@code c/f} is an integer {@code k} (within 1e-9 relative; always the case for equal widths and after cap
 *       doubling), fine bin {@code j} goes whole into coarse bin {@code j / k} - exact;</li>
 *   <li>otherwise each fine bin's count is spread over the (at most two) coarse bins it overlaps in proportion to the
 *       overlap, assuming values uniform within the fine bin; counts stay integers by rounding the <em>cumulative</em>
 *       share at each coarse boundary ({@code Math.round(count * overlapFraction)}), so the total is preserved exactly
 *       and no value moves further than one coarse bin.</li>
 * </ul>
 *
 * <h2>Speed</h2>
 * Adding reads the values in chunks of 8192 (copied into a per-thread scratch array unless the batch is that small):
 * each chunk is scanned for the signed minimum and maximum (which also detects NaN and infinities; a batch that holds
 * one leaves the histogram unchanged) and, when that is known to give the same counts as binning after the whole
 * batch, binned at once while it is in the L1 cache; otherwise the batch is binned in a second pass. No boxing, no
 * per-element allocation, no {@code Math.min/max} in the loops.
 *
 * <p>Not thread-safe, not even for reading (the merged view is computed lazily): give each thread its own histogram
 * and {@link #merge(Histogram) merge} them, or lock around it ({@link TensorStatistics} does either).
 */
public final class Histogram {
    /** Bins a histogram starts with when none is given. */
    public static final int DEFAULT_BINS = 2048;
    /** The default cap on the bin count is this many times the initial bin count. */
    public static final int DEFAULT_CAP_FACTOR = 16;

    /** Slack, in bins, when computing how many bins a range needs (absorbs rounding of {@code absMax / w}). */
    private static final double BIN_SLACK = 1e-9;
    /** Relative tolerance under which a width ratio counts as an integer. */
    private static final double RATIO_TOLERANCE = 1e-9;
    /** Chunks of the values being added: 8192 floats (32 KiB) stay in the L1 data cache (48 KiB per core here). */
    private static final int CHUNK = 8 * 1024;
    private static final ThreadLocal<float[]> SCRATCH = ThreadLocal.withInitial(() -> new float[CHUNK]);
    /**
     * Per thread, the second set of counters of {@link #minMaxAndBin} for long batches (element 0, grown as needed;
     * all zero between uses).
     */
    private static final ThreadLocal<long[][]> SECOND_COUNTS = ThreadLocal.withInitial(() -> new long[][] {new long[0]});
    /**
     * A batch is binned two ways when it holds at least this many values per bin, so that adding the second counters
     * into the first (once per batch) costs little against what it saves.
     */
    static final int TWO_WAYS_VALUES_PER_BIN = 16;
    private static final long[] NO_COUNTS = new long[0];
    private static final int[] NO_CHUNKS = new int[0];
    /** Distinct merged widths kept apart before they are collapsed into one (see the class comment). */
    static final int MAX_COMPONENTS = 32;

    private final int bins;
    private final int maxBins;

    private double width;            // 0 until a non-zero value has been seen
    private double inverseWidth;
    /**
     * The first range is closed at its top: a value up to the first batch's absMax ({@code closedTopValue}) whose
     * index at the width that batch fixed is {@code closedTop} (= bins: that absMax, values equal to it, and rounding)
     * counts in the bin below, as TensorRT's histogram puts the max in the last bin, whichever batch it comes in; -1
     * when there is no such rule. The width has been doubled {@code shift} times since (by exact pairs), so the rule
     * applies to bin {@code topBin} of the current width, whose values up to {@code closedTopValue} go to
     * {@code belowTop}.
     */
    private int closedTop = -1;
    private double closedTopValue = -1;
    private int shift;
    private int topBin = -1;
    private int belowTop;
    private long[] counts = NO_COUNTS; // capacity >= binCount; entries at and beyond binCount are 0
    private int binCount;
    private long pendingZeros;       // zeros seen before the width was fixed
    private long total;
    private double min = Double.NaN;
    private double max = Double.NaN;
    private double absMax;
    /** Whether the first non-zero batch fixes the width at a power of two (see {@link #emptyLike}). */
    private boolean powerOfTwoWidth;
    /** Merged-in components whose width differs from the active one; null if none. */
    private List<Part> parts;
    /** Cache of the rebinned sum of the components while there are parts; null when stale. Never modified. */
    private View view;

    /** A histogram that starts with {@value #DEFAULT_BINS} bins, capped at 16 times that. */
    public Histogram() {
        this(DEFAULT_BINS);
    }

    /** A histogram that starts with {@code bins} bins, capped at 16 times that. */
    public Histogram(int bins) {
        this(bins, defaultCap(bins));
    }

    /**
     * A histogram that starts with {@code bins} bins (at least 2) and never holds more than {@code maxBins}
     * (at least {@code bins}) bins.
     */
    public Histogram(int bins, int maxBins) {
        if (bins < 2) throw new IllegalArgumentException("histogram bins: " + bins + " is below 2");
        if (maxBins < bins) {
            throw new IllegalArgumentException("histogram cap: " + maxBins + " is below the " + bins + " bins");
        }
        this.bins = bins;
        this.maxBins = maxBins;
    }

    static int defaultCap(int bins) {
        long cap = (long) bins * DEFAULT_CAP_FACTOR;
        return (int) Math.min(cap, Integer.MAX_VALUE - 8);
    }

    /** A deep copy. */
    public Histogram copy() {
        Histogram h = new Histogram(bins, maxBins);
        h.width = width;
        h.inverseWidth = inverseWidth;
        h.copyRule(this);
        h.counts = binCount == 0 ? NO_COUNTS : Arrays.copyOf(counts, binCount);
        h.binCount = binCount;
        h.pendingZeros = pendingZeros;
        h.total = total;
        h.min = min;
        h.max = max;
        h.absMax = absMax;
        h.powerOfTwoWidth = powerOfTwoWidth;
        if (parts != null) {
            h.parts = new ArrayList<>(parts.size());
            for (Part p : parts) h.parts.add(p.copy());
        }
        h.view = view;
        return h;
    }

    /**
     * An empty histogram with this one's bin width (and bin count) already fixed, so that what is added to it merges
     * with this one exactly ({@link #merge} sums counts of equal widths). Parallel observers start from such copies of
     * a histogram built on one first sample: their merged result is then the same for any number of observers. A
     * histogram that has no width yet (nothing but zeros seen) gives an empty one whose width, when its first
     * non-zero batch fixes it, is rounded up to a power of two: each observer's copy may see another first batch, and
     * widths that are powers of two apart merge exactly, so the result still does not depend on how the samples were
     * split (with widths fixed freely, copies took different widths and their merge spread counts approximately).
     */
    public Histogram emptyLike() {
        Histogram h = new Histogram(bins, maxBins);
        h.powerOfTwoWidth = width == 0 || powerOfTwoWidth;
        if (width != 0) {
            h.setWidth(width);
            h.copyRule(this);
            h.binCount = Math.max(binCount, 1);
            h.counts = new long[h.binCount];
        }
        return h;
    }

    // ------------------------------------------------------------------------------------------------ adding

    /** Adds every value of {@code data}; returns their largest |x| (0 when there are none). */
    public double add(float[] data) {
        return add(data, 0, data.length);
    }

    /**
     * Adds {@code data[offset .. offset+length)}; returns their largest |x| (0 when there are none).
     *
     * @throws NonFiniteValueException if a value is NaN or infinite; the histogram is then unchanged
     */
    public double add(float[] data, int offset, int length) {
        Objects.checkFromIndexSize(offset, length, data.length);
        if (length == 0) return 0;
        if (length <= CHUNK) {
            return addValues(data, null, offset, length);
        }
        return addValues(null, FloatBuffer.wrap(data), offset, length);
    }

    /**
     * Adds the remaining values of {@code buffer} (from its position to its limit) without moving its position;
     * returns their largest |x| (0 when there are none).
     *
     * @throws NonFiniteValueException if a value is NaN or infinite; the histogram is then unchanged
     */
    public double add(FloatBuffer buffer) {
        int length = buffer.remaining();
        if (length == 0) return 0;
        int position = buffer.position();
        if (buffer.hasArray() && length <= CHUNK) {
            return addValues(buffer.array(), null, buffer.arrayOffset() + position, length);
        }
        return addValues(null, buffer, position, length);
    }

    /**
     * Adds {@code length} values from {@code start}: read in place from {@code array} (at most {@value #CHUNK} of
     * them), or else copied from {@code source} chunk by chunk into a per-thread scratch array. Once the width is
     * fixed, each chunk is scanned for its min/max and binned in the same loop, while it is in the L1 cache: on
     * ppocr-det (tensors of up to 26 MB, out of cache) reading each value once cut the cost per value from 5.0 ns (a
     * copy into an array, a min/max pass, a binning pass) to about 2 ns.
     *
     * <p>Binning before the whole batch has been scanned counts every value as binning after it would, except where
     * the batch changes the bins: a chunk with a value beyond the last bin counted it (clamped) in the last bin, which
     * is right only if the batch appends no bins, so such chunks are noted and, if it does, uncounted and binned again
     * after the bins were appended; if the batch doubles the width, the whole batch is uncounted and binned again; a
     * batch with a non-finite value uncounts everything it counted and throws.
     */
    private double addValues(float[] array, FloatBuffer source, int start, int length) {
        float[] chunk = array != null ? array : SCRATCH.get();
        boolean counted = width != 0; // whether the chunks are counted as they are read
        int[] clamped = NO_CHUNKS;     // offsets of counted chunks with a value beyond the last bin
        int clampedCount = 0;
        float mn = Float.POSITIVE_INFINITY;
        float mx = Float.NEGATIVE_INFINITY;
        long[] second = counted && length >= (long) TWO_WAYS_VALUES_PER_BIN * binCount ? secondCounts(binCount) : null;
        try {
            for (int done = 0; done < length; done += CHUNK) {
                int n = Math.min(CHUNK, length - done);
                int off = read(array, source, chunk, start + done, n);
                long packed = !counted ? minMax(chunk, off, n)
                        : minMaxAndBin(chunk, off, n, second != null ? second : counts);
                float cmn = unpackMin(packed);
                float cmx = unpackMax(packed);
                if (!Float.isFinite(cmn) || !Float.isFinite(cmx)) {
                    float bad = firstNonFinite(chunk, off, n); // before the scratch is reused
                    if (second != null) {
                        addSecondCounts(second);
                        second = null;
                    }
                    if (counted) unbinRange(array, source, chunk, start, done + n);
                    throw new NonFiniteValueException(bad);
                }
                if (counted && index(Math.max(-(double) cmn, (double) cmx)) >= binCount) {
                    if (clampedCount == clamped.length) {
                        clamped = Arrays.copyOf(clamped, Math.max(8, 2 * clampedCount));
                    }
                    clamped[clampedCount++] = done;
                }
                // strict comparisons: of equal values (0 and -0) the first one seen wins, as in one pass over the batch
                if (cmn < mn) mn = cmn;
                if (cmx > mx) mx = cmx;
            }
        } finally {
            if (second != null) addSecondCounts(second); // before anything reads or reshapes the bins
        }
        if (counted) {
            double batchAbs = Math.max(-(double) mn, (double) mx);
            if (binsToHold(batchAbs) <= binCount) { // the bins stay as they are: every count is final
                record(mn, mx, length);
                return batchAbs;
            }
            if (binsNeeded(batchAbs, width) > cap()) { // the width will double
                unbinRange(array, source, chunk, start, length);
                counted = false;
            } else {
                for (int i = 0; i < clampedCount; i++) {
                    int n = Math.min(CHUNK, length - clamped[i]);
                    unbin(chunk, read(array, source, chunk, start + clamped[i], n), n);
                }
            }
        }
        double batchAbs = Math.max(-(double) mn, (double) mx);
        if (!prepare(mn, mx, length)) return batchAbs;
        if (counted) {
            for (int i = 0; i < clampedCount; i++) {
                int n = Math.min(CHUNK, length - clamped[i]);
                bin(chunk, read(array, source, chunk, start + clamped[i], n), n);
            }
        } else {
            for (int done = 0; done < length; done += CHUNK) {
                int n = Math.min(CHUNK, length - done);
                bin(chunk, read(array, source, chunk, start + done, n), n);
            }
        }
        return batchAbs;
    }

    /** Where chunk {@code [index, index+n)} of the values is: in place in {@code array}, or copied into the scratch. */
    private static int read(float[] array, FloatBuffer source, float[] scratch, int index, int n) {
        if (array != null) return index;
        source.get(index, scratch, 0, n);
        return 0;
    }

    /** Uncounts the {@code length} values from {@code start} (counted by {@link #minMaxAndBin}). */
    private void unbinRange(float[] array, FloatBuffer source, float[] chunk, int start, int length) {
        for (int done = 0; done < length; done += CHUNK) {
            int n = Math.min(CHUNK, length - done);
            unbin(chunk, read(array, source, chunk, start + done, n), n);
        }
    }

    /**
     * Signed min and max of the range, packed into a long (min in the high half); both NaN if a value is NaN. An
     * infinity shows as an infinite min or max. Plain comparisons (rarely taken branches) rather than
     * {@code Math.min/max}, whose NaN handling makes each step of the chain several times slower. NaN, which fails
     * every comparison, is caught on the rare branch of the max: a value that is neither {@code <= mx} nor
     * {@code > mx} is NaN (one comparison per value instead of a separate {@code v != v}: 1.3 instead of 1.75 ns per
     * value in {@link #minMaxAndBin} on ppocr-det).
     */
    private static long minMax(float[] data, int offset, int length) {
        float mn = Float.POSITIVE_INFINITY;
        float mx = Float.NEGATIVE_INFINITY;
        boolean nan = false;
        for (int i = offset, end = offset + length; i < end; i++) {
            float v = data[i];
            if (v < mn) mn = v;
            if (!(v <= mx)) {
                if (v > mx) mx = v;
                else nan = true;
            }
        }
        return pack(mn, mx, nan);
    }

    /**
     * {@link #minMax} and {@link #bin} in one loop over data that the caller knows how to undo: values beyond the
     * range are counted in the last bin, NaN in bin 0 ({@link #unbin} takes them out again). One loop rather than
     * minMax then bin over the same chunk: 1.75 instead of 2.1 ns per value on ppocr-det (both with a separate
     * {@code v != v}). The values at odd positions are counted in {@code second}: the bins themselves
     * ({@link #counts}), or this thread's second counters for a long batch ({@link #addSecondCounts}). Runs of values
     * in one bin (the zeros of a ReLU output, a smooth map) chain each increment on the store of the one before; split
     * over two sets of counters, two such chains run side by side: 1.35 instead of 1.67 ns per value on a smooth map,
     * 1.32 instead of 1.46 on a ReLU output (AVX2 EPYC). Counting in the bins alone, the loop is as fast as one value
     * at a time.
     */
    private long minMaxAndBin(float[] data, int offset, int length, long[] second) {
        long[] c = counts;
        double inv = inverseWidth;
        double topValue = closedTopValue;
        int top = topBin;
        int below = belowTop;
        int last = binCount - 1;
        float mn = Float.POSITIVE_INFINITY;
        float mx = Float.NEGATIVE_INFINITY;
        boolean nan = false;
        int end = offset + length;
        int pairsEnd = offset + (length & ~1);
        for (int i = offset; i < pairsEnd; i += 2) {
            float v = data[i];
            float u = data[i + 1];
            if (v < mn) mn = v;
            if (!(v <= mx)) { // as in minMax
                if (v > mx) mx = v;
                else nan = true;
            }
            if (u < mn) mn = u;
            if (!(u <= mx)) {
                if (u > mx) mx = u;
                else nan = true;
            }
            int k = (int) (Math.abs(v) * inv);
            if (k == top && Math.abs(v) <= topValue) k = below;
            if (k > last) k = last;
            int j = (int) (Math.abs(u) * inv);
            if (j == top && Math.abs(u) <= topValue) j = below;
            if (j > last) j = last;
            c[k]++;
            second[j]++;
        }
        if (pairsEnd < end) { // the odd value out, after the others as in one pass
            float w = data[pairsEnd];
            float a = Math.abs(w);
            if (w < mn) mn = w;
            if (!(w <= mx)) {
                if (w > mx) mx = w;
                else nan = true;
            }
            int k = (int) (a * inv);
            if (k == top && a <= topValue) k = below;
            if (k > last) k = last;
            c[k]++;
        }
        return pack(mn, mx, nan);
    }

    /** This thread's second counters, at least {@code n} of them, all zero. */
    private static long[] secondCounts(int n) {
        long[][] holder = SECOND_COUNTS.get();
        if (holder[0].length < n) holder[0] = new long[n];
        return holder[0];
    }

    /** Adds the second counters into the bins and zeroes them. */
    private void addSecondCounts(long[] second) {
        long[] c = counts;
        for (int j = 0, n = binCount; j < n; j++) {
            c[j] += second[j];
            second[j] = 0;
        }
    }

    private static long pack(float mn, float mx, boolean nan) {
        if (nan) mn = mx = Float.NaN;
        return ((long) Float.floatToRawIntBits(mn) << 32) | (Float.floatToRawIntBits(mx) & 0xFFFF_FFFFL);
    }

    private static float unpackMin(long packed) {
        return Float.intBitsToFloat((int) (packed >>> 32));
    }

    private static float unpackMax(long packed) {
        return Float.intBitsToFloat((int) packed);
    }

    private static float firstNonFinite(float[] data, int offset, int length) {
        for (int i = offset, end = offset + length; i < end; i++) {
            if (!Float.isFinite(data[i])) return data[i];
        }
        return Float.NaN; // not reached: the caller saw one
    }

    /**
     * Records the batch statistics and makes the active bins cover the batch. Returns whether the values still have
     * to be binned (false when the batch was all zeros and has been counted already).
     */
    private boolean prepare(float mn, float mx, int length) {
        double batchAbs = record(mn, mx, length);
        if (batchAbs == 0) {
            addZeros(length);
            return false;
        }
        if (width == 0) {
            setWidth(powerOfTwoWidth ? widthWithinCap(powerOfTwoAtLeast(batchAbs / cap()), batchAbs)
                    : batchAbs / bins);
            closeTop(powerOfTwoWidth ? -1 : bins, batchAbs);
            binCount = powerOfTwoWidth ? binsNeeded(batchAbs, width) : bins;
            counts = new long[binCount];
            counts[0] += pendingZeros;
            pendingZeros = 0;
        }
        cover(batchAbs);
        return true;
    }

    /** Adds a batch's min, max and size to the statistics; returns its largest |x|. */
    private double record(float mn, float mx, int length) {
        double batchAbs = Math.max(-(double) mn, (double) mx);
        if (total == 0) {
            min = mn;
            max = mx;
        } else {
            min = Math.min(min, mn);
            max = Math.max(max, mx);
        }
        total += length;
        absMax = Math.max(absMax, batchAbs);
        view = null;
        return batchAbs;
    }

    private void addZeros(long n) {
        if (width == 0) {
            pendingZeros += n;
        } else {
            counts[0] += n;
        }
    }

    private void bin(float[] data, int offset, int length) {
        long[] c = counts;
        double inv = inverseWidth;
        double topValue = closedTopValue;
        int top = topBin;
        int below = belowTop;
        int last = binCount - 1;
        int end = offset + length;
        for (int i = offset; i < end; i++) {
            float a = Math.abs(data[i]);
            int k = (int) (a * inv);
            if (k == top && a <= topValue) k = below;
            if (k > last) k = last;
            c[k]++;
        }
    }

    /** Takes out what {@link #bin} or {@link #minMaxAndBin} counted for these values (the same bin indices). */
    private void unbin(float[] data, int offset, int length) {
        long[] c = counts;
        double inv = inverseWidth;
        double topValue = closedTopValue;
        int top = topBin;
        int below = belowTop;
        int last = binCount - 1;
        for (int i = offset, end = offset + length; i < end; i++) {
            float a = Math.abs(data[i]);
            int k = (int) (a * inv);
            if (k == top && a <= topValue) k = below;
            if (k > last) k = last;
            c[k]--;
        }
    }

    /** The bin of a value of magnitude {@code a} at the current width (before any clamp to the last bin). */
    private int index(double a) {
        int k = (int) (a * inverseWidth);
        return k == topBin && a <= closedTopValue ? belowTop : k;
    }

    /** Bins that hold every value up to {@code a} at its own {@link #index}, saturating. */
    private int binsToHold(double a) {
        int k = index(a);
        return k == Integer.MAX_VALUE ? k : k + 1;
    }

    /** The closed-top rule of {@code o} (same width): see {@link #closedTop}. */
    private void copyRule(Histogram o) {
        closedTop = o.closedTop;
        closedTopValue = o.closedTopValue;
        shift = o.shift;
        topBin = o.topBin;
        belowTop = o.belowTop;
    }

    /**
     * Sets the rule for a width just fixed by a first batch: {@code top} = its bin count and {@code value} = its
     * absMax, or -1 for no rule.
     */
    private void closeTop(int top, double value) {
        closedTop = top;
        closedTopValue = value;
        shift = 0;
        updateTop();
    }

    private void updateTop() {
        if (closedTop < 0 || shift >= 31) {
            closedTop = -1;
            closedTopValue = -1;
            topBin = -1;
        } else {
            topBin = closedTop >> shift;
            belowTop = (closedTop - 1) >> shift;
        }
    }

    /**
     * Appends bins to the active component, or doubles its width if the cap requires, so that every value up to
     * {@code a} has its own bin ({@link #binsToHold}): values are never clamped while they are added, since a bin
     * appended later would have taken them, and the counts would depend on the order of the batches. The clamp to
     * {@code ceil(absMax / w)} bins happens when the histogram is read ({@link #view}).
     */
    private void cover(double a) {
        int hold = binsToHold(a);
        if (hold <= binCount) return;
        if (binsNeeded(a, width) <= cap()) {
            ensureCapacity(hold);
            binCount = hold;
            return;
        }
        long factor = 1;
        double w = width;
        while (binsNeeded(a, w) > cap()) {
            factor = doubled(factor);
            w *= 2;
        }
        regroup(factor, w, 1);
        ensureCapacity(binsToHold(a));
        binCount = Math.max(binCount, binsToHold(a));
    }

    private void ensureCapacity(int n) {
        if (n > counts.length) {
            long grown = Math.max((long) n, counts.length + (long) counts.length / 2);
            counts = Arrays.copyOf(counts, (int) Math.min(grown, Math.max(n, maxBins)));
        }
    }

    /** Doubles the active width (summing pairs of bins, exact) until its bins fit the cap. */
    private void fitActiveInCap() {
        if (binsNeeded(absMax, width) <= cap()) return;
        long factor = 1;
        double w = width;
        while (binsNeeded(absMax, w) > cap()) {
            factor = doubled(factor);
            w *= 2;
        }
        regroup(factor, w, 1);
    }

    /** Groups of {@code factor} bins become one bin of width {@code w}; at least {@code n} bins. */
    private void regroup(long factor, double w, int n) {
        n = (int) Math.max(n, ceilDiv(binCount, factor));
        long[] c = new long[n];
        for (int j = 0; j < binCount; j++) {
            c[(int) (j / factor)] += counts[j];
        }
        counts = c;
        binCount = n;
        setWidth(w);
        shift += Long.numberOfTrailingZeros(factor);
        updateTop();
        // a component of the new width merged earlier now belongs to the active one
        if (parts != null) {
            for (Iterator<Part> it = parts.iterator(); it.hasNext(); ) {
                Part p = it.next();
                if (p.width == width) {
                    addToActive(p.counts, p.binCount);
                    it.remove();
                }
            }
            if (parts.isEmpty()) parts = null;
        }
    }

    /** {@code 2 * factor}, saturating far above any bin index (so that everything lands in bin 0). */
    private static long doubled(long factor) {
        return factor >= (1L << 40) ? factor : factor * 2;
    }

    /**
     * The most bins the range may need before the width doubles: {@link #maxBins}, or {@link #bins} for a histogram
     * whose width is a power of two ({@link #emptyLike}). Such a histogram's width is then always the finest power of
     * two that covers its absMax in at most {@code bins} bins, whichever batch came first: a function of the values
     * seen, so the copies of every split of the samples merge into the same counts.
     */
    private int cap() {
        return powerOfTwoWidth ? bins : maxBins;
    }

    /** The smallest power of two at or above {@code w} (a positive, finite width). */
    static double powerOfTwoAtLeast(double w) {
        double p = Math.scalb(1.0, Math.getExponent(w));
        return p >= w ? p : 2 * p;
    }

    private void setWidth(double w) {
        width = w;
        inverseWidth = 1.0 / w;
    }

    /** Bins of width {@code w} needed to cover [0, a]: {@code ceil(a / w)} (at least 1), saturating. */
    private static int binsNeeded(double a, double w) {
        double r = Math.ceil(a / w - BIN_SLACK);
        return r < 1 ? 1 : r >= Integer.MAX_VALUE ? Integer.MAX_VALUE : (int) r;
    }

    /** {@code w} doubled as often as needed for [0, a] to fit in {@link #cap()} bins. */
    private double widthWithinCap(double w, double a) {
        while (binsNeeded(a, w) > cap()) {
            w *= 2;
        }
        return w;
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }

    // ------------------------------------------------------------------------------------------------ merging

    /**
     * Adds everything {@code other} has seen. The result does not depend on the order in which a set of histograms
     * is merged (see the class comment: components of different widths are kept apart and each is rebinned once, at
     * read time). {@code other} is not changed.
     */
    public void merge(Histogram other) {
        if (other == this) other = other.copy();
        if (other.total == 0) return;
        if (total == 0) {
            min = other.min;
            max = other.max;
        } else {
            min = Math.min(min, other.min);
            max = Math.max(max, other.max);
        }
        total += other.total;
        absMax = Math.max(absMax, other.absMax);
        view = null;

        addZeros(other.pendingZeros);
        if (other.width != 0) {
            absorb(other.width, other.counts, other.binCount);
        }
        if (other.parts != null) {
            for (Part p : other.parts) absorb(p.width, p.counts, p.binCount);
        }
        if (parts != null && parts.size() > MAX_COMPONENTS) {
            collapse();
        }
    }

    /** Adds a component: into the active one or a part of the same width, or as a new part. */
    private void absorb(double w, long[] src, int srcN) {
        if (width == 0) {
            setWidth(w);
            closeTop(-1, -1);
            counts = Arrays.copyOf(src, Math.max(srcN, 1));
            binCount = srcN;
            counts[0] += pendingZeros;
            pendingZeros = 0;
            fitActiveInCap();
        } else if (w == width) {
            addToActive(src, srcN);
            fitActiveInCap();
        } else {
            if (parts == null) parts = new ArrayList<>(4);
            for (Part p : parts) {
                if (p.width == w) {
                    p.add(src, srcN);
                    return;
                }
            }
            parts.add(new Part(w, Arrays.copyOf(src, srcN), srcN));
        }
    }

    private void addToActive(long[] src, int srcN) {
        if (srcN > binCount) {
            ensureCapacity(srcN);
            binCount = srcN;
        }
        for (int j = 0; j < srcN; j++) counts[j] += src[j];
    }

    /** Rebins every component into the view's width and makes the result the only (active) component. */
    private void collapse() {
        View v = view();
        counts = v.counts.clone();
        binCount = v.binCount;
        setWidth(v.width);
        closeTop(-1, -1);
        parts = null;
        view = null;
    }

    /**
     * The histogram as read: the active component alone, or all components rebinned into the coarsest width
     * (doubled while the range needs more than {@code maxBins} bins), {@code ceil(absMax / width)} bins.
     */
    private View view() {
        if (parts == null && (width == 0 || binCount <= binsNeeded(absMax, width))) return null;
        View v = view;
        if (v != null) return v;
        double w = width;
        if (parts != null) for (Part p : parts) w = Math.max(w, p.width);
        w = widthWithinCap(w, absMax);
        int n = binsNeeded(absMax, w);
        long[] c = new long[n];
        rebinInto(c, n, w, counts, binCount, width);
        if (parts != null) for (Part p : parts) rebinInto(c, n, w, p.counts, p.binCount, p.width);
        view = v = new View(w, c, n);
        return v;
    }

    /**
     * Adds {@code src} (bins of width {@code srcW}) into {@code dst} (bins of width {@code dstW >= srcW}, {@code
     * dstN} of them); counts beyond the last destination bin go into it.
     */
    static void rebinInto(long[] dst, int dstN, double dstW, long[] src, int srcN, double srcW) {
        int last = dstN - 1;
        double ratio = dstW / srcW;
        long k = Math.round(ratio);
        if (k >= 1 && Math.abs(ratio - k) <= RATIO_TOLERANCE * ratio) {
            for (int j = 0; j < srcN; j++) {
                long c = src[j];
                if (c != 0) {
                    long t = j / k;
                    dst[t > last ? last : (int) t] += c;
                }
            }
            return;
        }
        for (int j = 0; j < srcN; j++) {
            long c = src[j];
            if (c == 0) continue;
            double lo = j * srcW;
            double hi = lo + srcW;
            int m = (int) Math.min(last, Math.floor(lo / dstW));
            long assigned = 0;
            while (true) {
                double edge = (m + 1) * dstW;
                if (m >= last || edge >= hi) {
                    dst[m] += c - assigned;
                    break;
                }
                long cumulative = Math.min(c, Math.max(assigned, Math.round(c * ((edge - lo) / srcW))));
                dst[m] += cumulative - assigned;
                assigned = cumulative;
                m++;
            }
        }
    }

    /**
     * A copy with every {@code factor} adjacent bins summed into one (bin {@code j} goes whole into bin
     * {@code j / factor}, exact): the same values at {@code factor} times the width. Lets a calibrator run at a coarser
     * resolution than the histogram was built with.
     */
    public Histogram coarsened(int factor) {
        if (factor < 1) throw new IllegalArgumentException("coarsening factor: " + factor + " is below 1");
        if (factor == 1 || binWidth() == 0) return copy();
        long[] src = counts();
        int n = (int) ceilDiv(src.length, factor);
        long[] c = new long[Math.max(n, 1)];
        for (int j = 0; j < src.length; j++) c[j / factor] += src[j];
        return withCounts(binWidth() * factor, c, n, min, max, absMax, total);
    }

    /**
     * The histogram of the values of {@code parts} with the values of part {@code p} multiplied by
     * {@code factors[p] > 0}: for instance the histogram of a tensor whose channel {@code c} is rescaled by
     * {@code factors[c]}, made from histograms of the channels before the rescaling. Part {@code p} then has bins of
     * width {@code binWidth_p * factors[p]}; the result takes the widest of these (doubled while the range needs more
     * than {@code maxBins} bins) and {@code ceil(absMax / width)} bins, and each part is rebinned into it by the rule of
     * the class comment (exact for the widest part, and for any part whose width ratio is an integer; otherwise a
     * count moves at most into the neighbouring bin). Min, max, absMax and total are exact. When each part's width was
     * fixed by the same first sample, the widest scaled part is the one whose scaled range in that sample was the
     * largest, so the width is the one a histogram of the rescaled tensor itself would have taken from that sample.
     *
     * @param bins    the initial bin count recorded in the result ({@link #bins()})
     * @param maxBins the cap of the result
     */
    public static Histogram scaledSum(List<Histogram> parts, double[] factors, int bins, int maxBins) {
        if (parts.size() != factors.length) {
            throw new IllegalArgumentException(parts.size() + " histograms but " + factors.length + " factors");
        }
        double w = 0;
        double mn = Double.NaN;
        double mx = Double.NaN;
        double abs = 0;
        long total = 0;
        long zerosOnly = 0; // values of parts that never saw a non-zero value
        for (int p = 0; p < factors.length; p++) {
            double f = factors[p];
            if (!(f > 0) || !Double.isFinite(f)) throw new IllegalArgumentException("factor " + f + " is not positive");
            Histogram h = parts.get(p);
            if (h.total == 0) continue;
            w = Math.max(w, h.binWidth() * f);
            mn = Double.isNaN(mn) ? h.min * f : Math.min(mn, h.min * f);
            mx = Double.isNaN(mx) ? h.max * f : Math.max(mx, h.max * f);
            abs = Math.max(abs, h.absMax * f);
            total += h.total;
            if (h.binWidth() == 0) zerosOnly += h.total;
        }
        Histogram out = new Histogram(bins, maxBins);
        if (total == 0) return out;
        if (w == 0) { // zeros only
            out.total = total;
            out.pendingZeros = total;
            out.min = mn;
            out.max = mx;
            return out;
        }
        w = out.widthWithinCap(w, abs);
        int n = binsNeeded(abs, w);
        long[] c = new long[n];
        c[0] += zerosOnly;
        for (int p = 0; p < factors.length; p++) {
            Histogram h = parts.get(p);
            if (h.total == 0 || h.binWidth() == 0) continue;
            rebinInto(c, n, w, h.counts(), h.binCount(), h.binWidth() * factors[p]);
        }
        return out.withCounts(w, c, n, mn, mx, abs, total);
    }

    /** This (empty) histogram set to hold exactly these counts and statistics, as its only component. */
    private Histogram withCounts(double w, long[] c, int n, double mn, double mx, double abs, long tot) {
        Histogram h = new Histogram(bins, maxBins);
        h.setWidth(w);
        h.counts = c;
        h.binCount = n;
        h.min = mn;
        h.max = mx;
        h.absMax = abs;
        h.total = tot;
        return h;
    }

    /** A merged-in component whose width differs from the active one. */
    private static final class Part {
        final double width;
        long[] counts;
        int binCount;

        Part(double width, long[] counts, int binCount) {
            this.width = width;
            this.counts = counts;
            this.binCount = binCount;
        }

        void add(long[] src, int srcN) {
            if (srcN > binCount) {
                counts = Arrays.copyOf(counts, srcN);
                binCount = srcN;
            }
            for (int j = 0; j < srcN; j++) counts[j] += src[j];
        }

        Part copy() {
            return new Part(width, Arrays.copyOf(counts, binCount), binCount);
        }
    }

    /** The rebinned sum of all components. */
    private record View(double width, long[] counts, int binCount) { }

    // ------------------------------------------------------------------------------------------------ reading

    /** The bin count the histogram starts with once a non-zero value is seen. */
    public int bins() {
        return bins;
    }

    /** The most bins this histogram will ever hold. */
    public int maxBins() {
        return maxBins;
    }

    /** The bin width; 0 until a non-zero value has been seen. */
    public double binWidth() {
        View v = view();
        return v == null ? width : v.width;
    }

    /**
     * The number of bins; 0 until a non-zero value has been seen (zeros seen before that still count in
     * {@link #total()}).
     */
    public int binCount() {
        View v = view();
        return v == null ? binCount : v.binCount;
    }

    /** A copy of the counts, one per bin ({@link #binCount()} of them). */
    public long[] counts() {
        View v = view();
        return v == null ? Arrays.copyOf(counts, binCount) : v.counts.clone();
    }

    /** The count in bin {@code i}. */
    public long count(int i) {
        View v = view();
        if (v != null) return v.counts[Objects.checkIndex(i, v.binCount)];
        return counts[Objects.checkIndex(i, binCount)];
    }

    /** The number of values added. */
    public long total() {
        return total;
    }

    /** The smallest (signed) value added; NaN if none. */
    public double min() {
        return min;
    }

    /** The largest (signed) value added; NaN if none. */
    public double max() {
        return max;
    }

    /** The largest |x| added (exact, not a bin edge); 0 if none. */
    public double absMax() {
        return absMax;
    }

    /** Whether no value has been added. */
    public boolean isEmpty() {
        return total == 0;
    }

    @Override
    public String toString() {
        return "Histogram[total=" + total + ", bins=" + binCount() + ", width=" + binWidth() + ", min=" + min
                + ", max=" + max + "]";
    }
}
