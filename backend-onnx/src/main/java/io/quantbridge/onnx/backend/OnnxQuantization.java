package io.quantbridge.onnx.backend;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.ModelSession;
import io.quantbridge.backend.Progress;
import io.quantbridge.calib.CalibrationMethod;
import io.quantbridge.calib.CalibratorSpec;
import io.quantbridge.calib.EntropyClipping;
import io.quantbridge.calib.OutlierSamples;
import io.quantbridge.calib.TensorStatistics;
import io.quantbridge.data.DataFingerprint;
import io.quantbridge.data.DataSplit;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.data.SampleRef;
import io.quantbridge.data.SampleSource;
import io.quantbridge.eval.FidelityEvaluation;
import io.quantbridge.eval.SensitivitySearch;
import io.quantbridge.onnx.ActivationEqualizer;
import io.quantbridge.onnx.BiasCorrection;
import io.quantbridge.onnx.ConvFolding;
import io.quantbridge.onnx.DataTypes;
import io.quantbridge.onnx.Fp16Converter;
import io.quantbridge.onnx.NodeDecision;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.QdqOptions;
import io.quantbridge.onnx.QdqPlan;
import io.quantbridge.onnx.QdqQuantizer;
import io.quantbridge.onnx.OrtQdqLayout;
import io.quantbridge.onnx.QdqResult;
import io.quantbridge.onnx.TensorTypes;
import io.quantbridge.onnx.proto.Onnx;
import io.quantbridge.onnx.runtime.ActivationObserver;
import io.quantbridge.onnx.runtime.OrtModelSession;
import io.quantbridge.request.Artifact;
import io.quantbridge.request.IoType;
import io.quantbridge.request.Precision;
import io.quantbridge.request.QuantizationRequest;
import io.quantbridge.request.RequestData;
import io.quantbridge.request.QuantizationResult;
import io.quantbridge.table.CalibrationTable;
import io.quantbridge.table.PortableTableFormat;
import io.quantbridge.table.TensorRange;
import io.quantbridge.table.TensorRtCache;
import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.tensor.TensorInfo;
import io.quantbridge.util.Hashing;
import io.quantbridge.util.InputFiles;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/** One run of the onnx backend: data, calibration, Q/DQ (or FP16), artifacts, fidelity, report. */
final class OnnxQuantization {
    static final String INT8_MODEL = "model.int8.onnx";
    static final String FP16_MODEL = "model.fp16.onnx";
    static final String TABLE = "calibration.json";
    static final String CACHE = "calibration.cache";
    static final String FLOAT_MODEL = "model.fp32.onnx";

    private final QuantizationRequest req;
    private final Progress progress;
    private final Map<String, Object> report = new LinkedHashMap<>();
    private final List<Artifact> artifacts = new ArrayList<>();
    /** With --layers: the float function the int8 model stands for, on its channels (set by the int8 path). */
    private OnnxModel layerReference;
    private final int threads;
    /** Equalization's migration strength: the request's, or the one its search chose. */
    private double alpha;
    /** What the Q/DQ model is for ({@link #target}). */
    private String target;
    /**
     * Whether equalization puts Muls after producers that are not linear per channel in this model
     * ({@link ActivationEqualizer#SCALE}): such tensors are scaled, and a table written before that existed holds
     * ranges of the unscaled ones.
     */
    private boolean scaleMuls;

    OnnxQuantization(QuantizationRequest req, Progress progress) {
        this.req = req;
        this.progress = progress;
        this.threads = req.threads() > 0 ? req.threads() : Runtime.getRuntime().availableProcessors();
        this.alpha = req.equalizeAlpha();
    }

    /**
     * The model with its inputs of unknown rank given the rank of the first calibration sample (dimensions left open):
     * shape inference needs ranks to fold and rewrite as it does for a model that declares them (a Softmax on an
     * input of unknown rank is otherwise rewritten around a Flatten), and TensorRT needs them to build. The written
     * models declare those ranks; report.json says so under {@code model.input_ranks_from_data}.
     */
    private OnnxModel withRanksFromData(OnnxModel model, DataSplit split, Preprocessing images,
                                        Map<String, Object> modelInfo) {
        Map<String, Integer> ranks = OnnxBackend.inputRanksFromData(model, split, images);
        if (ranks.isEmpty()) return model;
        progress.note("model input" + (ranks.size() == 1 ? " " : "s ") + String.join(", ", ranks.keySet().stream()
                .map(n -> "'" + n + "'").toList()) + (ranks.size() == 1 ? " declares" : " declare") + " no rank:"
                + " the written models take the calibration data's (" + ranks.values().stream().map(String::valueOf)
                .collect(java.util.stream.Collectors.joining(", ")) + "), every dimension open");
        modelInfo.put("input_ranks_from_data", ranks);
        return model.withInputRanks(ranks);
    }

