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
 * {@code --slice}: parts of an output judged on their own, on the real TFLite blazeface, whose regressors output
 * holds a box (4 values) and six keypoints (12) per anchor.
 */
class OutputSliceTest {
    @TempDir
    Path tmp;

    @Test
    @SuppressWarnings("unchecked")
    void slicesOfAnOutputAreReportedBesideIt() throws Exception {
        Path model = RealModels.npmModel("blazeface-tflite", "face_detection_short_range.tflite");
        Path out = tmp.resolve("q");
        QuantizeOnnxEndToEndTest.Run r = QuantizeOnnxEndToEndTest.cli(List.of("quantize", "--backend", "tflite",
                "--model", model.toString(), "--calib", RealModels.photos().toString(), "--eval",
                RealModels.photos().toString(), "--samples", "16", "--seed", "1", "--scale", "1/127.5", "--mean", "1",
                "--std", "1", "--slice", "regressors:2:0:4=boxes", "--slice", "regressors:2:0:16", "--out",
                out.toString(), "--quiet"));
        assertEquals(0, r.code(), r.err());
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
        QuantizeOnnxEndToEndTest.Run bad = QuantizeOnnxEndToEndTest.cli(List.of("eval", "--model", model.toString(),
                "--candidate", out.resolve("model.int8.tflite").toString(), "--data", RealModels.photos().toString(),
                "--samples", "2", "--scale", "1/127.5", "--mean", "1", "--std", "1", "--slice",
                "regressors:2:4:17=keypoints", "--quiet"));
        assertEquals(1, bad.code(), bad.err());
        assertEquals("quantbridge eval: --slice keypoints: output 'regressors' has shape [1, 896, 16], which has no"
                + " indices 4:17 on axis 2\n", bad.err().replaceAll("(?m)^INFO: .*\n", ""));
    }
}
