package io.quantbridge.cli;

import io.quantbridge.backend.BackendSelector;
import io.quantbridge.calib.CalibrationMethod;
import io.quantbridge.calib.CalibratorSpec;
import io.quantbridge.calib.EntropyClipping;
import io.quantbridge.calib.OutlierSamples;
import io.quantbridge.data.SampleSource;
import io.quantbridge.request.Artifact;
import io.quantbridge.request.IoType;
import io.quantbridge.request.Precision;
import io.quantbridge.request.QuantizationRequest;
import io.quantbridge.request.QuantizationResult;
import io.quantbridge.util.AtomicFiles;
import io.quantbridge.util.Json;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Calibrates a model and writes the quantized artifacts and report.json into --out. */
@Command(name = "quantize", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Calibrate a float model and write INT8, FP16 or dynamic-range artifacts, the calibration table and "
                + "report.json into --out.",
                "Calibration data is a folder of images (.png, .jpg, .bmp, .gif, .tif; sub-folders too, such as class "
                        + "folders), of .npy files (one sample each), of .npz "
                        + "files (one sample each, an array per model input named after it), or of sub-folders with "
                        + "one <input>.npy per model input; or one .npy or .npz file that stacks the samples along its "
                        + "first dimension (numpy.stack); or a .txt file that lists sample paths, one a line (relative to the "
                        + "list's folder). An --eval folder inside --calib is left out of calibration; "
                        + "a sample that would both calibrate and evaluate is refused. An image becomes "
                        + "((pixel * scale) - mean) / std in the model's layout (NHWC for an [N, H, W, 3] input, gray for"
                        + " one channel)."})
