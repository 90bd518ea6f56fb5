package io.quantbridge.onnx;

import io.quantbridge.onnx.proto.Onnx.NodeProto;
import io.quantbridge.onnx.proto.Onnx.TensorProto;
import io.quantbridge.weights.HessianRounding;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * GPTQ for the int8 convs of an ONNX model ({@link HessianRounding}, Frantar et al. 2022) on the scales
 * {@link QdqQuantizer} uses: every output channel keeps its weight of largest magnitude at +-127, so that requantizing
 * the result with max/127 per channel gives back exactly these codes.
 *
 * <p>This class holds the statistics ({@link Patches}, one per conv, fed with the conv's input tensors);
 * {@link #apply} rounds each conv and writes the rounded weights into a float model as {@code code * scale},
 * so that the model stays float and every later step (Q/DQ writing, TensorRT's own max calibration of weights) reads
 * the same int8 weights from it.
 */
public final class Gptq {
    /** Input patches sampled per sample and conv for the statistics. */
    public static final int DEFAULT_POSITIONS = 256;
    /** Dampening added to the Hessian's diagonal, as a fraction of its mean (GPTQ uses 0.01; 0.1 measured better). */
    public static final double DEFAULT_DAMP = 0.1;
    /** Largest patch (input channels per group times kernel area) handled: its Hessian takes D^2 doubles. */
    public static final int MAX_PATCH = 2304;

    private Gptq() { }

    /**
     * Why a conv cannot be rounded this way, or null when it can (2-D Conv, float weights [O, C/g, kh, kw], explicit
     * or VALID padding, patch of at most {@link #MAX_PATCH}).
     */
    public static String unsupported(NodeProto n, TensorProto w) {
        if (!n.getOpType().equals("Conv")) return n.getOpType() + " (only Conv)";
        if (w == null || w.getDataType() != DataTypes.FLOAT) return "weight is not a float initializer";
        long[] d = Tensors.dims(w);
        if (d.length != 4) return "not a 2-D convolution";
        String autoPad = Attributes.getString(n, "auto_pad", "NOTSET");
        if (!autoPad.equals("NOTSET") && !autoPad.equals("VALID")) return "auto_pad " + autoPad;
        long patch = d[1] * d[2] * d[3];
        if (patch > MAX_PATCH) return "input patch of " + patch + " values (at most " + MAX_PATCH + ")";
        return null;
    }

    /**
     * Second moments {@code sum x x^T} and sums {@code sum x} of a conv's input patches, one set per group, from
     * positions drawn at random (seeded) from each tensor added. Patch order is the weight's: channel, then kernel row,
     * then kernel column. Not thread-safe.
     */
    public static final class Patches {
        private final ConvGeometry geometry;
        private final int group;
        private final int d;
        private final HessianRounding.Moments[] moments;
        private final SplittableRandom random;
        private long count;

        public Patches(NodeProto n, TensorProto w, long seed) {
            this.geometry = ConvGeometry.of(n, Tensors.dims(w));
            this.group = geometry.group;
            this.d = geometry.patch;
            this.moments = new HessianRounding.Moments[group];
            for (int g = 0; g < group; g++) moments[g] = new HessianRounding.Moments(d);
            this.random = new SplittableRandom(seed);
        }

        public int patchSize() {
            return d;
        }

        public long count() {
            return count;
        }

        /** Adds {@code positions} output positions of every group, drawn from this NCHW input tensor. */
        public void add(long[] shape, float[] data, int positions) {
            if (shape.length != 4 || shape[1] != geometry.inputChannels()) {
                throw new IllegalArgumentException("input " + Arrays.toString(shape) + " does not match "
                        + geometry.inputChannels() + " channels");
            }
            int batch = (int) shape[0];
            int c = (int) shape[1];
            int h = (int) shape[2];
            int wd = (int) shape[3];
            int oh = geometry.outHeight(h);
            int ow = geometry.outWidth(wd);
            if (oh <= 0 || ow <= 0) return;
            double[] x = new double[d];
            for (int s = 0; s < positions; s++) {
                int b = random.nextInt(batch);
                int oy = random.nextInt(oh);
                int ox = random.nextInt(ow);
                for (int g = 0; g < group; g++) {
                    geometry.patch(data, b, c, h, wd, g, oy, ox, x);
                    moments[g].add(x);
                }
            }
            count += positions;
        }

        /** {@code E[x x^T]} of group {@code g}, full. */
        double[] hessian(int g) {
            return moments[g].hessian();
        }

        /** {@code E[x]} of group {@code g}. */
        double[] mean(int g) {
            return moments[g].mean();
        }
    }

    /** What rounding one conv did: the output error {@code sum_o e_o^T H e_o} with nearest rounding and with GPTQ. */
    public record NodeResult(String node, int patch, double nearestError, double gptqError) { }

    /**
     * The model with each listed conv's weights replaced by their GPTQ rounding ({@code code * scale}, per output
     * channel as {@link QdqQuantizer} writes them; biases untouched), and by node name the bias shift
     * {@code (W - Wg) E[x]} that would give each output channel its float mean back (the analytic bias correction for
     * these weights; {@link BiasCorrection#shift} applies it).
     */
    public record Result(OnnxModel model, List<NodeResult> nodes, Map<String, float[]> meanShifts) { }

    /**
     * @param stats the patch statistics of each conv to round, by node name (convs not listed are left alone)
     */
    public static Result apply(OnnxModel model, Map<String, Patches> stats, double damp) {
        return apply(model, stats, damp, QdqOptions.FULL_RANGE);
    }

    /**
     * @param stats     the patch statistics of each conv to round, by node name (convs not listed are left alone)
     * @param weightMax the largest weight code ({@link QdqOptions#weightMax()})
     */
    public static Result apply(OnnxModel model, Map<String, Patches> stats, double damp, int weightMax) {
        Map<String, TensorProto> inits = model.initializers();
        Map<String, TensorProto> replaced = new LinkedHashMap<>();
        List<NodeResult> results = new ArrayList<>();
        Map<String, float[]> shifts = new LinkedHashMap<>();
        List<NodeProto> nodes = new ArrayList<>();
        for (NodeProto n : model.nodes()) if (stats.containsKey(n.getName())) nodes.add(n);
        // convs are independent: round them on all cores, then write in graph order
        List<Object[]> done = nodes.parallelStream().map(n -> roundNode(n, inits.get(n.getInput(1)),
                stats.get(n.getName()), damp, weightMax)).toList();
        for (int i = 0; i < nodes.size(); i++) {
            NodeProto n = nodes.get(i);
            TensorProto w = inits.get(n.getInput(1));
            float[] rounded = (float[]) done.get(i)[0];
            results.add((NodeResult) done.get(i)[1]);
            if (replaced.containsKey(w.getName())) {
                throw new IllegalArgumentException("weight " + w.getName() + " is shared by several convs");
            }
            replaced.put(w.getName(), Tensors.floatTensor(w.getName(), Tensors.dims(w), rounded));
            shifts.put(n.getName(), (float[]) done.get(i)[2]);
        }
        return new Result(withInitializers(model, replaced), results, shifts);
    }

    private static OnnxModel withInitializers(OnnxModel model, Map<String, TensorProto> replaced) {
        io.quantbridge.onnx.proto.Onnx.GraphProto.Builder gb = model.graph().toBuilder();
        for (int i = 0; i < gb.getInitializerCount(); i++) {
            TensorProto t = replaced.get(gb.getInitializer(i).getName());
            if (t != null) gb.setInitializer(i, t);
        }
        return model.withProto(model.proto().toBuilder().setGraph(gb).build());
    }

    /** {rounded weights, NodeResult, bias shift} of one conv. */
    private static Object[] roundNode(NodeProto n, TensorProto w, Patches st, double damp, int weightMax) {
        float[] v = Tensors.toFloats(w);
        long[] dims = Tensors.dims(w);
        int cout = (int) dims[0];
        int cols = st.patchSize();
        int outPerGroup = cout / st.group;
        QdqQuantizer.QuantizedWeight nearest = QdqQuantizer.quantizeWeight(w, 0, weightMax);
        float[] scales = nearest.scales();
        float[] rounded = new float[v.length];
        float[] shift = new float[cout];
        double errNearest = 0;
        double errGptq = 0;
        for (int g = 0; g < st.group; g++) {
            double[] h = st.hessian(g);
            double[] mean = st.mean(g);
            int first = g * outPerGroup;
            float[] wg = Arrays.copyOfRange(v, first * cols, (first + outPerGroup) * cols);
            float[] sg = Arrays.copyOfRange(scales, first, first + outPerGroup);
            byte[] q = HessianRounding.round(wg, outPerGroup, cols, h, sg, damp, weightMax);
            for (int r = 0; r < outPerGroup; r++) {
                double[] eN = new double[cols];
                double[] eG = new double[cols];
                double dm = 0;
                for (int c = 0; c < cols; c++) {
                    int idx = (first + r) * cols + c;
                    float wr = (float) (q[r * cols + c] * (double) sg[r]);
                    rounded[idx] = wr;
                    eN[c] = nearest.values()[idx] * (double) sg[r] - v[idx];
                    eG[c] = wr - (double) v[idx];
                    dm -= eG[c] * mean[c];
                }
                shift[first + r] = (float) dm;
                errNearest += HessianRounding.outputError(eN, h, cols);
                errGptq += HessianRounding.outputError(eG, h, cols);
            }
        }
        return new Object[] {rounded, new NodeResult(n.getName(), cols, errNearest, errGptq), shift};
    }

    /** The convs of {@code nodes} whose input patches {@link #apply} can use, with why the others cannot. */
    public static Map<String, String> skipped(OnnxModel model, Collection<NodeProto> nodes) {
        Map<String, String> why = new LinkedHashMap<>();
        for (NodeProto n : nodes) {
            String reason = unsupported(n, n.getInputCount() > 1 ? model.initializers().get(n.getInput(1)) : null);
            if (reason != null) why.put(n.getName(), reason);
        }
        return why;
    }
}
