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
import io.quantbridge.util.NativeLibraries;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;

/**
 * OpenVINO int8/fp16 models for x86 CPUs, through OpenVINO's C API.
 *
 * <p>{@code libopenvino_c.so} is looked for in {@code -Dquantbridge.openvino.home}, {@code $OPENVINO_HOME}, the copy
 * that {@code scripts/fetch-openvino.sh} puts in {@code .cache/openvino}, then the system's library folders.
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
                List.of("cpu"), List.of("blob"));
    }

    @Override
    public BackendStatus status() {
        BackendStatus s = status;
        if (s == null) {
            status = s = probe();
        }
        return s;
    }

    /** Where libopenvino_c.so is, by the documented precedence. */
    public static Optional<Path> findLibrary() {
        List<Path> preferred = new ArrayList<>();
        for (String home : new String[] {System.getProperty(HOME_PROPERTY), System.getenv(HOME_ENV)}) {
            if (home != null && !home.isBlank()) {
                Path h = Path.of(home);
                preferred.add(h);
                preferred.add(h.resolve("libs"));
                preferred.add(h.resolve("runtime").resolve("lib").resolve("intel64"));
            }
        }
        fetchedCopy().ifPresent(preferred::add);
        return NativeLibraries.find(LIBRARY, preferred);
    }

    /** The libs folder of .cache/openvino in the current folder or one above it (the repository root). */
    static Optional<Path> fetchedCopy() {
        Path dir = Path.of("").toAbsolutePath();
        for (int i = 0; i < 4 && dir != null; i++, dir = dir.getParent()) {
            Path libs = dir.resolve(".cache").resolve("openvino").resolve("libs");
            if (Files.isDirectory(libs)) return Optional.of(libs);
        }
        return Optional.empty();
    }

    private static BackendStatus probe() {
        Optional<Path> lib = findLibrary();
        if (lib.isEmpty()) {
            return BackendStatus.unusable(LIBRARY + " not found",
                    "set " + HOME_ENV + " (or -D" + HOME_PROPERTY + ") or run scripts/fetch-openvino.sh");
        }
        return BackendStatus.unusable("found " + lib.get() + ", but the JNI bridge in native/ is not built in this "
                + "version", "use --backend onnx: its Q/DQ model is what OpenVINO's ONNX front end reads");
    }

    @Override
    public QuantizationResult quantize(QuantizationRequest request, Progress progress) {
        throw unusable();
    }

    @Override
    public ModelSession open(Path model) {
        throw unusable();
    }

    @Override
    public String inspect(Path model) {
        throw unusable();
    }

    private QuantbridgeException unusable() {
        BackendStatus s = status();
        return new QuantbridgeException("openvino: " + s.reason() + "; " + s.fix());
    }
}
