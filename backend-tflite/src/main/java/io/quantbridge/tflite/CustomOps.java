package io.quantbridge.tflite;

import static org.bytedeco.tensorflowlite.global.tensorflowlite.kTfLiteError;
import static org.bytedeco.tensorflowlite.global.tensorflowlite.kTfLiteFloat32;
import static org.bytedeco.tensorflowlite.global.tensorflowlite.kTfLiteOk;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
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
 */
final class CustomOps {
    static final String TRANSPOSE_CONV_BIAS = "Convolution2DTransposeBias";

    /** Custom codes this runtime can execute (float only). */
    static final List<String> SUPPORTED = List.of(TRANSPOSE_CONV_BIAS);

    private CustomOps() { }

    // kept reachable for as long as the class lives: native code holds these function pointers
    private static final TransposeConvBiasPrepare PREPARE = new TransposeConvBiasPrepare();
    private static final TransposeConvBiasInvoke INVOKE = new TransposeConvBiasInvoke();
    private static final TfLiteRegistration TRANSPOSE_CONV_BIAS_REGISTRATION = new TfLiteRegistration()
            .prepare(PREPARE).invoke(INVOKE);

    static void register(MutableOpResolver resolver) {
        resolver.AddCustom(TRANSPOSE_CONV_BIAS, TRANSPOSE_CONV_BIAS_REGISTRATION, 1);
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
