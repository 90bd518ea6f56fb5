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
