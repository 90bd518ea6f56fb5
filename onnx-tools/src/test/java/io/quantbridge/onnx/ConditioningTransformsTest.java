package io.quantbridge.onnx;

import static io.quantbridge.onnx.TinyModels.input;
import static io.quantbridge.onnx.TinyModels.node;
import static io.quantbridge.onnx.TinyModels.randomWeights;
import static io.quantbridge.onnx.TinyModels.s;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.onnx.proto.Onnx;
import io.quantbridge.onnx.proto.Onnx.GraphProto;
import io.quantbridge.table.TensorRange;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** Activation equalization keeps the float function and evens out channels; bias correction removes mean shift. */
class ConditioningTransformsTest {

    /** Max |x| per channel (axis 1) of an NCHW tensor. */
    static float[] channelAbsMax(float[] data, int channels) {
        float[] m = new float[channels];
        int inner = data.length / channels;
        for (int c = 0; c < channels; c++) {
            for (int k = 0; k < inner; k++) m[c] = Math.max(m[c], Math.abs(data[c * inner + k]));
        }
        return m;
    }

    static float[] channelMean(float[] data, int channels) {
        float[] m = new float[channels];
        int inner = data.length / channels;
        for (int c = 0; c < channels; c++) {
            double s = 0;
            for (int k = 0; k < inner; k++) s += data[c * inner + k];
            m[c] = (float) (s / inner);
        }
        return m;
    }

    /** The placement on a PaddleOCR model of {@link TestModels}. */
    static QdqPlan plan(String model, QdqOptions opts) {
        return QdqQuantizer.plan(OnnxModel.load(TestModels.ppocr(model)), opts);
    }

    /** The equalization sites of the plan's prepared model. */
    static List<ActivationEqualizer.Site> sitesOf(QdqPlan plan) {
        return ActivationEqualizer.sites(plan.preparedModel(), plan.activationTensors(), plan.sharedScaleGroups());
    }

    /** Each site's channel ranges in {@code values}. */
    static Map<String, float[]> siteAbsMax(List<ActivationEqualizer.Site> sites, Map<String, float[]> values) {
        Map<String, float[]> absMax = new HashMap<>();
        for (ActivationEqualizer.Site site : sites) {
            absMax.put(site.tensor(), channelAbsMax(values.get(site.tensor()), site.channels()));
        }
        return absMax;
    }

    /** Every channel that was not negligible ({@code before}) reaches the largest range ({@code after}). */
    static void assertEven(ActivationEqualizer.Site site, float[] before, float[] after) {
        float top = 0;
        for (float v : before) top = Math.max(top, v);
        for (int c = 0; c < after.length; c++) {
            if (before[c] > top * ActivationEqualizer.MIN_SCALE) {
                assertEquals(top, after[c], 1e-3 * top, site.tensor() + " channel " + c + " is not even");
            }
        }
    }

    @Test
    void detectorKeepsItsOutputAndDepthwiseInputsBecomeEven() throws Exception {
        // PP-LCNetV3: the stem BatchNormalization, the learnable affine blocks, neck/head convs (some through Relu)
        // and the two head BN+Relu before ConvTranspose
        detectorEqualization(QdqOptions.defaults(), Map.of("BatchNormalization", 3L, "affine", 26L, "Conv", 14L));
    }

    @Test
    void detectorWithItsBatchNormsFoldedEqualizesAtTheConvsInstead() throws Exception {
        // the three BatchNormalizations are folded into the stem conv, the head conv and the first ConvTranspose,
        // and three of the affine blocks into the convs before them, which then rescale their own output channels
        detectorEqualization(QdqOptions.defaults().withFoldIntoConvs(true),
                Map.of("ConvTranspose", 1L, "affine", 23L, "Conv", 19L));
    }