    QuantizationResult run() {
        Path modelFile = req.model();
        InputFiles.require(modelFile, "model");
        target = target(req);
        String sha = Hashing.sha256(modelFile);
        OnnxModel model = OnnxModel.load(modelFile);
        InputFiles.createFolder(req.outputDir(), "--out");
        report.put("backend", "onnx");
        report.put("precision", req.precision().id());
        report.put("target", target);
        report.put("calibrator", req.precision() == Precision.INT8 ? req.calibrator().toMap() : null);
        Map<String, Object> modelInfo = new LinkedHashMap<>();
        modelInfo.put("path", modelFile.toString());
        modelInfo.put("sha256", sha);
        modelInfo.put("opset", model.opsetVersion());
        modelInfo.put("nodes", model.nodes().size());
        report.put("model", modelInfo);
        Preprocessing images = SampleSource.resolve(model.inputs(), req.preprocessing());
        if (images.layout() != req.preprocessing().layout()) {
            progress.note("model input " + model.inputs().get(0) + " is " + images.layout() + ": images are laid out "
                    + images.layout());
        }
        report.put("preprocessing", images.toMap());

        DataSplit split = RequestData.split(req, model.inputs());
        if (split != null) report.put("data_split", split.toMap());
        if (split != null) RequestData.checkEvaluation(split.evaluation(), model.inputs(), images);
        model = withRanksFromData(model, split, images, modelInfo);

        Path candidate;
        CalibrationTable table = null;
        if (req.precision() == Precision.FP16) {
            candidate = fp16(model, split);
        } else {
            Map.Entry<Path, CalibrationTable> r = int8(model, sha, split);
            candidate = r.getKey();
            table = r.getValue();
        }

        List<SampleRef> evalSet = split == null ? List.of() : split.evaluation();
        if (!evalSet.isEmpty()) {
            report.put("fidelity", fidelity(modelFile, candidate, evalSet));
            if (layerReference != null) {
                List<TensorInfo> inputs = layerReference.inputs();
                Preprocessing pre = req.preprocessing();
                report.put("layers", OnnxLayerErrors.compare(layerReference, OnnxModel.load(candidate), evalSet.size(),
                        i -> SampleSource.load(evalSet.get(i), inputs, pre), threads, progress)
                        .toMap(req.layerErrors()));
            }
        } else {
            report.put("fidelity", Map.of());
        }
        report.put("artifacts", artifacts.stream().map(Artifact::toMap).toList());
        return new QuantizationResult("onnx", artifacts, table, report);
    }



    /**
     * {@code --target}: what the Q/DQ model is for. TensorRT's placement (symmetric int8, Q/DQ on inputs) serves
     * TensorRT and OpenVINO; {@code onnxruntime} rewrites it into the layout ONNX Runtime's CPU kernels fuse
     * ({@link OrtQdqLayout}); anything else is refused ({@link #refusal}).
     */
    static String target(QuantizationRequest req) {
        refusal(req).ifPresent(why -> {
            throw new QuantbridgeException(why);
        });
        return req.target().map(t -> t.trim().toLowerCase(Locale.ROOT)).orElse(OnnxBackend.TARGETS.get(0));
    }

    /**
     * What this backend refuses in {@code req} before any work, in the words {@code quantize} fails with: a target
     * that is not one of {@link OnnxBackend#TARGETS}, and {@code --io int8} (a Q/DQ model keeps float inputs and
     * outputs; int8 ones would be silently float).
     */
    static Optional<String> refusal(QuantizationRequest req) {
        if (req.target().isPresent()
                && !OnnxBackend.TARGETS.contains(req.target().get().trim().toLowerCase(Locale.ROOT))) {
            return Optional.of("onnx: --target " + req.target().get() + " is not one of "
                    + String.join(", ", OnnxBackend.TARGETS) + " (device targets such as gpu, jetson, dla or cpu belong "
                    + "to --backend tensorrt or openvino)");
        }
        if (req.io() == IoType.INT8) {
            return Optional.of("onnx: --io int8 is not supported: the Q/DQ model keeps float inputs and outputs (its"
                    + " QuantizeLinear and DequantizeLinear nodes quantize inside); int8 inputs and outputs are"
                    + " written by --backend tflite");
        }
        return Optional.empty();
    }

