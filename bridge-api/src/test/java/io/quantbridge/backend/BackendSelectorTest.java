package io.quantbridge.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.calib.CalibrationMethod;
import io.quantbridge.request.Precision;
import io.quantbridge.request.QuantizationRequest;
import io.quantbridge.request.QuantizationResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BackendSelectorTest {
    /** A backend with a fixed status, for selection only. */
    record Fixed(String id, int rank, BackendStatus status) implements Backend {
        @Override public Capabilities capabilities() {
            return new Capabilities(EnumSet.of(Precision.INT8), EnumSet.allOf(CalibrationMethod.class), List.of(),
                    List.of(), List.of());
        }
        @Override public QuantizationResult quantize(QuantizationRequest r, Progress p) {
            throw new UnsupportedOperationException();
        }
        @Override public ModelSession open(Path model) { throw new UnsupportedOperationException(); }
        @Override public String inspect(Path model) { throw new UnsupportedOperationException(); }
    }

    private static final List<Backend> BACKENDS = List.of(
            new Fixed("onnx", 10, BackendStatus.ready("cpu")),
            new Fixed("openvino", 200, BackendStatus.ready("cpu")),
            new Fixed("tensorrt", 300, BackendStatus.unusable("no CUDA device", "use a GPU machine")));

    @TempDir
    Path tmp;

    private Path config(String backend) throws Exception {
        Path f = tmp.resolve("quantbridge.properties");
        Files.writeString(f, "# test\nbackend = " + backend + "\n");
        return f;
    }

    @Test
    void precedenceExplicitThenPropertyThenEnvThenConfigThenRank() throws Exception {
        Path cfg = config("onnx");
        Map<String, String> props = Map.of(BackendSelector.PROPERTY, "openvino");
        Map<String, String> env = Map.of(BackendSelector.ENV, "onnx");

        var all = new BackendSelector(BACKENDS, props, env, cfg);
        assertEquals("onnx", all.select("onnx").backend().id());
        assertEquals("--backend", all.select("onnx").source());
        assertEquals("openvino", all.select(null).backend().id());
        assertEquals("system property quantbridge.backend", all.select(null).source());

        var envOnly = new BackendSelector(BACKENDS, Map.of(), Map.of(BackendSelector.ENV, "onnx"), cfg);
        assertEquals("environment variable QUANTBRIDGE_BACKEND", envOnly.select(null).source());
        assertEquals("onnx", envOnly.select(null).backend().id());

        var cfgOnly = new BackendSelector(BACKENDS, Map.of(), Map.of(), cfg);
        assertEquals("onnx", cfgOnly.select(null).backend().id());
        assertTrue(cfgOnly.select(null).source().startsWith("config file "));

        // nothing configured: highest-ranked usable (tensorrt outranks but is unusable)
        var none = new BackendSelector(BACKENDS, Map.of(), Map.of(), tmp.resolve("absent.properties"));
        assertEquals("openvino", none.select(null).backend().id());
        assertEquals("default (highest-ranked usable backend)", none.select(null).source());
    }

    @Test
    void configFileNamedByPropertyOrEnvironment() throws Exception {
        Path cfg = config("onnx");
        var viaProp = new BackendSelector(BACKENDS, Map.of(BackendSelector.CONFIG_PROPERTY, cfg.toString()),
                Map.of(), null);
        assertEquals("onnx", viaProp.select(null).backend().id());
        var viaEnv = new BackendSelector(BACKENDS, Map.of(), Map.of(BackendSelector.CONFIG_ENV, cfg.toString()),
                null);
        assertEquals("onnx", viaEnv.select(null).backend().id());

        var missing = new BackendSelector(BACKENDS, Map.of(BackendSelector.CONFIG_PROPERTY, "/nonexistent/q.props"),
                Map.of(), null);
        var e = assertThrows(QuantbridgeException.class, () -> missing.select(null));
        assertEquals("config file /nonexistent/q.props (from system property quantbridge.config) does not exist",
                e.getMessage());
    }

    /** A config file that cannot be what it should is refused, naming it and what is wrong with it. */
    @Test
    void badConfigFilesAreNamed() throws Exception {
        var folder = new BackendSelector(BACKENDS, Map.of(), Map.of(BackendSelector.CONFIG_ENV, tmp.toString()), null);
        assertEquals("config file " + tmp + " (from environment variable QUANTBRIDGE_CONFIG) is a folder, not a file",
                assertThrows(QuantbridgeException.class, () -> folder.select(null)).getMessage());
        Path escape = tmp.resolve("escape.properties");
        Files.writeString(escape, "backend=\\u00zz\n");
        assertEquals("config file " + escape + " is not a valid properties file: Malformed \\uxxxx encoding.",
                assertThrows(QuantbridgeException.class, () -> new BackendSelector(BACKENDS, Map.of(), Map.of(), escape)
                        .select(null)).getMessage());
        Path latin1 = tmp.resolve("latin1.properties");
        Files.write(latin1, new byte[] {'#', ' ', (byte) 0xE9, '\n', 'b', 'a', 'c', 'k', 'e', 'n', 'd', '=', 'o', 'n', 'n',
                'x', '\n'});
        assertEquals("config file " + latin1 + " is not UTF-8 text", assertThrows(QuantbridgeException.class,
                () -> new BackendSelector(BACKENDS, Map.of(), Map.of(), latin1).select(null)).getMessage());
        // a misspelt key would leave the default in force without a word
        Path typo = tmp.resolve("typo.properties");
        Files.writeString(typo, "# mine\nbackned = onnx\n");
        assertEquals("config file " + typo + ": unknown key 'backned' (the only key is backend, e.g. backend=onnx)",
                assertThrows(QuantbridgeException.class, () -> new BackendSelector(BACKENDS, Map.of(), Map.of(), typo)
                        .select(null)).getMessage());
        // an explicit choice does not read the file at all
        assertEquals("onnx", new BackendSelector(BACKENDS, Map.of(), Map.of(), typo).select("onnx").backend().id());
    }

    @Test
    void unknownBackendListsEveryBackendWithItsStatus() {
        var s = new BackendSelector(BACKENDS, Map.of(), Map.of(BackendSelector.ENV, "coreml"), null);
        var e = assertThrows(QuantbridgeException.class, () -> s.select(null));
        assertEquals("unknown backend 'coreml' (from environment variable QUANTBRIDGE_BACKEND); the backends are:\n"
                + "  tensorrt  unusable: no CUDA device; use a GPU machine\n"
                + "  openvino  usable (cpu)\n"
                + "  onnx      usable (cpu)", e.getMessage());
    }

    @Test
    void unusableBackendSaysWhyAndHowToFix() {
        var s = new BackendSelector(BACKENDS, Map.of(), Map.of(), null);
        var e = assertThrows(QuantbridgeException.class, () -> s.select("TensorRT"));
        assertTrue(e.getMessage().startsWith(
                "backend 'tensorrt' (from --backend) is not usable: no CUDA device; use a GPU machine\n"),
                e.getMessage());
    }

    /** Reads .onnx files, and says it cannot read those whose name contains "if-". */
    record Picky(String id, int rank) implements Backend {
        @Override public BackendStatus status() { return BackendStatus.ready("cpu"); }
        @Override public Capabilities capabilities() {
            return new Capabilities(EnumSet.of(Precision.INT8), EnumSet.allOf(CalibrationMethod.class), List.of(),
                    List.of("onnx"), List.of("onnx"));
        }
        @Override public java.util.Optional<String> readProblem(Path model) {
            return model.getFileName().toString().contains("if-")
                    ? java.util.Optional.of("cannot convert Conv-11") : java.util.Optional.empty();
        }
        @Override public QuantizationResult quantize(QuantizationRequest r, Progress p) {
            throw new UnsupportedOperationException();
        }
        @Override public ModelSession open(Path model) { throw new UnsupportedOperationException(); }
        @Override public String inspect(Path model) { throw new UnsupportedOperationException(); }
    }

    /** Reads .onnx and .tflite files, all of them. */
    record Plain(String id, int rank) implements Backend {
        @Override public BackendStatus status() { return BackendStatus.ready("cpu"); }
        @Override public Capabilities capabilities() {
            return new Capabilities(EnumSet.of(Precision.INT8), EnumSet.allOf(CalibrationMethod.class), List.of(),
                    List.of("onnx", "tflite"), List.of("onnx", "tflite"));
        }
        @Override public QuantizationResult quantize(QuantizationRequest r, Progress p) {
            throw new UnsupportedOperationException();
        }
        @Override public ModelSession open(Path model) { throw new UnsupportedOperationException(); }
        @Override public String inspect(Path model) { throw new UnsupportedOperationException(); }
    }

    /**
     * The default for a model passes over a backend that cannot read it and says why; a named backend is kept, and
     * one named to run a model must read its format.
     */
    @Test
    void theDefaultPassesOverABackendThatCannotReadTheModel() {
        List<Backend> two = List.of(new Picky("openvino", 200), new Plain("onnx", 10));
        var s = new BackendSelector(two, Map.of(), Map.of(), null);
        Path plain = Path.of("models", "cls.onnx");
        Path gated = Path.of("models", "cls-if-gate.onnx");
        assertEquals(new BackendSelector.Choice(two.get(0), "default (highest-ranked usable backend)"),
                s.select(null, plain));
        BackendSelector.Choice c = s.select(null, gated);
        assertEquals("onnx", c.backend().id());
        assertEquals(List.of("openvino cannot read cls-if-gate.onnx: cannot convert Conv-11"), c.passedOver());
        assertEquals("default (highest-ranked usable backend that reads the model; openvino cannot read"
                + " cls-if-gate.onnx: cannot convert Conv-11)", c.source());
        assertTrue(!c.configured() && s.selectToRun(null, gated).equals(c));
        // without a model nothing is read
        assertEquals("openvino", s.select(null).backend().id());

        // named: kept, whatever it says about the model
        assertEquals(new BackendSelector.Choice(two.get(0), "--backend"), s.select("openvino", gated));
        var prop = new BackendSelector(two, Map.of(BackendSelector.PROPERTY, "openvino"), Map.of(), null);
        assertEquals("openvino", prop.selectToRun(null, gated).backend().id());
        assertTrue(prop.selectToRun(null, gated).configured());

        // named to run a model of a format it does not read
        var env = new BackendSelector(two, Map.of(), Map.of(BackendSelector.ENV, "openvino"), null);
        var e = assertThrows(QuantbridgeException.class, () -> env.selectToRun(null, Path.of("face.tflite")));
        assertEquals("backend 'openvino' (from environment variable QUANTBRIDGE_BACKEND) does not read face.tflite (it"
                + " reads [onnx])", e.getMessage());
        assertEquals("onnx", s.selectToRun(null, Path.of("face.tflite")).backend().id());

        // nobody reads it: every reason is given
        var alone = new BackendSelector(List.of(two.get(0)), Map.of(), Map.of(), null);
        e = assertThrows(QuantbridgeException.class, () -> alone.select(null, gated));
        assertEquals("no usable backend reads cls-if-gate.onnx (openvino cannot read cls-if-gate.onnx: cannot convert"
                + " Conv-11):\n  openvino  usable (cpu)", e.getMessage());
    }

    @Test
    void noUsableBackendAtAll() {
        var s = new BackendSelector(List.of(BACKENDS.get(2)), Map.of(), Map.of(), null);
        var e = assertThrows(QuantbridgeException.class, () -> s.select(null));
        assertEquals("no usable backend:\n  tensorrt  unusable: no CUDA device; use a GPU machine", e.getMessage());
    }

    /** Quantizes .onnx models; runs {@code reads}; builds for {@code targets}. */
    record Quantizer(String id, int rank, List<String> targets, List<String> reads) implements Backend {
        @Override public BackendStatus status() { return BackendStatus.ready("cpu"); }
        @Override public Capabilities capabilities() {
            return new Capabilities(EnumSet.of(Precision.INT8, Precision.FP16), EnumSet.allOf(CalibrationMethod.class),
                    targets, reads, List.of("onnx"));
        }
        @Override public QuantizationResult quantize(QuantizationRequest r, Progress p) {
            throw new UnsupportedOperationException();
        }
        @Override public ModelSession open(Path model) { throw new UnsupportedOperationException(); }
        @Override public String inspect(Path model) { throw new UnsupportedOperationException(); }
    }

    private static QuantizationRequest.Builder request(String model) {
        return QuantizationRequest.builder().model(Path.of("models", model)).calibrationData(Path.of("photos"))
                .outputDir(Path.of("out"));
    }

    /**
     * The default for a quantization request is the highest-ranked usable backend that quantizes the model's format
     * (TensorRT, which runs engines only, quantizes ONNX models) and takes the request; one that would refuse it is
     * passed over, saying why; a named one is kept.
     */
    @Test
    void theDefaultForAQuantizationPassesOverABackendThatWouldRefuseIt() {
        Backend tensorrt = new Quantizer("tensorrt", 300, List.of("gpu", "jetson", "dla"), List.of("plan", "engine"));
        Backend openvino = new Quantizer("openvino", 200, List.of("cpu"), List.of("onnx", "xml", "blob"));
        Backend onnx = new Quantizer("onnx", 10, List.of("tensorrt", "openvino", "onnxruntime"), List.of("onnx"));
        List<Backend> three = List.of(onnx, openvino, tensorrt);
        var s = new BackendSelector(three, Map.of(), Map.of(), null);

        // reading is not quantizing: select(null, model) would take openvino, which reads .onnx files
        assertEquals(new BackendSelector.Choice(tensorrt, "default (highest-ranked usable backend)"),
                s.selectToQuantize(null, request("det.onnx").build()));
        assertEquals("openvino", s.select(null, Path.of("det.onnx")).backend().id());
        assertEquals("tensorrt", s.selectToQuantize(null, request("det.onnx").target("dla:1").build()).backend().id());

        BackendSelector.Choice c = s.selectToQuantize(null, request("det.onnx").target("onnxruntime").build());
        assertEquals("onnx", c.backend().id());
        assertEquals(List.of("tensorrt would refuse this request: --target onnxruntime: the tensorrt backend builds for"
                + " gpu, jetson, dla", "openvino would refuse this request: --target onnxruntime: the openvino backend"
                + " builds for cpu"), c.passedOver());
        assertTrue(c.source().startsWith("default (highest-ranked usable backend that reads the model and takes the"
                + " request; tensorrt would refuse"), c.source());
        assertEquals("openvino", s.selectToQuantize(null, request("det.onnx").target("CPU").build()).backend().id());

        var e = assertThrows(QuantbridgeException.class, () -> s.selectToQuantize(null,
                request("det.onnx").precision(Precision.DYNAMIC).build()));
        assertTrue(e.getMessage().startsWith("no usable backend quantizes det.onnx (tensorrt would refuse this request:"
                + " --precision dynamic: the tensorrt backend does not write dynamic models (it writes int8, fp16);"
                + " openvino would refuse"), e.getMessage());
        // a format nobody quantizes: nothing to pass over, nothing to say but that
        e = assertThrows(QuantbridgeException.class, () -> s.selectToQuantize(null, request("face.tflite").build()));
        assertTrue(e.getMessage().startsWith("no usable backend quantizes face.tflite:\n"), e.getMessage());

        // named: kept, whatever it would refuse (its quantize says so)
        var env = new BackendSelector(three, Map.of(), Map.of(BackendSelector.ENV, "openvino"), null);
        assertEquals(new BackendSelector.Choice(openvino, "environment variable QUANTBRIDGE_BACKEND"),
                env.selectToQuantize(null, request("det.onnx").target("onnxruntime").build()));
        assertEquals(Optional.of("--target onnxruntime: the openvino backend builds for cpu"),
                openvino.requestProblem(request("det.onnx").target("onnxruntime").build()));
        assertEquals(Optional.of("openvino: quantize takes .onnx models, not face.tflite"),
                openvino.requestProblem(request("face.tflite").build()));
    }
}
