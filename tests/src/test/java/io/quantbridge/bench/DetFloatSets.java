package io.quantbridge.bench;

import io.quantbridge.backend.Progress;
import io.quantbridge.calib.CalibrationMethod;
import io.quantbridge.calib.CalibratorSpec;
import io.quantbridge.data.SampleRef;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.backend.Sensitivity;
import io.quantbridge.table.TensorRange;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Experiment: pooled cosine of ppocr-det int8 (default conditioning) with given node sets kept float, on 32
 * calibration photos spread over the set (what {@code --float-layers} scores) and on the 27 held-out photos.
 * Args: calibrator, then sets as comma-separated node names ("-" for none).
 */
public final class DetFloatSets {
    public static void main(String[] args) throws Exception {
        DetExperiment x = new DetExperiment();
        CalibratorSpec spec = CalibratorSpec.of(CalibrationMethod.parse(args[0]));
        OnnxModel conditioned = x.conditioned(spec);
        List<SampleRef> spread = new ArrayList<>();
        for (int i = 0; i < 32; i++) spread.add(x.calib.get(i * x.calib.size() / 32));
        try (Sensitivity cal = new Sensitivity(conditioned, DetExperiment.OPTIONS, spread, DetExperiment.PRE, 0.3, 2);
             Sensitivity held = x.sensitivity(conditioned)) {
            cal.observe(x.calib, spec, Progress.NONE);
            Map<String, TensorRange> ranges = cal.ranges(spec);
            for (int k = 1; k < args.length; k++) {
                List<String> set = args[k].equals("-") ? List.of() : Arrays.asList(args[k].split(","));
                System.out.println("calibration32 " + cal.evaluate(args[k], ranges, set));
                System.out.println("held-out27    " + held.evaluate(args[k], ranges, set));
            }
        }
    }
}
