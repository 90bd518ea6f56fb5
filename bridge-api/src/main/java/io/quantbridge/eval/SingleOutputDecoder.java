package io.quantbridge.eval;

import io.quantbridge.metrics.Box;
import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.tensor.TensorInfo;
import java.util.List;
import java.util.Map;

/** A box decoder that reads one output: the model's only one unless it names it. */
sealed interface SingleOutputDecoder extends BoxDecoder permits MaskBoxes, DenseBoxes {
    /** The name {@code --boxes} knows the decoder by. */
    String kind();

    /** A copy decoding {@code name}. */
    SingleOutputDecoder withOutput(String name);

    /** The boxes in one sample's output, in a deterministic order. */
    List<Box> decode(FloatTensor output);

    /** The start of {@link #describe()}: the kind, then the output when one is named. */
    default Map<String, Object> describeKindAndOutput() {
        Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("kind", kind());
        if (output() != null) m.put("output", output());
        return m;
    }

    @Override
    default BoxDecoder resolve(List<TensorInfo> outputs, List<TensorInfo> inputs) {
        return withOutput(DecoderOutputs.single(kind(), output(), outputs));
    }

    @Override
    default List<Box> decode(Map<String, FloatTensor> outputs) {
        return decode(outputs.get(output()));
    }
}
