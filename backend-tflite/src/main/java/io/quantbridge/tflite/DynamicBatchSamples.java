package io.quantbridge.tflite;

import io.quantbridge.backend.Progress;
import io.quantbridge.request.QuantizationRequest;
import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.tensor.TensorInfo;
import java.util.AbstractList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * In-memory samples of batch N for a model whose inputs all have a dynamic batch, as N samples of batch 1. The tflite
 * backend calibrates, rewrites and evaluates such a model at batch 1, and splits a {@code .npy} stack
 * {@code [N, ...]} into N samples the same way; samples given as tensors of batch 2 were refused with the batch-1
 * shape the backend feeds ({@code [1, 128, 128, 3]}) where the model says {@code [-1, 128, 128, 3]}. A slice is
 * copied out when its sample is read; the list given is read once here for the shapes.
 */
final class DynamicBatchSamples {
    private DynamicBatchSamples() { }

    /** {@code req} with its in-memory samples split where they hold batches; the request itself otherwise. */
    static QuantizationRequest split(QuantizationRequest req, List<TensorInfo> inputs, Progress progress) {
        if (inputs.isEmpty() || !inputs.stream().allMatch(t -> t.rankKnown() && t.shape().length > 1
                && t.shape()[0] < 0)) {
            return req;
        }
        List<Map<String, FloatTensor>> calib = req.calibrationSamples().orElse(null);
        List<Map<String, FloatTensor>> eval = req.evaluationSamples().orElse(null);
        List<Map<String, FloatTensor>> calibView = view(calib, inputs);
        List<Map<String, FloatTensor>> evalView = eval == calib ? calibView : view(eval, inputs);
        if (calibView == calib && evalView == eval) return req;
        note(progress, "calibration", calib, calibView);
        if (eval != calib) note(progress, "evaluation", eval, evalView);
        return req.toBuilder().calibrationSamples(calibView).evaluationSamples(evalView).build();
    }

    private static void note(Progress progress, String set, List<?> given, List<?> split) {
        if (split == given) return;
        progress.note(set + ": " + given.size() + " samples given as batches are " + split.size()
                + " samples of batch 1, as the tflite backend feeds a model with a dynamic batch");
    }

    /** {@code samples} one batch-1 slice per element, or {@code samples} itself where no sample holds a batch. */
    private static List<Map<String, FloatTensor>> view(List<Map<String, FloatTensor>> samples, List<TensorInfo> inputs) {
        if (samples == null || samples.isEmpty()) return samples;
        int[] batch = new int[samples.size()];
        boolean any = false;
        for (int i = 0; i < batch.length; i++) {
            batch[i] = batch(samples.get(i), inputs);
            any |= batch[i] > 1;
        }
        if (!any) return samples;
        long[] first = new long[batch.length + 1]; // first[i]: the index of sample i's first slice
        for (int i = 0; i < batch.length; i++) first[i + 1] = first[i] + batch[i];
        if (first[batch.length] > Integer.MAX_VALUE) return samples;
        return new AbstractList<>() {
            @Override
            public Map<String, FloatTensor> get(int index) {
                java.util.Objects.checkIndex(index, size());
                int owner = Arrays.binarySearch(first, index); // first[] rises strictly: every sample holds one
                if (owner < 0) owner = -owner - 2;
                Map<String, FloatTensor> sample = samples.get(owner);
                return batch[owner] == 1 ? sample : slice(sample, inputs, (int) (index - first[owner]));
            }

            @Override
            public int size() {
                return (int) first[batch.length];
            }
        };
    }

    /**
     * The batch a sample holds: the common first dimension N > 1 of its tensors for the inputs, each of the input's
     * rank; 1 otherwise (a sample without a batch, or one that loading will refuse with its shapes).
     */
    private static int batch(Map<String, FloatTensor> sample, List<TensorInfo> inputs) {
        if (sample == null) return 1;
        long n = -1;
        for (TensorInfo input : inputs) {
            FloatTensor t = sample.get(input.name());
            if (t == null || t.shape().length != input.shape().length) return 1;
            long b = t.shape()[0];
            if (b <= 1 || (n >= 0 && b != n)) return 1;
            n = b;
        }
        return n > Integer.MAX_VALUE ? 1 : (int) n;
    }

    private static Map<String, FloatTensor> slice(Map<String, FloatTensor> sample, List<TensorInfo> inputs, int k) {
        Map<String, FloatTensor> out = new LinkedHashMap<>(sample);
        for (TensorInfo input : inputs) {
            FloatTensor t = sample.get(input.name());
            long[] shape = t.shape().clone();
            int per = (int) (t.data().length / shape[0]);
            shape[0] = 1;
            out.put(input.name(), new FloatTensor(shape, Arrays.copyOfRange(t.data(), k * per, (k + 1) * per)));
        }
        return out;
    }
}
