package io.quantbridge.openvino;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.Progress;
import io.quantbridge.data.DataSplit;
import io.quantbridge.data.Layout;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.data.SampleRef;
import io.quantbridge.data.SampleSource;
import io.quantbridge.eval.FidelityEvaluation;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.Uint8Activations;
import io.quantbridge.onnx.backend.OnnxBackend;
import io.quantbridge.request.Artifact;
import io.quantbridge.request.IoType;
import io.quantbridge.request.Precision;
import io.quantbridge.request.QuantizationRequest;
import io.quantbridge.request.RequestData;
import io.quantbridge.request.QuantizationResult;
import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.tensor.TensorInfo;
import io.quantbridge.util.AtomicFiles;
import io.quantbridge.util.Hashing;
import io.quantbridge.util.InputFiles;
import io.quantbridge.util.Json;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * One run of the openvino backend. The onnx backend calibrates and writes the Q/DQ model (or the FP16 model), the
 * calibration table and the TensorRT cache; OpenVINO then reads that model (its ONNX front end turns Q/DQ pairs into
 * FakeQuantize), compiles it for the CPU and exports the compiled model ({@code model.int8.blob}) with a sidecar
 * JSON ({@code model.int8.blob.json}: OpenVINO version, device, CPU features). Fidelity is measured in OpenVINO:
 * the exported model, imported again, against the float model compiled with float32 inference, on the held-out
 * samples.
 *
 * <p>Float layers run in float32 for int8 models ({@code INFERENCE_PRECISION_HINT=f32}); FP16 models compute in f16
 * where the CPU has FP16 arithmetic (AVX-512 FP16 / AMX-FP16), else in f32 from their FP16 weights.
 */
final class OpenVinoQuantization {
    static final String INT8_BLOB = "model.int8.blob";
    static final String FP16_BLOB = "model.fp16.blob";


    private final QuantizationRequest req;
    /** The request's preprocessing fitted to the model input (layout, gray): what images become. */
    private Preprocessing pre;
    private final Progress progress;
    private final int threads;

    OpenVinoQuantization(QuantizationRequest req, Progress progress) {
        this.req = req;
        this.progress = progress;
        this.threads = req.threads() > 0 ? req.threads() : Runtime.getRuntime().availableProcessors();
    }

    /**
     * Why this backend refuses {@code req} before any work, in the words {@code quantize} fails with: a target other
     * than cpu, {@code --layers}, {@code --io int8}, a model that is not ONNX, and preprocessing that feeds more than
     * one input shape ({@code --resize fit}; {@code --resize height} on a model of dynamic width, which needs the
     * model's inputs: read from the file only then). Empty when it takes the request, or cannot tell (a model it
     * cannot load: quantize says why).
     */
    static Optional<String> refusal(QuantizationRequest req) {
        Optional<String> options = optionRefusal(req);
        if (options.isPresent()) return options;
        Preprocessing.Resize resize = req.preprocessing().resize();
        if (resize == Preprocessing.Resize.FIT) return resizeRefusal(req.preprocessing());
        if (resize != Preprocessing.Resize.HEIGHT) return Optional.empty();
        try {
            return resizeRefusal(SampleSource.resolve(OnnxModel.load(req.model()).inputs(), req.preprocessing()));
        } catch (RuntimeException e) {
            return Optional.empty();
        }
    }

