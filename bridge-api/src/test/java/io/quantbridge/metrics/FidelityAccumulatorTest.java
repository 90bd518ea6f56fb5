package io.quantbridge.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.util.Json;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class FidelityAccumulatorTest {
    @Test
    void pooledDiffersFromTheMeanOfPerSample() {
        FidelityAccumulator acc = new FidelityAccumulator();
        acc.add(new float[] {1, 0}, new float[] {1, 1});   // dot 1, |r|^2 1, |c|^2 2, err^2 1
        acc.add(new float[] {3, 4}, new float[] {3, 4});   // dot 25, |r|^2 25, |c|^2 25, err^2 0
        assertEquals(2, acc.samples());
        assertEquals(26 / Math.sqrt(26 * 27), acc.cosine(), 1e-15);
        assertEquals(1 / Math.sqrt(2), acc.minCosine(), 1e-15);
        double meanOfPerSample = (1 / Math.sqrt(2) + 1) / 2;
        assertNotEquals(meanOfPerSample, acc.cosine(), 1e-3);
        assertEquals(meanOfPerSample, acc.meanCosine(), 1e-15);
        assertEquals(10 * Math.log10(26 / 1.0), acc.sqnrDb(), 1e-12);
        assertEquals(1.0, acc.maxAbs(), 0.0);
    }

    @Test
    void pooledIouIsSumOfIntersectionsOverSumOfUnions() {
        FidelityAccumulator acc = new FidelityAccumulator().withMaskIou(0.5);
        acc.add(new float[] {1, 1, 0, 0}, new float[] {1, 0, 0, 0}); // 1 / 2
        acc.add(new float[] {1, 1, 1, 1}, new float[] {1, 1, 1, 1}); // 4 / 4
        acc.add(new float[] {0, 0, 0, 0}, new float[] {0, 0, 0, 0}); // 0 / 0
        assertEquals(5.0 / 6.0, acc.maskIou(), 1e-15);        // not the per-sample mean (0.5 + 1 + 1) / 3
        Map<String, Object> m = acc.toMap();
        assertEquals(5.0 / 6.0, (Double) m.get("mask_iou"), 1e-15);
        assertEquals(0.5, m.get("mask_threshold"));
        assertEquals(3L, m.get("samples"));
        assertTrue(!m.containsKey("top1_agreement"));
    }

    @Test
    void samplesWithNanOrInfinityAreCounted() {
        FidelityAccumulator acc = new FidelityAccumulator();
        acc.add(new float[] {1, 2}, new float[] {1, 2});
        acc.add(new float[] {1, 2}, new float[] {Float.POSITIVE_INFINITY, 2});
        FidelityAccumulator other = acc.emptyCopy();
        other.add(new float[] {1, 2}, new float[] {Float.NaN, 2});
        acc.merge(other);
        assertEquals(2, acc.nonFiniteSamples());
        assertEquals(2L, acc.toMap().get("non_finite_samples"));
        assertTrue(Double.isNaN(acc.cosine()));
        FidelityAccumulator clean = new FidelityAccumulator();
        clean.add(new float[] {1, 2}, new float[] {1, 2});
        assertTrue(!clean.toMap().containsKey("non_finite_samples"), "only when there are some");
    }

    @Test
    void top1OverRows() {
        FidelityAccumulator acc = new FidelityAccumulator().withTop1(2);
        acc.add(new float[] {1, 0, 0, 1}, new float[] {1, 0, 1, 0}); // 1 of 2 rows agree
        acc.add(new float[] {0, 1}, new float[] {0, 1});             // 1 of 1
        assertEquals(2.0 / 3.0, acc.top1Agreement(), 1e-15);
        Map<String, Object> m = acc.toMap();
        assertEquals(List.of("samples", "cosine", "cosine_min", "cosine_mean", "sqnr_db", "max_abs", "top1_agreement", "top1_rows",
                "classes", "top1_per_class"), List.copyOf(m.keySet()));
        assertEquals(3L, m.get("top1_rows"));
        // by the float model's class: class 0 had one row (agreed), class 1 two (one agreed)
        assertEquals(Map.of("0", Map.of("rows", 1L, "agreement", 1.0), "1", Map.of("rows", 2L, "agreement", 0.5)),
                m.get("top1_per_class"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> acc.add(new float[3], new float[3]));
        assertEquals("output length 3 is not a positive multiple of the 2 classes", e.getMessage());
    }

    @Test
    void manyClassesListOnlyTheWorst() {
        // 40 classes, one row each per sample: class k is predicted right unless k % 4 == 0 (then class k + 1);
        // class 8 also gets two more rows, both wrong: it has the most disagreements
        FidelityAccumulator acc = new FidelityAccumulator().withTop1(40);
        for (int k = 0; k < 40; k++) {
            float[] ref = new float[40];
            float[] cand = new float[40];
            ref[k] = 1;
            cand[k % 4 == 0 ? k + 1 : k] = 1;
            acc.add(ref, cand);
            if (k == 8) {
                acc.add(ref, cand);
                acc.add(ref, cand);
            }
        }
        Map<String, Object> m = acc.toMap();
        assertEquals(40, m.get("top1_classes_seen"));
        assertTrue(!m.containsKey("top1_per_class"));
        @SuppressWarnings("unchecked")
        Map<String, Map<String, Object>> worst = (Map<String, Map<String, Object>>) m.get("top1_worst_classes");
        assertEquals(List.of("8", "0", "4", "12", "16", "20", "24", "28", "32", "36"), List.copyOf(worst.keySet()));
        assertEquals(Map.of("rows", 3L, "agreement", 0.0), worst.get("8"));
        assertEquals(40, acc.top1PerClass().size());
    }

    @Test
    void mergeEqualsAddingEverything() {
        Random r = new Random(1);
        FidelityAccumulator all = new FidelityAccumulator().withTop1(10).withMaskIou(0.0);
        FidelityAccumulator a = all.emptyCopy();
        FidelityAccumulator b = all.emptyCopy();
        for (int i = 0; i < 6; i++) {
            float[] ref = new float[40];
            float[] cand = new float[40];
            for (int k = 0; k < 40; k++) {
                ref[k] = (float) r.nextGaussian();
                cand[k] = ref[k] + (float) (0.1 * r.nextGaussian());
            }
            all.add(ref, cand);
            (i % 2 == 0 ? a : b).add(ref, cand);
        }
        a.merge(b);
        assertEquals(all.samples(), a.samples());
        assertEquals(all.cosine(), a.cosine(), 1e-12);
        assertEquals(all.sqnrDb(), a.sqnrDb(), 1e-9);
        assertEquals(all.maxAbs(), a.maxAbs(), 0.0);
        assertEquals(all.minCosine(), a.minCosine(), 0.0);
        assertEquals(all.meanCosine(), a.meanCosine(), 1e-12);
        assertEquals(all.maskIou(), a.maskIou(), 0.0);
        assertEquals(all.top1Agreement(), a.top1Agreement(), 0.0);
        assertEquals(all.top1PerClass(), a.top1PerClass());
        assertThrows(IllegalArgumentException.class, () -> a.merge(new FidelityAccumulator()));
    }

    @Test
    void identicalOutputsAndEmptyAccumulator() {
        FidelityAccumulator acc = new FidelityAccumulator();
        assertTrue(Double.isNaN(acc.cosine()));
        assertEquals(0L, acc.toMap().get("samples"));
        acc.add(new float[] {1, 2}, new float[] {1, 2});
        assertEquals(Double.POSITIVE_INFINITY, acc.sqnrDb());
        assertEquals(1.0, acc.cosine(), 0.0);
        assertEquals(1.0, acc.minCosine(), 0.0);
        // +Infinity is written as null in JSON reports
        assertTrue(Json.write(acc.toMap()).contains("\"sqnr_db\": null"));
    }

    @Test
    void mismatchedLengthsNameBoth() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new FidelityAccumulator().add(new float[10], new float[12]));
        assertEquals("reference has 10 elements but candidate has 12", e.getMessage());
    }

    @Test
    void nanInTheCandidateIsReportedNotHidden() {
        FidelityAccumulator acc = new FidelityAccumulator();
        acc.add(new float[] {1, 2}, new float[] {Float.NaN, 2});
        acc.add(new float[] {1, 2}, new float[] {5, 2});
        assertTrue(Double.isNaN(acc.maxAbs()));
        assertTrue(Double.isNaN(acc.cosine()));
        assertTrue(Double.isNaN(acc.minCosine()));
        assertTrue(Double.isNaN(acc.sqnrDb()));
    }
}
