package io.quantbridge.tensorrt;

import static org.bytedeco.cuda.global.cudart.cudaFree;
import static org.bytedeco.cuda.global.cudart.cudaGetErrorString;
import static org.bytedeco.cuda.global.cudart.cudaMalloc;
import static org.bytedeco.cuda.global.cudart.cudaMemcpy;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyDeviceToHost;
import static org.bytedeco.cuda.global.cudart.cudaMemcpyHostToDevice;
import static org.bytedeco.cuda.global.cudart.cudaStreamCreate;
import static org.bytedeco.cuda.global.cudart.cudaStreamDestroy;
import static org.bytedeco.cuda.global.cudart.cudaStreamSynchronize;
import static org.bytedeco.tensorrt.global.nvinfer.createInferRuntime;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.ModelSession;
import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.tensor.TensorInfo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.tensorrt.global.nvinfer.DataType;
import org.bytedeco.tensorrt.global.nvinfer.TensorIOMode;
import org.bytedeco.tensorrt.nvinfer.Dims64;
import org.bytedeco.tensorrt.nvinfer.ICudaEngine;
import org.bytedeco.tensorrt.nvinfer.IExecutionContext;
import org.bytedeco.tensorrt.nvinfer.IRuntime;

/**
 * A serialized TensorRT engine ({@code .plan}) deserialized on the first CUDA device, ready to run. Inputs and
 * outputs are float32 (the engines this backend builds keep float I/O); a dynamic input takes the shape of the tensor
 * it is given, within the engine's optimization profile.
 *
 * <p>{@link #run} copies the inputs to device buffers, enqueues the engine on the session's CUDA stream, waits, and
 * copies the outputs back. One execution context: runs are serialized (thread-safe, not concurrent). {@link #close}
 * frees the device buffers and the stream; the engine and context objects have no destructor the TensorRT 10 presets
 * expose, so their memory returns when the process ends.
 */
final class TensorRtSession implements ModelSession {
    private final String name;
    private final IRuntime runtime; // outlives the engine it deserialized
    private final ICudaEngine engine;
    private final IExecutionContext context;
    private final CUstream_st stream;
    private final List<TensorInfo> inputs = new ArrayList<>();
    private final List<TensorInfo> outputs = new ArrayList<>();
    private final Map<String, Pointer> device = new HashMap<>();
    private final Map<String, Long> capacity = new HashMap<>();
    private boolean closed;

    private TensorRtSession(String name, IRuntime runtime, ICudaEngine engine, IExecutionContext context,
                            CUstream_st stream) {
        this.name = name;
        this.runtime = runtime;
        this.engine = engine;
        this.context = context;
        this.stream = stream;
        for (int i = 0; i < engine.getNbIOTensors(); i++) {
            String t = engine.getIOTensorName(i);
            // enums from native calls are compared by value: JavaCPP builds new enum objects, not the constants
            int type = engine.getTensorDataType(t).value;
            if (type != DataType.kFLOAT.value) {
                throw new QuantbridgeException("tensorrt: engine " + name + " has a tensor '" + t + "' of TensorRT "
                        + "data type " + type + " (not kFLOAT); this session runs engines with float32 inputs and "
                        + "outputs");
            }
            TensorInfo info = new TensorInfo(t, "float32", shape(engine.getTensorShape(t)));
            boolean input = engine.getTensorIOMode(t).value == TensorIOMode.kINPUT.value;
            (input ? inputs : outputs).add(info);
        }
    }

