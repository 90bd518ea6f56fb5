package io.quantbridge.openvino;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.tensor.FloatTensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every way to misuse the bridge ends in a Java exception with OpenVINO's message, never in a crashed JVM: missing
 * files, corrupt models and blobs, wrong shapes (refused in Java, and again by OpenVINO when Java is bypassed),
 * bad buffers and handles, and use after close.
 */
class OpenVinoErrorsTest {
    @TempDir
    static Path tmp;
    static Path det;
    static OpenVinoSession session;

    @BeforeAll
    static void open() {
        det = OpenVinoTesting.detector();
        session = OpenVinoSession.open(det);
    }

    @AfterAll
    static void close() {
        if (session != null) session.close();
    }

    @Test
    void aMissingFileIsNamed() {
        Path missing = tmp.resolve("missing.onnx");
        QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> OpenVinoSession.open(missing));
        assertEquals("model " + missing + " does not exist", e.getMessage());
        // and OpenVINO itself says so when Java's check is bypassed
        OpenVinoException o = assertThrows(OpenVinoException.class,
                () -> OvNative.readModel(OpenVinoRuntime.get().core, missing.toString()));
        assertEquals("ov_core_read_model", o.call());
        assertEquals(-1, o.status());
        assertEquals("ov_core_read_model failed (GENERAL_ERROR): FrontEnd API failed with GeneralFailure: onnx: "
                + "Could not open the file: \"" + missing + "\"", o.getMessage());
    }

    @Test
    void garbageBytesInAnOnnxFileAreRefusedWithOpenVinosMessage() throws Exception {
        Path bad = tmp.resolve("garbage.onnx");
        byte[] junk = new byte[4096];
        new Random(7).nextBytes(junk);
        Files.write(bad, junk);
        OpenVinoException e = assertThrows(OpenVinoException.class, () -> OpenVinoSession.open(bad));
        assertEquals("openvino: cannot read model " + bad + ": ov_core_read_model failed (GENERAL_ERROR): Unable to "
                + "read the model: \"" + bad + "\" Please check that model format: \".onnx\" is supported and the "
                + "model is correct. Available frontends: jax paddle onnx pytorch tflite ir tf", e.getMessage());
        assertEquals("ov_core_read_model", e.call());
        OpenVinoException m = assertThrows(OpenVinoException.class,
                () -> OpenVinoSession.compile(junk, "junk", OpenVinoSession.Options.defaults()));
        assertTrue(m.getMessage().startsWith("openvino: cannot read model junk: ov_core_read_model_from_memory_buffer "
                + "failed (GENERAL_ERROR): "), m.getMessage());
    }

    @Test
    void corruptCompiledModelsAreRefusedWithOpenVinosMessage() throws Exception {
        Path blob = tmp.resolve("good.blob");
        try (OpenVinoSession s = OpenVinoSession.open(det, OpenVinoSession.Options.defaults()
                .withInputShape(1, 3, 64, 64))) {
            s.export(blob);
        }
        byte[] good = Files.readAllBytes(blob);
        String prefix = "openvino: cannot import compiled model %s (written by ov_compiled_model_export_model of a "
                + "compatible OpenVINO version for CPU?): ov_core_import_model failed (GENERAL_ERROR): [CPU] ";

        Path text = tmp.resolve("text.blob");
        Files.writeString(text, "garbage");
        OpenVinoException e = assertThrows(OpenVinoException.class, () -> OpenVinoSession.open(text));
        assertEquals(String.format(prefix, text) + "Cannot import compiled blob: buffer underflow reading magic.",
                e.getMessage());

        Path random = tmp.resolve("random.blob");
        byte[] junk = new byte[good.length];
        new Random(3).nextBytes(junk);
        Files.write(random, junk);
        e = assertThrows(OpenVinoException.class, () -> OpenVinoSession.open(random));
        assertEquals(String.format(prefix, random) + "Cannot import compiled blob: incompatible runtime requirements "
                + "magic.", e.getMessage());

        Path half = tmp.resolve("half.blob");
        Files.write(half, Arrays.copyOf(good, good.length / 2));
        e = assertThrows(OpenVinoException.class, () -> OpenVinoSession.open(half));
        assertTrue(e.getMessage().startsWith(String.format(prefix, half)), e.getMessage());

        Path empty = tmp.resolve("empty.blob");
        Files.write(empty, new byte[0]);
        QuantbridgeException q = assertThrows(QuantbridgeException.class, () -> OpenVinoSession.open(empty));
        assertEquals("openvino: compiled model " + empty + " is empty", q.getMessage());
    }

    /**
     * OpenVINO's ONNX frontend takes node arity on trust: a Conv without inputs (a mutated ppocr-cls) crashed the JVM in
     * ov_core_read_model. Java checks the arity against the ONNX operator schemas first.
     */
    @Test
    void aNodeWithoutItsInputsIsRefusedBeforeOpenVinoReadsIt() throws Exception {
        OnnxModel m = OnnxModel.load(det);
        var g = m.graph().toBuilder();
        int conv = 0;
        while (!g.getNode(conv).getOpType().equals("Conv")) conv++;
        String name = g.getNode(conv).getName();
        g.setNode(conv, g.getNode(conv).toBuilder().clearInput());
        Path bad = tmp.resolve("no-inputs.onnx");
        Files.write(bad, m.proto().toBuilder().setGraph(g).build().toByteArray());
        String expected = bad + ": node '" + name + "' (Conv) has 0 inputs; Conv takes 2 to 3 (ONNX operator schema,"
                + " opset " + m.opsetVersion() + "); the model is invalid";
        QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> OpenVinoSession.open(bad));
        assertEquals(expected, e.getMessage());
        e = assertThrows(QuantbridgeException.class, () -> OpenVinoSession.compile(Files.readAllBytes(bad),
                bad.toString(), OpenVinoSession.Options.defaults()));
        assertEquals(expected, e.getMessage());
    }

    /**
     * An input whose type has no shape (any rank) is legal ONNX, and ONNX Runtime runs it; OpenVINO's Conv converter
     * needs the rank. A session reads such a model with the rank its graph fixes (the detector's first Conv: 4);
     * where the graph fixes none, and for models compiled from memory, the error says which input and what to do.
     */
    @Test
    void anInputOfAnyRankThatOpenVinoCannotReadIsNamed() throws Exception {
        OnnxModel m = OnnxModel.load(det);
        var p = m.proto().toBuilder();
        p.getGraphBuilder().getInputBuilder(0).getTypeBuilder().getTensorTypeBuilder().clearShape();
        Path anyRank = tmp.resolve("any-rank.onnx");
        Files.write(anyRank, p.build().toByteArray());
        try (OpenVinoSession r = OpenVinoSession.open(anyRank)) {
            assertEquals("[x float[-1, -1, -1, -1]]", r.inputs().toString());
            float[] image = new float[3 * 64 * 64];
            for (int i = 0; i < image.length; i++) image[i] = (float) Math.sin(i * 0.01);
            FloatTensor in = new FloatTensor(new long[] {1, 3, 64, 64}, image);
            assertArrayEquals(session.run(Map.of("x", in)).values().iterator().next().data(),
                    r.run(Map.of("x", in)).values().iterator().next().data(), 1e-6f);
        }
        String hint = " (model input 'x' declares no rank, which OpenVINO's ONNX reader needs for some operators: give"
                + " the model's inputs shapes, e.g. with dimensions left symbolic; quantize --backend onnx writes"
                + " models that take the calibration data's rank)";
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> OpenVinoSession.compile(Files.readAllBytes(anyRank), "any-rank", OpenVinoSession.Options.defaults()));
        assertTrue(e.getMessage().contains("rank has to be known") && e.getMessage().endsWith(hint), e.getMessage());
        // a Flatten also reads x: the graph fixes no rank for it, so OpenVINO gets the model as it is
        p.getGraphBuilder().addNode(io.quantbridge.onnx.proto.Onnx.NodeProto.newBuilder().setOpType("Flatten")
                .setName("flat").addInput("x").addOutput("flat"));
        p.getGraphBuilder().addOutput(OnnxModel.valueInfo("flat", 1));
        Path unfixed = tmp.resolve("unfixed.onnx");
        Files.write(unfixed, p.build().toByteArray());
        e = assertThrows(QuantbridgeException.class, () -> OpenVinoSession.open(unfixed));
        assertTrue(e.getMessage().startsWith("openvino: cannot read model " + unfixed + ": "), e.getMessage());
        assertTrue(e.getMessage().contains("rank has to be known") && e.getMessage().endsWith(hint), e.getMessage());
    }

    @Test
    void otherFilesAreNotGuessedAt() throws Exception {
        Path txt = Files.writeString(tmp.resolve("model.tflite"), "x");
        QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> OpenVinoSession.open(txt));
        assertEquals("openvino reads .onnx, .xml (OpenVINO IR) and .blob (exported compiled models), not model.tflite",
                e.getMessage());
    }

    @Test
    void wrongInputsAreRefusedBeforeOpenVinoSeesThem() {
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> session.run(Map.of("x", new FloatTensor(new long[] {1, 3, 64}, new float[192]))));
        assertEquals("openvino: input 'x' of " + OpenVinoTesting.DETECTOR + " has shape [1, 3, 64] but the model "
                + "takes [-1, 3, -1, -1] (-1: any size)", e.getMessage());
        e = assertThrows(QuantbridgeException.class,
                () -> session.run(Map.of("x", new FloatTensor(new long[] {1, 4, 8, 8}, new float[256]))));
        assertEquals("openvino: input 'x' of " + OpenVinoTesting.DETECTOR + " has shape [1, 4, 8, 8] but the model "
                + "takes [-1, 3, -1, -1] (-1: any size)", e.getMessage());
        e = assertThrows(QuantbridgeException.class, () -> session.run(Map.of()));
        assertEquals("openvino: " + OpenVinoTesting.DETECTOR + ": input 'x' [-1, 3, -1, -1] was not given (given: [])",
                e.getMessage());
        e = assertThrows(QuantbridgeException.class, () -> session.run(Map.of("y", session.zeros(32).get("x"))));
        assertEquals("openvino: " + OpenVinoTesting.DETECTOR + ": the model has no input 'y' (its inputs: x [-1, 3, -1,"
                + " -1])", e.getMessage());
        try (OpenVinoSession fixed = OpenVinoSession.open(det,
                OpenVinoSession.Options.defaults().withInputShape(1, 3, 64, 64))) {
            assertEquals(1, fixed.run(fixed.zeros(32)).size(), "zeros() follows the static shape");
            e = assertThrows(QuantbridgeException.class,
                    () -> fixed.run(Map.of("x", new FloatTensor(new long[] {1, 3, 32, 32}, new float[3072]))));
            assertEquals("openvino: input 'x' of " + OpenVinoTesting.DETECTOR + " has shape [1, 3, 32, 32] but the "
                    + "model takes [1, 3, 64, 64] (-1: any size)", e.getMessage());
        }
    }

    @Test
    void shapesTheModelCannotTakeFailInsideOpenVinoWithItsMessage() {
        // 33x31 fits the declared [-1, 3, -1, -1] but not the detector's stride-32 feature pyramid: OpenVINO refuses
        // it when the session compiles the model for that shape
        OpenVinoException e = assertThrows(OpenVinoException.class,
                () -> session.run(Map.of("x", new FloatTensor(new long[] {1, 3, 33, 31}, new float[3 * 33 * 31]))));
        assertTrue(e.getMessage().startsWith("openvino: " + det + " cannot take input shape [1, 3, 33, 31]: "
                + "ov_model_reshape_single_input failed (GENERAL_ERROR): While validating node "), e.getMessage());
        // ... and what would work
        assertTrue(e.getMessage().endsWith("Argument shapes are inconsistent. (input 'x' is fed 31x33, but the model"
                + " downsamples it 32-fold, and maps it adds back together then differ by a row or column: give a"
                + " size it divides, e.g. --size 32x64)"), e.getMessage());
        assertEquals("ov_model_reshape_single_input", e.call());
        // the session still works afterwards, and the failed shape fails the same way again
        assertEquals(List.of(1L, 1L, 64L, 64L), Arrays.stream(session.run(session.zeros(64)).get("sigmoid_0.tmp_0")
                .shape()).boxed().toList());
        assertThrows(OpenVinoException.class,
                () -> session.run(Map.of("x", new FloatTensor(new long[] {1, 3, 33, 31}, new float[3 * 33 * 31]))));
    }

    /** {@code ov_element_type_e}'s f32. */
    private static final int F32 = 4;

    @Test
    void theNativeSideChecksBuffersShapesIndexesAndHandlesItself() throws Exception {
        long compiled;
        try (OpenVinoSession s = OpenVinoSession.open(det)) {
            var f = OpenVinoSession.class.getDeclaredField("compiled");
            f.setAccessible(true);
            compiled = (long) f.get(s);
            long req = OvNative.createRequest(compiled);
            try {
                ByteBuffer b = ByteBuffer.allocateDirect(3 * 64 * 64 * 4).order(ByteOrder.nativeOrder());
                IllegalArgumentException a = assertThrows(IllegalArgumentException.class,
                        () -> OvNative.setInput(req, 0, ByteBuffer.allocate(3 * 64 * 64 * 4), new long[] {1, 3, 64, 64}, F32));
                assertEquals("input buffer is not a direct buffer", a.getMessage());
                a = assertThrows(IllegalArgumentException.class,
                        () -> OvNative.setInput(req, 0, b, new long[] {1, 3, 65, 64}, F32));
                assertEquals("input buffer is smaller than its shape needs", a.getMessage());
                a = assertThrows(IllegalArgumentException.class,
                        () -> OvNative.setInput(req, 0, b, new long[] {1, -3, 64, 64}, F32));
                assertEquals("input shape has a negative or too large dimension", a.getMessage());
                OpenVinoException o = assertThrows(OpenVinoException.class,
                        () -> OvNative.setInput(req, 0, b, new long[] {3, 64, 64}, F32));
                assertEquals("ov_infer_request_set_input_tensor_by_index failed (GENERAL_ERROR): Can't set the input "
                        + "tensor with index: 0, because the model input (shape=[?,3,?,?]) and the tensor "
                        + "(shape=(3.64.64)) are incompatible", o.getMessage());
                o = assertThrows(OpenVinoException.class,
                        () -> OvNative.setInput(req, 3, b, new long[] {1, 3, 64, 64}, F32));
                assertEquals("ov_infer_request_set_input_tensor_by_index failed (GENERAL_ERROR): Input port for index 3 "
                        + "was not found! The model has only 1 inputs.", o.getMessage());
                // a shape the dynamic model accepts but cannot compute: the inference itself fails
                OvNative.setInput(req, 0, ByteBuffer.allocateDirect(3 * 33 * 31 * 4), new long[] {1, 3, 33, 31}, F32);
                o = assertThrows(OpenVinoException.class, () -> OvNative.infer(req));
                assertTrue(o.getMessage().startsWith("ov_infer_request_infer failed (GENERAL_ERROR): [CPU] "),
                        o.getMessage());
                OvNative.setInput(req, 0, b, new long[] {1, 3, 64, 64}, F32);
                OvNative.infer(req);
                assertEquals("[1, 1, 64, 64]", Arrays.toString(OvNative.outputShape(req, 0)));
                a = assertThrows(IllegalArgumentException.class, () -> OvNative.copyOutput(req, 0, new float[10]));
                assertEquals("output array length differs from the output's element count", a.getMessage());
                a = assertThrows(IllegalArgumentException.class,
                        () -> OvNative.copyOutputBytes(req, 0, ByteBuffer.allocateDirect(64 * 64 * 4 - 1)));
                assertEquals("output buffer capacity differs from the output's byte size", a.getMessage());
                a = assertThrows(IllegalArgumentException.class,
                        () -> OvNative.copyOutputBytes(req, 0, ByteBuffer.allocate(64 * 64 * 4)));
                assertEquals("output buffer is not a direct buffer", a.getMessage());
                ByteBuffer raw = ByteBuffer.allocateDirect(64 * 64 * 4).order(ByteOrder.nativeOrder());
                assertEquals(F32, OvNative.copyOutputBytes(req, 0, raw));
                float[] copied = new float[64 * 64];
                OvNative.copyOutput(req, 0, copied);
                assertEquals(copied[100], raw.getFloat(400));
                // an element type of no whole bytes (i4) or no numbers (string), and a uint8 buffer too short
                for (int type : new int[] {6, 23, -1, 99}) {
                    a = assertThrows(IllegalArgumentException.class,
                            () -> OvNative.setInput(req, 0, b, new long[] {1, 3, 64, 64}, type));
                    assertEquals("input element type is not a whole-byte numeric type", a.getMessage());
                }
                a = assertThrows(IllegalArgumentException.class, () -> OvNative.setInput(req, 0,
                        ByteBuffer.allocateDirect(3 * 64 * 64 - 1), new long[] {1, 3, 64, 64}, 16));
                assertEquals("input buffer is smaller than its shape needs", a.getMessage());
                o = assertThrows(OpenVinoException.class, () -> OvNative.outputShape(req, 5));
                assertEquals("ov_infer_request_get_output_tensor_by_index", o.call());
            } finally {
                OvNative.requestFree(req);
            }
        }
        IllegalStateException s = assertThrows(IllegalStateException.class, () -> OvNative.infer(0));
        assertEquals("infer request handle is null (closed or never opened)", s.getMessage());
        s = assertThrows(IllegalStateException.class, () -> OvNative.compile(0, 0, "CPU", null));
        assertEquals("core handle is null (closed or never opened)", s.getMessage());
        IllegalArgumentException a = assertThrows(IllegalArgumentException.class,
                () -> OvNative.compile(OpenVinoRuntime.get().core, 1, "CPU", new String[] {"KEY"}));
        assertEquals("properties must be at most 32 key/value pairs", a.getMessage());
    }

    @Test
    void badCompileSettingsCarryOpenVinosMessage() {
        OpenVinoException e = assertThrows(OpenVinoException.class, () -> OpenVinoSession.open(det,
                OpenVinoSession.Options.defaults().withProperty("NO_SUCH_PROPERTY", "1")));
        assertEquals("openvino: cannot compile " + det + " for CPU: ov_core_compile_model failed (GENERAL_ERROR): "
                + "NotFound: Unsupported property NO_SUCH_PROPERTY by CPU plugin.", e.getMessage());
        e = assertThrows(OpenVinoException.class, () -> OpenVinoSession.open(det,
                new OpenVinoSession.Options("NPU7", Map.of(), null, false)));
        assertEquals("openvino: cannot compile " + det + " for NPU7: ov_core_compile_model failed (GENERAL_ERROR): "
                + "Device with \"NPU7\" name is not registered in the OpenVINO Runtime", e.getMessage());
        QuantbridgeException q = assertThrows(QuantbridgeException.class, () -> OpenVinoSession.open(det,
                OpenVinoSession.Options.defaults().withInputShape(1, 3, 64)));
        assertEquals("openvino: input shape for " + det + " has shape [1, 3, 64] but the model takes [-1, 3, -1, -1] "
                + "(-1: any size)", q.getMessage());
    }

    @Test
    void aClosedSessionSaysSoAndClosingTwiceIsHarmless() {
        OpenVinoSession s = OpenVinoSession.open(det);
        Map<String, FloatTensor> feed = s.zeros(32);
        s.run(feed);
        s.close();
        s.close();
        String closed = "openvino: the session for " + det + " is closed";
        assertEquals(closed, assertThrows(IllegalStateException.class, () -> s.run(feed)).getMessage());
        assertEquals(closed, assertThrows(IllegalStateException.class,
                () -> s.export(tmp.resolve("closed.blob"))).getMessage());
        assertEquals(closed, assertThrows(IllegalStateException.class,
                () -> s.property("INFERENCE_PRECISION_HINT")).getMessage());
        assertTrue(Files.notExists(tmp.resolve("closed.blob")));
    }
}
