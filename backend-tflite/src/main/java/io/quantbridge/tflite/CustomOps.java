package io.quantbridge.tflite;

import static org.bytedeco.tensorflowlite.global.tensorflowlite.kTfLiteError;
import static org.bytedeco.tensorflowlite.global.tensorflowlite.kTfLiteFloat32;
import static org.bytedeco.tensorflowlite.global.tensorflowlite.kTfLiteOk;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Map;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.tensorflowlite.MutableOpResolver;
import org.bytedeco.tensorflowlite.TfLiteContext;
import org.bytedeco.tensorflowlite.TfLiteIntArray;
import org.bytedeco.tensorflowlite.TfLiteNode;
import org.bytedeco.tensorflowlite.TfLiteRegistration;
import org.bytedeco.tensorflowlite.TfLiteTensor;

/**
 * Custom operators that real models need and the TFLite runtime does not ship, implemented in Java and registered
 * with the op resolver of every session.
 *
 * <p>{@code Convolution2DTransposeBias} (MediaPipe, e.g. selfie segmentation): a float transposed convolution with
 * bias. Inputs: data [N,H,W,Cin], weights [Cout,kh,kw,Cin], bias [Cout]; custom options: three little-endian int32
 * (padding 1=SAME 2=VALID, stride_w, stride_h). Output [N, H*stride_h, W*stride_w, Cout] for SAME padding.
 *
 * <p>MediaPipe's attention-mesh operators, version 2 (the face landmark model with attention:
 * {@link MediaPipeTransforms}): {@code Landmarks2TransformMatrix} (landmarks [1, N, 3] to a crop matrix [1, 4, 4];
 * FlexBuffers options), {@code TransformTensorBilinear} (a feature map [1, H, W, C] and a matrix to the crop
 * [1, h, w, C] of the output's static shape) and {@code TransformLandmarks} (landmarks [1, N, 2 or 3] and a matrix).
 *
 * <p>A kernel that refuses its node says why through {@link #takeError()}, which the session adds to its message.
 */
final class CustomOps {
    static final String TRANSPOSE_CONV_BIAS = "Convolution2DTransposeBias";
    static final String LANDMARKS_TO_MATRIX = "Landmarks2TransformMatrix";
    static final String TRANSFORM_TENSOR = "TransformTensorBilinear";
    static final String TRANSFORM_LANDMARKS = "TransformLandmarks";

    /** Custom codes this runtime can execute (float only), with the operator version each is implemented for. */
    static final Map<String, Integer> SUPPORTED = orderedMap(TRANSPOSE_CONV_BIAS, 1, LANDMARKS_TO_MATRIX, 2,
            TRANSFORM_TENSOR, 2, TRANSFORM_LANDMARKS, 2);

    private static final ThreadLocal<String> ERROR = new ThreadLocal<>();

    private CustomOps() { }

