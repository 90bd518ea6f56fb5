package io.quantbridge.tflite;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.util.Regex;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;
import org.tensorflow.lite.schema.OperatorT;

/**
 * The tflite backend's {@code --exclude} patterns: each names an operator (a builtin such as {@code CONV_2D}, or a
 * custom code) or is a regular expression over the name of an op's first output tensor (one that does not compile is
 * matched literally).
 */
final class OpExcludes {
    private final List<String> given;
    private final List<Pattern> patterns = new ArrayList<>();

    OpExcludes(List<String> excludes) {
        this.given = List.copyOf(excludes);
        for (String e : given) patterns.add(Pattern.compile(Regex.compiles(e) ? e : Pattern.quote(e)));
    }

    /** The pattern that keeps an op with this name and first output float, or null. */
    String match(String opName, String outputName) {
        for (int k = 0; k < given.size(); k++) {
            if (given.get(k).equals(opName) || patterns.get(k).matcher(outputName).matches()) return given.get(k);
        }
        return null;
    }

    /** {@link #match(String, String)} for an op of {@code m}. */
    String match(TfliteModel m, OperatorT op) {
        return match(m.opName(op), outputName(m, op));
    }

    private static String outputName(TfliteModel m, OperatorT op) {
        return op.getOutputs().length == 0 ? "" : m.tensor(op.getOutputs()[0]).getName();
    }

    /**
     * Refuses patterns that match no op of {@code m} (a misspelt name would quantize what the user meant to keep),
     * naming them and the model's ops.
     */
    void requireAllMatch(TfliteModel m, String modelName) {
        List<String> unmatched = new ArrayList<>();
        for (int k = 0; k < given.size(); k++) {
            String g = given.get(k);
            Pattern p = patterns.get(k);
            if (m.operators().stream().noneMatch(op -> g.equals(m.opName(op)) || p.matcher(outputName(m, op)).matches())) {
                unmatched.add(g);
            }
        }
        if (unmatched.isEmpty()) return;
        Set<String> ops = new TreeSet<>();
        for (OperatorT op : m.operators()) ops.add(m.opName(op));
        throw new QuantbridgeException("--exclude " + unmatched.stream().map(g -> "'" + g + "'")
                .collect(java.util.stream.Collectors.joining(", ")) + (unmatched.size() == 1 ? " matches" : " match")
                + " no operator of " + modelName + ": a pattern is an operator (the model has " + String.join(", ", ops)
                + ") or a regular expression that matches the whole name of an operator's first output tensor"
                + Regex.takenAsNames(unmatched));
    }
}
