package io.quantbridge.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.Backend;
import io.quantbridge.backend.BackendSelector;
import io.quantbridge.backend.ModelSession;
import io.quantbridge.backend.Progress;
import io.quantbridge.calib.CalibrationMethod;
import io.quantbridge.calib.CalibratorSpec;
import io.quantbridge.data.Layout;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.data.SampleRef;
import io.quantbridge.data.SampleSource;
import io.quantbridge.request.QuantizationRequest;
import io.quantbridge.request.QuantizationResult;
import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.tensor.TensorInfo;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.AbstractList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A service that holds its calibration samples as tensors gives them to the request as a list, without writing files:
 * ppocr-cls (onnx backend) and BlazeFace (tflite backend) write, byte for byte, the models and TensorRT cache that the
 * same samples read from the photo folder give, with the same seeded split and the same fidelity.
 */
class TensorSamplesTest {
    @TempDir
    Path tmp;

    /** The photos as the backend reads them, in id order, one lazily loaded sample per photo; counts each load. */
    private static final class Photos extends AbstractList<Map<String, FloatTensor>> {
        final List<SampleRef> refs;
        final TensorInfo input;
        final Preprocessing pre;
        final AtomicInteger loads = new AtomicInteger();
        final Set<String> threads = ConcurrentHashMap.newKeySet();

        Photos(TensorInfo input, Preprocessing pre) {
            this.refs = SampleSource.discover(RealModels.photos()).samples();
            this.input = input;
            this.pre = pre;
        }

        @Override
        public Map<String, FloatTensor> get(int i) {
            loads.incrementAndGet();
            threads.add(Thread.currentThread().getName());
            return Map.of("pixels", SampleSource.load(refs.get(i), List.of(input), pre).get(input.name()));
        }

        @Override
        public int size() {
            return refs.size();
        }
    }

    private static TensorInfo input(Backend backend, Path model) {
        try (ModelSession s = backend.open(model)) {
            return s.inputs().get(0);
        }
    }

    @SuppressWarnings("unchecked")
    private static List<String> calibrationIds(QuantizationResult r) {
        return (List<String>) ((Map<String, Object>) r.report().get("data_split")).get("calibration");
    }

    private static void sameRun(QuantizationResult files, Path filesOut, QuantizationResult tensors, Path tensorsOut,
                                List<String> artifacts, Photos photos) throws Exception {
        for (String f : artifacts) {
            assertArrayEquals(Files.readAllBytes(filesOut.resolve(f)), Files.readAllBytes(tensorsOut.resolve(f)), f);
        }
        // the same numbers; the sample with the largest error is named by its place in the list
        String expected = String.valueOf(files.report().get("fidelity"));
        List<String> ids = photos.refs.stream().map(SampleRef::id).toList();
        for (int i = 0; i < ids.size(); i++) {
            expected = expected.replace("_sample=" + ids.get(i) + ",", String.format("_sample=samples[%02d],", i));
        }
        assertEquals(expected, String.valueOf(tensors.report().get("fidelity")));
        assertTrue(expected.contains("_sample=samples["), expected);
        List<String> fileIds = calibrationIds(files);
        List<String> tensorIds = calibrationIds(tensors);
        assertEquals(8, tensorIds.size());
        for (int i = 0; i < fileIds.size(); i++) {
            int index = ids.indexOf(fileIds.get(i));
            assertEquals(String.format("samples[%02d]", index), tensorIds.get(i));
        }
    }

    @Test
    void clsFromTensorsWritesWhatItsPhotoFolderWrites() throws Exception {
        Backend onnx = BackendSelector.fromEnvironment().find("onnx").orElseThrow();
        Path model = RealModels.model("ch_ppocr_mobile_v2.0_cls_infer.onnx");
        Preprocessing pre = Preprocessing.builder().size(192, 48).mean(0.5, 0.5, 0.5).std(0.5, 0.5, 0.5).build();
        java.util.function.Supplier<QuantizationRequest.Builder> base = () -> QuantizationRequest.builder()
                .model(model).maxSamples(8).seed(5).preprocessing(pre).calibrator(CalibratorSpec.of(CalibrationMethod.MSE));
        QuantizationResult files = onnx.quantize(base.get().calibrationData(RealModels.photos())
                .evaluationData(RealModels.photos()).outputDir(tmp.resolve("files")).build(), Progress.NONE);

        Photos photos = new Photos(input(onnx, model), pre);
        QuantizationResult tensors = onnx.quantize(base.get().calibrationSamples(photos).evaluationSamples(photos)
                .outputDir(tmp.resolve("tensors")).build(), Progress.NONE);
        sameRun(files, tmp.resolve("files"), tensors, tmp.resolve("tensors"),
                List.of("model.int8.onnx", "calibration.cache"), photos);
        assertTrue(photos.threads.size() >= 2, "loaded on " + photos.threads);

        // a sample that does not fit the model fails the run, naming the sample and the tensor
        List<Map<String, FloatTensor>> wrong = List.of(
                Map.of("x", new FloatTensor(new long[] {1, 3, 48, 192}, new float[3 * 48 * 192])),
                Map.of("x", new FloatTensor(new long[] {1, 48, 192, 3}, new float[3 * 48 * 192])));
        Path out = tmp.resolve("wrong");
        QuantbridgeException e = org.junit.jupiter.api.Assertions.assertThrows(QuantbridgeException.class,
                () -> onnx.quantize(base.get().maxSamples(0).calibrationSamples(wrong).outputDir(out).build(),
                        Progress.NONE));
        assertEquals("calibration data samples[1] tensor 'x': shape [1, 48, 192, 3] does not match model input 'x'"
                + " [-1, 3, -1, -1] (-1 = any size)", e.getMessage());
        assertTrue(!Files.exists(out.resolve("model.int8.onnx")), "no model is left behind");
    }

    @Test
    void blazefaceFromTensorsWritesWhatItsPhotoFolderWrites() throws Exception {
        Backend tflite = BackendSelector.fromEnvironment().find("tflite").orElseThrow();
        Path model = RealModels.npmModel("blazeface-tflite", "face_detection_short_range.tflite");
        Preprocessing pre = Preprocessing.builder().layout(Layout.NHWC).scale(1 / 127.5).mean(1, 1, 1).std(1, 1, 1)
                .build();
        java.util.function.Supplier<QuantizationRequest.Builder> base = () -> QuantizationRequest.builder()
                .model(model).maxSamples(8).seed(5).preprocessing(pre)
                .calibrator(CalibratorSpec.of(CalibrationMethod.PERCENTILE));
        QuantizationResult files = tflite.quantize(base.get().calibrationData(RealModels.photos())
                .evaluationData(RealModels.photos()).outputDir(tmp.resolve("files")).build(), Progress.NONE);

        TensorInfo in = input(tflite, model);
        Photos photos = new Photos(in, pre);
        QuantizationResult tensors = tflite.quantize(base.get().calibrationSamples(photos)
                .evaluationSamples(photos).outputDir(tmp.resolve("tensors")).build(), Progress.NONE);
        sameRun(files, tmp.resolve("files"), tensors, tmp.resolve("tensors"), List.of("model.int8.tflite"), photos);
    }
}
