package io.quantbridge.bench;

import io.quantbridge.data.SampleRef;
import io.quantbridge.data.SampleSource;
import io.quantbridge.metrics.FidelityAccumulator;
import io.quantbridge.onnx.runtime.OrtModelSession;
import io.quantbridge.tensor.FloatTensor;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Experiment: per-photo cosine and output energy of an int8 ppocr-det model against FP32 on the 64 calibration
 * photos (args: the int8 model), to see which photos dominate a pooled score.
 */
public final class DetPerSample {
    public static void main(String[] args) throws Exception {
        DetExperiment x = new DetExperiment();
        Path ref = DetExperiment.ROOT.resolve(".cache/models/ppocr/ch_PP-OCRv4_det_infer.onnx");
        var inputs = x.plan.preparedModel().inputs();
        List<SampleRef> calib = x.calib;
        try (OrtModelSession f = OrtModelSession.open(ref, 2); OrtModelSession q = OrtModelSession.open(Path.of(args[0]), 2)) {
            for (int i = 0; i < calib.size(); i++) {
                Map<String, FloatTensor> feed = SampleSource.load(calib.get(i), inputs, DetExperiment.PRE);
                float[] a = f.run(feed).values().iterator().next().data();
                float[] b = q.run(feed).values().iterator().next().data();
                FidelityAccumulator acc = new FidelityAccumulator();
                acc.add(a, b);
                double e = 0, d = 0;
                for (int k = 0; k < a.length; k++) { e += a[k] * a[k]; d += (a[k] - b[k]) * (a[k] - b[k]); }
                System.out.printf("%2d %-28s cos=%.4f energy=%10.1f err=%10.1f%n", i, calib.get(i).id(), acc.cosine(), e, d);
            }
        }
    }
}
