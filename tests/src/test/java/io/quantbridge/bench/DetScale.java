package io.quantbridge.bench;

import io.quantbridge.backend.Progress;
import io.quantbridge.calib.CalibrationMethod;
import io.quantbridge.calib.CalibratorSpec;
import io.quantbridge.onnx.backend.Sensitivity;
import io.quantbridge.table.TensorRange;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Experiment: are the mse ranges of ppocr-det too tight or too loose? Global and per-tensor amax factors. */
public final class DetScale {
    public static void main(String[] args) throws Exception {
        DetExperiment x = new DetExperiment();
        CalibratorSpec spec = CalibratorSpec.of(CalibrationMethod.MSE);
        try (Sensitivity s = x.sensitivity(x.conditioned(spec))) {
            s.observe(x.calib, spec, Progress.NONE);
            Map<String, TensorRange> ranges = s.ranges(spec);
            Map<String, TensorRange> max = s.ranges(CalibratorSpec.of(CalibrationMethod.MAX));
            for (double f : new double[] {0.8, 1.0, 1.2, 1.5}) {
                System.out.println(s.evaluate("all x" + f, scaled(ranges, null, f), List.of()));
            }
            for (String t : args) {
                for (double f : new double[] {0.7, 1.4, 2.0}) {
                    System.out.println(s.evaluate(t + " x" + f + " (max/mse=" + max.get(t).amax() / ranges.get(t).amax() + ")",
                            scaled(ranges, t, f), List.of()));
                }
            }
        }
    }

    static Map<String, TensorRange> scaled(Map<String, TensorRange> r, String only, double f) {
        Map<String, TensorRange> m = new HashMap<>();
        r.forEach((k, v) -> m.put(k, only != null && !only.equals(k) ? v : TensorRange.symmetric(k, v.amax() * f, v.min(), v.max())));
        return m;
    }
}
