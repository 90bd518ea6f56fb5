package io.quantbridge.cli;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.Progress;
import io.quantbridge.data.SampleSource;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Says where the samples of a data folder came from when some lie in sub-folders: every image below the folder is a
 * sample, so a folder given one level too high ({@code data/} holding {@code images/} and {@code masks/}) would
 * calibrate on the masks too. One line, before the run.
 */
final class DataFolders {
    /** How many sub-folders the line names before it counts the rest. */
    static final int SHOWN = 4;

    /** How many held-out samples, uncapped, make {@link #noteLargeEvaluation} speak. */
    static final int LARGE_EVALUATION = 1000;

    private DataFolders() { }

    /**
     * Notes an evaluation set of more than {@code threshold} samples when {@code --eval-samples} does not cap it:
     * each is read before calibration and run through both models (a 50,000-photo folder split with
     * {@code --samples 500} holds 49,500 out). Says nothing when the data cannot be read: the run says why.
     */
    static void noteLargeEvaluation(io.quantbridge.request.QuantizationRequest request, int threshold,
                                    Progress progress) {
        if (request.maxEvaluationSamples() > 0) return;
        int n;
        try {
            io.quantbridge.data.DataSplit split = io.quantbridge.request.RequestData.split(request, null);
            if (split == null) return;
            n = split.evaluation().size();
        } catch (QuantbridgeException e) {
            return;
        }
        if (n > threshold) {
            progress.note("evaluation: " + n + " held-out samples, each read before calibration and run through both"
                    + " models; --eval-samples N measures fidelity on a seeded N of them");
        }
    }

    /**
     * Notes the sub-folders of {@code data} that hold samples, with their counts, when there are any; {@code other}
     * (the other data set, which may lie inside it) is left out as the run leaves it out. Says nothing when the
     * folder cannot be read: the run says why.
     */
    static void note(Path data, String label, Path other, Progress progress) {
        if (data == null || !Files.isDirectory(data)) return;
        Map<String, Integer> folders;
        int total;
        try {
            SampleSource s = SampleSource.discover(data, label, null, other);
            folders = s.subFolders();
            total = s.size();
        } catch (QuantbridgeException e) {
            return;
        }
        if (folders.isEmpty()) return;
        List<String> parts = new ArrayList<>();
        for (Map.Entry<String, Integer> e : folders.entrySet()) {
            if (parts.size() == SHOWN) {
                parts.add("... (" + (folders.size() - SHOWN) + " more)");
                break;
            }
            parts.add((e.getKey().isEmpty() ? "./" : e.getKey()) + " " + e.getValue());
        }
        progress.note(label + " " + data + ": " + total + " samples in " + folders.size() + " folder"
                + (folders.size() == 1 ? "" : "s") + " (" + String.join(", ", parts) + "); every image below it is a"
                + " sample: give the samples' own folder if some of these are masks or labels");
    }
}
