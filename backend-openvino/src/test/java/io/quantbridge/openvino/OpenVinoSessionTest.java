package io.quantbridge.openvino;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.tensor.TensorInfo;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The real OpenVINO runtime on the real PaddleOCR detector at 320x320. */
class OpenVinoSessionTest {
    static OpenVinoSession dynamic;
    @TempDir
    static Path tmp;

    @BeforeAll
    static void open() {
        dynamic = OpenVinoSession.open(OpenVinoTesting.detector());
    }

    @AfterAll
    static void close() {
        if (dynamic != null) dynamic.close();
    }

    @Test
    void readsTheOnnxModelWithItsDynamicShapesAndRunsARealPhoto() {
        assertEquals(List.of(new TensorInfo("x", "float", new long[] {-1, 3, -1, -1})), dynamic.inputs());
        assertEquals(List.of(new TensorInfo("sigmoid_0.tmp_0", "float", new long[] {-1, 1, -1, -1})),
                dynamic.outputs());
        assertEquals("f32", dynamic.property(OpenVinoSession.INFERENCE_PRECISION));
        Map<String, FloatTensor> out = dynamic.run(OpenVinoTesting.photo("imageTextN.png"));
        FloatTensor prob = out.get("sigmoid_0.tmp_0");
        assertArrayEquals(new long[] {1, 1, 320, 320}, prob.shape());
        int text = 0;
        for (float v : prob.data()) {
            assertTrue(v >= 0 && v <= 1, "a probability: " + v);
            if (v > 0.3f) text++;
        }
        assertTrue(text > 500, "the photo has text: " + text + " pixels above 0.3");
    }

    @Test
    void aStaticShapeIsCompiledInAndTheExportedModelGivesTheSameResults() throws Exception {
        Map<String, FloatTensor> feed = OpenVinoTesting.photo("imageTextR.png");
        Path blob = tmp.resolve("det.blob");
        float[] compiled;
        try (OpenVinoSession s = OpenVinoSession.open(OpenVinoTesting.detector(),
                OpenVinoSession.Options.defaults().withInputShape(1, 3, 320, 320))) {
            assertEquals(List.of(new TensorInfo("x", "float", new long[] {1, 3, 320, 320})), s.inputs());
            compiled = s.run(feed).get("sigmoid_0.tmp_0").data();
            s.export(blob);
        }
        assertTrue(Files.size(blob) > 1_000_000, "the blob holds the weights");
        try (OpenVinoSession s = (OpenVinoSession) new OpenVinoBackend().open(blob)) {
            assertEquals(List.of(new TensorInfo("x", "float", new long[] {1, 3, 320, 320})), s.inputs());
            assertEquals("sigmoid_0.tmp_0", s.outputs().get(0).name());
            assertArrayEquals(compiled, s.run(feed).get("sigmoid_0.tmp_0").data(), 1e-6f);
            assertTrue(s.runtimeModel().get("inputs").toString().contains("[1, 3, 320, 320]"));
        }
        // the same from memory
        try (OpenVinoSession s = OpenVinoSession.compile(Files.readAllBytes(OpenVinoTesting.detector()), "det",
                OpenVinoSession.Options.defaults().withInputShape(1, 3, 320, 320))) {
            assertArrayEquals(compiled, s.run(feed).get("sigmoid_0.tmp_0").data(), 1e-6f);
        }
    }

    @Test
    void twoThreadsRunAtOnceAndGetWhatOneThreadGets() throws Exception {
        List<Map<String, FloatTensor>> feeds = List.of(OpenVinoTesting.photo("imageTextN.png"),
                OpenVinoTesting.photo("imageTextR.png"), OpenVinoTesting.photo("box.png"));
        List<float[]> expected = new ArrayList<>();
        for (Map<String, FloatTensor> f : feeds) expected.add(dynamic.run(f).get("sigmoid_0.tmp_0").data());
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            List<Future<Integer>> futures = new ArrayList<>();
            for (int t = 0; t < 2; t++) {
                int offset = t;
                Callable<Integer> job = () -> {
                    for (int i = 0; i < 6; i++) {
                        int k = (i + offset) % feeds.size();
                        float[] got = dynamic.run(feeds.get(k)).get("sigmoid_0.tmp_0").data();
                        assertArrayEquals(expected.get(k), got, 1e-6f, "thread " + offset + " run " + i);
                    }
                    return 6;
                };
                futures.add(pool.submit(job));
            }
            for (Future<Integer> f : futures) assertEquals(6, f.get());
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void profilingListsTheRuntimeLayersWithTheirKernels() {
        try (OpenVinoSession s = OpenVinoSession.open(OpenVinoTesting.detector(),
                OpenVinoSession.Options.defaults().withInputShape(1, 3, 320, 320).withProfiling(true))) {
            List<OpenVinoSession.Layer> layers = s.profile(null);
            Map<String, Object> summary = OpenVinoInspector.summary(layers);
            assertTrue(((Number) summary.get("compute_layers")).intValue() >= 60, summary.toString());
            assertEquals(0, summary.get("int8_compute_layers"), "a float model runs no int8 convolution");
            assertTrue(layers.stream().anyMatch(l -> l.type().equals("Convolution") && l.precision().equals("F32")),
                    layers.toString());
        }
    }

    @Test
    void layerPrecisionComesFromTheKernelName() {
        assertEquals("I8", new OpenVinoSession.Layer("c", "Convolution", "brgconv_avx512_amx_1x1_i8", 2, 1).precision());
        assertTrue(new OpenVinoSession.Layer("c", "Convolution", "jit_avx512_amx_I8", 2, 1).int8());
        assertEquals("F32", new OpenVinoSession.Layer("s", "Subgraph", "jit_avx512_f32", 2, 1).precision());
        assertEquals("", new OpenVinoSession.Layer("p", "Parameter", "unknown", 2, 0).precision());
        assertTrue(!new OpenVinoSession.Layer("p", "Parameter", "undef", 1, 0).executed());
    }
}
