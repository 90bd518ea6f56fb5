package io.quantbridge.cli;

import io.quantbridge.QuantbridgeException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * The {@code --out FILE} of {@code eval} and {@code bench}, checked before any model runs: a folder (quantize's
 * {@code --out} is one) would fail only after the work, and one of the command's own inputs would be overwritten by
 * the JSON result.
 */
final class JsonOutput {
    private JsonOutput() { }

    /**
     * Refuses {@code out} when it is a folder (suggesting {@code suggested} in it) or the same file as one of
     * {@code inputs} (by option name); null is no output.
     */
    static void check(Path out, String suggested, Map<String, Path> inputs) {
        if (out == null) return;
        if (Files.isDirectory(out)) {
            throw new QuantbridgeException("--out " + out + " is a folder; this command writes one JSON file: give "
                    + "its name, e.g. " + out.resolve(suggested));
        }
        for (Map.Entry<String, Path> e : inputs.entrySet()) {
            if (sameFile(out, e.getValue())) {
                throw new QuantbridgeException("--out " + out + " is the " + e.getKey() + " file, which the JSON result "
                        + "would replace; give another file");
            }
        }
    }

    private static boolean sameFile(Path a, Path b) {
        try {
            return b != null && Files.exists(a) && Files.exists(b) && Files.isSameFile(a, b);
        } catch (IOException e) {
            return false;
        }
    }
}