    /** {@code --table}, read and checked against this run (model, calibrator, conditioning). */
    private CalibrationTable reusableTable(String sha, CalibratorSpec spec) {
        CalibrationTable table = PortableTableFormat.read(req.reuseTable().get());
        tableDifferences(table, sha, spec);
        return table;
    }

    /**
     * How a reused table differs from this run; refused unless {@code --force-table} (then the differences are
     * reported).
     */
    private List<String> tableDifferences(CalibrationTable table, String sha, CalibratorSpec spec) {
        List<String> diffs = new ArrayList<>(table.checkReusableFor(sha, spec, req.ignoreTableMismatch()));
        Object tableConditioning = table.data().get("conditioning");
        if (!conditioningKey().equals(tableConditioning)) {
            String diff = "conditioning differs (table " + tableConditioning + ", this run " + conditioningKey() + ")";
            if (!req.ignoreTableMismatch()) {
                throw new QuantbridgeException("calibration table cannot be reused: " + diff
                        + " (pass --force-table to use it anyway)");
            }
            diffs.add(diff);
        }
        return diffs;
    }

    /**
     * Refuses {@code --exclude} patterns that keep no node float (a misspelt name would quantize what the user meant to
     * keep), naming them and the model's op types.
     */
    private void requireExcludesMatch(List<String> unmatched, OnnxModel model) {
        if (unmatched.isEmpty()) return;
        java.util.TreeSet<String> ops = new java.util.TreeSet<>();
        for (Onnx.NodeProto n : model.nodes()) ops.add(n.getOpType());
        throw new QuantbridgeException("--exclude " + unmatched.stream().map(p -> "'" + p + "'")
                .collect(java.util.stream.Collectors.joining(", ")) + (unmatched.size() == 1 ? " matches" : " match")
                + " no node of " + req.model().getFileName() + ": a pattern is a node name, an op type (the model has "
                + String.join(", ", ops) + ") or a regular expression that matches whole node names"
                + io.quantbridge.util.Regex.takenAsNames(unmatched));
    }

    /**
     * Why int8 would write the float model unchanged: the kinds of the main graph's nodes, what the excludes kept,
     * and the subgraphs (which stay float).
     */
    private String nothingToQuantize(QdqPlan plan) {
        List<NodeDecision> quantization = plan.floatNodes().stream()
                .filter(d -> d.reason().equals(QdqQuantizer.ALREADY_QDQ)).toList();
        if (!quantization.isEmpty()) {
            return "onnx: " + req.model().getFileName() + " is already quantized (" + quantization.size()
                    + " quantization nodes: " + String.join(", ", new java.util.TreeSet<>(quantization.stream()
                    .map(NodeDecision::opType).toList())) + "): give quantize the float model it came from";
        }
        java.util.TreeSet<String> other = new java.util.TreeSet<>();
        int otherCount = 0;
        List<String> kept = new ArrayList<>();
        java.util.Set<String> carriers = new java.util.HashSet<>();
        plan.subgraphs().forEach(g -> carriers.add(g.nodeName()));
        for (NodeDecision d : plan.floatNodes()) {
            if (carriers.contains(d.node())) continue; // listed with its subgraphs below
            if (d.reason().equals(QdqQuantizer.NOT_QUANTIZABLE)) {
                other.add(d.opType());
                otherCount++;
            } else {
                kept.add(d.node() + " (" + d.reason() + ")");
            }
        }
        StringBuilder sb = new StringBuilder("onnx: " + req.model().getFileName() + " has no node to quantize to int8 "
                + "(int8 quantizes Conv, ConvTranspose, Gemm and MatMul with constant weights in the main graph), so "
                + INT8_MODEL + " would be the float model:");
        if (otherCount > 0) sb.append(' ').append(otherCount).append(" node(s) of other kinds ").append(other);
        if (!kept.isEmpty()) {
            sb.append(otherCount > 0 ? ";" : "").append(" kept float: ")
                    .append(kept.size() > 4 ? kept.subList(0, 4) + " and " + (kept.size() - 4) + " more" : kept);
        }
        if (!plan.subgraphs().isEmpty()) {
            sb.append("; subgraphs stay float: ").append(plan.subgraphs().stream().map(Object::toString)
                    .collect(java.util.stream.Collectors.joining(", ")));
        }
        return sb.toString();
    }

