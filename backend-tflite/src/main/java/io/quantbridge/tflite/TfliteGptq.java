package io.quantbridge.tflite;

import io.quantbridge.weights.HessianRounding;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.tensorflow.lite.schema.BuiltinOperator;
import org.tensorflow.lite.schema.Conv2DOptionsT;
import org.tensorflow.lite.schema.DepthwiseConv2DOptionsT;
import org.tensorflow.lite.schema.OperatorT;
import org.tensorflow.lite.schema.Padding;
import org.tensorflow.lite.schema.TensorType;

/**
 * GPTQ ({@link HessianRounding}) for the per-channel int8 weights of CONV_2D and DEPTHWISE_CONV_2D in a TFLite model
 * (NHWC activations). The calibration pass feeds each op's float input into {@link Statistics} (input patches at
 * positions drawn at random, seeded by sample and op, so that the result does not depend on which worker ran which
 * sample); {@link #round} then rounds each op's weights on the scales {@link QuantizedWeights#symmetric} gives them,
 * and {@link IntegerQuantizer} writes those codes instead of the nearest ones (its bias correction then corrects for
 * the rounded weights).
 *
 * <p>Patch order is the weight's: CONV_2D weights are {@code [O, kh, kw, I]}, one row per output channel with columns
 * (kernel row, kernel column, input channel); DEPTHWISE_CONV_2D weights are {@code [1, kh, kw, C*M]}, and each output
 * channel is a row of {@code kh*kw} columns whose Hessian is that of its input channel's patches.
 */
final class TfliteGptq {
    /** Input positions sampled per sample and op. */
    static final int POSITIONS = 256;
    /** Dampening of the Hessian's diagonal (fraction of its mean), as on the ONNX path. */
    static final double DAMP = 0.1;
    /** Largest CONV_2D patch handled ({@code kh * kw * I}); its Hessian takes the square of it in doubles. */
    static final int MAX_PATCH = 2304;

    private TfliteGptq() { }

    /** Geometry of one op: input [1, H, W, C], kernel, strides, dilations and the top/left padding. */
    record Op(int index, String label, int code, int input, int weight, int h, int w, int c, int kh, int kw, int outs, int mult,
              int strideH, int strideW, int dilH, int dilW, int oh, int ow, int padTop, int padLeft) {
        /** Values per row of weights. */
        int patch() {
            return code == BuiltinOperator.DEPTHWISE_CONV_2D ? kh * kw : kh * kw * c;
        }

        /** Hessians: one for CONV_2D, one per input channel for DEPTHWISE_CONV_2D. */
        int hessians() {
            return code == BuiltinOperator.DEPTHWISE_CONV_2D ? c : 1;
        }
    }

    /** The ops to round and why the others (CONV_2D / DEPTHWISE_CONV_2D with float weights) are left alone. */
    record Plan(List<Op> ops, Map<String, String> skipped) {
        Set<Integer> inputTensors() {
            Set<Integer> s = new HashSet<>();
            for (Op o : ops) s.add(o.input());
            return s;
        }

        Statistics newStatistics(long seed, Set<Integer> samples) {
            return new Statistics(this, seed, samples);
        }
    }

    /**
     * The CONV_2D and DEPTHWISE_CONV_2D ops of {@code m} whose weights can be rounded: constant float weights that no
     * other op reads, a static NHWC float input, and, for CONV_2D, a patch of at most {@link #MAX_PATCH} values and
     * no grouping. (Ops that --exclude keeps float are rounded too, and their codes go unused.)
     */
    static Plan plan(TfliteModel m) {
        return plan(m, Set.of(BuiltinOperator.CONV_2D, BuiltinOperator.DEPTHWISE_CONV_2D));
    }

    /** As {@link #plan(TfliteModel)}, over the ops of the given codes only (CONV_2D, DEPTHWISE_CONV_2D). */
    static Plan plan(TfliteModel m, Set<Integer> codes) {
        Map<Integer, Integer> uses = new HashMap<>();
        for (OperatorT op : m.operators()) for (int in : op.getInputs()) if (in >= 0) uses.merge(in, 1, Integer::sum);
        List<Op> ops = new ArrayList<>();
        Map<String, String> skipped = new LinkedHashMap<>();
        List<OperatorT> all = m.operators();
        for (int i = 0; i < all.size(); i++) {
            OperatorT op = all.get(i);
            int code = m.builtinCode(op);
            if (code != BuiltinOperator.CONV_2D && code != BuiltinOperator.DEPTHWISE_CONV_2D
                    || !codes.contains(code)) continue;
            if (op.getInputs().length < 2) continue;
            int wt = op.getInputs()[1];
            if (!m.isConstant(wt) || m.tensor(wt).getType() != TensorType.FLOAT32) continue;
            String label = "#" + i + " " + m.opName(op) + " (" + m.tensor(op.getOutputs()[0]).getName() + ")";
            String why = null;
            Op o = null;
            int x = op.getInputs()[0];
            int[] xs = m.tensor(x).getShape();
            int[] ws = m.tensor(wt).getShape();
            if (uses.getOrDefault(wt, 0) != 1) {
                why = "weights shared with another op";
            } else if (m.tensor(x).getType() != TensorType.FLOAT32 || xs == null || xs.length != 4 || xs[0] != 1) {
                why = "input is not a float [1, H, W, C] tensor";
            } else if (ws == null || ws.length != 4) {
                why = "weights are not 4-D";
            } else {
                o = geometry(m, i, label, op, code, x, wt, xs, ws);
                if (o == null) {
                    why = "unexpected options or shapes";
                } else if (code == BuiltinOperator.CONV_2D && o.patch() > MAX_PATCH) {
                    why = "input patch of " + o.patch() + " values (at most " + MAX_PATCH + ")";
                    o = null;
                }
            }
            if (o != null) ops.add(o);
            else skipped.put(label, why);
        }
        return new Plan(ops, skipped);
    }

