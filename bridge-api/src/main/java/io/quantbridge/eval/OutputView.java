package io.quantbridge.eval;

import io.quantbridge.tensor.FloatTensor;

/**
 * Something computed from one model output that evaluation judges on its own, beside the output itself, under its
 * {@link #label()}: a part of the output ({@link OutputSlice}, {@code --slice}) or the probabilities an application
 * computes from its logits ({@link OutputSigmoid}, {@code --sigmoid}).
 */
public sealed interface OutputView permits OutputSlice, OutputSigmoid {
    /** The model output it is computed from, or the label of a view listed before it. */
    String output();

    /** The name its metrics are reported under. */
    String label();

    /** The command-line option that asks for it, for messages. */
    String option();

    /** The view of {@code t}, a tensor of {@link #output()}; an error naming the option when it does not fit. */
    FloatTensor of(FloatTensor t);

    /** The mask IoU threshold this view is judged at when {@code --mask-threshold} is not given; null for none. */
    default Double defaultMaskThreshold() {
        return null;
    }
}
