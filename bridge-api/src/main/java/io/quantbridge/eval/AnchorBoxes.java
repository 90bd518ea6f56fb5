package io.quantbridge.eval;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.metrics.Box;
import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.tensor.TensorInfo;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Boxes from an SSD head over a fixed grid of anchors, as MediaPipe's detectors write them (BlazeFace short range,
 * palm and pose detection): one output of box offsets {@code [N, anchors, >= 4]} (x and y of the centre relative to
 * the anchor's centre, width, height, all in input pixels; keypoints may follow and are ignored) and one of score
 * logits {@code [N, anchors, classes]}. Either may be split over several outputs along the anchor axis, named in anchor
 * order and joined with {@code +} (the ONNX BlazeFace writes one pair per stride:
 * {@code output=Identity_2:0+Identity_3:0,scores=Identity:0+Identity_1:0}); the counts are reported under the first.
 * Such a head is also found by shape when every output belongs to it, and joined in the model's output order (name the
 * parts when that is not the anchor order: the anchor count cannot tell).
 *
 * <p>The anchors are those of MediaPipe's SSD anchor generator with fixed-size anchors: consecutive layers with the
 * same stride form one grid of {@code ceil(H / stride) x ceil(W / stride)} cells, each cell holding
 * {@code perLayer} anchors per layer at its centre; grids in stride order, cells row by row. The defaults are the
 * short-range face detector's (strides 8, 16, 16, 16, two anchors per layer: 896 on 128x128). A box's score is the
 * sigmoid of its largest logit (clipped to +-100); boxes scoring at least {@code score} are kept and suppressed
 * greedily per class above IoU {@code nmsIou} (MediaPipe blends overlapping face boxes instead; for recall the
 * surviving box is what counts). Boxes are in input pixels.
 *
 * @param size {@code {width, height}} of the input; null: the model's image input
 */
