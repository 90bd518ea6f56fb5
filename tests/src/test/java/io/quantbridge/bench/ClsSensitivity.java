package io.quantbridge.bench;

import io.quantbridge.backend.Progress;
import io.quantbridge.calib.CalibrationMethod;
import io.quantbridge.calib.CalibratorSpec;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.data.SampleRef;
import io.quantbridge.data.SampleSource;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.QdqOptions;
import io.quantbridge.onnx.QdqPlan;
import io.quantbridge.onnx.QdqQuantizer;
import io.quantbridge.onnx.backend.Conditioning;
import io.quantbridge.onnx.backend.Sensitivity;
import io.quantbridge.table.TensorRange;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Experiment: leave-one-out sensitivity of ppocr-cls measured on its calibration crops only (args: the cls-calib
 * folder written by WriteCrops), so that the float nodes it suggests can be judged on the held-out crops.
 */
public final class ClsSensitivity {
    public static void main(String[] args) throws Exception {
        Path root = Path.of("").toAbsolutePath();
        Preprocessing pre = Preprocessing.builder().size(192, 48).mean(0.5, 0.5, 0.5).std(0.5, 0.5, 0.5).build();
        QdqOptions options = QdqOptions.defaults();
        List<SampleRef> calib = SampleSource.discover(Path.of(args[0])).samples();
        QdqPlan plan = QdqQuantizer.plan(OnnxModel.load(root.resolve(
                ".cache/models/ppocr/ch_ppocr_mobile_v2.0_cls_infer.onnx")), options);
        CalibratorSpec spec = CalibratorSpec.of(CalibrationMethod.MSE);
        var inputs = plan.preparedModel().inputs();
        OnnxModel conditioned = Conditioning.apply(plan, options, spec, Conditioning.Settings.DEFAULT, calib.size(),
                i -> SampleSource.load(calib.get(i), inputs, pre), 2, Progress.NONE).plan().preparedModel();
        try (Sensitivity s = new Sensitivity(conditioned, options, calib, pre, null, 2)) {
            s.observe(calib, spec, Progress.NONE);
            Map<String, TensorRange> ranges = s.ranges(spec);
            System.out.println(s.evaluate("none float", ranges, List.of()));
            List<Sensitivity.Result> r = s.leaveOneOut(ranges, List.of(), Progress.NONE);
            for (int k = 0; k < Math.min(10, r.size()); k++) System.out.println(r.get(k));
        }
    }
}
