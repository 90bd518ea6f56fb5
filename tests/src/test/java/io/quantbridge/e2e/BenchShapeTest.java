package io.quantbridge.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.quantbridge.util.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bench --shape} gives made-up inputs the dimensions {@code --size} cannot: openWakeWord's melspectrogram model
 * takes audio samples [-1, -1], and bench could only be told {@code --size WxH}, which does nothing for it.
 */
class BenchShapeTest {
    @TempDir
    Path tmp;

    @Test
    void audioInputsTakeTheirShapeFromTheCommandLine() throws Exception {
        Path mel = RealModels.npmModel("wakeword-embed", "melspectrogram.onnx");
        String m = mel.toString();
        Cli none = Cli.run("bench", "--backend", "onnx", "--model", m, "--iterations", "1");
        assertEquals("quantbridge bench: input 'input' has dynamic shape [-1, -1]: give --shape input=DIMS or --data",
                none.err().strip());

        Path json = tmp.resolve("bench.json");
        Cli ok = Cli.run("bench", "--backend", "onnx", "--model", m, "--shape", "input=1x1280", "--iterations", "2",
                "--warmup", "1", "--out", json.toString());
        assertEquals(0, ok.code(), ok.err());
        Map<?, ?> row = (Map<?, ?>) ((List<?>) Json.parseObject(Files.readString(json)).get("results")).get(0);
        assertEquals(Map.of("input", List.of(1L, 1280L)), row.get("input_shapes"));

        String[][] wrong = {
            {"input=1280", "--shape input=1280: melspectrogram.onnx's input 'input' is [-1, -1], of rank 2"},
            {"audio=1x1280", "--shape audio=1x1280: melspectrogram.onnx has no input 'audio' (its inputs: input)"},
            {"input=1x0", "--shape input=1x0: give INPUT=DIMS, the dimensions positive integers joined by x"
                    + " (input=1x576; a scalar takes no --shape)"},
            {"input", "--shape input: give INPUT=DIMS, the dimensions positive integers joined by x (input=1x576; a"
                    + " scalar takes no --shape)"},
        };
        for (String[] w : wrong) {
            Cli r = Cli.run("bench", "--backend", "onnx", "--model", m, "--shape", w[0], "--iterations", "1");
            assertEquals(1, r.code(), w[0]);
            assertEquals("quantbridge bench: " + w[1], r.err().strip());
        }
        Cli twice = Cli.run("bench", "--backend", "onnx", "--model", m, "--shape", "input=1x1280", "--shape",
                "input=1x640");
        assertEquals("quantbridge bench: --shape: input 'input' is given twice", twice.err().strip());
        Path npy = tmp.resolve("x.npy");
        Cli both = Cli.run("bench", "--backend", "onnx", "--model", m, "--shape", "input=1x1280", "--data",
                npy.toString());
        assertEquals("quantbridge bench: --shape gives the shape of made-up input values, and --data gives the input"
                + " itself: use one of them", both.err().strip());
    }

    /** A fixed dimension must stay what the model says: the detector takes 3 channels. */
    @Test
    void aFixedDimensionIsKept() {
        Path det = RealModels.model("ch_PP-OCRv4_det_infer.onnx");
        Cli r = Cli.run("bench", "--backend", "onnx", "--model", det.toString(), "--shape", "x=1x4x64x64");
        assertEquals("quantbridge bench: --shape x=1x4x64x64: ch_PP-OCRv4_det_infer.onnx's input 'x' is [-1, 3, -1,"
                + " -1], whose dimension 1 is 3", r.err().strip());
        Cli four = Cli.run("bench", "--backend", "onnx", "--model", det.toString(), "--iterations", "1");
        assertEquals("quantbridge bench: input 'x' has dynamic shape [-1, 3, -1, -1]: give --size WxH, --shape x=DIMS"
                + " or --data", four.err().strip());
        Cli ok = Cli.run("bench", "--backend", "onnx", "--model", det.toString(), "--shape", "x=1x3x64x96",
                "--iterations", "1", "--warmup", "0");
        assertEquals(0, ok.code(), ok.err());
    }
}
