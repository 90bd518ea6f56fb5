package io.quantbridge.tflite;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.Progress;
import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.weights.RefitMoments;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.UnaryOperator;
import org.tensorflow.lite.schema.BuiltinOperator;
import org.tensorflow.lite.schema.OperatorT;
import org.tensorflow.lite.schema.SignatureDefT;
import org.tensorflow.lite.schema.SubGraphT;
import org.tensorflow.lite.schema.TensorType;

/**
 * Refits the CONV_2D and DEPTHWISE_CONV_2D ops of a full-integer TFLite model to the inputs the int8 model gives them,
 * one op at a time in operator order, every earlier op already refitted ({@link RefitMoments}: ridge regression toward
 * the float weights of what the float op computes before its fused activation, then per-channel rounding on the
 * fitted weights' own scales, as the writer rounds them, and the bias solved again for the rounded weights). This is
 * the ONNX path's {@code --refit} in TFLite's layouts: CONV_2D weights {@code [O, kh, kw, I]} (one system for all
 * output channels), DEPTHWISE_CONV_2D weights {@code [1, kh, kw, C*M]} (one system per input channel, for its M
 * outputs).
 *
 * <p>The refitted weights go into the float model as {@code code * scale}, with the new bias: the int8 writer then
 * gives them exactly these codes (its analytic bias correction finds nothing left to correct), and the model it was
 * written from ({@code model.fp32.tflite}) holds the same weights. Each step writes the int8 model of the float model
 * as refitted so far and runs it and the original float model in the interpreter (TFLite's own kernels, the
 * arithmetic of {@code eval --layers}), each cut down to what computes the op's input.
 */
final class TfliteRefit {
    /** Output positions sampled per sample and op (all of them when the op has fewer). */
    static final int POSITIONS = 512;
    /** Ridge strength, relative to the mean input energy per weight (as on the ONNX path). */
    static final double RIDGE = 1.0;

    private TfliteRefit() { }

    /** One refitted op: its label, its squared output error on the samples before and after, and the target's power. */
    record Step(String op, double errorBefore, double errorAfter, double targetPower) {
        double relativeBefore() {
            return targetPower > 0 ? errorBefore / targetPower : 0;
        }

        double relativeAfter() {
            return targetPower > 0 ? errorAfter / targetPower : 0;
        }

