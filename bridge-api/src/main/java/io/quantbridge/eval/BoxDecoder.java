package io.quantbridge.eval;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.metrics.Box;
import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.tensor.TensorInfo;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Turns one model output into boxes, so that evaluation can report box recall (SPEC 9's task metric for detectors):
 * the float model's boxes are the reference, the quantized model's are matched against them. Given on the command
 * line as {@code --boxes KIND[,key=value]...}:
 * <ul>
 *   <li>{@code mask}: connected regions of a probability map above a threshold ({@link MaskBoxes}; DBNet text maps,
 *       segmentation maps);</li>
 *   <li>{@code yolo}: one candidate box per anchor, centre, size and class scores, then non-maximum suppression
 *       ({@link DenseBoxes}; YOLOv8-style {@code [N, 4 + classes, anchors]});</li>
 *   <li>{@code anchors}: box offsets and score logits relative to a grid of SSD anchors ({@link AnchorBoxes};
 *       MediaPipe's face, palm and pose detectors).</li>
 * </ul>
 * Keys every kind takes: {@code output=NAME} (default: the model's only output, or for {@code anchors} the output
 * that fits) and {@code match=IOU} (the IoU at which a candidate box matches a reference box, default 0.5).
 */
public sealed interface BoxDecoder permits SingleOutputDecoder, AnchorBoxes {
    /** IoU at which a candidate box matches a reference box unless {@code match=} says otherwise. */
    double DEFAULT_MATCH_IOU = 0.5;

    /** The output the box counts are reported under; null until {@link #resolve} names it. */
    String output();

    /** The output name the box counts are reported under: {@link #output()} unless it names several. */
    default String reportedUnder() {
        return output();
    }

    /** Every output the decoder reads. */
    default List<String> reads() {
        return List.of(output());
    }

    /** The IoU at which a candidate box matches a reference box. */
    double matchIou();

    /**
     * This decoder with what was left unsaid taken from the model (which output, the input size), checked against
     * its outputs; errors name the option.
     */
    BoxDecoder resolve(List<TensorInfo> outputs, List<TensorInfo> inputs);

    /** The boxes in one sample's outputs (by name), in a deterministic order. */
    List<Box> decode(Map<String, FloatTensor> outputs);

    /** The kind and every parameter, for report.json. */
    Map<String, Object> describe();

    /** Parses {@code KIND[,key=value]...}, e.g. {@code mask,threshold=0.3} or {@code yolo,score=0.25,output=output0}. */
    static BoxDecoder parse(String spec) {
        String[] parts = spec.split(",", -1);
        String kind = parts[0].trim().toLowerCase(Locale.ROOT);
        Map<String, String> kv = new LinkedHashMap<>();
        for (int i = 1; i < parts.length; i++) {
            int eq = parts[i].indexOf('=');
            if (eq <= 0) {
                throw new QuantbridgeException("--boxes " + spec + ": '" + parts[i] + "' is not key=value");
            }
            String key = parts[i].substring(0, eq).trim().toLowerCase(Locale.ROOT);
            if (kv.put(key, parts[i].substring(eq + 1).trim()) != null) {
                throw new QuantbridgeException("--boxes " + spec + ": '" + key + "' is given twice");
            }
        }
        String output = kv.remove("output");
        double match = number(spec, kv, "match", DEFAULT_MATCH_IOU);
        if (!(match > 0 && match <= 1)) throw new QuantbridgeException("--boxes " + spec + ": match must be in (0, 1]");
        BoxDecoder d = switch (kind) {
            case "mask" -> new MaskBoxes(output, match, number(spec, kv, "threshold", MaskBoxes.DEFAULT_THRESHOLD),
                    number(spec, kv, "box-score", MaskBoxes.DEFAULT_BOX_SCORE),
                    (int) number(spec, kv, "min-side", MaskBoxes.DEFAULT_MIN_SIDE),
                    MaskBoxes.Layout.parse(spec, kv.remove("layout")));
            case "yolo" -> new DenseBoxes(output, match, number(spec, kv, "score", DenseBoxes.DEFAULT_SCORE),
                    number(spec, kv, "nms", DenseBoxes.DEFAULT_NMS_IOU),
                    (int) number(spec, kv, "max", DenseBoxes.DEFAULT_MAX_BOXES));
            case "anchors" -> AnchorBoxes.parse(spec, output, match, kv);
            default -> throw new QuantbridgeException("--boxes " + spec + ": unknown kind '" + kind
                    + "' (use mask, yolo or anchors)");
        };
        if (!kv.isEmpty()) {
            throw new QuantbridgeException("--boxes " + spec + ": unknown key" + (kv.size() > 1 ? "s " : " ")
                    + String.join(", ", kv.keySet()) + " for " + kind + " (it takes " + String.join(", ",
                    switch (kind) {
                        case "mask" -> List.of("threshold", "box-score", "min-side", "layout", "output", "match");
                        case "yolo" -> List.of("score", "nms", "max", "output", "match");
                        default -> AnchorBoxes.KEYS;
                    }) + ")");
        }
        return d;
    }

    /** {@code kv}'s number under {@code key} (removed from it), or {@code fallback}. */
    static double number(String spec, Map<String, String> kv, String key, double fallback) {
        String v = kv.remove(key);
        if (v == null) return fallback;
        try {
            double d = Double.parseDouble(v);
            if (!Double.isFinite(d)) throw new NumberFormatException();
            return d;
        } catch (NumberFormatException e) {
            throw new QuantbridgeException("--boxes " + spec + ": " + key + "='" + v + "' is not a number");
        }
    }
}
