package io.quantbridge.eval;

import io.quantbridge.metrics.Box;
import java.util.ArrayList;
import java.util.List;

/** Greedy non-maximum suppression, as detectors' post-processing runs it. */
final class NonMaxSuppression {
    private NonMaxSuppression() { }

    /**
     * The boxes by descending score (ties: the order given), each dropped when it overlaps a kept box of the same
     * image and class by IoU above {@code iou}; at most {@code max} per image.
     */
    static List<Box> greedy(List<Box> boxes, double iou, int max) {
        List<Box> order = new ArrayList<>(boxes);
        order.sort((x, y) -> Float.compare(y.score(), x.score())); // stable
        List<Box> result = new ArrayList<>();
        java.util.Map<Integer, Integer> perImage = new java.util.HashMap<>();
        for (Box b : order) {
            if (perImage.getOrDefault(b.image(), 0) >= max) continue;
            boolean drop = false;
            for (Box k : result) {
                if (k.image() == b.image() && k.cls() == b.cls() && Box.iou(k, b) > iou) {
                    drop = true;
                    break;
                }
            }
            if (!drop) {
                result.add(b);
                perImage.merge(b.image(), 1, Integer::sum);
            }
        }
        return result;
    }
}