    private static void detectorEqualization(QdqOptions opts, Map<String, Long> expectedKinds) throws Exception {
        QdqPlan plan = plan(TestModels.DET, opts);
        OnnxModel prepared = plan.preparedModel();
        List<ActivationEqualizer.Site> sites = sitesOf(plan);
        Map<String, Long> kinds = sites.stream().collect(Collectors.groupingBy(ActivationEqualizer.Site::producerKind,
                Collectors.counting()));
        assertEquals(expectedKinds, kinds);
        assertEquals(11, sites.stream().filter(ActivationEqualizer.Site::depthwise).count());

        Map<String, Ort.Input> feed = Map.of("x", Photos.tensor("imageTextR.png", 160, 160, Photos.IMAGENET_MEAN,
                Photos.IMAGENET_STD));
        List<String> siteTensors = sites.stream().map(ActivationEqualizer.Site::tensor).toList();
        List<String> outs = new ArrayList<>(siteTensors);
        outs.add("sigmoid_0.tmp_0");
        Map<String, float[]> before = Ort.run(prepared.withOutputs(outs), feed);
        Map<String, float[]> absMax = siteAbsMax(sites, before);
        ActivationEqualizer.Result eq = ActivationEqualizer.apply(prepared, sites, absMax, 0.5);
        assertEquals(sites.size(), eq.scales().size());
        Map<String, float[]> after = Ort.run(eq.model().withOutputs(outs), feed);

        float[] y0 = before.get("sigmoid_0.tmp_0");
        float[] y1 = after.get("sigmoid_0.tmp_0");
        assertTrue(Ort.maxAbsDiff(y0, y1) < 2e-4, "output moved by " + Ort.maxAbsDiff(y0, y1));
        for (ActivationEqualizer.Site site : sites) {
            float[] m = channelAbsMax(after.get(site.tensor()), site.channels());
            float[] sc = eq.scales().get(site.tensor());
            float[] m0 = absMax.get(site.tensor());
            for (int c = 0; c < m.length; c++) {
                // every channel is divided by its scale, nothing else changes
                assertEquals(m0[c] / sc[c], m[c], 1e-3 * Math.max(1, m[c]), site.tensor() + " channel " + c);
            }
            if (site.depthwise()) assertEven(site, m0, m);
        }
    }

    /**
     * A depthwise conv whose input comes from a producer that is not linear per channel (MobileNetV3's hard swish,
     * decomposed by the classifier's export into Mul and Div) gets a Mul by the inverse scales put after that
     * producer: its channels come out even, the float output does not move, and nothing else in the graph changes.
     */
    @Test
    void aHardSwishBeforeADepthwiseConvGetsAScalingMul() throws Exception {
        QdqPlan plan = plan(TestModels.CLS, QdqOptions.defaults());
        OnnxModel prepared = plan.preparedModel();
        List<ActivationEqualizer.Site> sites = sitesOf(plan);
        List<ActivationEqualizer.Site> scaled = sites.stream()
                .filter(x -> x.producerKind().equals(ActivationEqualizer.SCALE)).toList();
        assertEquals(8, scaled.size(), sites.toString());
        Map<String, Onnx.NodeProto> byName = new HashMap<>();
        for (Onnx.NodeProto n : prepared.nodes()) byName.put(n.getName(), n);
        for (ActivationEqualizer.Site site : scaled) {
            assertEquals("Div", byName.get(site.producer()).getOpType(), site.toString());
            assertTrue(site.depthwise() && !site.centerable() && site.rescaled().equals(List.of(site.tensor())));
        }

        Map<String, Ort.Input> feed = Map.of("x", Photos.tensor("imageTextN.png", 48, 192, new float[] {0.5f, 0.5f,
                0.5f}, new float[] {0.5f, 0.5f, 0.5f}));
        String output = prepared.outputs().get(0).name();
        List<String> outs = new ArrayList<>(scaled.stream().map(ActivationEqualizer.Site::tensor).toList());
        outs.add(output);
        Map<String, float[]> before = Ort.run(prepared.withOutputs(outs), feed);
        Map<String, float[]> absMax = siteAbsMax(scaled, before);
        ActivationEqualizer.Result eq = ActivationEqualizer.apply(prepared, scaled, absMax, 0.5);
        assertEquals(scaled.size(), eq.scales().size());
        OnnxModel m = eq.model();
        assertEquals(prepared.nodes().size() + scaled.size(), m.nodes().size());
        List<String> order = m.nodes().stream().map(Onnx.NodeProto::getName).toList();
        for (ActivationEqualizer.Site site : scaled) {
            int at = order.indexOf(site.tensor() + "_eq_mul");
            Onnx.NodeProto mul = m.nodes().get(at);
            assertEquals("Mul", mul.getOpType());
            assertEquals(List.of(site.tensor() + "_unscaled", site.tensor() + "_eq_scale"), mul.getInputList());
            assertEquals(List.of(site.tensor()), mul.getOutputList());
            assertEquals(site.producer(), order.get(at - 1), "the Mul follows its producer");
            assertEquals(List.of(1L, (long) site.channels(), 1L, 1L),
                    Arrays.stream(Tensors.dims(m.initializers().get(site.tensor() + "_eq_scale"))).boxed().toList());
        }
        Map<String, float[]> after = Ort.run(m.withOutputs(outs), feed);
        assertTrue(Ort.maxAbsDiff(before.get(output), after.get(output)) < 1e-5,
                "output moved by " + Ort.maxAbsDiff(before.get(output), after.get(output)));
        for (ActivationEqualizer.Site site : scaled) {
            assertEven(site, absMax.get(site.tensor()), channelAbsMax(after.get(site.tensor()), site.channels()));
        }
        // the Q/DQ placement quantizes the scaled tensor, read by the depthwise conv, and leaves the Mul float
        QdqPlan replanned = QdqQuantizer.plan(m, QdqOptions.defaults());
        for (ActivationEqualizer.Site site : scaled) {
            assertTrue(replanned.activationTensors().contains(site.tensor()), site.tensor());
            assertTrue(!replanned.activationTensors().contains(site.tensor() + "_unscaled"), site.tensor());
        }
    }

