package io.quantbridge.onnx;

import io.quantbridge.onnx.proto.Onnx.NodeProto;
import io.quantbridge.onnx.proto.Onnx.TensorProto;
import io.quantbridge.weights.RefitMoments;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Refits one int8 Conv to the inputs the int8 model gives it: the weights and bias that, fed the int8 model's input
 * patches {@code a}, best reproduce what the float conv computes from the float model's patches {@code x} at the same
 * positions, {@code t = W x + b}. Ridge regression toward the float weights:
 * <pre>  min over (W', b') of  sum |W' a + b' - t|^2 + lambda |W' - W|^2,   lambda = ridge * mean_i sum a_i^2</pre>
 * (the bias is not penalized). The weights are then rounded to the nearest int8 step, with the scales the Q/DQ
 * writer takes from them, and the bias is solved again for the rounded weights, so it also cancels the mean shift of
 * that rounding (on ppocr-det at 640x640, keeping the fitted bias instead lost 0.002 of held-out cosine). Without the ridge term this overfits the samples (on ppocr-det, 32 samples of 512 positions: ridge
 * 0.1 left held-out cosine where the analytic bias correction has it; 1 gained 0.002, 3 0.001).
 *
 * <p>The error that int8 inputs bring is partly linear in the input (clipping at the calibrated range, a rounding
 * grid that is coarse against a channel's spread, the mean shift of a skewed distribution): a refitted conv undoes
 * that part, where GPTQ ({@link Gptq}) sees float inputs only and where the empirical bias correction undoes only
 * the mean.
 *
 * <p>{@link Statistics} accumulates, per group, {@code sum a a^T} and {@code sum a t^T} over positions drawn at
 * random (seeded) from each pair of tensors, with {@code a} extended by a constant 1 for the bias.
 */
public final class ConvRefit {
    /** Output positions sampled per sample (all of them when the conv has fewer). */
    public static final int DEFAULT_POSITIONS = 512;
    /** Ridge strength, relative to the mean input energy per weight. */
    public static final double DEFAULT_RIDGE = 1.0;

    private ConvRefit() { }

    /**
     * Why a conv cannot be refitted, or null when it can: the Convs {@link Gptq} can round, and 2-D ConvTransposes
     * with float weights [C, O, kh, kw], group 1 (the per-channel weight scales of a grouped ConvTranspose are shared
     * between its groups), explicit or VALID padding and no {@code output_shape}.
     */
    public static String unsupported(NodeProto n, TensorProto w) {
        if (!n.getOpType().equals("ConvTranspose")) return Gptq.unsupported(n, w);
        if (w == null || w.getDataType() != DataTypes.FLOAT) return "weight is not a float initializer";
        long[] d = Tensors.dims(w);
        if (d.length != 4) return "not a 2-D transposed convolution";
        if (Attributes.getInt(n, "group", 1) != 1) return "grouped ConvTranspose";
        if (Attributes.getInts(n, "output_shape").isPresent()) return "output_shape given";
        String autoPad = Attributes.getString(n, "auto_pad", "NOTSET");
        if (!autoPad.equals("NOTSET") && !autoPad.equals("VALID")) return "auto_pad " + autoPad;
        long patch = d[0] * d[2] * d[3];
        if (patch > Gptq.MAX_PATCH) return "input patch of " + patch + " values (at most " + Gptq.MAX_PATCH + ")";
        return null;
    }

    /**
     * The refitted conv: float weights holding int8 values ({@code code * scale}) in the layout of the conv's weight
     * tensor, bias, and the fit's errors.
     */
    public record Fit(float[] weights, float[] bias, double errorBefore, double errorAfter, double targetPower) { }

    /** What one conv's refit accumulates. Not thread-safe. */
    public static final class Statistics {
        private final NodeProto node;
        private final long[] weightDims;
        private final ConvGeometry geometry;
        private final int group;
        private final int outPerGroup;
        private final int d;          // patch values per group
        private final int n;          // d + 1 (the constant for the bias)
        private final int cout;
        private final double[] b;     // float bias [O]
        private final RefitMoments moments;
        private final SplittableRandom random;
        private long positions;

        /**
         * @param conv the Conv or ConvTranspose, in the float model
         * @param w    its float weights [O, C/g, kh, kw] (ConvTranspose: [C, O, kh, kw])
         * @param bias its float bias, or null when it has none
         */
        public Statistics(NodeProto conv, TensorProto w, float[] bias, long seed) {
            String why = unsupported(conv, w);
            if (why != null) throw new IllegalArgumentException(conv.getName() + ": " + why);
            this.node = conv;
            this.weightDims = Tensors.dims(w);
            this.geometry = ConvGeometry.of(conv, weightDims);
            this.group = geometry.group;
            this.cout = (int) (geometry.transposed ? weightDims[1] : weightDims[0]);
            this.outPerGroup = cout / group;
            this.d = geometry.patch;
            this.n = d + 1;
            float[] wf = rowsPerOutput(Tensors.toFloats(w));
            double[] rows = new double[wf.length];
            for (int i = 0; i < wf.length; i++) rows[i] = wf[i];
            this.b = new double[cout];
            if (bias != null) {
                if (bias.length != cout) {
                    throw new IllegalArgumentException(conv.getName() + ": bias of " + bias.length + " values for " + cout
                            + " output channels");
                }
                for (int o = 0; o < cout; o++) this.b[o] = bias[o];
            }
            this.moments = new RefitMoments(group, outPerGroup, d, rows, b);
            this.random = new SplittableRandom(seed);
        }

        public String node() {
            return node.getName();
        }

        /** Positions added so far. */
        public long positions() {
            return positions;
        }

        /**
         * Adds {@code count} output positions (all of them when there are fewer), drawn from the first batch entry of
         * the int8 model's input {@code quantized} and the float model's {@code reference}, both NCHW of {@code shape}.
         */
        public void add(long[] shape, float[] quantized, float[] reference, int count) {
            if (shape.length != 4 || shape[1] != geometry.inputChannels()) {
                throw new IllegalArgumentException(node.getName() + ": input " + Arrays.toString(shape)
                        + " does not match " + geometry.inputChannels() + " channels");
            }
            int c = (int) shape[1];
            int h = (int) shape[2];
            int wd = (int) shape[3];
            if (quantized.length < (long) c * h * wd || reference.length < (long) c * h * wd) {
                throw new IllegalArgumentException(node.getName() + ": input of " + Math.min(quantized.length,
                        reference.length) + " values for shape " + Arrays.toString(shape));
            }
            int oh = geometry.outHeight(h);
            int ow = geometry.outWidth(wd);
            if (oh <= 0 || ow <= 0) return;
            long all = (long) oh * ow;
            int take = (int) Math.min(count, all);
            double[] a = new double[n];
            double[] x = new double[d];
            double[] t = new double[outPerGroup];
            for (int s = 0; s < take; s++) {
                int pos = take == all ? s : random.nextInt((int) all);
                int oy = pos / ow;
                int ox = pos % ow;
                for (int g = 0; g < group; g++) {
                    geometry.patch(quantized, 0, c, h, wd, g, oy, ox, a);
                    geometry.patch(reference, 0, c, h, wd, g, oy, ox, x);
                    a[d] = 1.0;
                    moments.add(g, a, x, t);
                }
            }
            positions += take;
        }

        /**
         * The refit: ridge regression at {@code ridge}, weights rounded as the Q/DQ writer rounds them
         * ({@code perChannel}, codes in {@code [-weightMax, weightMax]}), bias solved for the rounded weights.
         *
         * @param current     the conv's weights as the model holds them now (before the writer rounds them)
         * @param currentBias its bias now, or null when it has none
         */
        public Fit fit(double ridge, boolean perChannel, int weightMax, TensorProto current, float[] currentBias) {
            if (positions == 0) throw new IllegalStateException(node.getName() + ": no positions added");
            float[] rounded = dequantized(moments.solve(ridge), perChannel, weightMax);
            double[] fittedBias = moments.bias(doubles(rounded));
            float[] bias = new float[cout];
            for (int oc = 0; oc < cout; oc++) bias[oc] = (float) fittedBias[oc];
            float[] now = Tensors.toFloats(current);
            if (now.length != cout * d || !Arrays.equals(Tensors.dims(current), weightDims)) {
                throw new IllegalArgumentException(node.getName() + ": current weights "
                        + Arrays.toString(Tensors.dims(current)) + ", " + Arrays.toString(weightDims) + " expected");
            }
            now = rowsPerOutput(now);
            double[] cur = new double[now.length];
            for (int i = 0; i < cur.length; i++) cur[i] = now[i];
            float[] curRounded = dequantized(cur, perChannel, weightMax);
            double before = moments.error(doubles(curRounded), doubles(currentBias == null ? new float[cout]
                    : currentBias));
            double after = moments.error(doubles(rounded), doubles(bias));
            return new Fit(tensorLayout(rounded), bias, before, after, moments.targetPower());
        }

        /** Weights in the tensor's layout as rows per output channel [O, d]: a ConvTranspose's [C, O, k] transposed. */
        private float[] rowsPerOutput(float[] v) {
            return geometry.transposed ? swapLeading(v, (int) weightDims[0], cout, (int) (weightDims[2] * weightDims[3]))
                    : v;
        }

        /** The inverse of {@link #rowsPerOutput}. */
        private float[] tensorLayout(float[] rows) {
            return geometry.transposed ? swapLeading(rows, cout, (int) weightDims[0],
                    (int) (weightDims[2] * weightDims[3])) : rows;
        }

        private static double[] doubles(float[] v) {
            double[] r = new double[v.length];
            for (int i = 0; i < v.length; i++) r[i] = v[i];
            return r;
        }

        /**
         * {@code code * scale} of these weights [O, d] as the Q/DQ writer quantizes them (per output channel: axis 0
         * of a Conv's weight, axis 1 of a ConvTranspose's), as rows [O, d].
         */
        private float[] dequantized(double[] weights, boolean perChannel, int weightMax) {
            float[] f = new float[weights.length];
            for (int i = 0; i < f.length; i++) f[i] = (float) weights[i];
            TensorProto t = Tensors.floatTensor("w", weightDims, tensorLayout(f));
            QdqQuantizer.QuantizedWeight q = QdqQuantizer.quantizeWeight(t,
                    perChannel ? (geometry.transposed ? 1 : 0) : -1, weightMax);
            float[] out = new float[f.length];
            for (int i = 0; i < f.length; i++) out[i] = q.values()[i];
            out = rowsPerOutput(out);
            for (int i = 0; i < f.length; i++) out[i] *= q.scales()[perChannel ? i / d : 0];
            return out;
        }
    }

    /** {@code v} of dimensions [a, b, k] as [b, a, k]. */
    static float[] swapLeading(float[] v, int a, int b, int k) {
        float[] out = new float[v.length];
        for (int i = 0; i < a; i++) {
            for (int j = 0; j < b; j++) System.arraycopy(v, (i * b + j) * k, out, (j * a + i) * k, k);
        }
        return out;
    }
}