    /**
     * {@code --reduce-range}, by default on for ONNX Runtime: its uint8 x int8 kernels on x86 CPUs without VNNI
     * (AVX2, AVX-512 before Cascade Lake, AMD before Zen 4) add products in pairs into int16, which saturates with
     * full-range weights (ppocr-cls on an AVX2 EPYC: cosine 0.954 run by ONNX Runtime against 0.9965 for what the
     * Q/DQ model means); a model written for ONNX Runtime may run on any of them.
     */
    private boolean reduceRange() {
        return req.reduceRange().orElse(target.equals(OnnxBackend.TARGET_ONNXRUNTIME));
    }

    /** What the target makes of the Q/DQ model. */
    private QdqLayout layout() {
        return target.equals(OnnxBackend.TARGET_ONNXRUNTIME) ? QdqLayout.ONNXRUNTIME : QdqLayout.TENSORRT;
    }

    private Path fp16(OnnxModel model, DataSplit split) {
        // BatchNormalization (and constant per-channel Mul/Add) folded into the convs first, as every runtime does when
        // it loads the model: the tensor between a conv and its BatchNormalization does not exist at run time, and it
        // can be far larger than either (ppocr-det's conv2d_497.tmp_0 reaches 112,218 on ellipses.jpg, beyond
        // float16, where the BatchNormalization after it brings it back down)
        requireExcludesMatch(QdqOptions.defaults().withExcludes(req.excludes()).unmatchedExcludes(model.nodes()), model);
        ConvFolding.Result folding = ConvFolding.apply(model.foldConstants());
        OnnxModel folded = folding.model();
        Map<String, Double> ranges = float32Ranges(folded, split);
        progress.begin("converting to FP16", 0);
        Fp16Converter.Result r = Fp16Converter.convert(folded, Fp16Converter.DEFAULT_KEEP_FLOAT32, req.excludes(),
                ranges == null ? Map.of() : ranges);
        Path out = req.outputDir().resolve(FP16_MODEL);
        r.model().save(out);
        addArtifact("model", out);
        Map<String, Object> conv = new LinkedHashMap<>();
        conv.put("folded_into_convs", Map.of("batch_norms", folding.batchNorms(), "bias_adds", folding.biasAdds(),
                "scale_muls", folding.scaleMuls()));
        conv.put("converted_initializers", r.convertedInitializers());
        conv.put("casts_inserted", r.castsInserted());
        conv.put("float32_nodes", r.float32Nodes());
        if (ranges != null) {
            List<String> beyond = new ArrayList<>();
            ranges.forEach((t, v) -> {
                if (v > Fp16Converter.FLOAT16_OBSERVED_LIMIT) beyond.add(t);
            });
            Map<String, Object> check = new LinkedHashMap<>();
            check.put("samples", split.calibration().size());
            check.put("tensors", ranges.size());
            check.put("beyond_float16", beyond);
            conv.put("range_check", check);
        } else {
            conv.put("range_check", "none (no --calib: tensors beyond the float16 range would become infinite)");
        }
        report.put("fp16", conv);
        report.put("quantized_nodes", r.model().nodes().size() - r.float32Nodes().size());
        report.put("float_nodes", r.float32Nodes().size());
        progress.end();
        return out;
    }

