package io.quantbridge.metrics;

import io.quantbridge.QuantbridgeException;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.OptionalDouble;

/**
 * One output's fidelity against the float model, pooled over the evaluation samples: report.json's
 * {@code fidelity.<output>} as typed values, for a program that gates on them ({@code f.cosine() < 0.99}).
 * Pooled means summed over all samples before the ratio, so the figures are those of the largest errors.
 *
 * @param output        the output's name in the reference (float) model
 * @param samples       how many evaluation samples were compared
 * @param cosine        pooled cosine similarity
 * @param sqnrDb        pooled signal-to-quantization-noise ratio in dB ({@code +Infinity}: identical)
 * @param maxAbs        the largest absolute difference of one value
 * @param maskIou       pooled mask IoU at the threshold the request gave, when it gave one
 * @param top1Agreement the fraction of rows whose arg-max agrees, when asked for ({@code --top1})
 * @param boxRecall     the fraction of the float model's boxes the quantized model finds, when a box decoder was given
 * @param values        every field of report.json's entry, as written there (largest_error_sample, per-class
 *                      figures, ...)
 */
public record OutputFidelity(String output, long samples, double cosine, double sqnrDb, double maxAbs,
                             OptionalDouble maskIou, OptionalDouble top1Agreement, OptionalDouble boxRecall,
                             Map<String, Object> values) {
    public OutputFidelity {
        values = Collections.unmodifiableMap(new LinkedHashMap<>(values));
    }

    /**
     * The outputs of a report's {@code fidelity} map (a {@code QuantizationResult}'s report, or what
     * {@code FidelityEvaluation.run} returns), in its order; empty for null (nothing was measured).
     *
     * @throws QuantbridgeException naming the output and field when an entry lacks a figure or holds a non-number
     */
    public static Map<String, OutputFidelity> of(Object fidelity) {
        if (fidelity == null) return Map.of();
        if (!(fidelity instanceof Map<?, ?> outputs)) {
            throw new QuantbridgeException("fidelity is a " + fidelity.getClass().getSimpleName() + ", not a map of "
                    + "outputs");
        }
        Map<String, OutputFidelity> out = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : outputs.entrySet()) {
            String name = String.valueOf(e.getKey());
            if (!(e.getValue() instanceof Map<?, ?> m)) {
                throw new QuantbridgeException("fidelity of output '" + name + "' is not a map of figures");
            }
            Map<String, Object> v = new LinkedHashMap<>();
            m.forEach((k, x) -> v.put(String.valueOf(k), x));
            out.put(name, new OutputFidelity(name, (long) number(name, v, "samples"), number(name, v, "cosine"),
                    number(name, v, "sqnr_db"), number(name, v, "max_abs"), optional(name, v, "mask_iou"),
                    optional(name, v, "top1_agreement"), optional(name, v, "box_recall"), v));
        }
        return Collections.unmodifiableMap(out);
    }

    private static double number(String output, Map<String, Object> v, String key) {
        Object x = v.get(key);
        if (!(x instanceof Number n)) {
            throw new QuantbridgeException("fidelity of output '" + output + "': " + key + " is "
                    + (x == null ? "missing" : "not a number (" + x + ")"));
        }
        return n.doubleValue();
    }

    private static OptionalDouble optional(String output, Map<String, Object> v, String key) {
        return v.containsKey(key) ? OptionalDouble.of(number(output, v, key)) : OptionalDouble.empty();
    }
}