public record AnchorBoxes(String output, String scores, double matchIou, int[] size, int[] strides, int perLayer,
                          double score, double nmsIou) implements BoxDecoder {
    public static final int[] DEFAULT_STRIDES = {8, 16, 16, 16};
    public static final int DEFAULT_PER_LAYER = 2;
    public static final double DEFAULT_SCORE = 0.5;
    public static final double DEFAULT_NMS_IOU = 0.3;
    /** The keys {@code --boxes anchors} takes. */
    static final List<String> KEYS = List.of("output", "scores", "size", "strides", "per-layer", "score", "nms",
            "match");
    private static final int MAX_BOXES = 1000;

    public AnchorBoxes {
        strides = strides.clone();
        size = size == null ? null : size.clone();
        if (strides.length == 0 || Arrays.stream(strides).anyMatch(st -> st < 1)) {
            throw new QuantbridgeException("--boxes anchors: strides must be positive integers, not "
                    + Arrays.toString(strides));
        }
        if (perLayer < 1) throw new QuantbridgeException("--boxes anchors: per-layer must be at least 1");
        if (size != null && (size.length != 2 || size[0] < 1 || size[1] < 1)) {
            throw new QuantbridgeException("--boxes anchors: size must be WxH, positive");
        }
        if (!(score >= 0 && score <= 1)) throw new QuantbridgeException("--boxes anchors: score must be in [0, 1]");
        if (!(nmsIou > 0 && nmsIou <= 1)) throw new QuantbridgeException("--boxes anchors: nms must be in (0, 1]");
    }

    /** {@code {width, height}}, or null until {@link #resolve} takes it from the model. */
    @Override
    public int[] size() {
        return size == null ? null : size.clone();
    }

    @Override
    public int[] strides() {
        return strides.clone();
    }

    static AnchorBoxes parse(String spec, String output, double match, Map<String, String> kv) {
        String scores = kv.remove("scores");
        int[] size = null;
        String s = kv.remove("size");
        if (s != null) {
            String[] wh = s.toLowerCase(java.util.Locale.ROOT).split("x", -1);
            try {
                size = wh.length == 1 ? new int[] {Integer.parseInt(wh[0].trim()), Integer.parseInt(wh[0].trim())}
                        : wh.length == 2 ? new int[] {Integer.parseInt(wh[0].trim()), Integer.parseInt(wh[1].trim())}
                        : null;
            } catch (NumberFormatException e) {
                size = null;
            }
            if (size == null) throw new QuantbridgeException("--boxes " + spec + ": size='" + s + "' is not WxH");
        }
        int[] strides = DEFAULT_STRIDES;
        String st = kv.remove("strides");
        if (st != null) {
            try {
                strides = Arrays.stream(st.split(":", -1)).mapToInt(x -> Integer.parseInt(x.trim())).toArray();
            } catch (NumberFormatException e) {
                throw new QuantbridgeException("--boxes " + spec + ": strides='" + st + "' is not a list like"
                        + " 8:16:16:16");
            }
        }
        return new AnchorBoxes(output, scores, match, size, strides,
                (int) BoxDecoder.number(spec, kv, "per-layer", DEFAULT_PER_LAYER),
                BoxDecoder.number(spec, kv, "score", DEFAULT_SCORE), BoxDecoder.number(spec, kv, "nms",
                        DEFAULT_NMS_IOU));
    }

    @Override
    public List<String> reads() {
        List<String> all = new ArrayList<>(parts(output));
        all.addAll(parts(scores));
        return all;
    }

    @Override
    public String reportedUnder() {
        return parts(output).get(0);
    }

    /** The output names in {@code joined} ({@code a+b+c}), in order. */
    private static List<String> parts(String joined) {
        return List.of(joined.split("\\+", -1));
    }

    /** The anchors the outputs named by {@code joined} hold together, or -1 when one of them is dynamic. */
    private static long anchorCount(String joined, List<TensorInfo> outputs) {
        long total = 0;
        for (String part : parts(joined)) {
            TensorInfo t = outputs.stream().filter(o -> o.name().equals(part)).findFirst().orElseThrow();
            long[] sh = t.shape();
            if (sh.length < 2 || sh[sh.length - 2] <= 0) return -1;
            total += sh[sh.length - 2];
        }
        return total;
    }

    /** The tensors named by {@code joined}, concatenated along their second-to-last (anchor) axis. */
    private static FloatTensor joined(String joined, Map<String, FloatTensor> outputs) {
        List<String> names = parts(joined);
        if (names.size() == 1) return outputs.get(names.get(0));
        List<FloatTensor> ts = names.stream().map(outputs::get).toList();
        long[] first = ts.get(0).shape();
        int rank = first.length;
        if (rank < 2) return ts.get(0);
        long outer = 1;
        for (int d = 0; d < rank - 2; d++) outer *= first[d];
        int inner = (int) first[rank - 1];
        long anchors = 0;
        for (FloatTensor t : ts) {
            long[] sh = t.shape();
            if (sh.length != rank || sh[rank - 1] != inner || t.size() != outer * sh[rank - 2] * inner) {
                throw new QuantbridgeException("--boxes anchors: the outputs " + names + " cannot be joined along the"
                        + " anchor axis: shapes " + ts.stream().map(x -> Arrays.toString(x.shape())).toList());
            }
            anchors += sh[rank - 2];
        }
        float[] out = new float[Math.toIntExact(outer * anchors * inner)];
        int pos = 0;
        for (long o = 0; o < outer; o++) {
            for (FloatTensor t : ts) {
                int block = (int) (t.shape()[rank - 2] * inner);
                System.arraycopy(t.data(), (int) (o * block), out, pos, block);
                pos += block;
            }
        }
        long[] shape = first.clone();
        shape[rank - 2] = anchors;
        return new FloatTensor(shape, out);
    }

    /** The anchor centres, {x0, y0, x1, y1, ...} normalized to [0, 1], for an input of {@link #size}. */
    float[] anchorCentres() {
        List<float[]> centres = new ArrayList<>();
        for (int layer = 0; layer < strides.length; ) {
            int same = layer;
            while (same < strides.length && strides[same] == strides[layer]) same++;
            int perCell = (same - layer) * perLayer;
            int rows = (size[1] + strides[layer] - 1) / strides[layer];
            int cols = (size[0] + strides[layer] - 1) / strides[layer];
            for (int y = 0; y < rows; y++) {
                for (int x = 0; x < cols; x++) {
                    for (int k = 0; k < perCell; k++) {
                        centres.add(new float[] {(x + 0.5f) / cols, (y + 0.5f) / rows});
                    }
                }
            }
            layer = same;
        }
        float[] c = new float[centres.size() * 2];
        for (int i = 0; i < centres.size(); i++) {
            c[2 * i] = centres.get(i)[0];
            c[2 * i + 1] = centres.get(i)[1];
        }
        return c;
    }

    @Override
    public AnchorBoxes resolve(List<TensorInfo> outputs, List<TensorInfo> inputs) {
        List<String> names = outputs.stream().map(TensorInfo::name).toList();
        if (output != null) parts(output).forEach(o -> DecoderOutputs.check("anchors", o, names));
        if (scores != null) parts(scores).forEach(o -> DecoderOutputs.check("anchors", o, names));
        String b = output;
        String s = scores;
        if (b == null || s == null) {
            // the one pair that fits: the same anchor count, at least 4 box values, fewer scores than box values
            List<String[]> pairs = new ArrayList<>();
            for (TensorInfo bo : outputs) {
                for (TensorInfo so : outputs) {
                    long[] bs = bo.shape();
                    long[] ss = so.shape();
                    if (bo == so || bs.length < 2 || ss.length < 2 || bs[bs.length - 2] <= 0
                            || bs[bs.length - 2] != ss[ss.length - 2] || bs[bs.length - 1] < 4
                            || ss[ss.length - 1] <= 0 || ss[ss.length - 1] >= bs[bs.length - 1]) {
                        continue;
                    }
                    if ((b == null || b.equals(bo.name())) && (s == null || s.equals(so.name()))) {
                        pairs.add(new String[] {bo.name(), so.name()});
                    }
                }
            }
            String[] split = pairs.size() != 1 && b == null && s == null ? splitHead(outputs) : null;
            if (split != null) {
                b = split[0];
                s = split[1];
            } else if (pairs.size() != 1) {
                throw new QuantbridgeException("--boxes anchors: cannot tell which outputs hold the box offsets and the"
                        + " scores among " + outputs + "; say with output=NAME,scores=NAME");
            } else {
                b = pairs.get(0)[0];
                s = pairs.get(0)[1];
            }
        }
        int[] wh = size;
        if (wh == null) {
            TensorInfo image = inputs.stream().filter(t -> t.shape().length == 4).findFirst().orElse(null);
            long[] sh = image == null ? null : image.shape();
            boolean nhwc = sh != null && (sh[3] == 3 || sh[3] == 1);
            long h = sh == null ? -1 : nhwc ? sh[1] : sh[2];
            long w = sh == null ? -1 : nhwc ? sh[2] : sh[3];
            if (h <= 0 || w <= 0) {
                throw new QuantbridgeException("--boxes anchors: the model has no image input of fixed size ("
                        + inputs + "); give size=WxH");
            }
            wh = new int[] {(int) w, (int) h};
        }
        AnchorBoxes r = new AnchorBoxes(b, s, matchIou, wh, strides, perLayer, score, nmsIou);
        int anchors = r.anchorCentres().length / 2;
        for (String joined : List.of(b, s)) {
            long n = anchorCount(joined, outputs);
            if (n >= 0 && n != anchors) {
                throw new QuantbridgeException("--boxes anchors: strides " + stridesText() + " with " + perLayer
                        + " anchors per layer make " + anchors + " anchors on " + wh[0] + "x" + wh[1] + ", but output"
                        + (parts(joined).size() > 1 ? "s '" : " '") + joined + "' " + (parts(joined).size() > 1
                        ? "have " : "has ") + n);
            }
        }
        return r;
    }

    /**
     * A head split per stride, found by shape: every rank-3 output is box offsets (the same last dimension, at least
     * 4) or scores (a smaller one), and the two lists, in the model's output order, hold the same anchor counts part
     * by part. Joined in that order ({@code a+b}); null when the outputs are not like that.
     */
    private static String[] splitHead(List<TensorInfo> outputs) {
        long boxWidth = outputs.stream().mapToLong(t -> t.shape()[t.shape().length - 1]).max().orElse(0);
        if (boxWidth < 4) return null;
        List<TensorInfo> boxes = new ArrayList<>();
        List<TensorInfo> scores = new ArrayList<>();
        for (TensorInfo t : outputs) {
            long[] sh = t.shape();
            if (sh.length != 3 || sh[1] <= 0 || sh[2] <= 0) return null;
            (sh[2] == boxWidth ? boxes : scores).add(t);
        }
        if (boxes.size() < 2 || boxes.size() != scores.size()) return null;
        long scoreWidth = scores.get(0).shape()[2];
        for (int i = 0; i < boxes.size(); i++) {
            if (boxes.get(i).shape()[1] != scores.get(i).shape()[1] || scores.get(i).shape()[2] != scoreWidth) {
                return null;
            }
        }
        return new String[] {String.join("+", boxes.stream().map(TensorInfo::name).toList()),
                String.join("+", scores.stream().map(TensorInfo::name).toList())};
    }

    private String stridesText() {
        return String.join(":", Arrays.stream(strides).mapToObj(Integer::toString).toList());
    }

    @Override
    public List<Box> decode(Map<String, FloatTensor> outputs) {
        FloatTensor boxes = joined(output, outputs);
        FloatTensor logits = joined(scores, outputs);
        float[] centres = anchorCentres();
        int anchors = centres.length / 2;
        long[] bs = boxes.shape();
        int k = bs.length < 2 ? 0 : (int) bs[bs.length - 1];
        int images = k < 4 || bs[bs.length - 2] != anchors ? 0 : boxes.size() / (anchors * k);
        int classes = images == 0 ? 0 : logits.size() / (images * anchors);
        if (classes < 1 || logits.size() != images * anchors * classes) {
            throw new QuantbridgeException("--boxes anchors: outputs '" + output + "' " + Arrays.toString(bs) + " and '"
                    + scores + "' " + Arrays.toString(logits.shape()) + " do not hold the boxes and scores of "
                    + anchors + " anchors");
        }
        float[] b = boxes.data();
        float[] l = logits.data();
        List<Box> kept = new ArrayList<>();
        for (int img = 0; img < images; img++) {
            for (int a = 0; a < anchors; a++) {
                int best = -1;
                float logit = Float.NEGATIVE_INFINITY;
                for (int c = 0; c < classes; c++) {
                    float v = l[(img * anchors + a) * classes + c];
                    if (v > logit) {
                        logit = v;
                        best = c;
                    }
                }
                if (best < 0) continue;
                double p = 1 / (1 + Math.exp(-Math.max(-100, Math.min(100, logit))));
                if (!(p >= score)) continue;
                int o = (img * anchors + a) * k;
                float cx = b[o] + centres[2 * a] * size[0];
                float cy = b[o + 1] + centres[2 * a + 1] * size[1];
                float w = Math.max(0f, b[o + 2]);
                float h = Math.max(0f, b[o + 3]);
                if (!Float.isFinite(cx) || !Float.isFinite(cy) || !Float.isFinite(w) || !Float.isFinite(h)) continue;
                kept.add(new Box(img, best, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, (float) p));
            }
        }
        return NonMaxSuppression.greedy(kept, nmsIou, MAX_BOXES);
    }

    @Override
    public Map<String, Object> describe() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("kind", "anchors");
        if (output != null) m.put("output", output);
        if (scores != null) m.put("scores", scores);
        if (size != null) m.put("size", size[0] + "x" + size[1]);
        m.put("strides", Arrays.stream(strides).boxed().toList());
        m.put("per_layer", perLayer);
        m.put("score", score);
        m.put("nms_iou", nmsIou);
        m.put("match_iou", matchIou);
        return m;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof AnchorBoxes a && java.util.Objects.equals(a.output, output)
                && java.util.Objects.equals(a.scores, scores) && a.matchIou == matchIou && Arrays.equals(a.size, size)
                && Arrays.equals(a.strides, strides) && a.perLayer == perLayer && a.score == score
                && a.nmsIou == nmsIou;
    }

    @Override
    public int hashCode() {
        return java.util.Objects.hash(output, scores, matchIou, Arrays.hashCode(size), Arrays.hashCode(strides),
                perLayer, score, nmsIou);
    }

    @Override
    public String toString() {
        return "AnchorBoxes" + describe();
    }
}
