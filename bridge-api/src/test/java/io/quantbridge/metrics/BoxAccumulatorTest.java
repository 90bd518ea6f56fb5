package io.quantbridge.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class BoxAccumulatorTest {
    private static Box box(int cls, float x1, float y1, float x2, float y2) {
        return new Box(0, cls, x1, y1, x2, y2, 1);
    }

    @Test
    void iouOfOverlappingDisjointAndEmptyBoxes() {
        assertEquals(1.0 / 9, Box.iou(box(0, 0, 0, 2, 2), box(0, 1, 1, 4, 3)), 1e-12); // 1 / (4 + 6 - 1)
        assertEquals(0, Box.iou(box(0, 0, 0, 1, 1), box(0, 1, 0, 2, 1)));
        assertEquals(0, Box.iou(box(0, 0, 0, 0, 0), box(0, 0, 0, 0, 0)));
    }

    @Test
    void matchesOneToOneGreedilyByIouWithinClassAndImage() {
        BoxAccumulator a = new BoxAccumulator(0.5);
        List<Box> ref = List.of(box(0, 0, 0, 10, 10), box(0, 1, 0, 11, 10), box(1, 20, 20, 30, 30),
                new Box(1, 0, 0, 0, 10, 10, 1));
        // one candidate overlaps both of the first two references: it goes to the closer one (IoU 1 against 0.82);
        // the class-1 candidate sits where a class-0 one should; the last reference is on another image
        List<Box> cand = List.of(box(0, 1, 0, 11, 10), box(0, 20, 20, 30, 30), box(1, 20, 20, 30, 31));
        a.add(ref, cand);
        assertEquals(4, a.referenceBoxes());
        assertEquals(3, a.candidateBoxes());
        assertEquals(2, a.matched());
        assertEquals(2, a.missed());
        assertEquals(0.5, a.recall());
        assertEquals(2.0 / 3, a.precision(), 1e-12);
        assertEquals(4.0 / 7, a.f1(), 1e-12);
        assertEquals((1 + 10.0 / 11) / 2, a.meanIou(), 1e-12);
        Map<String, Object> m = a.toMap();
        assertEquals(List.of("box_recall", "box_precision", "box_f1", "box_mean_iou", "boxes_reference",
                "boxes_candidate", "boxes_matched", "box_match_iou", "box_recall_by_size", "box_per_class"),
                List.copyOf(m.keySet()));
        @SuppressWarnings("unchecked")
        Map<String, Map<String, Object>> sizes = (Map<String, Map<String, Object>>) m.get("box_recall_by_size");
        assertEquals(Map.of("reference", 4L, "matched", 2L, "recall", 0.5), sizes.get("small")); // all 10x10
        assertEquals(0L, sizes.get("large").get("reference"));
        @SuppressWarnings("unchecked")
        Map<String, Map<String, Object>> per = (Map<String, Map<String, Object>>) m.get("box_per_class");
        assertEquals(Map.of("reference", 3L, "candidate", 2L, "matched", 1L, "recall", 1.0 / 3, "precision", 0.5),
                per.get("0"));
        assertEquals(Map.of("reference", 1L, "candidate", 1L, "matched", 1L, "recall", 1.0, "precision", 1.0),
                per.get("1"));
    }

    @Test
    void poolsOverSamplesAndSaysWhenThereIsNothingToFind() {
        BoxAccumulator empty = new BoxAccumulator(0.5);
        empty.add(List.of(), List.of());
        assertTrue(Double.isNaN(empty.recall()));
        assertTrue(Double.isNaN(empty.precision()));
        assertEquals(1.0, empty.f1());
        assertTrue(Double.isNaN(empty.meanIou()));
        assertTrue(!empty.toMap().containsKey("box_per_class"));

        BoxAccumulator one = new BoxAccumulator(0.5);
        one.add(List.of(box(0, 0, 0, 10, 10)), List.of());
        BoxAccumulator two = one.emptyCopy();
        two.add(List.of(box(0, 0, 0, 10, 10)), List.of(box(0, 0, 0, 10, 10), box(0, 50, 50, 60, 60)));
        one.merge(two);
        one.merge(empty);
        assertEquals(0.5, one.recall());
        assertEquals(0.5, one.precision());
        assertEquals(1.0, one.meanIou());
        // sizes by COCO's area ranges: 31 x 33 is small (1023), 32 x 32 medium, 96 x 96 large
        BoxAccumulator sized = new BoxAccumulator(0.5);
        sized.add(List.of(box(0, 0, 0, 31, 33), box(0, 100, 0, 132, 32), box(0, 200, 0, 296, 96)),
                List.of(box(0, 200, 0, 296, 96)));
        @SuppressWarnings("unchecked")
        Map<String, Map<String, Object>> sizes = (Map<String, Map<String, Object>>) sized.toMap()
                .get("box_recall_by_size");
        assertEquals(List.of(1L, 1L, 1L), sizes.values().stream().map(v -> v.get("reference")).toList());
        assertEquals(List.of(0L, 0L, 1L), sizes.values().stream().map(v -> v.get("matched")).toList());
        // a looser match IoU counts a shifted box that 0.5 does not
        BoxAccumulator loose = new BoxAccumulator(0.3);
        loose.add(List.of(box(0, 0, 0, 10, 10)), List.of(box(0, 5, 0, 15, 10)));
        assertEquals(1.0, loose.recall());
        BoxAccumulator strict = new BoxAccumulator(0.5);
        strict.add(List.of(box(0, 0, 0, 10, 10)), List.of(box(0, 5, 0, 15, 10)));
        assertEquals(0.0, strict.recall());
    }
}
