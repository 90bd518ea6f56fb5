package io.quantbridge.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.util.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --slice} and {@code --sigmoid}: views of an output judged on their own, on the real TFLite blazeface, whose
 * regressors output holds a box (4 values) and six keypoints (12) per anchor, and whose classificators output holds a
 * score logit per anchor.
 */
class OutputViewTest {
    @TempDir
    Path tmp;

    private static Path blazeface() {
        return RealModels.npmModel("blazeface-tflite", "face_detection_short_range.tflite");
    }

    /** Quantizes blazeface to int8 on {@code samples} photos, evaluated on the rest, with the given views. */
    private static Cli quantize(Path out, int samples, String... views) {
        List<String> args = new java.util.ArrayList<>(List.of("quantize", "--backend", "tflite", "--model",
                blazeface().toString(), "--calib", RealModels.photos().toString(), "--eval",
                RealModels.photos().toString(), "--samples", Integer.toString(samples), "--seed", "1", "--scale",
                "1/127.5", "--mean", "1", "--std", "1", "--out", out.toString(), "--quiet"));
        args.addAll(List.of(views));
        Cli r = Cli.run(args);
        assertEquals(0, r.code(), r.err());
        return r;
    }

    @Test
    @SuppressWarnings("unchecked")
    void slicesOfAnOutputAreReportedBesideIt() throws Exception {
        Path model = blazeface();
        Path out = tmp.resolve("q");
        Cli r = quantize(out, 16, "--slice", "regressors:2:0:4=boxes", "--slice",
                "regressors:2:0:16");
        Map<String, Object> report = (Map<String, Object>) Json.parse(Files.readString(out.resolve("report.json")));
        Map<String, Map<String, Object>> f = (Map<String, Map<String, Object>>) report.get("fidelity");
        assertEquals(List.of("regressors", "classificators", "boxes", "regressors[0:16 on axis 2]"),
                List.copyOf(f.keySet()));
        // the whole axis as a slice is the output itself, to the last bit; the box part is judged on its own
        assertEquals(f.get("regressors").get("cosine"), f.get("regressors[0:16 on axis 2]").get("cosine"));
        assertNotEquals(f.get("regressors").get("cosine"), f.get("boxes").get("cosine"));
        assertEquals(f.get("regressors").get("samples"), f.get("boxes").get("samples"));
        assertTrue(r.out().contains("fidelity boxes: cosine="), r.out());

        // eval takes the same option; a slice beyond the axis names the option and the shape
        Cli bad = Cli.run(List.of("eval", "--model", model.toString(),
                "--candidate", out.resolve("model.int8.tflite").toString(), "--data", RealModels.photos().toString(),
                "--samples", "2", "--scale", "1/127.5", "--mean", "1", "--std", "1", "--slice",
                "regressors:2:4:17=keypoints", "--quiet"));
        assertEquals(1, bad.code(), bad.err());
        assertEquals("quantbridge eval: --slice keypoints: output 'regressors' has shape [1, 896, 16], which has no"
                + " indices 4:17 on axis 2\n", bad.err().replaceAll("(?m)^INFO: .*\n", ""));
    }

    /**
     * The face scores as probabilities: on opencv-logo.png the float model's logits reach -16888 and int8 clips them
     * near its calibrated range, which takes the logits' pooled cosine to 0.18 over the held-out photos; both are a
     * score of 0, and the probabilities' cosine is 0.94.
     */
    @Test
    @SuppressWarnings("unchecked")
    void sigmoidsJudgeLogitsAsTheProbabilitiesAnApplicationReads() throws Exception {
        Path model = blazeface();
        Path out = tmp.resolve("q");
        Cli r = quantize(out, 64, "--sigmoid", "classificators=scores", "--slice",
                "regressors:2:0:4=boxes", "--sigmoid", "boxes");
        Map<String, Object> report = (Map<String, Object>) Json.parse(Files.readString(out.resolve("report.json")));
        Map<String, Map<String, Object>> f = (Map<String, Map<String, Object>>) report.get("fidelity");
        // slices first, then sigmoids, which may take a slice
        assertEquals(List.of("regressors", "classificators", "boxes", "scores", "sigmoid(boxes)"),
                List.copyOf(f.keySet()));
        double logits = ((Number) f.get("classificators").get("cosine")).doubleValue();
        double scores = ((Number) f.get("scores").get("cosine")).doubleValue();
        // measured 0.185 and 0.942 (27 held-out photos); opencv-logo.png holds all of the logits' error
        assertTrue(logits < 0.3 && scores > 0.9, logits + " / " + scores);
        assertEquals("opencv-logo.png", f.get("classificators").get("largest_error_sample"));
        assertTrue(((Number) f.get("scores").get("max_abs")).doubleValue() <= 1.0, f.get("scores").toString());
        // a sigmoid gets a mask IoU at 0.5 of its own; the outputs, without --mask-threshold, none
        assertEquals(0.5, ((Number) f.get("scores").get("mask_threshold")).doubleValue());
        assertTrue(f.get("scores").containsKey("mask_iou"));
        assertEquals(null, f.get("classificators").get("mask_iou"));
        assertTrue(r.out().contains("fidelity scores: cosine="), r.out());

        // eval takes the same option, with --mask-threshold for every output and view; an unknown output is named
        Path cand = out.resolve("model.int8.tflite");
        Cli e = Cli.run(List.of("eval", "--model", model.toString(),
                "--candidate", cand.toString(), "--data", RealModels.photos().toString(), "--samples", "2",
                "--scale", "1/127.5", "--mean", "1", "--std", "1", "--sigmoid", "classificators=scores",
                "--mask-threshold", "0.9", "--quiet"));
        assertEquals(0, e.code(), e.err());
        assertTrue(e.out().matches("(?s).*fidelity scores: cosine=\\S+ sqnr_db=\\S+ max_abs=\\S+ mask_iou=\\S+.*"),
                e.out());
        Cli bad = Cli.run(List.of("eval", "--model", model.toString(),
                "--candidate", cand.toString(), "--data", RealModels.photos().toString(), "--samples", "2",
                "--scale", "1/127.5", "--mean", "1", "--std", "1", "--slice", "regressors:2:0:4=boxes", "--sigmoid",
                "scores", "--quiet"));
        assertEquals(1, bad.code(), bad.err());
        assertEquals("quantbridge eval: --sigmoid sigmoid(scores): the model has no output 'scores' (its outputs:"
                + " [regressors, classificators]; views given before it: [boxes])\n",
                bad.err().replaceAll("(?m)^INFO: .*\n", ""));
    }
}
