package io.quantbridge.calib;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.table.TensorRange;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class TensorStatisticsTest {
    private static final List<String> NAMES = List.of("input", "conv1_out", "relu1_out", "fc_out");

    /** Sample {@code s} of tensor {@code t}: a seeded batch whose range grows with the sample index. */
    private static float[] sample(int t, int s) {
        Random r = new Random(1000L * t + s);
        float[] x = Reference.gaussian(r, 4000, 0, 0.5 + 0.1 * s + t);
        if (t == 2) {
            for (int i = 0; i < x.length; i++) x[i] = Math.max(0, x[i]); // ReLU
        }
        return x;
    }

    @Test
    void rangesComeInFirstObservedOrderWithSignedExtremes() {
        TensorStatistics stats = new TensorStatistics();
        List<String> order = List.of("fc_out", "input", "relu1_out", "conv1_out");
        for (int s = 0; s < 5; s++) {
            for (String name : order) {
                float[] x = sample(NAMES.indexOf(name), s);
                stats.observe(name, x, 0, x.length);
            }
        }
        assertEquals(order, stats.names());
        CalibratorSpec spec = CalibratorSpec.of(CalibrationMethod.PERCENTILE);
        List<TensorRange> ranges = stats.ranges(spec);
        assertEquals(order, ranges.stream().map(TensorRange::name).toList());
        for (TensorRange range : ranges) {
            Histogram h = stats.histogram(range.name());
            assertEquals(spec.create().amax(h), range.amax(), 0.0);
            assertEquals(range.amax() / 127, range.scale(), 0.0);
            assertEquals(0, range.zeroPoint());
            double min = Double.MAX_VALUE, max = -Double.MAX_VALUE;
            for (int s = 0; s < 5; s++) {
                for (float v : sample(NAMES.indexOf(range.name()), s)) {
                    min = Math.min(min, v);
                    max = Math.max(max, v);
                }
            }
            assertEquals(min, range.min(), 0.0, range.name());
            assertEquals(max, range.max(), 0.0, range.name());
        }
        assertEquals(0.0, stats.ranges(spec).get(2).min(), 0.0, "ReLU output min");
    }

    @Test
    void nonFiniteValueIsAnErrorNamingTheTensor() {
        TensorStatistics stats = new TensorStatistics();
        stats.observe("conv1_out", new float[] {1f, 2f});
        float[] bad = {0.5f, Float.NaN, 3f};
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> stats.observe("conv1_out", bad, 0, bad.length));
        assertEquals("calibration data produced a non-finite value (NaN) in tensor 'conv1_out'", e.getMessage());
        QuantbridgeException inf = assertThrows(QuantbridgeException.class,
                () -> stats.observe("fc_out", FloatBuffer.wrap(new float[] {Float.POSITIVE_INFINITY})));
        assertTrue(inf.getMessage().contains("(+Inf) in tensor 'fc_out'"), inf.getMessage());
        assertEquals(2, stats.histogram("conv1_out").total(), "the failed batch left no trace");
        assertThrows(IllegalArgumentException.class, () -> stats.histogram("nope"));
    }

    @Test
    void perThreadStatisticsMergeToTheSameResultInAnyOrder() throws Exception {
        int threads = 4, samples = 24;
        // each worker observes its share of the samples into its own statistics
        List<TensorStatistics> workers = new ArrayList<>();
        for (int w = 0; w < threads; w++) workers.add(new TensorStatistics());
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int w = 0; w < threads; w++) {
                int worker = w;
                done.add(pool.submit(() -> {
                    for (int s = worker; s < samples; s += threads) {
                        for (int t = 0; t < NAMES.size(); t++) workers.get(worker).observe(NAMES.get(t), sample(t, s));
                    }
                }));
            }
            for (Future<?> f : done) f.get(30, TimeUnit.SECONDS);
        } finally {
            pool.shutdownNow();
        }
        TensorStatistics forward = new TensorStatistics();
        for (TensorStatistics w : workers) forward.merge(w);
        TensorStatistics backward = new TensorStatistics();
        for (int w = threads - 1; w >= 0; w--) backward.merge(workers.get(w));
        TensorStatistics pairs = new TensorStatistics();
        TensorStatistics a = new TensorStatistics();
        a.merge(workers.get(2));
        a.merge(workers.get(0));
        TensorStatistics b = new TensorStatistics();
        b.merge(workers.get(3));
        b.merge(workers.get(1));
        pairs.merge(b);
        pairs.merge(a);

        for (String name : NAMES) {
            long[] expected = forward.histogram(name).counts();
            assertArrayEquals(expected, backward.histogram(name).counts(), name);
            assertArrayEquals(expected, pairs.histogram(name).counts(), name);
            assertEquals(samples * 4000L, forward.histogram(name).total());
        }
        for (CalibrationMethod m : CalibrationMethod.values()) {
            CalibratorSpec spec = CalibratorSpec.of(m);
            assertEquals(forward.ranges(spec), backward.ranges(spec), m.id());
            assertEquals(forward.ranges(spec), pairs.ranges(spec), m.id());
        }

        // a single shared statistics object observed from all threads sees every value too
        TensorStatistics shared = new TensorStatistics();
        pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int w = 0; w < threads; w++) {
                int worker = w;
                done.add(pool.submit(() -> {
                    for (int s = worker; s < samples; s += threads) {
                        for (int t = 0; t < NAMES.size(); t++) shared.observe(NAMES.get(t), sample(t, s));
                    }
                }));
            }
            for (Future<?> f : done) f.get(30, TimeUnit.SECONDS);
        } finally {
            pool.shutdownNow();
        }
        for (String name : NAMES) {
            Histogram h = shared.histogram(name);
            assertEquals(samples * 4000L, h.total());
            assertEquals(forward.histogram(name).absMax(), h.absMax(), 0.0);
            assertEquals(forward.histogram(name).min(), h.min(), 0.0);
        }
    }

    @Test
    void memoryDoesNotGrowWithTheNumberOfSamples() {
        TensorStatistics stats = new TensorStatistics(256);
        Random r = new Random(4);
        float[] x = new float[1000];
        for (int s = 0; s < 400; s++) {
            for (int i = 0; i < x.length; i++) x[i] = (float) (r.nextGaussian() * Math.exp(s * 0.05));
            stats.observe("t", x);
            assertTrue(stats.histogram("t").binCount() <= 16 * 256);
        }
        assertEquals(400_000, stats.histogram("t").total());
    }

    /** One sample per call: {@code values[s]} is sample s's largest |x| (the rest of it small values). */
    private static void observeSamples(TensorStatistics stats, String tensor, float[] values, int... order) {
        for (int s : order) {
            float[] data = {0.5f, -values[s], 0.25f};
            stats.observe(tensor, FloatBuffer.wrap(data), s);
        }
    }

    @Test
    void aSampleThatAloneStretchesARangeIsNamedWhateverTheOrderOrWorker() {
        float[] stretched = {3, 2, -40, 1, 3}; // sample 2 reaches 40, the others 3
        float[] spread = {3, 2, 10, 1, 3};     // 10 is under 4 x 3
        TensorStatistics one = new TensorStatistics(64);
        observeSamples(one, "a", stretched, 0, 1, 2, 3, 4);
        observeSamples(one, "b", spread, 0, 1, 2, 3, 4);
        // two workers, samples in another order, merged
        TensorStatistics w0 = new TensorStatistics(64);
        TensorStatistics w1 = new TensorStatistics(64);
        observeSamples(w0, "a", stretched, 4, 2);
        observeSamples(w1, "a", stretched, 3, 1, 0);
        observeSamples(w0, "b", spread, 1, 3);
        observeSamples(w1, "b", spread, 4, 0, 2);
        w1.merge(w0);
        for (TensorStatistics stats : List.of(one, w1)) {
            // max keeps 40: flagged; a clipping calibrator that stops at 11 is under 4 x 3: not
            List<TensorRange> max = List.of(TensorRange.symmetric("a", 40, -40, 3), TensorRange.symmetric("b", 10,
                    -10, 3));
            assertEquals(List.of(new TensorStatistics.SampleOutlier("a", 2, 40, 3, 40)), stats.sampleOutliers(max));
            assertEquals(List.of(), stats.sampleOutliers(List.of(TensorRange.symmetric("a", 11, -40, 3))));
        }
        // a tensor seen without sample indices, or non-zero in one sample only, names none
        TensorStatistics plain = new TensorStatistics(64);
        plain.observe("a", new float[] {40});
        plain.observe("a", new float[] {3});
        observeSamples(plain, "z", new float[] {0, 0, 40}, 0, 1, 2);
        assertEquals(List.of(), plain.sampleOutliers(List.of(TensorRange.symmetric("a", 40, -40, 40))));
    }

    @Test
    void outlierSamplesAreReportedPerSampleAndSaidInOneLine() {
        List<TensorStatistics.SampleOutlier> found = List.of(
                new TensorStatistics.SampleOutlier("t1", 2, 40, 4, 40),
                new TensorStatistics.SampleOutlier("t2", 0, 100, 5, 50),
                new TensorStatistics.SampleOutlier("t3", 2, 90, 3, 90));
        List<java.util.Map<String, Object>> r = OutlierSamples.report(found, List.of("a.png", "b.png", "logo.png"));
        assertEquals(2, r.size());
        assertEquals("logo.png", r.get(0).get("sample"));
        assertEquals(2, r.get(0).get("tensors"));
        @SuppressWarnings("unchecked")
        List<java.util.Map<String, Object>> largest = (List<java.util.Map<String, Object>>) r.get(0).get("largest");
        assertEquals(List.of("t3", "t1"), largest.stream().map(m -> m.get("tensor")).toList());
        assertEquals(30.0, largest.get(0).get("coarser"));
        assertEquals("calibration sample logo.png alone sets the range of 2 tensors (and 1 more sample like it): t3"
                + " reaches |x| 90.00 there and at most 3.000 in the other 2 samples, and its amax 90.00 makes its int8"
                + " steps 30x coarser than they need. If the sample is not like the data the model will see, leave it"
                + " out (--calib-exclude logo.png); entropy, which clips, follows it least (report.json"
                + " calibration.outlier_samples)",
                OutlierSamples.note(r, 3).orElseThrow());
        assertTrue(OutlierSamples.note(List.of(), 3).isEmpty());
        // from report.json's calibration section, as the command line reads it back
        java.util.Map<String, Object> calibration = new java.util.LinkedHashMap<>();
        assertTrue(OutlierSamples.warning(calibration).isEmpty());
        calibration.put("outlier_samples", r);
        calibration.put("outlier_samples_of", 3);
        assertEquals(OutlierSamples.note(r, 3), OutlierSamples.warning(calibration));
    }

    @Test
    void addingReturnsTheLargestMagnitudeOfTheBatch() {
        Histogram h = new Histogram(16);
        assertEquals(0.0, h.add(new float[0]));
        assertEquals(7.0, h.add(new float[] {1, -7, 3}));
        float[] big = new float[20_000]; // beyond one chunk: read through the scratch
        big[19_999] = -9;
        assertEquals(9.0, h.add(FloatBuffer.wrap(big)));
        assertEquals(2.0, h.add(new float[] {2, 0}));
    }
}
