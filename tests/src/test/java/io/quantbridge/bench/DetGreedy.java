package io.quantbridge.bench;

import io.quantbridge.backend.Progress;
import io.quantbridge.calib.CalibrationMethod;
import io.quantbridge.calib.CalibratorSpec;
import io.quantbridge.onnx.backend.Sensitivity;
import io.quantbridge.table.TensorRange;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Experiment: greedy choice of up to 3 float nodes on ppocr-det (mse ranges, default conditioning). */
public final class DetGreedy {
    public static void main(String[] args) throws Exception {
        DetExperiment x = new DetExperiment();
        CalibratorSpec spec = CalibratorSpec.of(CalibrationMethod.parse(args.length > 0 ? args[0] : "mse"));
        try (Sensitivity s = x.sensitivity(x.conditioned(spec))) {
            s.observe(x.calib, spec, Progress.NONE);
            Map<String, TensorRange> ranges = s.ranges(spec);
            System.out.println(s.evaluate("none float", ranges, List.of()));
            List<String> keep = new ArrayList<>();
            for (int round = 0; round < 3; round++) {
                List<Sensitivity.Result> r = s.leaveOneOut(ranges, keep, Progress.NONE);
                for (int k = 0; k < 5; k++) System.out.println("  round " + round + ": " + r.get(k));
                String best = r.get(0).label().substring(0, r.get(0).label().indexOf(' '));
                keep.add(best);
                System.out.println("float " + keep + " -> " + r.get(0));
            }
        }
    }
}
