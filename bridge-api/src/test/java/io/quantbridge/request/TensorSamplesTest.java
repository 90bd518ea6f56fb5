package io.quantbridge.request;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.data.DataFingerprint;
import io.quantbridge.data.DataSplit;
import io.quantbridge.data.NpyFile;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.data.SampleRef;
import io.quantbridge.data.SampleSource;
import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.tensor.TensorInfo;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Calibration and evaluation samples given as tensors rather than files ({@code calibrationSamples}). */
class TensorSamplesTest {
    private static final TensorInfo IMAGE = new TensorInfo("images", "float32", new long[] {1, 3, 2, 2});
    private static final TensorInfo SCALE = new TensorInfo("scale", "float32", new long[] {1});

    @TempDir
    Path dir;

    private static FloatTensor image(int seed) {
        float[] d = new float[12];
        for (int i = 0; i < d.length; i++) d[i] = seed + i / 16f;
        return new FloatTensor(new long[] {1, 3, 2, 2}, d);
    }

    private static List<Map<String, FloatTensor>> images(int n) {
        return IntStream.range(0, n).mapToObj(i -> Map.of("images", image(i))).toList();
    }

    private static QuantizationRequest.Builder request() {
        return QuantizationRequest.builder().model(Path.of("m.onnx")).outputDir(Path.of("out"));
    }

    @Test
    void theSameListIsSplitAsOneFolderIsAndIdsKeepListOrder() throws Exception {
        List<Map<String, FloatTensor>> samples = images(12);
        DataSplit s = RequestData.split(request().calibrationSamples(samples).evaluationSamples(samples)
                .maxSamples(8).seed(3).build(), List.of(IMAGE));
        assertEquals(8, s.calibration().size());
        assertEquals(4, s.evaluation().size());
        Set<String> all = new HashSet<>();
        s.calibration().forEach(r -> all.add(r.id()));
        s.evaluation().forEach(r -> all.add(r.id()));
        assertEquals(12, all.size());
        assertTrue(all.contains("samples[00]") && all.contains("samples[11]"), all.toString());
        assertEquals("split", s.toMap().get("evaluation_source"));

        // the same 12 samples as files 00.npy .. 11.npy: the same seeded choice, sample for sample
        Path folder = Files.createDirectories(dir.resolve("npy"));
        for (int i = 0; i < 12; i++) {
            NpyFile.write(folder.resolve(String.format("%02d.npy", i)), image(i));
        }
        DataSplit f = RequestData.split(request().calibrationData(folder).evaluationData(folder).maxSamples(8)
                .seed(3).build(), List.of(IMAGE));
        assertEquals(f.calibration().stream().map(r -> "samples[" + r.id().substring(0, 2) + "]").toList(),
                s.calibration().stream().map(SampleRef::id).toList());
        for (int i = 0; i < 8; i++) {
            assertArrayEquals(SampleSource.load(f.calibration().get(i), List.of(IMAGE), Preprocessing.defaults())
                            .get("images").data(),
                    SampleSource.load(s.calibration().get(i), List.of(IMAGE), Preprocessing.defaults())
                            .get("images").data());
        }
        // and the same fingerprint for the same tensors, whether the list was held or rebuilt
        assertEquals(DataFingerprint.of(s.calibration(), null), DataFingerprint.of(RequestData.split(
                request().calibrationSamples(images(12)).evaluationSamples(images(12)).maxSamples(8).seed(3)
                        .build(), List.of(IMAGE)).calibration(), null));
    }

    @Test
    void separateListsAndFilesMixAndAllCalibratingIsRefused() throws Exception {
        List<Map<String, FloatTensor>> calib = images(5);
        DataSplit s = RequestData.split(request().calibrationSamples(calib).evaluationSamples(images(3)).build(),
                List.of(IMAGE));
        assertEquals(5, s.calibration().size());
        assertEquals(3, s.evaluation().size());
        assertEquals("separate", s.toMap().get("evaluation_source"));

        Path folder = Files.createDirectories(dir.resolve("eval"));
        NpyFile.write(folder.resolve("a.npy"), image(7));
        DataSplit mixed = RequestData.split(request().calibrationSamples(calib).evaluationData(folder).maxSamples(2)
                .build(), List.of(IMAGE));
        assertEquals(2, mixed.calibration().size());
        assertEquals(List.of("a.npy"), mixed.evaluation().stream().map(SampleRef::id).toList());

        DataSplit evalOnly = RequestData.split(request().precision(Precision.FP16).evaluationSamples(calib).build(),
                List.of(IMAGE));
        assertEquals(0, evalOnly.calibration().size());
        assertEquals(5, evalOnly.evaluation().size());
        assertNull(RequestData.split(request().precision(Precision.FP16).build(), List.of(IMAGE)));

        assertEquals("the evaluation samples are the calibration list but all its 5 samples are used for "
                + "calibration: lower --samples to hold some out", assertThrows(QuantbridgeException.class,
                        () -> RequestData.split(request().calibrationSamples(calib).evaluationSamples(calib).build(),
                                List.of(IMAGE))).getMessage());
        assertEquals("calibration data: the list of samples is empty", assertThrows(QuantbridgeException.class,
                () -> RequestData.split(request().calibrationSamples(List.of()).build(), List.of(IMAGE)))
                .getMessage());
        assertEquals("calibration data is given twice, as files (photos) and as tensors: give one",
                assertThrows(QuantbridgeException.class, () -> request().calibrationData(Path.of("photos"))
                        .calibrationSamples(calib).build()).getMessage());
        assertEquals("evaluation data is given twice, as files (held) and as tensors: give one",
                assertThrows(QuantbridgeException.class, () -> request().calibrationSamples(calib)
                        .evaluationData(Path.of("held")).evaluationSamples(calib).build()).getMessage());
        assertEquals("--calib is required for int8 (or reuse a table with --table)",
                assertThrows(QuantbridgeException.class, () -> request().evaluationSamples(calib).build())
                        .getMessage());
        QuantizationRequest r = request().calibrationSamples(calib).layerErrors(4).evaluationSamples(calib)
                .build().toBuilder().build();
        assertSame(calib, r.calibrationSamples().orElseThrow());
        assertSame(calib, r.evaluationSamples().orElseThrow());
    }

