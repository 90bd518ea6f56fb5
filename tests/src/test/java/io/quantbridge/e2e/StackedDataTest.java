package io.quantbridge.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.data.ImageLoader;
import io.quantbridge.data.NpyFile;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.util.Json;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Calibration data as NumPy users hand it over: every sample stacked in one {@code .npy} ({@code numpy.stack}) and
 * an {@code .npz} keyed by input name, on the real ppocr-cls (input {@code x [-1, 3, -1, -1]}). The same 8 + 4 crops
 * given as one file per sample must calibrate and measure exactly alike.
 */
class StackedDataTest {
    @TempDir
    Path tmp;

    @Test
    @SuppressWarnings("unchecked")
    void stackedFilesCalibrateAsTheirSamplesOneByOne() throws Exception {
        Path model = RealModels.model("ch_ppocr_mobile_v2.0_cls_infer.onnx");
        Preprocessing pre = Preprocessing.builder().size(192, 48).mean(0.5, 0.5, 0.5).std(0.5, 0.5, 0.5).build();
        List<Path> photos;
        try (Stream<Path> s = Files.list(RealModels.photos())) {
            photos = s.filter(p -> p.toString().endsWith(".jpg")).sorted().limit(12).toList();
        }
        List<FloatTensor> crops = new ArrayList<>();
        for (Path p : photos) crops.add(ImageLoader.load(p, pre));
        Path calibDir = Files.createDirectories(tmp.resolve("calib"));
        Path evalDir = Files.createDirectories(tmp.resolve("eval"));
        for (int i = 0; i < 12; i++) {
            NpyFile.write((i < 8 ? calibDir : evalDir).resolve(String.format("s%02d.npy", i)), crops.get(i));
        }
        Path calibNpy = tmp.resolve("calib.npy");
        NpyFile.write(calibNpy, stack(crops.subList(0, 8)));
        Path evalNpz = tmp.resolve("eval.npz");
        try (OutputStream os = Files.newOutputStream(evalNpz); ZipOutputStream z = new ZipOutputStream(os)) {
            z.putNextEntry(new ZipEntry("x.npy")); // deflated, as numpy.savez_compressed writes it
            z.write(NpyFile.toBytes(stack(crops.subList(8, 12))));
            z.closeEntry();
        }

        Path outFiles = tmp.resolve("files");
        Path outStacked = tmp.resolve("stacked");
        Cli a = quantize(model, calibDir, evalDir, outFiles);
        Cli b = quantize(model, calibNpy, evalNpz, outStacked);
        assertEquals(0, a.code(), a.err());
        assertEquals(0, b.code(), b.err());
        assertArrayEquals(Files.readAllBytes(outFiles.resolve("calibration.cache")),
                Files.readAllBytes(outStacked.resolve("calibration.cache")));
        assertArrayEquals(Files.readAllBytes(outFiles.resolve("model.int8.onnx")),
                Files.readAllBytes(outStacked.resolve("model.int8.onnx")));
        Map<String, Object> ra = (Map<String, Object>) Json.parse(Files.readString(outFiles.resolve("report.json")));
        Map<String, Object> rb = (Map<String, Object>) Json.parse(Files.readString(outStacked.resolve("report.json")));
        // the same numbers; the sample with the largest error is named by its slice of the stacked file
        Map<String, Object> fa = (Map<String, Object>) ((Map<String, Object>) ra.get("fidelity")).values().iterator()
                .next();
        Map<String, Object> fid = (Map<String, Object>) ((Map<String, Object>) rb.get("fidelity")).values().iterator()
                .next();
        assertEquals("s11.npy", fa.remove("largest_error_sample"));
        assertEquals("eval.npz[3]", fid.remove("largest_error_sample"));
        assertEquals(fa, fid);
        assertEquals(4L, ((Number) fid.get("samples")).longValue());
        assertTrue(((Number) fid.get("cosine")).doubleValue() > 0.9, fid.toString());
        Map<String, Object> calibration = (Map<String, Object>) rb.get("calibration");
        assertEquals(8L, ((Number) calibration.get("samples")).longValue());
        String split = Json.write(rb.get("data_split"));
        assertTrue(split.contains("calib.npy[7]") && split.contains("eval.npz[3]"), split);
    }

    private static Cli quantize(Path model, Path calib, Path eval, Path out) {
        return Cli.run(List.of("quantize", "--backend", "onnx", "--model", model.toString(),
                "--calib", calib.toString(), "--eval", eval.toString(), "--calibrator", "mse", "--size", "192x48",
                "--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5", "--seed", "1", "--out", out.toString(), "--quiet"));
    }

    private static FloatTensor stack(List<FloatTensor> samples) {
        long[] one = samples.get(0).shape(); // [1, 3, 48, 192]
        long[] shape = one.clone();
        shape[0] = samples.size();
        int n = samples.get(0).data().length;
        float[] data = new float[n * samples.size()];
        for (int i = 0; i < samples.size(); i++) System.arraycopy(samples.get(i).data(), 0, data, i * n, n);
        return new FloatTensor(shape, data);
    }
}
