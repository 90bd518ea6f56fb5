package io.quantbridge.data;

import io.quantbridge.QuantbridgeException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

/**
 * Which samples calibrate and which evaluate, fixed by a seed so that a run can be repeated and reported.
 *
 * <p>{@link #split}: the samples sorted by id are shuffled with {@code Collections.shuffle(list, new Random(seed))};
 * the first {@code n} calibrate ({@code n = 0}: all of them) and the rest evaluate, so the two sets are disjoint.
 * {@link #separate}: evaluation comes from another folder, and each set is capped independently with the same
 * shuffle ({@link #cap}). Within each set the chosen samples are listed (and processed) in id order, so a result
 * depends on which samples were chosen, not on the shuffle order.
 */
public final class DataSplit {
    private final long seed;
    private final List<SampleRef> calibration;
    private final List<SampleRef> evaluation;
    private final boolean separateEvaluation;
    private final List<String> excluded;

    private DataSplit(long seed, List<SampleRef> calibration, List<SampleRef> evaluation, boolean separate) {
        this(seed, calibration, evaluation, separate, List.of());
    }

    private DataSplit(long seed, List<SampleRef> calibration, List<SampleRef> evaluation, boolean separate,
                      List<String> excluded) {
        this.seed = seed;
        this.calibration = List.copyOf(calibration);
        this.evaluation = List.copyOf(evaluation);
        this.separateEvaluation = separate;
        this.excluded = List.copyOf(excluded);
    }

    /**
     * This split without the calibration samples whose id is one of {@code globs} or matches it ({@code *} and
     * {@code ?} within a path segment, as file globs): the evaluation samples stay as they are, so that a run without
     * a calibration sample is judged on the same held-out set.
     *
     * @throws QuantbridgeException naming the pattern when one matches no calibration sample (a typo would
     *                              otherwise exclude nothing)
     */
    public DataSplit excludingCalibration(List<String> globs) {
        if (globs.isEmpty()) return this;
        List<SampleRef> kept = new ArrayList<>(calibration);
        List<String> gone = new ArrayList<>(excluded);
        for (String g : globs) {
            java.nio.file.PathMatcher glob;
            try {
                glob = java.nio.file.FileSystems.getDefault().getPathMatcher("glob:" + g);
            } catch (IllegalArgumentException e) { // e.g. an unclosed [: then only the id itself
                glob = p -> false;
            }
            java.nio.file.PathMatcher m = glob;
            // an id matches as itself too: stacked samples are named like calib.npy[07], a glob character class
            List<SampleRef> hit = calibration.stream().filter(s -> s.id().equals(g) || matches(m, s.id())).toList();
            if (hit.isEmpty()) {
                throw new QuantbridgeException("--calib-exclude '" + g + "' matches none of the " + calibration.size()
                        + " calibration samples (ids look like '" + (calibration.isEmpty() ? "" : calibration.get(0).id())
                        + "')");
            }
            for (SampleRef s : hit) {
                if (kept.remove(s)) gone.add(s.id());
            }
        }
        Collections.sort(gone);
        return new DataSplit(seed, kept, evaluation, separateEvaluation, gone);
    }

    private static boolean matches(java.nio.file.PathMatcher m, String id) {
        try {
            return m.matches(java.nio.file.Path.of(id));
        } catch (java.nio.file.InvalidPathException e) {
            return false;
        }
    }

    /** Ids of the calibration samples {@link #excludingCalibration} left out, in id order. */
    public List<String> excludedCalibration() { return excluded; }

    /**
     * Splits one data set: {@code calibrationCount} samples (0 = all, leaving none for evaluation) for calibration,
     * the rest for evaluation.
     */
    public static DataSplit split(List<SampleRef> samples, long seed, int calibrationCount) {
        return split(samples, seed, calibrationCount, 0);
    }

    /**
     * Splits one data set: {@code calibrationCount} samples (0 = all) for calibration and, of the rest, at most
     * {@code evaluationCount} (0 = all of them) for evaluation: the first and the next ones of the same seeded
     * shuffle, so the calibration samples do not depend on the evaluation cap.
     */
    public static DataSplit split(List<SampleRef> samples, long seed, int calibrationCount, int evaluationCount) {
        checkCount(calibrationCount, "--samples");
        checkCount(evaluationCount, "--eval-samples");
        List<SampleRef> shuffled = shuffled(samples, seed);
        int n = calibrationCount == 0 ? shuffled.size() : Math.min(calibrationCount, shuffled.size());
        int end = evaluationCount == 0 ? shuffled.size() : Math.min(shuffled.size(), n + evaluationCount);
        return new DataSplit(seed, sorted(shuffled.subList(0, n)), sorted(shuffled.subList(n, end)), false);
    }

    /**
     * Calibration and evaluation from different folders: each capped with {@link #cap} ({@code 0} = all).
     */
    public static DataSplit separate(List<SampleRef> calibrationSamples, List<SampleRef> evaluationSamples, long seed,
                                     int calibrationCount, int evaluationCount) {
        return new DataSplit(seed, cap(calibrationSamples, seed, calibrationCount),
                cap(evaluationSamples, seed, evaluationCount), true);
    }

    /**
     * At most {@code max} of {@code samples} (0 = all), chosen by the seeded shuffle and returned in id order.
     */
    public static List<SampleRef> cap(List<SampleRef> samples, long seed, int max) {
        checkCount(max, "sample cap");
        if (max == 0 || max >= samples.size()) return sorted(samples);
        return sorted(shuffled(samples, seed).subList(0, max));
    }

    public long seed() { return seed; }

    /** The calibration samples, in id order. */
    public List<SampleRef> calibration() { return calibration; }

    /** The evaluation samples, in id order; empty when every sample calibrates. */
    public List<SampleRef> evaluation() { return evaluation; }

    /** Whether evaluation came from a separate folder rather than from the split. */
    public boolean separateEvaluation() { return separateEvaluation; }

    /**
     * For reports: {@code seed}, {@code calibration} (ids), {@code evaluation} (ids), {@code evaluation_source}
     * ({@code "split"} or {@code "separate"}) and, when samples were left out, {@code calibration_excluded} (ids).
     */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("seed", seed);
        m.put("calibration", calibration.stream().map(SampleRef::id).toList());
        m.put("evaluation", evaluation.stream().map(SampleRef::id).toList());
        m.put("evaluation_source", separateEvaluation ? "separate" : "split");
        if (!excluded.isEmpty()) m.put("calibration_excluded", excluded);
        return m;
    }

    private static List<SampleRef> shuffled(List<SampleRef> samples, long seed) {
        List<SampleRef> list = sorted(samples);
        Set<String> ids = new HashSet<>();
        for (SampleRef s : list) {
            if (!ids.add(s.id())) throw new IllegalArgumentException("sample id " + s.id() + " appears twice");
        }
        Collections.shuffle(list, new Random(seed));
        return list;
    }

    private static List<SampleRef> sorted(List<SampleRef> samples) {
        List<SampleRef> list = new ArrayList<>(samples);
        list.sort(Comparator.comparing(SampleRef::id));
        return list;
    }

    private static void checkCount(int n, String what) {
        if (n < 0) throw new QuantbridgeException(what + ": " + n + " is negative");
    }
}
