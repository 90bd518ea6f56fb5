package io.quantbridge.tflite;

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
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;

/**
 * Full-integer TFLite models for CPUs and the Edge TPU: calibrates in the TFLite interpreter (JavaCPP presets) and
 * rewrites the flatbuffer in Java (int8 activations and weights, int32 biases, float or int8 I/O), or stores the
 * weights as float16, or writes a dynamic-range model (int8 weights for the hybrid kernels, float activations). It
 * also runs and times any {@code .tflite} model and describes it with an Edge TPU report.
 */
public final class TfliteBackend implements Backend {
    private volatile BackendStatus status;

    @Override
    public String id() {
        return "tflite";
    }

    @Override
    public int rank() {
        return 100;
    }

    @Override
    public Capabilities capabilities() {
        return new Capabilities(EnumSet.of(Precision.INT8, Precision.FP16, Precision.DYNAMIC), EnumSet.allOf(CalibrationMethod.class),
                List.of("cpu", "edgetpu"), List.of("tflite"), List.of("tflite"));
    }

    @Override
    public BackendStatus status() {
        BackendStatus s = status;
        if (s == null) {
            try {
                org.bytedeco.javacpp.Loader.load(org.bytedeco.tensorflowlite.global.tensorflowlite.class);
                s = BackendStatus.ready("TensorFlow Lite 2.20 interpreter (JavaCPP) on CPU, XNNPACK");
            } catch (Throwable t) { // UnsatisfiedLinkError and friends: report, never crash
                s = BackendStatus.unusable("the TFLite native library failed to load: " + t,
                        "use Linux x86-64 with glibc (the bundled org.bytedeco:tensorflow-lite native jar is for "
                                + "linux-x86_64)");
            }
            status = s;
        }
        return s;
    }

    @Override
    public QuantizationResult quantize(QuantizationRequest request, Progress progress) {
        capabilities().requirePrecision(id(), request.precision());
        return StagedOutput.run(request, progress, (r, p) -> new TfliteQuantization(r, p).run());
    }

    @Override
    public ModelSession open(Path model) {
        return TfliteSession.open(model, 0);
    }

    @Override
    public String inspect(Path model) {
        return TfliteInspector.describe(TfliteModel.load(model));
    }
}
