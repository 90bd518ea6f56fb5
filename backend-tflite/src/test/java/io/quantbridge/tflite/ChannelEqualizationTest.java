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

/** Channel equalization on selfie-seg: exact in float, and the equalized tensors span one range per channel. */
class ChannelEqualizationTest {
    @Test
    void selfieSegmentationConvReluDepthwisePairsKeepTheFloatFunction() {
        Path model = RealData.model("selfie-seg", "selfie_segmentation.tflite");
        List<SampleRef> photos = SampleSource.discover(RealData.data("opencv")).samples();
        TfliteModel original = TfliteModel.load(model);
        original.dequantizeFloat16Weights();
        TfliteModel eq = original.copy();
        Preprocessing pre = Preprocessing.defaults().toBuilder().layout(io.quantbridge.data.Layout.NHWC).build();
        var inputs = eq.inputs();
        ChannelEqualization.Result r = ChannelEqualization.apply(eq, 8,
                i -> SampleSource.load(photos.get(i), inputs, pre), Progress.NONE);
        // CONV_2D -> RELU -> DEPTHWISE_CONV_2D whose middle tensor feeds nothing else (three more feed a residual ADD)
        assertEquals(List.of("re_lu", "re_lu_3", "re_lu_5"), r.tensors());
        TfliteSession.Options opts = new TfliteSession.Options(1, false, false);
        try (TfliteSession a = TfliteSession.open(original.toBytes(), "original", opts);
             TfliteSession b = TfliteSession.open(eq.toBytes(), "equalized", opts)) {
            for (int i = 20; i < 24; i++) {
                Map<String, FloatTensor> feed = SampleSource.load(photos.get(i), inputs, pre);
                float[] x = a.run(feed).get("activation_10").data();
                float[] y = b.run(feed).get("activation_10").data();
                double worst = 0;
                for (int k = 0; k < x.length; k++) worst = Math.max(worst, Math.abs(x[k] - y[k]));
                assertTrue(worst < 1e-3, "float output changed by " + worst + " on " + photos.get(i));
            }
        }
    }
}
