package io.quantbridge.eval;

import io.quantbridge.backend.Progress;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code --float-layers N}, the part every backend shares: which quantized nodes (ops) to keep in float. Each node is
 * kept in float alone (leave-one-out) and the int8 model is scored against the float model on a few calibration
 * samples; then, best first, a node joins the chosen set only if the set with it scores higher than without (so N is
 * an upper bound), with at most 2N such trials. How a variant is written and scored is the backend's
 * ({@link Scorer}).
 *
 * <p><b>Screening.</b> With {@value #SCREEN_FROM} scoring samples or more, the leave-one-out round first scores every
 * node on the quarter of them where the all-int8 model's outputs are furthest from the float model's (largest squared
 * difference: the samples that decide a pooled score), then scores again on all of them the {@link #rescored} best
 * of that round; the ranking and the choice use only the scores on all samples.
 */
public final class SensitivitySearch {
    /** Leave-one-out is screened on a quarter of the samples when there are at least this many. */
    public static final int SCREEN_FROM = 32;
    /** At least this many of the screening round's best nodes are scored again on every sample. */
    public static final int RESCORED_MIN = 12;

    private SensitivitySearch() { }

    /** A candidate: a quantized node's name and its operator type. */
    public record Node(String name, String opType) { }

    /**
     * Scores the int8 model with {@code keepFloat} in float: higher is closer to the float model.
     */
    @FunctionalInterface
    public interface Scorer {
        /**
         * @param keepFloat    the nodes kept in float (empty: the all-int8 model)
         * @param subset       indices of the samples to score on, in increasing order, or null for all of them
         * @param squaredError when not null, entry {@code i} receives sample {@code i}'s squared output difference
         */
        double score(List<String> keepFloat, int[] subset, double[] squaredError);
    }

    /** One node's leave-one-out score: the score with it alone in float. */
    public record Candidate(String node, String opType, double cosine) {
        public Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("node", node);
            m.put("op_type", opType);
            m.put("cosine", cosine);
            return m;
        }
    }

    /**
     * @param chosen   the nodes to keep in float, in the order they were accepted
     * @param baseline the score with every node quantized
     * @param result   the score with {@code chosen} in float
     * @param ranking  every candidate, best first
     * @param metric   what the score is, for the report
     */
    public record Outcome(List<String> chosen, double baseline, double result, List<Candidate> ranking, int samples,
                          int screeningSamples, int rescored, double seconds, String metric) {
        public Map<String, Object> toMap(int requested) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("requested", requested);
            m.put("chosen", chosen);
            m.put("samples", samples);
            m.put("metric", metric);
            if (screeningSamples > 0) {
                Map<String, Object> screening = new LinkedHashMap<>();
                screening.put("samples", screeningSamples);
                screening.put("rescored", rescored);
                m.put("screening", screening);
            }
            m.put("cosine_all_int8", baseline);
            m.put("cosine_with_chosen_float", result);
            m.put("ranking", ranking.stream().limit(10).map(Candidate::toMap).toList());
            m.put("seconds", seconds);
            return m;
        }
    }

    /**
     * Runs the search.
     *
     * @param nodes    the candidates (the quantized nodes of the all-int8 model)
     * @param maxFloat at most this many nodes are chosen
     * @param samples  how many samples the scorer scores on
     * @param metric   what the scorer's score is, for the report
     */
    public static Outcome run(List<Node> nodes, int maxFloat, int samples, Scorer given, String metric,
                              Progress progress) {
        // a variant whose outputs hold NaN scores NaN: the worst, not (as Double.compare has it) the best
        Scorer scorer = (keep, subset, err) -> {
            double v = given.score(keep, subset, err);
            return Double.isNaN(v) ? Double.NEGATIVE_INFINITY : v;
        };
        long t0 = System.nanoTime();
        int rescored = rescored(maxFloat);
        boolean screening = samples >= SCREEN_FROM && nodes.size() > rescored;
        progress.begin("float-layer search", nodes.size() + 1L + (screening ? rescored : 0)
                + Math.min(nodes.size(), 2L * maxFloat));
        double[] squaredError = new double[samples];
        double baseline = scorer.score(List.of(), null, squaredError);
        progress.advance(1);
        int[] screen = screening ? largest(squaredError, samples / 4) : null;
        List<Candidate> ranking = new ArrayList<>();
        for (Node d : nodes) {
            ranking.add(new Candidate(d.name(), d.opType(), scorer.score(List.of(d.name()), screen, null)));
            progress.advance(1);
        }
        ranking.sort((a, b) -> Double.compare(b.cosine(), a.cosine()));
        if (screening) {
            List<Candidate> again = new ArrayList<>();
            for (Candidate c : ranking.subList(0, rescored)) {
                again.add(new Candidate(c.node(), c.opType(), scorer.score(List.of(c.node()), null, null)));
                progress.advance(1);
            }
            again.sort((a, b) -> Double.compare(b.cosine(), a.cosine()));
            ranking = again;
        }
        List<String> chosen = new ArrayList<>();
        double current = baseline;
        int tries = 0;
        for (Candidate c : ranking) {
            if (chosen.size() == maxFloat || tries == 2 * maxFloat || !(c.cosine() > baseline)) break;
            if (chosen.isEmpty()) {
                chosen.add(c.node());
                current = c.cosine();
                continue;
            }
            List<String> trial = new ArrayList<>(chosen);
            trial.add(c.node());
            double v = scorer.score(trial, null, null);
            tries++;
            progress.advance(1);
            if (v > current) {
                chosen.add(c.node());
                current = v;
            }
        }
        progress.end();
        return new Outcome(List.copyOf(chosen), baseline, current, List.copyOf(ranking), samples,
                screening ? screen.length : 0, screening ? rescored : 0, (System.nanoTime() - t0) / 1e9, metric);
    }

    /** The indices of the {@code k} largest values, in increasing index order (ties: the lower index first). */
    public static int[] largest(double[] values, int k) {
        Integer[] order = new Integer[values.length];
        for (int i = 0; i < order.length; i++) order[i] = i;
        java.util.Arrays.sort(order, (a, b) -> values[a] != values[b] ? Double.compare(values[b], values[a])
                : Integer.compare(a, b));
        int[] out = new int[Math.min(k, values.length)];
        for (int i = 0; i < out.length; i++) out[i] = order[i];
        java.util.Arrays.sort(out);
        return out;
    }

    /** How many of the screening round's best nodes are scored again on every sample. */
    public static int rescored(int maxFloat) {
        return Math.max(RESCORED_MIN, 4 * maxFloat);
    }
}
