package io.quantbridge.request;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.calib.CalibrationMethod;
import io.quantbridge.calib.CalibratorSpec;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.tensor.FloatTensor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Everything one quantization run needs. Immutable; build with {@link #builder()}.
 *
 * <p>Calibration data is a folder (images, {@code .npy} files, or one sub-folder of {@code .npy} files per sample)
 * or a single file. When the evaluation data is the same folder as the calibration data, the files are split: a
 * seeded shuffle, the first {@code maxSamples} for calibration and the rest for evaluation, disjoint. A program that
 * holds its samples as tensors gives them with {@link Builder#calibrationSamples} and
 * {@link Builder#evaluationSamples} instead, by the same rules (the same list for both is split the same way).
 */
public final class QuantizationRequest {
    private final Path model;
    private final Path calibrationData;
    private final Path evaluationData;
    private final List<Map<String, FloatTensor>> calibrationSamples;
    private final List<Map<String, FloatTensor>> evaluationSamples;
    private final Precision precision;
    private final CalibratorSpec calibrator;
    private final boolean perChannel;
    private final List<String> excludes;
    private final String target;
    private final IoType io;
    private final Path outputDir;
    private final Preprocessing preprocessing;
    private final int maxSamples;
    private final int maxEvaluationSamples;
    private final List<String> calibrationExcludes;
    private final long seed;
    private final Path reuseTable;
    private final boolean ignoreTableMismatch;
    private final String tensorRtCacheVersion;
    private final Double maskIouThreshold;
    private final boolean top1;
    private final List<io.quantbridge.eval.OutputView> outputViews;
    private final List<io.quantbridge.eval.BoxDecoder> boxes;
    private final List<String> classLabels;
    private final int threads;
    private final boolean equalize;
    private final double equalizeAlpha;
    private final List<Double> equalizeAlphaCandidates;
    private final boolean biasCorrection;
    private final boolean center;
    private final int floatLayers;
    private final List<String> keepFloat;
    private final int sensitivitySamples;
    private final int empiricalBiasSamples;
    private final int gptqSamples;
    private final int refitSamples;
    private final int layerErrors;
    private final Boolean reduceRange;

    private QuantizationRequest(Builder b) {
        this.model = b.model;
        this.calibrationData = b.calibrationData;
        this.evaluationData = b.evaluationData;
        this.calibrationSamples = b.calibrationSamples;
        this.evaluationSamples = b.evaluationSamples;
        this.precision = b.precision;
        this.calibrator = b.calibrator;
        this.perChannel = b.perChannel;
        this.reduceRange = b.reduceRange;
        this.excludes = List.copyOf(b.excludes);
        this.target = b.target;
        this.io = b.io;
        this.outputDir = b.outputDir;
        this.preprocessing = b.preprocessing;
        this.maxSamples = b.maxSamples;
        this.maxEvaluationSamples = b.maxEvaluationSamples;
        this.calibrationExcludes = List.copyOf(b.calibrationExcludes);
        this.seed = b.seed;
        this.reuseTable = b.reuseTable;
        this.ignoreTableMismatch = b.ignoreTableMismatch;
        this.tensorRtCacheVersion = b.tensorRtCacheVersion;
        this.maskIouThreshold = b.maskIouThreshold;
        this.top1 = b.top1;
        this.outputViews = List.copyOf(b.outputViews);
        this.boxes = List.copyOf(b.boxes);
        this.classLabels = List.copyOf(b.classLabels);
        this.threads = b.threads;
        this.equalize = b.equalize;
        this.equalizeAlpha = b.equalizeAlpha;
        this.equalizeAlphaCandidates = List.copyOf(b.equalizeAlphaCandidates);
        this.biasCorrection = b.biasCorrection;
        this.center = b.center;
        this.layerErrors = b.layerErrors;
        this.floatLayers = b.floatLayers;
        this.keepFloat = List.copyOf(b.keepFloat);
        this.sensitivitySamples = b.sensitivitySamples;
        this.empiricalBiasSamples = b.empiricalBiasSamples;
        this.gptqSamples = b.gptqSamples;
        this.refitSamples = b.refitSamples;
    }

    /** The migration strength equalization uses unless asked otherwise ({@link #equalizeAlpha()}). */
    public static final double DEFAULT_EQUALIZE_ALPHA = 0.5;
    /** The strengths {@code --equalize-alpha auto} tries ({@link #equalizeAlphaCandidates()}). */
    public static final List<Double> AUTO_EQUALIZE_ALPHAS = List.of(0.5, 0.75, 1.0);

    public static Builder builder() {
        return new Builder();
    }

    public Path model() { return model; }
    public Path calibrationData() { return calibrationData; }
    public Optional<Path> evaluationData() { return Optional.ofNullable(evaluationData); }
    /** Calibration samples given as tensors ({@link Builder#calibrationSamples}), the list as given. */
    public Optional<List<Map<String, FloatTensor>>> calibrationSamples() {
        return Optional.ofNullable(calibrationSamples);
    }
    /** Evaluation samples given as tensors ({@link Builder#evaluationSamples}), the list as given. */
    public Optional<List<Map<String, FloatTensor>>> evaluationSamples() {
        return Optional.ofNullable(evaluationSamples);
    }
    public Precision precision() { return precision; }
    public CalibratorSpec calibrator() { return calibrator; }
    public boolean perChannel() { return perChannel; }
    /** Node names, op types or regular expressions over node names; matching nodes stay in float. */
    public List<String> excludes() { return excludes; }
    public Optional<String> target() { return Optional.ofNullable(target); }

    /**
     * Int8 weights in the 7-bit range [-64, 64] instead of [-127, 127] (ONNX-based backends): ONNX Runtime's integer
     * kernels on x86 CPUs without VNNI add uint8 x int8 products in pairs into int16, which saturates with full-range
     * weights. Empty: the backend's default for the target (on for {@code --target onnxruntime}, off otherwise).
     */
    public Optional<Boolean> reduceRange() { return Optional.ofNullable(reduceRange); }
    public IoType io() { return io; }
    public Path outputDir() { return outputDir; }
    public Preprocessing preprocessing() { return preprocessing; }
    /** At most this many calibration samples; 0 = all. */
    public int maxSamples() { return maxSamples; }

    /** At most this many evaluation samples, a seeded choice of them ({@code --eval-samples}); 0 = all. */
    public int maxEvaluationSamples() { return maxEvaluationSamples; }
    /** Globs of calibration sample ids to leave out after the split ({@code --calib-exclude}). */
    public List<String> calibrationExcludes() { return calibrationExcludes; }
    public long seed() { return seed; }
    /** A calibration table (portable JSON) to reuse instead of calibrating. */
    public Optional<Path> reuseTable() { return Optional.ofNullable(reuseTable); }
    public boolean ignoreTableMismatch() { return ignoreTableMismatch; }
    /**
     * Int8: rescale the channels of activations (folded into the producing and consuming layers, the float model's
     * function unchanged) so that one per-tensor scale fits every channel. Default true.
     */
    public boolean equalize() { return equalize; }
    /**
     * Int8 on the ONNX-based backends: how far equalization moves a channel's range into the weights of the full
     * convs that read it ({@code s[c] = range[c]^alpha / weight[c]^(1-alpha)}, SmoothQuant's migration strength):
     * 0 leaves the activation ranges as they are, 1 equalizes them completely. Default {@value #DEFAULT_EQUALIZE_ALPHA}.
     */
    public double equalizeAlpha() { return equalizeAlpha; }
    /**
     * Int8 on the ONNX-based backends: when not empty, calibration tries each of these migration strengths (in
     * ascending order) instead of {@link #equalizeAlpha()} and keeps the one whose int8 model scores the highest
     * pooled output cosine against the float model on the calibration samples (all of them: on ppocr-det, 32 of 64
     * ranked the strengths differently from the held-out photos, all 64 as they did). Costs one histogram pass and
     * one scoring pass per strength. Default empty.
     */
    public List<Double> equalizeAlphaCandidates() { return equalizeAlphaCandidates; }
    /** Int8: correct conv biases for the mean shift that weight rounding causes. Default true. */
    public boolean biasCorrection() { return biasCorrection; }
    /**
     * Int8 on the ONNX-based backends, with equalization: also shift the channels of one-sided activations (a
     * producer's bias takes the shift, and the bias of each reading conv, which must pad nothing, takes it back) so
     * that symmetric int8 spends its codes on the values they take. Default false: it helps some calibrators and
     * not others (see docs/command-line.md).
     */
    public boolean center() { return center; }
    /**
     * Int8 on the ONNX-based backends, with evaluation data: also compare every tensor of the int8 model with the
     * float model it stands for on the evaluation samples and report the {@code N} int8 roundings that add the
     * most error ({@code layers} in report.json). Default 0: off.
     */
    public int layerErrors() { return layerErrors; }
    /**
     * Int8: keep up to this many quantized nodes in float, those whose int8 costs the most output fidelity on
     * {@link #sensitivitySamples()} calibration samples (sensitivity analysis). Default 0: none.
     */
    public int floatLayers() { return floatLayers; }
    /**
     * Int8: quantized nodes to keep in float by name (on the tflite backend an op, by its first output tensor), as
     * {@link #floatLayers()} keeps the nodes it chooses: the model is conditioned and calibrated with them quantized,
     * and they go float afterwards, their bias corrections undone. Passing a search's {@code float_layers.chosen} back
     * here writes what that run wrote, without the search. {@link #excludes()} differs: excluded nodes stay float
     * from the start (on the ONNX-based backends they are not conditioned either). Default: none.
     */
    public List<String> keepFloat() { return keepFloat; }
    /** How many calibration samples the float-layer search scores variants on (spread over the set; all of them when there are fewer). Default 64. */
    public int sensitivitySamples() { return sensitivitySamples; }
    /**
     * Int8, ONNX-based backends: after calibration (and the float-layer search), shift each quantized conv's bias, in
     * graph order, by the mean difference between its float and int8 outputs on this many calibration samples (spread
     * over the set). Default 0: off.
     */
    public int empiricalBiasSamples() { return empiricalBiasSamples; }

    /**
     * Calibration samples for GPTQ rounding of the int8 conv weights (Hessian-aware instead of nearest; int8 on every
     * backend, dynamic on tflite); 0: off.
     */
    public int gptqSamples() { return gptqSamples; }

    /**
     * Int8, every backend: calibration samples on which each quantized conv, in graph order, is refitted to the
     * inputs the int8 model gives it (weights and bias by ridge regression toward the float conv's output); 0: off.
     */
    public int refitSamples() { return refitSamples; }
    /** The version written in the TensorRT cache header, e.g. {@code 100900} for TensorRT 10.9.0. */
    public String tensorRtCacheVersion() { return tensorRtCacheVersion; }
    /** Evaluation also reports mask IoU at this threshold (segmentation and detection maps). */
    public Optional<Double> maskIouThreshold() { return Optional.ofNullable(maskIouThreshold); }
    /** Evaluation also reports top-1 agreement over the last axis (classifiers). */
    public boolean top1() { return top1; }
    /** Views of the outputs (slices, sigmoids) that evaluation also judges on their own: {@code --slice}, {@code --sigmoid}. */
    public List<io.quantbridge.eval.OutputView> outputViews() { return outputViews; }
    /** Outputs that evaluation also decodes into boxes for box recall ({@code --boxes}). */
    public List<io.quantbridge.eval.BoxDecoder> boxes() { return boxes; }
    /** Class names by class index for per-class fidelity entries ({@code --labels}); empty for none. */
    public List<String> classLabels() { return classLabels; }
    /** What evaluation measures: the task metrics and output views asked for. */
    public io.quantbridge.eval.FidelityEvaluation.Metrics fidelityMetrics() {
        return new io.quantbridge.eval.FidelityEvaluation.Metrics(maskIouThreshold, top1, outputViews, boxes,
                classLabels);
    }
    /** Worker threads for calibration and evaluation; 0 = one per core. */
    public int threads() { return threads; }

    public Builder toBuilder() {
        Builder b = new Builder();
        b.model = model;
        b.calibrationData = calibrationData;
        b.evaluationData = evaluationData;
        b.calibrationSamples = calibrationSamples;
        b.evaluationSamples = evaluationSamples;
        b.precision = precision;
        b.calibrator = calibrator;
        b.perChannel = perChannel;
        b.reduceRange = reduceRange;
        b.excludes.addAll(excludes);
        b.target = target;
        b.io = io;
        b.outputDir = outputDir;
        b.preprocessing = preprocessing;
        b.maxSamples = maxSamples;
        b.maxEvaluationSamples = maxEvaluationSamples;
        b.calibrationExcludes.addAll(calibrationExcludes);
        b.seed = seed;
        b.reuseTable = reuseTable;
        b.ignoreTableMismatch = ignoreTableMismatch;
        b.tensorRtCacheVersion = tensorRtCacheVersion;
        b.maskIouThreshold = maskIouThreshold;
        b.top1 = top1;
        b.outputViews.addAll(outputViews);
        b.boxes.addAll(boxes);
        b.classLabels.addAll(classLabels);
        b.threads = threads;
        b.equalize = equalize;
        b.equalizeAlpha = equalizeAlpha;
        b.equalizeAlphaCandidates = new ArrayList<>(equalizeAlphaCandidates);
        b.biasCorrection = biasCorrection;
        b.center = center;
        b.layerErrors = layerErrors;
        b.floatLayers = floatLayers;
        b.keepFloat.addAll(keepFloat);
        b.sensitivitySamples = sensitivitySamples;
        b.empiricalBiasSamples = empiricalBiasSamples;
        b.gptqSamples = gptqSamples;
        b.refitSamples = refitSamples;
        return b;
    }

    public static final class Builder {
        private Path model;
        private Path calibrationData;
        private Path evaluationData;
        private List<Map<String, FloatTensor>> calibrationSamples;
        private List<Map<String, FloatTensor>> evaluationSamples;
        private Precision precision = Precision.INT8;
        private CalibratorSpec calibrator = CalibratorSpec.of(CalibrationMethod.MSE);
        private boolean perChannel = true;
        private Boolean reduceRange;
        private final List<String> excludes = new ArrayList<>();
        private String target;
        private IoType io = IoType.FLOAT;
        private Path outputDir;
        private Preprocessing preprocessing = Preprocessing.defaults();
        private int maxSamples;
        private int maxEvaluationSamples;
        private final List<String> calibrationExcludes = new ArrayList<>();
        private long seed = 0;
        private Path reuseTable;
        private boolean ignoreTableMismatch;
        private boolean equalize = true;
        private double equalizeAlpha = DEFAULT_EQUALIZE_ALPHA;
        private List<Double> equalizeAlphaCandidates = new ArrayList<>();
        private boolean biasCorrection = true;
        private boolean center;
        private int layerErrors;
        private int floatLayers;
        private final List<String> keepFloat = new ArrayList<>();
        private int sensitivitySamples = 64;
        private int empiricalBiasSamples;
        private int gptqSamples;
        private int refitSamples;
        private String tensorRtCacheVersion = "100900";
        private Double maskIouThreshold;
        private boolean top1;
        private final List<io.quantbridge.eval.OutputView> outputViews = new ArrayList<>();
        private final List<io.quantbridge.eval.BoxDecoder> boxes = new ArrayList<>();
        private final List<String> classLabels = new ArrayList<>();
        private int threads;

        public Builder model(Path model) { this.model = model; return this; }
        public Builder calibrationData(Path p) { this.calibrationData = p; return this; }
        public Builder evaluationData(Path p) { this.evaluationData = p; return this; }

        /**
         * Calibration samples held as tensors instead of {@link #calibrationData} files: sample {@code i} is a tensor
         * per model input name, shaped as the input (a missing leading batch of 1 is added; NaN and infinity are
         * refused, naming the sample as {@code samples[i]}). The list is kept as given, not copied, so it may make
         * its samples when asked; {@link io.quantbridge.data.SampleSource#ofTensors} says how it is read. With
         * {@link #maxSamples} a seeded choice of them calibrates.
         */
        public Builder calibrationSamples(List<Map<String, FloatTensor>> samples) {
            this.calibrationSamples = samples;
            return this;
        }

        /**
         * Held-out samples held as tensors, as {@link #calibrationSamples}: fidelity is measured on them. The same
         * list as {@link #calibrationSamples} is split as one folder is: {@link #maxSamples} calibrate, the rest
         * evaluate.
         */
        public Builder evaluationSamples(List<Map<String, FloatTensor>> samples) {
            this.evaluationSamples = samples;
            return this;
        }
        public Builder precision(Precision p) { this.precision = p; return this; }
        public Builder calibrator(CalibratorSpec c) { this.calibrator = c; return this; }
        public Builder perChannel(boolean v) { this.perChannel = v; return this; }
        /** See {@link QuantizationRequest#reduceRange()}; null for the target's default. */
        public Builder reduceRange(Boolean v) { this.reduceRange = v; return this; }
        public Builder exclude(String pattern) { this.excludes.add(pattern); return this; }
        public Builder excludes(List<String> patterns) { this.excludes.addAll(patterns); return this; }
        public Builder target(String t) { this.target = t; return this; }
        public Builder io(IoType io) { this.io = io; return this; }
        public Builder outputDir(Path p) { this.outputDir = p; return this; }
        public Builder preprocessing(Preprocessing p) { this.preprocessing = p; return this; }
        public Builder seed(long seed) { this.seed = seed; return this; }
        public Builder reuseTable(Path p) { this.reuseTable = p; return this; }
        public Builder ignoreTableMismatch(boolean v) { this.ignoreTableMismatch = v; return this; }
        public Builder equalize(boolean v) { this.equalize = v; return this; }
        public Builder biasCorrection(boolean v) { this.biasCorrection = v; return this; }
        /** See {@link QuantizationRequest#center()}. */
        public Builder center(boolean v) { this.center = v; return this; }
        /** See {@link QuantizationRequest#layerErrors()}. */
        public Builder layerErrors(int n) {
            this.layerErrors = atLeast("--layers", n, 0);
            return this;
        }

        public Builder equalizeAlpha(double alpha) {
            if (!(alpha >= 0 && alpha <= 1)) {
                throw new QuantbridgeException("--equalize-alpha: " + alpha + " is not in [0, 1]");
            }
            this.equalizeAlpha = alpha;
            return this;
        }

        /**
         * Search these strengths (at least two different ones, each in [0, 1]) instead of using one; see
         * {@link QuantizationRequest#equalizeAlphaCandidates()}. An empty list turns the search off.
         */
        public Builder equalizeAlphaSearch(List<Double> alphas) {
            java.util.TreeSet<Double> sorted = new java.util.TreeSet<>();
            for (Double a : alphas) {
                if (a == null || !(a >= 0 && a <= 1)) {
                    throw new QuantbridgeException("--equalize-alpha: " + a + " is not in [0, 1]");
                }
                sorted.add(a == 0 ? 0.0 : a); // -0.0 and 0.0 are one strength
            }
            if (sorted.size() == 1) {
                throw new QuantbridgeException("--equalize-alpha: a search needs at least two different strengths "
                        + "(got " + sorted.first() + "); pass one value to use it without searching");
            }
            this.equalizeAlphaCandidates = new ArrayList<>(sorted);
            return this;
        }

        public Builder maskIouThreshold(Double t) {
            if (t != null && !Double.isFinite(t)) throw new QuantbridgeException("--mask-threshold: " + t);
            this.maskIouThreshold = t;
            return this;
        }

        public Builder top1(boolean v) { this.top1 = v; return this; }

        /** Class names by class index for per-class fidelity entries (replaces any given before). */
        public Builder classLabels(List<String> names) {
            this.classLabels.clear();
            this.classLabels.addAll(names);
            return this;
        }

        /** Outputs to decode into boxes for box recall (replaces any given before). */
        public Builder boxes(List<io.quantbridge.eval.BoxDecoder> decoders) {
            this.boxes.clear();
            this.boxes.addAll(decoders);
            return this;
        }

        /**
         * Also judge these views of the outputs on their own, in this order (slices, sigmoids; replaces earlier ones).
         */
        public Builder outputViews(List<? extends io.quantbridge.eval.OutputView> views) {
            this.outputViews.clear();
            this.outputViews.addAll(views);
            return this;
        }

        public Builder floatLayers(int n) { this.floatLayers = atLeast("--float-layers", n, 0); return this; }
        /** Quantized nodes to keep in float by name (replaces any given before); see {@link #keepFloat()}. */
        public Builder keepFloat(List<String> nodes) {
            this.keepFloat.clear();
            for (String n : nodes) {
                if (n == null || n.isBlank()) throw new QuantbridgeException("--keep-float: empty node name");
                if (!this.keepFloat.contains(n)) this.keepFloat.add(n);
            }
            return this;
        }
        public Builder sensitivitySamples(int n) {
            this.sensitivitySamples = atLeast("--sensitivity-samples", n, 1);
            return this;
        }
        public Builder empiricalBiasSamples(int n) {
            this.empiricalBiasSamples = atLeast("--empirical-bias-correction", n, 0);
            return this;
        }
        public Builder gptqSamples(int n) {
            this.gptqSamples = atLeast("--gptq", n, 0);
            return this;
        }
        public Builder refitSamples(int n) {
            this.refitSamples = atLeast("--refit", n, 0);
            return this;
        }
        public Builder threads(int n) { this.threads = atLeast("--threads", n, 0); return this; }
        public Builder maxSamples(int n) { this.maxSamples = atLeast("--samples", n, 0); return this; }

        /**
         * Evaluates on at most {@code n} held-out samples (0, the default: all), a seeded choice of them: the rest of
         * a large folder split with {@link #maxSamples} (ImageNet's 50,000 photos, 500 calibrating) would otherwise
         * all be read before calibration and run through both models.
         */
        public Builder maxEvaluationSamples(int n) {
            this.maxEvaluationSamples = atLeast("--eval-samples", n, 0);
            return this;
        }

        /** Calibration samples to leave out, by id glob (replaces any given before). */
        public Builder calibrationExcludes(List<String> globs) {
            this.calibrationExcludes.clear();
            this.calibrationExcludes.addAll(globs);
            return this;
        }

        /** {@code n}, or an error naming the option: "is negative" below 0, "(needs at least min)" otherwise. */
        private static int atLeast(String option, int n, int min) {
            if (n >= min) return n;
            throw new QuantbridgeException(option + ": " + n
                    + (min == 0 ? " is negative" : " (needs at least " + min + ")"));
        }

        public Builder tensorRtCacheVersion(String v) {
            if (v == null || !v.matches("[0-9]+")) {
                throw new QuantbridgeException("--trt-cache-version: '" + v + "' is not a number such as 100900");
            }
            this.tensorRtCacheVersion = v;
            return this;
        }

        public QuantizationRequest build() {
            if (model == null) throw new QuantbridgeException("--model is required");
            if (outputDir == null) throw new QuantbridgeException("--out is required");
            if (calibrationData != null && calibrationSamples != null) {
                throw new QuantbridgeException("calibration data is given twice, as files (" + calibrationData
                        + ") and as tensors: give one");
            }
            if (evaluationData != null && evaluationSamples != null) {
                throw new QuantbridgeException("evaluation data is given twice, as files (" + evaluationData
                        + ") and as tensors: give one");
            }
            boolean calibration = calibrationData != null || calibrationSamples != null;
            boolean evaluation = evaluationData != null || evaluationSamples != null;
            if (precision == Precision.INT8 && !calibration && reuseTable == null) {
                throw new QuantbridgeException("--calib is required for int8 (or reuse a table with --table)");
            }
            if (floatLayers > 0 && precision != Precision.INT8) {
                throw new QuantbridgeException("--float-layers: only --precision int8 keeps chosen layers in float (this "
                        + "run is " + precision.id() + ")");
            }
            if (!keepFloat.isEmpty() && precision != Precision.INT8) {
                throw new QuantbridgeException("--keep-float: only --precision int8 keeps quantized nodes in float (this "
                        + "run is " + precision.id() + ")");
            }
            if (!keepFloat.isEmpty() && floatLayers > 0) {
                throw new QuantbridgeException("--keep-float and --float-layers both choose the nodes kept in float "
                        + "(--keep-float names them, --float-layers searches): choose one");
            }
            if (empiricalBiasSamples > 0 && precision != Precision.INT8) {
                throw new QuantbridgeException("--empirical-bias-correction: only --precision int8 has biases to "
                        + "correct (this run is " + precision.id() + ")");
            }
            if (gptqSamples > 0 && precision != Precision.INT8 && precision != Precision.DYNAMIC) {
                throw new QuantbridgeException("--gptq: only --precision int8 and dynamic round weights to int8 (this "
                        + "run is " + precision.id() + ")");
            }
            if (refitSamples > 0 && precision != Precision.INT8) {
                throw new QuantbridgeException("--refit: only --precision int8 has int8 inputs to refit convs to (this "
                        + "run is " + precision.id() + ")");
            }
            if (refitSamples > 0 && gptqSamples > 0) {
                throw new QuantbridgeException("--refit and --gptq both set the int8 weights of the convs (refit fits "
                        + "them to the int8 model's inputs and rounds to nearest; GPTQ rounds the float weights): "
                        + "choose one");
            }
            if (gptqSamples > 0 && precision == Precision.DYNAMIC && !calibration) {
                throw new QuantbridgeException("--gptq: GPTQ rounds from the input statistics of calibration samples;"
                        + " give them with --calib (--precision dynamic needs no other data)");
            }
            if ((equalizeAlpha != DEFAULT_EQUALIZE_ALPHA || !equalizeAlphaCandidates.isEmpty())
                    && (!equalize || precision != Precision.INT8)) {
                throw new QuantbridgeException("--equalize-alpha: only int8 with equalization uses it (this run is "
                        + precision.id() + (equalize ? "" : " with --no-equalize") + ")");
            }
            if (layerErrors > 0 && (precision != Precision.INT8 || !evaluation)) {
                throw new QuantbridgeException("--layers: it compares the int8 model with its float model on the "
                        + "evaluation samples; it needs --precision int8 (this run is " + precision.id() + ")"
                        + (evaluation ? "" : " and --eval"));
            }
            if (center && (!equalize || precision != Precision.INT8)) {
                throw new QuantbridgeException("--center: only int8 with equalization shifts channels (this run is "
                        + precision.id() + (equalize ? "" : " with --no-equalize") + ")");
            }
            if (precision == Precision.FP16 && !perChannel) {
                throw new QuantbridgeException("--per-tensor: it sets how int8 weights are scaled; --precision fp16 "
                        + "has no int8 weights");
            }
            if (precision == Precision.FP16 && reduceRange != null) {
                throw new QuantbridgeException("--" + (reduceRange ? "" : "no-") + "reduce-range: it sets the range "
                        + "of int8 weights; --precision fp16 has no int8 weights");
            }
            if (!equalizeAlphaCandidates.isEmpty() && equalizeAlpha != DEFAULT_EQUALIZE_ALPHA) {
                throw new QuantbridgeException("--equalize-alpha: either one strength or a search, not both");
            }
            if (!equalizeAlphaCandidates.isEmpty() && reuseTable != null) {
                throw new QuantbridgeException("--equalize-alpha: a search calibrates once per strength, and --table "
                        + "reuses a calibration; pass the strength the table records instead");
            }
            return new QuantizationRequest(this);
        }
    }
}
