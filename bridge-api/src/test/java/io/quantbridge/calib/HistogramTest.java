package io.quantbridge.calib;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class HistogramTest {
    private static final CalibrationMethod[] METHODS = CalibrationMethod.values();

    /** Batches of growing range, a zeros-only batch, and one with outliers. The first one fixes the width. */
    private static List<float[]> batches(long seed) {
        Random r = new Random(seed);
        List<float[]> batches = new ArrayList<>();
        for (int b = 0; b < 12; b++) {
            if (b == 3) {
                batches.add(new float[5000]);
            } else if (b == 7) {
                float[] x = Reference.laplacian(r, 20_000, 0.8);
                x[5] = 30f;
                x[17] = -28f;
                batches.add(x);
            } else {
                batches.add(Reference.gaussian(r, 20_000, 0.1, 0.4 + 0.15 * b));
            }
        }
        return batches;
    }

    private static float[] concat(List<float[]> batches) {
        int n = 0;
        for (float[] b : batches) n += b.length;
        float[] all = new float[n];
        int at = 0;
        for (float[] b : batches) {
            System.arraycopy(b, 0, all, at, b.length);
            at += b.length;
        }
        return all;
    }

    private static Histogram of(List<float[]> batches) {
        Histogram h = new Histogram();
        for (float[] b : batches) h.add(b, 0, b.length);
        return h;
    }

    private static double[] amaxes(Histogram h) {
        double[] a = new double[METHODS.length];
        for (int m = 0; m < METHODS.length; m++) a[m] = CalibratorSpec.of(METHODS[m]).create().amax(h);
        return a;
    }

    private static void assertSameAmax(double[] expected, Histogram h, double tolerance, String what) {
        double[] got = amaxes(h);
        for (int m = 0; m < METHODS.length; m++) {
            assertEquals(expected[m], got[m], tolerance, what + " " + METHODS[m]);
        }
    }

    @Test
    void firstNonZeroBatchFixesTheWidthAndLaterBatchesAppendBins() {
        float[] first = {0.25f, -0.5f, 1.0f, 0.75f};
        Histogram h = new Histogram(8);
        h.add(first, 0, first.length);
        assertEquals(0.125, h.binWidth(), 0.0);
        assertEquals(8, h.binCount());
        long[] before = h.counts();
        assertArrayEquals(new long[] {0, 0, 1, 0, 1, 0, 1, 1}, before); // 1.0 = absmax goes in the last bin

        float[] wider = {2.9f, -2.2f, 1.6f};
        h.add(wider, 0, wider.length);
        assertEquals(0.125, h.binWidth(), 0.0, "the width is kept");
        assertEquals(24, h.binCount(), "ceil(2.9 / 0.125) bins");
        long[] after = h.counts();
        for (int i = 0; i < 8; i++) assertEquals(before[i], after[i], "old count in low bin " + i);
        assertEquals(1, after[12]); // 1.6
        assertEquals(1, after[17]); // 2.2
        assertEquals(1, after[23]); // 2.9, the new absmax, in the new last bin
        assertEquals(7, h.total());
        assertEquals(-2.2f, h.min(), 0.0);
        assertEquals(2.9f, h.max(), 0.0);
        assertEquals(2.9f, h.absMax(), 0.0);
    }

    @Test
    void zerosBeforeTheFirstNonZeroBatchAreCounted() {
        Histogram h = new Histogram(16);
        h.add(new float[1000], 0, 1000);
        assertEquals(0, h.binCount());
        assertEquals(0.0, h.binWidth(), 0.0);
        assertEquals(1000, h.total());
        assertEquals(0.0, h.min(), 0.0);
        assertEquals(0.0, h.absMax(), 0.0);
        for (CalibrationMethod m : METHODS) assertEquals(0.0, CalibratorSpec.of(m).create().amax(h), 0.0);

        h.add(new float[] {0f, 2f, -1f}, 0, 3);
        assertEquals(0.125, h.binWidth(), 0.0);
        assertEquals(1001, h.count(0));
        assertEquals(1, h.count(8));
        assertEquals(1, h.count(15));
        assertEquals(1003, h.total());
        h.add(new float[500], 0, 500); // zeros after the width is fixed go straight to bin 0
        assertEquals(1501, h.count(0));

        // the same through merge, in both directions
        Histogram zeros = new Histogram(16);
        zeros.add(new float[700], 0, 700);
        Histogram values = new Histogram(16);
        values.add(new float[] {2f, -1f}, 0, 2);
        Histogram a = zeros.copy();
        a.merge(values);
        Histogram b = values.copy();
        b.merge(zeros);
        assertArrayEquals(a.counts(), b.counts());
        assertEquals(700, a.count(0));
        assertEquals(702, a.total());
    }

    @Test
    void capDoublesTheWidthBySummingPairsExactly() {
        Random r = new Random(3);
        Histogram h = new Histogram(16, 64);
        float[] first = Reference.uniform(r, 1000, -1, 1);
        first[0] = 1f; // width 1/16
        float[] second = Reference.uniform(r, 1000, -10, 10);
        second[0] = 10f; // needs 160 bins of 1/16 > 64: width 1/8 (80 bins) then 1/4 (40 bins)
        h.add(first, 0, first.length);
        h.add(second, 0, second.length);
        assertEquals(0.25, h.binWidth(), 0.0);
        assertEquals(40, h.binCount());
        long[] expected = new long[40];
        for (float[] batch : List.of(first, second)) {
            for (float v : batch) expected[Math.min(39, (int) Math.floor(Math.abs(v) / 0.25))]++;
        }
        // 1.0 was put in bin 15 of width 1/16 (the last bin then), i.e. bin 3 of width 1/4, not bin 4
        expected[4]--;
        expected[3]++;
        assertArrayEquals(expected, h.counts());
        assertEquals(2000, h.total());

        // a long calibration never grows beyond the cap
        Histogram big = new Histogram(2048);
        for (int b = 0; b < 60; b++) {
            float[] x = Reference.gaussian(r, 2000, 0, Math.pow(1.3, b));
            big.add(x, 0, x.length);
            assertTrue(big.binCount() <= 16 * 2048, "bins " + big.binCount());
        }
        assertEquals(120_000, big.total());
    }

    @Test
    void batchOrderDoesNotMatterOnceTheFirstBatchFixedTheWidth() {
        List<float[]> batches = batches(5);
        Histogram natural = of(batches);
        double[] expected = amaxes(natural);
        for (int rep = 1; rep <= 6; rep++) {
            List<float[]> rest = new ArrayList<>(batches.subList(1, batches.size()));
            Collections.shuffle(rest, new Random(rep));
            List<float[]> order = new ArrayList<>();
            order.add(new float[300]); // zeros before the first non-zero batch change nothing
            order.add(batches.get(0));
            order.addAll(rest);
            Histogram h = of(order);
            assertEquals(natural.binWidth(), h.binWidth(), 0.0);
            assertEquals(natural.total() + 300, h.total());
            long[] expectedCounts = natural.counts();
            expectedCounts[0] += 300;
            assertArrayEquals(expectedCounts, h.counts(), "appending bins makes the counts order-independent");
            assertSameAmax(expected, h, natural.binWidth(), "order " + rep);
        }
    }

    @Test
    void anyBatchOrderGivesTheExactMaxAndPercentileWithinABin() {
        // a different first batch means a different width (the rule above), so entropy and MSE may move by a few
        // bins; max is exact and the percentile is within the coarser width whatever the order
        List<float[]> batches = batches(6);
        float[] all = concat(batches);
        double max = Reference.maxAbs(all);
        double q = Reference.quantile(all, 99.99);
        for (int rep = 0; rep < 6; rep++) {
            List<float[]> order = new ArrayList<>(batches);
            Collections.shuffle(order, new Random(100 + rep));
            Histogram h = of(order);
            assertEquals(max, CalibratorSpec.of(CalibrationMethod.MAX).create().amax(h), 0.0);
            double p = CalibratorSpec.of(CalibrationMethod.PERCENTILE).create().amax(h);
            assertTrue(p <= q && q - p < h.binWidth(), "percentile " + p + " vs quantile " + q);
        }
    }

    @Test
    void mergeOrderDoesNotMatter() {
        // four partial histograms with four different widths (each fixed by its own first batch; batch 3 is zeros,
        // so part 3's width comes from batch 7; ratios not integers),
        // merged in several orders and shapes
        List<float[]> batches = batches(7);
        List<Histogram> parts = new ArrayList<>();
        for (int p = 0; p < 4; p++) {
            Histogram h = new Histogram();
            for (int b = p; b < batches.size(); b += 4) h.add(batches.get(b));
            parts.add(h);
        }
        long total = 0;
        for (Histogram p : parts) total += p.total();

        Histogram reference = new Histogram();
        for (Histogram p : parts) reference.merge(p);
        double width = reference.binWidth();
        double[] expected = amaxes(reference);
        assertEquals(total, reference.total());
        double maxWidth = 0;
        for (Histogram p : parts) maxWidth = Math.max(maxWidth, p.binWidth());
        assertEquals(maxWidth, width, 0.0, "merged width is the coarsest");

        for (int rep = 0; rep < 6; rep++) {
            List<Histogram> order = new ArrayList<>(parts);
            Collections.shuffle(order, new Random(rep));
            // sequential into the first
            Histogram seq = order.get(0).copy();
            for (int i = 1; i < order.size(); i++) seq.merge(order.get(i));
            // as a tree: (a + b) + (c + d)
            Histogram left = order.get(0).copy();
            left.merge(order.get(1));
            Histogram right = order.get(2).copy();
            right.merge(order.get(3));
            right.merge(left);
            for (Histogram h : List.of(seq, right)) {
                assertArrayEquals(reference.counts(), h.counts(), "identical counts in merge order " + rep);
                assertEquals(total, h.total());
                assertEquals(width, h.binWidth(), 0.0);
                assertEquals(reference.min(), h.min(), 0.0);
                assertEquals(reference.max(), h.max(), 0.0);
                assertSameAmax(expected, h, width, "merge order " + rep);
            }
        }
        // merging is symmetric: a.merge(b) and b.merge(a) give the same counts
        Histogram ab = parts.get(0).copy();
        ab.merge(parts.get(1));
        Histogram ba = parts.get(1).copy();
        ba.merge(parts.get(0));
        assertArrayEquals(ab.counts(), ba.counts());

        // and the merged result agrees with one histogram of all the data built at the merged width, within a bin
        Histogram direct = new Histogram();
        float[] spread = new float[] {(float) (reference.binWidth() * 2048)}; // fixes the same width first
        direct.add(spread);
        for (float[] b : batches) direct.add(b);
        assertEquals(width, direct.binWidth(), width * 1e-6);
        assertEquals(expected[CalibrationMethod.PERCENTILE.ordinal()],
                CalibratorSpec.of(CalibrationMethod.PERCENTILE).create().amax(direct), width * 1.000001);
    }

    /**
     * What parallel observers do: a first sample into one histogram, then every other sample into empty copies of it
     * ({@link Histogram#emptyLike}), one per worker, merged at the end. Any split gives the same counts: with a
     * first sample of zeros only (each copy then fixes its own width, a power of two), and with values exactly at the
     * top of a range that some copies grow beyond and others do not (maps of padded photos repeat such values).
     */
    @Test
    void anySplitOfTheSamplesOverCopiesGivesTheSameCounts() {
        Random r = new Random(21);
        for (boolean zerosFirst : new boolean[] {true, false}) {
            List<float[]> samples = new java.util.ArrayList<>();
            samples.add(zerosFirst ? new float[500] : Reference.uniform(r, 500, -2, 2));
            if (!zerosFirst) samples.get(0)[7] = 2f;
            for (int i = 1; i < 24; i++) {
                float top = (float) (0.5 * (1 + r.nextInt(4)) * (i % 5 == 0 ? 9 : 1)); // repeats, and grows twice
                float[] x = Reference.uniform(r, 500, -top, top);
                x[r.nextInt(500)] = top;
                x[r.nextInt(500)] = -2f;
                if (i % 7 == 3) java.util.Arrays.fill(x, 0f); // a sample of zeros
                samples.add(x);
            }
            Histogram reference = null;
            for (int workers = 1; workers <= 4; workers++) {
                Histogram first = new Histogram(64, 256);
                first.add(samples.get(0));
                List<Histogram> copies = new java.util.ArrayList<>();
                for (int w = 0; w < workers; w++) copies.add(first.emptyLike());
                for (int i = 1; i < samples.size(); i++) copies.get((i - 1) % workers).add(samples.get(i));
                for (Histogram c : copies) first.merge(c);
                if (reference == null) {
                    reference = first;
                    if (zerosFirst) {
                        double w = first.binWidth();
                        assertEquals(w, Math.scalb(1.0, Math.getExponent(w)), 0.0, "a power of two: " + w);
                        assertTrue(first.binCount() > 32 && first.binCount() <= 64, "bins " + first.binCount());
                    }
                    continue;
                }
                String where = (zerosFirst ? "zeros first, " : "") + workers + " workers";
                assertEquals(reference.binWidth(), first.binWidth(), 0.0, where);
                assertArrayEquals(reference.counts(), first.counts(), where);
                assertEquals(reference.total(), first.total(), where);
            }
        }
    }

    @Test
    void mergeWithIntegerWidthRatioIsExact() {
        Random r = new Random(8);
        float[] a = Reference.uniform(r, 5000, -1, 1);
        a[0] = 1f; // width 1/64
        float[] b = Reference.uniform(r, 5000, -4, 4);
        b[0] = -4f; // width 4/64 = 4 x 1/64
        Histogram ha = new Histogram(64);
        ha.add(a);
        Histogram hb = new Histogram(64);
        hb.add(b);
        ha.merge(hb);
        assertEquals(4.0 / 64, ha.binWidth(), 0.0);
        assertEquals(64, ha.binCount());
        long[] expected = new long[64];
        for (float v : b) expected[Math.min(63, (int) Math.floor(Math.abs(v) * 16))]++;
        for (float v : a) expected[Math.min(63, (int) Math.floor(Math.abs(v) * 64)) / 4]++;
        assertArrayEquals(expected, ha.counts());
    }

    @Test
    void proportionalRebinKeepsTheTotalAndMovesNothingFurtherThanABin() {
        Random r = new Random(9);
        float[] a = Reference.uniform(r, 20_000, -1, 1);
        a[0] = 1f; // width 1/100
        float[] b = Reference.uniform(r, 100, -3, 3);
        b[0] = 3f; // width 3/70, not a multiple of 1/100
        Histogram ha = new Histogram(100);
        ha.add(a);
        Histogram hb = new Histogram(70);
        hb.add(b);
        ha.merge(hb);
        double w = 3.0 / 70;
        assertEquals(w, ha.binWidth(), 1e-15);
        assertEquals(20_100, ha.total());
        long[] naive = new long[ha.binCount()];
        for (float[] batch : List.of(a, b)) {
            for (float v : batch) naive[Math.min(naive.length - 1, (int) Math.floor(Math.abs(v) / w))]++;
        }
        // the cumulative counts differ by at most the counts of one fine bin on each side of a coarse edge
        long[] got = ha.counts();
        long cg = 0, cn = 0;
        for (int i = 0; i < got.length; i++) {
            cg += got[i];
            cn += naive[i];
            assertTrue(Math.abs(cg - cn) <= 2 * 20_000 / 100 / 2 + 40, "bin " + i + ": " + cg + " vs " + cn);
        }
        assertEquals(cn, cg);
    }

    @Test
    void floatBufferMatchesArray() {
        float[] x = Reference.gaussian(new Random(10), 50_000, 0, 2);
        Histogram array = new Histogram();
        array.add(x, 100, 40_000);
        FloatBuffer heap = FloatBuffer.wrap(x);
        heap.position(100).limit(40_100);
        Histogram fromHeap = new Histogram();
        fromHeap.add(heap);
        assertEquals(100, heap.position(), "position not moved");
        FloatBuffer direct = ByteBuffer.allocateDirect(x.length * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
        direct.put(x).position(100).limit(40_100);
        Histogram fromDirect = new Histogram();
        fromDirect.add(direct);
        for (Histogram h : List.of(fromHeap, fromDirect)) {
            assertArrayEquals(array.counts(), h.counts());
            assertEquals(array.binWidth(), h.binWidth(), 0.0);
            assertEquals(array.total(), h.total());
            assertEquals(array.min(), h.min(), 0.0);
            assertEquals(array.max(), h.max(), 0.0);
        }
    }

    @Test
    void nonFiniteValuesAreRejectedAndLeaveTheHistogramUnchanged() {
        Histogram h = new Histogram();
        h.add(new float[] {1f, -2f}, 0, 2);
        long[] before = h.counts();
        NonFiniteValueException nan = assertThrows(NonFiniteValueException.class,
                () -> h.add(new float[] {3f, Float.NaN, 5f}, 0, 3));
        assertTrue(nan.getMessage().contains("non-finite value (NaN)"), nan.getMessage());
        NonFiniteValueException inf = assertThrows(NonFiniteValueException.class,
                () -> h.add(FloatBuffer.wrap(new float[] {Float.NEGATIVE_INFINITY}).asReadOnlyBuffer()));
        assertEquals("-Inf", inf.describe());
        assertArrayEquals(before, h.counts());
        assertEquals(2, h.total());
        assertEquals(2.0, h.absMax(), 0.0);
    }

    @Test
    void coarsenedSumsGroupsOfBinsExactly() {
        Histogram h = new Histogram(8);
        h.add(new float[] {0.25f, -0.5f, 1.0f, 0.75f});
        Histogram two = h.coarsened(2);
        assertEquals(0.25, two.binWidth(), 0.0);
        assertArrayEquals(new long[] {0, 1, 1, 2}, two.counts());
        Histogram three = h.coarsened(3);
        assertEquals(0.375, three.binWidth(), 0.0);
        assertArrayEquals(new long[] {1, 1, 2}, three.counts());
        assertEquals(4, three.total());
        assertEquals(-0.5, three.min(), 0.0);
        assertEquals(1.0, three.absMax(), 0.0);
        assertArrayEquals(new long[] {0, 0, 1, 0, 1, 0, 1, 1}, h.counts()); // unchanged
    }

    @Test
    void scaledSumRebinsEachScaledChannelIntoTheWidestScaledWidth() {
        Histogram c0 = new Histogram(8);
        c0.add(new float[] {1f, 2f, -4f, 8f});   // width 1: bins 1, 2, 4, 7 (8 = the top goes into the last bin)
        Histogram c1 = new Histogram(8);
        c1.add(new float[] {0.5f, 1f, 2f});      // width 0.25: bins 2, 4, 7
        Histogram empty = new Histogram(8);
        // channel 1 doubled: width 0.5, half the result's width 1, so its bins 2, 4, 7 go whole into 1, 2, 3
        Histogram sum = Histogram.scaledSum(List.of(c0, c1, empty), new double[] {1, 2, 5}, 8, 64);
        assertEquals(1.0, sum.binWidth(), 0.0);
        assertArrayEquals(new long[] {0, 2, 2, 1, 1, 0, 0, 1}, sum.counts());
        assertEquals(7, sum.total());
        assertEquals(-4.0, sum.min(), 0.0);
        assertEquals(8.0, sum.max(), 0.0);
        assertEquals(8.0, sum.absMax(), 0.0);
        assertEquals(8, sum.bins());

        // a width ratio that is not an integer spreads a bin over its two neighbours and keeps the total
        Histogram spread = Histogram.scaledSum(List.of(c0, c1), new double[] {1, 3}, 8, 64);
        assertEquals(1.0, spread.binWidth(), 0.0);
        assertEquals(7, java.util.Arrays.stream(spread.counts()).sum());
        assertEquals(8.0, spread.max(), 0.0); // c0's 8 beats c1's 2 * 3
        assertEquals(-4.0, spread.min(), 0.0); // c0 keeps its -4; c1 scaled starts at 1.5
    }

    /**
     * Post-ReLU-like values: runs of zeros and of repeated values (consecutive values in the same bin), scaled by
     * {@code scale}, with a value at exactly {@code top} (the top of the range: the last bin) at {@code topAt}.
     */
    private static float[] runs(Random r, int n, float scale, float top, int topAt) {
        float[] x = new float[n];
        for (int i = 0; i < n; ) {
            int run = 1 + r.nextInt(300);
            float v = r.nextInt(3) == 0 ? 0f : gaussian(r, scale);
            for (int j = 0; j < run && i < n; j++, i++) x[i] = r.nextInt(4) == 0 ? gaussian(r, scale) : v;
        }
        if (topAt >= 0) x[topAt] = top;
        return x;
    }

    /** A Gaussian value cut at 3.5 sigma, so that {@link #runs} stays within [-3.5 scale, 3.5 scale]. */
    private static float gaussian(Random r, float scale) {
        return (float) (scale * Math.max(-3.5, Math.min(3.5, r.nextGaussian())));
    }

    /**
     * The counts the histogram must hold after {@code batches}, whatever order they came in: every value binned by the
     * plain loop at the width {@code w0} the first batch fixed ({@code (int) (|x| * (1/w0))}; a value up to that
     * batch's absMax {@code top0} that lands at index {@code bins} goes into the bin below, the first range being
     * closed at its top), then shifted into the final width ({@code w0} doubled some times) and clamped to the last bin.
     */
    private static long[] plainLoop(List<float[]> batches, double w0, float top0, Histogram after) {
        int n = after.binCount();
        long[] c = new long[n];
        int shift = Long.numberOfTrailingZeros(Math.round(after.binWidth() / w0));
        double inv0 = 1.0 / w0;
        for (float[] batch : batches) {
            for (float v : batch) {
                float a = Math.abs(v);
                int k = (int) (a * inv0);
                if (k == after.bins() && a <= top0) k--;
                c[Math.min(k >> shift, n - 1)]++;
            }
        }
        return c;
    }

    private static FloatBuffer direct(float[] x) {
        FloatBuffer b = ByteBuffer.allocateDirect(x.length * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
        return b.put(0, x);
    }

    @Test
    void chunkedAddingCountsLikeThePlainLoop() {
        Random r = new Random(12);
        int n = 100_003; // 13 chunks, the last one partial; an odd count
        // batches this long over 2048 bins are counted in two sets of counters (Histogram.minMaxAndBin); the short last one not
        assertTrue(n >= Histogram.TWO_WAYS_VALUES_PER_BIN * 2048 && 5_000 < Histogram.TWO_WAYS_VALUES_PER_BIN * 2048);
        List<float[]> batches = List.of(
                runs(r, n, 1f, 4f, 50),         // fixes the width: 2048 bins over [0, 4]
                runs(r, n, 1f, 4f, 90_000),     // the last bin reached late in the batch
                runs(r, n, 1f, 4f, -1),         // within the range: counted chunk by chunk
                runs(r, n, 1f, 9f, 70_000),     // grows late: the first chunks are counted early, the rest after
                runs(r, n, 1f, 9f, 10),         // grows in the first chunk
                runs(r, n, 2f, 200f, 60_000),   // beyond the cap: the width doubles, everything is binned afresh
                new float[n],                   // zeros only
                runs(r, 5_000, 1f, 0f, -1));    // one chunk, read in place
        for (String form : List.of("array", "heap", "direct")) {
            Histogram h = new Histogram();
            List<float[]> added = new java.util.ArrayList<>();
            double w0 = 0;
            for (float[] batch : batches) {
                switch (form) {
                    case "array" -> h.add(batch, 0, batch.length);
                    case "heap" -> h.add(FloatBuffer.wrap(batch));
                    default -> h.add(direct(batch));
                }
                added.add(batch);
                if (w0 == 0) w0 = h.binWidth();
                assertArrayEquals(plainLoop(added, w0, 4f, h), h.counts(), form);
            }
            assertEquals(8L * n - 95_003, h.total());
            assertEquals(200.0, h.absMax(), 0.0);
            assertTrue(h.binWidth() > 4.0 / 2048, "the cap doubled the width");
        }
    }

    @Test
    void aNonFiniteValueAfterChunksCountedEarlyLeavesTheHistogramUnchanged() {
        Random r = new Random(13);
        for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
            for (boolean grown : new boolean[] {false, true}) {
                Histogram h = new Histogram();
                h.add(runs(r, 50_000, 1f, 4f, 7));
                Histogram before = h.copy();
                // chunks counted early (two ways: 60000 values over 2048 bins), then (optionally) one that grows the
                // range, then the bad value
                float[] x = runs(r, 60_000, 1f, grown ? 8f : 1f, 20_000);
                assertTrue(x.length >= Histogram.TWO_WAYS_VALUES_PER_BIN * h.binCount());
                x[45_000] = bad;
                NonFiniteValueException e = assertThrows(NonFiniteValueException.class, () -> h.add(x));
                assertEquals(Float.isNaN(bad) ? "NaN" : bad > 0 ? "+Inf" : "-Inf", e.describe());
                assertThrows(NonFiniteValueException.class, () -> h.add(direct(x)));
                assertArrayEquals(before.counts(), h.counts());
                assertEquals(before.total(), h.total());
                assertEquals(before.min(), h.min(), 0.0);
                assertEquals(before.max(), h.max(), 0.0);
                assertEquals(before.absMax(), h.absMax(), 0.0);
                assertEquals(before.binWidth(), h.binWidth(), 0.0);
            }
        }
    }

    @Test
    void aNonFiniteValueInTheFirstBatchIsRejected() {
        // before the width is fixed the chunks are only scanned (no counting to undo)
        for (float bad : new float[] {Float.NaN, Float.intBitsToFloat(0xFFC00001), Float.POSITIVE_INFINITY}) {
            for (int at : new int[] {0, 9_000, 29_999}) {
                float[] x = runs(new Random(at), 30_000, 1f, 2f, 5);
                x[at] = bad;
                Histogram h = new Histogram();
                assertThrows(NonFiniteValueException.class, () -> h.add(x));
                assertThrows(NonFiniteValueException.class, () -> h.add(direct(x)));
                assertTrue(h.isEmpty());
                assertEquals(0, h.binCount());
            }
        }
    }

    @Test
    void minAndMaxKeepTheFirstOfEqualZerosAcrossChunks() {
        // one pass over the batch keeps the first of 0 and -0; so do the chunks
        for (boolean negativeFirst : new boolean[] {false, true}) {
            float[] x = new float[30_000];
            java.util.Arrays.fill(x, 1f);
            x[100] = negativeFirst ? -0f : 0f;
            x[20_000] = negativeFirst ? 0f : -0f;
            for (int i = 0; i < x.length; i++) if (x[i] == 1f) x[i] = 2f;
            Histogram h = new Histogram();
            h.add(x);
            assertEquals(negativeFirst ? -0.0 : 0.0, h.min(), 0.0);
            assertEquals(negativeFirst, Double.doubleToRawLongBits(h.min()) != 0, "sign of the min");
        }
    }

    @Test
    void addIsFast() {
        // a 10M-float activation: read once in cached chunks, no allocation; generous bound for a shared 2-core machine
        float[] x = Reference.gaussian(new Random(11), 10_000_000, 0, 1);
        Histogram h = new Histogram();
        h.add(x); // warm-up
        long t0 = System.nanoTime();
        for (int i = 0; i < 3; i++) h.add(x);
        double msPerCall = (System.nanoTime() - t0) / 3e6;
        assertEquals(40_000_000, h.total());
        assertTrue(msPerCall < 500, "add of 10M floats took " + msPerCall + " ms");
    }
}
