package io.quantbridge.onnx.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.backend.Progress;
import io.quantbridge.calib.CalibrationMethod;
import io.quantbridge.calib.CalibratorSpec;
import io.quantbridge.onnx.BiasCorrection;
import io.quantbridge.onnx.NodeDecision;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.QdqPlan;
import io.quantbridge.onnx.QdqQuantizer;
import io.quantbridge.onnx.proto.Onnx;
import io.quantbridge.onnx.runtime.ActivationObserver;
import io.quantbridge.onnx.runtime.FetchedData;
import io.quantbridge.table.TensorRange;
import io.quantbridge.tensor.FloatTensor;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * After empirical bias correction, every quantized conv of the real PaddleOCR detector has, on the samples it was
 * measured on, the per-channel output means of the float model: each shift was measured with the convs before it
 * already corrected, and nothing after a conv feeds it.
 */
class EmpiricalBiasCorrectionTest {
    private static final CalibratorSpec MAX = CalibratorSpec.of(CalibrationMethod.MAX);

    @Test
    void everyCorrectedConvOutputHasTheFloatMeansOnTheSamples() {
        QdqPlan plan = FetchedData.detPlan();
        List<Map<String, FloatTensor>> feeds = FetchedData.detFeeds(plan, 128, 4);
        Map<String, TensorRange> ranges = new HashMap<>();
        for (TensorRange r : new ActivationObserver(plan.preparedModel().proto(), plan.activationTensors(), MAX, 2)
                .observe(feeds.size(), feeds::get, Progress.NONE).ranges(MAX)) {
            ranges.put(r.name(), r);
        }

        EmpiricalBiasCorrection.Outcome eb = EmpiricalBiasCorrection.run(plan, ranges, plan.preparedModel(), feeds,
                QdqLayout.TENSORRT, 2,
                Progress.NONE);

        Set<String> quantized = new HashSet<>();
        for (NodeDecision d : plan.quantizedNodes()) quantized.add(d.node());
        Set<String> outputs = new LinkedHashSet<>();
        List<String> convs = new ArrayList<>();
        for (Onnx.NodeProto n : plan.preparedModel().nodes()) {
            if (quantized.contains(n.getName())
                    && (n.getOpType().equals("Conv") || n.getOpType().equals("ConvTranspose"))) {
                convs.add(n.getName());
                outputs.add(n.getOutput(0));
            }
        }
        assertEquals(convs, new ArrayList<>(eb.shifts().keySet()), "every quantized conv, in graph order");
        assertEquals(feeds.size(), eb.samples());

        OnnxModel plain = QdqQuantizer.apply(plan, ranges).model();
        QdqPlan shifted = QdqQuantizer.plan(BiasCorrection.shift(plan.preparedModel(), eb.shifts()), plan.options());
        OnnxModel corrected = QdqQuantizer.apply(shifted, ranges).model();
        // each conv measured the way the correction measured it: the int8 model computing only that output, so that
        // ONNX Runtime fuses the Q/DQ convs before it as it does in the deployed model (exposing them all as outputs
        // would keep them in float arithmetic, and shift the means by their requantization differences)
        Map<String, float[]> reference = means(plan.preparedModel(), outputs, feeds);
        Map<String, float[]> before = new HashMap<>();
        Map<String, float[]> after = new HashMap<>();
        List<String> checked = new ArrayList<>();
        List<String> all = new ArrayList<>(outputs);
        for (int i = 0; i < all.size(); i += 6) checked.add(all.get(i));
        checked.add(all.get(all.size() - 1));
        for (String t : checked) {
            before.putAll(means(plain, Set.of(t), feeds));
            after.putAll(means(corrected, Set.of(t), feeds));
        }
        double worstBefore = 0;
        double worstAfter = 0;
        String worstAt = "";
        for (String t : checked) {
            float[] f = reference.get(t);
            for (int c = 0; c < f.length; c++) {
                double scale = 1 + Math.abs(f[c]);
                worstBefore = Math.max(worstBefore, Math.abs(before.get(t)[c] - f[c]) / scale);
                double a = Math.abs(after.get(t)[c] - f[c]) / scale;
                if (a > worstAfter) {
                    worstAfter = a;
                    worstAt = t + "[" + c + "]";
                }
            }
        }
        assertTrue(worstBefore > 0.01, "the test needs visible shifts, worst " + worstBefore);
        assertTrue(worstAfter < 1e-3, "worst relative channel-mean error after correction " + worstAfter + " at "
                + worstAt + " (before " + worstBefore + ")");
    }

    private static Map<String, float[]> means(OnnxModel m, Set<String> tensors, List<Map<String, FloatTensor>> feeds) {
        Map<String, float[]> out = new HashMap<>();
        new ActivationObserver(m.prunedTo(tensors).proto(), tensors, MAX, 2)
                .observe(feeds.size(), feeds::get, new ActivationObserver.Request(Set.of(), tensors, Set.of(), 0, 0),
                        "means", Progress.NONE)
                .channels().forEach((k, v) -> out.put(k, v.mean()));
        return out;
    }
}
