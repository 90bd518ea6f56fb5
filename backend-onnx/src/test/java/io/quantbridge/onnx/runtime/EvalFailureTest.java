package io.quantbridge.onnx.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.ModelSession;
import io.quantbridge.backend.Progress;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.data.SampleRef;
import io.quantbridge.data.SampleSource;
import io.quantbridge.eval.FidelityEvaluation;
import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.tensor.TensorInfo;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A sample that fails on one eval worker while the other is inside a run: eval used to return at once, the caller
 * closed both sessions under the running worker, and the JVM died in libonnxruntime (skimage's {@code truncated.jpg}
 * among the photos). Real ONNX Runtime sessions of ppocr-cls; the reference is slowed to a large model's pace, so the
 * worker on the first photo is inside a run when the other fails on the second.
 */
class EvalFailureTest {

    /** The reference session, counting the runs started and those still in flight. */
    private static final class Watched implements ModelSession {
        final ModelSession session;
        final AtomicInteger started = new AtomicInteger();
        final AtomicInteger inFlight = new AtomicInteger();

        Watched(ModelSession session) {
            this.session = session;
        }

        @Override public List<TensorInfo> inputs() { return session.inputs(); }
        @Override public List<TensorInfo> outputs() { return session.outputs(); }

        @Override
        public Map<String, FloatTensor> run(Map<String, FloatTensor> inputs) {
            started.incrementAndGet();
            inFlight.incrementAndGet();
            try {
                Thread.sleep(400);
                return session.run(inputs);
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            } finally {
                inFlight.decrementAndGet();
            }
        }

        @Override public void close() { session.close(); }
    }

    @Test
    void aBrokenPhotoStopsEvalOnlyOnceNoRunIsInFlight(@TempDir Path tmp) throws Exception {
        Path cls = FetchedData.cache("models/ppocr/ch_ppocr_mobile_v2.0_cls_infer.onnx");
        Path photos = FetchedData.cache("data/opencv");
        List<Path> jpegs;
        try (var l = Files.list(photos)) {
            jpegs = l.filter(p -> p.toString().endsWith(".jpg")).sorted().limit(7).toList();
        }
        // one worker takes the first photo and runs it; the other takes the broken second one and fails
        Files.copy(jpegs.get(0), tmp.resolve("0-first.jpg"));
        byte[] whole = Files.readAllBytes(jpegs.get(1));
        Files.write(tmp.resolve("1-truncated.jpg"), Arrays.copyOf(whole, whole.length / 3));
        for (Path p : jpegs.subList(2, jpegs.size())) Files.copy(p, tmp.resolve(p.getFileName()));
        List<SampleRef> samples = SampleSource.discover(tmp, SampleSource.EVALUATION).samples();
        assertEquals(7, samples.size());
        assertEquals("1-truncated.jpg", samples.get(1).id());
        Preprocessing pre = Preprocessing.builder().size(192, 48).build();

        try (Watched reference = new Watched(OrtModelSession.open(cls, 1));
             OrtModelSession candidate = OrtModelSession.open(cls, 1)) {
            QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> FidelityEvaluation.run(
                    reference, candidate, samples, pre, FidelityEvaluation.Metrics.BASIC, 2, Progress.NONE));
            assertTrue(e.getMessage().contains("1-truncated.jpg: the image is damaged"), e.getMessage());
            assertEquals(0, reference.inFlight.get(), "eval failed while the other worker was still running");
            // the other worker finished the first photo and took no further one
            assertEquals(1, reference.started.get());
            // the sessions are closed after the run, and they work until then
            assertEquals(1, candidate.run(SampleSource.load(samples.get(0), candidate.inputs(), pre)).size());
        }
    }
}
