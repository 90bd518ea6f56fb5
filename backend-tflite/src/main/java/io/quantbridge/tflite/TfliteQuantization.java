package io.quantbridge.tflite;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.ModelSession;
import io.quantbridge.backend.Progress;
import io.quantbridge.calib.CalibratorSpec;
import io.quantbridge.calib.EntropyClipping;
import io.quantbridge.calib.OutlierSamples;
import io.quantbridge.calib.TensorStatistics;
import io.quantbridge.data.DataFingerprint;
import io.quantbridge.data.DataSplit;
import io.quantbridge.data.Layout;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.data.SampleRef;
import io.quantbridge.data.SampleSource;
import io.quantbridge.eval.FidelityEvaluation;
import io.quantbridge.request.Artifact;
import io.quantbridge.request.Precision;
import io.quantbridge.request.QuantizationRequest;
import io.quantbridge.request.RequestData;
import io.quantbridge.request.QuantizationResult;
import io.quantbridge.table.CalibrationTable;
import io.quantbridge.table.PortableTableFormat;
import io.quantbridge.table.TensorRange;
import io.quantbridge.tensor.TensorInfo;
import io.quantbridge.util.AtomicFiles;
import io.quantbridge.util.Hashing;
import io.quantbridge.util.InputFiles;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.tensorflow.lite.schema.TensorT;

/** One run of the tflite backend: data, calibration in the interpreter, full-integer (or FP16) rewrite, report. */
final class TfliteQuantization {
    static final String INT8_MODEL = "model.int8.tflite";
    static final String FLOAT_MODEL = "model.fp32.tflite";
    static final String FP16_MODEL = "model.fp16.tflite";
    static final String DYNAMIC_MODEL = "model.dynamic.tflite";
    static final String TABLE = "calibration.json";
    static final String EDGETPU_LOG = "edgetpu_compiler.log";
    /** Calibration samples that fix the per-channel ranges of {@link ChannelEqualization}. */
    static final int EQUALIZATION_SAMPLES = 32;
    /** Table data key of tables calibrated on the equalized model. */
    static final String EQUALIZED_KEY = "tflite_equalized_pairs";

    private QuantizationRequest req; // its in-memory batches split for a dynamic-batch model, in run()
    private final Progress progress;
    private final Map<String, Object> report = new LinkedHashMap<>();
    private final List<Artifact> artifacts = new ArrayList<>();
    private final int threads;
    private final boolean edgeTpu;
    private Preprocessing pre;

    TfliteQuantization(QuantizationRequest req, Progress progress) {
        this.req = req;
        this.progress = progress;
        this.threads = req.threads() > 0 ? req.threads() : Runtime.getRuntime().availableProcessors();
        String target = req.target().map(t -> t.toLowerCase(Locale.ROOT)).orElse("cpu");
        if (!target.equals("cpu") && !target.equals("edgetpu")) {
            throw new QuantbridgeException("--target: the tflite backend targets cpu or edgetpu, not '"
                    + req.target().get() + "'");
        }
        this.edgeTpu = target.equals("edgetpu");
        if (edgeTpu && (req.floatLayers() > 0 || !req.keepFloat().isEmpty())) {
            throw new QuantbridgeException((req.floatLayers() > 0 ? "--float-layers" : "--keep-float") + ": --target "
                    + "edgetpu needs every op in int8 (a float op ends what the Edge TPU runs)");
        }
        if (req.reduceRange().isPresent()) {
            throw new QuantbridgeException("--reduce-range: only the ONNX-based backends (onnx, tensorrt, openvino) have"
                    + " it; TFLite's int8 kernels take full-range weights on every CPU");
        }
        if (req.empiricalBiasSamples() > 0) {
            throw new QuantbridgeException("--empirical-bias-correction: only the ONNX-based backends (onnx, tensorrt, "
                    + "openvino) have it");
        }
        // the two ways of setting int8 weights from calibration samples, on per-channel scales
        Map<String, String> weightFits = new LinkedHashMap<>();
        if (req.refitSamples() > 0) weightFits.put("--refit", "it refits the convs on calibration samples");
        if (req.gptqSamples() > 0) weightFits.put("--gptq", "it gathers its statistics in the calibration pass");
        for (Map.Entry<String, String> f : weightFits.entrySet()) {
            if (req.reuseTable().isPresent()) {
                throw new QuantbridgeException(f.getKey() + ": " + f.getValue() + ", which a reused --table skips;"
                        + " calibrate again");
            }
            if (edgeTpu || !req.perChannel()) {
                throw new QuantbridgeException(f.getKey() + ": it rounds on per-channel weight scales, and "
                        + (edgeTpu ? "--target edgetpu" : "--per-tensor") + " asks for per-tensor ones");
            }
        }
        if (req.center()) {
            throw new QuantbridgeException("--center: the tflite backend's int8 activations are asymmetric (a zero "
                    + "point per tensor), so one-sided tensors already use all their codes");
        }
        if (req.equalizeAlpha() != QuantizationRequest.DEFAULT_EQUALIZE_ALPHA
                || !req.equalizeAlphaCandidates().isEmpty()) {
            throw new QuantbridgeException("--equalize-alpha: the tflite backend equalizes only a conv and the "
                    + "depthwise conv that alone reads it, where the depthwise weights take any scale without loss; "
                    + "there is no migration strength to choose");
        }
    }

