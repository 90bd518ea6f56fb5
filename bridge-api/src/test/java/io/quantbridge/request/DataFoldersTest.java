package io.quantbridge.request;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.data.DataSplit;
import io.quantbridge.data.SampleRef;
import io.quantbridge.data.TestImages;
import io.quantbridge.tensor.TensorInfo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --calib} and {@code --eval} folders that nest or share files: now that sub-folders are searched (class
 * folders), the evaluation folder kept inside the calibration folder must stay out of calibration, and sets that
 * share a sample are refused rather than measured on the samples that calibrated the model.
 */
class DataFoldersTest {
    private static final List<TensorInfo> IMAGE = List.of(new TensorInfo("x", "float32", new long[] {1, 3, 4, 4}));

    @TempDir
    Path dir;

    private static void image(Path file) throws IOException {
        TestImages.write(file);
    }

    private static DataSplit split(Path calib, Path eval) {
        return RequestData.split(QuantizationRequest.builder().model(Path.of("m.onnx")).outputDir(Path.of("out"))
                .calibrationData(calib).evaluationData(eval).build(), IMAGE);
    }

    private static List<String> ids(List<SampleRef> samples) {
        return samples.stream().map(SampleRef::id).toList();
    }

    @Test
    void anEvaluationFolderInsideTheCalibrationFolderIsNotCalibrationData() throws IOException {
        Path data = dir.resolve("data");
        TestImages.write(data, "cats/a.png", "dogs/b.png", "eval/c.png", "eval/dogs/d.png");
        DataSplit s = split(data, data.resolve("eval"));
        assertEquals(List.of("cats/a.png", "dogs/b.png"), ids(s.calibration()));
        assertEquals(List.of("c.png", "dogs/d.png"), ids(s.evaluation()));

        // the other way round, and a single evaluation file inside the calibration folder
        s = split(data.resolve("cats"), data);
        assertEquals(List.of("a.png"), ids(s.calibration()));
        assertEquals(List.of("dogs/b.png", "eval/c.png", "eval/dogs/d.png"), ids(s.evaluation()));
        s = split(data, data.resolve("dogs/b.png"));
        assertEquals(List.of("cats/a.png", "eval/c.png", "eval/dogs/d.png"), ids(s.calibration()));
        assertEquals(List.of("b.png"), ids(s.evaluation()));

        // a link in the calibration folder to an evaluation folder elsewhere is the evaluation folder
        Path held = dir.resolve("held");
        image(held.resolve("e.png"));
        Files.createSymbolicLink(data.resolve("held"), held);
        s = split(data, data.resolve("held"));
        assertEquals(List.of("cats/a.png", "dogs/b.png", "eval/c.png", "eval/dogs/d.png"), ids(s.calibration()));
        assertEquals(List.of("e.png"), ids(s.evaluation()));
    }

    @Test
    void calibrationAndEvaluationSetsThatShareASampleAreRefused() throws IOException {
        Path calib = dir.resolve("calib");
        image(calib.resolve("a.png"));
        image(calib.resolve("b.png"));
        Path eval = dir.resolve("eval");
        image(eval.resolve("c.png"));
        Files.createSymbolicLink(eval.resolve("again.png"), calib.resolve("b.png"));
        QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> split(calib, eval));
        assertEquals("evaluation data " + eval + " and calibration data " + calib + " share 1 of 2 evaluation samples"
                + " (e.g. " + eval.resolve("again.png") + ", which is calibration sample b.png): fidelity on samples"
                + " that calibrated the model overstates it; give --eval what --calib names to split it into disjoint"
                + " sets, or sets without common files", e.getMessage());

        // a link in the evaluation folder to the calibration folder, found through the sub-folder search
        Files.delete(eval.resolve("again.png"));
        Files.createSymbolicLink(eval.resolve("old"), calib);
        e = assertThrows(QuantbridgeException.class, () -> split(calib, eval));
        assertEquals("evaluation data " + eval + " and calibration data " + calib + " share 2 of 3 evaluation samples"
                + " (e.g. " + eval.resolve("old/a.png") + ", which is calibration sample a.png): fidelity on samples"
                + " that calibrated the model overstates it; give --eval what --calib names to split it into disjoint"
                + " sets, or sets without common files", e.getMessage());

        // a calibration photo that does not calibrate (left out, or not drawn) may be evaluated
        Files.delete(eval.resolve("old"));
        Files.createSymbolicLink(eval.resolve("again.png"), calib.resolve("b.png"));
        DataSplit kept = RequestData.split(QuantizationRequest.builder().model(Path.of("m.onnx"))
                .outputDir(Path.of("out")).calibrationData(calib).evaluationData(eval)
                .calibrationExcludes(List.of("b.png")).build(), IMAGE);
        assertEquals(List.of("a.png"), ids(kept.calibration()));
        assertEquals(List.of("again.png", "c.png"), ids(kept.evaluation()));
        image(calib.resolve("d.png"));
        for (long seed = 0; seed < 4; seed++) {
            QuantizationRequest.Builder b = QuantizationRequest.builder().model(Path.of("m.onnx"))
                    .outputDir(Path.of("out")).calibrationData(calib).evaluationData(eval).maxSamples(2).seed(seed);
            List<String> drawn = ids(DataSplit.cap(io.quantbridge.data.SampleSource.discover(calib).samples(), seed,
                    2));
            if (drawn.contains("b.png")) {
                assertThrows(QuantbridgeException.class, () -> RequestData.split(b.build(), IMAGE));
            } else {
                assertEquals(drawn, ids(RequestData.split(b.build(), IMAGE).calibration()));
            }
        }

        // --eval-samples caps the held-out set, of a split folder and of a separate one
        DataSplit some = RequestData.split(QuantizationRequest.builder().model(Path.of("m.onnx"))
                .outputDir(Path.of("out")).calibrationData(calib).evaluationData(calib).maxSamples(1)
                .maxEvaluationSamples(1).build(), IMAGE);
        assertEquals(1, some.calibration().size());
        assertEquals(1, some.evaluation().size());
        List<String> one = ids(RequestData.split(QuantizationRequest.builder().model(Path.of("m.onnx"))
                .outputDir(Path.of("out")).calibrationData(calib).evaluationData(eval).calibrationExcludes(
                        List.of("b.png")).maxEvaluationSamples(1).build(), IMAGE).evaluation());
        assertEquals(1, one.size());
        assertTrue(List.of("again.png", "c.png").containsAll(one), one.toString());

        // the same folder for both is split, not refused
        DataSplit s = RequestData.split(QuantizationRequest.builder().model(Path.of("m.onnx"))
                .outputDir(Path.of("out")).calibrationData(calib).evaluationData(calib).maxSamples(1).build(), IMAGE);
        assertEquals(1, s.calibration().size());
        assertEquals(2, s.evaluation().size()); // a.png, b.png and d.png
    }
}
