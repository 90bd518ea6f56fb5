package io.quantbridge.cli;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.Map;

/** How quantize and eval print report.json's fidelity section. */
final class FidelityPrinter {
    private FidelityPrinter() { }

    /** The box counts and the per-class top-1 agreement of one output, a line each, when they were measured. */
    private static void printTaskDetails(PrintWriter out, Object output, Map<?, ?> m) {
        if (m.get("boxes_reference") instanceof Number ref) {
            StringBuilder sb = new StringBuilder(String.format(Locale.ROOT,
                    "boxes %s: recall=%s precision=%s (%s of %d float-model boxes matched at IoU %s, %s boxes found)",
                    output, fixed(m.get("box_recall")), fixed(m.get("box_precision")), m.get("boxes_matched"),
                    ref.longValue(), m.get("box_match_iou"), m.get("boxes_candidate")));
            if (m.get("box_recall_by_size") instanceof Map<?, ?> sizes) {
                StringBuilder by = new StringBuilder();
                for (Map.Entry<?, ?> e : sizes.entrySet()) {
                    Map<?, ?> v = (Map<?, ?>) e.getValue();
                    if (((Number) v.get("reference")).longValue() == 0) continue;
                    by.append(by.length() == 0 ? "; by size " : ", ").append(e.getKey()).append(' ')
                            .append(v.get("matched")).append('/').append(v.get("reference"));
                }
                sb.append(by);
            }
            if (m.get("box_worst_sample") != null) {
                sb.append("; most missed or extra on ").append(m.get("box_worst_sample")).append(" (")
                        .append(m.get("box_worst_sample_missed")).append(" missed, ")
                        .append(m.get("box_worst_sample_extra")).append(" extra)");
            }
            out.println(sb);
            if (m.get("box_per_class") instanceof Map<?, ?> classes) {
                // the classes with the most float-model boxes missed first (ties: class order)
                java.util.List<Map.Entry<?, ?>> order = new java.util.ArrayList<>(classes.entrySet());
                order.sort(java.util.Comparator.comparingLong((Map.Entry<?, ?> c) -> {
                    Map<?, ?> v = (Map<?, ?>) c.getValue();
                    return ((Number) v.get("matched")).longValue() - ((Number) v.get("reference")).longValue();
                }));
                StringBuilder pc = new StringBuilder("box recall by float-model class of " + output + ":");
                int shown = 0;
                for (Map.Entry<?, ?> c : order) {
                    if (shown++ == 10) {
                        pc.append(" ... (all in report.json)");
                        break;
                    }
                    Map<?, ?> v = (Map<?, ?>) c.getValue();
                    pc.append(' ').append(name(c)).append('=').append(v.get("matched")).append('/')
                            .append(v.get("reference")).append(" (").append(v.get("candidate")).append(" found)");
                }
                out.println(pc);
            }
        }
        Object per = m.get("top1_per_class") != null ? m.get("top1_per_class") : m.get("top1_worst_classes");
        if (per instanceof Map<?, ?> classes && classes.size() > 1) {
            StringBuilder sb = new StringBuilder("top-1 agreement by float-model class of " + output
                    + (m.get("top1_per_class") != null ? ":" : " (the classes with the most disagreements, of "
                    + m.get("top1_classes_seen") + "):"));
            int shown = 0;
            for (Map.Entry<?, ?> c : classes.entrySet()) {
                if (shown++ == 10) {
                    sb.append(" ... (all in report.json)");
                    break;
                }
                Map<?, ?> v = (Map<?, ?>) c.getValue();
                sb.append(' ').append(name(c)).append('=').append(fixed(v.get("agreement"))).append(" (")
                        .append(v.get("rows")).append(')');
            }
            out.println(sb);
        }
    }

    /** A per-class entry's name: its label from --labels, else its class index. */
    private static String name(Map.Entry<?, ?> perClass) {
        return perClass.getValue() instanceof Map<?, ?> v && v.get("label") != null ? v.get("label").toString()
                : perClass.getKey().toString();
    }

    private static String fixed(Object v) {
        return v instanceof Number n && Double.isFinite(n.doubleValue())
                ? String.format(Locale.ROOT, "%.4f", n.doubleValue()) : "n/a";
    }

    /** Per output: the pooled metrics on one line, then the box counts, per-class top-1 and warnings when present. */
    static void print(PrintWriter out, Object fidelity) {
        if (!(fidelity instanceof Map<?, ?> perOutput) || perOutput.isEmpty()) return;
        for (Map.Entry<?, ?> e : perOutput.entrySet()) {
            if (!(e.getValue() instanceof Map<?, ?> m)) continue;
            StringBuilder sb = new StringBuilder("fidelity " + e.getKey()
                    + (m.get("candidate_output") == null ? "" : " (candidate's " + m.get("candidate_output") + ")")
                    + ":");
            for (String k : new String[] {"cosine", "sqnr_db", "max_abs", "mask_iou", "top1_agreement", "samples"}) {
                Object v = m.get(k);
                if (v instanceof Number n) {
                    sb.append(' ').append(k).append('=').append(n instanceof Double || n instanceof Float
                            ? String.format(Locale.ROOT, "%.4f", n.doubleValue()) : n.toString());
                }
            }
            out.println(sb);
            printTaskDetails(out, e.getKey(), m);
            if (m.get("largest_error_share") instanceof Number share && share.doubleValue() >= 0.5
                    && m.get("samples") instanceof Number n && n.longValue() >= 3) {
                out.println(String.format(Locale.ROOT, "note: one of the %d samples holds %.0f%% of the squared error "
                        + "of %s, so the pooled numbers mostly describe it: %s (its own cosine %.4f)", n.longValue(),
                        100 * share.doubleValue(), e.getKey(), m.get("largest_error_sample"),
                        ((Number) m.get("largest_error_sample_cosine")).doubleValue()));
            }
            if (m.get("non_finite_samples") instanceof Number bad) {
                out.println("warning: " + e.getKey() + " of the quantized model holds NaN or infinity on " + bad + " of "
                        + m.get("samples") + " samples (a value beyond its number format: for FP16, give --calib "
                        + "so that such tensors stay float32)");
            }
        }
    }
}