    QuantizationResult run() {
        Path modelFile = req.model();
        InputFiles.require(modelFile, "model");
        String sha = Hashing.sha256(modelFile);
        TfliteModel original = TfliteModel.load(modelFile);
        if (original.isQuantized()) {
            throw new QuantbridgeException("model " + modelFile + " is already quantized (it has int8/uint8 tensors"
                    + " with quantization parameters); give the float model");
        }
        new OpExcludes(req.excludes()).requireAllMatch(original, modelFile.getFileName().toString());
        if (edgeTpu && req.precision() != Precision.INT8) {
            throw new QuantbridgeException("--target edgetpu needs --precision int8: the Edge TPU runs only"
                    + " full-integer models");
        }
        // sparse weights (DENSIFY) become dense constants for every mode: the quantizers then see them as weights
        int operators = original.operators().size();
        int densified = SparseTensors.densify(original);
        // operators whose outputs nobody reads compute nothing the model gives; left in, an int8 LOGISTIC or TANH
        // among them aborted XNNPACK wherever the written model is loaded
        List<String> dead = original.removeDeadOperators();
        TfliteModel prepared = original.copy();
        int fp16Dropped = prepared.dequantizeFloat16Weights();
        InputFiles.createFolder(req.outputDir(), "--out");
        pre = preprocessingFor(prepared.inputs());
        report.put("backend", "tflite");
        report.put("precision", req.precision().id());
        report.put("calibrator", req.precision() == Precision.INT8 ? req.calibrator().toMap() : null);
        report.put("target", edgeTpu ? "edgetpu" : "cpu");
        report.put("io", req.io().id());
        Map<String, Object> modelInfo = new LinkedHashMap<>();
        modelInfo.put("path", modelFile.toString());
        modelInfo.put("sha256", sha);
        modelInfo.put("operators", operators);
        modelInfo.put("float16_weights_converted", fp16Dropped);
        if (!dead.isEmpty()) {
            modelInfo.put("unread_operators_removed", dead);
            progress.note(dead.size() + " operator(s) whose outputs nothing reads left out of the written model: "
                    + String.join(", ", dead));
        }
        if (densified > 0) {
            modelInfo.put("sparse_weights_densified", densified);
            progress.note(densified + " sparse weight tensor(s) made dense: the written model stores them dense");
        }
        modelInfo.put("inputs", original.inputs().stream().map(TensorInfo::toString).toList());
        modelInfo.put("outputs", original.outputs().stream().map(TensorInfo::toString).toList());
        report.put("model", modelInfo);
        report.put("preprocessing", pre.toMap());

        req = DynamicBatchSamples.split(req, original.inputs(), progress);
        DataSplit split = RequestData.split(req, original.inputs());
        if (split != null) report.put("data_split", split.toMap());
        if (split != null) RequestData.checkEvaluation(split.evaluation(), concreteBatch(original.inputs()), pre);

        Path candidate;
        CalibrationTable table = null;
        if (req.precision() == Precision.FP16) {
            candidate = fp16(prepared);
        } else if (req.precision() == Precision.DYNAMIC) {
            candidate = dynamicRange(original, prepared, modelFile, split);
        } else {
            Map.Entry<Path, CalibrationTable> r = int8(prepared, sha, split);
            candidate = r.getKey();
            table = r.getValue();
        }

        List<SampleRef> evalSet = split == null ? List.of() : split.evaluation();
        report.put("fidelity", evalSet.isEmpty() ? Map.of() : fidelity(modelFile, candidate, evalSet));
        if (req.layerErrors() > 0 && !evalSet.isEmpty()) {
            // the reference is the float model the int8 one was written from: the input model with its channels
            // equalized (bias corrections live in the int32 biases only, so it is the input model's function)
            List<TensorInfo> feedInputs = concreteBatch(prepared.inputs());
            report.put("layers", TfliteLayerErrors.compare(prepared, TfliteModel.load(candidate), evalSet.size(),
                    i -> SampleSource.load(evalSet.get(i), feedInputs, pre), Math.max(1, threads), progress)
                    .toMap(req.layerErrors()));
        }
        report.put("artifacts", artifacts.stream().map(Artifact::toMap).toList());
        return new QuantizationResult("tflite", artifacts, table, report);
    }