    /**
     * The largest |x| of every float tensor of the main graph on the calibration samples, run in float32 (null
     * without calibration data): FP16 keeps in float32 what float16 cannot hold.
     */
    private Map<String, Double> float32Ranges(OnnxModel folded, DataSplit split) {
        if (split == null || split.calibration().isEmpty()) return null;
        TensorTypes types = TensorTypes.infer(folded.graph());
        Set<String> tensors = new LinkedHashSet<>();
        for (TensorInfo in : folded.inputs()) if (in.elementType().equals("float")) tensors.add(in.name());
        for (Onnx.NodeProto n : folded.nodes()) {
            for (String o : n.getOutputList()) if (!o.isEmpty() && types.elemType(o) == DataTypes.FLOAT) tensors.add(o);
        }
        List<SampleRef> calib = split.calibration();
        List<TensorInfo> inputs = folded.inputs();
        Preprocessing pre = req.preprocessing();
        TensorStatistics stats = new ActivationObserver(folded, tensors,
                CalibratorSpec.of(CalibrationMethod.MAX), threads).observe(calib.size(),
                i -> SampleSource.load(calib.get(i), inputs, pre),
                new ActivationObserver.Request(tensors, Set.of(), Set.of(), 0, 0), "float16 range check", progress)
                .tensors();
        Map<String, Double> ranges = new LinkedHashMap<>();
        for (String t : stats.names()) ranges.put(t, stats.histogram(t).absMax());
        return ranges;
    }

