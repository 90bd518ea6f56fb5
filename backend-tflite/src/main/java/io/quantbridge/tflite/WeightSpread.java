package io.quantbridge.tflite;

import static org.tensorflow.lite.schema.BuiltinOperator.CONV_2D;
import static org.tensorflow.lite.schema.BuiltinOperator.DEPTHWISE_CONV_2D;
import static org.tensorflow.lite.schema.BuiltinOperator.FULLY_CONNECTED;
import static org.tensorflow.lite.schema.BuiltinOperator.TRANSPOSE_CONV;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tensorflow.lite.schema.OperatorT;
import org.tensorflow.lite.schema.TensorType;

/**
 * How unevenly the output channels of each weighted op use the op's weight range, which is what per-tensor int8
 * weights ({@code --target edgetpu}, {@code --per-tensor}) cost: one scale for all channels leaves a channel whose
 * largest weight is {@code k} times below the op's largest about {@code 127 / k} levels. Measured on the float model.
 */
final class WeightSpread {
    /** Spread (largest channel over the median channel) from which an op is listed: under 8 levels for the median. */
    static final double FLAG = 16;
    /** Spread from which the median channel keeps about one level: the model is likely to fall apart. */
    static final double SEVERE = 100;

    private WeightSpread() { }

    /** One weighted op: its largest channel range over the median and over the smallest non-zero one. */
    record Op(int index, String op, String output, int channels, double maxOverMedian, double maxOverMin) {
        Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("index", index);
            m.put("op", op);
            m.put("output", output);
            m.put("channels", channels);
            m.put("max_over_median", maxOverMedian);
            m.put("max_over_min", maxOverMin);
            return m;
        }
    }

    /** Every CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED and TRANSPOSE_CONV with constant float32 weights. */
    static List<Op> analyze(TfliteModel m) {
        List<Op> out = new ArrayList<>();
        OperatorT[] ops = m.main().getOperators();
        for (int i = 0; i < ops.length; i++) {
            int code = m.builtinCode(ops[i]);
            int slot = 1; // the weights: input 1 of each of these ops
            if (code != CONV_2D && code != DEPTHWISE_CONV_2D && code != FULLY_CONNECTED && code != TRANSPOSE_CONV) {
                continue;
            }
            int[] in = ops[i].getInputs();
            if (in.length <= slot || in[slot] < 0 || !m.isConstant(in[slot])
                    || m.tensor(in[slot]).getType() != TensorType.FLOAT32) {
                continue;
            }
            int[] shape = m.tensor(in[slot]).getShape();
            float[] w = m.floats(in[slot]);
            boolean lastAxis = code == DEPTHWISE_CONV_2D;
            int channels = lastAxis ? shape[shape.length - 1] : shape[0];
            if (channels <= 0 || w.length % channels != 0) continue;
            double[] r = new double[channels];
            int inner = w.length / channels;
            for (int k = 0; k < w.length; k++) {
                int c = lastAxis ? k % channels : k / inner;
                r[c] = Math.max(r[c], Math.abs(w[k]));
            }
            double[] sorted = Arrays.stream(r).filter(v -> v > 0).sorted().toArray();
            if (sorted.length == 0) continue;
            double max = sorted[sorted.length - 1];
            String output = ops[i].getOutputs().length == 0 ? "" : m.tensor(ops[i].getOutputs()[0]).getName();
            out.add(new Op(i, m.opName(ops[i]), output, channels, max / sorted[sorted.length / 2], max / sorted[0]));
        }
        return out;
    }

    /** For report.json: how many ops, how many at or over {@link #FLAG}, and the five widest. */
    static Map<String, Object> summary(List<Op> ops) {
        List<Op> flagged = ops.stream().filter(o -> o.maxOverMedian() >= FLAG)
                .sorted(Comparator.comparingDouble(Op::maxOverMedian).reversed()).toList();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("weighted_ops", ops.size());
        m.put("flag_max_over_median", FLAG);
        m.put("flagged_ops", flagged.size());
        m.put("widest", flagged.stream().limit(5).map(Op::toMap).toList());
        return m;
    }
}
