package io.quantbridge.cli;

import io.quantbridge.tensor.TensorNames;
import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Prints what {@code --layers} found (its report.json / --out entry): the int8 roundings that add the most error. */
final class LayerPrinter {
    private LayerPrinter() { }

    static void print(PrintWriter out, Object layers) {
        if (!(layers instanceof Map<?, ?> m) || !(m.get("worst") instanceof List<?> worst)) return;
        String head = String.format(Locale.ROOT, "layers: %s tensors compared by name on %s samples (%s without a "
                + "namesake in the reference)", m.get("compared_tensors"), m.get("samples"), m.get("unmatched_tensors"));
        if (worst.isEmpty()) {
            out.println(head + "; no int8 rounding adds error");
            return;
        }
        out.println(head + String.format(Locale.ROOT, "; the %d int8 roundings that add the most error (the SQNR of "
                + "what each adds, then of its output):", worst.size()));
        int rank = 1;
        for (Object o : worst) {
            Map<?, ?> row = (Map<?, ?>) o;
            String tensor = TensorNames.forConsole(String.valueOf(row.get("tensor")));
            String what = "activation".equals(row.get("int8_source")) ? "activation " + tensor
                    : "weights of " + row.get("op_type") + " " + row.get("node") + " -> " + tensor;
            out.println(String.format(Locale.ROOT, "  %2d. added %6.1f dB  output %6s dB  %s", rank++,
                    ((Number) row.get("added_sqnr_db")).doubleValue(), db(row.get("sqnr_db")), what));
        }
    }

    private static String db(Object v) {
        return v instanceof Number n ? String.format(Locale.ROOT, "%.1f", n.doubleValue()) : "inf";
    }
}
