package io.quantbridge.tensorrt;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.util.AtomicFiles;
import io.quantbridge.util.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What an engine was built for, kept next to it in {@code <plan>.json} (TensorRT refuses plan files with anything
 * prepended, so the metadata never goes inside). {@code planSha256} ties the sidecar to the exact plan bytes;
 * {@code modelSha256} is the user's source model; {@code onnxSha256} the ONNX file TensorRT parsed.
 *
 * @param quantization {@code explicit} (Q/DQ), {@code implicit} (calibrator) or {@code none}
 * @param calibrator   the calibrator that computed the ranges ({@code entropy}, ...), or null
 */
public record EngineMetadata(String tensorrtVersion, String gpuName, String computeCapability, String precision,
                             String quantization, String calibrator, String modelSha256, String onnxSha256,
                             String planSha256, Integer dlaCore, String builtAt) {
    public static final int FORMAT = 1;
    public static final String SUFFIX = ".json";

    public EngineMetadata {
        require(tensorrtVersion, "tensorrt_version");
        require(gpuName, "gpu_name");
        require(computeCapability, "compute_capability");
        require(precision, "precision");
        require(planSha256, "plan_sha256");
    }

    private static void require(String v, String key) {
        if (v == null || v.isBlank()) throw new QuantbridgeException("engine metadata: '" + key + "' is missing");
    }

    /** The sidecar of {@code plan}: {@code model.plan} -> {@code model.plan.json}. */
    public static Path sidecarOf(Path plan) {
        return plan.resolveSibling(plan.getFileName() + SUFFIX);
    }

    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("format", "quantbridge-tensorrt-engine");
        m.put("format_version", FORMAT);
        m.put("tensorrt_version", tensorrtVersion);
        m.put("gpu_name", gpuName);
        m.put("compute_capability", computeCapability);
        m.put("precision", precision);
        m.put("quantization", quantization);
        m.put("calibrator", calibrator);
        m.put("model_sha256", modelSha256);
        m.put("onnx_sha256", onnxSha256);
        m.put("plan_sha256", planSha256);
        m.put("dla_core", dlaCore);
        m.put("built_at", builtAt);
        return m;
    }

    public static EngineMetadata fromMap(Map<String, Object> m, String source) {
        Object format = m.get("format");
        if (!"quantbridge-tensorrt-engine".equals(format)) {
            throw new QuantbridgeException(source + ": not a quantbridge TensorRT engine sidecar (format " + format
                    + ")");
        }
        Object fv = m.get("format_version");
        if (!(fv instanceof Number n) || n.intValue() > FORMAT) {
            throw new QuantbridgeException(source + ": sidecar format version " + fv + " is not supported (this "
                    + "version reads " + FORMAT + ")");
        }
        Object dla = m.get("dla_core");
        try {
            return new EngineMetadata(str(m, "tensorrt_version"), str(m, "gpu_name"), str(m, "compute_capability"),
                    str(m, "precision"), str(m, "quantization"), str(m, "calibrator"), str(m, "model_sha256"),
                    str(m, "onnx_sha256"), str(m, "plan_sha256"), dla instanceof Number d ? d.intValue() : null,
                    str(m, "built_at"));
        } catch (QuantbridgeException e) {
            throw new QuantbridgeException(source + ": " + e.getMessage(), e);
        }
    }

    private static String str(Map<String, Object> m, String key) {
        Object v = m.get(key);
        return v == null ? null : v.toString();
    }

    public void write(Path sidecar) {
        AtomicFiles.writeString(sidecar, Json.write(toMap()));
    }

    /** Reads {@code plan}'s sidecar; a missing sidecar is an error that says what it is needed for. */
    public static EngineMetadata readFor(Path plan) {
        Path sidecar = sidecarOf(plan);
        String text;
        try {
            text = Files.readString(sidecar);
        } catch (NoSuchFileException e) {
            throw new QuantbridgeException("engine " + plan.getFileName() + " has no sidecar " + sidecar.getFileName()
                    + ": cannot tell which TensorRT version and GPU it was built for (engines only run where they "
                    + "were built); rebuild it with quantize --backend tensorrt on this machine");
        } catch (IOException e) {
            throw new QuantbridgeException("cannot read " + sidecar + ": " + e.getMessage(), e);
        }
        return fromMap(Json.parseObject(text), sidecar.toString());
    }
}
