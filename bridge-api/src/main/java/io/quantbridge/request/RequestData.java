package io.quantbridge.request;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.data.DataSplit;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.data.SampleRef;
import io.quantbridge.data.SampleSource;
import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.tensor.TensorInfo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/** The calibration and evaluation samples of a request, by the same rules in every backend. */
public final class RequestData {
    private RequestData() { }

    /**
     * The split of {@code --calib} / {@code --eval}: when both name the same folder, one seeded disjoint split of it
     * ({@code --samples} for calibration, the rest held out); otherwise each folder whole ({@code --samples} caps
     * the calibration set); {@code --eval-samples} caps the evaluation set either way; then the calibration samples {@code --calib-exclude} names are left out (the evaluation set
     * stays). Null when the request has neither (FP16, or a reused table). A single {@code .npy} or
     * {@code .npz} file may stack samples for these model inputs ({@link SampleSource#discover(Path, String, List)}).
     */
    public static DataSplit split(QuantizationRequest req, List<TensorInfo> modelInputs) {
        DataSplit s = splitAll(req, modelInputs);
        if (s == null) return null;
        s = s.excludingCalibration(req.calibrationExcludes());
        if (!sameData(req)) checkDisjoint(s.calibration(), s.evaluation(), req.calibrationData(),
                req.evaluationData().orElse(null));
        checkImageSize(s, modelInputs, req.preprocessing());
        return s;
    }

    /**
     * When images are among the samples and the model has one image-like input (rank 4, or any rank): the size they
     * are fed at, checked once before any work, as every image would check it ({@link SampleSource#imagePreprocessing}:
     * a dynamic height or width without {@code --size}, or a {@code --size} the model's fixed size refuses). The first
     * pass over the samples would otherwise be the first to say so, after the steps before it had run and printed.
     */
    private static void checkImageSize(DataSplit split, List<TensorInfo> modelInputs, Preprocessing pre) {
        if (modelInputs == null || modelInputs.size() != 1) return;
        TensorInfo in = modelInputs.get(0);
        if (in.rankKnown() && in.shape().length != 4) return;
        boolean images = java.util.stream.Stream.concat(split.calibration().stream(), split.evaluation().stream())
                .anyMatch(r -> r.kind() == SampleRef.Kind.IMAGE);
        if (images) SampleSource.imagePreprocessing(in, SampleSource.forImageInput(in, pre));
    }

    private static DataSplit splitAll(QuantizationRequest req, List<TensorInfo> modelInputs) {
        Path calibPath = req.calibrationData();
        Path evalPath = req.evaluationData().orElse(null);
        boolean same = sameData(req);
        List<SampleRef> calib = samples(calibPath, req.calibrationSamples().orElse(null),
                SampleSource.CALIBRATION, modelInputs, same ? null : inside(evalPath, calibPath));
        if (calib == null) {
            List<SampleRef> eval = samples(evalPath, req.evaluationSamples().orElse(null), SampleSource.EVALUATION,
                    modelInputs, null);
            return eval == null ? null : DataSplit.separate(List.of(), eval, req.seed(), 0,
                    req.maxEvaluationSamples());
        }
        if (same) {
            DataSplit s = DataSplit.split(calib, req.seed(), req.maxSamples(), req.maxEvaluationSamples());
            if (s.evaluation().isEmpty()) {
                String what = req.calibrationData() == null ? "the evaluation samples are the calibration list"
                        : "--eval is the --calib folder " + req.calibrationData();
                throw new QuantbridgeException(what + " but all its " + calib.size()
                        + " samples are used for calibration: lower --samples to hold some out");
            }
            return s;
        }
        List<SampleRef> eval = samples(evalPath, req.evaluationSamples().orElse(null), SampleSource.EVALUATION,
                modelInputs, inside(calibPath, evalPath));
        return DataSplit.separate(calib, eval == null ? List.of() : eval, req.seed(), req.maxSamples(),
                req.maxEvaluationSamples());
    }

    /**
     * The samples of a folder or file (without {@code excluded}, a file or folder inside it), or of a list of
     * tensors; null when there are neither.
     */
    private static List<SampleRef> samples(Path files, List<Map<String, FloatTensor>> tensors, String label,
                                           List<TensorInfo> modelInputs, Path excluded) {
        if (files != null) return SampleSource.discover(files, label, modelInputs, excluded).samples();
        if (tensors != null) return SampleSource.ofTensors(tensors, label);
        return null;
    }

