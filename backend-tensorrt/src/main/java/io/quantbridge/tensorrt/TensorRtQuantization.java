package io.quantbridge.tensorrt;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.BackendStatus;
import io.quantbridge.backend.ModelSession;
import io.quantbridge.backend.Progress;
import io.quantbridge.data.DataSplit;
import io.quantbridge.data.SampleRef;
import io.quantbridge.data.SampleSource;
import io.quantbridge.eval.FidelityEvaluation;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.backend.OnnxBackend;
import io.quantbridge.onnx.runtime.OrtModelSession;
import io.quantbridge.request.Artifact;
import io.quantbridge.request.IoType;
import io.quantbridge.request.Precision;
import io.quantbridge.request.QuantizationRequest;
import io.quantbridge.request.QuantizationResult;
import io.quantbridge.request.RequestData;
import io.quantbridge.table.TensorRtCache;
import io.quantbridge.tensor.TensorInfo;
import io.quantbridge.util.AtomicFiles;
import io.quantbridge.util.Hashing;
import io.quantbridge.util.InputFiles;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * One run of the tensorrt backend. The onnx backend calibrates and writes the Q/DQ model, the calibrated FP32 model,
 * the calibration table and the TensorRT cache (its evaluation, in ONNX Runtime on the CPU, stays in the report);
 * this class adds {@value TrtexecCommands#FILE} with the trtexec command lines for users who build on the device,
 * and, where the backend is usable, builds the engine through TensorRT ({@code model.int8.plan},
 * {@code model.implicit.plan}, {@code model.fp16.plan} or {@code model.fp32.plan}) with its sidecar JSON. Where it
 * is not usable, the portable files are still written and the report and a note say why no engine was built.
 */
final class TensorRtQuantization {
    static final String QDQ_MODEL = "model.int8.onnx";
    static final String FLOAT_MODEL = "model.fp32.onnx";
    static final String FP16_MODEL = "model.fp16.onnx";
    static final String CACHE = "calibration.cache";
    static final String TRT_CACHE = "calibration.trt.cache";

    private final QuantizationRequest req;
    private final Progress progress;
    private final BackendStatus status;
    private final Map<String, String> props;

    TensorRtQuantization(QuantizationRequest req, Progress progress, BackendStatus status, Map<String, String> props) {
        this.req = req;
        this.progress = progress;
        this.status = status;
        this.props = props;
    }

    static Map<String, String> systemProperties() {
        Map<String, String> m = new HashMap<>();
        System.getProperties().forEach((k, v) -> m.put(k.toString(), v.toString()));
        return m;
    }

    /** {@code --io int8}, which this backend refuses: engines built here keep float inputs and outputs. */
    static Optional<String> ioRefusal(QuantizationRequest req) {
        return req.io() == IoType.FLOAT ? Optional.empty() : Optional.of(
                "tensorrt: --io int8 is not supported: engines built here keep float inputs and outputs");
    }

    QuantizationResult run() {
        InputFiles.require(req.model(), "model");
        if (!req.model().getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".onnx")) {
            throw new QuantbridgeException("tensorrt: quantize takes an ONNX model, not " + req.model().getFileName());
        }
        ioRefusal(req).ifPresent(why -> {
            throw new QuantbridgeException(why);
        });
        List<TensorInfo> inputs = OnnxModel.load(req.model()).inputs();
        // validated before the (long) calibration: a bad profile or option fails at once
        EngineBuildConfig cfg = TensorRtOptions.from(req, inputs, props, () -> sampleShapes(inputs));
        // decided before the (long) calibration too: where no engine can be built, the portable files still are
        DeviceInfo device = status.usable() ? TensorRtNative.probeDevice() : null;
        String noEngine = !status.usable() ? status.reason() : whyNoEngine(device);

        // the onnx backend's target is what the Q/DQ model is for; the device target stays in this report
        QuantizationResult onnx = new OnnxBackend().quantize(req.toBuilder().target("tensorrt").build(), progress);
        List<Artifact> artifacts = new ArrayList<>(onnx.artifacts());
        Path out = req.outputDir();
        boolean int8 = req.precision() == Precision.INT8;
        Path cache = out.resolve(CACHE);
        if (int8 && !Files.isRegularFile(out.resolve(FLOAT_MODEL))) {
            // without equalization and bias correction the float model the cache describes is the source model
            AtomicFiles.copy(req.model(), out.resolve(FLOAT_MODEL));
            artifacts.add(Artifact.of("calibrated float model", out.resolve(FLOAT_MODEL)));
        }

        String cacheVersion = int8 && Files.isRegularFile(cache) ? TensorRtCache.read(cache).version() : null;
        Path commands = out.resolve(TrtexecCommands.FILE);
        AtomicFiles.writeString(commands, TrtexecCommands.text(new TrtexecCommands.Inputs(req.precision(), QDQ_MODEL,
                FLOAT_MODEL, FP16_MODEL, cacheVersion == null ? null : CACHE, cacheVersion,
                req.model().toAbsolutePath().toString(), cfg.profiles(), cfg.dlaCore(),
                !OnnxBackend.fp16Float32Tensors(onnx.report()).isEmpty())));
        artifacts.add(Artifact.of("trtexec commands", commands));

        Map<String, Object> trt = new LinkedHashMap<>();
        trt.put("config", cfg.toMap());
        trt.put("trtexec_commands", commands.toString());
        Map<String, Object> report = new LinkedHashMap<>(onnx.report());
        report.put("backend", "tensorrt");
        report.put("target", req.target().orElse("gpu").trim().toLowerCase(java.util.Locale.ROOT));
        if (noEngine == null) {
            Path plan = buildEngine(cfg, device, !OnnxBackend.fp16Float32Tensors(onnx.report()).isEmpty(), trt,
                    artifacts);
            engineFidelity(plan, report);
        } else {
            if (device != null) trt.put("device", device.toMap());
            trt.put("engine_built", false);
            trt.put("engine_not_built_because", noEngine);
            report.put("fidelity_measured_in", "ONNX Runtime on the CPU (" + QDQ_MODEL + "), not TensorRT");
            progress.note("tensorrt: engine not built: " + noEngine + "; wrote the portable files instead ("
                    + (int8 ? QDQ_MODEL + ", " + FLOAT_MODEL + " + " + CACHE : FP16_MODEL) + ", and the trtexec "
                    + "command lines in " + TrtexecCommands.FILE + ")");
        }
        report.put("tensorrt", trt);
        report.put("artifacts", artifacts.stream().map(Artifact::toMap).toList());
        return new QuantizationResult("tensorrt", artifacts, onnx.table(), report);
    }

    /**
     * The shapes each calibration and evaluation sample feeds the inputs at, a map per sample; empty without samples.
     * Array and tensor samples are read for it (once more than calibration reads them); images are read once, as
     * every image of a run is resized to the same size, unless {@code --resize fit} feeds each at its own (or
     * {@code --resize height} widens text lines for a model of dynamic width). A sample
     * that cannot be read fails here, as calibration would.
     */
    private List<Map<String, long[]>> sampleShapes(List<TensorInfo> inputs) {
        DataSplit split = RequestData.split(req, inputs);
        if (split == null) return List.of();
        List<Map<String, long[]>> all = new ArrayList<>();
        Map<String, long[]> image = null;
        io.quantbridge.data.Preprocessing pre = SampleSource.resolve(inputs, req.preprocessing());
        boolean ownSize = pre.resize() == io.quantbridge.data.Preprocessing.Resize.FIT || pre.widenLines();
        for (SampleRef s : java.util.stream.Stream.concat(split.calibration().stream(), split.evaluation().stream())
                .toList()) {
            if (s.kind() == SampleRef.Kind.IMAGE && image != null && !ownSize) {
                all.add(image);
                continue;
            }
            Map<String, long[]> shapes = new LinkedHashMap<>();
            SampleSource.load(s, inputs, req.preprocessing()).forEach((k, v) -> shapes.put(k, v.shape()));
            if (s.kind() == SampleRef.Kind.IMAGE) image = shapes;
            all.add(shapes);
        }
        return all;
    }

    /** Why this machine, usable as it is, cannot build the engine: a TensorRT the presets cannot drive, or no
     * builder resource for its GPU; null when it can. */
    private static String whyNoEngine(DeviceInfo device) {
        if (!device.tensorrt().drivableByPresets()) {
            return "TensorRT " + device.tensorrt() + " found, but this version builds engines through the TensorRT 10 "
                    + "presets; build with the TensorRT 11 line of " + TrtexecCommands.FILE;
        }
        return BuilderResources.missing(StatusProbe.Environment.current().tensorRtDirs(), device).orElse(null);
    }

    /**
     * Replaces the report's fidelity (ONNX Runtime on the CPU running the Q/DQ model) with the engine's own against
     * the float source model on the held-out samples; the ONNX Runtime figures stay under
     * {@code fidelity_onnxruntime_cpu}.
     */
    private void engineFidelity(Path plan, Map<String, Object> report) {
        DataSplit split = RequestData.split(req, OnnxModel.load(req.model()).inputs());
        List<SampleRef> evalSet = split == null ? List.of() : split.evaluation();
        if (evalSet.isEmpty()) return;
        progress.note("tensorrt: measuring " + plan.getFileName() + " against the float model on " + evalSet.size()
                + " held-out samples");
        int threads = Runtime.getRuntime().availableProcessors();
        try (ModelSession ref = OrtModelSession.open(req.model(), threads);
             ModelSession engine = TensorRtSession.open(plan)) {
            Map<String, Map<String, Object>> f = FidelityEvaluation.run(ref, engine, evalSet, req.preprocessing(),
                    req.fidelityMetrics(), 1, progress);
            if (report.containsKey("fidelity")) report.put("fidelity_onnxruntime_cpu", report.get("fidelity"));
            report.put("fidelity", f);
            report.put("fidelity_measured_in", "TensorRT (" + plan.getFileName() + ") against the float model in "
                    + "ONNX Runtime");
        }
    }

    private Path buildEngine(EngineBuildConfig cfg, DeviceInfo device, boolean fp16KeepsFloat32,
                             Map<String, Object> trt, List<Artifact> artifacts) {
        Path out = req.outputDir();
        trt.put("device", device.toMap());
        BuildPlan plan = BuildPlan.select(cfg, device, fp16KeepsFloat32);
        plan.notes().forEach(n -> progress.note("tensorrt: " + n));
        trt.put("plan", plan.toMap());
        Path onnxIn = switch (plan.input()) {
            case QDQ_MODEL -> out.resolve(QDQ_MODEL);
            case CALIBRATED_FLOAT_MODEL -> out.resolve(FLOAT_MODEL);
            case FP16_MODEL -> out.resolve(FP16_MODEL);
            case SOURCE_MODEL -> req.model();
        };
        String planName = switch (plan.precision()) {
            case "int8" -> plan.calibrator() ? "model.implicit.plan" : "model.int8.plan";
            default -> "model." + plan.precision() + ".plan";
        };
        Path planFile = out.resolve(planName);
        TrtEntropyCalibrator calibrator = plan.calibrator() ? calibrator(cfg, device, onnxIn) : null;
        progress.begin("building the TensorRT engine " + planName + " on " + device.gpuName(), 0);
        TensorRtNative.Built built;
        try {
            built = TensorRtNative.build(onnxIn, cfg, plan, calibrator, planFile);
        } finally {
            if (calibrator != null) calibrator.release();
            progress.end();
        }
        if (calibrator != null && calibrator.cacheWritten()) {
            artifacts.add(Artifact.of("tensorrt cache written by TensorRT", out.resolve(TRT_CACHE)));
        }
        String quantization = !plan.precision().equals("int8") ? "none" : plan.calibrator() ? "implicit" : "explicit";
        EngineMetadata meta = new EngineMetadata(device.tensorrt().toString(), device.gpuName(),
                device.computeCapability(), plan.precision(), quantization,
                plan.precision().equals("int8") ? req.calibrator().method().id() : null, Hashing.sha256(req.model()),
                Hashing.sha256(onnxIn), Hashing.sha256(planFile),
                cfg.dlaCore().isPresent() ? cfg.dlaCore().getAsInt() : null, Instant.now().toString());
        Path sidecar = EngineMetadata.sidecarOf(planFile);
        meta.write(sidecar);
        artifacts.add(Artifact.of("tensorrt engine", planFile));
        artifacts.add(Artifact.of("tensorrt engine sidecar", sidecar));
        trt.put("engine_built", true);
        trt.put("engine", planFile.toString());
        trt.put("build_seconds", built.seconds());
        trt.put("builder_log", built.log());
        return planFile;
    }

    /** The calibrator for the implicit path: our cache (re-headed for this TensorRT) and the calibration samples. */
    private TrtEntropyCalibrator calibrator(EngineBuildConfig cfg, DeviceInfo device, Path floatModel) {
        Path cache = req.outputDir().resolve(CACHE);
        TensorRtCache.Contents contents = TensorRtCache.read(cache);
        String header = device.tensorrt().cacheHeaderVersion();
        if (!header.equals(contents.version())) {
            progress.note("tensorrt: " + CACHE + " says TensorRT " + contents.version() + "; the calibrator hands "
                    + "TensorRT " + device.tensorrt() + " the same ranges under its own header (" + header + ")");
        }
        byte[] bytes = TensorRtCache.format(contents.table(), header, TensorRtCache.ENTROPY_CALIBRATION_2)
                .getBytes(StandardCharsets.UTF_8);
        List<TensorInfo> modelInputs = OnnxModel.load(floatModel).inputs();
        DataSplit split = RequestData.split(req, modelInputs);
        if (split == null || split.calibration().isEmpty()) {
            throw new QuantbridgeException("tensorrt: the implicit path needs the calibration samples (--calib)");
        }
        List<SampleRef> samples = split.calibration();
        List<CalibrationBatches.Input> bindings = new ArrayList<>();
        for (TensorInfo in : modelInputs) {
            long[] shape = cfg.profiles().stream().filter(p -> p.input().equals(in.name())).findFirst()
                    .map(ShapeProfile::opt).orElse(in.shape());
            bindings.add(new CalibrationBatches.Input(in.name(), shape));
        }
        CalibrationBatches batches = new CalibrationBatches(bindings, samples.size(),
                i -> SampleSource.load(samples.get(i), modelInputs, req.preprocessing()),
                CalibrationBatches.LastBatch.DROP);
        return new TrtEntropyCalibrator(batches, bytes, req.outputDir().resolve(TRT_CACHE));
    }
}