    /** Deserializes {@code plan}; the caller has checked its sidecar against this machine. */
    static TensorRtSession open(Path plan) {
        TensorRtNative.preload();
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(plan);
        } catch (IOException e) {
            throw new QuantbridgeException("cannot read engine " + plan + ": " + e.getMessage(), e);
        }
        TrtLogger logger = TrtLogger.get();
        long mark = logger.mark();
        IRuntime runtime = createInferRuntime(logger);
        if (runtime == null || runtime.isNull()) {
            throw new QuantbridgeException("tensorrt: createInferRuntime failed: " + logger.lastErrors(mark));
        }
        ICudaEngine engine;
        try (BytePointer p = new BytePointer(bytes.length)) {
            p.put(bytes, 0, bytes.length);
            engine = runtime.deserializeCudaEngine(p, bytes.length);
        }
        if (engine == null || engine.isNull()) {
            throw new QuantbridgeException("tensorrt: engine " + plan.getFileName() + " could not be deserialized: "
                    + logger.lastErrors(mark));
        }
        IExecutionContext context = engine.createExecutionContext();
        if (context == null || context.isNull()) {
            throw new QuantbridgeException("tensorrt: no execution context for " + plan.getFileName()
                    + " (out of GPU memory?): " + logger.lastErrors(mark));
        }
        CUstream_st stream = new CUstream_st();
        check(cudaStreamCreate(stream), "cudaStreamCreate");
        return new TensorRtSession(plan.getFileName().toString(), runtime, engine, context, stream);
    }

    @Override
    public List<TensorInfo> inputs() {
        return List.copyOf(inputs);
    }

    @Override
    public List<TensorInfo> outputs() {
        return List.copyOf(outputs);
    }

    @Override
    public synchronized Map<String, FloatTensor> run(Map<String, FloatTensor> feed) {
        if (closed) throw new QuantbridgeException("tensorrt: session " + name + " is closed");
        List<FloatTensor> given = io.quantbridge.backend.Feeds.inOrder("tensorrt: " + name, inputs, feed);
        for (int k = 0; k < inputs.size(); k++) {
            TensorInfo in = inputs.get(k);
            FloatTensor t = given.get(k);
            long[] want = in.shape();
            long[] got = t.shape();
            boolean fits = want.length == got.length;
            for (int i = 0; fits && i < want.length; i++) fits = want[i] < 0 || want[i] == got[i];
            if (!fits) {
                throw new QuantbridgeException("tensorrt: input '" + in.name() + "' of " + name + " has shape "
                        + Arrays.toString(want) + "; got " + Arrays.toString(got));
            }
            if (in.isDynamic() && !context.setInputShape(in.name(), TensorRtNative.dims(got))) {
                throw new QuantbridgeException("tensorrt: input '" + in.name() + "' shape " + Arrays.toString(got)
                        + " is outside the engine's optimization profile");
            }
            Pointer d = buffer(in.name(), 4L * t.size());
            try (FloatPointer host = new FloatPointer(t.data())) {
                check(cudaMemcpy(d, host, 4L * t.size(), cudaMemcpyHostToDevice), "copying '" + in.name() + "'");
            }
            context.setTensorAddress(in.name(), d);
        }
        Map<String, long[]> outShapes = new LinkedHashMap<>();
        for (TensorInfo out : outputs) {
            long[] s = shape(context.getTensorShape(out.name()));
            if (Arrays.stream(s).anyMatch(v -> v < 0)) {
                throw new QuantbridgeException("tensorrt: output '" + out.name() + "' of " + name
                        + " has no static shape (" + Arrays.toString(s) + ") after the inputs were set");
            }
            outShapes.put(out.name(), s);
            context.setTensorAddress(out.name(), buffer(out.name(), 4L * FloatTensor.elementCount(s)));
        }
        if (!context.enqueueV3(stream)) {
            throw new QuantbridgeException("tensorrt: running " + name + " failed (enqueueV3)");
        }
        check(cudaStreamSynchronize(stream), "running " + name);
        Map<String, FloatTensor> result = new LinkedHashMap<>();
        for (Map.Entry<String, long[]> e : outShapes.entrySet()) {
            int n = Math.toIntExact(FloatTensor.elementCount(e.getValue()));
            float[] data = new float[n];
            try (FloatPointer host = new FloatPointer(n)) {
                check(cudaMemcpy(host, device.get(e.getKey()), 4L * n, cudaMemcpyDeviceToHost),
                        "copying '" + e.getKey() + "'");
                host.get(data);
            }
            result.put(e.getKey(), new FloatTensor(e.getValue(), data));
        }
        return result;
    }

    /** The device buffer of a tensor, grown (reallocated) when a larger shape needs more than it holds. */
    private Pointer buffer(String tensor, long bytes) {
        Pointer p = device.get(tensor);
        if (p != null && capacity.get(tensor) >= bytes) return p;
        if (p != null) cudaFree(p);
        Pointer fresh;
        try (PointerPointer<Pointer> out = new PointerPointer<>(1)) {
            check(cudaMalloc(out, Math.max(bytes, 4)), "allocating " + bytes + " bytes for '" + tensor + "'");
            fresh = out.get(0);
        }
        device.put(tensor, fresh);
        capacity.put(tensor, bytes);
        return fresh;
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        device.values().forEach(p -> cudaFree(p));
        device.clear();
        cudaStreamDestroy(stream);
    }

    private static void check(int err, String what) {
        if (err != 0) {
            throw new QuantbridgeException("tensorrt: CUDA error while " + what + ": "
                    + cudaGetErrorString(err).getString() + " (" + err + ")");
        }
    }

    private static long[] shape(Dims64 d) {
        long[] s = new long[d.nbDims()];
        for (int i = 0; i < s.length; i++) s[i] = d.d(i);
        return s;
    }

    @Override
    public String toString() {
        return "TensorRtSession[" + name + "]";
    }
}