    /**
     * The request's preprocessing fitted to the model input ({@link SampleSource#resolve}): TFLite image models are
     * NHWC, so images are laid out NHWC when the request keeps the default NCHW (the report says so).
     */
    private Preprocessing preprocessingFor(List<TensorInfo> inputs) {
        Preprocessing p = SampleSource.resolve(inputs, req.preprocessing());
        if (p.layout() != req.preprocessing().layout()) {
            progress.note("model input " + inputs.get(0) + " is " + p.layout() + ": images are laid out " + p.layout());
        }
        return p;
    }



    /**
     * Loads a rewritten model in the interpreter before anything is saved, and returns how XNNPACK took it: a model
     * the interpreter refuses is not written (neither are the files that would go with it), so a failed run leaves
     * no unusable artifact behind. Mutated models (an activation declared INT16 that the float interpreter ran
     * anyway) reached this point.
     */
    private TfliteSession.Delegation loadsInTheInterpreter(byte[] bytes, Path destination, String what) {
        try (TfliteSession s = TfliteSession.open(bytes, destination.toString(), TfliteSession.Options.defaults(1))) {
            s.outputs();
            return s.delegation();
        } catch (QuantbridgeException e) {
            throw new QuantbridgeException("the " + what + " made from " + req.model() + " does not load in the"
                    + " TFLite interpreter, so nothing was written: " + e.getMessage(), e);
        }
    }

    private Path fp16(TfliteModel prepared) {
        progress.begin("converting weights to FP16", 0);
        OpExcludes excludes = new OpExcludes(req.excludes());
        int builtin = GraphRewrites.customTransposeConvToBuiltin(prepared, op -> excludes.match(prepared, op) != null)
                .size();
        // exact in float, and XNNPACK's float deconvolution is the slow part of MediaPipe's mask upsampling
        int depthToSpace = TransposeConvRewrites.toConvDepthToSpace(prepared, new java.util.HashMap<>(),
                op -> excludes.match(prepared, op) != null);
        int converted = Fp16Weights.convert(prepared);
        Path out = req.outputDir().resolve(FP16_MODEL);
        byte[] bytes = prepared.toBytes();
        loadsInTheInterpreter(bytes, out, "FP16 model");
        AtomicFiles.write(out, bytes);
        addArtifact("model", out);
        report.put("fp16", Map.of("converted_constants", converted, "custom_transpose_conv_to_builtin", builtin,
                "transpose_conv_to_conv_depth_to_space", depthToSpace));
        progress.end();
        return out;
    }

    /** Dynamic range: int8 weights for the ops with a hybrid kernel, float activations; no calibration. */
    private Path dynamicRange(TfliteModel original, TfliteModel prepared, Path modelFile, DataSplit split) {
        if (req.reuseTable().isPresent()) {
            throw new QuantbridgeException("--table: --precision dynamic does not calibrate, so it takes no"
                    + " calibration table");
        }
        List<TfliteGptq.Rounded> rounded = List.of();
        if (req.gptqSamples() > 0) {
            if (split == null || split.calibration().isEmpty()) {
                throw new QuantbridgeException("--gptq: GPTQ rounds from the input statistics of calibration samples;"
                        + " give them with --calib (--precision dynamic needs no other data)");
            }
            rounded = dynamicGptq(prepared, split.calibration());
        } else if (split != null && !split.calibration().isEmpty()) {
            progress.note("--precision dynamic does not calibrate, so the " + split.calibration().size()
                    + " --calib samples go unused; --gptq K rounds the int8 weights from K of them (Hessian-aware,"
                    + " usually far closer to the float model than nearest rounding)");
        }
        progress.begin("writing dynamic-range model (int8 weights, float activations)", 0);
        DynamicRangeQuantizer.Result result = DynamicRangeQuantizer.quantize(original, req.perChannel(),
                req.excludes(), false, rounded);
        gptqWritten(result.gptqRounded());
        if (result.hybrid().isEmpty()) {
            throw new QuantbridgeException("--precision dynamic: model " + modelFile + " has no CONV_2D,"
                    + " DEPTHWISE_CONV_2D or FULLY_CONNECTED with constant float weights, so nothing would change"
                    + (result.floatOps().isEmpty() ? "" : " (" + result.floatOps().stream()
                    .map(k -> k.name() + ": " + k.reason()).toList() + ")"));
        }
        Path out = req.outputDir().resolve(DYNAMIC_MODEL);
        byte[] bytes = result.model().toBytes();
        TfliteSession.Delegation delegation = loadsInTheInterpreter(bytes, out, "dynamic-range model");
        AtomicFiles.write(out, bytes);
        addArtifact("model", out);
        progress.end();
        report.put("xnnpack", delegation.toMap());
        progress.note("dynamic-range model in the interpreter: XNNPACK " + delegation);
        Map<String, Object> d = result.toMap();
        d.put("per_channel_weights", req.perChannel());
        try {
            long before = Files.size(modelFile);
            long after = Files.size(out);
            Map<String, Object> size = new LinkedHashMap<>();
            size.put("float_model_bytes", before);
            size.put("dynamic_model_bytes", after);
            size.put("ratio", (double) after / before);
            d.put("size", size);
        } catch (IOException e) {
            throw new QuantbridgeException("cannot read back " + out + ": " + e.getMessage(), e);
        }
        report.put("dynamic_range", d);
        for (DynamicRangeQuantizer.Kept k : result.floatOps()) {
            progress.note("kept in float: " + k.name() + ": " + k.reason());
        }
        return out;
    }

