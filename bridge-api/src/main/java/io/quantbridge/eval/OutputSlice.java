package io.quantbridge.eval;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.tensor.FloatTensor;
import java.util.Arrays;

/**
 * A part of one model output that evaluation also judges on its own: the indices {@code [from, to)} of axis
 * {@code axis}. Detectors often concatenate quantities of different scales into one output (YOLOv8's
 * {@code [1, 4 + classes, anchors]}: box coordinates up to the image size beside class scores in [0, 1]); pooled over
 * the whole output, the cosine is that of the large part, and the scores' own can be much lower.
 *
 * @param label the name the slice's metrics are reported under
 */
public record OutputSlice(String output, int axis, int from, int to, String label) implements OutputView {
    public OutputSlice {
        if (output == null || output.isEmpty()) throw new QuantbridgeException("--slice: no output name");
        if (axis < 0 || from < 0 || to <= from) {
            throw new QuantbridgeException("--slice " + output + ": axis " + axis + ", range " + from + ":" + to
                    + " (need axis >= 0 and 0 <= from < to)");
        }
        if (label == null || label.isEmpty()) label = output + "[" + from + ":" + to + " on axis " + axis + "]";
    }

    /**
     * Parses {@code OUTPUT:AXIS:FROM:TO[=LABEL]}, e.g. {@code output0:1:4:22=scores}. The output name may hold
     * colons itself ({@code Identity:0:2:0:4}): the last three fields are the numbers.
     */
    public static OutputSlice parse(String spec) {
        String body = spec;
        String label = null;
        int eq = spec.lastIndexOf('=');
        if (eq >= 0) {
            body = spec.substring(0, eq);
            label = spec.substring(eq + 1);
        }
        String[] parts = body.split(":", -1);
        if (parts.length < 4) {
            throw new QuantbridgeException("--slice: '" + spec + "' is not OUTPUT:AXIS:FROM:TO[=LABEL], e.g."
                    + " output0:1:4:22=scores");
        }
        int n = parts.length;
        String output = String.join(":", Arrays.copyOfRange(parts, 0, n - 3));
        try {
            return new OutputSlice(output, Integer.parseInt(parts[n - 3].trim()), Integer.parseInt(parts[n - 2].trim()),
                    Integer.parseInt(parts[n - 1].trim()), label);
        } catch (NumberFormatException e) {
            throw new QuantbridgeException("--slice: '" + spec + "' is not OUTPUT:AXIS:FROM:TO[=LABEL]: AXIS, FROM and"
                    + " TO are integers");
        }
    }

    @Override
    public String option() {
        return "--slice";
    }

    /** The slice of {@code t} (an output of this slice's model), or an error naming the option when it does not fit. */
    @Override
    public FloatTensor of(FloatTensor t) {
        long[] s = t.shape();
        if (axis >= s.length || to > s[axis]) {
            throw new QuantbridgeException("--slice " + label + ": output '" + output + "' has shape "
                    + Arrays.toString(s) + ", which has no indices " + from + ":" + to + " on axis " + axis);
        }
        long outer = 1;
        for (int i = 0; i < axis; i++) outer *= s[i];
        long inner = 1;
        for (int i = axis + 1; i < s.length; i++) inner *= s[i];
        int width = (int) ((to - from) * inner);
        float[] src = t.data();
        float[] out = new float[Math.toIntExact(outer * width)];
        for (long o = 0; o < outer; o++) {
            System.arraycopy(src, (int) ((o * s[axis] + from) * inner), out, (int) (o * width), width);
        }
        long[] shape = s.clone();
        shape[axis] = to - from;
        return new FloatTensor(shape, out);
    }
}