final class QuantizeCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--backend", paramLabel = "onnx|tensorrt|tflite|openvino",
            description = "Backend (default: -Dquantbridge.backend, $QUANTBRIDGE_BACKEND, the config file, "
                    + "else the best usable one).")
    String backend;

    @Option(names = "--model", required = true, paramLabel = "FILE", description = "The float model.")
    Path model;

    @Option(names = "--calib", paramLabel = "DIR|FILE", description = "Calibration data.")
    Path calib;

    @Option(names = "--eval", paramLabel = "DIR|FILE",
            description = "Held-out data for fidelity against the float model. The same folder as --calib "
                    + "means: the samples not drawn for calibration.")
    Path eval;

    @Option(names = "--calibrator", paramLabel = "entropy|percentile|max|mse", defaultValue = "mse",
            description = "Calibrator (default ${DEFAULT-VALUE}: the best of the four on every PaddleOCR model measured;"
                    + " entropy collapses ppocr-rec).")
    String calibrator;

    @Option(names = "--percentile", paramLabel = "P", description = "Percentile for --calibrator percentile "
            + "(default 99.99).")
    Double percentile;

    @Option(names = "--zero-bin", paramLabel = "keep|suppress",
            description = "Entropy: keep the histogram's zero bin as observed, or replace it by bin 1 (NVIDIA's variant).")
    String zeroBin;

    @Option(names = "--tie-break", paramLabel = "first|last",
            description = "Entropy: which of equal minima wins.")
    String tieBreak;

    @Option(names = "--entropy-floor", paramLabel = "none|mse",
            description = "Entropy: never clip tighter than the mse calibrator would on the same histogram (mse), or"
                    + " the search alone (none, the default, as TensorRT; the run warns when it cuts tensors below"
                    + " half of mse's range).")
    String entropyFloor;

    @Option(names = "--precision", paramLabel = "int8|fp16|dynamic", defaultValue = "int8",
            description = "Precision (default ${DEFAULT-VALUE}); dynamic: int8 weights, float activations, no --calib"
                    + " (tflite backend).")
    String precision;

    @CommandLine.Mixin
    PreprocessingOptions preprocessing = new PreprocessingOptions();

    @Option(names = "--samples", paramLabel = "N", defaultValue = "0",
            description = "Calibrate on at most N samples (0, the default: all of them).")
    int samples;

    @Option(names = "--eval-samples", paramLabel = "N", defaultValue = "0",
            description = "Measure fidelity on at most N held-out samples, a seeded choice (0, the default: all).")
    int evalSamples;

    @Option(names = "--calib-exclude", paramLabel = "GLOB",
            description = "Leave out the calibration samples whose id (the path below --calib) matches (e.g."
                    + " opencv-logo.png, 'frame_00*', 'n01440764/*');"
                    + " the evaluation samples stay as they are. Repeatable.")
    List<String> calibExcludes = new ArrayList<>();

    @Option(names = "--seed", paramLabel = "N", defaultValue = "0",
            description = "Seed of the calibration/evaluation split (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--exclude", paramLabel = "PATTERN",
            description = "Keep nodes in float: a node name, an op type, or a regular expression over node names "
                    + "(tflite: an operator, or a regular expression over an operator's first output). A pattern "
                    + "that matches nothing is an error. Repeatable.")
    List<String> excludes = new ArrayList<>();

    @Option(names = "--per-tensor", description = "Per-tensor weight scales instead of per-channel.")
    boolean perTensor;

    @Option(names = "--reduce-range", negatable = true,
            description = "Int8 weights in [-64, 64] (7 bits) instead of [-127, 127], as ONNX Runtime's integer kernels"
                    + " need on x86 CPUs without VNNI (ONNX-based backends; default: on for --target onnxruntime, off"
                    + " otherwise).")
    Boolean reduceRange;

    @Option(names = "--no-equalize", description = "Int8: do not rescale activation channels before calibrating "
            + "(equalization folds per-channel scales into the producing and consuming layers).")
    boolean noEqualize;

    @Option(names = "--equalize-alpha", paramLabel = "A|A,B,..|auto", defaultValue = "0.5",
            description = "Int8, ONNX-based backends: how much of a channel's range equalization moves into the weights "
                    + "of the full convs that read it, 0 (none) to 1 (activation ranges made equal). Default "
                    + "${DEFAULT-VALUE}. Several values (or auto: 0.5,0.75,1) calibrate once each and keep the one "
                    + "whose int8 model scores best on the calibration samples.")
    String equalizeAlpha;

    @Option(names = "--center",
            description = "Int8, ONNX-based backends: also shift one-sided activation channels (taken back exactly by "
                    + "the biases around them) so that symmetric int8 covers only the values they take.")
    boolean center;

    @Option(names = "--no-bias-correction",
            description = "Int8: do not correct conv biases for the mean shift of int8 weight rounding.")
    boolean noBiasCorrection;

    @Option(names = "--float-layers", paramLabel = "N", defaultValue = "0",
            description = "Int8: keep up to N quantized nodes (tflite: ops) in float, those whose int8 costs the "
                    + "most output cosine on calibration samples (a node joins only if it helps). Default 0.")
    int floatLayers;

    @Option(names = "--keep-float", paramLabel = "NODE", split = ",",
            description = "Int8: keep these quantized nodes in float (repeatable or comma-separated; tflite: ops, by "
                    + "their first output tensor), as --float-layers keeps the nodes it chooses: pass its "
                    + "float_layers.chosen from report.json to write that model again without the search. --exclude "
                    + "keeps nodes float from the start instead.")
    List<String> keepFloat = new ArrayList<>();

    @Option(names = "--sensitivity-samples", paramLabel = "K", defaultValue = "64",
            description = "Calibration samples that --float-layers scores each variant on (default ${DEFAULT-VALUE}).")
    int sensitivitySamples;

    @Option(names = "--empirical-bias-correction", paramLabel = "K", defaultValue = "0",
            description = "Int8, ONNX-based backends: after calibration, shift each quantized conv's bias, in graph "
                    + "order, by the mean difference between its float and int8 outputs on K calibration samples "
                    + "(about half an int8 forward pass per conv and sample). Default 0: off.")
    int empiricalBiasSamples;

    @Option(names = "--layers", paramLabel = "N", defaultValue = "0",
            description = "Int8, with --eval (onnx, tensorrt and tflite backends): also compare every tensor of "
                    + "the int8 model with the float function it stands for (the input model on the conditioned "
                    + "channels) on the evaluation samples, in ONNX Runtime or the TFLite interpreter, and list the N "
                    + "int8 roundings that add the most error (report.json layers). Default 0: off.")
    int layers;

    @Option(names = "--gptq", paramLabel = "K", defaultValue = "0",
            description = "Int8 (every backend) and dynamic (tflite, with --calib): round each quantized conv's "
                    + "weights with GPTQ (Hessian-aware, from its input patches on K calibration samples) instead of "
                    + "to the nearest int8 step; the scales stay. Default 0: off.")
    int gptqSamples;

    @Option(names = "--refit", paramLabel = "K", defaultValue = "0",
            description = "Int8 (every backend): refit each quantized conv, in graph order, to the inputs the "
                    + "int8 model gives it on K calibration samples (weights and bias by ridge regression toward the "
                    + "float conv's output, then rounded; a float and an int8 partial forward pass per conv and "
                    + "sample). Default 0: off.")
    int refitSamples;

    @Option(names = "--target", paramLabel = "NAME", description = "What the model is for: onnx tensorrt (default), "
            + "openvino or onnxruntime (a layout ONNX Runtime's CPU int8 kernels fuse); tflite cpu or edgetpu; "
            + "tensorrt and openvino: their devices.")
    String target;

    @Option(names = "--io", paramLabel = "float|int8", defaultValue = "float",
            description = "Input/output type of the quantized model (default ${DEFAULT-VALUE}).")
    String io;

    @CommandLine.Mixin
    FidelityOptions fidelity = new FidelityOptions();

    @Option(names = "--threads", paramLabel = "N", defaultValue = "0",
            description = "Worker threads for calibration and evaluation (default one per core).")
    int threads;

    @Option(names = "--table", paramLabel = "FILE",
            description = "Reuse a portable calibration table (calibration.json) instead of calibrating.")
    Path table;

    @Option(names = "--force-table", description = "Reuse --table even if its model hash or calibrator differs.")
    boolean forceTable;

    @Option(names = "--trt-cache-version", paramLabel = "N", defaultValue = "100900",
            description = "Version in the TensorRT cache header (default ${DEFAULT-VALUE} = TensorRT 10.9.0).")
    String trtCacheVersion;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output folder.")
    Path out;

    @Option(names = "--quiet", description = "No progress output.")
    boolean quiet;

    @Option(names = "--verbose", description = "Stack traces on failure.")
    boolean verbose;

    @Override
    public Integer call() {
        PrintWriter stdout = spec.commandLine().getOut();
        Precision p = Precision.parse(precision);
        if (p != Precision.INT8) {
            // fp16 and dynamic range choose no activation ranges: a calibrator option would be silently ignored
            for (String o : List.of("--calibrator", "--percentile", "--entropy-floor", "--zero-bin", "--tie-break")) {
                if (spec.commandLine().getParseResult().hasMatchedOption(o)) {
                    throw new io.quantbridge.QuantbridgeException(o + " applies only to --precision int8 (--precision "
                            + p.id() + " calibrates no activation ranges)");
                }
            }
        }
        CalibratorSpec.Builder cb = CalibratorSpec.builder(CalibrationMethod.parse(calibrator));
        if (percentile != null) {
            if (!calibrator.equalsIgnoreCase("percentile")) {
                throw new io.quantbridge.QuantbridgeException("--percentile applies only to --calibrator percentile");
            }
            cb.percentile(percentile);
        }
        if (zeroBin != null) cb.zeroBin(parseEnum(CalibratorSpec.ZeroBin.class, "--zero-bin", zeroBin));
        if (tieBreak != null) cb.tieBreak(parseEnum(CalibratorSpec.TieBreak.class, "--tie-break", tieBreak));
        if (entropyFloor != null) {
            if (!calibrator.equalsIgnoreCase("entropy")) {
                throw new io.quantbridge.QuantbridgeException("--entropy-floor applies only to --calibrator entropy");
            }
            cb.floor(parseEnum(CalibratorSpec.Floor.class, "--entropy-floor", entropyFloor));
        }
        List<Double> alphas = parseAlphas(equalizeAlpha);
        QuantizationRequest request = QuantizationRequest.builder()
                .model(model)
                .calibrationData(calib)
                .evaluationData(eval)
                .precision(p)
                .calibrator(cb.build())
                .perChannel(!perTensor)
                .reduceRange(reduceRange)
                .equalize(!noEqualize)
                .equalizeAlpha(alphas.size() == 1 ? alphas.get(0) : QuantizationRequest.DEFAULT_EQUALIZE_ALPHA)
                .equalizeAlphaSearch(alphas.size() == 1 ? List.of() : alphas)
                .biasCorrection(!noBiasCorrection)
                .center(center)
                .floatLayers(floatLayers)
                .keepFloat(keepFloat)
                .sensitivitySamples(sensitivitySamples)
                .empiricalBiasSamples(empiricalBiasSamples)
                .layerErrors(layers)
                .gptqSamples(gptqSamples)
                .refitSamples(refitSamples)
                .excludes(excludes)
                .target(target)
                .io(IoType.parse(io))
                .outputDir(out)
                .preprocessing(preprocessing.build())
                .maxSamples(samples)
                .maxEvaluationSamples(evalSamples)
                .calibrationExcludes(calibExcludes)
                .seed(seed)
                .reuseTable(table)
                .ignoreTableMismatch(forceTable)
                .tensorRtCacheVersion(trtCacheVersion)
                .maskIouThreshold(fidelity.maskThreshold)
                .top1(fidelity.top1)
                .outputViews(fidelity.outputViews())
                .boxes(fidelity.boxDecoders())
                .classLabels(fidelity.labelNames())
                .threads(threads)
                .build();
        BackendSelector.Choice choice = BackendSelector.fromEnvironment().selectToQuantize(backend, request);
        Sessions.notePassedOver(choice, "quantizing it with", spec.commandLine().getErr());
        choice.backend().capabilities().requirePrecision(choice.backend().id(), request.precision());
        ConsoleProgress progress = new ConsoleProgress(spec.commandLine().getErr(), quiet);
        DataFolders.note(calib, SampleSource.CALIBRATION, eval, progress);
        if (eval != null && (calib == null || !eval.toAbsolutePath().normalize().equals(
                calib.toAbsolutePath().normalize()))) {
            DataFolders.note(eval, SampleSource.EVALUATION, calib, progress);
        }
        DataFolders.noteLargeEvaluation(request, DataFolders.LARGE_EVALUATION, progress);
        boolean outExisted = Files.exists(out);
        QuantizationResult result;
        try {
            result = choice.backend().quantize(request, progress);
        } catch (RuntimeException | Error e) {
            if (!outExisted) removeIfEmpty(out); // a failed run leaves no empty --out folder behind
            throw e;
        }
        progress.end();

        Map<String, Object> report = new LinkedHashMap<>(result.report());
        report.putIfAbsent("backend", result.backend());
        report.put("backend_selected_by", choice.source());
        Path reportFile = out.resolve("report.json");
        AtomicFiles.writeString(reportFile, Json.write(report));

        for (Artifact a : result.artifacts()) {
            stdout.printf(Locale.ROOT, "%-18s %s (%,d bytes)%n", a.kind(), a.path(), a.bytes());
        }
        stdout.printf(Locale.ROOT, "%-18s %s%n", "report", reportFile);
        OutlierSamples.warning(report.get("calibration")).ifPresent(w -> stdout.println("warning: " + w));
        EntropyClipping.warning(report.get("calibration")).ifPresent(w -> stdout.println("warning: " + w));
        FidelityPrinter.print(stdout, report.get("fidelity"));
        LayerPrinter.print(stdout, report.get("layers"));
        return 0;
    }

    /** Deletes {@code dir} if it is an empty folder; leaves anything else (and any error) alone. */
    private static void removeIfEmpty(Path dir) {
        try (java.util.stream.Stream<Path> entries = Files.list(dir)) {
            if (entries.findAny().isEmpty()) Files.delete(dir);
        } catch (java.io.IOException | RuntimeException ignored) {
            // not a folder, not readable, or no longer empty: nothing of ours to clean up
        }
    }

    /** {@code --equalize-alpha}: one strength, a comma-separated list to search, or auto. */
    static List<Double> parseAlphas(String text) {
        String t = text.trim();
        if (t.equalsIgnoreCase("auto")) return QuantizationRequest.AUTO_EQUALIZE_ALPHAS;
        List<Double> out = new ArrayList<>();
        for (String part : t.split(",", -1)) {
            try {
                out.add(Double.parseDouble(part.trim()));
            } catch (NumberFormatException e) {
                throw new io.quantbridge.QuantbridgeException("--equalize-alpha: '" + part.trim() + "' is not a "
                        + "number (use a value in [0, 1], a comma-separated list of them, or auto)");
            }
        }
        return out;
    }

    private static <E extends Enum<E>> E parseEnum(Class<E> type, String option, String text) {
        try {
            return Enum.valueOf(type, text.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new io.quantbridge.QuantbridgeException(option + ": unknown value '" + text + "' (use "
                    + java.util.Arrays.stream(type.getEnumConstants()).map(c -> c.name().toLowerCase(Locale.ROOT))
                    .collect(java.util.stream.Collectors.joining(" or ")) + ")");
        }
    }
}