    private Map.Entry<Path, CalibrationTable> int8(TfliteModel prepared, String sha, DataSplit split) {
        CalibratorSpec spec = req.calibrator();
        Map<String, Object> equalization = new LinkedHashMap<>();
        if (req.reuseTable().isEmpty() && req.equalize() && split != null && !split.calibration().isEmpty()) {
            List<SampleRef> calib = split.calibration();
            List<TensorInfo> feedInputs = concreteBatch(prepared.inputs());
            ChannelEqualization.Result eq = ChannelEqualization.apply(prepared,
                    Math.min(calib.size(), EQUALIZATION_SAMPLES), i -> SampleSource.load(calib.get(i), feedInputs, pre),
                    progress);
            equalization = eq.toMap();
        } else {
            equalization.put("pairs", 0);
            equalization.put("reason", req.reuseTable().isPresent() ? "a reused table describes the model as"
                    + " calibrated" : "--no-equalize");
        }
        TfliteObserver observer = new TfliteObserver(prepared, spec, threads);
        Map<Integer, String> keys = observer.keys();
        CalibrationTable table;
        Map<String, Object> calibration = new LinkedHashMap<>();
        Map<Integer, float[]> inputMeans = Map.of();
        List<TfliteGptq.Rounded> rounded = List.of();
        long t0 = System.nanoTime();
        if (req.reuseTable().isPresent()) {
            Path tablePath = req.reuseTable().get();
            table = PortableTableFormat.read(tablePath);
            if (table.data().containsKey(EQUALIZED_KEY)) {
                throw new QuantbridgeException("--table " + tablePath + ": it was calibrated on the channel-equalized"
                        + " model (" + table.data().get(EQUALIZED_KEY) + " pairs), whose ranges do not fit the model as"
                        + " given; calibrate again, or reuse a table made with --no-equalize");
            }
            List<String> diffs = table.checkReusableFor(sha, spec, req.ignoreTableMismatch());
            calibration.put("reused_table", tablePath.toString());
            calibration.put("table_differences", diffs);
            calibration.put("samples", table.data().getOrDefault("samples", 0));
        } else {
            if (split == null || split.calibration().isEmpty()) {
                throw new QuantbridgeException("--calib: no calibration samples");
            }
            List<SampleRef> calib = split.calibration();
            List<TensorInfo> inputs = prepared.inputs();
            List<TensorInfo> feedInputs = concreteBatch(inputs);
            TfliteGptq.Plan plan = null;
            TfliteObserver.GptqRequest gptq = null;
            if (req.gptqSamples() > 0) {
                plan = TfliteGptq.plan(prepared);
                gptq = new TfliteObserver.GptqRequest(plan, req.seed(), spread(calib.size(), req.gptqSamples()));
            }
            TfliteObserver.Observation seen = observer.observe(calib.size(),
                    i -> SampleSource.load(calib.get(i), feedInputs, pre), progress,
                    req.biasCorrection() ? weightedInputs(prepared, keys) : Set.of(), gptq);
            TensorStatistics stats = seen.statistics();
            inputMeans = seen.channelMeans();
            if (gptq != null) rounded = gptqRound(prepared, plan, seen.gptq(), gptq.samples().size());
            progress.begin("computing " + spec.method().id() + " ranges", 0);
            Map<String, TensorRange> byName = new HashMap<>();
            for (TensorRange r : stats.ranges(spec)) byName.put(r.name(), r);
            List<TensorRange> ordered = new ArrayList<>();
            for (String k : keys.values()) {
                TensorRange r = byName.get(k);
                if (r != null && Double.isFinite(r.min())) ordered.add(r);
            }
            progress.end();
            Map<String, Object> data = new LinkedHashMap<>(DataFingerprint.tableData(calib, pre, req.seed()));
            int pairs = ((Number) equalization.get("pairs")).intValue();
            if (pairs > 0) data.put(EQUALIZED_KEY, pairs);
            table = new CalibrationTable(sha, spec, data, ordered);
            calibration.put("samples", calib.size());
            OutlierSamples.record(stats, ordered, calib.stream().map(SampleRef::id).toList(), calibration);
            EntropyClipping.record(stats, spec, ordered, calibration);
        }
        calibration.put("seconds", (System.nanoTime() - t0) / 1e9);
        calibration.put("tensors", table.tensors().size());
        calibration.put("threads", threads);
        calibration.put("range_rule", "[max(min, -amax), min(max, amax)] widened to include 0, asymmetric int8");
        report.put("calibration", calibration);
        report.put("equalization", equalization);

        Map<Integer, double[]> ranges = new HashMap<>();
        for (Map.Entry<Integer, String> e : keys.entrySet()) {
            TensorRange r = table.get(e.getValue()).orElse(null);
            if (r == null) continue;
            double lo = Double.isFinite(r.min()) ? Math.max(r.min(), -r.amax()) : -r.amax();
            double hi = Double.isFinite(r.max()) ? Math.min(r.max(), r.amax()) : r.amax();
            ranges.put(e.getKey(), new double[] {lo, hi});
        }

        IntegerQuantizer.Options opts = new IntegerQuantizer.Options(req.perChannel() && !edgeTpu, req.io(),
                req.excludes(), !edgeTpu, !edgeTpu, Map.of());
        Map<String, Object> spread = opts.perChannel() ? null : WeightSpread.summary(WeightSpread.analyze(prepared));
        opts = floatLayers(prepared, ranges, opts, inputMeans, rounded, split);
        if (req.refitSamples() > 0) refit(prepared, ranges, opts, inputMeans, split.calibration());
        progress.begin("writing full-integer model", 0);
        IntegerQuantizer.Result result = IntegerQuantizer.quantize(prepared, ranges, opts, inputMeans, rounded);
        gptqWritten(result.gptqRounded());
        report.put("bias_correction", req.biasCorrection() && req.reuseTable().isEmpty()
                ? Map.of("ops", result.biasCorrected(), "samples", split.calibration().size())
                : Map.of("ops", 0, "reason", req.biasCorrection() ? "a reused table comes without the channel means"
                        + " (calibrate again to correct biases)" : "--no-bias-correction"));
        TfliteModel out = result.model();
        if (edgeTpu) makeStatic(out);
        EdgeTpu.Report edge = EdgeTpu.analyze(out);
        if (edgeTpu) checkEdgeTpu(edge, result);
        Path modelOut = req.outputDir().resolve(INT8_MODEL);
        byte[] bytes = out.toBytes();
        TfliteSession.Delegation delegation = loadsInTheInterpreter(bytes, modelOut, "full-integer model");
        AtomicFiles.write(modelOut, bytes);
        addArtifact("model", modelOut);
        Path tableOut = req.outputDir().resolve(TABLE);
        PortableTableFormat.write(tableOut, table);
        addArtifact("calibration table", tableOut);
        if (((Number) equalization.get("pairs")).intValue() > 0 || req.refitSamples() > 0) {
            // the float model the int8 one was written from (what the table's ranges describe, and the reference for
            // eval --layers: its equalized channels differ from the input model's by their scales)
            Path floatOut = req.outputDir().resolve(FLOAT_MODEL);
            AtomicFiles.write(floatOut, prepared.toBytes());
            addArtifact(req.refitSamples() > 0 ? "refitted float model" : "equalized float model", floatOut);
        }
        progress.end();
        report.put("xnnpack", delegation.toMap());
        progress.note("int8 model in the interpreter: XNNPACK " + delegation);
        report.put("quantized_nodes", result.quantizedOps());
        report.put("float_nodes", result.floatOps().size());
        Map<String, Object> q = result.toMap();
        q.put("per_channel_weights", opts.perChannel());
        if (spread != null) {
            q.put("per_tensor_weight_spread", spread);
            int flagged = (Integer) spread.get("flagged_ops");
            if (flagged > 0) {
                @SuppressWarnings("unchecked")
                Map<String, Object> w = ((List<Map<String, Object>>) spread.get("widest")).get(0);
                double x = (Double) w.get("max_over_median");
                String widest = w.get("output").toString();
                progress.note(String.format(java.util.Locale.ROOT, "per-tensor weights: %d of %s weighted ops have a"
                        + " median output channel %.0fx or more below their largest (widest: #%s %s (%s) %.0fx; see"
                        + " report.json quantization.per_tensor_weight_spread)%s", flagged, spread.get("weighted_ops"),
                        WeightSpread.FLAG, w.get("index"), w.get("op"), widest.substring(widest.lastIndexOf(';') + 1), x,
                        x >= WeightSpread.SEVERE ? ". One int8 scale leaves such channels almost no levels: expect"
                        + " large errors (pose-lite: landmarks cosine 0.83 against 0.99 with per-channel weights)"
                        : ""));
            }
        }
        report.put("quantization", q);
        report.put("edgetpu", edge.toMap());
        for (IntegerQuantizer.FloatOp f : result.floatOps()) {
            progress.note("kept in float: #" + f.index() + " " + f.op() + " (" + f.output() + "): " + f.reason());
        }
        if (edgeTpu) compileForEdgeTpu(modelOut);
        return Map.entry(modelOut, table);
    }

