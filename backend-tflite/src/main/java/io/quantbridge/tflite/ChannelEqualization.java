package io.quantbridge.tflite;

import static org.tensorflow.lite.schema.BuiltinOperator.CONV_2D;
import static org.tensorflow.lite.schema.BuiltinOperator.DEPTHWISE_CONV_2D;
import static org.tensorflow.lite.schema.BuiltinOperator.RELU;

import io.quantbridge.backend.Progress;
import io.quantbridge.tensor.FloatTensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;
import org.tensorflow.lite.schema.ActivationFunctionType;
import org.tensorflow.lite.schema.Conv2DOptionsT;
import org.tensorflow.lite.schema.DepthwiseConv2DOptionsT;
import org.tensorflow.lite.schema.OperatorT;
import org.tensorflow.lite.schema.SubGraphT;
import org.tensorflow.lite.schema.TensorT;
import org.tensorflow.lite.schema.TensorType;

/**
 * Activation equalization before int8 calibration: where a CONV_2D or DEPTHWISE_CONV_2D with no fused activation, a
 * fused RELU (optionally followed by a standalone RELU) or a fused RELU6 feeds only a DEPTHWISE_CONV_2D (depth
 * multiplier 1), output channel {@code c} of the producer is divided by {@code s_c} (its weights and bias) and the
 * depthwise filter of channel {@code c} is multiplied by {@code s_c}. ReLU commutes with positive scales, the depthwise
 * conv reads channel {@code c} only for output channel {@code c}, so the model computes the same function; with
 * {@code s_c = max|x_c| / max_c' max|x_c'|} (observed on calibration samples) every channel of the tensor between them
 * spans the same range and one per-tensor int8 scale resolves them all. Both weights are quantized per channel, so
 * the rescaled weights lose nothing.
 *
 * <p>RELU6 does not commute with scales: a channel divided by {@code s_c < 1} clips at {@code 6 s_c} in the original
 * units. There {@code s_c = min(1, }{@link #RELU6_HEADROOM}{@code  * max|x_c| / max_c' max|x_c'|)}: the function is
 * exact for every input whose channel stays within {@code RELU6_HEADROOM} times its calibrated maximum, and channels
 * that reach the top range (or never fire) are left alone. On pose-lite (48 opencv photos; float outputs of
 * equalized vs original model on the held-out opencv and skimage photos) a headroom of 1 moved the segmentation
 * logits to cosine 0.960-0.997, 2 kept every output at 0.99992 or more; the int8 model gains because its first
 * depthwise conv read channels with a range of 0.007 through a [0, 6] int8 scale (SQNR 15.9 -> 29.6 dB there).
 *
 * <p>Channels that never fire keep {@code s_c} at {@link #MIN_SCALE} of the largest channel (1 after a RELU6).
 */
final class ChannelEqualization {
    static final float MIN_SCALE = 1e-2f;
    /** How far beyond its calibrated maximum a channel rescaled before a RELU6 stays exact (see the class comment). */
    static final float RELU6_HEADROOM = 4f;

    private ChannelEqualization() { }

    /** One producer -> (RELU) -> depthwise pair; {@code relu6} when the producer clips at 6. */
    record Pair(int producer, int relu, int consumer, int tensor, boolean relu6) { }

