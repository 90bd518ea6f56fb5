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
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Experiment: greedy choice of up to 3 float nodes on ppocr-det (mse ranges, default conditioning). */
public final class DetGreedy {
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
        CalibratorSpec spec = CalibratorSpec.of(CalibrationMethod.parse(args.length > 0 ? args[0] : "mse"));
        Conditioning.Outcome o = Conditioning.apply(plan0, opts, spec, true, true, calib.size(),
                i -> SampleSource.load(calib.get(i), inputs, pre), 2, Progress.NONE);
        try (Sensitivity s = new Sensitivity(o.plan().preparedModel(), opts, split.evaluation(), pre, 0.3, 2)) {
            s.observe(calib, spec, Progress.NONE);
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