    /**
     * {@code --float-layers} (the search, {@link TfliteFloatLayers}) and {@code --keep-float}: the options with the
     * chosen or given ops kept float, and the report's {@code float_layers}; {@code opts} as they are without either.
     */
    private IntegerQuantizer.Options floatLayers(TfliteModel prepared, Map<Integer, double[]> ranges,
                                                 IntegerQuantizer.Options opts, Map<Integer, float[]> inputMeans,
                                                 List<TfliteGptq.Rounded> rounded, DataSplit split) {
        if (req.floatLayers() == 0 && req.keepFloat().isEmpty()) return opts;
        IntegerQuantizer.Result allInt8 = IntegerQuantizer.quantize(prepared, ranges, opts, inputMeans, rounded);
        if (req.floatLayers() == 0) {
            List<String> keep = TfliteFloatLayers.given(allInt8, req.keepFloat());
            report.put("float_layers", Map.of("given", keep));
            return opts.withKeepFloat(keep, TfliteFloatLayers.GIVEN_REASON);
        }
        List<SampleRef> calib = split == null ? List.of() : split.calibration();
        List<TensorInfo> feedInputs = concreteBatch(prepared.inputs());
        List<Map<String, io.quantbridge.tensor.FloatTensor>> feeds = new ArrayList<>();
        for (int i : spread(calib.size(), req.sensitivitySamples())) {
            feeds.add(SampleSource.load(calib.get(i), feedInputs, pre));
        }
        io.quantbridge.eval.SensitivitySearch.Outcome fl = TfliteFloatLayers.search(prepared, allInt8,
                keep -> IntegerQuantizer.quantize(prepared, ranges,
                        opts.withKeepFloat(keep, TfliteFloatLayers.SEARCH_REASON), inputMeans, rounded).model(),
                feeds, req.floatLayers(), threads, progress);
        report.put("float_layers", fl.toMap(req.floatLayers()));
        progress.note(fl.chosen().isEmpty() ? "float-layer search: no op gains by staying float"
                : String.format(Locale.ROOT, "float-layer search: %d op(s) stay float (score %.4f -> %.4f on %d"
                        + " calibration samples; report.json float_layers)", fl.chosen().size(), fl.baseline(),
                        fl.result(), fl.samples()));
        return opts.withKeepFloat(fl.chosen(), TfliteFloatLayers.SEARCH_REASON);
    }

