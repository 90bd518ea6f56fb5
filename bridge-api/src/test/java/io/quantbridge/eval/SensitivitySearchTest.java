package io.quantbridge.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.quantbridge.backend.Progress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The float-layer search every backend shares, on a scorer whose answers are known. */
class SensitivitySearchTest {
    @Test
    void theScreeningSamplesAreThoseWithTheLargestErrorInIndexOrder() {
        double[] err = {0.5, 9, 0.1, 7, 7, 3};
        assertArrayEquals(new int[] {1, 3, 4}, SensitivitySearch.largest(err, 3));
        // a tie at the cut goes to the lower index
        assertArrayEquals(new int[] {1, 3}, SensitivitySearch.largest(err, 2));
        assertArrayEquals(new int[] {0, 1, 2, 3, 4, 5}, SensitivitySearch.largest(err, 10));
    }

    @Test
    void atLeastTwelveAndFourPerRequestedNodeAreScoredAgainOnEverySample() {
        assertEquals(12, SensitivitySearch.rescored(1));
        assertEquals(12, SensitivitySearch.rescored(3));
        assertEquals(20, SensitivitySearch.rescored(5));
    }

    /** Each node's gain when kept float, added up; "c" alone helps but hurts next to "a" (an interaction). */
    private static final Map<String, Double> GAIN = Map.of("a", 0.05, "b", 0.03, "c", 0.04, "d", -0.01, "e", 0.0);

    private static double additive(List<String> keep) {
        double v = 0.9;
        for (String k : keep) v += GAIN.get(k);
        if (keep.contains("a") && keep.contains("c")) v -= 0.08;
        return v;
    }

    private static List<SensitivitySearch.Node> nodes(String... names) {
        List<SensitivitySearch.Node> l = new ArrayList<>();
        for (String n : names) l.add(new SensitivitySearch.Node(n, "Conv"));
        return l;
    }

    @Test
    void nodesJoinBestFirstOnlyWhenTheSetWithThemScoresHigher() {
        List<List<String>> asked = new ArrayList<>();
        SensitivitySearch.Outcome o = SensitivitySearch.run(nodes("a", "b", "c", "d", "e"), 3, 4,
                (keep, subset, err) -> {
                    asked.add(keep);
                    assertNull(subset, "4 samples: no screening");
                    return additive(keep);
                }, "test metric", Progress.NONE);
        // ranking a (0.95), c (0.94), b (0.93); c next to a scores 0.91 < 0.95, so b joins instead; d and e never
        // beat the all-int8 score and are not tried
        assertEquals(List.of("a", "b"), o.chosen());
        assertEquals(0.9, o.baseline(), 1e-12);
        assertEquals(0.98, o.result(), 1e-12);
        assertEquals(List.of("a", "c", "b", "e", "d"), o.ranking().stream().map(SensitivitySearch.Candidate::node)
                .toList());
        assertEquals(List.of(List.of(), List.of("a"), List.of("b"), List.of("c"), List.of("d"), List.of("e"),
                List.of("a", "c"), List.of("a", "b")), asked);
        assertEquals(0, o.screeningSamples());
        Map<String, Object> report = o.toMap(3);
        assertEquals(List.of("a", "b"), report.get("chosen"));
        assertEquals("test metric", report.get("metric"));
        assertEquals(false, report.containsKey("screening"));
    }

    @Test
    void atMostNNodesAreChosen() {
        assertEquals(List.of("a"), SensitivitySearch.run(nodes("a", "b", "c"), 1, 4,
                (keep, subset, err) -> additive(keep), "m", Progress.NONE).chosen());
    }

    @Test
    void aVariantScoringNanRanksLastAndIsNeverChosen() {
        SensitivitySearch.Outcome o = SensitivitySearch.run(nodes("b", "e"), 2, 4,
                (keep, subset, err) -> keep.contains("e") ? Double.NaN : additive(keep), "m", Progress.NONE);
        assertEquals(List.of("b"), o.chosen());
        assertEquals("e", o.ranking().get(1).node());
        assertEquals(Double.NEGATIVE_INFINITY, o.ranking().get(1).cosine());
    }

    @Test
    void withManySamplesLeaveOneOutIsScreenedOnTheQuarterThatTheAllInt8ModelGetsMostWrong() {
        List<String> names = new ArrayList<>();
        for (int i = 0; i < 20; i++) names.add("n" + i);
        List<int[]> subsets = new ArrayList<>();
        SensitivitySearch.Outcome o = SensitivitySearch.run(nodes(names.toArray(new String[0])), 1, 40,
                (keep, subset, err) -> {
                    if (err != null) for (int i = 0; i < err.length; i++) err[i] = i % 7; // largest at 6, 13, 20, ...
                    if (keep.size() == 1) subsets.add(subset);
                    // node n<i> gains i / 1000 on every sample
                    return keep.isEmpty() ? 0.5 : 0.5 + Integer.parseInt(keep.get(0).substring(1)) / 1000.0;
                }, "m", Progress.NONE);
        assertEquals(10, o.screeningSamples());
        assertEquals(12, o.rescored());
        // 20 screened on the 10 samples where the error is largest (ties to the lower index), then the 12 best
        // again on all
        assertEquals(32, subsets.size());
        assertArrayEquals(new int[] {5, 6, 12, 13, 19, 20, 26, 27, 33, 34}, subsets.get(0));
        assertNull(subsets.get(31));
        assertEquals(12, o.ranking().size());
        assertEquals(List.of("n19"), o.chosen());
    }
}
