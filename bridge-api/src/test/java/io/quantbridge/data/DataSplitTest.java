package io.quantbridge.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.QuantbridgeException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

class DataSplitTest {
    private static List<SampleRef> samples(int n) {
        List<SampleRef> list = new ArrayList<>();
        for (int i = n - 1; i >= 0; i--) { // deliberately unsorted
            String id = String.format("img%03d.png", i);
            list.add(new SampleRef(id, SampleRef.Kind.IMAGE, List.of(Path.of(id)), Path.of(id), "calibration data"));
        }
        return list;
    }

    private static List<String> ids(List<SampleRef> s) {
        return s.stream().map(SampleRef::id).toList();
    }

    @Test
    void seededShuffleOfTheSortedList() {
        List<SampleRef> all = samples(20);
        DataSplit split = DataSplit.split(all, 42, 5);
        List<String> sorted = new ArrayList<>(ids(all));
        Collections.sort(sorted);
        Collections.shuffle(sorted, new Random(42));
        List<String> expectedCalib = new ArrayList<>(sorted.subList(0, 5));
        Collections.sort(expectedCalib);
        List<String> expectedEval = new ArrayList<>(sorted.subList(5, 20));
        Collections.sort(expectedEval);
        assertEquals(expectedCalib, ids(split.calibration()));
        assertEquals(expectedEval, ids(split.evaluation()));
        // input order does not matter
        List<SampleRef> reversed = new ArrayList<>(all);
        Collections.reverse(reversed);
        assertEquals(ids(split.calibration()), ids(DataSplit.split(reversed, 42, 5).calibration()));
    }

    @Test
    void disjointCompleteAndRepeatable() {
        List<SampleRef> all = samples(50);
        DataSplit a = DataSplit.split(all, 7, 10);
        DataSplit b = DataSplit.split(all, 7, 10);
        assertEquals(ids(a.calibration()), ids(b.calibration()));
        assertEquals(10, a.calibration().size());
        assertEquals(40, a.evaluation().size());
        Set<String> union = new HashSet<>(ids(a.calibration()));
        union.addAll(ids(a.evaluation()));
        assertEquals(50, union.size());
        assertNotEquals(ids(a.calibration()), ids(DataSplit.split(all, 8, 10).calibration()));
    }

    /**
     * A cap on the evaluation set takes the next samples of the same shuffle: the calibration set does not move, and
     * the held-out set is a seeded subset of what it was (a 50,000-photo folder split with 500 calibrating read and
     * evaluated all 49,500 others).
     */
    @Test
    void anEvaluationCapTakesTheNextSamplesOfTheSameShuffle() {
        List<SampleRef> all = samples(50);
        DataSplit whole = DataSplit.split(all, 7, 10);
        DataSplit capped = DataSplit.split(all, 7, 10, 6);
        assertEquals(ids(whole.calibration()), ids(capped.calibration()));
        assertEquals(6, capped.evaluation().size());
        assertTrue(ids(whole.evaluation()).containsAll(ids(capped.evaluation())));
        List<String> sorted = new ArrayList<>(ids(all));
        Collections.sort(sorted);
        Collections.shuffle(sorted, new Random(7));
        List<String> next = new ArrayList<>(sorted.subList(10, 16));
        Collections.sort(next);
        assertEquals(next, ids(capped.evaluation()));
        assertEquals(40, DataSplit.split(all, 7, 10, 100).evaluation().size());
        assertEquals(ids(whole.evaluation()), ids(DataSplit.split(all, 7, 10, 0).evaluation()));
        assertEquals("--eval-samples: -2 is negative",
                assertThrows(QuantbridgeException.class, () -> DataSplit.split(all, 1, 5, -2)).getMessage());
    }

    @Test
    void zeroOrTooManyMeansAll() {
        List<SampleRef> all = samples(6);
        assertEquals(6, DataSplit.split(all, 1, 0).calibration().size());
        assertTrue(DataSplit.split(all, 1, 0).evaluation().isEmpty());
        assertEquals(6, DataSplit.split(all, 1, 100).calibration().size());
        assertEquals("--samples: -1 is negative",
                assertThrows(QuantbridgeException.class, () -> DataSplit.split(all, 1, -1)).getMessage());
    }

    @Test
    void reportMap() {
        DataSplit s = DataSplit.split(samples(3), 3, 2);
        Map<String, Object> m = s.toMap();
        assertEquals(List.of("seed", "calibration", "evaluation", "evaluation_source"), List.copyOf(m.keySet()));
        assertEquals(3L, m.get("seed"));
        assertEquals(ids(s.calibration()), m.get("calibration"));
        assertEquals(ids(s.evaluation()), m.get("evaluation"));
        assertEquals("split", m.get("evaluation_source"));
    }

    @Test
    void separateEvaluationFolderIsCapped() {
        List<SampleRef> calib = samples(10);
        List<SampleRef> eval = samples(8);
        List<SampleRef> capped = DataSplit.cap(eval, 5, 3);
        assertEquals(3, capped.size());
        assertEquals(ids(capped), ids(DataSplit.cap(eval, 5, 3)));
        List<String> sorted = new ArrayList<>(ids(capped));
        Collections.sort(sorted);
        assertEquals(sorted, ids(capped));
        assertEquals(8, DataSplit.cap(eval, 5, 0).size());
        DataSplit s = DataSplit.separate(calib, eval, 5, 4, 3);
        assertEquals(4, s.calibration().size());
        assertEquals(ids(capped), ids(s.evaluation()));
        assertTrue(s.separateEvaluation());
        assertEquals("separate", s.toMap().get("evaluation_source"));
    }

    @Test
    void excludedCalibrationSamplesLeaveTheEvaluationSetAlone() {
        DataSplit split = DataSplit.split(samples(20), 42, 8);
        List<String> calib = ids(split.calibration());
        String one = calib.get(3);
        String prefix = calib.get(5).substring(0, 5); // img00 or img01: a glob that takes several
        DataSplit without = split.excludingCalibration(List.of(one, prefix + "*.png"));
        List<String> expected = new ArrayList<>(calib);
        expected.removeIf(id -> id.equals(one) || id.startsWith(prefix));
        assertEquals(expected, ids(without.calibration()));
        assertEquals(ids(split.evaluation()), ids(without.evaluation()));
        List<String> gone = new ArrayList<>(calib);
        gone.removeAll(expected);
        Collections.sort(gone);
        assertEquals(gone, without.excludedCalibration());
        assertEquals(gone, without.toMap().get("calibration_excluded"));
        assertTrue(!split.toMap().containsKey("calibration_excluded"));
        assertEquals(split, split.excludingCalibration(List.of()));
        // ids of stacked samples hold brackets, which globs read as a class: the id itself matches too
        List<SampleRef> stacked = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            stacked.add(new SampleRef("calib.npy[0" + i + "]", SampleRef.Kind.NPY, List.of(Path.of("calib.npy")),
                    Path.of("calib.npy"), "calibration data"));
        }
        assertEquals(List.of("calib.npy[02]"), DataSplit.separate(stacked, List.of(), 1, 0, 0)
                .excludingCalibration(List.of("calib.npy[02]")).excludedCalibration());
        // a pattern that matches nothing is a mistake worth hearing about (it may name an evaluation sample)
        String held = split.evaluation().get(0).id();
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> split.excludingCalibration(List.of(held)));
        assertEquals("--calib-exclude '" + held + "' matches none of the 8 calibration samples (ids look like '"
                + calib.get(0) + "')", e.getMessage());
    }
}