    private static Op geometry(TfliteModel m, int index, String label, OperatorT op, int code, int x, int wt, int[] xs,
                               int[] ws) {
        Object v = op.getBuiltinOptions() == null ? null : op.getBuiltinOptions().getValue();
        int h = xs[1];
        int w = xs[2];
        int c = xs[3];
        int kh = ws[1];
        int kw = ws[2];
        // strides, dilations and padding: the two options types carry the same fields
        int[] win;
        if (code == BuiltinOperator.CONV_2D && v instanceof Conv2DOptionsT o) {
            win = new int[] {o.getStrideH(), o.getStrideW(), o.getDilationHFactor(), o.getDilationWFactor(),
                    o.getPadding()};
        } else if (code == BuiltinOperator.DEPTHWISE_CONV_2D && v instanceof DepthwiseConv2DOptionsT o) {
            win = new int[] {o.getStrideH(), o.getStrideW(), o.getDilationHFactor(), o.getDilationWFactor(),
                    o.getPadding()};
        } else {
            return null;
        }
        int outs;
        int mult = 1;
        if (code == BuiltinOperator.CONV_2D) {
            if (ws[3] != c) return null; // grouped
            outs = ws[0];
        } else {
            if (ws[0] != 1 || c <= 0 || ws[3] % c != 0) return null;
            outs = ws[3];
            mult = outs / c;
        }
        int sh = Math.max(1, win[0]);
        int sw = Math.max(1, win[1]);
        int dh = Math.max(1, win[2]);
        int dw = Math.max(1, win[3]);
        byte padding = (byte) win[4];
        int ekh = (kh - 1) * dh + 1;
        int ekw = (kw - 1) * dw + 1;
        int oh;
        int ow;
        int top = 0;
        int left = 0;
        if (padding == Padding.SAME) {
            oh = (h + sh - 1) / sh;
            ow = (w + sw - 1) / sw;
            top = Math.max((oh - 1) * sh + ekh - h, 0) / 2;
            left = Math.max((ow - 1) * sw + ekw - w, 0) / 2;
        } else {
            oh = (h - ekh) / sh + 1;
            ow = (w - ekw) / sw + 1;
        }
        if (oh <= 0 || ow <= 0) return null;
        return new Op(index, label, code, x, wt, h, w, c, kh, kw, outs, mult, sh, sw, dh, dw, oh, ow, top, left);
    }

    /** The patch at output (oy, ox) over channels [c0, c0 + cn), in (ky, kx, channel) order; zero outside. */
    static void patch(Op o, float[] data, int oy, int ox, int c0, int cn, double[] x) {
        int i = 0;
        for (int ky = 0; ky < o.kh(); ky++) {
            int y = oy * o.strideH() - o.padTop() + ky * o.dilH();
            for (int kx = 0; kx < o.kw(); kx++) {
                int xx = ox * o.strideW() - o.padLeft() + kx * o.dilW();
                boolean inside = y >= 0 && y < o.h() && xx >= 0 && xx < o.w();
                int base = inside ? (y * o.w() + xx) * o.c() + c0 : 0;
                for (int ch = 0; ch < cn; ch++) x[i++] = inside ? data[base + ch] : 0.0;
            }
        }
    }

    /** Patch moments of every planned op over the samples it is given. Not thread-safe: one per worker. */
    static final class Statistics {
        private final Plan plan;
        private final long seed;
        private final Set<Integer> samples;
        private final Map<Integer, List<Integer>> opsByInput = new HashMap<>();
        private final List<HessianRounding.Moments[]> moments = new ArrayList<>();

        private Statistics(Plan plan, long seed, Set<Integer> samples) {
            this.plan = plan;
            this.seed = seed;
            this.samples = samples;
            for (int k = 0; k < plan.ops().size(); k++) {
                Op o = plan.ops().get(k);
                opsByInput.computeIfAbsent(o.input(), t -> new ArrayList<>()).add(k);
                HessianRounding.Moments[] ms = new HessianRounding.Moments[o.hessians()];
                for (int g = 0; g < ms.length; g++) ms[g] = new HessianRounding.Moments(o.patch());
                moments.add(ms);
            }
        }

