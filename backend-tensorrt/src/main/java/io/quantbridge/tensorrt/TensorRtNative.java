package io.quantbridge.tensorrt;

import static org.bytedeco.cuda.global.cudart.cudaGetDeviceCount;
import static org.bytedeco.cuda.global.cudart.cudaGetDeviceProperties;
import static org.bytedeco.cuda.global.cudart.cudaGetErrorString;
import static org.bytedeco.tensorrt.global.nvinfer.createInferBuilder;
import static org.bytedeco.tensorrt.global.nvinfer.getInferLibVersion;
import static org.bytedeco.tensorrt.global.nvonnxparser.createParser;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.util.AtomicFiles;
import io.quantbridge.util.NativeLibraries;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.bytedeco.cuda.cudart.cudaDeviceProp;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.tensorrt.global.nvinfer.BuilderFlag;
import org.bytedeco.tensorrt.global.nvinfer.DeviceType;
import org.bytedeco.tensorrt.global.nvinfer.MemoryPoolType;
import org.bytedeco.tensorrt.global.nvinfer.NetworkDefinitionCreationFlag;
import org.bytedeco.tensorrt.global.nvinfer.OptProfileSelector;
import org.bytedeco.tensorrt.nvinfer.Dims64;
import org.bytedeco.tensorrt.nvinfer.IBuilder;
import org.bytedeco.tensorrt.nvinfer.IBuilderConfig;
import org.bytedeco.tensorrt.nvinfer.IHostMemory;
import org.bytedeco.tensorrt.nvinfer.ILogger;
import org.bytedeco.tensorrt.nvinfer.INetworkDefinition;
import org.bytedeco.tensorrt.nvinfer.IOptimizationProfile;
import org.bytedeco.tensorrt.nvinfer.ITimingCache;
import org.bytedeco.tensorrt.nvonnxparser.IParser;
import org.bytedeco.tensorrt.nvonnxparser.IParserError;

/**
 * Every call into TensorRT and CUDA (JavaCPP presets {@code org.bytedeco:tensorrt:10.x} and {@code cuda:13.x}).
 * Only reached after {@link TensorRtBackend#status()} said usable; loading the JNI libraries happens on first use of
 * this class. What to build is decided beforehand in plain Java ({@link BuildPlan}); this class only applies it.
 *
 * <p>The builder, network, parser and config live for one build; TensorRT 10 objects are released with
 * {@code delete}, which JavaCPP does for objects it allocated: these are created by TensorRT and released when the
 * process ends (one build per run).
 */
final class TensorRtNative {
    private TensorRtNative() { }

    private static volatile boolean preloaded;

    /**
     * Loads the CUDA runtime and TensorRT's libraries from where the status probe found them ({@code
     * -Dquantbridge.tensorrt.home}, {@code TENSORRT_HOME}, {@code CUDA_HOME}, then the system's folders) before the
     * presets' JNI libraries need them: those find their dependencies only through the loader's search path, so a
     * TensorRT named by {@code TENSORRT_HOME} alone would otherwise fail with "no jninvinfer in java.library.path".
     * A library already loaded under its soname satisfies the JNI library's dependency.
     */
    static void preload() {
        if (preloaded) return;
        synchronized (TensorRtNative.class) {
            if (preloaded) return;
            StatusProbe.Environment env = StatusProbe.Environment.current();
            load("libcudart.so.13", env.cudaDirs());
            for (String lib : List.of("libnvinfer.so.10", "libnvinfer_plugin.so.10", "libnvonnxparser.so.10")) {
                load(lib, env.tensorRtDirs());
            }
            preloaded = true;
        }
    }

    private static void load(String lib, List<Path> dirs) {
        NativeLibraries.find(lib, dirs).ifPresent(p -> {
            try {
                System.load(p.toAbsolutePath().toString());
            } catch (UnsatisfiedLinkError e) {
                throw new QuantbridgeException("tensorrt: " + p + " failed to load: " + e.getMessage(), e);
            }
        });
    }

    /** The first CUDA device and the TensorRT library version, as a {@link DeviceInfo}. */
    static DeviceInfo probeDevice() {
        preload();
        try {
            int[] count = new int[1];
            int err = cudaGetDeviceCount(count);
            if (err != 0 || count[0] == 0) {
                throw new QuantbridgeException("tensorrt: no CUDA device: "
                        + (err != 0 ? cudaGetErrorString(err).getString() : "cudaGetDeviceCount returned 0"));
            }
            cudaDeviceProp prop = new cudaDeviceProp();
            err = cudaGetDeviceProperties(prop, 0);
            if (err != 0) {
                throw new QuantbridgeException("tensorrt: cudaGetDeviceProperties: "
                        + cudaGetErrorString(err).getString());
            }
            String name = prop.name().getString().trim();
            TensorRtVersion version = TensorRtVersion.fromLibVersion(getInferLibVersion());
            TrtLogger logger = TrtLogger.get();
            long mark = logger.mark();
            IBuilder builder = createInferBuilder(logger);
            if (builder == null || builder.isNull()) {
                throw new QuantbridgeException("tensorrt: createInferBuilder failed: " + logger.lastErrors(mark));
            }
            return new DeviceInfo(name, prop.major(), prop.minor(), builder.getNbDLACores(), version);
        } catch (UnsatisfiedLinkError | NoClassDefFoundError e) {
            throw new QuantbridgeException("tensorrt: the TensorRT/CUDA libraries failed to load: " + e.getMessage(), e);
        }
    }

    /** The outcome of one build: the plan's size, the build time and what TensorRT warned about. */
    record Built(long bytes, double seconds, List<String> log) { }