    private static Map<String, Integer> orderedMap(Object... kv) {
        Map<String, Integer> m = new java.util.LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) m.put((String) kv[i], (Integer) kv[i + 1]);
        return java.util.Collections.unmodifiableMap(m);
    }

    /** Why a custom kernel last refused its node on this thread (cleared), or null. */
    static String takeError() {
        String e = ERROR.get();
        ERROR.remove();
        return e;
    }

    private static int refuse(String op, String why) {
        ERROR.set(op + ": " + why);
        return kTfLiteError;
    }

    /**
     * Checks the options of a custom operator before the interpreter sees them; returns why they are unusable, or
     * null.
     */
    static String checkOptions(String code, byte[] options) {
        if (!LANDMARKS_TO_MATRIX.equals(code)) return null;
        try {
            MediaPipeTransforms.CropOptions.parse(options);
            return null;
        } catch (RuntimeException e) {
            return e.getMessage();
        }
    }

    // kept reachable for as long as the class lives: native code holds these function pointers
    private static final java.util.List<Object> CALLBACKS = new java.util.ArrayList<>();
    private static final TransposeConvBiasPrepare PREPARE = new TransposeConvBiasPrepare();
    private static final TransposeConvBiasInvoke INVOKE = new TransposeConvBiasInvoke();
    private static final TfLiteRegistration TRANSPOSE_CONV_BIAS_REGISTRATION = new TfLiteRegistration()
            .prepare(PREPARE).invoke(INVOKE);

    private static final TfLiteRegistration LANDMARKS_TO_MATRIX_REGISTRATION = registration(LANDMARKS_TO_MATRIX,
            CustomOps::prepareLandmarksToMatrix, CustomOps::landmarksToMatrix);
    private static final TfLiteRegistration TRANSFORM_TENSOR_REGISTRATION = registration(TRANSFORM_TENSOR,
            CustomOps::prepareTransformTensor, CustomOps::transformTensor);
    private static final TfLiteRegistration TRANSFORM_LANDMARKS_REGISTRATION = registration(TRANSFORM_LANDMARKS,
            CustomOps::prepareTransformLandmarks, CustomOps::transformLandmarks);

    static void register(MutableOpResolver resolver) {
        resolver.AddCustom(TRANSPOSE_CONV_BIAS, TRANSPOSE_CONV_BIAS_REGISTRATION, 1);
        resolver.AddCustom(LANDMARKS_TO_MATRIX, LANDMARKS_TO_MATRIX_REGISTRATION, 2);
        resolver.AddCustom(TRANSFORM_TENSOR, TRANSFORM_TENSOR_REGISTRATION, 2);
        resolver.AddCustom(TRANSFORM_LANDMARKS, TRANSFORM_LANDMARKS_REGISTRATION, 2);
    }

    private static byte[] optionBytes(TfLiteNode node) {
        int size = node.custom_initial_data_size();
        if (size <= 0 || node.custom_initial_data() == null) return new byte[0];
        byte[] b = new byte[size];
        new BytePointer(node.custom_initial_data()).capacity(size).get(b);
        return b;
    }

    private static int count(int[] dims) {
        int n = 1;
        for (int d : dims) n *= d;
        return n;
    }

    private static int resize(TfLiteContext ctx, TfLiteTensor out, int... want) {
        if (java.util.Arrays.equals(want, dims(out))) return kTfLiteOk;
        TfLiteIntArray shape = org.bytedeco.tensorflowlite.global.tensorflowlite.TfLiteIntArrayCreate(want.length);
        for (int i = 0; i < want.length; i++) shape.data(i, want[i]);
        return ctx.ResizeTensor().call(ctx, out, shape);
    }

    /**
     * The node's inputs, then its output, all float32; otherwise an {@link IllegalArgumentException} saying what is
     * wrong, which the kernels' catch turns into their refusal.
     */
    private static TfLiteTensor[] floatIo(TfLiteContext ctx, TfLiteNode node, int inputs) {
        if (node.inputs().size() != inputs || node.outputs().size() != 1) {
            throw new IllegalArgumentException("takes " + inputs + " input" + (inputs > 1 ? "s" : "")
                    + " and one output");
        }
        TfLiteTensor[] t = new TfLiteTensor[inputs + 1];
        for (int i = 0; i < inputs; i++) t[i] = tensor(ctx, node.inputs().data(i));
        t[inputs] = tensor(ctx, node.outputs().data(0));
        for (TfLiteTensor x : t) {
            if (x.type() != kTfLiteFloat32) throw new IllegalArgumentException("takes float32 tensors only");
        }
        return t;
    }

    /** What a kernel does with its node: {@code kTfLiteOk}, or throws with the reason it refuses the node. */
    @FunctionalInterface
    private interface Kernel {
        int run(TfLiteContext ctx, TfLiteNode node);
    }

    /** A registration whose callbacks run {@code prepare} and {@code invoke}; a throw becomes the op's refusal. */
    private static TfLiteRegistration registration(String op, Kernel prepare, Kernel invoke) {
        Prepare p = new Prepare(op, prepare);
        Invoke i = new Invoke(op, invoke);
        CALLBACKS.add(p);
        CALLBACKS.add(i);
        return new TfLiteRegistration().prepare(p).invoke(i);
    }

    private static int guarded(String op, Kernel k, TfLiteContext ctx, TfLiteNode node) {
        try {
            return k.run(ctx, node);
        } catch (Throwable t) {
            return refuse(op, String.valueOf(t.getMessage()));
        }
    }

    private static final class Prepare extends TfLiteRegistration.Prepare_TfLiteContext_TfLiteNode {
        private final String op;
        private final Kernel kernel;

        Prepare(String op, Kernel kernel) {
            this.op = op;
            this.kernel = kernel;
        }

        @Override
        public int call(TfLiteContext ctx, TfLiteNode node) {
            return guarded(op, kernel, ctx, node);
        }
    }

    private static final class Invoke extends TfLiteRegistration.Invoke_TfLiteContext_TfLiteNode {
        private final String op;
        private final Kernel kernel;

        Invoke(String op, Kernel kernel) {
            this.op = op;
            this.kernel = kernel;
        }

        @Override
        public int call(TfLiteContext ctx, TfLiteNode node) {
            return guarded(op, kernel, ctx, node);
        }
    }

    private static String shape(int[] dims) {
        return java.util.Arrays.toString(dims);
    }

    private static int prepareLandmarksToMatrix(TfLiteContext ctx, TfLiteNode node) {
        TfLiteTensor[] io = floatIo(ctx, node, 1);
        int[] d = dims(io[0]);
        if (d.length != 3 || d[0] != 1 || d[2] != 3) {
            throw new IllegalArgumentException("landmarks " + shape(d) + " (it takes [1, N, 3])");
        }
        MediaPipeTransforms.CropOptions o = MediaPipeTransforms.CropOptions.parse(optionBytes(node));
        if (o.largestIndex() >= d[1]) throw new IllegalArgumentException("landmark " + o.largestIndex() + " of " + d[1]);
        return resize(ctx, io[1], 1, 4, 4);
    }

    private static int landmarksToMatrix(TfLiteContext ctx, TfLiteNode node) {
        TfLiteTensor[] io = floatIo(ctx, node, 1);
        MediaPipeTransforms.CropOptions o = MediaPipeTransforms.CropOptions.parse(optionBytes(node));
        float[] m = MediaPipeTransforms.cropMatrix(floats(io[0], count(dims(io[0]))), o);
        io[1].data().f().capacity(16).put(m);
        return kTfLiteOk;
    }

    private static int prepareTransformTensor(TfLiteContext ctx, TfLiteNode node) {
        TfLiteTensor[] io = floatIo(ctx, node, 2);
        int[] d = dims(io[0]);
        int[] o = dims(io[2]);
        if (d.length != 4 || d[0] != 1 || count(dims(io[1])) != 16 || o.length != 4 || o[0] != 1 || o[3] != d[3]) {
            throw new IllegalArgumentException("input " + shape(d) + ", matrix " + shape(dims(io[1])) + ", output "
                    + shape(o) + " (it takes [1, H, W, C] and a 4x4 matrix to [1, h, w, C])");
        }
        return kTfLiteOk;
    }

    private static int transformTensor(TfLiteContext ctx, TfLiteNode node) {
        TfLiteTensor[] io = floatIo(ctx, node, 2);
        int[] d = dims(io[0]);
        int[] o = dims(io[2]);
        float[] y = new float[count(o)];
        MediaPipeTransforms.cropBilinear(floats(io[0], count(d)), d[1], d[2], d[3], floats(io[1], 16), y, o[1], o[2]);
        io[2].data().f().capacity(y.length).put(y);
        return kTfLiteOk;
    }

    private static int prepareTransformLandmarks(TfLiteContext ctx, TfLiteNode node) {
        TfLiteTensor[] io = floatIo(ctx, node, 2);
        int[] d = dims(io[0]);
        if (d.length != 3 || d[0] != 1 || (d[2] != 2 && d[2] != 3) || count(dims(io[1])) != 16) {
            throw new IllegalArgumentException("landmarks " + shape(d) + ", matrix " + shape(dims(io[1]))
                    + " (it takes [1, N, 2 or 3] and a 4x4 matrix)");
        }
        return resize(ctx, io[2], d);
    }

    private static int transformLandmarks(TfLiteContext ctx, TfLiteNode node) {
        TfLiteTensor[] io = floatIo(ctx, node, 2);
        int[] d = dims(io[0]);
        float[] y = new float[count(d)];
        MediaPipeTransforms.mapLandmarks(floats(io[0], y.length), d[1], d[2], floats(io[1], 16), y);
        io[2].data().f().capacity(y.length).put(y);
        return kTfLiteOk;
    }

    private static TfLiteTensor tensor(TfLiteContext ctx, int index) {
        return ctx.tensors().getPointer(index);
    }

    private static int[] dims(TfLiteTensor t) {
        TfLiteIntArray a = t.dims();
        int[] d = new int[a.size()];
        for (int i = 0; i < d.length; i++) d[i] = a.data(i);
        return d;
    }

    private static float[] floats(TfLiteTensor t, int n) {
        float[] v = new float[n];
        FloatPointer p = t.data().f();
        p.capacity(n).get(v);
        return v;
    }

    /** padding, stride_w, stride_h */
    private static int[] options(TfLiteNode node) {
        int size = node.custom_initial_data_size();
        if (size < 12) return new int[] {1, 1, 1};
        byte[] b = new byte[12];
        new BytePointer(node.custom_initial_data()).capacity(size).get(b);
        ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        return new int[] {bb.getInt(0), bb.getInt(4), bb.getInt(8)};
    }

    private static int outSize(int in, int stride, int k, int padding) {
        return padding == 2 ? (in - 1) * stride + k : in * stride;
    }

    static final class TransposeConvBiasPrepare extends TfLiteRegistration.Prepare_TfLiteContext_TfLiteNode {
        @Override
        public int call(TfLiteContext ctx, TfLiteNode node) {
            try {
                if (node.inputs().size() != 3 || node.outputs().size() != 1) return kTfLiteError;
                TfLiteTensor in = tensor(ctx, node.inputs().data(0));
                TfLiteTensor w = tensor(ctx, node.inputs().data(1));
                TfLiteTensor out = tensor(ctx, node.outputs().data(0));
                if (in.type() != kTfLiteFloat32 || w.type() != kTfLiteFloat32 || out.type() != kTfLiteFloat32) {
                    return kTfLiteError;
                }
                int[] id = dims(in);
                int[] wd = dims(w);
                if (id.length != 4 || wd.length != 4 || wd[3] != id[3]) return kTfLiteError;
                int[] o = options(node);
                int[] want = {id[0], outSize(id[1], o[2], wd[1], o[0]), outSize(id[2], o[1], wd[2], o[0]), wd[0]};
                int[] have = dims(out);
                if (!java.util.Arrays.equals(want, have)) {
                    TfLiteIntArray shape = org.bytedeco.tensorflowlite.global.tensorflowlite.TfLiteIntArrayCreate(4);
                    for (int i = 0; i < 4; i++) shape.data(i, want[i]);
                    return ctx.ResizeTensor().call(ctx, out, shape);
                }
                return kTfLiteOk;
            } catch (Throwable t) {
                return kTfLiteError;
            }
        }
    }

    static final class TransposeConvBiasInvoke extends TfLiteRegistration.Invoke_TfLiteContext_TfLiteNode {
        @Override
        public int call(TfLiteContext ctx, TfLiteNode node) {
            try {
                TfLiteTensor in = tensor(ctx, node.inputs().data(0));
                TfLiteTensor w = tensor(ctx, node.inputs().data(1));
                TfLiteTensor b = tensor(ctx, node.inputs().data(2));
                TfLiteTensor out = tensor(ctx, node.outputs().data(0));
                int[] id = dims(in);
                int[] wd = dims(w);
                int[] od = dims(out);
                int[] o = options(node);
                int n = id[0], h = id[1], wi = id[2], cin = id[3];
                int cout = wd[0], kh = wd[1], kw = wd[2];
                int oh = od[1], ow = od[2];
                int strideW = o[1], strideH = o[2];
                // padding as TFLite computes it for transposed convolutions (SAME: centred, offset to the end)
                int padH = o[0] == 2 ? 0 : Math.max(0, ((h - 1) * strideH + kh - oh) / 2);
                int padW = o[0] == 2 ? 0 : Math.max(0, ((wi - 1) * strideW + kw - ow) / 2);
                float[] x = floats(in, n * h * wi * cin);
                float[] wt = floats(w, cout * kh * kw * cin);
                int nb = 1;
                for (int d : dims(b)) nb *= d;
                float[] bias = floats(b, nb);
                float[] y = new float[n * oh * ow * cout];
                for (int bi = 0; bi < n; bi++) {
                    for (int iy = 0; iy < h; iy++) {
                        for (int ix = 0; ix < wi; ix++) {
                            int xBase = ((bi * h + iy) * wi + ix) * cin;
                            for (int fy = 0; fy < kh; fy++) {
                                int oy = iy * strideH - padH + fy;
                                if (oy < 0 || oy >= oh) continue;
                                for (int fx = 0; fx < kw; fx++) {
                                    int ox = ix * strideW - padW + fx;
                                    if (ox < 0 || ox >= ow) continue;
                                    int yBase = ((bi * oh + oy) * ow + ox) * cout;
                                    for (int co = 0; co < cout; co++) {
                                        int wBase = ((co * kh + fy) * kw + fx) * cin;
                                        float s = 0;
                                        for (int ci = 0; ci < cin; ci++) s += x[xBase + ci] * wt[wBase + ci];
                                        y[yBase + co] += s;
                                    }
                                }
                            }
                        }
                    }
                }
                for (int i = 0; i < y.length; i++) y[i] += bias[nb == 1 ? 0 : i % cout];
                out.data().f().capacity(y.length).put(y);
                return kTfLiteOk;
            } catch (Throwable t) {
                return kTfLiteError;
            }
        }
    }
}
