package io.quantbridge.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.quantbridge.backend.Progress;
import io.quantbridge.data.SampleSource;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The line that says which sub-folders a data folder's samples came from. */
class DataFoldersTest {
    @TempDir
    Path tmp;

    private void images(Path root, String... names) throws Exception {
        for (String n : names) {
            Path f = root.resolve(n);
            Files.createDirectories(f.getParent());
            ImageIO.write(new BufferedImage(4, 4, BufferedImage.TYPE_3BYTE_BGR), "png", f.toFile());
        }
    }

    private static List<String> notes(Path data, Path other) {
        List<String> notes = new ArrayList<>();
        DataFolders.note(data, SampleSource.CALIBRATION, other, Progress.notes(notes::add));
        return notes;
    }

    /** A large held-out set, uncapped, is named before the run with the option that caps it. */
    @Test
    void namesALargeUncappedEvaluationSet() throws Exception {
        Path data = tmp.resolve("photos");
        images(data, "a.png", "b.png", "c.png", "d.png", "e.png", "f.png");
        io.quantbridge.request.QuantizationRequest.Builder b = io.quantbridge.request.QuantizationRequest.builder()
                .model(tmp.resolve("m.onnx")).outputDir(tmp.resolve("out")).calibrationData(data)
                .evaluationData(data).maxSamples(2);
        List<String> notes = new ArrayList<>();
        DataFolders.noteLargeEvaluation(b.build(), 3, Progress.notes(notes::add));
        assertEquals(List.of("evaluation: 4 held-out samples, each read before calibration and run through both"
                + " models; --eval-samples N measures fidelity on a seeded N of them"), notes);
        notes.clear();
        DataFolders.noteLargeEvaluation(b.build(), 4, Progress.notes(notes::add));
        DataFolders.noteLargeEvaluation(b.maxEvaluationSamples(2).build(), 1, Progress.notes(notes::add));
        DataFolders.noteLargeEvaluation(b.evaluationData(tmp.resolve("missing")).maxEvaluationSamples(0).build(), 0,
                Progress.notes(notes::add));
        assertEquals(List.of(), notes);
    }

    @Test
    void namesTheSubFoldersThatHoldSamples() throws Exception {
        Path data = tmp.resolve("data");
        images(data, "images/a.png", "images/b.png", "masks/a.png", "masks/b.png", "top.png", "held/c.png");
        assertEquals(List.of("calibration data " + data + ": 5 samples in 3 folders (./ 1, images/ 2, masks/ 2);"
                + " every image below it is a sample: give the samples' own folder if some of these are masks or"
                + " labels"), notes(data, data.resolve("held")));
        // a flat folder, a missing one: nothing to say here
        assertEquals(List.of(), notes(data.resolve("images"), null));
        assertEquals(List.of(), notes(tmp.resolve("missing"), null));
        // many class folders: the first few and a count
        Path val = tmp.resolve("val");
        for (int k = 0; k < 7; k++) images(val, "n0" + k + "/x.png");
        assertEquals(List.of("calibration data " + val + ": 7 samples in 7 folders (n00/ 1, n01/ 1, n02/ 1, n03/ 1,"
                + " ... (3 more)); every image below it is a sample: give the samples' own folder if some of these are"
                + " masks or labels"), notes(val, null));
    }
}
