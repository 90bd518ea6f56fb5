package io.quantbridge.eval;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.tensor.TensorInfo;
import java.util.List;

/** How decoders of one output find it among the model's outputs. */
final class DecoderOutputs {
    private DecoderOutputs() { }

    /** {@code output} when the model has it; the model's only output when it is null; otherwise an error. */
    static String single(String kind, String output, List<TensorInfo> outputs) {
        List<String> names = outputs.stream().map(TensorInfo::name).toList();
        if (output == null) {
            if (names.size() != 1) {
                throw new QuantbridgeException("--boxes " + kind + ": the model has " + names.size() + " outputs "
                        + names + "; say which with output=NAME");
            }
            return names.get(0);
        }
        return check(kind, output, names);
    }

    static String check(String kind, String output, List<String> names) {
        if (!names.contains(output)) {
            throw new QuantbridgeException("--boxes " + kind + ": the model has no output '" + output
                    + "' (its outputs: " + names + ")");
        }
        return output;
    }
}
