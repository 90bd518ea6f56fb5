package io.quantbridge.cli;

import io.quantbridge.onnx.backend.LayerErrors;
import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;

/** Prints what {@code --layers} found: the nodes that add the most error, worst first. */
final class LayerPrinter {
    private LayerPrinter() { }

    static void print(PrintWriter out, LayerErrors.Result r, int top) {
        out.println(String.format(Locale.ROOT, "layers: %d tensors compared by name on %d samples (%d without a "
                + "namesake in the reference); the %d int8 roundings that add the most error (the SQNR of what each "
                + "adds, then of its output):", r.rows().size(), r.samples(), r.unmatched(), top));
        List<LayerErrors.Row> worst = r.worst(top);
        int rank = 1;
        for (LayerErrors.Row row : worst) {
            String what = row.source().equals("activation") ? "activation " + row.tensor()
                    : "weights of " + row.opType() + " " + row.node() + " -> " + row.tensor();
            out.println(String.format(Locale.ROOT, "  %2d. added %6.1f dB  output %6.1f dB  %s", rank++,
                    row.addedSqnrDb(), row.sqnrDb(), what));
        }
        if (worst.isEmpty()) out.println("  (no int8 rounding adds error)");
    }
}