        /** The report's entry: op, relative error before and after. */
        Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("op", op);
            m.put("relative_error_before", relativeBefore());
            m.put("relative_error_after", relativeAfter());
            return m;
        }
    }

    /** What was refitted and what was not (label -> reason). */
    record Outcome(List<Step> steps, Map<String, String> skipped) { }

    /**
     * Refits {@code prepared} in place.
     *
     * @param prepared  the float model the int8 one is written from; its refitted ops' weights and biases change
     * @param writer    writes the int8 model of a float model (the run's ranges and options)
     * @param floatOps  operator indices that the writer keeps float (not refitted)
     * @param feeds     the samples, as the model's inputs
     */
    static Outcome refit(TfliteModel prepared, UnaryOperator<TfliteModel> writer, Set<Integer> floatOps,
                         List<Map<String, FloatTensor>> feeds, long seed, int threads, Progress progress) {
        if (feeds.isEmpty()) throw new QuantbridgeException("--refit: no calibration samples to refit on");
        TfliteModel reference = prepared.copy();
        TfliteGptq.Plan plan = TfliteGptq.plan(reference);
        Map<String, String> skipped = new LinkedHashMap<>(plan.skipped());
        List<TfliteGptq.Op> ops = new ArrayList<>();
        for (TfliteGptq.Op o : plan.ops()) {
            OperatorT op = reference.operators().get(o.index());
            int[] in = op.getInputs();
            if (floatOps.contains(o.index())) {
                skipped.put(o.label(), "kept float");
            } else if (in.length < 3 || in[2] < 0 || !reference.isConstant(in[2])
                    || reference.tensor(in[2]).getType() != TensorType.FLOAT32) {
                skipped.put(o.label(), "no constant float bias");
            } else {
                ops.add(o);
            }
        }
        List<Step> steps = new ArrayList<>();
        TfliteSession.Options options = new TfliteSession.Options(Math.max(1, threads), false, false);
        progress.begin("refitting convs to the int8 model's inputs (" + ops.size() + " ops)", ops.size());
        try {
            Map<String, Integer> candidateOps = null;
            for (TfliteGptq.Op o : ops) {
                TfliteModel int8 = writer.apply(prepared);
                if (candidateOps == null) candidateOps = opsByWeight(int8);
                Integer k = candidateOps.get(reference.tensor(o.weight()).getName());
                if (k == null) {
                    skipped.put(o.label(), "not found in the int8 model");
                    progress.advance(1);
                    continue;
                }
                Moments m = new Moments(o, reference);
                TfliteModel refUpTo = upTo(reference, o.input());
                TfliteModel int8UpTo = upTo(int8, int8.operators().get(k).getInputs()[0]);
                try (TfliteSession ref = TfliteSession.open(refUpTo.toBytes(), reference.label() + " (refit)", options);
                     TfliteSession cand = TfliteSession.open(int8UpTo.toBytes(), int8.label() + " (refit)", options)) {
                    int refOut = refUpTo.main().getOutputs()[0];
                    int candOut = int8UpTo.main().getOutputs()[0];
                    for (int s = 0; s < feeds.size(); s++) {
                        ref.run(feeds.get(s));
                        cand.run(feeds.get(s));
                        float[] x = ref.tensorAsFloat(refOut);
                        float[] a = cand.tensorAsFloat(candOut);
                        if (x == null || a == null || x.length != o.h() * o.w() * o.c() || a.length != x.length) {
                            continue;
                        }
                        m.add(a, x, new SplittableRandom(seed * 0x9E3779B97F4A7C15L + s * 1_000_003L + o.index()));
                    }
                }
                if (m.positions == 0) {
                    skipped.put(o.label(), "no input of the declared shape");
                } else {
                    steps.add(m.fitInto(prepared, o));
                }
                progress.advance(1);
            }
        } finally {
            progress.end();
        }
        return new Outcome(steps, skipped);
    }

    /**
     * A copy of {@code m} that computes tensor {@code t} and nothing else: the operators it depends on, with {@code t}
     * as the only output (its index there is {@code main().getOutputs()[0]}). Each step runs the two models only up
     * to the op being refitted, and reads the tensor as an output rather than preserving every tensor.
     */
    static TfliteModel upTo(TfliteModel m, int t) {
        TfliteModel c = m.copy();
        SubGraphT g = c.main();
        OperatorT[] all = g.getOperators();
        Set<Integer> needed = new HashSet<>();
        needed.add(t);
        boolean[] keep = new boolean[all.length];
        for (int i = all.length - 1; i >= 0; i--) {
            for (int o : all[i].getOutputs()) keep[i] |= needed.contains(o);
            if (keep[i]) for (int in : all[i].getInputs()) if (in >= 0) needed.add(in);
        }
        List<OperatorT> kept = new ArrayList<>();
        for (int i = 0; i < all.length; i++) if (keep[i]) kept.add(all[i]);
        g.setOperators(kept.toArray(new OperatorT[0]));
        g.setOutputs(new int[] {t});
        c.raw().setSignatureDefs(new SignatureDefT[0]);
        c.compact();
        return c;
    }

    /**
     * Operator index by the name of the float weights it reads: the writer names an op's int8 weights after the float
     * ones, with {@link IntegerQuantizer#INT8_SUFFIX}. (Outputs are no key: the writer fuses a RELU into the conv
     * before it, whose output then takes the RELU's name, and with float outputs a DEQUANTIZE takes the output's.)
     */
    private static Map<String, Integer> opsByWeight(TfliteModel m) {
        Map<String, Integer> byName = new HashMap<>();
        List<OperatorT> all = m.operators();
        for (int i = 0; i < all.size(); i++) {
            int[] in = all.get(i).getInputs();
            if (in.length < 2 || in[1] < 0) continue;
            String n = m.tensor(in[1]).getName();
            String suffix = IntegerQuantizer.INT8_SUFFIX;
            if (n != null && n.endsWith(suffix)) byName.putIfAbsent(n.substring(0, n.length() - suffix.length()), i);
        }
        return byName;
    }

    /**
     * The refit statistics of one op ({@link RefitMoments}): groups are the input channels of a DEPTHWISE_CONV_2D (M
     * outputs each), or one for a CONV_2D.
     */
    private static final class Moments {
        private final TfliteGptq.Op op;
        private final boolean depthwise;
        private final int groups;
        private final int outs;       // outputs per group
        private final int d;          // patch values per group
        private final double[] w;     // float weights as rows [O, d]
        private final double[] b;     // float bias [O]
        private final RefitMoments moments;
        private long positions;

        Moments(TfliteGptq.Op op, TfliteModel reference) {
            this.op = op;
            this.depthwise = op.code() == BuiltinOperator.DEPTHWISE_CONV_2D;
            this.groups = depthwise ? op.c() : 1;
            this.outs = depthwise ? op.mult() : op.outs();
            this.d = op.patch();
            this.w = rows(reference.floats(op.weight()));
            float[] bias = reference.floats(reference.operators().get(op.index()).getInputs()[2]);
            if (bias.length != op.outs()) {
                throw new QuantbridgeException("--refit: " + op.label() + " has a bias of " + bias.length
                        + " values for " + op.outs() + " output channels");
            }
            this.b = new double[bias.length];
            for (int i = 0; i < bias.length; i++) b[i] = bias[i];
            this.moments = new RefitMoments(groups, outs, d, w, b);
        }

        /** The weights of the op's layout as rows [O, d]; a depthwise conv's output {@code out} is row {@code out}. */
        private double[] rows(float[] v) {
            double[] r = new double[v.length];
            if (!depthwise) {
                for (int i = 0; i < v.length; i++) r[i] = v[i];
                return r;
            }
            for (int out = 0; out < op.outs(); out++) {
                for (int t = 0; t < d; t++) r[out * d + t] = v[t * op.outs() + out];
            }
            return r;
        }

        /** The inverse of {@link #rows}, as floats. */
        private float[] layout(double[] r) {
            float[] v = new float[r.length];
            if (!depthwise) {
                for (int i = 0; i < v.length; i++) v[i] = (float) r[i];
                return v;
            }
            for (int out = 0; out < op.outs(); out++) {
                for (int t = 0; t < d; t++) v[t * op.outs() + out] = (float) r[out * d + t];
            }
            return v;
        }

        void add(float[] quantized, float[] reference, SplittableRandom random) {
            long all = (long) op.oh() * op.ow();
            int take = (int) Math.min(POSITIONS, all);
            double[] a = new double[d + 1];
            double[] x = new double[d];
            double[] t = new double[outs];
            for (int s = 0; s < take; s++) {
                int pos = take == all ? s : random.nextInt((int) all);
                int oy = pos / op.ow();
                int ox = pos % op.ow();
                for (int g = 0; g < groups; g++) {
                    int c0 = depthwise ? g : 0;
                    int cn = depthwise ? 1 : op.c();
                    TfliteGptq.patch(op, quantized, oy, ox, c0, cn, a);
                    TfliteGptq.patch(op, reference, oy, ox, c0, cn, x);
                    a[d] = 1.0;
                    moments.add(g, a, x, t);
                }
            }
            positions += take;
        }

        /** Solves, rounds, writes the weights and bias into {@code model} and returns the step's errors. */
        Step fitInto(TfliteModel model, TfliteGptq.Op o) {
            double[] rounded = roundedRows(moments.solve(RIDGE));
            double[] bias = moments.bias(rounded);
            double before = moments.error(roundedRows(w), b);
            double after = moments.error(rounded, bias);
            int[] in = model.operators().get(o.index()).getInputs();
            replace(model, in[1], layout(rounded));
            float[] fb = new float[bias.length];
            for (int i = 0; i < fb.length; i++) fb[i] = (float) bias[i];
            replace(model, in[2], fb);
            return new Step(o.label(), before, after, moments.targetPower());
        }

        /** {@code code * scale} of weights [O, d] rounded as the writer rounds them (per output channel), as rows. */
        private double[] roundedRows(double[] r) {
            float[] v = layout(r);
            int[] shape = depthwise ? new int[] {1, op.kh(), op.kw(), op.outs()} : new int[] {op.outs(), op.kh(),
                    op.kw(), op.c()};
            QuantizedWeights q = QuantizedWeights.symmetric(v, shape, true, depthwise ? 3 : 0);
            float[] deq = new float[v.length];
            for (int i = 0; i < v.length; i++) {
                int oc = depthwise ? i % op.outs() : i / d;
                deq[i] = q.data()[i] * q.scales()[oc];
            }
            return rows(deq);
        }
    }

    /** Points constant tensor {@code index} at a new buffer holding {@code values}. */
    private static void replace(TfliteModel m, int index, float[] values) {
        m.tensor(index).setBuffer(m.addBuffer(TfliteModel.floatBytes(values)));
    }
}