    /**
     * Parses {@code onnx}, configures the builder as {@code plan} says, builds, and writes exactly the serialized
     * bytes to {@code planFile} (atomically). The timing cache, when configured, is read before and written after.
     */
    static Built build(Path onnx, EngineBuildConfig cfg, BuildPlan plan, TrtEntropyCalibrator calibrator,
                       Path planFile) {
        preload();
        long t0 = System.nanoTime();
        TrtLogger logger = TrtLogger.get();
        long mark = logger.mark();
        IBuilder builder = createInferBuilder(logger);
        if (builder == null || builder.isNull()) {
            throw new QuantbridgeException("tensorrt: createInferBuilder failed: " + logger.lastErrors(mark));
        }
        int networkFlags = 0;
        for (String f : plan.networkFlags()) networkFlags |= 1 << NetworkDefinitionCreationFlag.valueOf(f).value;
        INetworkDefinition network = builder.createNetworkV2(networkFlags);
        IParser parser = createParser(network, logger);
        if (!parser.parseFromFile(onnx.toString(), ILogger.Severity.kWARNING.value)) {
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < parser.getNbErrors(); i++) {
                IParserError e = parser.getError(i);
                sb.append(i == 0 ? "" : "; ").append(e.desc());
                if (e.nodeName() != null && !e.nodeName().isEmpty()) {
                    sb.append(" (node ").append(e.nodeName()).append(", ").append(e.nodeOperator()).append(')');
                }
            }
            throw new QuantbridgeException("tensorrt: the ONNX parser rejected " + onnx.getFileName() + ": " + sb);
        }
        IBuilderConfig config = builder.createBuilderConfig();
        if (cfg.workspaceBytes() > 0) config.setMemoryPoolLimit(MemoryPoolType.kWORKSPACE, cfg.workspaceBytes());
        for (String f : plan.builderFlags()) config.setFlag(BuilderFlag.valueOf(f));
        if (cfg.optimizationLevel() >= 0) config.setBuilderOptimizationLevel(cfg.optimizationLevel());
        if (!cfg.profiles().isEmpty()) {
            IOptimizationProfile profile = builder.createOptimizationProfile();
            for (ShapeProfile p : cfg.profiles()) {
                boolean ok = profile.setDimensions(p.input(), OptProfileSelector.kMIN, dims(p.min()))
                        && profile.setDimensions(p.input(), OptProfileSelector.kOPT, dims(p.opt()))
                        && profile.setDimensions(p.input(), OptProfileSelector.kMAX, dims(p.max()));
                if (!ok) {
                    throw new QuantbridgeException("tensorrt: TensorRT refused the profile " + p + ": "
                            + logger.lastErrors(mark));
                }
            }
            if (config.addOptimizationProfile(profile) < 0) {
                throw new QuantbridgeException("tensorrt: TensorRT refused the optimization profile: "
                        + logger.lastErrors(mark));
            }
            if (calibrator != null && !config.setCalibrationProfile(profile)) {
                throw new QuantbridgeException("tensorrt: TensorRT refused the calibration profile: "
                        + logger.lastErrors(mark));
            }
        }
        BytePointer timingBytes = null;
        if (cfg.timingCache().isPresent()) {
            byte[] old = readIfExists(cfg.timingCache().get());
            timingBytes = new BytePointer(Math.max(1, old.length));
            timingBytes.put(old, 0, old.length);
            ITimingCache cache = config.createTimingCache(timingBytes, old.length);
            if (cache == null || cache.isNull() || !config.setTimingCache(cache, false)) {
                throw new QuantbridgeException("tensorrt: timing cache " + cfg.timingCache().get()
                        + " was refused (built by another TensorRT or GPU?): " + logger.lastErrors(mark));
            }
        }
        if (cfg.dlaCore().isPresent()) {
            config.setDefaultDeviceType(DeviceType.kDLA);
            config.setDLACore(cfg.dlaCore().getAsInt());
        }
        if (calibrator != null) config.setInt8Calibrator(calibrator);

        IHostMemory serialized = builder.buildSerializedNetwork(network, config);
        if (calibrator != null && calibrator.failure() != null) {
            throw new QuantbridgeException("tensorrt: the calibrator failed: " + calibrator.failure().getMessage(),
                    calibrator.failure());
        }
        if (serialized == null || serialized.isNull() || serialized.size() == 0) {
            throw new QuantbridgeException("tensorrt: building the engine failed: " + logger.lastErrors(mark));
        }
        AtomicFiles.write(planFile, bytes(serialized));
        if (cfg.timingCache().isPresent()) {
            IHostMemory tc = config.getTimingCache().serialize();
            if (tc != null && !tc.isNull()) AtomicFiles.write(cfg.timingCache().get(), bytes(tc));
        }
        if (timingBytes != null) timingBytes.close();
        return new Built(serialized.size(), (System.nanoTime() - t0) / 1e9, logger.messages(mark));
    }

    private static byte[] bytes(IHostMemory mem) {
        byte[] out = new byte[Math.toIntExact(mem.size())];
        new BytePointer(mem.data()).capacity(mem.size()).get(out);
        return out;
    }

    static Dims64 dims(long[] shape) {
        Dims64 d = new Dims64();
        d.nbDims(shape.length);
        for (int i = 0; i < shape.length; i++) d.d(i, shape[i]);
        return d;
    }

    private static byte[] readIfExists(Path p) {
        try {
            return Files.isRegularFile(p) ? Files.readAllBytes(p) : new byte[0];
        } catch (IOException e) {
            throw new QuantbridgeException("tensorrt: cannot read the timing cache " + p + ": " + e.getMessage(), e);
        }
    }
}