    /** What was equalized. */
    record Result(int pairs, List<String> tensors) {
        Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("pairs", pairs);
            m.put("tensors", tensors);
            m.put("rule", "producer channel c / s_c, depthwise channel c * s_c, s_c = max|x_c| / max over channels"
                    + " (exact in float: ReLU or no activation between); after a RELU6, s_c = min(1, "
                    + RELU6_HEADROOM + " max|x_c| / max over channels), exact while a channel stays within "
                    + RELU6_HEADROOM + "x its calibrated maximum");
            return m;
        }
    }

    static List<Pair> pairs(TfliteModel m) {
        SubGraphT g = m.main();
        OperatorT[] ops = g.getOperators();
        int n = g.getTensors().length;
        int[] producer = new int[n];
        int[] uses = new int[n];
        int[] user = new int[n];
        java.util.Arrays.fill(producer, -1);
        for (int i = 0; i < ops.length; i++) {
            for (int o : ops[i].getOutputs()) producer[o] = i;
            for (int in : ops[i].getInputs()) {
                if (in < 0) continue;
                uses[in]++;
                user[in] = i;
            }
        }
        for (int o : g.getOutputs()) uses[o] += 2;
        List<Pair> pairs = new ArrayList<>();
        for (int c = 0; c < ops.length; c++) {
            OperatorT dw = ops[c];
            if (m.builtinCode(dw) != DEPTHWISE_CONV_2D || dw.getInputs().length < 2) continue;
            if (!(dw.getBuiltinOptions().getValue() instanceof DepthwiseConv2DOptionsT o)
                    || o.getDepthMultiplier() != 1 && o.getDepthMultiplier() != 0) continue;
            int x = dw.getInputs()[0];
            if (uses[x] != 1 || !m.isConstant(dw.getInputs()[1])
                    || m.tensor(dw.getInputs()[1]).getType() != TensorType.FLOAT32) continue;
            int relu = -1;
            int t = x;
            int p = producer[t];
            if (p >= 0 && m.builtinCode(ops[p]) == RELU && ops[p].getInputs().length == 1) {
                relu = p;
                t = ops[p].getInputs()[0];
                if (uses[t] != 1) continue;
                p = producer[t];
            }
            byte act = p < 0 ? -1 : fusedActivation(m, ops[p]);
            boolean relu6 = act == ActivationFunctionType.RELU6 && relu < 0;
            if (act != ActivationFunctionType.NONE && act != ActivationFunctionType.RELU && !relu6
                    || ops[p].getOutputs().length != 1) continue;
            int w = ops[p].getInputs()[1];
            if (!m.isConstant(w) || m.tensor(w).getType() != TensorType.FLOAT32 || uses[w] != 1) continue;
            int b = ops[p].getInputs().length > 2 ? ops[p].getInputs()[2] : -1;
            if (b < 0 || !m.isConstant(b) || m.tensor(b).getType() != TensorType.FLOAT32 || uses[b] != 1) continue;
            if (uses[dw.getInputs()[1]] != 1) continue;
            int channels = m.tensor(x).getShape()[m.tensor(x).getShape().length - 1];
            if (m.tensor(dw.getInputs()[1]).getShape()[3] != channels) continue;
            pairs.add(new Pair(p, relu, c, x, relu6));
        }
        return pairs;
    }

    /** The fused activation of a CONV_2D or DEPTHWISE_CONV_2D (depth multiplier 1); -1 for other ops. */
    private static byte fusedActivation(TfliteModel m, OperatorT op) {
        Object v = op.getBuiltinOptions() == null ? null : op.getBuiltinOptions().getValue();
        if (m.builtinCode(op) == CONV_2D && v instanceof Conv2DOptionsT c) return c.getFusedActivationFunction();
        if (m.builtinCode(op) == DEPTHWISE_CONV_2D && v instanceof DepthwiseConv2DOptionsT d
                && (d.getDepthMultiplier() == 1 || d.getDepthMultiplier() == 0)) {
            return d.getFusedActivationFunction();
        }
        return -1;
    }

    /**
     * Observes the per-channel max|x| of every pair's tensor on up to {@code samples} calibration samples (no delegate,
     * every tensor kept) and rescales the pairs in {@code m}, in place.
     */
    static Result apply(TfliteModel m, int samples, IntFunction<Map<String, FloatTensor>> loader,
                        Progress progress) {
        List<Pair> pairs = pairs(m);
        if (pairs.isEmpty() || samples <= 0) return new Result(0, List.of());
        int[] idx = pairs.stream().mapToInt(Pair::tensor).toArray();
        Map<Integer, float[]> channelMax = new java.util.HashMap<>();
        progress.begin("observing channel ranges for equalization", samples);
        try (TfliteSession s = TfliteSession.open(m.toBytes(), m.label() + " (equalization)",
                TfliteSession.Options.calibration())) {
            for (int i = 0; i < samples; i++) {
                s.runObserving(loader.apply(i), idx, (t, data, len) -> {
                    int[] shape = m.tensor(t).getShape();
                    int ch = shape[shape.length - 1];
                    float[] mx = channelMax.computeIfAbsent(t, k -> new float[ch]);
                    for (int k = 0; k < len; k++) mx[k % ch] = Math.max(mx[k % ch], Math.abs(data[k]));
                });
                progress.advance(1);
            }
        }
        progress.end();
        List<String> names = new ArrayList<>();
        for (Pair p : pairs) {
            float[] mx = channelMax.get(p.tensor());
            if (mx == null) continue;
            float top = 0;
            for (float v : mx) top = Math.max(top, v);
            if (!(top > 0)) continue;
            float[] s = new float[mx.length];
            for (int c = 0; c < s.length; c++) {
                s[c] = p.relu6() ? (mx[c] > 0 ? Math.min(1f, Math.max(MIN_SCALE, RELU6_HEADROOM * mx[c] / top)) : 1f)
                        : Math.max(MIN_SCALE, mx[c] / top);
            }
            rescale(m, p, s);
            names.add(m.tensor(p.tensor()).getName());
        }
        if (!names.isEmpty()) m.compact();
        return new Result(names.size(), names);
    }

    private static void rescale(TfliteModel m, Pair p, float[] s) {
        OperatorT prod = m.main().getOperators()[p.producer()];
        OperatorT dw = m.main().getOperators()[p.consumer()];
        boolean prodIsDw = m.builtinCode(prod) == DEPTHWISE_CONV_2D;
        // producer: output channel c / s_c (CONV_2D [O,H,W,I] on dim 0, DEPTHWISE_CONV_2D [1,H,W,C] on dim 3)
        int w = prod.getInputs()[1];
        float[] pw = m.floats(w);
        int[] ps = m.tensor(w).getShape();
        int inner = prodIsDw ? 1 : pw.length / ps[0];
        for (int i = 0; i < pw.length; i++) {
            int c = prodIsDw ? i % s.length : i / inner;
            pw[i] /= s[c];
        }
        replace(m, w, pw);
        int b = prod.getInputs()[2];
        float[] pb = m.floats(b);
        for (int c = 0; c < pb.length; c++) pb[c] /= s[c];
        replace(m, b, pb);
        // consumer: depthwise channel c * s_c
        int dwW = dw.getInputs()[1];
        float[] cw = m.floats(dwW);
        for (int i = 0; i < cw.length; i++) cw[i] *= s[i % s.length];
        replace(m, dwW, cw);
    }

    /** Gives tensor {@code t} its own buffer holding {@code v} (buffers may be shared). */
    private static void replace(TfliteModel m, int t, float[] v) {
        TensorT tt = m.tensor(t);
        tt.setBuffer(m.addBuffer(TfliteModel.floatBytes(v)));
    }
}
