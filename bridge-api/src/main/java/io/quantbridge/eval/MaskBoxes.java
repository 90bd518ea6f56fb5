package io.quantbridge.eval;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.metrics.Box;
import io.quantbridge.tensor.FloatTensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Boxes from a probability map, the way a DBNet text detector's post-processing finds text (PaddleOCR's defaults:
 * map threshold 0.3, box score 0.6, smallest side 3): the pixels above {@code threshold} form 8-connected regions;
 * each region gives its bounding box, scored by the mean of the map over the region's pixels, and is kept when its
 * score is at least {@code boxScore} and both its sides are at least {@code minSide} pixels. Boxes are axis-aligned,
 * in map pixels (PaddleOCR then fits a rotated rectangle and grows it; recall at IoU 0.5 between two maps of the same
 * model hardly depends on that). Each channel of a multi-channel map is a class of its own.
 *
 * <p>Shapes: {@code [H, W]}, {@code [N, H, W]}, {@code [N, C, H, W]} or {@code [N, H, W, C]}; for rank 4 the layout
 * is NHWC when the last dimension is 1 and the second is not, NCHW otherwise, unless {@code layout=} says.
 */
public record MaskBoxes(String output, double matchIou, double threshold, double boxScore, int minSide,
                        Layout layout) implements SingleOutputDecoder {
    public static final double DEFAULT_THRESHOLD = 0.3;
    public static final double DEFAULT_BOX_SCORE = 0.6;
    public static final int DEFAULT_MIN_SIDE = 3;

    /** How a rank-4 map is laid out. */
    public enum Layout {
        AUTO, NCHW, NHWC;

        static Layout parse(String spec, String text) {
            if (text == null) return AUTO;
            try {
                return valueOf(text.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new QuantbridgeException("--boxes " + spec + ": layout='" + text + "' (use nchw or nhwc)");
            }
        }
    }

    public MaskBoxes {
        if (!Double.isFinite(threshold)) throw new QuantbridgeException("--boxes mask: threshold must be a number");
        if (!Double.isFinite(boxScore)) throw new QuantbridgeException("--boxes mask: box-score must be a number");
        if (minSide < 1) throw new QuantbridgeException("--boxes mask: min-side must be at least 1, not " + minSide);
        if (layout == null) layout = Layout.AUTO;
    }

    /** PaddleOCR's DBNet defaults on the model's only output. */
    public MaskBoxes() {
        this(null, DEFAULT_MATCH_IOU, DEFAULT_THRESHOLD, DEFAULT_BOX_SCORE, DEFAULT_MIN_SIDE, Layout.AUTO);
    }

    @Override
    public String kind() {
        return "mask";
    }

    @Override
    public MaskBoxes withOutput(String name) {
        return new MaskBoxes(name, matchIou, threshold, boxScore, minSide, layout);
    }

    @Override
    public List<Box> decode(FloatTensor t) {
        long[] s = t.shape();
        int n;
        int c;
        int h;
        int w;
        boolean nhwc = false;
        switch (s.length) {
            case 2 -> { n = 1; c = 1; h = (int) s[0]; w = (int) s[1]; }
            case 3 -> { n = (int) s[0]; c = 1; h = (int) s[1]; w = (int) s[2]; }
            case 4 -> {
                nhwc = layout == Layout.NHWC || layout == Layout.AUTO && s[3] == 1 && s[1] != 1;
                n = (int) s[0];
                c = (int) (nhwc ? s[3] : s[1]);
                h = (int) (nhwc ? s[1] : s[2]);
                w = (int) (nhwc ? s[2] : s[3]);
            }
            default -> throw new QuantbridgeException("--boxes mask: output '" + (output == null ? "" : output)
                    + "' has shape " + Arrays.toString(s) + "; a probability map is [H, W], [N, H, W], [N, C, H, W]"
                    + " or [N, H, W, C]");
        }
        float[] data = t.data();
        float[] plane = new float[h * w];
        List<Box> boxes = new ArrayList<>();
        for (int img = 0; img < n; img++) {
            for (int ch = 0; ch < c; ch++) {
                for (int y = 0; y < h; y++) {
                    for (int x = 0; x < w; x++) {
                        plane[y * w + x] = nhwc ? data[((img * h + y) * w + x) * c + ch]
                                : data[((img * c + ch) * h + y) * w + x];
                    }
                }
                regions(plane, h, w, img, ch, boxes);
            }
        }
        return boxes;
    }

    /** Adds the kept boxes of the 8-connected regions above the threshold, in the order of their first pixel. */
    private void regions(float[] p, int h, int w, int img, int cls, List<Box> out) {
        boolean[] seen = new boolean[p.length];
        int[] queue = new int[p.length];
        for (int start = 0; start < p.length; start++) {
            if (seen[start] || !(p[start] > threshold)) continue;
            int head = 0;
            int tail = 0;
            queue[tail++] = start;
            seen[start] = true;
            int minX = w;
            int minY = h;
            int maxX = -1;
            int maxY = -1;
            double sum = 0;
            while (head < tail) {
                int i = queue[head++];
                int y = i / w;
                int x = i - y * w;
                minX = Math.min(minX, x);
                maxX = Math.max(maxX, x);
                minY = Math.min(minY, y);
                maxY = Math.max(maxY, y);
                sum += p[i];
                for (int dy = -1; dy <= 1; dy++) {
                    int yy = y + dy;
                    if (yy < 0 || yy >= h) continue;
                    for (int dx = -1; dx <= 1; dx++) {
                        int xx = x + dx;
                        if (xx < 0 || xx >= w) continue;
                        int j = yy * w + xx;
                        if (!seen[j] && p[j] > threshold) {
                            seen[j] = true;
                            queue[tail++] = j;
                        }
                    }
                }
            }
            double score = sum / tail;
            int bw = maxX - minX + 1;
            int bh = maxY - minY + 1;
            if (Math.min(bw, bh) >= minSide && score >= boxScore) {
                out.add(new Box(img, cls, minX, minY, maxX + 1, maxY + 1, (float) score));
            }
        }
    }

    @Override
    public Map<String, Object> describe() {
        Map<String, Object> m = describeKindAndOutput();
        m.put("threshold", threshold);
        m.put("box_score", boxScore);
        m.put("min_side", minSide);
        if (layout != Layout.AUTO) m.put("layout", layout.name().toLowerCase(Locale.ROOT));
        m.put("match_iou", matchIou);
        return m;
    }
}