    private Map.Entry<Path, CalibrationTable> int8(OnnxModel model, String sha, DataSplit split) {
        CalibratorSpec spec = req.calibrator();
        QdqOptions opts = QdqOptions.defaults().withPerChannel(req.perChannel()).withExcludes(req.excludes())
                .withFoldIntoConvs(target.equals(OnnxBackend.TARGET_ONNXRUNTIME))
                .withWeightMax(reduceRange() ? QdqOptions.REDUCED_RANGE : QdqOptions.FULL_RANGE);
        long t0 = System.nanoTime();
        QdqPlan plan = QdqQuantizer.plan(model, opts);
        // names as the model gives them, or as the plan gives nodes without one (what report.json lists)
        List<Onnx.NodeProto> named = new ArrayList<>(model.nodes());
        named.addAll(plan.preparedModel().nodes());
        requireExcludesMatch(opts.unmatchedExcludes(named), model);
        if (plan.quantizedNodes().isEmpty()) {
            throw new QuantbridgeException(nothingToQuantize(plan));
        }
        // conditioning re-plans its own (already folded) model: keep what the first plan folded for the report
        Map<String, Integer> foldedIntoConvs = plan.foldedIntoConvs();
        scaleMuls = req.equalize() && Conditioning.needs(plan, Conditioning.Settings.of(req)).sites().stream()
                .anyMatch(x -> x.producerKind().equals(ActivationEqualizer.SCALE));
        // names given to --keep-float, and a reused table, are checked before any pass over the samples
        if (!req.keepFloat().isEmpty()) FloatLayerSearch.given(plan, req.keepFloat());
        CalibrationTable reused = req.reuseTable().isPresent() ? reusableTable(sha, spec) : null;
        TensorStatistics stats = null;
        Map<String, float[]> biasCorrections;
        if (reused != null) {
            Conditioning.Outcome o = conditioned(plan, opts, split);
            plan = o.plan();
            biasCorrections = o.biasCorrections();
        } else {
            // one pass over the samples: conditioning statistics and histograms together (see CalibrationPass)
            if (split == null || split.calibration().isEmpty()) {
                throw new QuantbridgeException("--calib: no calibration samples");
            }
            List<SampleRef> calib = split.calibration();
            List<TensorInfo> inputs = plan.preparedModel().inputs();
            Preprocessing pre = req.preprocessing();
            ActivationObserver.SampleLoader loader = i -> SampleSource.load(calib.get(i), inputs, pre);
            CalibrationPass.Result pass;
            if (req.equalizeAlphaCandidates().isEmpty()) {
                pass = CalibrationPass.run(plan, opts, spec, Conditioning.Settings.of(req),
                        CalibrationPass.observedTensors(plan), calib.size(), loader, threads, progress);
            } else {
                AlphaSearch.Outcome search = AlphaSearch.run(model, plan, opts, spec, Conditioning.Settings.of(req),
                        req.equalizeAlphaCandidates(), CalibrationPass.observedTensors(plan), calib.size(), loader,
                        layout(), threads, progress);
                pass = search.pass();
                alpha = search.alpha();
            }
            report.put("conditioning", pass.conditioning());
            plan = pass.plan();
            stats = pass.statistics();
            biasCorrections = pass.biasCorrections();
        }

        // what gets a range: graph inputs, the activations that get Q/DQ, and the outputs of quantized nodes
        Set<String> observed = CalibrationPass.observedTensors(plan);

        CalibrationTable table;
        Map<String, Object> calibration = new LinkedHashMap<>();
        if (reused != null) {
            Path tablePath = req.reuseTable().get();
            table = reused;
            List<String> diffs = tableDifferences(table, sha, spec);
            for (String t : plan.activationTensors()) {
                if (table.get(t).isEmpty()) {
                    throw new QuantbridgeException("calibration table " + tablePath + " has no range for tensor '" + t
                            + "', which this model quantizes");
                }
            }
            calibration.put("reused_table", tablePath.toString());
            calibration.put("table_differences", diffs);
            calibration.put("samples", table.data().getOrDefault("samples", 0));
        } else {
            List<SampleRef> calib = split.calibration();
            Preprocessing pre = req.preprocessing();
            progress.begin("computing " + spec.method().id() + " ranges", 0);
            Map<String, TensorRange> byName = new HashMap<>();
            for (TensorRange r : stats.ranges(spec)) byName.put(r.name(), r);
            List<TensorRange> ordered = new ArrayList<>();
            for (String t : observed) {
                TensorRange r = byName.get(t);
                if (r != null) ordered.add(r);
            }
            progress.end();
            Map<String, Object> data = new LinkedHashMap<>(DataFingerprint.tableData(calib, pre, req.seed()));
            data.put("conditioning", conditioningKey());
            table = new CalibrationTable(sha, spec, data, ordered);
            calibration.put("samples", calib.size());
            OutlierSamples.record(stats, ordered, calib.stream().map(SampleRef::id).toList(), calibration);
            EntropyClipping.record(stats, spec, ordered, calibration);
        }
        calibration.put("seconds", (System.nanoTime() - t0) / 1e9);
        calibration.put("tensors", table.tensors().size());
        calibration.put("threads", threads);
        report.put("calibration", calibration);

        if (req.floatLayers() > 0) {
            if (split == null || split.calibration().isEmpty()) {
                throw new QuantbridgeException("--float-layers: the search scores variants on calibration samples; "
                        + "pass --calib");
            }
            List<SampleRef> scored = FloatLayerSearch.spread(split.calibration(), req.sensitivitySamples());
            SensitivitySearch.Outcome fl = FloatLayerSearch.run(model, plan, opts, biasCorrections, table.tensors(),
                    req.floatLayers(), scored, req.preprocessing(), layout(), threads, progress);
            report.put("float_layers", fl.toMap(req.floatLayers()));
            plan = FloatLayerSearch.plan(plan, opts, biasCorrections, fl.chosen());
            // the chosen nodes' corrections are undone in the plan's model
            biasCorrections = new LinkedHashMap<>(biasCorrections);
            biasCorrections.keySet().removeAll(fl.chosen());
            progress.note(fl.chosen().isEmpty() ? "float-layer search: no node gains by staying float"
                    : String.format(java.util.Locale.ROOT, "float-layer search: %s stay float (cosine %.4f -> %.4f "
                            + "on %d calibration samples)", fl.chosen(), fl.baseline(), fl.result(), fl.samples()));
        } else if (!req.keepFloat().isEmpty()) {
            List<String> keep = FloatLayerSearch.given(plan, req.keepFloat());
            report.put("float_layers", Map.of("given", keep));
            plan = FloatLayerSearch.plan(plan, opts, biasCorrections, keep);
            biasCorrections = new LinkedHashMap<>(biasCorrections);
            biasCorrections.keySet().removeAll(keep);
        }
        // the function the original model computes, on conditioned channels: what the empirical correction aims at
        OnnxModel reference = BiasCorrection.revert(plan.preparedModel(), biasCorrections, biasCorrections.keySet());
        // --layers compares with it too: model.fp32.onnx carries the bias corrections and the rounded GPTQ weights,
        // so against it the int8 model's mean shifts, which the corrections cancel, would count as error
        if (req.layerErrors() > 0) layerReference = reference;
        if (req.gptqSamples() > 0) {
            GptqRounding.Outcome g = GptqRounding.run(plan, biasCorrections, req.biasCorrection(),
                    load(split, req.gptqSamples(), "--gptq", "GPTQ",
                            plan.preparedModel().inputs()), threads, progress);
            report.put("gptq", g.report());
            plan = g.plan();
            biasCorrections = g.biasCorrections();
            progress.note(String.format(java.util.Locale.ROOT, "gptq: %s convs rounded on %d samples, output error "
                    + "x%.2f of nearest rounding (%.1f s)", g.report().get("rounded_nodes"),
                    g.report().get("samples"), g.report().get("output_error_ratio"), g.report().get("seconds")));
        }
        if (req.refitSamples() > 0) {
            WeightRefit.Outcome rf = WeightRefit.run(plan, table.tensors(), reference, load(split,
                    req.refitSamples(), "--refit", "refit", plan.preparedModel().inputs()), layout(), threads,
                    progress);
            report.put("refit", rf.report());
            plan = rf.plan();
            progress.note(String.format(java.util.Locale.ROOT, "refit: %s convs on %d samples, output error x%.2f "
                    + "(%.1f s)", rf.report().get("refitted_nodes"), rf.report().get("samples"),
                    rf.report().get("output_error_ratio"), rf.report().get("seconds")));
        }
        if (req.empiricalBiasSamples() > 0) {
            plan = empiricalBiasCorrection(plan, table, reference, split);
        }
        OnnxModel prepared = plan.preparedModel();
        // the TensorRT cache (implicit quantization) lists the graph inputs, the inputs of quantized nodes and their
        // outputs: TensorRT runs a layer in int8 only when it has a scale for what the layer reads and writes, and
        // falls back to higher precision for "any layer consuming or producing" a tensor missing from the cache
        Set<String> cacheTensors = CalibrationPass.observedTensors(plan);

        progress.begin("writing Q/DQ model", 0);
        if (req.equalize() || req.biasCorrection() || req.empiricalBiasSamples() > 0 || req.gptqSamples() > 0
                || req.refitSamples() > 0) {
            // the float model the table and the TensorRT cache describe (channels rescaled, biases corrected)
            Path floatOut = req.outputDir().resolve(FLOAT_MODEL);
            prepared.save(floatOut);
            addArtifact("calibrated float model", floatOut);
        }
        QdqResult result = QdqQuantizer.apply(plan, table);
        Path modelOut = req.outputDir().resolve(INT8_MODEL);
        if (target.equals(OnnxBackend.TARGET_ONNXRUNTIME)) {
            Map<String, TensorRange> ranges = new HashMap<>();
            for (TensorRange r : table.tensors().values()) ranges.put(r.name(), r);
            OrtQdqLayout.Result ort = OrtQdqLayout.apply(result.model(), ranges, plan.sharedScaleGroups());
            ort.model().save(modelOut);
            report.put("onnxruntime_layout", ort.toMap());
        } else {
            result.model().save(modelOut);
        }
        addArtifact("model", modelOut);

        Path tableOut = req.outputDir().resolve(TABLE);
        PortableTableFormat.write(tableOut, table);
        addArtifact("calibration table", tableOut);

        List<TensorRange> cacheRanges = new ArrayList<>();
        for (String t : cacheTensors) table.get(t).ifPresent(cacheRanges::add);
        CalibrationTable cacheTable = new CalibrationTable(sha, spec, table.data(), cacheRanges);
        Path cacheOut = req.outputDir().resolve(CACHE);
        TensorRtCache.write(cacheOut, cacheTable, req.tensorRtCacheVersion(), TensorRtCache.ENTROPY_CALIBRATION_2);
        addArtifact("tensorrt cache", cacheOut);
        progress.end();

        report.put("quantized_nodes", result.report().quantizedNodes().size());
        report.put("float_nodes", result.report().floatNodes().size());
        Map<String, Object> quantization = new LinkedHashMap<>(result.report().toMap());
        quantization.put("foldedIntoConvs", new java.util.TreeMap<>(foldedIntoConvs));
        int wmax = plan.options().weightMax();
        quantization.put("weight_codes", List.of(-wmax, wmax));
        if (wmax == QdqOptions.REDUCED_RANGE) {
            quantization.put("weight_codes_why", "7-bit weights (--reduce-range" + (req.reduceRange().isPresent() ? ""
                    : ", the default for --target onnxruntime") + "): ONNX Runtime's integer kernels on x86 CPUs without"
                    + " VNNI saturate with full-range ones");
        }
        report.put("quantization", quantization);
        if (!plan.subgraphs().isEmpty()) {
            progress.note("subgraphs left in float: " + plan.subgraphs());
        }
        return Map.entry(modelOut, table);
    }