    /**
     * Centring: the one-sided tensors that only pad-free convs read (PP-LCNetV3's affine blocks after a hard swish,
     * read by pointwise convs) are shifted to a symmetric range per channel and the float output does not move.
     */
    @Test
    void detectorCentresItsOneSidedPointwiseInputsWithoutChangingItsOutput() throws Exception {
        QdqPlan plan = plan(TestModels.DET, QdqOptions.defaults());
        OnnxModel prepared = plan.preparedModel();
        List<ActivationEqualizer.Site> sites = sitesOf(plan);
        List<ActivationEqualizer.Site> centerable = sites.stream().filter(ActivationEqualizer.Site::centerable)
                .toList();
        assertEquals(Map.of("affine", CENTERABLE_AFFINE, "Conv", CENTERABLE_CONV), centerable.stream().collect(
                Collectors.groupingBy(ActivationEqualizer.Site::producerKind, Collectors.counting())));

        Map<String, Ort.Input> feed = Map.of("x", Photos.tensor("imageTextR.png", 160, 160, Photos.IMAGENET_MEAN,
                Photos.IMAGENET_STD));
        List<String> outs = new ArrayList<>(sites.stream().map(ActivationEqualizer.Site::tensor).toList());
        outs.add("sigmoid_0.tmp_0");
        Map<String, float[]> before = Ort.run(prepared.withOutputs(outs), feed);
        Map<String, float[]> half = new HashMap<>();
        Map<String, float[]> shifts = new HashMap<>();
        for (ActivationEqualizer.Site site : sites) {
            float[][] mm = channelMinMax(before.get(site.tensor()), site.channels());
            float[] h = new float[site.channels()];
            float[] t = new float[site.channels()];
            for (int c = 0; c < h.length; c++) {
                t[c] = (mm[0][c] + mm[1][c]) / 2;
                h[c] = site.centerable() ? (mm[1][c] - mm[0][c]) / 2 : Math.max(-mm[0][c], mm[1][c]);
            }
            half.put(site.tensor(), h);
            shifts.put(site.tensor(), t); // offered for every site: only the centerable ones take it
        }
        ActivationEqualizer.Result eq = ActivationEqualizer.apply(prepared, sites, half, 1.0, shifts);
        assertEquals(centerable.stream().map(ActivationEqualizer.Site::tensor).toList(),
                List.copyOf(eq.shifts().keySet()));
        Map<String, float[]> after = Ort.run(eq.model().withOutputs(outs), feed);
        float[] y0 = before.get("sigmoid_0.tmp_0");
        float[] y1 = after.get("sigmoid_0.tmp_0");
        assertTrue(Ort.maxAbsDiff(y0, y1) < 2e-4, "output moved by " + Ort.maxAbsDiff(y0, y1));
        for (ActivationEqualizer.Site site : centerable) {
            float[][] mm = channelMinMax(after.get(site.tensor()), site.channels());
            float[] sc = eq.scales().get(site.tensor());
            float[] h = half.get(site.tensor());
            for (int c = 0; c < sc.length; c++) {
                float want = h[c] / sc[c];
                assertEquals(-want, mm[0][c], 1e-3 * Math.max(1, want), site.tensor() + " channel " + c + " min");
                assertEquals(want, mm[1][c], 1e-3 * Math.max(1, want), site.tensor() + " channel " + c + " max");
            }
        }
    }

