package io.quantbridge.bench;

import io.quantbridge.backend.Progress;
import io.quantbridge.calib.CalibrationMethod;
import io.quantbridge.calib.CalibratorSpec;
import io.quantbridge.data.DataSplit;
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
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Experiment: are the mse ranges of ppocr-det too tight or too loose? Global and per-tensor amax factors. */
public final class DetScale {
    public static void main(String[] args) throws Exception {
        Path root = Path.of("").toAbsolutePath();
        Preprocessing pre = Preprocessing.builder().size(640, 640).mean(0.485, 0.456, 0.406)
                .std(0.229, 0.224, 0.225).build();
        DataSplit split = DataSplit.split(SampleSource.discover(root.resolve(".cache/data/opencv")).samples(), 1, 64);
        List<SampleRef> calib = split.calibration();
        QdqOptions opts = QdqOptions.defaults();
        OnnxModel model = OnnxModel.load(root.resolve(".cache/models/ppocr/ch_PP-OCRv4_det_infer.onnx"));
        QdqPlan plan0 = QdqQuantizer.plan(model, opts);
        var inputs = plan0.preparedModel().inputs();
        CalibratorSpec spec = CalibratorSpec.of(CalibrationMethod.MSE);
        Conditioning.Outcome o = Conditioning.apply(plan0, opts, spec, true, true, calib.size(),
                i -> SampleSource.load(calib.get(i), inputs, pre), 2, Progress.NONE);
        try (Sensitivity s = new Sensitivity(o.plan().preparedModel(), opts, split.evaluation(), pre, 0.3, 2)) {
            s.observe(calib, spec, Progress.NONE);
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
