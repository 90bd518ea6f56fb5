package io.quantbridge.bench;

import io.quantbridge.backend.Progress;
import io.quantbridge.calib.CalibrationMethod;
import io.quantbridge.calib.Calibrator;
import io.quantbridge.calib.CalibratorSpec;
import io.quantbridge.calib.Histogram;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.data.SampleRef;
import io.quantbridge.data.SampleSource;
import io.quantbridge.onnx.ActivationEqualizer;
import io.quantbridge.onnx.BiasCorrection;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.QdqOptions;
import io.quantbridge.onnx.QdqPlan;
import io.quantbridge.onnx.QdqQuantizer;
import io.quantbridge.onnx.backend.Sensitivity;
import io.quantbridge.onnx.runtime.ActivationObserver;
import io.quantbridge.onnx.runtime.ActivationObserver.ChannelStats;
import io.quantbridge.table.TensorRange;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Experiment: equalization strength and float SE blocks on ppocr-det. */
public final class DetAlpha {
    public static void main(String[] args) throws Exception {
        DetExperiment x = new DetExperiment();
        Preprocessing pre = DetExperiment.PRE;
        List<SampleRef> calib = x.calib;
        QdqOptions opts = DetExperiment.OPTIONS;
        QdqPlan plan0 = x.plan;
        OnnxModel prepared = plan0.preparedModel();
        var inputs = prepared.inputs();
        CalibratorSpec mse = CalibratorSpec.of(CalibrationMethod.MSE);
        List<ActivationEqualizer.Site> sites = ActivationEqualizer.sites(prepared, plan0.activationTensors(),
                plan0.sharedScaleGroups());
        Set<String> siteTensors = new LinkedHashSet<>();
        for (var s : sites) siteTensors.add(s.tensor());
        Map<String, ChannelStats> stats = new ActivationObserver(prepared.proto(), new LinkedHashSet<>(plan0.activationTensors()), mse, 2)
                .channelStatistics(calib.size(), i -> SampleSource.load(calib.get(i), inputs, pre), siteTensors, 512, Progress.NONE);
        Calibrator cal = mse.create();
        Map<String, float[]> ranges = new HashMap<>();
        for (String t : siteTensors) {
            ChannelStats cs = stats.get(t);
            float[] r = cs.absMax();
            for (int c = 0; c < r.length; c++) {
                Histogram h = cs.histogram(c);
                if (h != null && !h.isEmpty() && h.absMax() > 0) r[c] = (float) cal.amax(h);
            }
            ranges.put(t, r);
        }
        List<String> keep = args.length > 1 ? Arrays.asList(args[1].split(",")) : List.of();
        for (String a : args[0].split(",")) {
            double alpha = Double.parseDouble(a);
            ActivationEqualizer.Result eq = ActivationEqualizer.apply(prepared, sites, ranges, alpha);
            QdqPlan cp = QdqQuantizer.plan(eq.model(), opts);
            Map<String, float[]> means = new HashMap<>();
            for (var e : stats.entrySet()) {
                float[] m = e.getValue().mean().clone();
                float[] s = eq.scales().get(e.getKey());
                if (s != null) for (int c = 0; c < m.length; c++) m[c] /= s[c];
                means.put(e.getKey(), m);
            }
            OnnxModel cond = BiasCorrection.apply(cp, means).model();
            try (Sensitivity sens = x.sensitivity(cond)) {
                sens.observe(calib, mse, Progress.NONE);
                for (String method : new String[] {"mse", "entropy", "percentile"}) {
                    CalibratorSpec spec = CalibratorSpec.of(CalibrationMethod.parse(method));
                    Map<String, TensorRange> r = sens.ranges(spec);
                    System.out.println(sens.evaluate("alpha " + alpha + " " + method, r, List.of()));
                    if (!keep.isEmpty()) {
                        for (int k = 1; k <= keep.size(); k++) {
                            System.out.println(sens.evaluate("alpha " + alpha + " " + method + " float " + keep.subList(0, k), r, keep.subList(0, k)));
                        }
                    }
                }
            }
        }
    }
}
