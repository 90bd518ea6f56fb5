package io.quantbridge.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.onnx.proto.Onnx.GraphProto;
import io.quantbridge.onnx.proto.Onnx.NodeProto;
import io.quantbridge.onnx.proto.Onnx.TensorProto;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ConvRefitTest {
    private static final int OUT = 4;
    private static final int IN = 3;
    private static final int SIDE = 10;

    private static NodeProto conv() {
        return NodeProto.newBuilder().setName("conv").setOpType("Conv").addInput("x").addInput("w").addInput("b")
                .addOutput("y").build();
    }

    private static float[] gaussian(Random r, int n, double sd) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (r.nextGaussian() * sd);
        return v;
    }

    /**
     * The int8 model feeds the conv {@code 0.5 x + 0.1} where the float model has {@code x} (no padding, so the
     * distortion is exactly linear): the refit doubles the weights, takes the offset into the bias, and removes nearly
     * all the error that the float weights leave; a huge ridge keeps the float weights instead.
     */
    @Test
    void undoesALinearDistortionOfTheInputAndTheRidgePullsTowardTheFloatWeights() {
        Random r = new Random(5);
        float[] w = gaussian(r, OUT * IN * 9, 0.3);
        float[] b = gaussian(r, OUT, 0.2);
        TensorProto wt = Tensors.floatTensor("w", new long[] {OUT, IN, 3, 3}, w);
        ConvRefit.Statistics s = new ConvRefit.Statistics(conv(), wt, b, 1);
        long[] shape = {1, IN, SIDE, SIDE};
        float[][] xs = new float[4][];
        float[][] as = new float[4][];
        for (int sample = 0; sample < 4; sample++) {
            float[] x = gaussian(r, IN * SIDE * SIDE, 1);
            float[] a = new float[x.length];
            for (int i = 0; i < x.length; i++) a[i] = 0.5f * x[i] + 0.1f;
            s.add(shape, a, x, 1000); // 64 positions: all of them
            xs[sample] = x;
            as[sample] = a;
        }
        assertEquals(4 * 64, s.positions());

        ConvRefit.Fit fit = s.fit(1e-9, true, QdqOptions.FULL_RANGE, wt, b);
        for (int o = 0; o < OUT; o++) {
            double max = 0;
            for (int i = 0; i < IN * 9; i++) max = Math.max(max, Math.abs(2 * w[o * IN * 9 + i]));
            double step = max / 127;
            for (int i = 0; i < IN * 9; i++) {
                int k = o * IN * 9 + i;
                assertEquals(2 * w[k], fit.weights()[k], 0.5 * step + 1e-6, "w[" + k + "]");
            }
            // the bias is the mean of what the rounded weights leave: float output minus W' a, over every position
            double residual = 0;
            for (int sample = 0; sample < 4; sample++) {
                for (int oy = 0; oy < SIDE - 2; oy++) {
                    for (int ox = 0; ox < SIDE - 2; ox++) {
                        double t = b[o];
                        for (int c = 0; c < IN; c++) {
                            for (int ky = 0; ky < 3; ky++) {
                                for (int kx = 0; kx < 3; kx++) {
                                    int k = ((o * IN + c) * 3 + ky) * 3 + kx;
                                    int at = (c * SIDE + oy + ky) * SIDE + ox + kx;
                                    t += w[k] * xs[sample][at] - fit.weights()[k] * as[sample][at];
                                }
                            }
                        }
                        residual += t;
                    }
                }
            }
            assertEquals(residual / (4 * 64), fit.bias()[o], 1e-5, "bias[" + o + "]");
        }
        assertTrue(fit.errorAfter() < 1e-3 * fit.errorBefore(), fit.errorBefore() + " -> " + fit.errorAfter());
        assertTrue(fit.errorBefore() > 0.1 * fit.targetPower(), fit.errorBefore() + " of " + fit.targetPower());

        ConvRefit.Fit held = s.fit(1e9, true, QdqOptions.FULL_RANGE, wt, b);
        QdqQuantizer.QuantizedWeight nearest = QdqQuantizer.quantizeWeight(wt, 0);
        for (int k = 0; k < w.length; k++) {
            assertEquals(nearest.values()[k] * nearest.scales()[k / (IN * 9)], held.weights()[k], 1e-6,
                    "w[" + k + "]");
        }
    }

    /**
     * A ConvTranspose with every geometry attribute away from its default (kernel 3x2, strides 2x3, asymmetric pads,
     * output padding, dilation 2 along columns): the output size and the patches the refit reads give, dot the
     * weights, exactly what ONNX Runtime computes.
     */
    @Test
    void transposedPatchesReproduceOnnxRuntimesConvTranspose() throws Exception {
        Random r = new Random(7);
        int cin = 3;
        int cout = 2;
        int h = 5;
        int wd = 4;
        float[] w = gaussian(r, cin * cout * 6, 0.5);
        float[] b = gaussian(r, cout, 0.3);
        float[] x = gaussian(r, cin * h * wd, 1);
        NodeProto ct = TinyModels.node("ConvTranspose", "up", TinyModels.s("x", "w", "b"), TinyModels.s("y"),
                Attributes.ofInts("kernel_shape", 3, 2), Attributes.ofInts("strides", 2, 3),
                Attributes.ofInts("pads", 1, 0, 0, 1), Attributes.ofInts("output_padding", 1, 0),
                Attributes.ofInts("dilations", 1, 2));
        long[] wdims = {cin, cout, 3, 2};
        ConvGeometry g = ConvGeometry.of(ct, wdims);
        int oh = g.outHeight(h);
        int ow = g.outWidth(wd);
        assertEquals(2 * 4 + 1 + 3 - 1, oh);
        assertEquals(3 * 3 + 3 - 1, ow);
        GraphProto graph = GraphProto.newBuilder().setName("up").addInput(TinyModels.input("x", 1, cin, h, wd))
                .addInitializer(Tensors.floatTensor("w", wdims, w))
                .addInitializer(Tensors.floatTensor("b", new long[] {cout}, b)).addNode(ct)
                .addOutput(TinyModels.input("y", 1, cout, oh, ow)).build();
        float[] y = Ort.run(TinyModels.model(graph, 13), Map.of("x", new Ort.Input(x, new long[] {1, cin, h, wd})))
                .get("y");
        assertEquals(cout * oh * ow, y.length);
        float[] rows = ConvRefit.swapLeading(w, cin, cout, 6);
        double[] patch = new double[g.patch];
        for (int oy = 0; oy < oh; oy++) {
            for (int ox = 0; ox < ow; ox++) {
                g.patch(x, 0, cin, h, wd, 0, oy, ox, patch);
                for (int o = 0; o < cout; o++) {
                    double v = b[o];
                    for (int i = 0; i < g.patch; i++) v += rows[o * g.patch + i] * patch[i];
                    assertEquals(y[(o * oh + oy) * ow + ox], v, 1e-4, "y[" + o + ", " + oy + ", " + ox + "]");
                }
            }
        }
    }

    /**
     * A ConvTranspose fed {@code 0.5 x} (exactly linear, padding included): its weights come back doubled in their
     * own layout [C, O, kh, kw], rounded on per-output-channel scales (axis 1), and its bias stays; a huge ridge gives
     * the nearest rounding of the float weights on those scales.
     */
    @Test
    void refitsAConvTransposeInItsOwnWeightLayout() {
        Random r = new Random(9);
        int cin = 4;
        int cout = 3;
        float[] w = gaussian(r, cin * cout * 9, 0.4);
        float[] b = gaussian(r, cout, 0.2);
        NodeProto ct = NodeProto.newBuilder().setName("up").setOpType("ConvTranspose").addInput("x").addInput("w")
                .addInput("b").addOutput("y").addAttribute(Attributes.ofInts("strides", 2, 2))
                .addAttribute(Attributes.ofInts("pads", 1, 1, 1, 1)).build();
        TensorProto wt = Tensors.floatTensor("w", new long[] {cin, cout, 3, 3}, w);
        ConvRefit.Statistics s = new ConvRefit.Statistics(ct, wt, b, 1);
        long[] shape = {1, cin, 6, 6};
        for (int sample = 0; sample < 3; sample++) {
            float[] x = gaussian(r, cin * 36, 1);
            float[] a = new float[x.length];
            for (int i = 0; i < x.length; i++) a[i] = 0.5f * x[i];
            s.add(shape, a, x, 1000); // 11 x 11 positions: all of them
        }
        assertEquals(3 * 121, s.positions());
        ConvRefit.Fit fit = s.fit(1e-9, true, QdqOptions.FULL_RANGE, wt, b);
        for (int o = 0; o < cout; o++) {
            double max = 0;
            for (int c = 0; c < cin; c++) for (int k = 0; k < 9; k++) max = Math.max(max, Math.abs(2 * w[(c * cout + o) * 9 + k]));
            double step = max / 127;
            for (int c = 0; c < cin; c++) {
                for (int k = 0; k < 9; k++) {
                    int at = (c * cout + o) * 9 + k;
                    assertEquals(2 * w[at], fit.weights()[at], 0.5 * step + 1e-6, "w[" + at + "]");
                    assertEquals(0, Math.IEEEremainder(fit.weights()[at], step), 1e-4 * step, "w[" + at + "] on the grid");
                }
            }
            assertEquals(b[o], fit.bias()[o], 0.02, "bias[" + o + "]");
        }
        assertTrue(fit.errorAfter() < 1e-3 * fit.errorBefore(), fit.errorBefore() + " -> " + fit.errorAfter());

        ConvRefit.Fit held = s.fit(1e9, true, QdqOptions.FULL_RANGE, wt, b);
        QdqQuantizer.QuantizedWeight nearest = QdqQuantizer.quantizeWeight(wt, 1);
        for (int k = 0; k < w.length; k++) {
            assertEquals(nearest.values()[k] * nearest.scales()[(k / 9) % cout], held.weights()[k], 1e-6,
                    "w[" + k + "]");
        }
    }

    @Test
    void refusesConvTransposesItCannotReadAsPatches() {
        TensorProto wt = Tensors.floatTensor("w", new long[] {4, 2, 3, 3}, new float[72]);
        NodeProto.Builder ct = NodeProto.newBuilder().setName("up").setOpType("ConvTranspose").addInput("x")
                .addInput("w").addOutput("y");
        assertEquals(null, ConvRefit.unsupported(ct.build(), wt));
        assertEquals("grouped ConvTranspose", ConvRefit.unsupported(ct.clone()
                .addAttribute(Attributes.ofInt("group", 2)).build(), wt));
        assertEquals("output_shape given", ConvRefit.unsupported(ct.clone()
                .addAttribute(Attributes.ofInts("output_shape", 12, 12)).build(), wt));
        assertEquals("auto_pad SAME_UPPER", ConvRefit.unsupported(ct.clone()
                .addAttribute(Attributes.ofString("auto_pad", "SAME_UPPER")).build(), wt));
    }

    @Test
    void refusesAnInputOfOtherChannelsAndAFitWithoutPositions() {
        TensorProto wt = Tensors.floatTensor("w", new long[] {OUT, IN, 3, 3}, new float[OUT * IN * 9]);
        ConvRefit.Statistics s = new ConvRefit.Statistics(conv(), wt, null, 1);
        assertEquals("conv: input [1, 2, 5, 5] does not match 3 channels", assertThrows(
                IllegalArgumentException.class, () -> s.add(new long[] {1, 2, 5, 5}, new float[50], new float[50],
                        8)).getMessage());
        assertEquals("conv: no positions added", assertThrows(IllegalStateException.class,
                () -> s.fit(1, true, QdqOptions.FULL_RANGE, wt, null)).getMessage());
    }
}
