package io.quantbridge.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.metrics.Box;
import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.tensor.TensorInfo;
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
        assertEquals("--boxes ssd: unknown kind 'ssd' (use mask, yolo or anchors)", message("ssd"));
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

    private static final List<TensorInfo> FACE_OUTPUTS = List.of(
            new TensorInfo("regressors", "float", new long[] {1, 896, 16}),
            new TensorInfo("classificators", "float", new long[] {1, 896, 1}));
    private static final List<TensorInfo> FACE_INPUT = List.of(new TensorInfo("input", "float",
            new long[] {1, 128, 128, 3}));

    @Test
    void anchorsFollowMediaPipesSsdGridsAndFindTheirOutputs() {
        AnchorBoxes face = (AnchorBoxes) BoxDecoder.parse("anchors").resolve(FACE_OUTPUTS, FACE_INPUT);
        assertEquals(new AnchorBoxes("regressors", "classificators", 0.5, new int[] {128, 128},
                new int[] {8, 16, 16, 16}, 2, 0.5, 0.3), face);
        float[] c = face.anchorCentres();
        assertEquals(2 * 896, c.length); // 16 x 16 cells x 2 anchors, then 8 x 8 cells x 6
        assertEquals(0.5f / 16, c[0]);
        assertEquals(0.5f / 16, c[2]);                 // the second anchor of the first cell
        assertEquals(1.5f / 16, c[4]);                 // the next cell to the right
        assertEquals(0.5f / 8, c[2 * 512]);            // the stride-16 grid starts at anchor 512
        assertEquals(0.5f / 8, c[2 * 517]);            // its first cell holds 6 anchors
        assertEquals(1.5f / 8, c[2 * 518]);
        // MediaPipe's pose detector: strides 8, 16, 32, 32, 32 on 224 x 224 give its 2254 anchors
        AnchorBoxes pose = new AnchorBoxes(null, null, 0.5, new int[] {224, 224}, new int[] {8, 16, 32, 32, 32}, 2,
                0.5, 0.3);
        assertEquals(2 * 2254, pose.anchorCentres().length);

        // named outputs that do not fit, and outputs it cannot pair, are refused naming the option
        assertEquals("--boxes anchors: strides 8:16 with 2 anchors per layer make 640 anchors on 128x128, but output"
                + " 'regressors' has 896", assertThrows(QuantbridgeException.class, () -> BoxDecoder
                .parse("anchors,strides=8:16").resolve(FACE_OUTPUTS, FACE_INPUT)).getMessage());
        assertEquals("--boxes anchors: the model has no output 'boxes' (its outputs: [regressors, classificators])",
                assertThrows(QuantbridgeException.class, () -> BoxDecoder.parse("anchors,output=boxes")
                        .resolve(FACE_OUTPUTS, FACE_INPUT)).getMessage());
        List<TensorInfo> split = List.of(new TensorInfo("a", "float", new long[] {1, 512, 1}),
                new TensorInfo("b", "float", new long[] {1, 384, 1}));
        assertEquals("--boxes anchors: cannot tell which outputs hold the box offsets and the scores among [a float[1,"
                + " 512, 1], b float[1, 384, 1]]; say with output=NAME,scores=NAME", assertThrows(
                QuantbridgeException.class, () -> BoxDecoder.parse("anchors").resolve(split, FACE_INPUT))
                .getMessage());
        assertEquals("--boxes anchors,size=12y: size='12y' is not WxH", message("anchors,size=12y"));
    }

    @Test
    void anchorBoxesAreOffsetsFromTheirAnchorInInputPixels() {
        AnchorBoxes face = (AnchorBoxes) BoxDecoder.parse("anchors").resolve(FACE_OUTPUTS, FACE_INPUT);
        float[] reg = new float[896 * 16];
        float[] logits = new float[896];
        java.util.Arrays.fill(logits, -5f);
        logits[0] = 2f;   // anchor 0, centre (4, 4) pixels
        reg[0] = 1;
        reg[1] = 2;
        reg[2] = 10;
        reg[3] = 20;
        logits[1] = 1f;   // anchor 1, the same place and box: suppressed by anchor 0
        System.arraycopy(reg, 0, reg, 16, 4);
        logits[600] = 0.1f; // sigmoid 0.525: kept
        Map<String, FloatTensor> out = Map.of("regressors", new FloatTensor(new long[] {1, 896, 16}, reg),
                "classificators", new FloatTensor(new long[] {1, 896, 1}, logits));
        List<Box> boxes = face.decode(out);
        assertEquals(2, boxes.size());
        assertEquals(new Box(0, 0, 0, -4, 10, 16, (float) (1 / (1 + Math.exp(-2)))), boxes.get(0));
        // anchor 600: stride-16 grid, cell 88 / 6 = 14 -> row 1, column 6: centre (104, 24)
        assertEquals(new Box(0, 0, 104, 24, 104, 24, (float) (1 / (1 + Math.exp(-0.1)))), boxes.get(1));
        assertEquals(List.of(), BoxDecoder.parse("anchors,score=0.9").resolve(FACE_OUTPUTS, FACE_INPUT).decode(out));
    }

    @Test
    void anchorOutputsSplitPerStrideAreJoinedInAnchorOrder() {
        // the ONNX BlazeFace: boxes and scores of the stride-8 anchors in one pair of outputs, stride 16 in another
        float[] reg = new float[896 * 16];
        float[] logits = new float[896];
        java.util.Arrays.fill(logits, -5f);
        logits[3] = 3f;
        logits[700] = 2f;
        for (int a : new int[] {3, 700}) {
            reg[a * 16 + 2] = 12;
            reg[a * 16 + 3] = 12;
        }
        Map<String, FloatTensor> whole = Map.of("regressors", new FloatTensor(new long[] {1, 896, 16}, reg),
                "classificators", new FloatTensor(new long[] {1, 896, 1}, logits));
        Map<String, FloatTensor> split = Map.of(
                "r8", new FloatTensor(new long[] {1, 512, 16}, java.util.Arrays.copyOfRange(reg, 0, 512 * 16)),
                "r16", new FloatTensor(new long[] {1, 384, 16}, java.util.Arrays.copyOfRange(reg, 512 * 16, 896 * 16)),
                "s8", new FloatTensor(new long[] {1, 512, 1}, java.util.Arrays.copyOfRange(logits, 0, 512)),
                "s16", new FloatTensor(new long[] {1, 384, 1}, java.util.Arrays.copyOfRange(logits, 512, 896)));
        List<TensorInfo> outputs = List.of(new TensorInfo("s8", "float", new long[] {1, 512, 1}),
                new TensorInfo("s16", "float", new long[] {1, 384, 1}),
                new TensorInfo("r8", "float", new long[] {1, 512, 16}),
                new TensorInfo("r16", "float", new long[] {1, 384, 16}));
        BoxDecoder d = BoxDecoder.parse("anchors,output=r8+r16,scores=s8+s16").resolve(outputs, FACE_INPUT);
        assertEquals(d, BoxDecoder.parse("anchors").resolve(outputs, FACE_INPUT)); // found by shape, in output order
        assertEquals("r8", d.reportedUnder());
        assertEquals(List.of("r8", "r16", "s8", "s16"), d.reads());
        List<Box> expected = BoxDecoder.parse("anchors").resolve(FACE_OUTPUTS, FACE_INPUT).decode(whole);
        assertEquals(2, expected.size());
        assertEquals(expected, d.decode(split));
        // in the wrong order the anchors do not add up per grid, but the count does: the boxes land elsewhere
        BoxDecoder swapped = BoxDecoder.parse("anchors,output=r16+r8,scores=s16+s8").resolve(outputs, FACE_INPUT);
        assertEquals(2, swapped.decode(split).size());
        assertTrue(!expected.equals(swapped.decode(split)));
        assertEquals("--boxes anchors: strides 8:16:16 with 2 anchors per layer make 768 anchors on 128x128, but"
                + " outputs 'r8+r16' have 896", assertThrows(QuantbridgeException.class, () -> BoxDecoder
                .parse("anchors,strides=8:16:16,output=r8+r16,scores=s8+s16").resolve(outputs, FACE_INPUT))
                .getMessage());
    }
}
