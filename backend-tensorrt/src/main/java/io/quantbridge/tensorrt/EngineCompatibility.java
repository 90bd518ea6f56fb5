package io.quantbridge.tensorrt;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.util.Hashing;
import io.quantbridge.util.InputFiles;
import java.nio.file.Path;

/**
 * Refuses to load an engine that was not built for this machine. A serialized TensorRT engine runs only on the
 * TensorRT release that built it (major.minor.patch; the build number does not matter) and on the GPU model it was
 * tuned for; loading it elsewhere fails deep inside TensorRT or, across GPUs of one compute capability, runs with
 * tactics timed for another chip. The sidecar (see {@link EngineMetadata}) says what the engine was built for.
 */
public final class EngineCompatibility {
    private EngineCompatibility() { }

    /** Reads {@code plan}'s sidecar and checks it against {@code current}; returns the metadata when it fits. */
    public static EngineMetadata check(Path plan, DeviceInfo current) {
        InputFiles.require(plan, "engine");
        EngineMetadata meta = EngineMetadata.readFor(plan);
        String sha = Hashing.sha256(plan);
        if (!sha.equals(meta.planSha256())) {
            throw new QuantbridgeException("engine " + plan.getFileName() + " does not match its sidecar "
                    + EngineMetadata.sidecarOf(plan).getFileName() + " (plan SHA-256 " + sha + ", sidecar says "
                    + meta.planSha256() + "): the plan was replaced after it was built; rebuild it");
        }
        check(meta, current, plan.getFileName().toString());
        return meta;
    }

    /** Checks metadata against the current device; the message names both sides and the way out. */
    public static void check(EngineMetadata meta, DeviceInfo current, String engineName) {
        TensorRtVersion built = TensorRtVersion.parse(meta.tensorrtVersion());
        if (!built.equals(current.tensorrt())) {
            throw new QuantbridgeException("engine " + engineName + " was built with TensorRT " + built
                    + " but this machine has TensorRT " + current.tensorrt() + "; engines only load in the TensorRT "
                    + "release that built them: rebuild it here (quantize --backend tensorrt, or trtexec)");
        }
        if (!meta.computeCapability().equals(current.computeCapability())) {
            throw new QuantbridgeException("engine " + engineName + " was built for " + meta.gpuName()
                    + " (compute capability " + meta.computeCapability() + ") but this GPU is " + current.gpuName()
                    + " (compute capability " + current.computeCapability() + "); rebuild it on this GPU");
        }
        if (!meta.gpuName().equals(current.gpuName())) {
            throw new QuantbridgeException("engine " + engineName + " was built for the GPU " + meta.gpuName()
                    + " but this GPU is " + current.gpuName() + " (same compute capability "
                    + current.computeCapability() + ", different model: its kernels were timed on another chip); "
                    + "rebuild it on this GPU");
        }
        if (meta.dlaCore() != null && meta.dlaCore() >= current.dlaCores()) {
            throw new QuantbridgeException("engine " + engineName + " runs on DLA core " + meta.dlaCore() + " but "
                    + current.gpuName() + " has " + current.dlaCores() + " DLA cores");
        }
    }
}