    /**
     * {@link EmpiricalBiasCorrection} on {@code --empirical-bias-correction} calibration samples (spread over the set),
     * applied to the plan's model so that the Q/DQ model and the calibrated float model carry the same biases.
     */
    private QdqPlan empiricalBiasCorrection(QdqPlan plan, CalibrationTable table, OnnxModel reference,
                                            DataSplit split) {
        List<Map<String, FloatTensor>> feeds = load(split, req.empiricalBiasSamples(), "--empirical-bias-correction",
                "empirical bias correction", plan.preparedModel().inputs());
        EmpiricalBiasCorrection.Outcome eb = EmpiricalBiasCorrection.run(plan, table.tensors(), reference, feeds,
                layout(), threads, progress);
        report.put("empirical_bias_correction", eb.toMap());
        progress.note(String.format(java.util.Locale.ROOT, "empirical bias correction: %d convs on %d samples "
                + "(%.1f s)", eb.shifts().size(), eb.samples(), eb.seconds()));
        return QdqQuantizer.plan(BiasCorrection.shift(plan.preparedModel(), eb.shifts()), plan.options());
    }

    /** {@code k} calibration samples spread over the set, loaded (for the steps after calibration). */
    private List<Map<String, FloatTensor>> load(DataSplit split, int k, String option, String what,
                                                List<TensorInfo> inputs) {
        if (split == null || split.calibration().isEmpty()) {
            throw new QuantbridgeException(option + ": it runs the model on calibration samples; pass --calib");
        }
        List<SampleRef> used = FloatLayerSearch.spread(split.calibration(), k);
        progress.begin("loading " + used.size() + " samples for " + what, used.size());
        List<Map<String, FloatTensor>> feeds = new ArrayList<>();
        for (SampleRef r : used) {
            feeds.add(SampleSource.load(r, inputs, req.preprocessing()));
            progress.advance(1);
        }
        progress.end();
        return feeds;
    }