    private static final long CENTERABLE_AFFINE = 13;
    private static final long CENTERABLE_CONV = 4;

    private static float[][] channelMinMax(float[] data, int channels) {
        int inner = data.length / channels;
        float[][] mm = new float[2][channels];
        for (int c = 0; c < channels; c++) {
            mm[0][c] = Float.POSITIVE_INFINITY;
            mm[1][c] = Float.NEGATIVE_INFINITY;
            for (int k = 0; k < inner; k++) {
                mm[0][c] = Math.min(mm[0][c], data[c * inner + k]);
                mm[1][c] = Math.max(mm[1][c], data[c * inner + k]);
            }
        }
        return mm;
    }

    @Test
    void aSharedReaderOrAGraphOutputIsNotASite() {
        OnnxModel m = TinyModels.convModel();
        QdqPlan plan = QdqQuantizer.plan(m, QdqOptions.defaults());
        // p1 has three readers, cat shares a scale with its inputs, x has no producer: nothing qualifies
        assertEquals(List.of(), ActivationEqualizer.sites(plan.preparedModel(), plan.activationTensors(),
                plan.sharedScaleGroups()));
    }

    /** x -> conv (3x3, 8 -> 8) -> y; inputs with a strong per-channel offset make the weight rounding bias visible. */
    static OnnxModel offsetConv() {
        Random r = new Random(11);
        GraphProto.Builder g = GraphProto.newBuilder().setName("offset_conv");
        g.addInput(input("x", 1, 8, 12, 12));
        g.addInitializer(Tensors.floatTensor("w", new long[] {8, 8, 3, 3}, randomWeights(r, 8 * 72, 0.2f)));
        g.addInitializer(Tensors.floatTensor("b", new long[] {8}, randomWeights(r, 8, 0.1f)));
        g.addNode(node("Conv", "conv", s("x", "w", "b"), s("y"), Attributes.ofInts("kernel_shape", 3, 3)));
        g.addOutput(input("y", 1, 8, 10, 10));
        return TinyModels.model(g.build(), 13);
    }

    static Ort.Input offsetInput(long seed) {
        Random r = new Random(seed);
        float[] f = new float[8 * 144];
        for (int c = 0; c < 8; c++) {
            for (int k = 0; k < 144; k++) f[c * 144 + k] = (float) (3 + c + 0.2 * r.nextGaussian());
        }
        return new Ort.Input(f, new long[] {1, 8, 12, 12});
    }

    @Test
    void biasCorrectionRemovesTheMeanShiftOfWeightRounding() throws Exception {
        OnnxModel m = offsetConv();
        QdqPlan plan = QdqQuantizer.plan(m, QdqOptions.defaults());
        List<Map<String, Ort.Input>> calib = new ArrayList<>();
        for (int i = 0; i < 4; i++) calib.add(Map.of("x", offsetInput(i)));
        Map<String, TensorRange> ranges = Ort.maxAbsRanges(plan.preparedModel(), Set.of("x"), calib);
        float[] mean = new float[8];
        for (Map<String, Ort.Input> b : calib) {
            float[] cm = channelMean(b.get("x").data(), 8);
            for (int c = 0; c < 8; c++) mean[c] += cm[c] / calib.size();
        }
        BiasCorrection.Result bc = BiasCorrection.apply(plan, Map.of("x", mean));
        assertEquals(Set.of("conv"), bc.corrections().keySet());

        OnnxModel plain = QdqQuantizer.apply(plan, ranges).model();
        OnnxModel corrected = QdqQuantizer.apply(QdqQuantizer.plan(bc.model(), QdqOptions.defaults()), ranges).model();
        Map<String, Ort.Input> held = Map.of("x", offsetInput(99));
        float[] ref = Ort.run(m, held).get("y");
        float[] shiftPlain = channelMean(diff(Ort.run(plain, held).get("y"), ref), 8);
        float[] shiftCorrected = channelMean(diff(Ort.run(corrected, held).get("y"), ref), 8);
        double plainNorm = norm(shiftPlain);
        double correctedNorm = norm(shiftCorrected);
        assertTrue(plainNorm > 1e-3, "the test needs a visible shift, got " + plainNorm);
        assertTrue(correctedNorm < plainNorm / 4, "mean shift " + plainNorm + " -> " + correctedNorm);
    }

