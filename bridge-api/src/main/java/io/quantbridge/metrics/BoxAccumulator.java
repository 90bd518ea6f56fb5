package io.quantbridge.metrics;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Box recall of a candidate model against its reference, pooled over samples: the reference model's boxes are the
 * ground truth, and a candidate box matches one of them when both have the same batch item and class and their IoU
 * is at least {@code matchIou}. Matching is one to one and greedy by IoU (the pair with the highest IoU first; ties
 * by reference order, then candidate order), so it does not depend on the order boxes are listed in beyond ties.
 *
 * <p>Pooled means counts are summed over samples before the ratios: recall = matched / reference boxes, precision =
 * matched / candidate boxes, F1 their harmonic mean, mean IoU over the matched pairs. Counts are kept per class, and
 * reported per class when there is more than one (SPEC 9: aggregate numbers hide a class that collapses).
 * Not thread-safe: one accumulator per thread or sample, then {@link #merge}.
 */
public final class BoxAccumulator {
    private final double matchIou;
    /** Per class: reference boxes, candidate boxes, matched pairs. */
    private final TreeMap<Integer, long[]> counts = new TreeMap<>();
    private final TreeMap<Integer, double[]> iouSums = new TreeMap<>();
    /** By the reference box's size ({@link #SIZES}): reference boxes, matched ones. */
    private final long[][] bySize = new long[3][2];
    private long samples;

    /** COCO's area ranges, in squared output units: small below 32^2, medium below 96^2, large from there. */
    static final String[] SIZES = {"small", "medium", "large"};

    private static int size(Box b) {
        double a = b.area();
        return a < 32 * 32 ? 0 : a < 96 * 96 ? 1 : 2;
    }

    public BoxAccumulator(double matchIou) {
        if (!(matchIou > 0 && matchIou <= 1)) {
            throw new IllegalArgumentException("match IoU " + matchIou + " is not in (0, 1]");
        }
        this.matchIou = matchIou;
    }

    public BoxAccumulator emptyCopy() {
        return new BoxAccumulator(matchIou);
    }

    /** Matches one sample's boxes. */
    public void add(List<Box> reference, List<Box> candidate) {
        samples++;
        for (Box r : reference) {
            counts(r.cls())[0]++;
            bySize[size(r)][0]++;
        }
        for (Box c : candidate) counts(c.cls())[1]++;
        record Pair(int r, int c, double iou) { }
        List<Pair> pairs = new ArrayList<>();
        for (int i = 0; i < reference.size(); i++) {
            Box r = reference.get(i);
            for (int j = 0; j < candidate.size(); j++) {
                Box c = candidate.get(j);
                if (r.image() != c.image() || r.cls() != c.cls()) continue;
                double iou = Box.iou(r, c);
                if (iou >= matchIou) pairs.add(new Pair(i, j, iou));
            }
        }
        pairs.sort((a, b) -> a.iou != b.iou ? Double.compare(b.iou, a.iou)
                : a.r != b.r ? Integer.compare(a.r, b.r) : Integer.compare(a.c, b.c));
        boolean[] refTaken = new boolean[reference.size()];
        boolean[] candTaken = new boolean[candidate.size()];
        for (Pair p : pairs) {
            if (refTaken[p.r] || candTaken[p.c]) continue;
            refTaken[p.r] = true;
            candTaken[p.c] = true;
            int cls = reference.get(p.r).cls();
            counts(cls)[2]++;
            bySize[size(reference.get(p.r))][1]++;
            iouSums.computeIfAbsent(cls, k -> new double[1])[0] += p.iou;
        }
    }

    private long[] counts(int cls) {
        return counts.computeIfAbsent(cls, k -> new long[3]);
    }

    public void merge(BoxAccumulator other) {
        if (other.matchIou != matchIou) {
            throw new IllegalArgumentException("cannot merge box counts matched at IoU " + matchIou + " and "
                    + other.matchIou);
        }
        other.counts.forEach((k, v) -> {
            long[] mine = counts(k);
            for (int i = 0; i < 3; i++) mine[i] += v[i];
        });
        other.iouSums.forEach((k, v) -> iouSums.computeIfAbsent(k, x -> new double[1])[0] += v[0]);
        for (int i = 0; i < bySize.length; i++) {
            bySize[i][0] += other.bySize[i][0];
            bySize[i][1] += other.bySize[i][1];
        }
        samples += other.samples;
    }

    private long total(int which) {
        long t = 0;
        for (long[] c : counts.values()) t += c[which];
        return t;
    }

    public long referenceBoxes() { return total(0); }

    public long candidateBoxes() { return total(1); }

    public long matched() { return total(2); }

    /** Reference boxes the candidate missed. */
    public long missed() { return referenceBoxes() - matched(); }

    /** Matched / reference boxes; NaN when the reference found none. */
    public double recall() {
        long r = referenceBoxes();
        return r == 0 ? Double.NaN : (double) matched() / r;
    }

    /** Matched / candidate boxes; NaN when the candidate found none. */
    public double precision() {
        long c = candidateBoxes();
        return c == 0 ? Double.NaN : (double) matched() / c;
    }

    /** 2 matched / (reference + candidate boxes); 1 when neither found any. */
    public double f1() {
        long sum = referenceBoxes() + candidateBoxes();
        return sum == 0 ? 1.0 : 2.0 * matched() / sum;
    }

    /** The mean IoU of the matched pairs; NaN when none matched. */
    public double meanIou() {
        long m = matched();
        double s = 0;
        for (double[] v : iouSums.values()) s += v[0];
        return m == 0 ? Double.NaN : s / m;
    }

    /**
     * For reports: {@code box_recall}, {@code box_precision}, {@code box_f1}, {@code box_mean_iou},
     * {@code boxes_reference}, {@code boxes_candidate}, {@code boxes_matched}, {@code box_match_iou},
     * {@code box_recall_by_size} (small, medium, large reference boxes by COCO's area ranges in output units: how many,
     * how many matched, recall), and
     * {@code box_per_class} (class index -> reference, candidate, matched, recall, precision) when boxes of more than
     * one class were seen.
     */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("box_recall", recall());
        m.put("box_precision", precision());
        m.put("box_f1", f1());
        m.put("box_mean_iou", meanIou());
        m.put("boxes_reference", referenceBoxes());
        m.put("boxes_candidate", candidateBoxes());
        m.put("boxes_matched", matched());
        m.put("box_match_iou", matchIou);
        Map<String, Object> sizes = new java.util.LinkedHashMap<>();
        for (int i = 0; i < SIZES.length; i++) {
            Map<String, Object> e = new java.util.LinkedHashMap<>();
            e.put("reference", bySize[i][0]);
            e.put("matched", bySize[i][1]);
            e.put("recall", bySize[i][0] == 0 ? Double.NaN : (double) bySize[i][1] / bySize[i][0]);
            sizes.put(SIZES[i], e);
        }
        m.put("box_recall_by_size", sizes);
        if (counts.size() > 1) {
            Map<String, Object> per = new java.util.LinkedHashMap<>();
            counts.forEach((cls, c) -> {
                Map<String, Object> e = new java.util.LinkedHashMap<>();
                e.put("reference", c[0]);
                e.put("candidate", c[1]);
                e.put("matched", c[2]);
                e.put("recall", c[0] == 0 ? Double.NaN : (double) c[2] / c[0]);
                e.put("precision", c[1] == 0 ? Double.NaN : (double) c[2] / c[1]);
                per.put(Integer.toString(cls), e);
            });
            m.put("box_per_class", per);
        }
        return m;
    }
}
