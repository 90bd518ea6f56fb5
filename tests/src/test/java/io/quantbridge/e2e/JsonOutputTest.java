package io.quantbridge.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.data.NpyFile;
import io.quantbridge.tensor.FloatTensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The JSON {@code --out FILE} of eval and bench on the real classifier: a folder is refused before any model runs
 * (it failed after the evaluation, naming a temporary file), and so is one of the command's own inputs (eval wrote
 * its JSON over the candidate model).
 */
class JsonOutputTest {
    @TempDir
    Path tmp;

    @Test
    void evalAndBenchRefuseAFolderOrTheirOwnInputsAsOut() throws Exception {
        Path model = RealModels.model("ch_ppocr_mobile_v2.0_cls_infer.onnx");
        Path candidate = tmp.resolve("candidate.onnx");
        Files.copy(model, candidate);
        byte[] bytes = Files.readAllBytes(candidate);
        Path data = Files.createDirectories(tmp.resolve("data"));
        NpyFile.write(data.resolve("a.npy"), new FloatTensor(new long[] {1, 3, 48, 192}, new float[3 * 48 * 192]));
        Path folder = Files.createDirectories(tmp.resolve("out"));
        List<String> eval = List.of("eval", "--backend", "onnx", "--model", model.toString(), "--candidate",
                candidate.toString(), "--data", data.toString(), "--quiet", "--out");

        Cli r = Cli.run(with(eval, folder.toString()));
        assertEquals(1, r.code(), r.err());
        assertEquals("quantbridge eval: --out " + folder + " is a folder; this command writes one JSON file: give its "
                + "name, e.g. " + folder.resolve("eval.json") + "\n", r.err());
        r = Cli.run(with(eval, candidate.toString()));
        assertEquals(1, r.code(), r.err());
        assertEquals("quantbridge eval: --out " + candidate + " is the --candidate file, which the JSON result would "
                + "replace; give another file\n", r.err());
        assertArrayEquals(bytes, Files.readAllBytes(candidate));

        r = Cli.run(with(eval, folder.resolve("eval.json").toString()));
        assertEquals(0, r.code(), r.err());
        String json = Files.readString(folder.resolve("eval.json"));
        assertTrue(json.contains("\n  \"samples\": 1,\n"), json);

        List<String> bench = List.of("bench", "--backend", "onnx", "--model", model.toString(), "--model",
                candidate.toString(), "--data", data.toString(), "--iterations", "1", "--warmup", "0", "--out");
        r = Cli.run(with(bench, folder.toString()));
        assertEquals(1, r.code(), r.err());
        assertEquals("quantbridge bench: --out " + folder + " is a folder; this command writes one JSON file: give "
                + "its name, e.g. " + folder.resolve("bench.json") + "\n", r.err());
        r = Cli.run(with(bench, candidate.toString()));
        assertEquals(1, r.code(), r.err());
        assertEquals("quantbridge bench: --out " + candidate + " is the --model " + candidate + " file, which the "
                + "JSON result would replace; give another file\n", r.err());
        assertArrayEquals(bytes, Files.readAllBytes(candidate));
        assertEquals("", r.out(), "no model ran");
    }

    private static List<String> with(List<String> args, String last) {
        List<String> l = new java.util.ArrayList<>(args);
        l.add(last);
        return l;
    }
}
