package io.quantbridge.tflite;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.backend.Progress;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.data.SampleRef;
import io.quantbridge.data.SampleSource;
import io.quantbridge.tensor.FloatTensor;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Channel equalization: exact in float on selfie-seg (ReLU), within the RELU6 headroom on pose-lite, where the float
 * outputs of the equalized model match the original's on held-out photos, people included.
 */
class ChannelEqualizationTest {
    private static final List<SampleRef> PHOTOS = SampleSource.discover(RealData.data("opencv")).samples();
    private static final Preprocessing PRE = Preprocessing.defaults().toBuilder()
            .layout(io.quantbridge.data.Layout.NHWC).build();

    /** The float model (float16 weights dequantized) and its copy equalized on the first {@code samples} photos. */
    private record Equalized(TfliteModel original, TfliteModel equalized, ChannelEqualization.Result result) {
        Map<String, FloatTensor> feed(SampleRef photo) {
            return SampleSource.load(photo, equalized.inputs(), PRE);
        }
    }

    private static Equalized equalize(Path model, int samples) {
        TfliteModel original = TfliteModel.load(model);
        original.dequantizeFloat16Weights();
        TfliteModel eq = original.copy();
        var inputs = eq.inputs();
        ChannelEqualization.Result r = ChannelEqualization.apply(eq, samples,
                i -> SampleSource.load(PHOTOS.get(i), inputs, PRE), Progress.NONE);
        return new Equalized(original, eq, r);
    }

    @Test
    void selfieSegmentationConvReluDepthwisePairsKeepTheFloatFunction() {
        Equalized e = equalize(RealData.model("selfie-seg", "selfie_segmentation.tflite"), 8);
        // CONV_2D -> RELU -> DEPTHWISE_CONV_2D whose middle tensor feeds nothing else (three more feed a residual ADD)
        assertEquals(List.of("re_lu", "re_lu_3", "re_lu_5"), e.result().tensors());
        TfliteSession.Options opts = new TfliteSession.Options(1, false, false);
        try (TfliteSession a = TfliteSession.open(e.original().toBytes(), "original", opts);
             TfliteSession b = TfliteSession.open(e.equalized().toBytes(), "equalized", opts)) {
            for (int i = 20; i < 24; i++) {
                Map<String, FloatTensor> feed = e.feed(PHOTOS.get(i));
                float[] x = a.run(feed).get("activation_10").data();
                float[] y = b.run(feed).get("activation_10").data();
                double worst = 0;
                for (int k = 0; k < x.length; k++) worst = Math.max(worst, Math.abs(x[k] - y[k]));
                assertTrue(worst < 1e-3, "float output changed by " + worst + " on " + PHOTOS.get(i));
            }
        }
    }

    @Test
    void poseLiteRelu6PairsKeepTheFloatOutputsOnHeldOutPhotos() {
        Equalized e = equalize(RealData.model("pose-lite", "pose_landmark_lite.tflite"), 32);
        // every pair is CONV_2D with a fused RELU6 feeding a depthwise conv (12 of the model's expand convs)
        assertEquals(12, e.result().pairs(), e.result().tensors().toString());
        List<SampleRef> heldOut = new java.util.ArrayList<>(PHOTOS.subList(60, 64));
        for (SampleRef p : SampleSource.discover(RealData.data("skimage")).samples()) {
            if (p.toString().endsWith("astronaut.png") || p.toString().endsWith("camera.png")) heldOut.add(p);
        }
        assertEquals(6, heldOut.size());
        TfliteSession.Options opts = new TfliteSession.Options(1, false, false);
        try (TfliteSession a = TfliteSession.open(e.original().toBytes(), "original", opts);
             TfliteSession b = TfliteSession.open(e.equalized().toBytes(), "equalized", opts)) {
            for (SampleRef photo : heldOut) {
                Map<String, FloatTensor> feed = e.feed(photo);
                Map<String, FloatTensor> x = a.run(feed);
                Map<String, FloatTensor> y = b.run(feed);
                for (String out : x.keySet()) {
                    double c = io.quantbridge.metrics.Fidelity.cosine(x.get(out).data(), y.get(out).data());
                    // measured: 0.99992 or more with a headroom of 2, down to 0.960 with none
                    assertTrue(c >= 0.9999, out + " of " + photo + ": float cosine " + c);
                }
            }
        }
    }
}