    @Test
    void tensorsAreFedByNameShapedAndCheckedAsNpzArraysAre() {
        List<SampleRef> refs = SampleSource.ofTensors(List.of(
                Map.of("other", new FloatTensor(new long[] {3, 2, 2}, image(0).data())),
                Map.of("images", image(1))), SampleSource.CALIBRATION);
        // a single-input model takes the only tensor whatever its name, and gets the batch of 1 it lacks
        FloatTensor first = SampleSource.load(refs.get(0), List.of(IMAGE), Preprocessing.defaults()).get("images");
        assertArrayEquals(new long[] {1, 3, 2, 2}, first.shape());
        assertArrayEquals(image(0).data(), first.data());
        assertEquals("samples[1]", refs.get(1).where());

        Map<String, FloatTensor> two = new LinkedHashMap<>();
        two.put("images", image(2));
        List<SampleRef> twoInputs = SampleSource.ofTensors(List.of(two), SampleSource.EVALUATION);
        assertEquals("evaluation data samples[0]: no tensor 'scale' for model input 'scale' (the tensors are images;"
                + " key each sample's map by the model's input names)", assertThrows(QuantbridgeException.class,
                        () -> SampleSource.load(twoInputs.get(0), List.of(IMAGE, SCALE), Preprocessing.defaults()))
                .getMessage());

        float[] bad = image(3).data().clone();
        bad[5] = Float.NaN;
        List<Map<String, FloatTensor>> list = new ArrayList<>();
        list.add(Map.of("images", new FloatTensor(new long[] {1, 3, 2, 2}, bad)));
        list.add(Map.of("images", new FloatTensor(new long[] {1, 2, 2, 3}, image(4).data())));
        list.add(null);
        Map<String, FloatTensor> nullTensor = new java.util.HashMap<>();
        nullTensor.put("images", null);
        list.add(nullTensor);
        List<SampleRef> bads = SampleSource.ofTensors(list, SampleSource.CALIBRATION);
        assertEquals(List.of(
                "calibration data samples[0] tensor 'images': NaN at element 5 (index [0, 1, 0, 1])",
                "calibration data samples[1] tensor 'images': shape [1, 2, 2, 3] does not match model input 'images'"
                        + " [1, 3, 2, 2]",
                "calibration data samples[2]: the sample is null; give a tensor per model input name",
                "calibration data samples[3] tensor 'images': the tensor is null"),
                bads.stream().map(b -> assertThrows(QuantbridgeException.class,
                        () -> SampleSource.load(b, List.of(IMAGE), Preprocessing.defaults())).getMessage()).toList());
        assertTrue(Float.isNaN(list.get(0).get("images").data()[5]));
    }

    @Test
    void theFingerprintFollowsTheValuesNotTheMapOrder() {
        Map<String, FloatTensor> ab = new LinkedHashMap<>();
        ab.put("images", image(1));
        ab.put("scale", new FloatTensor(new long[] {1}, new float[] {2f}));
        Map<String, FloatTensor> ba = new LinkedHashMap<>();
        ba.put("scale", new FloatTensor(new long[] {1}, new float[] {2f}));
        ba.put("images", image(1));
        String h = DataFingerprint.of(SampleSource.ofTensors(List.of(ab), SampleSource.CALIBRATION), null);
        assertEquals(h, DataFingerprint.of(SampleSource.ofTensors(List.of(ba), SampleSource.CALIBRATION), null));
        Map<String, FloatTensor> changed = new LinkedHashMap<>(ab);
        changed.put("scale", new FloatTensor(new long[] {1}, new float[] {Math.nextUp(2f)}));
        assertNotEquals(h, DataFingerprint.of(SampleSource.ofTensors(List.of(changed), SampleSource.CALIBRATION),
                null));
        Map<String, FloatTensor> reshaped = new LinkedHashMap<>(ab);
        reshaped.put("images", new FloatTensor(new long[] {1, 3, 4}, image(1).data()));
        assertNotEquals(h, DataFingerprint.of(SampleSource.ofTensors(List.of(reshaped), SampleSource.CALIBRATION),
                null));
    }
}
