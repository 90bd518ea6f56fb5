package io.quantbridge.eval;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.tensor.FloatTensor;

/**
 * The logistic sigmoid of an output that holds logits, judged as the probabilities an application reads: the float and
 * quantized models both go through it, so logits far beyond the decision (pose-lite's segmentation background near
 * -1000, which dominates the pooled cosine of the logits) count for what they change in the probability, nothing.
 * Its mask IoU is taken at {@code --mask-threshold} when given and at 0.5 (logit 0) otherwise.
 *
 * @param output the model output (or an earlier slice's label) holding logits
 * @param label  the name the probabilities' metrics are reported under; {@code sigmoid(OUTPUT)} when none is given
 */
public record OutputSigmoid(String output, String label) implements OutputView {
    public OutputSigmoid {
        if (output == null || output.isEmpty()) throw new QuantbridgeException("--sigmoid: no output name");
        if (label == null || label.isEmpty()) label = "sigmoid(" + output + ")";
    }

    /** Parses {@code OUTPUT[=LABEL]}, e.g. {@code Identity_2=segmentation}. */
    public static OutputSigmoid parse(String spec) {
        int eq = spec.lastIndexOf('=');
        if (eq == 0 || spec.isEmpty()) {
            throw new QuantbridgeException("--sigmoid: '" + spec + "' is not OUTPUT[=LABEL], e.g."
                    + " Identity_2=segmentation");
        }
        return eq < 0 ? new OutputSigmoid(spec, null) : new OutputSigmoid(spec.substring(0, eq), spec.substring(eq + 1));
    }

    @Override
    public String option() {
        return "--sigmoid";
    }

    @Override
    public FloatTensor of(FloatTensor t) {
        float[] x = t.data();
        float[] p = new float[x.length];
        for (int i = 0; i < x.length; i++) p[i] = (float) (1 / (1 + Math.exp(-(double) x[i])));
        return new FloatTensor(t.shape(), p);
    }

    @Override
    public Double defaultMaskThreshold() {
        return 0.5;
    }
}
