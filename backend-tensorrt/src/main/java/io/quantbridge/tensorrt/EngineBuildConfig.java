package io.quantbridge.tensorrt;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.request.Precision;
import io.quantbridge.tensor.TensorInfo;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * How to build one TensorRT engine: precision, quantization path, memory pool limit, timing cache, optimization
 * profiles for dynamic input shapes, an optional DLA core (with GPU fallback), and whether a GPU without fast int8 /
 * fp16 may get an FP32 engine instead. Immutable; {@link #builder()} validates what needs no model and no GPU;
 * {@link #checkAgainst(List)} validates the profiles against the model's inputs; {@link BuildPlan#select} decides
 * the builder flags for a TensorRT version and a device.
 */
public final class EngineBuildConfig {
    /** Explicit: the Q/DQ model carries the scales. Implicit: the FP32 model plus a calibrator (TensorRT 10 only). */
    public enum Quantization { EXPLICIT, IMPLICIT }

    private final Precision precision;
    private final Quantization quantization;
    private final long workspaceBytes;
    private final boolean fp16FloatLayers;
    private final boolean allowFp32;
    private final Path timingCache;
    private final List<ShapeProfile> profiles;
    private final Integer dlaCore;
    private final boolean gpuFallback;
    private final int calibrationBatch;
    private final int optimizationLevel;

    private EngineBuildConfig(Builder b) {
        this.precision = b.precision;
        this.quantization = b.quantization;
        this.workspaceBytes = b.workspaceBytes;
        this.fp16FloatLayers = b.fp16FloatLayers;
        this.allowFp32 = b.allowFp32;
        this.timingCache = b.timingCache;
        this.profiles = List.copyOf(b.profiles);
        this.dlaCore = b.dlaCore;
        this.gpuFallback = b.gpuFallback;
        this.calibrationBatch = b.calibrationBatch;
        this.optimizationLevel = b.optimizationLevel;
    }

    public static Builder builder() {
        return new Builder();
    }

    public Precision precision() { return precision; }
    public Quantization quantization() { return quantization; }
    /** The workspace memory pool limit in bytes; 0 leaves TensorRT's default (the device's memory). */
    public long workspaceBytes() { return workspaceBytes; }
    /** Int8: also let the layers left in float run in FP16 (TensorRT 10's kFP16 next to kINT8). */
    public boolean fp16FloatLayers() { return fp16FloatLayers; }
    /** Build FP32 when the GPU lacks fast int8 / fp16 instead of stopping. Never the default. */
    public boolean allowFp32() { return allowFp32; }
    /** A timing cache file read before the build (when it exists) and written after it. */
    public Optional<Path> timingCache() { return Optional.ofNullable(timingCache); }
    public List<ShapeProfile> profiles() { return profiles; }
    public OptionalInt dlaCore() { return dlaCore == null ? OptionalInt.empty() : OptionalInt.of(dlaCore); }
    public boolean gpuFallback() { return gpuFallback; }
    /** Samples per calibration batch (implicit path): the leading dimension of the calibration shape. */
    public int calibrationBatch() { return calibrationBatch; }
    /** TensorRT's builder optimization level 0..5, or -1 for its default (3). */
    public int optimizationLevel() { return optimizationLevel; }

    /** Validates the profiles against the model's inputs (see {@link ShapeProfile#checkAgainst}). */
    public void checkAgainst(List<TensorInfo> inputs) {
        ShapeProfile.checkAgainst(profiles, inputs);
        if (quantization == Quantization.IMPLICIT) {
            for (ShapeProfile p : profiles) {
                if (p.opt()[0] != calibrationBatch) {
                    throw new QuantbridgeException("profile for '" + p.input() + "': the calibration batch of "
                            + calibrationBatch + " must be the opt shape's leading dimension (" + p + ")");
                }
            }
        }
    }

    public Builder toBuilder() {
        Builder b = new Builder();
        b.precision = precision;
        b.quantization = quantization;
        b.workspaceBytes = workspaceBytes;
        b.fp16FloatLayers = fp16FloatLayers;
        b.allowFp32 = allowFp32;
        b.timingCache = timingCache;
        b.profiles.addAll(profiles);
        b.dlaCore = dlaCore;
        b.gpuFallback = gpuFallback;
        b.calibrationBatch = calibrationBatch;
        b.optimizationLevel = optimizationLevel;
        return b;
    }

    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("precision", precision.id());
        m.put("quantization", precision == Precision.INT8 ? quantization.name().toLowerCase(java.util.Locale.ROOT)
                : null);
        m.put("workspace_bytes", workspaceBytes);
        m.put("fp16_float_layers", fp16FloatLayers);
        m.put("allow_fp32", allowFp32);
        m.put("timing_cache", timingCache == null ? null : timingCache.toString());
        m.put("profiles", profiles.stream().map(ShapeProfile::toString).toList());
        m.put("dla_core", dlaCore);
        m.put("gpu_fallback", dlaCore == null ? null : gpuFallback);
        m.put("calibration_batch", calibrationBatch);
        m.put("optimization_level", optimizationLevel);
        return m;
    }

    public static final class Builder {
        private Precision precision = Precision.INT8;
        private Quantization quantization = Quantization.EXPLICIT;
        private long workspaceBytes;
        private boolean fp16FloatLayers;
        private boolean allowFp32;
        private Path timingCache;
        private final List<ShapeProfile> profiles = new ArrayList<>();
        private Integer dlaCore;
        private boolean gpuFallback = true;
        private int calibrationBatch = 1;
        private int optimizationLevel = -1;

        public Builder precision(Precision p) { this.precision = p; return this; }
        public Builder quantization(Quantization q) { this.quantization = q; return this; }
        public Builder workspaceBytes(long n) { this.workspaceBytes = n; return this; }
        public Builder fp16FloatLayers(boolean v) { this.fp16FloatLayers = v; return this; }
        public Builder allowFp32(boolean v) { this.allowFp32 = v; return this; }
        public Builder timingCache(Path p) { this.timingCache = p; return this; }
        public Builder profile(ShapeProfile p) { this.profiles.add(p); return this; }
        public Builder clearProfiles() { this.profiles.clear(); return this; }
        public Builder dlaCore(Integer core) { this.dlaCore = core; return this; }
        public Builder gpuFallback(boolean v) { this.gpuFallback = v; return this; }
        public Builder calibrationBatch(int n) { this.calibrationBatch = n; return this; }
        public Builder optimizationLevel(int level) { this.optimizationLevel = level; return this; }

        public EngineBuildConfig build() {
            if (precision == null || quantization == null) {
                throw new QuantbridgeException("tensorrt: precision and quantization are required");
            }
            if (workspaceBytes < 0) {
                throw new QuantbridgeException("tensorrt: workspace limit " + workspaceBytes + " is negative");
            }
            if (workspaceBytes > 0 && workspaceBytes < (1L << 20)) {
                throw new QuantbridgeException("tensorrt: workspace limit " + workspaceBytes
                        + " bytes is below 1 MiB; give it in bytes (e.g. 2147483648 or 2g)");
            }
            if (precision == Precision.FP16 && quantization == Quantization.IMPLICIT) {
                throw new QuantbridgeException("tensorrt: implicit quantization (a calibrator) applies to int8 only");
            }
            if (precision == Precision.FP16 && fp16FloatLayers) {
                throw new QuantbridgeException("tensorrt: fp16 float layers only applies to int8 engines");
            }
            if (calibrationBatch < 1) {
                throw new QuantbridgeException("tensorrt: calibration batch " + calibrationBatch + " must be >= 1");
            }
            if (optimizationLevel < -1 || optimizationLevel > 5) {
                throw new QuantbridgeException("tensorrt: builder optimization level " + optimizationLevel
                        + " is not in 0..5");
            }
            if (dlaCore != null) {
                if (dlaCore < 0) throw new QuantbridgeException("tensorrt: DLA core " + dlaCore + " is negative");
                if (allowFp32) {
                    throw new QuantbridgeException("tensorrt: DLA runs only int8 and fp16 layers, so an FP32 "
                            + "fallback cannot apply to a DLA engine; drop one of the two");
                }
            }
            java.util.Set<String> names = new java.util.HashSet<>();
            for (ShapeProfile p : profiles) {
                if (!names.add(p.input())) {
                    throw new QuantbridgeException("tensorrt: input '" + p.input() + "' has more than one profile");
                }
            }
            return new EngineBuildConfig(this);
        }
    }
}
