package io.quantbridge.backend;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.tensor.TensorInfo;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The names check every {@link ModelSession#run} makes on its feed before anything reaches native code, so that the
 * four backends refuse the same mistakes with the same words: an input missing or given as null, a name the model
 * does not have (a typo, or the inputs of another model: ONNX Runtime and OpenVINO refuse those too, where quantbridge's
 * ONNX and TFLite sessions used to drop them without a word). Shapes and element types are each session's to check.
 */
public final class Feeds {
    private Feeds() { }

    /**
     * The tensors of {@code feed} in the order of {@code inputs}.
     *
     * @param label how the messages name the model (its file, say)
     * @throws NullPointerException if {@code feed} is null
     * @throws QuantbridgeException naming the input when one is missing or null, or a name the model lacks, with
     *                              the model's inputs
     */
    public static List<FloatTensor> inOrder(String label, List<TensorInfo> inputs, Map<String, FloatTensor> feed) {
        Objects.requireNonNull(feed, () -> label + ": the inputs (a map from input name to tensor) are null");
        for (String name : feed.keySet()) {
            if (name == null || inputs.stream().noneMatch(t -> t.name().equals(name))) {
                throw new QuantbridgeException(label + ": the model has no input " + (name == null ? "null"
                        : "'" + name + "'") + " (its inputs: " + describe(inputs) + ")");
            }
        }
        List<FloatTensor> ordered = new ArrayList<>(inputs.size());
        for (TensorInfo in : inputs) {
            FloatTensor t = feed.get(in.name());
            if (t == null) {
                throw new QuantbridgeException(label + ": input '" + in.name() + "' " + Arrays.toString(in.shape())
                        + (feed.containsKey(in.name()) ? " is given as null" : " was not given (given: "
                        + feed.keySet() + ")"));
            }
            ordered.add(t);
        }
        return ordered;
    }

    private static String describe(List<TensorInfo> inputs) {
        return String.join(", ", inputs.stream().map(t -> t.name() + " " + Arrays.toString(t.shape())).toList());
    }
}
