package io.quantbridge.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.onnx.proto.Onnx.NodeProto;
import io.quantbridge.onnx.proto.Onnx.TensorProto;
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
