package io.quantbridge.bench;

import io.quantbridge.backend.Progress;
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
import java.nio.file.Path;
import java.util.List;

/**
 * The setting of the ppocr-det accuracy experiments (Det*.java, run from the repository root): the model at 640x640,
 * the opencv photos split 64 / 27 with seed 1, default Q/DQ options, 2 threads.
 */
final class DetExperiment {
    static final Path ROOT = Path.of("").toAbsolutePath();
    static final Preprocessing PRE = Preprocessing.builder().size(640, 640).mean(0.485, 0.456, 0.406)
            .std(0.229, 0.224, 0.225).build();
    static final QdqOptions OPTIONS = QdqOptions.defaults();

    final DataSplit split = DataSplit.split(SampleSource.discover(ROOT.resolve(".cache/data/opencv")).samples(), 1,
            64);
    final List<SampleRef> calib = split.calibration();
    /** The placement on the float model as given (constant-folded). */
    final QdqPlan plan = QdqQuantizer.plan(OnnxModel.load(ROOT.resolve(".cache/models/ppocr/ch_PP-OCRv4_det_infer.onnx")),
            OPTIONS);

    /** The float model after quantize's default conditioning (equalization and bias correction). */
    OnnxModel conditioned(CalibratorSpec spec) {
        var inputs = plan.preparedModel().inputs();
        return Conditioning.apply(plan, OPTIONS, spec, Conditioning.Settings.DEFAULT, calib.size(),
                i -> SampleSource.load(calib.get(i), inputs, PRE), 2, Progress.NONE).plan().preparedModel();
    }

    /** Sensitivity analysis of {@code model} on the 27 held-out photos (mask IoU at 0.3). */
    Sensitivity sensitivity(OnnxModel model) {
        return new Sensitivity(model, OPTIONS, split.evaluation(), PRE, 0.3, 2);
    }
}
