package io.quantbridge.openvino;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.Backend;
import io.quantbridge.backend.BackendStatus;
import io.quantbridge.backend.Capabilities;
import io.quantbridge.backend.ModelSession;
import io.quantbridge.backend.Progress;
import io.quantbridge.calib.CalibrationMethod;
import io.quantbridge.request.Precision;
import io.quantbridge.request.QuantizationRequest;
import io.quantbridge.request.QuantizationResult;
import io.quantbridge.request.StagedOutput;
import io.quantbridge.util.NativeLibraries;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * OpenVINO int8/fp16 models for x86 CPUs, through OpenVINO's C API.
 *
 * <p>{@code libopenvino_c.so} is looked for in {@code -Dquantbridge.openvino.home}, {@code $OPENVINO_HOME}, the copy
 * that {@code scripts/fetch-openvino.sh} puts in {@code .cache/openvino} (found from the working folder or from where
 * quantbridge itself was loaded), then the system's library folders.
 */
public final class OpenVinoBackend implements Backend {
    public static final String HOME_PROPERTY = "quantbridge.openvino.home";
    public static final String HOME_ENV = "OPENVINO_HOME";
    static final String LIBRARY = "libopenvino_c.so";

    private volatile BackendStatus status;

    @Override
    public String id() {
        return "openvino";
    }

    @Override
    public int rank() {
        return 200;
    }

    @Override
    public Capabilities capabilities() {
        return new Capabilities(EnumSet.of(Precision.INT8, Precision.FP16), EnumSet.allOf(CalibrationMethod.class),
                List.of("cpu"), List.of("blob", "onnx", "xml"), List.of("onnx"));
    }

    @Override
    public BackendStatus status() {
        BackendStatus s = status;
        if (s == null) {
            status = s = probe();
        }
        return s;
    }

    /**
     * Where libopenvino_c.so is, by the documented precedence, or empty when it is nowhere or when a configured home
     * does not hold it ({@link #locateLibrary()} says which).
     */
    public static Optional<Path> findLibrary() {
        try {
            return Optional.of(locateLibrary());
        } catch (OpenVinoRuntime.Unavailable e) {
            return Optional.empty();
        }
    }

    /**
     * Where libopenvino_c.so is: in {@code -Dquantbridge.openvino.home} when that is set, else in
     * {@code $OPENVINO_HOME} when that is set (each: the folder itself, {@code libs/}, {@code runtime/lib/intel64} or
     * {@code aarch64}), else in the fetched copy or the system's library folders. A configured home that does not
     * hold it is an error naming it, not a reason to load another runtime than the one asked for (as ONNX Runtime's
     * Java API treats its native path). A folder may hold it only under its versioned name
     * ({@code libopenvino_c.so.2641}, as the PyPI wheel ships it); the unversioned name wins when both are there.
     *
     * @throws OpenVinoRuntime.Unavailable naming where it looked, and what fixes it
     */
    static Path locateLibrary() {
        String[][] homes = {{"-D" + HOME_PROPERTY, System.getProperty(HOME_PROPERTY)},
                {HOME_ENV, System.getenv(HOME_ENV)}};
        for (String[] home : homes) {
            if (home[1] == null || home[1].isBlank()) continue;
            Path h = Path.of(home[1]);
            List<Path> dirs = List.of(h, h.resolve("libs"), h.resolve("runtime").resolve("lib").resolve("intel64"),
                    h.resolve("runtime").resolve("lib").resolve("aarch64"));
            for (Path dir : dirs) {
                Optional<Path> p = inFolder(dir);
                if (p.isPresent()) return p.get();
            }
            throw new OpenVinoRuntime.Unavailable(home[0] + "=" + home[1] + " holds no " + LIBRARY + " (looked in it, "
                    + "in libs/ and in runtime/lib/intel64/ and aarch64/ under it)", "point " + home[0]
                    + " at an OpenVINO runtime (the folder with " + LIBRARY + ", or the root of OpenVINO's archive), "
                    + "or unset it to use the copy from scripts/fetch-openvino.sh or the system's", null);
        }
        List<Path> preferred = new ArrayList<>();
        fetchedCopy().ifPresent(preferred::add);
        for (Path dir : NativeLibraries.searchPath(preferred)) {
            Optional<Path> p = inFolder(dir);
            if (p.isPresent()) return p.get();
        }
        throw new OpenVinoRuntime.Unavailable(LIBRARY + " not found (no " + HOME_ENV + " set, no .cache/openvino "
                + "above the working folder or quantbridge's jars, none on the system's library path)", "set "
                + HOME_ENV + " (or -D" + HOME_PROPERTY + ") or " + OpenVinoRuntime.FETCH, null);
    }

    /** libopenvino_c.so in {@code dir}, else its versioned name. */
    private static Optional<Path> inFolder(Path dir) {
        Optional<Path> p = NativeLibraries.find(LIBRARY, List.of(dir)).filter(f -> f.startsWith(dir));
        return p.isPresent() ? p : versioned(dir);
    }