    /** What {@link #refusal} finds in the options alone. */
    private static Optional<String> optionRefusal(QuantizationRequest req) {
        if (req.target().isPresent() && !req.target().get().trim().equalsIgnoreCase("cpu")) {
            return Optional.of("openvino: --target " + req.target().get() + " is not supported (targets: cpu)");
        }
        if (req.layerErrors() > 0) {
            // the onnx backend calibrates here without the evaluation data (fidelity is measured in OpenVINO), and the
            // layer comparison runs in ONNX Runtime: it belongs to the onnx backend's run of the same Q/DQ model
            return Optional.of("openvino: --layers is not offered here (it compares in ONNX Runtime); "
                    + "--backend onnx --target openvino with the same options writes the same Q/DQ model and reports it");
        }
        if (req.io() == IoType.INT8) {
            return Optional.of("openvino: --io int8 is not supported: OpenVINO's compiled models keep "
                    + "float inputs and outputs (the int8 layers quantize inside)");
        }
        if (!req.model().getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".onnx")) {
            return Optional.of("openvino: quantize takes an ONNX model, not " + req.model().getFileName());
        }
        return Optional.empty();
    }

    /** Preprocessing that feeds more than one input shape, which a model compiled for one shape cannot take. */
    private static Optional<String> resizeRefusal(Preprocessing pre) {
        if (pre.resize() == Preprocessing.Resize.FIT) {
            return Optional.of("openvino: --resize fit feeds each image at its own size, and the backend"
                    + " compiles the model for one input shape (OpenVINO 2026.4 failed to run exported models with a"
                    + " dynamic height or width); --backend onnx --target openvino writes the same Q/DQ model, or give"
                    + " one size with --resize crop, pad or stretch");
        }
        if (pre.widenLines()) {
            return Optional.of("openvino: --resize height feeds text lines wider than --size at their own"
                    + " width, as the model's width is dynamic, and the backend compiles the model for one input shape"
                    + " (OpenVINO 2026.4 failed to run exported models with a dynamic width); --backend onnx --target"
                    + " openvino writes the same Q/DQ model, or --resize pad gives one size");
        }
        return Optional.empty();
    }

    QuantizationResult run() {
        OpenVinoRuntime rt = OpenVinoRuntime.get();
        String device = OpenVinoSession.DEVICE;
        InputFiles.require(req.model(), "model");
        optionRefusal(req).ifPresent(why -> {
            throw new QuantbridgeException(why);
        });
        OnnxModel source = OnnxModel.load(req.model());
        pre = SampleSource.resolve(source.inputs(), req.preprocessing());
        resizeRefusal(pre).ifPresent(why -> {
            throw new QuantbridgeException(why);
        });
        DataSplit split = RequestData.split(req, source.inputs());
        // inputs that declare no rank take the calibration data's, as in the written models: OpenVINO's ONNX reader
        // cannot convert a Conv on an input of unknown rank
        Map<String, Integer> ranks = OnnxBackend.inputRanksFromData(source, split, pre);
        byte[] ranked = ranks.isEmpty() ? null : source.withInputRanks(ranks).toBytes();
        // OpenVINO must read the float model before calibration is spent on its quantized twin
        if (ranked == null) {
            OpenVinoSession.checkReadable(req.model());
        } else {
            OpenVinoSession.checkReadable(ranked, req.model().getFileName().toString());
        }
        List<TensorInfo> modelInputs = ranked == null ? source.inputs() : source.withInputRanks(ranks).inputs();
        long[] staticShape = staticInputShape(modelInputs, pre);
        if (split != null) RequestData.checkEvaluation(split.evaluation(), modelInputs, pre);
        if (staticShape == null) staticShape = sampleShape(modelInputs, split, pre);

        // on an x86 CPU without VNNI, OpenVINO's int8 kernels need uint8 activations and 7-bit weights
        boolean noInt8Dot = req.precision() == Precision.INT8 && CpuFeatures.x86WithoutInt8Dot();
        QuantizationRequest.Builder forOnnx = req.toBuilder().evaluationData(null).target("openvino");
        if (noInt8Dot && req.reduceRange().isEmpty()) forOnnx.reduceRange(true);
        // calibration, Q/DQ (or FP16) model, table and cache: the onnx backend, without its ONNX Runtime evaluation
        QuantizationResult onnx = new OnnxBackend().quantize(forOnnx.build(), progress);
        checkSameCalibration(split, onnx.report());
        Path converted = onnx.artifact("model").map(Artifact::path)
                .orElseThrow(() -> new IllegalStateException("the onnx backend wrote no model"));

        Map<String, Object> ov = new LinkedHashMap<>();
        if (noInt8Dot) {
            Uint8Activations.Result u8 = Uint8Activations.apply(OnnxModel.load(converted));
            AtomicFiles.write(converted, u8.model().toBytes());
            String why = "this CPU has no VNNI (" + CpuFeatures.describe().get("flags") + "): OpenVINO's int8 kernels"
                    + " computed garbage for int8 activations here (ppocr-det cosine 0.15), so activations are uint8"
                    + " with zero point 128 (the same grid) and weights 7-bit";
            Map<String, Object> rewrite = new LinkedHashMap<>();
            rewrite.put("activation_zero_points_uint8", u8.zeroPoints());
            rewrite.put("weight_codes", req.reduceRange().orElse(true) ? List.of(-64, 64) : List.of(-127, 127));
            rewrite.put("why", why);
            ov.put("no_vnni_layout", rewrite);
            progress.note("openvino: " + why);
        }
        ov.put("version", rt.version);
        ov.put("library", rt.library.toString());
        ov.put("device", device);
        ov.put("full_device_name", strip(rt.deviceProperty(device, "FULL_DEVICE_NAME")));
        String caps = strip(rt.deviceProperty(device, "OPTIMIZATION_CAPABILITIES"));
        ov.put("optimization_capabilities", caps == null ? List.of() : List.of(caps.split("\\s+")));
        String hint = "f32";
        if (req.precision() == Precision.FP16) {
            List<?> beyond = OnnxBackend.fp16Float32Tensors(onnx.report());
            if (!beyond.isEmpty()) {
                // the hint would compute every layer in f16, the ones the FP16 model keeps float32 included
                progress.note("openvino: " + beyond.size() + " tensor(s) exceed the float16 range on the calibration "
                        + "data; the FP16 model computes in f32 (the f16 precision hint would overflow them)");
            } else if (caps != null && List.of(caps.split("\\s+")).contains("FP16")) {
                hint = "f16";
            } else {
                progress.note("openvino: this CPU has no FP16 arithmetic; the FP16 model computes in f32");
            }
        }
        ov.put("inference_precision_hint", hint);
        ov.put("input_shape", staticShape == null ? "dynamic" : toList(staticShape));

        OpenVinoSession.Options options = OpenVinoSession.Options.defaults()
                .withProperty(OpenVinoSession.INFERENCE_PRECISION, hint).withInputShape(staticShape);
        Path blob = req.outputDir().resolve(req.precision() == Precision.FP16 ? FP16_BLOB : INT8_BLOB);
        progress.begin("compiling " + converted.getFileName() + " with OpenVINO for " + device, 0);
        long t0 = System.nanoTime();
        OpenVinoSession.Names names;
        try (OpenVinoSession compiled = OpenVinoSession.open(converted, options)) {
            ov.put("compile_seconds", (System.nanoTime() - t0) / 1e9);
            names = new OpenVinoSession.Names(compiled.inputs().stream().map(TensorInfo::name).toList(),
                    compiled.outputs().stream().map(TensorInfo::name).toList());
            ov.put("execution_devices", compiled.propertyOrNull("EXECUTION_DEVICES"));
            compiled.export(blob);
        }
        progress.end();

        List<Artifact> artifacts = new ArrayList<>();
        for (Artifact a : onnx.artifacts()) artifacts.add(a.path().equals(converted) ? Artifact.of(a.kind(), a.path()) : a);
        Map<String, Map<String, Object>> fidelity = Map.of();
        List<SampleRef> evalSet = split == null ? List.of() : split.evaluation();
        // the exported model, imported as a user would, profiled for the precision each layer ran in
        try (OpenVinoSession deployed = OpenVinoSession.open(blob, options.withProfiling(true), names)) {
            ov.put("runtime_model", deployed.runtimeModel());
            List<OpenVinoSession.Layer> layers = deployed.profile(deployed.zeros(req.preprocessing().width() > 0 ? req.preprocessing().width() : 640));
            Map<String, Object> summary = OpenVinoInspector.summary(layers);
            ov.put("runtime_layers", summary);
            progress.note("openvino: " + summary.get("int8_compute_layers") + " of " + summary.get("compute_layers")
                    + " convolution/matmul layers run in int8 (" + summary.get("int8_layers") + " of "
                    + summary.get("executed_layers") + " executed layers)");
            if (!evalSet.isEmpty()) {
                OpenVinoSession.Options reference = OpenVinoSession.Options.defaults().withInputShape(staticShape);
                try (OpenVinoSession ref = ranked == null ? OpenVinoSession.open(req.model(), reference)
                        : OpenVinoSession.compile(ranked, req.model().getFileName().toString(), reference)) {
                    fidelity = FidelityEvaluation.run(ref, deployed, evalSet, req.preprocessing(),
                            req.fidelityMetrics(), threads,
                            progress);
                    ov.put("latency_ms", latency(ref, deployed, SampleSource.load(evalSet.get(0), ref.inputs(),
                            req.preprocessing())));
                }
            }
        }

        Path sidecar = BlobSidecar.of(blob);
        AtomicFiles.writeString(sidecar, Json.write(sidecar(blob, converted, ov, names)));
        artifacts.add(Artifact.of("openvino compiled model", blob));
        artifacts.add(Artifact.of("openvino sidecar", sidecar));

        Map<String, Object> report = new LinkedHashMap<>(onnx.report());
        report.put("backend", "openvino");
        report.put("target", "cpu");
        if (split != null) report.put("data_split", split.toMap());
        report.put("fidelity", fidelity);
        report.put("fidelity_measured_in", "OpenVINO " + rt.version + " on " + device + ": " + blob.getFileName()
                + " against the float model (INFERENCE_PRECISION_HINT=f32)");
        report.put("openvino", ov);
        report.put("artifacts", artifacts.stream().map(Artifact::toMap).toList());
        return new QuantizationResult("openvino", artifacts, onnx.table(), report);
    }

    /**
     * The static input shape to compile for: the model's only input with its dynamic dimensions filled (batch 1,
     * 3 channels, height and width from --size), or null to keep the model as it is (already static, several
     * inputs, not an image, or no size given).
     */
    static long[] staticInputShape(List<TensorInfo> inputs, Preprocessing pre) {
        if (inputs.size() != 1) return null;
        long[] s = inputs.get(0).shape();
        if (s.length != 4 || Arrays.stream(s).allMatch(d -> d > 0)) return null;
        boolean nchw = pre.layout() == Layout.NCHW;
        int c = nchw ? 1 : 3;
        int h = nchw ? 2 : 1;
        int w = nchw ? 3 : 2;
        long[] out = s.clone();
        if (out[0] < 0) out[0] = 1;
        if (out[c] < 0) out[c] = 3;
        if (out[h] < 0) out[h] = pre.height();
        if (out[w] < 0) out[w] = pre.width();
        return Arrays.stream(out).allMatch(d -> d > 0) ? out : null;
    }


    /**
     * A single input with dynamic dimensions and no --size to fill them (e.g. .npy samples of a text recogniser whose
     * width varies): the shape of the first calibration sample, where the model's static dimensions agree with it.
     * OpenVINO 2026.4's CPU plugin failed to run an exported model that was compiled with a dynamic width (ppocr-rec:
     * a Concat shape check in the imported model) while the same model compiled statically runs.
     */
    static long[] sampleShape(List<TensorInfo> inputs, DataSplit split, Preprocessing pre) {
        if (inputs.size() != 1 || split == null || split.calibration().isEmpty()) return null;
        long[] s = inputs.get(0).shape();
        if (Arrays.stream(s).allMatch(d -> d > 0)) return null;
        FloatTensor first = SampleSource.load(split.calibration().get(0), inputs, pre).get(inputs.get(0).name());
        if (first == null || first.shape().length != s.length) return null;
        for (int i = 0; i < s.length; i++) if (s[i] > 0 && s[i] != first.shape()[i]) return null;
        return first.shape().clone();
    }

    /** The onnx backend chose its calibration samples alone: they must be the ones this split calibrates on. */
    private static void checkSameCalibration(DataSplit split, Map<String, Object> onnxReport) {
        if (split == null || !(onnxReport.get("data_split") instanceof Map<?, ?> m)) return;
        Object ids = m.get("calibration");
        List<String> mine = split.calibration().stream().map(SampleRef::id).toList();
        if (ids instanceof List<?> l && !l.isEmpty() && !l.equals(mine)) {
            throw new IllegalStateException("the onnx backend calibrated on " + l + ", not on the split's " + mine);
        }
    }


    /** Median latency of the float and the exported model on one held-out sample (a few runs each). */
    private Map<String, Object> latency(OpenVinoSession ref, OpenVinoSession deployed, Map<String, FloatTensor> feed) {
        progress.begin("timing float and exported models in OpenVINO", 0);
        double f = median(ref, feed);
        double q = median(deployed, feed);
        progress.end();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("float", f);
        m.put(req.precision().id(), q);
        m.put("ratio", q / f);
        m.put("runs", 10);
        return m;
    }

    private static double median(OpenVinoSession s, Map<String, FloatTensor> feed) {
        for (int i = 0; i < 2; i++) s.run(feed);
        double[] ms = new double[10];
        for (int i = 0; i < ms.length; i++) {
            long t0 = System.nanoTime();
            s.run(feed);
            ms[i] = (System.nanoTime() - t0) / 1e6;
        }
        Arrays.sort(ms);
        return ms[ms.length / 2];
    }

    private Map<String, Object> sidecar(Path blob, Path converted, Map<String, Object> ov,
                                        OpenVinoSession.Names names) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("format", "OpenVINO compiled model (ov_compiled_model_export_model); load with ov_core_import_model "
                + "on the same device and OpenVINO version");
        m.put("file", blob.getFileName().toString());
        m.put("sha256", Hashing.sha256(blob));
        m.put("precision", req.precision().id());
        m.put("openvino_version", ov.get("version"));
        m.put("device", ov.get("device"));
        m.put("full_device_name", ov.get("full_device_name"));
        m.put("optimization_capabilities", ov.get("optimization_capabilities"));
        m.put("cpu", CpuFeatures.describe());
        m.put("inference_precision_hint", ov.get("inference_precision_hint"));
        m.put("input_shape", ov.get("input_shape"));
        // the ports' names, which OpenVINO may report otherwise (a tensor merged with another has both names)
        m.put("inputs", names.inputs());
        m.put("outputs", names.outputs());
        m.put("runtime_layers", ov.get("runtime_layers"));
        Map<String, Object> source = new LinkedHashMap<>();
        source.put("path", converted.getFileName().toString());
        source.put("sha256", Hashing.sha256(converted));
        m.put("compiled_from", source);
        Map<String, Object> original = new LinkedHashMap<>();
        original.put("path", req.model().toString());
        original.put("sha256", Hashing.sha256(req.model()));
        m.put("float_model", original);
        m.put("preprocessing", pre.toMap());
        m.put("created", Instant.now().toString());
        return m;
    }

    private static List<Long> toList(long[] a) {
        return Arrays.stream(a).boxed().toList();
    }

    private static String strip(String s) {
        return s == null ? null : s.strip();
    }

}
