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
}