    /** Whether calibration and evaluation name the same folder or file, or the same list of tensors. */
    private static boolean sameData(QuantizationRequest req) {
        Path calib = req.calibrationData();
        Path eval = req.evaluationData().orElse(null);
        if (calib != null && eval != null) return sameFile(calib, eval);
        return req.calibrationSamples().isPresent()
                && req.calibrationSamples().get() == req.evaluationSamples().orElse(null);
    }

    /**
     * Loads every sample of {@code samples} once for {@code modelInputs} as evaluation will feed it (images decoded
     * and preprocessed, {@code .npy} and {@code .npz} parsed, tensors taken from the program's list; shapes matched,
     * NaN and infinity refused) and fails on the first one that cannot be fed, naming it as evaluation would.
     * Backends run it on the evaluation samples before calibrating, so that a bad sample fails the run at once
     * rather than after calibration, when the models and tables were already written (a truncated JPEG among
     * skimage's photos used to end ppocr-det's run after its 20 s of calibration, and an evaluation {@code .npy} in
     * the other layout left every artifact but report.json behind).
     */
    public static void checkEvaluation(List<SampleRef> samples, List<TensorInfo> modelInputs, Preprocessing pre) {
        for (SampleRef s : samples) SampleSource.load(s, modelInputs, pre);
    }

    /**
     * {@code inner} when it lies inside the folder {@code outer} (the evaluation folder kept in the calibration
     * folder, or the other way round), else null: discovery of the outer set leaves it out.
     */
    private static Path inside(Path inner, Path outer) {
        if (inner == null || outer == null || !Files.isDirectory(outer)) return null;
        Path in = realPath(inner);
        Path out = realPath(outer);
        Path inAbs = inner.toAbsolutePath().normalize();
        Path outAbs = outer.toAbsolutePath().normalize();
        // as written or with links resolved: data/eval may be a link to a folder elsewhere
        boolean nested = (in.startsWith(out) && !in.equals(out)) || (inAbs.startsWith(outAbs) && !inAbs.equals(outAbs));
        return nested ? inner : null;
    }

    /**
     * Refuses calibration and evaluation sets that share a sample file or folder (two folders with links to the same
     * photos, a single file given as evaluation that is also in the calibration folder): fidelity measured on
     * samples that calibrated the model says more than the model holds to. Only the samples that calibrate count: a
     * photo of the calibration folder that {@code --samples} did not draw, or that {@code --calib-exclude} left out,
     * may be evaluated. The same folder for both is split instead, and never reaches here.
     */
    private static void checkDisjoint(List<SampleRef> calib, List<SampleRef> eval, Path calibPath, Path evalPath) {
        if (calibPath == null || evalPath == null || calib.isEmpty() || eval.isEmpty()) return;
        Map<Path, SampleRef> byFile = new java.util.HashMap<>();
        for (SampleRef s : calib) byFile.putIfAbsent(realPath(s.path()), s);
        List<SampleRef> shared = new java.util.ArrayList<>();
        SampleRef firstCalib = null;
        for (SampleRef s : eval) {
            SampleRef c = byFile.get(realPath(s.path()));
            if (c == null) continue;
            if (shared.isEmpty()) firstCalib = c;
            shared.add(s);
        }
        if (shared.isEmpty()) return;
        throw new QuantbridgeException("evaluation data " + evalPath + " and calibration data " + calibPath + " share "
                + shared.size() + " of " + eval.size() + " evaluation sample" + (eval.size() == 1 ? "" : "s") + " (e.g. "
                + shared.get(0).where() + ", which is calibration sample " + firstCalib.id() + "): fidelity on"
                + " samples that calibrated the model overstates it; give --eval what --calib names to split it into"
                + " disjoint sets, or sets without common files");
    }

    private static Path realPath(Path p) {
        try {
            return p.toRealPath();
        } catch (IOException e) {
            return p.toAbsolutePath().normalize();
        }
    }

    private static boolean sameFile(Path a, Path b) {
        try {
            return Files.isSameFile(a, b);
        } catch (IOException e) {
            return a.toAbsolutePath().normalize().equals(b.toAbsolutePath().normalize());
        }
    }
}