    /**
     * Refits the quantized CONV_2D and DEPTHWISE_CONV_2D ops of {@code prepared} ({@link TfliteRefit}) on K calibration
     * samples spread over the set, and puts the {@code refit} entry in the report.
     */
    private void refit(TfliteModel prepared, Map<Integer, double[]> ranges, IntegerQuantizer.Options opts,
                       Map<Integer, float[]> inputMeans, List<SampleRef> calib) {
        long t0 = System.nanoTime();
        List<TensorInfo> feedInputs = concreteBatch(prepared.inputs());
        List<Map<String, io.quantbridge.tensor.FloatTensor>> feeds = new ArrayList<>();
        for (int i : spread(calib.size(), req.refitSamples())) {
            feeds.add(SampleSource.load(calib.get(i), feedInputs, pre));
        }
        Set<Integer> floatOps = new java.util.HashSet<>();
        for (IntegerQuantizer.FloatOp f : IntegerQuantizer.quantize(prepared, ranges, opts, inputMeans, List.of())
                .floatOps()) {
            floatOps.add(f.index());
        }
        TfliteRefit.Outcome outcome = TfliteRefit.refit(prepared,
                m -> IntegerQuantizer.quantize(m, ranges, opts, inputMeans, List.of()).model(), floatOps, feeds,
                req.seed(), threads, progress);
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("samples", feeds.size());
        r.put("positions_per_sample", TfliteRefit.POSITIONS);
        r.put("ridge", TfliteRefit.RIDGE);
        r.put("refitted_ops", outcome.steps().size());
        double before = 0;
        double after = 0;
        double power = 0;
        for (TfliteRefit.Step st : outcome.steps()) {
            before += st.errorBefore();
            after += st.errorAfter();
            power += st.targetPower();
        }
        r.put("relative_error_before", power > 0 ? before / power : 0.0);
        r.put("relative_error_after", power > 0 ? after / power : 0.0);
        r.put("ops", outcome.steps().stream().map(TfliteRefit.Step::toMap).toList());
        r.put("skipped", outcome.skipped());
        r.put("seconds", (System.nanoTime() - t0) / 1e9);
        report.put("refit", r);
        progress.note(String.format(Locale.ROOT, "refitted %d ops on %d samples: relative output error on them %.2e ->"
                + " %.2e (report.json refit; check the fidelity on data like the calibration samples)",
                outcome.steps().size(), feeds.size(), r.get("relative_error_before"), r.get("relative_error_after")));
    }

