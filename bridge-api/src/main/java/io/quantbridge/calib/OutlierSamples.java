package io.quantbridge.calib;

import io.quantbridge.tensor.TensorNames;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * What report.json and the console say about calibration samples that stretch ranges on their own
 * ({@link TensorStatistics#sampleOutliers}): one unusual photo in the calibration set (a logo, a blank frame) can
 * set a tensor's range far beyond what every other sample needs, and with it the int8 step. MediaPipe's face
 * detector calibrated on the opencv photos: opencv-logo.png drives its score logits to -16888 where the other 90
 * photos stay above -401, and the mse and percentile ranges follow it, so that every logit near the decision
 * threshold rounds to 0.
 */
public final class OutlierSamples {
    /** Tensors listed per sample in the report. */
    static final int LISTED = 5;

    private OutlierSamples() { }

    /**
     * Per sample (most tensors first, then sample order): {@code sample} (its id), {@code tensors} (how many it
     * stretches) and {@code largest}: up to {@value #LISTED} of them, most stretched first, each with
     * {@code tensor}, {@code sample_amax}, {@code others_amax}, {@code amax} and {@code coarser} (amax over
     * others_amax). Empty when there are none.
     */
    public static List<Map<String, Object>> report(List<TensorStatistics.SampleOutlier> found, List<String> ids) {
        Map<Integer, List<TensorStatistics.SampleOutlier>> bySample = new java.util.TreeMap<>();
        for (TensorStatistics.SampleOutlier o : found) bySample.computeIfAbsent(o.sample(), k -> new ArrayList<>()).add(o);
        List<Map.Entry<Integer, List<TensorStatistics.SampleOutlier>>> order = new ArrayList<>(bySample.entrySet());
        order.sort(Comparator.comparingInt((Map.Entry<Integer, List<TensorStatistics.SampleOutlier>> e) ->
                -e.getValue().size()).thenComparingInt(Map.Entry::getKey));
        List<Map<String, Object>> out = new ArrayList<>();
        for (Map.Entry<Integer, List<TensorStatistics.SampleOutlier>> e : order) {
            List<TensorStatistics.SampleOutlier> list = new ArrayList<>(e.getValue());
            list.sort(Comparator.comparingDouble((TensorStatistics.SampleOutlier o) -> -o.amax() / o.othersAmax()));
            List<Map<String, Object>> largest = new ArrayList<>();
            for (TensorStatistics.SampleOutlier o : list.subList(0, Math.min(LISTED, list.size()))) {
                Map<String, Object> t = new LinkedHashMap<>();
                t.put("tensor", o.tensor());
                t.put("sample_amax", o.sampleAmax());
                t.put("others_amax", o.othersAmax());
                t.put("amax", o.amax());
                t.put("coarser", o.amax() / o.othersAmax());
                largest.add(t);
            }
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("sample", id(ids, e.getKey()));
            m.put("tensors", list.size());
            m.put("largest", largest);
            out.add(m);
        }
        return out;
    }

    /** One console line about the sample that stretches the most tensors, when there is one. */
    public static Optional<String> note(List<Map<String, Object>> report, int samples) {
        if (report.isEmpty()) return Optional.empty();
        Map<String, Object> first = report.get(0);
        @SuppressWarnings("unchecked")
        Map<String, Object> t = ((List<Map<String, Object>>) first.get("largest")).get(0);
        int tensors = (Integer) first.get("tensors");
        String others = report.size() > 1 ? " (and " + (report.size() - 1) + " more sample"
                + (report.size() > 2 ? "s" : "") + " like it)" : "";
        return Optional.of(String.format(Locale.ROOT, "calibration sample %s alone sets the range of %d tensor%s%s:"
                + " %s reaches |x| %.4g there and at most %.4g in the other %d samples, and its amax %.4g makes its int8"
                + " steps %.0fx coarser than they need. If the sample is not like the data the model will see, leave it"
                + " out (--calib-exclude %s); entropy, which clips, follows it least (report.json"
                + " calibration.outlier_samples)",
                first.get("sample"), tensors, tensors == 1 ? "" : "s", others,
                TensorNames.forConsole(String.valueOf(t.get("tensor"))), t.get("sample_amax"),
                t.get("others_amax"), samples - 1, t.get("amax"), t.get("coarser"), first.get("sample")));
    }

    /**
     * Finds the samples that stretch {@code ranges} on their own, and when there are any puts them under
     * {@code outlier_samples} in {@code calibration} (report.json's calibration section; {@link #warning} says it in
     * a line). {@code ids} are the sample ids in the order the samples were observed.
     */
    public static void record(TensorStatistics stats, List<io.quantbridge.table.TensorRange> ranges, List<String> ids,
                              Map<String, Object> calibration) {
        List<Map<String, Object>> found = report(stats.sampleOutliers(ranges), ids);
        if (found.isEmpty()) return;
        calibration.put("outlier_samples", found);
        calibration.put("outlier_samples_of", ids.size());
    }

    /**
     * The line {@link #note} gives for a report's calibration section ({@code report.get("calibration")}), when
     * {@link #record} found outliers.
     */
    @SuppressWarnings("unchecked")
    public static Optional<String> warning(Object calibration) {
        if (!(calibration instanceof Map<?, ?> c) || !(c.get("outlier_samples") instanceof List<?> found)
                || !(c.get("outlier_samples_of") instanceof Number n)) {
            return Optional.empty();
        }
        return note((List<Map<String, Object>>) found, n.intValue());
    }

    private static String id(List<String> ids, int sample) {
        return sample < ids.size() ? ids.get(sample) : "#" + sample;
    }
}