    @Test
    void revertGivesBackTheUncorrectedBiasOfTheNamedNodesOnly() {
        OnnxModel m = offsetConv();
        QdqPlan plan = QdqQuantizer.plan(m, QdqOptions.defaults());
        float[] mean = new float[8];
        for (int c = 0; c < 8; c++) mean[c] = 3 + c;
        BiasCorrection.Result bc = BiasCorrection.apply(plan, Map.of("x", mean));
        String biasName = nodeNamed(bc.model(), "conv").getInput(2);
        float[] before = Tensors.toFloats(plan.preparedModel().initializers().get(nodeNamed(plan.preparedModel(), "conv")
                .getInput(2)));
        float[] corrected = Tensors.toFloats(bc.model().initializers().get(biasName));
        double moved = 0;
        for (int o = 0; o < before.length; o++) moved += Math.abs(corrected[o] - before[o]);
        assertTrue(moved > 1e-4, "the test needs a correction, got " + moved);

        assertSame(bc.model(), BiasCorrection.revert(bc.model(), bc.corrections(), List.of("other")),
                "a node without a correction leaves the model alone");
        OnnxModel reverted = BiasCorrection.revert(bc.model(), bc.corrections(), List.of("conv"));
        float[] back = Tensors.toFloats(reverted.initializers().get(nodeNamed(reverted, "conv").getInput(2)));
        for (int o = 0; o < before.length; o++) {
            assertEquals(before[o], back[o], 1e-6 * Math.max(1, Math.abs(before[o])), "bias[" + o + "]");
        }
        assertEquals(bc.model().initializers().keySet(), reverted.initializers().keySet());
    }

    @Test
    void shiftAddsToABiasGivesABiaslessConvOneAndRefusesAWrongLength() {
        OnnxModel m = TinyModels.convModel();
        float[] d1 = new float[8];
        float[] d2 = new float[8];
        for (int c = 0; c < 8; c++) {
            d1[c] = 0.25f * c;
            d2[c] = -0.5f + c;
        }
        OnnxModel shifted = BiasCorrection.shift(m, Map.of("conv1", d1, "conv2", d2));
        float[] b1 = Tensors.toFloats(m.initializers().get("b1"));
        float[] nb1 = Tensors.toFloats(shifted.initializers().get(nodeNamed(shifted, "conv1").getInput(2)));
        for (int c = 0; c < 8; c++) assertEquals(b1[c] + d1[c], nb1[c], 0f, "b1[" + c + "]");
        assertEquals("b1", nodeNamed(shifted, "conv1").getInput(2), "a bias only conv1 reads is updated in place");
        io.quantbridge.onnx.proto.Onnx.NodeProto conv2 = nodeNamed(shifted, "conv2");
        assertEquals("conv2_corrected_bias", conv2.getInput(2));
        assertArrayEquals(d2, Tensors.toFloats(shifted.initializers().get("conv2_corrected_bias")));
        assertEquals(m.nodes().size(), shifted.nodes().size());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> BiasCorrection.shift(m, Map.of("conv3", d1)));
        assertEquals("shift of conv3: 8 values for 4 output channels", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> BiasCorrection.shift(m, Map.of("conv1", new float[3])));
        assertEquals("shift of conv1: 3 values for 8 output channels", e.getMessage());
    }

    private static io.quantbridge.onnx.proto.Onnx.NodeProto nodeNamed(OnnxModel m, String name) {
        return m.graph().getNodeList().stream().filter(n -> n.getName().equals(name)).findFirst().orElseThrow();
    }

    private static float[] diff(float[] a, float[] b) {
        float[] d = new float[a.length];
        for (int i = 0; i < a.length; i++) d[i] = a[i] - b[i];
        return d;
    }

    private static double norm(float[] v) {
        double s = 0;
        for (float x : v) s += x * x;
        return Math.sqrt(s);
    }
}