    /**
     * GPTQ for a dynamic-range model: one pass of the float model over K calibration samples spread over the set
     * gathers the input patches of the CONV_2D ops (the ops that get int8 weights; depthwise convs stay float).
     */
    private List<TfliteGptq.Rounded> dynamicGptq(TfliteModel prepared, List<SampleRef> calib) {
        List<Integer> chosen = new ArrayList<>(spread(calib.size(), req.gptqSamples()));
        TfliteGptq.Plan plan = TfliteGptq.plan(prepared, Set.of(org.tensorflow.lite.schema.BuiltinOperator.CONV_2D));
        List<TensorInfo> feedInputs = concreteBatch(prepared.inputs());
        TfliteObserver observer = new TfliteObserver(prepared,
                CalibratorSpec.of(io.quantbridge.calib.CalibrationMethod.MAX), threads);
        Set<Integer> all = spread(chosen.size(), chosen.size());
        TfliteObserver.Observation seen = observer.observe(chosen.size(),
                i -> SampleSource.load(calib.get(chosen.get(i)), feedInputs, pre), progress, Set.of(),
                new TfliteObserver.GptqRequest(plan, req.seed(), all));
        return gptqRound(prepared, plan, seen.gptq(), chosen.size());
    }

    /** {@code k} sample indices spread evenly over {@code count} (all when k >= count). */
    static Set<Integer> spread(int count, int k) {
        Set<Integer> s = new java.util.TreeSet<>();
        int n = Math.min(count, k);
        for (int i = 0; i < n; i++) s.add((int) ((long) i * count / n));
        return s;
    }

    /** Rounds the planned ops from their statistics and puts the {@code gptq} entry in the report. */
    private List<TfliteGptq.Rounded> gptqRound(TfliteModel prepared, TfliteGptq.Plan plan,
                                               TfliteGptq.Statistics stats, int samples) {
        long t0 = System.nanoTime();
        progress.begin("rounding weights with GPTQ (" + plan.ops().size() + " ops)", 0);
        List<TfliteGptq.Rounded> rounded = TfliteGptq.round(prepared, stats, TfliteGptq.DAMP);
        progress.end();
        report.put("gptq", gptqReport(plan, rounded, samples, (System.nanoTime() - t0) / 1e9));
        return rounded;
    }

    /** Records in the report's {@code gptq} entry how many ops the writer gave the rounded codes. */
    @SuppressWarnings("unchecked")
    private void gptqWritten(int ops) {
        Object g = report.get("gptq");
        if (g != null) ((Map<String, Object>) g).put("written_ops", ops);
    }

    private static Map<String, Object> gptqReport(TfliteGptq.Plan plan, List<TfliteGptq.Rounded> rounded, int samples,
                                                  double seconds) {
        Map<String, Object> g = new LinkedHashMap<>();
        g.put("samples", samples);
        g.put("positions_per_sample", TfliteGptq.POSITIONS);
        g.put("damp", TfliteGptq.DAMP);
        g.put("rounded_ops", rounded.size());
        double nearest = 0;
        double gptq = 0;
        List<Double> ratios = new ArrayList<>();
        for (TfliteGptq.Rounded r : rounded) {
            nearest += r.nearestError();
            gptq += r.gptqError();
            if (r.nearestError() > 0) ratios.add(r.gptqError() / r.nearestError());
        }
        ratios.sort(null);
        g.put("output_error_vs_nearest", nearest > 0 ? gptq / nearest : 1.0);
        g.put("median_op_error_vs_nearest", ratios.isEmpty() ? 1.0 : ratios.get(ratios.size() / 2));
        Map<String, String> skipped = new LinkedHashMap<>(plan.skipped());
        Set<Integer> done = new java.util.HashSet<>();
        for (TfliteGptq.Rounded r : rounded) done.add(r.op().index());
        for (TfliteGptq.Op o : plan.ops()) {
            if (!done.contains(o.index())) skipped.put(o.label(), "no input patches: its input never had the shape"
                    + " the model declares");
        }
        g.put("skipped", skipped);
        g.put("seconds", seconds);
        return g;
    }

