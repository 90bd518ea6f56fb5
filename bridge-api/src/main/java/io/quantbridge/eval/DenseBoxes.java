package io.quantbridge.eval;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.metrics.Box;
import io.quantbridge.tensor.FloatTensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Boxes from a dense detector head that writes one candidate per anchor: centre x, centre y, width, height, then one
 * score per class (YOLOv8 and later as Ultralytics exports them: {@code [N, 4 + classes, anchors]}, or transposed,
 * {@code [N, anchors, 4 + classes]}; the shorter axis is taken as the attributes, and {@code [4 + classes, anchors]}
 * when both are equal). An anchor's class is its highest score; anchors scoring at least {@code score} are kept, then
 * non-maximum suppression per class drops a box that overlaps a higher-scoring one by IoU above {@code nmsIou}, and at
 * most {@code maxBoxes} boxes per image remain (Ultralytics' predict defaults: 0.25, 0.7, 300). Coordinates stay in
 * the output's units (input pixels).
 */
public record DenseBoxes(String output, double matchIou, double score, double nmsIou, int maxBoxes)
        implements SingleOutputDecoder {
    public static final double DEFAULT_SCORE = 0.25;
    public static final double DEFAULT_NMS_IOU = 0.7;
    public static final int DEFAULT_MAX_BOXES = 300;

    public DenseBoxes {
        if (!Double.isFinite(score)) throw new QuantbridgeException("--boxes yolo: score must be a number");
        if (!(nmsIou > 0 && nmsIou <= 1)) throw new QuantbridgeException("--boxes yolo: nms must be in (0, 1]");
        if (maxBoxes < 1) throw new QuantbridgeException("--boxes yolo: max must be at least 1, not " + maxBoxes);
    }

    @Override
    public String kind() {
        return "yolo";
    }

    @Override
    public DenseBoxes withOutput(String name) {
        return new DenseBoxes(name, matchIou, score, nmsIou, maxBoxes);
    }

    @Override
    public List<Box> decode(FloatTensor t) {
        long[] s = t.shape();
        if (s.length != 2 && s.length != 3) throw shapeError(s);
        int n = s.length == 3 ? (int) s[0] : 1;
        int a1 = (int) s[s.length - 2];
        int a2 = (int) s[s.length - 1];
        boolean attrsFirst = a1 <= a2;
        int attrs = attrsFirst ? a1 : a2;
        int anchors = attrsFirst ? a2 : a1;
        if (attrs < 5) throw shapeError(s);
        int classes = attrs - 4;
        float[] d = t.data();
        List<Box> out = new ArrayList<>();
        for (int img = 0; img < n; img++) {
            int base = img * attrs * anchors;
            List<Box> kept = new ArrayList<>();
            for (int a = 0; a < anchors; a++) {
                int best = -1;
                float bestScore = Float.NEGATIVE_INFINITY;
                for (int k = 0; k < classes; k++) {
                    float v = d[index(base, attrsFirst, anchors, attrs, a, 4 + k)];
                    if (v > bestScore) {
                        bestScore = v;
                        best = k;
                    }
                }
                if (best < 0 || !(bestScore >= score)) continue;
                float cx = d[index(base, attrsFirst, anchors, attrs, a, 0)];
                float cy = d[index(base, attrsFirst, anchors, attrs, a, 1)];
                float w = Math.max(0f, d[index(base, attrsFirst, anchors, attrs, a, 2)]);
                float h = Math.max(0f, d[index(base, attrsFirst, anchors, attrs, a, 3)]);
                if (!Float.isFinite(cx) || !Float.isFinite(cy) || !Float.isFinite(w) || !Float.isFinite(h)) continue;
                kept.add(new Box(img, best, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, bestScore));
            }
            out.addAll(NonMaxSuppression.greedy(kept, nmsIou, maxBoxes));
        }
        return out;
    }

    private static int index(int base, boolean attrsFirst, int anchors, int attrs, int anchor, int attr) {
        return base + (attrsFirst ? attr * anchors + anchor : anchor * attrs + attr);
    }

    private QuantbridgeException shapeError(long[] s) {
        return new QuantbridgeException("--boxes yolo: output '" + (output == null ? "" : output) + "' has shape "
                + Arrays.toString(s) + "; a dense detector head is [N, 4 + classes, anchors] or [N, anchors,"
                + " 4 + classes] with at least one class");
    }

    @Override
    public Map<String, Object> describe() {
        Map<String, Object> m = describeKindAndOutput();
        m.put("score", score);
        m.put("nms_iou", nmsIou);
        m.put("max_boxes", maxBoxes);
        m.put("match_iou", matchIou);
        return m;
    }
}
