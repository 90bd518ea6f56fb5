package io.quantbridge.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.metrics.Box;
import io.quantbridge.tensor.FloatTensor;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class BoxDecoderTest {
    @Test
    void parsesKindsDefaultsAndKeys() {
        assertEquals(new MaskBoxes(), BoxDecoder.parse("mask"));
        assertEquals(new MaskBoxes("sigmoid_0.tmp_0", 0.7, 0.5, 0.4, 2, MaskBoxes.Layout.NHWC),
                BoxDecoder.parse("mask,threshold=0.5,box-score=0.4,min-side=2,layout=nhwc,output=sigmoid_0.tmp_0,"
                        + "match=0.7"));
        assertEquals(new DenseBoxes("output0", 0.5, 0.3, 0.45, 100),
                BoxDecoder.parse("YOLO, score=0.3, nms=0.45, max=100, output=output0"));
        assertEquals(Map.of("kind", "yolo", "score", 0.25, "nms_iou", 0.7, "max_boxes", 300, "match_iou", 0.5),
                BoxDecoder.parse("yolo").describe());
    }

    @Test
    void refusesWhatItCannotReadNamingTheOption() {
        assertEquals("--boxes ssd: unknown kind 'ssd' (use mask or yolo)", message("ssd"));
        assertEquals("--boxes mask,score=0.3: unknown key score for mask (it takes threshold, box-score, min-side,"
                + " layout, output, match)", message("mask,score=0.3"));
        assertEquals("--boxes mask,threshold: 'threshold' is not key=value", message("mask,threshold"));
        assertEquals("--boxes mask,threshold=high: threshold='high' is not a number", message("mask,threshold=high"));
        assertEquals("--boxes yolo,match=0: match must be in (0, 1]", message("yolo,match=0"));
        assertEquals("--boxes mask,match=0.5,match=0.6: 'match' is given twice", message("mask,match=0.5,match=0.6"));
        assertEquals("--boxes mask,layout=hwc: layout='hwc' (use nchw or nhwc)", message("mask,layout=hwc"));
        assertEquals("--boxes mask: min-side must be at least 1, not 0", message("mask,min-side=0"));
    }

    private static String message(String spec) {
        return assertThrows(QuantbridgeException.class, () -> BoxDecoder.parse(spec)).getMessage();
    }

    /** A 7 x 8 map: a block joined through a diagonal, a faint narrow region apart, and a one-pixel-high line. */
    private static final float[] MAP = {
        0.9f, 0.9f, 0.9f, 0f, 0f, 0f, 0f, 0f,
        0.9f, 0.9f, 0.9f, 0f, 0f, 0f, 0.4f, 0.4f,
        0.9f, 0.9f, 0.9f, 0f, 0f, 0f, 0.4f, 0.4f,
        0f, 0f, 0f, 0.7f, 0f, 0f, 0.4f, 0.4f,
        0f, 0f, 0f, 0f, 0.8f, 0f, 0f, 0f,
        0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f,
        0.9f, 0.9f, 0.9f, 0.9f, 0f, 0f, 0f, 0f,
    };

    @Test
    void maskRegionsAreEightConnectedScoredByTheirMeanAndFilteredBySideAndScore() {
        List<Box> boxes = new MaskBoxes().decode(new FloatTensor(new long[] {1, 1, 7, 8}, MAP));
        // the diagonal 0.7 and 0.8 pixels join the 3x3 block (8-connectivity); the 0.4 region scores below 0.6
        // and is 2 wide; the bottom line is one pixel high
        assertEquals(List.of(new Box(0, 0, 0, 0, 5, 5, 0.87273f)), round(boxes)); // (9 x 0.9 + 0.7 + 0.8) / 11
        List<Box> loose = new MaskBoxes(null, 0.5, 0.3, 0.3, 1, MaskBoxes.Layout.AUTO)
                .decode(new FloatTensor(new long[] {7, 8}, MAP));
        assertEquals(3, loose.size());
        assertEquals(new Box(0, 0, 6, 1, 8, 4, 0.4f), round(loose).get(1));
        assertEquals(new Box(0, 0, 0, 6, 4, 7, 0.9f), round(loose).get(2));
    }

    @Test
    void maskChannelsAreClassesInEitherLayout() {
        float[] nchw = new float[2 * 7 * 8];
        System.arraycopy(MAP, 0, nchw, 56, 56); // channel 1
        List<Box> a = new MaskBoxes().decode(new FloatTensor(new long[] {1, 2, 7, 8}, nchw));
        assertEquals(1, a.size());
        assertEquals(1, a.get(0).cls());
        float[] nhwc = new float[2 * 7 * 8];
        for (int i = 0; i < 56; i++) nhwc[i * 2 + 1] = MAP[i];
        List<Box> b = new MaskBoxes(null, 0.5, 0.3, 0.6, 3, MaskBoxes.Layout.NHWC)
                .decode(new FloatTensor(new long[] {1, 7, 8, 2}, nhwc));
        assertEquals(round(a), round(b));
        // [1, H, W, 1] is read as NHWC without being told
        assertEquals(round(a).get(0).x2(), round(new MaskBoxes().decode(new FloatTensor(new long[] {1, 7, 8, 1}, MAP)))
                .get(0).x2());
        QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> new MaskBoxes().withOutput("y")
                .decode(new FloatTensor(new long[] {56}, MAP)));
        assertEquals("--boxes mask: output 'y' has shape [56]; a probability map is [H, W], [N, H, W], [N, C, H, W]"
                + " or [N, H, W, C]", e.getMessage());
    }

    /** Boxes with their scores rounded to 5 digits, so that float sums compare. */
    private static List<Box> round(List<Box> boxes) {
        return boxes.stream().map(b -> new Box(b.image(), b.cls(), b.x1(), b.y1(), b.x2(), b.y2(),
                Math.round(b.score() * 1e5f) / 1e5f)).toList();
    }

    /** Anchors as YOLOv8 writes them, [cx, cy, w, h, score0, score1] each, laid out [1, 6, anchors]. */
    private static FloatTensor yolo(float[][] anchors, boolean transposed) {
        int n = anchors.length;
        float[] d = new float[6 * n];
        for (int a = 0; a < n; a++) {
            for (int k = 0; k < 6; k++) d[transposed ? a * 6 + k : k * n + a] = anchors[a][k];
        }
        return new FloatTensor(transposed ? new long[] {1, n, 6} : new long[] {1, 6, n}, d);
    }

    @Test
    void denseHeadsKeepConfidentAnchorsAndSuppressOverlapsWithinAClass() {
        float[][] anchors = {
            {50, 50, 20, 20, 0.9f, 0.1f},   // class 0
            {51, 50, 20, 20, 0.8f, 0.1f},   // class 0, IoU 0.9 with the first: suppressed
            {50, 50, 20, 20, 0.1f, 0.85f},  // class 1 at the same place: kept
            {10, 10, 4, 4, 0.2f, 0.24f},    // below the score threshold
            {100, 100, 10, 10, 0.3f, 0.1f}, // kept
            {70, 70, 8, 8, 0.1f, 0.1f},     // below
            {200, 200, 10, 10, 0.3f, 0.2f}, // kept, tied with the fifth: anchor order
        };
        List<Box> expected = List.of(new Box(0, 0, 40, 40, 60, 60, 0.9f), new Box(0, 1, 40, 40, 60, 60, 0.85f),
                new Box(0, 0, 95, 95, 105, 105, 0.3f), new Box(0, 0, 195, 195, 205, 205, 0.3f));
        DenseBoxes d = new DenseBoxes(null, 0.5, DenseBoxes.DEFAULT_SCORE, DenseBoxes.DEFAULT_NMS_IOU,
                DenseBoxes.DEFAULT_MAX_BOXES);
        assertEquals(expected, d.decode(yolo(anchors, false)));
        assertEquals(expected, d.decode(yolo(anchors, true)));
        assertEquals(expected.subList(0, 2), new DenseBoxes(null, 0.5, 0.25, 0.7, 2).decode(yolo(anchors, false)));
        QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> d.withOutput("out")
                .decode(new FloatTensor(new long[] {1, 4, 100}, new float[400])));
        assertEquals("--boxes yolo: output 'out' has shape [1, 4, 100]; a dense detector head is [N, 4 + classes,"
                + " anchors] or [N, anchors, 4 + classes] with at least one class", e.getMessage());
    }
}
