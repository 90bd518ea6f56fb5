package io.quantbridge.tensorrt;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.tensor.FloatTensor;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;

/**
 * The batch logic of a TensorRT calibrator, in plain Java over host buffers: which samples go into each batch, in
 * which order TensorRT's binding names want the inputs, and when the data ends. The native calibrator
 * ({@link TrtEntropyCalibrator}) only copies the filled host buffers to the device.
 *
 * <p>Each input has a fully static binding shape whose leading dimension is the batch size (the calibration
 * profile's opt shape); each sample gives one tensor per input with the element count of one batch row (shape
 * {@code [1, ...]} or without the batch dimension). Samples are served in order, {@code batchSize} at a time. When the
 * sample count is not a multiple of the batch size the last partial batch is either dropped ({@link LastBatch#DROP},
 * TensorRT's own samples do this) or completed with the first samples again ({@link LastBatch#WRAP}); fewer samples
 * than one batch is an error under DROP.
 */
public final class CalibrationBatches {
    public enum LastBatch { DROP, WRAP }

    /** A network input and its binding shape during calibration, batch dimension first. */
    public record Input(String name, long[] shape) {
        public Input {
            shape = shape.clone();
            if (shape.length == 0 || Arrays.stream(shape).anyMatch(d -> d <= 0)) {
                throw new QuantbridgeException("calibration input '" + name + "': shape " + Arrays.toString(shape)
                        + " must be static and positive (batch dimension first)");
            }
        }

        @Override public long[] shape() { return shape.clone(); }

        long floatsPerSample() {
            long n = 1;
            for (int i = 1; i < shape.length; i++) n *= shape[i];
            return n;
        }
    }

    private final List<Input> inputs;
    private final Map<String, Integer> indexByName = new HashMap<>();
    private final int sampleCount;
    private final IntFunction<Map<String, FloatTensor>> loader;
    private final LastBatch lastBatch;
    private final int batchSize;
    private final int batchCount;
    private int served;

    public CalibrationBatches(List<Input> inputs, int sampleCount, IntFunction<Map<String, FloatTensor>> loader,
                              LastBatch lastBatch) {
        if (inputs.isEmpty()) throw new QuantbridgeException("calibration: the network has no inputs");
        this.inputs = List.copyOf(inputs);
        this.sampleCount = sampleCount;
        this.loader = loader;
        this.lastBatch = lastBatch;
        this.batchSize = Math.toIntExact(inputs.get(0).shape[0]);
        for (int i = 0; i < inputs.size(); i++) {
            Input in = inputs.get(i);
            if (indexByName.put(in.name(), i) != null) {
                throw new QuantbridgeException("calibration: input '" + in.name() + "' is listed twice");
            }
            if (in.shape[0] != batchSize) {
                throw new QuantbridgeException("calibration: input '" + in.name() + "' has batch " + in.shape[0]
                        + " but '" + inputs.get(0).name() + "' has " + batchSize + "; all inputs share one batch size");
            }
            if (in.floatsPerSample() * batchSize > Integer.MAX_VALUE) {
                throw new QuantbridgeException("calibration: a batch of '" + in.name() + "' is too large");
            }
        }
        if (sampleCount <= 0) throw new QuantbridgeException("calibration: no calibration samples");
        if (lastBatch == LastBatch.DROP && sampleCount < batchSize) {
            throw new QuantbridgeException("calibration: " + sampleCount + " samples do not fill one batch of "
                    + batchSize + " (lower the calibration batch or give more samples)");
        }
        this.batchCount = lastBatch == LastBatch.DROP ? sampleCount / batchSize
                : (sampleCount + batchSize - 1) / batchSize;
    }

    /** Samples per batch: what {@code IInt8Calibrator::getBatchSize} returns. */
    public int batchSize() { return batchSize; }

    public int batchCount() { return batchCount; }

    /** Samples left out by {@link LastBatch#DROP}. */
    public int droppedSamples() {
        return lastBatch == LastBatch.DROP ? sampleCount - batchCount * batchSize : 0;
    }

    public int batchesServed() { return served; }

    public List<Input> inputs() { return inputs; }

    /** Floats in one batch of input {@code i}: the host (and device) buffer size. */
    public int floatsPerBatch(int i) {
        return Math.toIntExact(inputs.get(i).floatsPerSample() * batchSize);
    }

    /**
     * For each binding slot TensorRT passes (by name), the index of the input in {@link #inputs()}. TensorRT names
     * every network input exactly once; an unknown or missing name is an error naming both lists.
     */
    public int[] bindingOrder(List<String> names) {
        int[] order = new int[names.size()];
        boolean[] seen = new boolean[inputs.size()];
        for (int slot = 0; slot < names.size(); slot++) {
            Integer i = indexByName.get(names.get(slot));
            if (i == null || seen[i]) {
                throw new QuantbridgeException("calibration: TensorRT asks for input '" + names.get(slot) + "'"
                        + (i == null ? ", which the calibration data does not have" : " twice") + " (data inputs: "
                        + indexByName.keySet() + ", TensorRT bindings: " + names + ")");
            }
            seen[i] = true;
            order[slot] = i;
        }
        for (int i = 0; i < seen.length; i++) {
            if (!seen[i]) {
                throw new QuantbridgeException("calibration: TensorRT does not ask for input '" + inputs.get(i).name()
                        + "' (TensorRT bindings: " + names + ")");
            }
        }
        return order;
    }

    /**
     * Fills the next batch into {@code hostByInput} (one buffer per input, in {@link #inputs()} order, each with room
     * for {@link #floatsPerBatch}), from position 0; returns false, touching nothing, when the data has ended.
     */
    public boolean next(List<FloatBuffer> hostByInput) {
        if (hostByInput.size() != inputs.size()) {
            throw new IllegalArgumentException(hostByInput.size() + " buffers for " + inputs.size() + " inputs");
        }
        if (served >= batchCount) return false;
        for (int i = 0; i < inputs.size(); i++) {
            if (hostByInput.get(i).capacity() < floatsPerBatch(i)) {
                throw new IllegalArgumentException("buffer for '" + inputs.get(i).name() + "' holds "
                        + hostByInput.get(i).capacity() + " floats, a batch needs " + floatsPerBatch(i));
            }
            hostByInput.get(i).clear();
        }
        for (int row = 0; row < batchSize; row++) {
            int sample = (served * batchSize + row) % sampleCount;
            Map<String, FloatTensor> tensors = loader.apply(sample);
            for (int i = 0; i < inputs.size(); i++) {
                Input in = inputs.get(i);
                FloatTensor t = tensors.get(in.name());
                if (t == null) {
                    throw new QuantbridgeException("calibration sample " + sample + " has no tensor for input '"
                            + in.name() + "' (it has " + tensors.keySet() + ")");
                }
                if (t.size() != in.floatsPerSample()) {
                    throw new QuantbridgeException("calibration sample " + sample + ", input '" + in.name() + "': "
                            + "shape " + Arrays.toString(t.shape()) + " does not fit one row of the binding shape "
                            + Arrays.toString(in.shape()));
                }
                hostByInput.get(i).put(t.data(), 0, t.size());
            }
        }
        for (FloatBuffer b : hostByInput) b.flip();
        served++;
        return true;
    }

    /** Starts again from the first batch (TensorRT may calibrate more than once per build). */
    public void reset() {
        served = 0;
    }

    /** Names in {@link #inputs()} order. */
    public List<String> names() {
        List<String> n = new ArrayList<>();
        for (Input in : inputs) n.add(in.name());
        return n;
    }
}
