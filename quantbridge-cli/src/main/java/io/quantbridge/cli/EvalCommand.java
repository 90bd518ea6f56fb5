package io.quantbridge.cli;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.ModelSession;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.metrics.LayerErrors;
import io.quantbridge.onnx.backend.OnnxLayerErrors;
import io.quantbridge.tflite.TfliteLayerErrors;
import io.quantbridge.tflite.TfliteModel;
import io.quantbridge.tensor.TensorInfo;
import java.nio.file.Files;
import io.quantbridge.data.DataSplit;
import io.quantbridge.data.SampleRef;
import io.quantbridge.data.SampleSource;
import io.quantbridge.eval.FidelityEvaluation;
import io.quantbridge.util.AtomicFiles;
import io.quantbridge.util.Json;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Compares a quantized model with its float reference on held-out data. */
@Command(name = "eval", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Compare a candidate (quantized) model with the float reference on held-out data: pooled "
                + "cosine, SQNR (dB), max abs error per output, and mask IoU or top-1 agreement when asked.")
final class EvalCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "FILE", description = "The float reference model.")
    Path model;

    @Option(names = "--candidate", required = true, paramLabel = "FILE", description = "The model to judge.")
    Path candidate;

    @Option(names = "--data", required = true, paramLabel = "DIR|FILE", description = "Held-out inputs.")
    Path data;

    @Option(names = "--backend", paramLabel = "ID", description = "Backend that runs both models.")
    String backend;

    @Option(names = "--output-map", paramLabel = "REFERENCE=CANDIDATE",
            description = "Compare the reference's output REFERENCE with the candidate's output CANDIDATE (repeatable),"
                    + " for models that name them differently. Without it, outputs pair by name, then the single"
                    + " output left on each side, then by a shape only one output left on each side has.")
    List<String> outputMap = new java.util.ArrayList<>();

    @CommandLine.Mixin
    PreprocessingOptions preprocessing = new PreprocessingOptions();

    @Option(names = "--samples", paramLabel = "N", defaultValue = "0", description = "At most N samples (0 = all).")
    int samples;

    @Option(names = "--seed", paramLabel = "N", defaultValue = "0", description = "Seed for choosing --samples.")
    long seed;

    @CommandLine.Mixin
    FidelityOptions metrics = new FidelityOptions();

    @Option(names = "--layers", paramLabel = "N", defaultValue = "0",
            description = "Also compare every intermediate tensor by name (two ONNX models, run in ONNX Runtime,"
                    + " or two .tflite models, run in the TFLite interpreter) and list the N int8 roundings that add"
                    + " the most error; --model must be the float model the candidate was written from"
                    + " (model.fp32.onnx / model.fp32.tflite beside a quantbridge int8 model).")
    int layers;

    @Option(names = "--fused-kernels",
            description = "Run a Q/DQ candidate with int8 activations (the layout written for TensorRT and OpenVINO)"
                    + " through ONNX Runtime's fused integer kernels, as ONNX Runtime would deploy it. Without it the"
                    + " onnx backend computes its Q/DQ pairs as written, in float, as quantize scores it.")
    boolean fusedKernels;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "0", description = "Worker threads (0 = cores).")
    int threads;

    @Option(names = "--out", paramLabel = "FILE", description = "Also write the result as JSON.")
    Path out;

    @Option(names = "--quiet", description = "No progress output.")
    boolean quiet;

    @Option(names = "--verbose", description = "Stack traces on failure.")
    boolean verbose;

    @Override
    public Integer call() {
        if (layers < 0) throw new QuantbridgeException("--layers must be 0 or more: " + layers);
        preprocessing.build(); // options that contradict each other fail before any file is read
        Map<String, Path> inputs = new LinkedHashMap<>();
        inputs.put("--model", model);
        inputs.put("--candidate", candidate);
        inputs.put("--data", data);
        inputs.put("--labels", metrics.labels);
        JsonOutput.check(out, "eval.json", inputs);
        if (layers > 0) layerKind(); // a pair that cannot be compared fails before any model is run
        SampleSource.discover(data, SampleSource.EVALUATION); // a wrong path fails before any model is loaded
        ConsoleProgress progress = new ConsoleProgress(spec.commandLine().getErr(), quiet);
        DataFolders.note(data, SampleSource.EVALUATION, null, progress);
        Map<String, Map<String, Object>> fidelity;
        List<SampleRef> chosen;
        try (ModelSession ref = Sessions.open(model, backend, spec.commandLine().getErr());
                ModelSession cand = openCandidate()) {
            chosen = DataSplit.cap(SampleSource.discover(data, SampleSource.EVALUATION, ref.inputs()).samples(), seed,
                    samples);
            fidelity = FidelityEvaluation.run(ref, cand, chosen, preprocessing.build(),
                    metrics.metrics(),
                    threads > 0 ? threads : Runtime.getRuntime().availableProcessors(), progress,
                    outputPairs(ref.outputs().stream().map(TensorInfo::name).toList()));
        }
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("model", model.toString());
        result.put("candidate", candidate.toString());
        if (candidateQdq != null) result.put("candidate_qdq", candidateQdq);
        result.put("samples", chosen.size());
        result.put("fidelity", fidelity);
        if (layers > 0) result.put("layers", layerErrors(chosen, progress).toMap(layers));
        if (out != null) AtomicFiles.writeString(out, Json.write(result));
        FidelityPrinter.print(spec.commandLine().getOut(), fidelity);
        LayerPrinter.print(spec.commandLine().getOut(), result.get("layers"));
        return 0;
    }

    /** How the candidate's int8 activations are run, for eval.json; null when it has none in ONNX Runtime. */
    private String candidateQdq;

    /**
     * The candidate's session. A Q/DQ model with int8 activations, the layout written for TensorRT and OpenVINO, runs
     * in ONNX Runtime as written (its Q/DQ pairs computed in float), as quantize scores it, unless --fused-kernels: a
     * DequantizeLinear -> MatMul pair would otherwise become ONNX Runtime's integer kernel, and eval and quantize
     * would report different numbers for the same model (ppocr-cls: 0.9963 against 0.9961 on a VNNI CPU, and far
     * more on x86 CPUs without VNNI, where those kernels saturate with full-range weights).
     */
    private ModelSession openCandidate() {
        io.quantbridge.backend.Backend b = Sessions.backendFor(candidate, backend, spec.commandLine().getErr(),
                "running it with");
        boolean int8Qdq = b.id().equals("onnx") && io.quantbridge.onnx.Uint8Activations.hasInt8Activations(candidate);
        if (fusedKernels && !int8Qdq) {
            throw new QuantbridgeException("--fused-kernels: " + (b.id().equals("onnx")
                    ? candidate.getFileName() + " has no int8 activations, and ONNX Runtime runs it through its own"
                    + " kernels already" : "the candidate runs in the " + b.id() + " backend, not in ONNX Runtime"));
        }
        if (!int8Qdq) return b.open(candidate);
        if (fusedKernels) {
            candidateQdq = "onnxruntime kernels";
            return b.open(candidate);
        }
        candidateQdq = "as written";
        spec.commandLine().getErr().println("note: " + candidate.getFileName() + " has int8 activations (the Q/DQ"
                + " layout written for TensorRT and OpenVINO): ONNX Runtime computes its Q/DQ pairs as written, in"
                + " float, as quantize scores it (--fused-kernels: through ONNX Runtime's integer kernels)");
        return io.quantbridge.onnx.runtime.OrtModelSession.open(candidate, 0, true);
    }

    /**
     * {@code --output-map} as reference output to candidate output. Names may hold '=' themselves: the split is at
     * the first '=' that leaves a reference output on its left, else at the first.
     */
    private Map<String, String> outputPairs(List<String> referenceOutputs) {
        Map<String, String> pairs = new LinkedHashMap<>();
        for (String spec : outputMap) {
            int at = spec.indexOf('=');
            for (int i = at; i >= 0; i = spec.indexOf('=', i + 1)) {
                if (referenceOutputs.contains(spec.substring(0, i))) {
                    at = i;
                    break;
                }
            }
            if (at <= 0 || at == spec.length() - 1) {
                throw new QuantbridgeException("--output-map " + spec + ": give REFERENCE_OUTPUT=CANDIDATE_OUTPUT");
            }
            if (pairs.put(spec.substring(0, at), spec.substring(at + 1)) != null) {
                throw new QuantbridgeException("--output-map: reference output '" + spec.substring(0, at)
                        + "' is given twice");
            }
        }
        return pairs;
    }

    /** "onnx" or "tflite": what both --model and --candidate are, for --layers. */
    private String layerKind() {
        String a = extension(model);
        String b = extension(candidate);
        if (!a.equals(b) || !(a.equals("onnx") || a.equals("tflite"))) {
            throw new QuantbridgeException("--layers compares two ONNX models or two .tflite models by tensor name, and"
                    + " got " + model.getFileName() + " and " + candidate.getFileName());
        }
        return a;
    }

    private static String extension(Path p) {
        String n = p.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
        return n.endsWith(".onnx") ? "onnx" : n.endsWith(".tflite") ? "tflite" : n;
    }

    private LayerErrors.Result layerErrors(List<SampleRef> chosen, ConsoleProgress progress) {
        String kind = layerKind();
        Path fp32 = candidate.toAbsolutePath().resolveSibling("model.fp32." + kind);
        try {
            if (Files.isRegularFile(fp32) && !Files.isSameFile(fp32, model)) {
                spec.commandLine().getErr().println("note: " + fp32 + " is the float model " + candidate.getFileName()
                        + " was written from; layers are compared by name against --model " + model + ", whose"
                        + " equalized channels differ from it by their scales");
            }
        } catch (java.io.IOException e) {
            throw new QuantbridgeException("cannot read " + fp32 + ": " + e.getMessage(), e);
        }
        Preprocessing pre = preprocessing.build();
        int t = threads > 0 ? threads : Runtime.getRuntime().availableProcessors();
        if (kind.equals("tflite")) {
            TfliteModel ref = TfliteModel.load(model);
            List<TensorInfo> inputs = ref.inputs();
            return TfliteLayerErrors.compare(ref, TfliteModel.load(candidate), chosen.size(),
                    i -> SampleSource.load(chosen.get(i), inputs, pre), t, progress);
        }
        OnnxModel ref = OnnxModel.load(model);
        OnnxModel cand = OnnxModel.load(candidate);
        List<TensorInfo> inputs = ref.inputs();
        return OnnxLayerErrors.compare(ref, cand, chosen.size(), i -> SampleSource.load(chosen.get(i), inputs, pre),
                t, progress);
    }
}
