package io.quantbridge.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.quantbridge.openvino.OpenVinoBackend;
import io.quantbridge.util.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The command line through the openvino backend on the real detector (320x320, 6 calibration photos, 3 held out):
 * quantize writes the OpenVINO compiled model and measures fidelity in OpenVINO; bench and inspect run it.
 */
class QuantizeOpenVinoEndToEndTest {
    @TempDir
    Path tmp;

    @Test
    void quantizeBenchAndInspectThroughOpenVino() throws Exception {
        assumeTrue(OpenVinoBackend.findLibrary().isPresent(), "OpenVINO not fetched: run scripts/fetch-openvino.sh");
        Path model = RealModels.model("ch_PP-OCRv4_det_infer.onnx");
        Path calib = Files.createDirectories(tmp.resolve("calib"));
        Path eval = Files.createDirectories(tmp.resolve("eval"));
        for (String f : List.of("imageTextR.png", "box.png", "baboon.jpg", "fruits.jpg", "notes.png", "graf1.png")) {
            Files.copy(RealModels.photos().resolve(f), calib.resolve(f));
        }
        for (String f : List.of("imageTextN.png", "text_defocus.jpg", "building.jpg")) {
            Files.copy(RealModels.photos().resolve(f), eval.resolve(f));
        }
        Cli backends = Cli.run("backends");
        assertTrue(backends.out().lines().anyMatch(l -> l.matches("openvino +200 +usable +OpenVINO .*")),
                backends.out());

        Path out = tmp.resolve("out");
        Cli q = Cli.run("quantize", "--backend", "openvino", "--model", model.toString(), "--calib", calib.toString(),
                "--eval", eval.toString(), "--calibrator", "mse", "--precision", "int8", "--size", "320x320",
                "--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225", "--mask-threshold", "0.3", "--quiet",
                "--out", out.toString());
        assertEquals(0, q.code(), q.err());
        assertTrue(q.out().contains("openvino compiled model " + out.resolve("model.int8.blob")), q.out());
        Map<String, Object> rep = Json.parseObject(Files.readString(out.resolve("report.json")));
        assertEquals("openvino", rep.get("backend"));
        assertEquals("--backend", rep.get("backend_selected_by"));
        Map<?, ?> fid = (Map<?, ?>) ((Map<?, ?>) rep.get("fidelity")).get("sigmoid_0.tmp_0");
        assertEquals(3L, ((Number) fid.get("samples")).longValue());
        assertTrue(((Number) fid.get("cosine")).doubleValue() > 0.75, fid.toString());
        assertTrue(Files.size(out.resolve("model.int8.blob.json")) > 0);

        Path blob = out.resolve("model.int8.blob");
        Cli b = Cli.run("bench", "--backend", "openvino", "--model", model.toString(), "--model", blob.toString(),
                "--size", "320x320", "--iterations", "3", "--warmup", "1");
        assertEquals(0, b.code(), b.err());
        assertTrue(b.out().lines().anyMatch(l -> l.contains("model.int8.blob")), b.out());

        Cli i = Cli.run("inspect", "--backend", "openvino", blob.toString());
        assertEquals(0, i.code(), i.err());
        // every one, but the two ConvTranspose layers on an x86 CPU without VNNI (uint8 activations there)
        java.util.regex.Matcher layers = java.util.regex.Pattern.compile("convolution/matmul layers in int8: (\\d+) of"
                + " (\\d+)\\n").matcher(i.out());
        assertTrue(layers.find(), i.out());
        int int8 = Integer.parseInt(layers.group(1));
        int compute = Integer.parseInt(layers.group(2));
        Map<?, ?> ov = (Map<?, ?>) rep.get("openvino");
        assertEquals(ov.get("no_vnni_layout") == null ? compute : compute - 2, int8, i.out());
    }
}
