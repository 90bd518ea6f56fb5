package io.quantbridge.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.onnx.proto.Onnx.NodeProto;
import io.quantbridge.onnx.proto.Onnx.TensorProto;
import io.quantbridge.weights.HessianRounding;
import java.util.Random;
import org.junit.jupiter.api.Test;

class GptqTest {
    private static final int ROWS = 8;
    private static final int COLS = 24;

    private static float[] weights(Random r) {
        float[] w = new float[ROWS * COLS];
        for (int i = 0; i < w.length; i++) w[i] = (float) (r.nextGaussian() * 0.3);
        return w;
    }

    private static float[] scales(float[] w) {
        QdqQuantizer.QuantizedWeight q = QdqQuantizer.quantizeWeight(
                Tensors.floatTensor("w", new long[] {ROWS, COLS}, w), 0);
        return q.scales();
    }

    private static double error(float[] w, byte[] q, float[] s, double[] h) {
        double total = 0;
        for (int r = 0; r < ROWS; r++) {
            double[] e = new double[COLS];
            for (int c = 0; c < COLS; c++) e[c] = q[r * COLS + c] * (double) s[r] - w[r * COLS + c];
            for (int i = 0; i < COLS; i++) for (int j = 0; j < COLS; j++) total += e[i] * h[i * COLS + j] * e[j];
        }
        return total;
    }

    @Test
    void uncorrelatedInputsGiveNearestRounding() {
        float[] w = weights(new Random(1));
        double[] h = new double[COLS * COLS];
        for (int i = 0; i < COLS; i++) h[i * COLS + i] = 1 + i; // diagonal: no error to pass on
        byte[] q = HessianRounding.round(w, ROWS, COLS, h, scales(w), 0.1);
        QdqQuantizer.QuantizedWeight nearest = QdqQuantizer.quantizeWeight(
                Tensors.floatTensor("w", new long[] {ROWS, COLS}, w), 0);
        assertArrayEquals(nearest.values(), q);
    }

    @Test
    void correlatedInputsLowerTheOutputErrorOnTheSameScales() {
        Random r = new Random(2);
        float[] w = weights(r);
        // inputs with strongly correlated channels: x = A z
        double[][] a = new double[COLS][4];
        for (double[] row : a) for (int k = 0; k < 4; k++) row[k] = r.nextGaussian();
        double[] h = new double[COLS * COLS];
        for (int i = 0; i < COLS; i++) {
            for (int j = 0; j < COLS; j++) {
                double s = i == j ? 0.05 : 0;
                for (int k = 0; k < 4; k++) s += a[i][k] * a[j][k];
                h[i * COLS + j] = s;
            }
        }
        float[] s = scales(w);
        byte[] q = HessianRounding.round(w, ROWS, COLS, h, s, 0.01);
        byte[] nearest = QdqQuantizer.quantizeWeight(Tensors.floatTensor("w", new long[] {ROWS, COLS}, w), 0)
                .values();
        double eq = error(w, q, s, h);
        double en = error(w, nearest, s, h);
        assertTrue(eq < 0.5 * en, "gptq " + eq + " against nearest " + en);
        // each row keeps a code at +-127, so requantizing code * scale gives back these codes and scales
        float[] back = new float[w.length];
        for (int i = 0; i < w.length; i++) back[i] = (float) (q[i] * (double) s[i / COLS]);
        QdqQuantizer.QuantizedWeight again = QdqQuantizer.quantizeWeight(
                Tensors.floatTensor("w", new long[] {ROWS, COLS}, back), 0);
        assertArrayEquals(q, again.values());
        for (int row = 0; row < ROWS; row++) assertEquals(s[row], again.scales()[row], s[row] * 1e-6f);
    }

    @Test
    void allZeroRowStaysZero() {
        float[] w = weights(new Random(3));
        for (int c = 0; c < COLS; c++) w[c] = 0;
        double[] h = new double[COLS * COLS];
        for (int i = 0; i < COLS; i++) for (int j = 0; j < COLS; j++) h[i * COLS + j] = i == j ? 2 : 1;
        byte[] q = HessianRounding.round(w, ROWS, COLS, h, scales(w), 0.1);
        for (int c = 0; c < COLS; c++) assertEquals(0, q[c]);
    }

    private static NodeProto conv(String name, long group, long[] pads) {
        NodeProto.Builder b = NodeProto.newBuilder().setName(name).setOpType("Conv").addInput("x").addInput("w")
                .addOutput("y").addAttribute(Attributes.ofInt("group", group));
        if (pads != null) b.addAttribute(Attributes.ofInts("pads", pads));
        return b.build();
    }

    @Test
    void patchesOfAPaddedDepthwiseConvHaveTheExpectedMoments() {
        // 2 channels of 1x1 pixels, 3x3 depthwise kernel with padding 1: each patch is zero but for its centre
        TensorProto w = Tensors.floatTensor("w", new long[] {2, 1, 3, 3}, new float[18]);
        Gptq.Patches p = new Gptq.Patches(conv("dw", 2, new long[] {1, 1, 1, 1}), w, 7);
        assertEquals(9, p.patchSize());
        p.add(new long[] {1, 2, 1, 1}, new float[] {2f, -3f}, 5);
        assertEquals(5, p.count());
        double[] h0 = p.hessian(0);
        double[] h1 = p.hessian(1);
        for (int i = 0; i < 81; i++) {
            assertEquals(i == 4 * 9 + 4 ? 4.0 : 0.0, h0[i], 1e-12, "h0[" + i + "]");
            assertEquals(i == 4 * 9 + 4 ? 9.0 : 0.0, h1[i], 1e-12, "h1[" + i + "]");
        }
        assertEquals(-3.0, p.mean(1)[4], 1e-12);
        assertEquals(0.0, p.mean(1)[0], 1e-12);
    }

    @Test
    void unsupportedConvsAreNamed() {
        TensorProto w4 = Tensors.floatTensor("w", new long[] {4, 2, 3, 3}, new float[72]);
        assertNull(Gptq.unsupported(conv("c", 1, null), w4));
        TensorProto w3 = Tensors.floatTensor("w", new long[] {4, 2, 3}, new float[24]);
        assertEquals("not a 2-D convolution", Gptq.unsupported(conv("c", 1, null), w3));
        TensorProto big = Tensors.floatTensor("w", new long[] {1, 512, 3, 3}, new float[512 * 9]);
        assertEquals("input patch of 4608 values (at most 2304)", Gptq.unsupported(conv("c", 1, null), big));
        NodeProto same = conv("c", 1, null).toBuilder().addAttribute(Attributes.ofString("auto_pad", "SAME_UPPER"))
                .build();
        assertEquals("auto_pad SAME_UPPER", Gptq.unsupported(same, w4));
    }
}
