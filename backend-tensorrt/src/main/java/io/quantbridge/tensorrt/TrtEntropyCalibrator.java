package io.quantbridge.tensorrt;

import static org.bytedeco.cuda.global.cudart.cudaFree;
import static org.bytedeco.cuda.global.cudart.cudaGetErrorString;
import static org.bytedeco.cuda.global.cudart.cudaMalloc;
import static org.bytedeco.cuda.global.cudart.cudaMemcpy;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.util.AtomicFiles;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.tensorrt.nvinfer.IInt8EntropyCalibrator2;

/**
 * TensorRT 10's IInt8EntropyCalibrator2, implemented in Java: {@link #readCalibrationCache} hands TensorRT the cache
 * this tool computed (so the engine gets our calibrator's ranges, and TensorRT never asks for a batch); if TensorRT
 * rejects it, {@link #getBatch} serves the calibration samples (batch logic in {@link CalibrationBatches}, copied
 * from host to device buffers here) and {@link #writeCalibrationCache} keeps what TensorRT computed, atomically.
 *
 * <p>Every buffer handed to native code is a field, alive as long as this object: the cache bytes, the host and
 * the device buffers. The methods are {@code noexcept} in C++: they catch everything and remember the first
 * failure ({@link #failure()}), which the builder reports after the build.
 */
final class TrtEntropyCalibrator extends IInt8EntropyCalibrator2 {
    private final CalibrationBatches batches;
    private final BytePointer cache;
    private final long cacheLength;
    private final Path writeBack;
    private final List<FloatPointer> host = new ArrayList<>();
    private final List<FloatBuffer> hostBuffers = new ArrayList<>();
    private final List<Pointer> device = new ArrayList<>();
    private volatile Throwable failure;
    private volatile boolean cacheWritten;

    /**
     * @param cacheBytes the calibration cache to offer TensorRT (header version = this TensorRT's), or null to
     *                   calibrate on the samples
     * @param writeBack  where the cache TensorRT hands back is stored
     */
    TrtEntropyCalibrator(CalibrationBatches batches, byte[] cacheBytes, Path writeBack) {
        super();
        this.batches = batches;
        this.writeBack = writeBack;
        if (cacheBytes != null && cacheBytes.length > 0) {
            this.cache = new BytePointer(cacheBytes.length);
            this.cache.put(cacheBytes, 0, cacheBytes.length);
            this.cacheLength = cacheBytes.length;
        } else {
            this.cache = null;
            this.cacheLength = 0;
        }
        try {
            for (int i = 0; i < batches.inputs().size(); i++) {
                int floats = batches.floatsPerBatch(i);
                FloatPointer h = new FloatPointer(floats);
                host.add(h);
                hostBuffers.add(h.asBuffer());
                PointerPointer<Pointer> out = new PointerPointer<>(1);
                check(cudaMalloc(out, (long) floats * Float.BYTES), "cudaMalloc");
                device.add(out.get(0));
                out.close();
            }
        } catch (RuntimeException e) {
            release();
            throw e;
        }
    }

    private static void check(int err, String what) {
        if (err != 0) {
            throw new QuantbridgeException("tensorrt calibrator: " + what + " failed: "
                    + cudaGetErrorString(err).getString());
        }
    }

    @Override
    public int getBatchSize() {
        return batches.batchSize();
    }

    @Override
    public boolean getBatch(PointerPointer bindings, PointerPointer names, int nbBindings) {
        try {
            List<String> bindingNames = new ArrayList<>();
            for (int i = 0; i < nbBindings; i++) bindingNames.add(names.getString(i));
            int[] order = batches.bindingOrder(bindingNames);
            if (!batches.next(hostBuffers)) return false;
            for (int slot = 0; slot < nbBindings; slot++) {
                int i = order[slot];
                check(cudaMemcpy(device.get(i), host.get(i), (long) batches.floatsPerBatch(i) * Float.BYTES,
                        cudaMemcpyHostToDevice), "cudaMemcpy");
                bindings.put(slot, device.get(i));
            }
            return true;
        } catch (Throwable t) {
            if (failure == null) failure = t;
            return false;
        }
    }

    @Override
    public Pointer readCalibrationCache(LongPointer length) {
        length.put(0, cache == null ? 0 : cacheLength);
        return cache;
    }

    @Override
    public void writeCalibrationCache(Pointer ptr, long length) {
        try {
            byte[] bytes = new byte[Math.toIntExact(length)];
            new BytePointer(ptr).capacity(length).get(bytes);
            AtomicFiles.write(writeBack, bytes);
            cacheWritten = true;
        } catch (Throwable t) {
            if (failure == null) failure = t;
        }
    }

    /** The first exception a callback caught, or null. */
    Throwable failure() {
        return failure;
    }

    boolean cacheWritten() {
        return cacheWritten;
    }

    /** Frees the device buffers (call after the build). */
    void release() {
        for (Pointer d : device) cudaFree(d);
        device.clear();
    }
}
