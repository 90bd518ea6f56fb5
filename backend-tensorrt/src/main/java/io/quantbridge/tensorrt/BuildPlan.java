package io.quantbridge.tensorrt;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.request.Precision;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What one engine build does, decided in plain Java from the configuration, the TensorRT release and the device:
 * which ONNX file TensorRT parses, the builder flags ({@code BuilderFlag} constant names such as {@code kINT8}), the
 * network creation flags, whether a calibrator is attached, and the precision the engine will really have.
 *
 * <p>Rules:
 * <ul>
 *   <li>TensorRT 10: int8 sets {@code kINT8} (explicit Q/DQ and implicit alike; {@code kFP16} next to it when float
 *       layers may run in fp16); fp16 sets {@code kFP16} on the source model. Implicit int8 attaches the calibrator
 *       to the calibrated FP32 model ({@code model.fp32.onnx}) whose cache this tool computed.</li>
 *   <li>TensorRT 11: no precision flags and no calibrators (strong typing always on): int8 parses the Q/DQ model,
 *       fp16 the FP16 model; implicit quantization is refused.</li>
 *   <li>Never fall back silently: a GPU without fast int8 (fp16) stops the build with the reason unless FP32 was
 *       allowed; then the source model is built in FP32 and {@link #notes()} says so.</li>
 *   <li>DLA: the device must have the core; int8/fp16 only; {@code kGPU_FALLBACK} unless disabled.</li>
 * </ul>
 */
public record BuildPlan(ModelInput input, List<String> builderFlags, List<String> networkFlags, boolean calibrator,
                        String precision, List<String> notes) {
    /** The ONNX file TensorRT parses. */
    public enum ModelInput {
        /** {@code model.int8.onnx}: explicitly quantized. */
        QDQ_MODEL,
        /** {@code model.fp32.onnx}: the float model the calibration cache describes (implicit path). */
        CALIBRATED_FLOAT_MODEL,
        /** {@code model.fp16.onnx}: strongly typed FP16 (TensorRT 11; TensorRT 10 when it keeps float32 layers). */
        FP16_MODEL,
        /** The user's float model. */
        SOURCE_MODEL
    }

    public BuildPlan {
        builderFlags = List.copyOf(builderFlags);
        networkFlags = List.copyOf(networkFlags);
        notes = List.copyOf(notes);
    }

    public static BuildPlan select(EngineBuildConfig cfg, DeviceInfo device) {
        return select(cfg, device, false);
    }

    /**
     * @param fp16KeepsFloat32 fp16: {@code model.fp16.onnx} keeps nodes in float32 (tensors beyond the float16 range on
     *                         the calibration data). TensorRT 10 then builds that model strongly typed
     *                         ({@code kSTRONGLY_TYPED}), which honours each node's type, instead of the source model
     *                         with {@code kFP16}, which lets it run any layer in fp16 (and overflow them).
     */
    public static BuildPlan select(EngineBuildConfig cfg, DeviceInfo device, boolean fp16KeepsFloat32) {
        TensorRtVersion v = device.tensorrt();
        if (v.major() < 10) {
            throw new QuantbridgeException("tensorrt: TensorRT " + v + " is too old: engines need TensorRT 10 or 11");
        }
        List<String> flags = new ArrayList<>();
        List<String> network = new ArrayList<>();
        List<String> notes = new ArrayList<>();
        boolean calibrator = false;
        ModelInput input;
        String precision;

        boolean int8 = cfg.precision() == Precision.INT8;
        boolean fast = int8 ? device.fastInt8() : device.fastFp16();
        if (int8 && cfg.quantization() == EngineBuildConfig.Quantization.IMPLICIT && !v.hasCalibrators()) {
            throw new QuantbridgeException("tensorrt: TensorRT " + v + " removed calibrators (implicit int8); use the "
                    + "explicit path, which builds the Q/DQ model " + TensorRtQuantization.QDQ_MODEL);
        }
        if (cfg.fp16FloatLayers() && !v.hasPrecisionFlags()) {
            throw new QuantbridgeException("tensorrt: TensorRT " + v + " has no fp16 builder flag (networks are "
                    + "strongly typed); layers run in the types the model gives them");
        }
        if (!fast) {
            String what = int8 ? "int8" : "fp16";
            String why = "the GPU " + device.gpuName() + " (compute capability " + device.computeCapability()
                    + ") has no fast " + what;
            if (!cfg.allowFp32()) {
                throw new QuantbridgeException("tensorrt: " + why + "; not building a slower FP32 engine silently "
                        + "(allow FP32 with -D" + TensorRtOptions.ALLOW_FP32 + "=true)");
            }
            notes.add(why + ": built in FP32 because FP32 was allowed");
            return new BuildPlan(ModelInput.SOURCE_MODEL, List.of(), List.of(), false, "fp32", notes);
        }
        if (!v.hasPrecisionFlags()) {
            // strongly typed is the only mode from TensorRT 11 on; no flag to set
            input = int8 ? ModelInput.QDQ_MODEL : ModelInput.FP16_MODEL;
            precision = int8 ? "int8" : "fp16";
        } else if (int8) {
            flags.add("kINT8");
            if (cfg.fp16FloatLayers()) {
                if (device.fastFp16()) {
                    flags.add("kFP16");
                } else {
                    notes.add("float layers stay FP32: the GPU has no fast fp16");
                }
            }
            if (cfg.quantization() == EngineBuildConfig.Quantization.IMPLICIT) {
                input = ModelInput.CALIBRATED_FLOAT_MODEL;
                calibrator = true;
            } else {
                input = ModelInput.QDQ_MODEL;
            }
            precision = "int8";
        } else if (fp16KeepsFloat32 && cfg.dlaCore().isEmpty()) {
            network.add("kSTRONGLY_TYPED");
            input = ModelInput.FP16_MODEL;
            precision = "fp16";
            notes.add("the FP16 model keeps layers float32 (values beyond float16 on the calibration data): built "
                    + "strongly typed, so that TensorRT keeps them");
        } else {
            flags.add("kFP16");
            input = ModelInput.SOURCE_MODEL;
            precision = "fp16";
            if (fp16KeepsFloat32) {
                notes.add("values beyond float16 on the calibration data, but DLA needs the fp16 flag: TensorRT may run "
                        + "those layers in fp16 and overflow them");
            }
        }
        if (cfg.dlaCore().isPresent()) {
            int core = cfg.dlaCore().getAsInt();
            if (device.dlaCores() == 0) {
                throw new QuantbridgeException("tensorrt: DLA core " + core + " requested but " + device.gpuName()
                        + " has no DLA (Jetson AGX/NX Orin and Xavier have them)");
            }
            if (core >= device.dlaCores()) {
                throw new QuantbridgeException("tensorrt: DLA core " + core + " requested but " + device.gpuName()
                        + " has " + device.dlaCores() + " (0.." + (device.dlaCores() - 1) + ")");
            }
            if (cfg.gpuFallback()) {
                flags.add("kGPU_FALLBACK");
            } else {
                notes.add("DLA without GPU fallback: the build fails on any layer DLA cannot run");
            }
        }
        return new BuildPlan(input, flags, network, calibrator, precision, notes);
    }

    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("input", input.name().toLowerCase(java.util.Locale.ROOT));
        m.put("builder_flags", builderFlags);
        m.put("network_flags", networkFlags);
        m.put("calibrator", calibrator);
        m.put("precision", precision);
        m.put("notes", notes);
        return m;
    }
}
