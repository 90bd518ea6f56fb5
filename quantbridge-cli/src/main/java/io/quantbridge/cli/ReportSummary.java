package io.quantbridge.cli;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.util.Json;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code inspect report.json}: what a quantize run wrote and measured, in the lines quantize printed when it finished
 * (the run's settings first, then its artifacts and fidelity).
 */
final class ReportSummary {
    private ReportSummary() { }

    /** Whether {@code file} holds a quantize report: a JSON object with "backend" and "artifacts". */
    static boolean isReport(Path file) {
        if (!Files.isRegularFile(file)) return false; // the table reader names what is wrong with the path
        Object root = parse(file);
        return root instanceof Map<?, ?> m && m.containsKey("backend") && m.get("artifacts") instanceof List<?>;
    }

    static void print(PrintWriter out, Path file) {
        Map<?, ?> r = (Map<?, ?>) parse(file);
        out.println("quantize report " + file);
        out.println("backend:     " + r.get("backend")
                + (r.get("backend_selected_by") == null ? "" : " (selected by " + r.get("backend_selected_by") + ")")
                + (r.get("target") == null ? "" : ", target " + r.get("target")));
        out.println("precision:   " + r.get("precision"));
        if (r.get("model") instanceof Map<?, ?> m) {
            out.println("model:       " + m.get("path") + " (sha256 " + m.get("sha256") + ")");
        }
        if (r.get("calibrator") != null) out.println("calibrator:  " + r.get("calibrator"));
        if (r.get("preprocessing") instanceof Map<?, ?> p) out.println("images:      " + imageOptions(p));
        if (r.get("calibration") instanceof Map<?, ?> c) {
            StringBuilder sb = new StringBuilder("calibration: ").append(c.get("samples")).append(" samples");
            if (c.get("seconds") instanceof Number s) sb.append(String.format(Locale.ROOT, " in %.1f s", s.doubleValue()));
            if (c.get("reused_table") != null) sb.append(", ranges from ").append(c.get("reused_table"));
            out.println(sb);
        }
        if (r.get("quantized_nodes") instanceof Number q && r.get("float_nodes") instanceof Number f) {
            out.println("nodes:       " + q + " quantized, " + f + " float");
        }
        for (Object o : (List<?>) r.get("artifacts")) {
            if (o instanceof Map<?, ?> a && a.get("bytes") instanceof Number bytes) {
                out.printf(Locale.ROOT, "%-18s %s (%,d bytes)%n", a.get("kind"), a.get("path"), bytes.longValue());
            }
        }
        if (r.get("fidelity_measured_in") != null) out.println("fidelity measured in " + r.get("fidelity_measured_in"));
        FidelityPrinter.print(out, r.get("fidelity"));
        LayerPrinter.print(out, r.get("layers"));
    }

    /**
     * The options that preprocess images as the run did, to give {@code eval} and {@code bench} the same inputs:
     * {@code --size 192x48 --scale 1/255 --mean 0.5,0.5,0.5 ...}. The layout and gray are what the run fitted to the
     * model, which {@code eval} fits again.
     */
    static String imageOptions(Map<?, ?> p) {
        StringBuilder sb = new StringBuilder();
        if (p.get("width") instanceof Number w && p.get("height") instanceof Number h && w.intValue() > 0) {
            sb.append("--size ").append(w.intValue()).append('x').append(h.intValue()).append(' ');
        }
        if (p.get("scale") instanceof Number sc) {
            double v = sc.doubleValue();
            double inv = 1 / v;
            boolean fraction = Math.rint(inv) > 1 && Math.abs(inv - Math.rint(inv)) < 1e-9 * inv;
            sb.append("--scale ").append(fraction ? "1/" + (long) Math.rint(inv) : number(v)).append(' ');
        }
        for (String k : List.of("mean", "std")) {
            if (p.get(k) instanceof List<?> l) sb.append("--").append(k).append(' ').append(numbers(l)).append(' ');
        }
        if (p.get("layout") != null) sb.append("--layout ").append(p.get("layout")).append(' ');
        if ("bgr".equals(p.get("channel_order"))) sb.append("--bgr ");
        if (p.get("resize") != null) sb.append("--resize ").append(p.get("resize")).append(' ');
        if (p.get("crop_fraction") instanceof Number f) sb.append("--crop-fraction ").append(number(f.doubleValue())).append(' ');
        if (p.get("pad_color") instanceof List<?> l) sb.append("--pad-color ").append(numbers(l)).append(' ');
        if (p.get("pad_at") != null) sb.append("--pad-at ").append(p.get("pad_at")).append(' ');
        if (p.get("multiple_of") instanceof Number m) sb.append("--multiple-of ").append(m.intValue()).append(' ');
        if (Boolean.TRUE.equals(p.get("antialias"))) sb.append("--antialias ");
        return sb.toString().trim();
    }

    private static String numbers(List<?> values) {
        StringBuilder sb = new StringBuilder();
        for (Object o : values) {
            if (sb.length() > 0) sb.append(',');
            sb.append(o instanceof Number n ? number(n.doubleValue()) : String.valueOf(o));
        }
        return sb.toString();
    }

    /** 0.5 as 0.5, 1.0 as 1, 0.485 as 0.485: the shortest text that reads back as the same double. */
    private static String number(double v) {
        if (v == Math.rint(v) && Math.abs(v) < 1e15) return Long.toString((long) v);
        return Double.toString(v);
    }

    private static Object parse(Path file) {
        String text;
        try {
            text = Files.readString(file);
        } catch (IOException e) {
            throw new QuantbridgeException(file + ": cannot read: " + e.getMessage(), e);
        }
        try {
            return Json.parse(text);
        } catch (QuantbridgeException e) {
            return null; // not JSON: the table reader says so, naming the file
        }
    }
}
