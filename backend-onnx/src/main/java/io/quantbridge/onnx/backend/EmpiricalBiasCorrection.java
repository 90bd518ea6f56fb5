package io.quantbridge.onnx.backend;

import io.quantbridge.QuantbridgeException;
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
import io.quantbridge.onnx.runtime.ActivationObserver.ChannelStats;
import io.quantbridge.table.TensorRange;
import io.quantbridge.tensor.FloatTensor;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code --empirical-bias-correction K}: after calibration, each quantized Conv and ConvTranspose, in graph order, gets
 * its bias shifted by the difference between the mean of each output channel in the float model and in the int8
 * (Q/DQ) model, measured on K calibration samples with every earlier conv already corrected.
 *
 * <p>The analytic bias correction of {@link Conditioning} removes the mean shift of int8 weight rounding from what the
 * float model feeds a conv. What it cannot see is the shift that the int8 activations cause: clipping at the
 * calibrated range, rounding that is not uniform over a skewed distribution, and the noise that nonlinearities turn
 * into an offset ({@code E[hardswish(x + n)] != hardswish(x)}); these build up along the network. Measuring the int8
 * model's own means takes them all in. The reference is the float model as conditioned (channels equalized, no bias
 * correction): the function the original model computes.
 *
 * <p>Why one conv at a time: correcting every conv at once from one pass over-corrects, since a conv's measured
 * shift includes what the convs before it pass on, which their own corrections remove as well (on ppocr-det, one
 * such step took pooled cosine from 0.986 to 0.934 and repeating it diverged). In graph order each measurement sees
 * the earlier corrections, so each shift is exact for the samples; every step runs only the part of the int8 model
 * that computes the conv ({@link OnnxModel#prunedTo}). Cost: one float pass, then on average half an int8 forward
 * pass per conv over K samples, which stay in memory.
 */
final class EmpiricalBiasCorrection {
    /** The shift added to each corrected node's bias, by node name, in graph order. */
    record Outcome(Map<String, float[]> shifts, int samples, double seconds) {
        Map<String, Object> toMap() {
            double sum = 0;
            int n = 0;
            for (float[] s : shifts.values()) for (float v : s) { sum += Math.abs(v); n++; }
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("samples", samples);
            m.put("corrected_nodes", shifts.size());
            m.put("mean_abs_shift", n == 0 ? 0.0 : sum / n);
            m.put("seconds", seconds);
            return m;
        }
    }

    /** Histogram sizes do not matter here (only channel means are taken); any calibrator will do. */
    private static final CalibratorSpec ANY = CalibratorSpec.of(CalibrationMethod.MAX);

    private EmpiricalBiasCorrection() { }

    /**
     * @param plan        the final placement (float layers chosen) on the conditioned model
     * @param ranges      the calibrated ranges the Q/DQ model is written with
     * @param reference   the float model to match: the conditioned model without the analytic bias corrections and
     *                    with the float weights, before any rounding went into it ({@link GptqRounding})
     * @param feeds       the samples, loaded
     * @param layout      what the target makes of the Q/DQ model: each step measures the model that is written
     */
    static Outcome run(QdqPlan plan, Map<String, TensorRange> ranges, OnnxModel reference,
                       List<Map<String, FloatTensor>> feeds, QdqLayout layout, int threads, Progress progress) {
        if (feeds.isEmpty()) throw new QuantbridgeException("--empirical-bias-correction: no calibration samples");
        long t0 = System.nanoTime();
        OnnxModel qdq = QdqQuantizer.apply(plan, ranges).model();

        Set<String> quantized = new HashSet<>();
        for (NodeDecision d : plan.quantizedNodes()) quantized.add(d.node());
        Map<String, Onnx.TensorProto> inits = qdq.initializers();
        List<Onnx.NodeProto> convs = new ArrayList<>();
        for (Onnx.NodeProto n : qdq.nodes()) {
            if (quantized.contains(n.getName()) && n.getOutputCount() > 0 && !n.getOutput(0).isEmpty()
                    && BiasCorrection.hasInitializerBias(n, inits)) {
                convs.add(n);
            }
        }
        Map<String, float[]> shifts = new LinkedHashMap<>();
        if (convs.isEmpty()) return new Outcome(shifts, feeds.size(), (System.nanoTime() - t0) / 1e9);

        Set<String> outputs = new java.util.LinkedHashSet<>();
        for (Onnx.NodeProto n : convs) outputs.add(n.getOutput(0));
        ActivationObserver.SampleLoader loader = feeds::get;
        progress.begin("empirical bias correction", convs.size() + 1L);
        Map<String, ChannelStats> floatStats = means(reference.prunedTo(outputs), outputs, feeds.size(), loader,
                threads);
        progress.advance(1);
        for (Onnx.NodeProto n : convs) {
            String out = n.getOutput(0);
            OnnxModel step = layout == QdqLayout.TENSORRT ? BiasCorrection.shift(qdq.prunedTo(List.of(out)), shifts)
                    : layout.apply(BiasCorrection.shift(qdq, shifts), plan, ranges).prunedTo(List.of(out));
            ChannelStats q = means(step, Set.of(out), feeds.size(), loader, threads).get(out);
            ChannelStats f = floatStats.get(out);
            if (q == null || f == null || q.channels() != f.channels()) {
                throw new QuantbridgeException("empirical bias correction: the int8 and float models disagree on the "
                        + "channels of " + out + " (output of " + n.getName() + ")");
            }
            float[] mf = f.mean();
            float[] mq = q.mean();
            float[] d = new float[mf.length];
            for (int c = 0; c < d.length; c++) {
                d[c] = mf[c] - mq[c];
                if (!Float.isFinite(d[c])) {
                    throw new QuantbridgeException("empirical bias correction: the mean of channel " + c + " of " + out
                            + " is not finite (float " + mf[c] + ", int8 " + mq[c] + ")");
                }
            }
            shifts.put(n.getName(), d);
            progress.advance(1);
        }
        progress.end();
        return new Outcome(shifts, feeds.size(), (System.nanoTime() - t0) / 1e9);
    }

    private static Map<String, ChannelStats> means(OnnxModel model, Set<String> tensors, int count,
                                                   ActivationObserver.SampleLoader loader, int threads) {
        ActivationObserver.Request request = new ActivationObserver.Request(Set.of(), tensors, Set.of(), 0, 0);
        return new ActivationObserver(model, tensors, ANY, Math.min(threads, count))
                .observe(count, loader, request, "channel means", Progress.NONE).channels();
    }
}