    /** The observed float tensors that CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED read (bias correction). */
    private static Set<Integer> weightedInputs(TfliteModel m, Map<Integer, String> observed) {
        Set<Integer> s = new java.util.HashSet<>();
        for (org.tensorflow.lite.schema.OperatorT op : m.operators()) {
            int code = m.builtinCode(op);
            if ((code == org.tensorflow.lite.schema.BuiltinOperator.CONV_2D
                    || code == org.tensorflow.lite.schema.BuiltinOperator.DEPTHWISE_CONV_2D
                    || code == org.tensorflow.lite.schema.BuiltinOperator.FULLY_CONNECTED)
                    && op.getInputs().length > 0 && observed.containsKey(op.getInputs()[0])) {
                s.add(op.getInputs()[0]);
            }
        }
        return s;
    }

    /** Inputs with a dynamic batch get batch 1, so that samples load into them. */
    private static List<TensorInfo> concreteBatch(List<TensorInfo> inputs) {
        List<TensorInfo> l = new ArrayList<>();
        for (TensorInfo t : inputs) {
            long[] s = t.shape();
            if (s.length > 0 && s[0] < 0) s[0] = 1;
            l.add(new TensorInfo(t.name(), t.elementType(), s));
        }
        return l;
    }

    /** Edge TPU: constant tensor sizes; the dynamic batch of a signature becomes the static shape (batch 1). */
    private static void makeStatic(TfliteModel m) {
        for (TensorT t : m.main().getTensors()) {
            if (t.getShapeSignature() != null && t.getShapeSignature().length == t.getShape().length) {
                t.setShapeSignature(t.getShape().clone());
            }
        }
    }

    private void checkEdgeTpu(EdgeTpu.Report edge, IntegerQuantizer.Result result) {
        List<String> problems = new ArrayList<>();
        for (IntegerQuantizer.FloatOp f : result.floatOps()) {
            problems.add("#" + f.index() + " " + f.op() + " stays float (" + f.reason() + ")");
        }
        if (!edge.staticShapes()) problems.add("dynamic tensor sizes: " + edge.dynamicTensors());
        if (!edge.batchOne()) problems.add("batch above 1: " + edge.batchTensors());
        if (!problems.isEmpty()) {
            throw new QuantbridgeException("--target edgetpu: the model cannot run on the Edge TPU: "
                    + String.join("; ", problems));
        }
        if (!edge.unsupportedOps().isEmpty()) {
            progress.note("Edge TPU: operators " + edge.unsupportedOps() + " are not supported there; the compiler"
                    + " maps " + edge.mappableOps() + " of " + edge.totalOps() + " ops and leaves the rest, from "
                    + edge.firstUnmapped() + ", on the CPU");
        }
    }

    /** Runs edgetpu_compiler when it is on PATH and keeps its log beside the model. */
    private void compileForEdgeTpu(Path model) {
        Path compiler = onPath("edgetpu_compiler");
        Map<String, Object> m = new LinkedHashMap<>();
        if (compiler == null) {
            m.put("ran", false);
            m.put("reason", "edgetpu_compiler is not on PATH (x86-64 Linux only; Coral's apt repository)");
            report.put("edgetpu_compiler", m);
            return;
        }
        Path log = req.outputDir().resolve(EDGETPU_LOG);
        progress.begin("running edgetpu_compiler", 0);
        try {
            Process p = new ProcessBuilder(compiler.toString(), "-s", "-o", req.outputDir().toString(),
                    model.toString()).redirectErrorStream(true).redirectOutput(log.toFile()).start();
            if (!p.waitFor(10, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                throw new QuantbridgeException("edgetpu_compiler did not finish in 10 minutes; its log: " + log);
            }
            m.put("ran", true);
            m.put("exit_code", p.exitValue());
            m.put("log", log.toString());
            addArtifact("edgetpu compiler log", log);
            Path compiled = req.outputDir().resolve(INT8_MODEL.replace(".tflite", "_edgetpu.tflite"));
            if (Files.isRegularFile(compiled)) addArtifact("edgetpu model", compiled);
        } catch (IOException e) {
            throw new QuantbridgeException("edgetpu_compiler could not be run: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new QuantbridgeException("interrupted while edgetpu_compiler ran", e);
        } finally {
            progress.end();
        }
        report.put("edgetpu_compiler", m);
    }

    private static Path onPath(String exe) {
        String path = System.getenv("PATH");
        if (path == null) return null;
        for (String dir : path.split(File.pathSeparator)) {
            Path p = Path.of(dir, exe);
            if (Files.isExecutable(p)) return p;
        }
        return null;
    }

    private Map<String, Map<String, Object>> fidelity(Path reference, Path candidate, List<SampleRef> evalSet) {
        int t = Math.max(1, threads);
        try (ModelSession ref = TfliteSession.open(reference, t);
             ModelSession cand = TfliteSession.open(candidate, t)) {
            return FidelityEvaluation.run(ref, cand, evalSet, pre,
                    req.fidelityMetrics(), 1, progress);
        }
    }

    private void addArtifact(String kind, Path p) {
        artifacts.add(Artifact.of(kind, p));
    }
}