    /** libopenvino_c.so.N in {@code dir}, the highest N when there are several. */
    private static Optional<Path> versioned(Path dir) {
        if (!Files.isDirectory(dir)) return Optional.empty();
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(f -> f.getFileName().toString().matches(Pattern.quote(LIBRARY) + "\\.[0-9.]+"))
                    .filter(Files::exists)
                    .max(Comparator.comparing(f -> f.getFileName().toString()));
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /**
     * The libs folder of the {@code .cache/openvino} that scripts/fetch-openvino.sh fills: looked for in the current
     * folder and up to three above it, then above where this class was loaded from (a checkout's
     * {@code backend-openvino/target/classes}, or {@code quantbridge-cli/target/lib/*.jar} for bin/quantbridge), so
     * that the command line finds it from any working folder.
     */
    static Optional<Path> fetchedCopy() {
        return fetchedCopy(Path.of("").toAbsolutePath(), codeLocation());
    }

    /** {@link #fetchedCopy()} from the given working folder and code location (either may be null). */
    static Optional<Path> fetchedCopy(Path workingDir, Path codeLocation) {
        Optional<Path> found = fetchedCopyAbove(workingDir, 4);
        return found.isPresent() ? found : fetchedCopyAbove(codeLocation, 6);
    }

    private static Optional<Path> fetchedCopyAbove(Path start, int levels) {
        Path dir = start;
        for (int i = 0; i < levels && dir != null; i++, dir = dir.getParent()) {
            Path libs = dir.resolve(".cache").resolve("openvino").resolve("libs");
            if (Files.isDirectory(libs)) return Optional.of(libs);
        }
        return Optional.empty();
    }

    /** The jar or classes folder this class came from, or null when that is unknown. */
    private static Path codeLocation() {
        try {
            java.security.CodeSource cs = OpenVinoBackend.class.getProtectionDomain().getCodeSource();
            return cs == null || cs.getLocation() == null ? null : Path.of(cs.getLocation().toURI()).toAbsolutePath();
        } catch (java.net.URISyntaxException | RuntimeException e) { // not a file: URL, or no permission
            return null;
        }
    }

    private static BackendStatus probe() {
        try {
            OpenVinoRuntime rt = OpenVinoRuntime.get();
            String device = rt.deviceProperty(OpenVinoSession.DEVICE, "FULL_DEVICE_NAME");
            return BackendStatus.ready("OpenVINO " + rt.version + " on CPU"
                    + (device == null || device.isBlank() ? "" : " (" + device.strip() + ")"));
        } catch (OpenVinoRuntime.Unavailable u) {
            return BackendStatus.unusable(u.reason, u.fix);
        } catch (RuntimeException | LinkageError e) { // never let a probe take the JVM's caller down
            return BackendStatus.unusable("OpenVINO failed to start: " + e, OpenVinoRuntime.FETCH);
        }
    }

    /**
     * Besides the capabilities: a target other than cpu, {@code --layers}, {@code --io int8}, and preprocessing that
     * feeds more than one input shape (the model is compiled for one).
     */
    @Override
    public Optional<String> requestProblem(QuantizationRequest request) {
        Optional<String> why = OpenVinoQuantization.refusal(request);
        return why.isPresent() ? why : Backend.super.requestProblem(request);
    }

    @Override
    public QuantizationResult quantize(QuantizationRequest request, Progress progress) {
        capabilities().requirePrecision(id(), request.precision());
        requireUsable();
        return StagedOutput.run(request, progress, (r, p) -> new OpenVinoQuantization(r, p).run());
    }

    /**
     * Opens an ONNX model, OpenVINO IR or exported compiled model ({@code .blob}) on the CPU; float layers run in
     * float32 ({@code INFERENCE_PRECISION_HINT=f32}). The session is thread-safe.
     */
    @Override
    public ModelSession open(Path model) {
        requireUsable();
        if (CpuFeatures.x86WithoutInt8Dot() && io.quantbridge.onnx.Uint8Activations.hasInt8Activations(model)) {
            System.getLogger("io.quantbridge.openvino").log(System.Logger.Level.WARNING, "openvino: "
                    + model.getFileName() + " has int8 activations, which OpenVINO's int8 kernels compute wrongly on"
                    + " this CPU (x86 without VNNI); it runs in float (LP_TRANSFORMS_MODE=NO): the numbers the model"
                    + " means, without int8 speed. quantize --backend openvino on this machine writes a model that"
                    + " runs here in int8.");
            return OpenVinoSession.open(model, OpenVinoSession.Options.defaults().withProperty(NO_LOW_PRECISION, "NO"));
        }
        return OpenVinoSession.open(model);
    }

    /**
     * The CPU plugin's switch for its low-precision transformations: off, Q/DQ pairs stay float operations (the
     * model's numbers, computed in float).
     */
    static final String NO_LOW_PRECISION = "LP_TRANSFORMS_MODE";

    /**
     * Reads an .onnx or .xml model with OpenVINO's frontend, without compiling it, as {@link #open} and
     * {@link #quantize} read it: a model it cannot convert (ONNX operators on tensors of unknown rank, say) gives
     * OpenVINO's summary. Empty for .blob files, missing files, and inputs of unknown rank the graph does not fix
     * (quantize takes them from the calibration data).
     */
    @Override
    public Optional<String> readProblem(Path model) {
        String name = model.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
        if (!status().usable() || !java.nio.file.Files.isRegularFile(model)
                || !(name.endsWith(".onnx") || name.endsWith(".xml"))) {
            return Optional.empty();
        }
        try {
            return OpenVinoSession.readProblem(model);
        } catch (RuntimeException e) {
            return Optional.empty(); // a file neither Java nor OpenVINO reads: the backend says so when it is used
        }
    }

    /** The model as OpenVINO runs it on this CPU: inputs, outputs, and every executed layer with its precision. */
    @Override
    public String inspect(Path model) {
        requireUsable();
        return OpenVinoInspector.describe(model);
    }

    private void requireUsable() {
        BackendStatus s = status();
        if (!s.usable()) {
            throw new QuantbridgeException("openvino: " + s.reason() + "; " + s.fix());
        }
    }
}
