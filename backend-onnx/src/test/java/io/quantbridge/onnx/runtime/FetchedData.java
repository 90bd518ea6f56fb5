package io.quantbridge.onnx.runtime;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.quantbridge.data.Preprocessing;
import io.quantbridge.data.SampleRef;
import io.quantbridge.data.SampleSource;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.QdqOptions;
import io.quantbridge.onnx.QdqPlan;
import io.quantbridge.onnx.QdqQuantizer;
import io.quantbridge.tensor.FloatTensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** The real models and photos that {@code scripts/fetch-models.sh} puts under {@code .cache/}, for tests. */
public final class FetchedData {
    private FetchedData() { }

    /** {@code .cache/<relative>} in the repository; the test is skipped when it has not been fetched. */
    public static Path cache(String relative) {
        Path dir = Path.of("").toAbsolutePath();
        for (int i = 0; i < 4 && dir != null; i++, dir = dir.getParent()) {
            Path p = dir.resolve(".cache").resolve(relative);
            if (Files.exists(p)) return p;
        }
        assumeTrue(false, relative + " is not fetched (scripts/fetch-models.sh)");
        return null;
    }

    /** The default Q/DQ placement on the fetched ppocr-det. */
    public static QdqPlan detPlan() {
        OnnxModel model = OnnxModel.load(cache("models/ppocr/ch_PP-OCRv4_det_infer.onnx"));
        return QdqQuantizer.plan(model, QdqOptions.defaults());
    }

    /**
     * The first {@code count} calibration photos of the fetched opencv set, resized to {@code size} x {@code size}
     * with ImageNet normalization, as feeds of {@code plan}'s model.
     */
    public static List<Map<String, FloatTensor>> detFeeds(QdqPlan plan, int size, int count) {
        List<SampleRef> photos = SampleSource.discover(cache("data/opencv"), SampleSource.CALIBRATION).samples();
        Preprocessing pre = Preprocessing.builder().size(size, size).mean(0.485, 0.456, 0.406)
                .std(0.229, 0.224, 0.225).build();
        List<Map<String, FloatTensor>> feeds = new ArrayList<>();
        for (SampleRef s : photos.subList(0, count)) feeds.add(SampleSource.load(s, plan.preparedModel().inputs(), pre));
        return feeds;
    }
}