        /** Feeds tensor {@code tensor}'s values of sample {@code sample} to the ops that read it. */
        void add(int tensor, int sample, float[] data, int len) {
            List<Integer> ks = opsByInput.get(tensor);
            if (ks == null || !samples.contains(sample)) return;
            for (int k : ks) {
                Op o = plan.ops().get(k);
                if (len != o.h() * o.w() * o.c()) continue;
                SplittableRandom r = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + sample * 1_000_003L + o.index());
                HessianRounding.Moments[] ms = moments.get(k);
                double[] x = new double[o.patch()];
                for (int s = 0; s < POSITIONS; s++) {
                    int oy = r.nextInt(o.oh());
                    int ox = r.nextInt(o.ow());
                    if (o.code() == BuiltinOperator.DEPTHWISE_CONV_2D) {
                        for (int ch = 0; ch < o.c(); ch++) {
                            patch(o, data, oy, ox, ch, 1, x);
                            ms[ch].add(x);
                        }
                    } else {
                        patch(o, data, oy, ox, 0, o.c(), x);
                        ms[0].add(x);
                    }
                }
            }
        }

        void merge(Statistics other) {
            for (int k = 0; k < moments.size(); k++) {
                HessianRounding.Moments[] a = moments.get(k);
                HessianRounding.Moments[] b = other.moments.get(k);
                for (int g = 0; g < a.length; g++) a[g].merge(b[g]);
            }
        }
    }

    /**
     * One op's rounding: the name and values of the float weights it rounded, the codes (on the nearest rounding's
     * per-channel scales) and the output errors {@code sum e^T H e} of nearest and GPTQ rounding.
     */
    record Rounded(Op op, String weightName, float[] source, QuantizedWeights weights, double nearestError,
                   double gptqError) {
        /** These codes, when {@code values} are still the weights they were rounded from; else null. */
        QuantizedWeights codesFor(float[] values) {
            return java.util.Arrays.equals(source, values) ? weights : null;
        }
    }

    /** Rounds every planned op that saw patches; ops run on all cores. */
    static List<Rounded> round(TfliteModel m, Statistics stats, double damp) {
        List<Integer> ks = new ArrayList<>();
        for (int k = 0; k < stats.plan.ops().size(); k++) {
            if (stats.moments.get(k)[0].count() > 0) ks.add(k);
        }
        return ks.parallelStream().map(k -> roundOp(m, stats.plan.ops().get(k), stats.moments.get(k), damp))
                .toList();
    }

    private static Rounded roundOp(TfliteModel m, Op o, HessianRounding.Moments[] ms, double damp) {
        float[] v = m.floats(o.weight());
        int[] shape = m.tensor(o.weight()).getShape();
        boolean dw = o.code() == BuiltinOperator.DEPTHWISE_CONV_2D;
        QuantizedWeights nearest = QuantizedWeights.symmetric(v, shape, true, dw ? 3 : 0);
        float[] scales = nearest.scales();
        byte[] codes = new byte[v.length];
        int cols = o.patch();
        double errN = 0;
        double errG = 0;
        if (dw) {
            for (int ch = 0; ch < o.c(); ch++) {
                double[] h = ms[ch].hessian();
                int rows = o.mult();
                float[] wr = new float[rows * cols];
                float[] sr = new float[rows];
                for (int r = 0; r < rows; r++) {
                    int out = ch * o.mult() + r;
                    sr[r] = scales[out];
                    for (int t = 0; t < cols; t++) wr[r * cols + t] = v[t * o.outs() + out];
                }
                byte[] q = HessianRounding.round(wr, rows, cols, h, sr, damp);
                for (int r = 0; r < rows; r++) {
                    int out = ch * o.mult() + r;
                    double[] eN = new double[cols];
                    double[] eG = new double[cols];
                    for (int t = 0; t < cols; t++) {
                        int idx = t * o.outs() + out;
                        codes[idx] = q[r * cols + t];
                        eN[t] = nearest.data()[idx] * (double) sr[r] - v[idx];
                        eG[t] = codes[idx] * (double) sr[r] - v[idx];
                    }
                    errN += HessianRounding.outputError(eN, h, cols);
                    errG += HessianRounding.outputError(eG, h, cols);
                }
            }
        } else {
            double[] h = ms[0].hessian();
            byte[] q = HessianRounding.round(v, o.outs(), cols, h, scales, damp);
            System.arraycopy(q, 0, codes, 0, q.length);
            for (int r = 0; r < o.outs(); r++) {
                double[] eN = new double[cols];
                double[] eG = new double[cols];
                for (int t = 0; t < cols; t++) {
                    int idx = r * cols + t;
                    eN[t] = nearest.data()[idx] * (double) scales[r] - v[idx];
                    eG[t] = codes[idx] * (double) scales[r] - v[idx];
                }
                errN += HessianRounding.outputError(eN, h, cols);
                errG += HessianRounding.outputError(eG, h, cols);
            }
        }
        return new Rounded(o, m.tensor(o.weight()).getName(), v, new QuantizedWeights(codes, scales), errN, errG);
    }
}