    /** What the table records about conditioning, so that a reused table is only used on the same transform. */
    private Map<String, Object> conditioningKey() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("equalization", req.equalize());
        // recorded when not the default, so that tables written before the option existed still match
        if (req.equalize() && alpha != QuantizationRequest.DEFAULT_EQUALIZE_ALPHA) {
            m.put("alpha", alpha);
        }
        m.put("bias_correction", req.biasCorrection());
        if (req.center()) m.put("center", true); // recorded when on, as alpha
        // recorded where it happens: a table of such a model from before has ranges of the unscaled tensors
        if (scaleMuls) m.put("scale_muls", true);
        return m;
    }

    /** The plan after equalization and bias correction (see {@link Conditioning}), when the request asks for them. */
    private Conditioning.Outcome conditioned(QdqPlan plan, QdqOptions opts, DataSplit split) {
        if (!req.equalize() && !req.biasCorrection()) {
            report.put("conditioning", conditioningKey());
            return new Conditioning.Outcome(plan, conditioningKey());
        }
        if (split == null || split.calibration().isEmpty()) {
            throw new QuantbridgeException("--calib: equalization and bias correction need calibration samples, also "
                    + "when a table is reused (pass the same data, or --no-equalize --no-bias-correction)");
        }
        List<SampleRef> calib = split.calibration();
        List<TensorInfo> inputs = plan.preparedModel().inputs();
        Preprocessing pre = req.preprocessing();
        Conditioning.Outcome o = Conditioning.apply(plan, opts, req.calibrator(), Conditioning.Settings.of(req), calib.size(),
                i -> SampleSource.load(calib.get(i), inputs, pre), threads, progress);
        report.put("conditioning", o.report());
        return o;
    }

    private Map<String, Map<String, Object>> fidelity(Path reference, Path candidate, List<SampleRef> evalSet) {
        try (ModelSession ref = OrtModelSession.open(reference, 1);
             ModelSession cand = OrtModelSession.open(candidate, 1, layout() == QdqLayout.TENSORRT)) {
            return FidelityEvaluation.run(ref, cand, evalSet, req.preprocessing(),
                    req.fidelityMetrics(), threads,
                    progress);
        }
    }

    private void addArtifact(String kind, Path p) {
        artifacts.add(Artifact.of(kind, p));
    }
}
