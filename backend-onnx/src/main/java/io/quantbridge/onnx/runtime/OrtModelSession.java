package io.quantbridge.onnx.runtime;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.ModelSession;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.SpatialStride;
import io.quantbridge.tensor.ElementTypes;
import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.tensor.TensorInfo;
import io.quantbridge.util.InputFiles;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * An ONNX model running in ONNX Runtime on the CPU. {@link #run} may be called from several threads at once
 * (ONNX Runtime sessions are thread-safe). Inputs must be float32; outputs of other numeric types are converted to
 * float. {@link #close} waits for the runs in flight on other threads (ONNX Runtime frees the session under them
 * otherwise, and the JVM dies in native code); a run after it fails with a message saying the session is closed.
 */
public final class OrtModelSession implements ModelSession {
    private final String label;
    private final OrtSession session;
    private final List<TensorInfo> inputs;
    private final List<TensorInfo> outputs;
    /** The model, parsed again only to explain a failed run ({@link #strideHint}). */
    private final ModelSource source;
    /** Runs hold the read lock, {@link #close} the write lock. */
    private final java.util.concurrent.locks.ReentrantReadWriteLock lock =
            new java.util.concurrent.locks.ReentrantReadWriteLock();
    private boolean closed;

    private OrtModelSession(String label, OrtSession session, ModelSource source) throws OrtException {
        this.label = label;
        this.session = session;
        this.source = source;
        List<TensorInfo> in = infos(session.getInputInfo());
        List<TensorInfo> out = infos(session.getOutputInfo());
        if (Stream.concat(in.stream(), out.stream()).anyMatch(t -> t.shape().length == 0)) {
            // ONNX Runtime says [] both for a scalar and for a tensor whose rank the model leaves open; the model says
            // which (read only then: scalar inputs and outputs are rare)
            OnnxModel model = source.read();
            if (model != null) {
                in = withRanks(in, model.inputs());
                out = withRanks(out, model.outputs());
            }
        }
        this.inputs = in;
        this.outputs = out;
    }

    /** The model ONNX Runtime was given, parsed on demand; null when it cannot be. */
    private interface ModelSource {
        OnnxModel read();
    }

    private static List<TensorInfo> withRanks(List<TensorInfo> infos, List<TensorInfo> declared) {
        Map<String, TensorInfo> byName = new HashMap<>();
        for (TensorInfo d : declared) byName.put(d.name(), d);
        List<TensorInfo> l = new ArrayList<>();
        for (TensorInfo t : infos) {
            TensorInfo d = byName.get(t.name());
            l.add(t.shape().length == 0 && d != null && !d.rankKnown()
                    ? TensorInfo.ofUnknownRank(t.name(), t.elementType()) : t);
        }
        return List.copyOf(l);
    }

    /** Opens a model file with the given number of intra-op threads (0 = ONNX Runtime's default). */
    public static OrtModelSession open(Path model, int threads) {
        return open(model, threads, false);
    }

    /**
     * Opens a model file; with {@code asWritten}, ONNX Runtime does not fuse QuantizeLinear/DequantizeLinear pairs
     * into its integer kernels but computes what the Q/DQ model says in float. For a model written for TensorRT or
     * OpenVINO, whose own kernels are what it is for: ONNX Runtime's uint8 x int8 kernels on x86 CPUs without VNNI
     * saturate with full-range weights (a DequantizeLinear -> MatMul pair becomes such a kernel), so fused, the
     * numbers would describe this CPU rather than the model.
     */
    public static OrtModelSession open(Path model, int threads, boolean asWritten) {
        InputFiles.require(model, "model");
        // the options are copied into the session: closed here, or each session leaked a native SessionOptions
        try (OrtSession.SessionOptions options = options(threads, asWritten)) {
            return new OrtModelSession(model.toString(),
                    OrtRuntime.environment().createSession(model.toString(), options), () -> parsed(model));
        } catch (OrtException e) {
            byte[] inlined = withExternalDataInlined(model);
            if (inlined != null) return open(inlined, "model " + model + " (external data read in)", threads, asWritten);
            throw new QuantbridgeException("model " + model + ": ONNX Runtime cannot load it: " + e.getMessage(), e);
        }
    }

    /**
     * The model with its external-data tensors read into it, or null when it has none (or cannot be read, which the
     * caller's own error then reports). ONNX Runtime refuses a model by path when a tensor that shape inference reads,
     * such as Reshape's shape, is external (onnx's {@code save_as_external_data} with {@code size_threshold=0}); the
     * same model with its data inline loads. Quantization itself runs on such an in-memory copy, so without this only
     * the final measurement against the float model failed, after every artifact was written.
     */
    private static byte[] withExternalDataInlined(Path model) {
        try {
            if (!OnnxModel.fromBytes(java.nio.file.Files.readAllBytes(model), model.toString()).hasExternalData()) {
                return null;
            }
            return OnnxModel.load(model).toBytes();
        } catch (QuantbridgeException | java.io.IOException e) {
            return null;
        }
    }

    /** Opens a serialized model held in memory; {@code label} names it in errors. */
    public static OrtModelSession open(byte[] model, String label, int threads) {
        return open(model, label, threads, false);
    }

    /** {@link #open(byte[], String, int)}, as written ({@link #open(Path, int, boolean)}). */
    public static OrtModelSession open(byte[] model, String label, int threads, boolean asWritten) {
        try (OrtSession.SessionOptions options = options(threads, asWritten)) {
            // the bytes stay referenced for the session's life, for a failed run's explanation: not when they are big
            ModelSource source = model.length <= 64 << 20 ? () -> parsed(model, label) : () -> null;
            return new OrtModelSession(label, OrtRuntime.environment().createSession(model, options), source);
        } catch (OrtException e) {
            throw new QuantbridgeException(label + ": ONNX Runtime cannot load it: " + e.getMessage(), e);
        }
    }

    private static OnnxModel parsed(Path model) {
        try {
            return parsed(java.nio.file.Files.readAllBytes(model), model.toString());
        } catch (java.io.IOException e) {
            return null;
        }
    }

    private static OnnxModel parsed(byte[] model, String label) {
        try {
            return OnnxModel.fromBytes(model, label);
        } catch (QuantbridgeException e) {
            return null;
        }
    }

    private static OrtSession.SessionOptions options(int threads, boolean asWritten) throws OrtException {
        OrtSession.SessionOptions o = new OrtSession.SessionOptions();
        o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
        if (asWritten) o.addConfigEntry("session.disable_quant_qdq", "1");
        // errors reach the exceptions, whose messages quantbridge prints with ORT's own text; ORT also logged each one
        // to stderr (in colour, before quantbridge's line saying the same), and warnings such as "Removing initializer
        // ... not used by any node" (tf2onnx leaves such initializers) once per session, several times per run
        o.setSessionLogLevel(ai.onnxruntime.OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL);
        if (threads > 0) {
            o.setIntraOpNumThreads(threads);
            o.setInterOpNumThreads(1);
        }
        return o;
    }

    private static List<TensorInfo> infos(Map<String, NodeInfo> m) {
        List<TensorInfo> l = new ArrayList<>();
        for (NodeInfo n : m.values()) {
            if (n.getInfo() instanceof ai.onnxruntime.TensorInfo t) {
                l.add(new TensorInfo(n.getName(), elementType(t), t.getShape()));
            } else {
                l.add(new TensorInfo(n.getName(), n.getInfo().toString(), new long[0]));
            }
        }
        return List.copyOf(l);
    }

    @Override
    public List<TensorInfo> inputs() {
        return inputs;
    }

    @Override
    public List<TensorInfo> outputs() {
        return outputs;
    }

    @Override
    public Map<String, FloatTensor> run(Map<String, FloatTensor> feed) {
        Map<String, FloatTensor> out = new LinkedHashMap<>();
        runStreaming(feed, null, (name, shape, data, len) -> out.put(name, new FloatTensor(shape,
                len == data.length ? data : Arrays.copyOf(data, len))), false);
        return out;
    }

    /** Receives one output of a run; {@code data} is valid only during the call when the scratch is reused. */
    @FunctionalInterface
    public interface OutputSink {
        void accept(String name, long[] shape, float[] data, int length);
    }

    /**
     * Runs once and hands each requested output (all when {@code names} is null) to the sink, one at a time, so that
     * large intermediate tensors can be consumed without holding them all. With {@code reuseScratch} the same float
     * array is passed for every output (per calling thread).
     */
    public void runStreaming(Map<String, FloatTensor> feed, Set<String> names, OutputSink sink, boolean reuseScratch) {
        enter();
        try {
            Map<String, OnnxTensor> tensors = inputTensors(feed);
            try (OrtSession.Result r = names == null ? session.run(tensors) : session.run(tensors, names)) {
                deliver(r, sink, reuseScratch);
            } catch (OrtException e) {
                throw failed(feed, e);
            } finally {
                tensors.values().forEach(OnnxTensor::close);
            }
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Takes the read lock for a run, refusing a closed session (the lock is released by the caller). */
    private void enter() {
        lock.readLock().lock();
        if (closed) {
            lock.readLock().unlock();
            throw new QuantbridgeException(label + ": the session is closed");
        }
    }

    /**
     * A run that ONNX Runtime refused, with the shapes it was fed: its messages name a node deep in the graph (a
     * detector fed a size its strides do not divide fails in an Add of its neck, "Attempting to broadcast an axis by a
     * dimension other than 1"), not the input that led there.
     */
    private QuantbridgeException failed(Map<String, FloatTensor> feed, OrtException e) {
        StringBuilder in = new StringBuilder();
        for (Map.Entry<String, FloatTensor> f : feed.entrySet()) {
            if (in.length() > 0) in.append(", ");
            in.append(f.getKey()).append(' ').append(Arrays.toString(f.getValue().shape()));
        }
        String message = e.getMessage() == null ? "" : e.getMessage().strip();
        return new QuantbridgeException(label + ": ONNX Runtime failed on input " + in + ": " + message
                + strideHint(feed, message), e);
    }

    private static final java.util.regex.Pattern SHAPE_ERROR = java.util.regex.Pattern.compile(
            "(?is).*(broadcast|concat|dimension|shape).*");

    /**
     * For a run that failed on shapes: the image inputs fed a height or width that the model's downsampling
     * ({@link SpatialStride}) does not divide, and the nearest sizes it does; empty otherwise.
     */
    private String strideHint(Map<String, FloatTensor> feed, String message) {
        if (message == null || !SHAPE_ERROR.matcher(message).matches()) return "";
        StringBuilder hint = new StringBuilder();
        OnnxModel model = null;
        for (TensorInfo in : inputs) {
            FloatTensor t = feed.get(in.name());
            long[] declared = in.shape();
            if (t == null || t.rank() != 4 || !in.rankKnown() || declared.length != 4) continue;
            boolean nhwc = isChannels(declared[3]) && !isChannels(declared[1]);
            int hAxis = nhwc ? 1 : 2;
            if (declared[hAxis] > 0 && declared[hAxis + 1] > 0) continue; // a fixed size is checked before the run
            if (model == null) model = source.read();
            if (model == null) return "";
            String h = SpatialStride.sizeHint(model, in.name(), t.shape()[hAxis + 1], t.shape()[hAxis]);
            if (!h.isEmpty()) hint.append(hint.length() == 0 ? " (" : "; ").append(h);
        }
        return hint.length() == 0 ? "" : hint.append(')').toString();
    }

    private static boolean isChannels(long d) {
        return d == 1 || d == 3;
    }

    /** The input tensors of a feed, checked against the model's inputs (closed by the caller). */
    private Map<String, OnnxTensor> inputTensors(Map<String, FloatTensor> feed) {
        Map<String, OnnxTensor> tensors = new HashMap<>();
        OrtEnvironment env = OrtRuntime.environment();
        List<FloatTensor> ordered = io.quantbridge.backend.Feeds.inOrder(label, inputs, feed);
        try {
            for (int i = 0; i < inputs.size(); i++) {
                TensorInfo in = inputs.get(i);
                FloatTensor t = ordered.get(i);
                checkShape(in, t);
                tensors.put(in.name(), InputTensors.create(env, in, t, label));
            }
            return tensors;
        } catch (OrtException | RuntimeException e) {
            tensors.values().forEach(OnnxTensor::close);
            if (e instanceof RuntimeException re) throw re;
            throw new QuantbridgeException(label + ": ONNX Runtime cannot take the input: " + e.getMessage(), e);
        }
    }

    /** Hands every tensor output of a run to the sink, converted to float. */
    private static void deliver(OrtSession.Result r, OutputSink sink, boolean reuseScratch) throws OrtException {
        float[] scratch = reuseScratch ? SCRATCH.get() : null;
        for (Map.Entry<String, OnnxValue> e : r) {
            if (!(e.getValue() instanceof OnnxTensor t)) continue;
            long[] shape = t.getInfo().getShape();
            int n = Math.toIntExact(FloatTensor.elementCount(shape));
            float[] data;
            if (reuseScratch) {
                if (scratch.length < n) {
                    scratch = new float[Math.max(n, scratch.length * 2)];
                    SCRATCH.set(scratch);
                }
                data = scratch;
            } else {
                data = new float[n];
            }
            copyAsFloat(e.getKey(), t, data, n);
            sink.accept(e.getKey(), shape, data, n);
        }
    }

    /**
     * Hands every tensor output of a run to the sink as a buffer: float outputs as the copy ONNX Runtime makes
     * ({@code getFloatBuffer}), without copying that again into an array; others converted to float.
     */
    private static void deliverBuffers(OrtSession.Result r, BufferSink sink) throws OrtException {
        for (Map.Entry<String, OnnxValue> e : r) {
            if (!(e.getValue() instanceof OnnxTensor t)) continue;
            long[] shape = t.getInfo().getShape();
            if (t.getInfo().type == ai.onnxruntime.OnnxJavaType.FLOAT) {
                sink.accept(e.getKey(), shape, t.getFloatBuffer());
            } else {
                int n = Math.toIntExact(FloatTensor.elementCount(shape));
                float[] data = new float[n];
                copyAsFloat(e.getKey(), t, data, n);
                sink.accept(e.getKey(), shape, FloatBuffer.wrap(data));
            }
        }
    }

    /** Receives one output of a run as a buffer from position 0 to its limit, valid only during the call; read only. */
    @FunctionalInterface
    public interface BufferSink {
        void accept(String name, long[] shape, FloatBuffer data);
    }

    /**
     * Output buffers that one thread reuses across {@link #runStreaming(Map, Set, BufferSink, OutputBuffers)} calls:
     * after a first ordinary run, every requested float output is written by ONNX Runtime straight into a direct
     * buffer allocated once (pinned outputs), so later runs with the same input shapes allocate nothing and hand each
     * output to the sink where ONNX Runtime wrote it. Not thread-safe: one per thread. Close it (before the session).
     */
    public static final class OutputBuffers implements AutoCloseable {
        private final Map<String, OnnxTensor> pinned = new LinkedHashMap<>();
        private final Map<String, FloatBuffer> buffers = new HashMap<>();
        private final List<java.nio.ByteBuffer> memory = new ArrayList<>();
        private final Map<String, long[]> shapes = new HashMap<>();
        private Map<String, List<Long>> inputShapes;
        private Set<String> names;
        /** Set when the outputs did not fit in the direct memory left: runs stay unpinned, without trying again. */
        private boolean unpinnable;

        boolean matches(Map<String, FloatTensor> feed, Set<String> requested) {
            return inputShapes != null && requested.equals(names) && inputShapes.equals(shapesOf(feed));
        }

        static Map<String, List<Long>> shapesOf(Map<String, FloatTensor> feed) {
            Map<String, List<Long>> m = new HashMap<>();
            feed.forEach((k, v) -> m.put(k, Arrays.stream(v.shape()).boxed().toList()));
            return m;
        }

        /** Pins the outputs of a finished run, if they are all float (otherwise stays unpinned). */
        void pin(Map<String, FloatTensor> feed, Set<String> requested, OrtSession.Result r) throws OrtException {
            close();
            if (unpinnable) return;
            Map<String, long[]> found = new LinkedHashMap<>();
            long bytes = 0;
            for (Map.Entry<String, OnnxValue> e : r) {
                if (!(e.getValue() instanceof OnnxTensor t)
                        || t.getInfo().type != ai.onnxruntime.OnnxJavaType.FLOAT) {
                    return;
                }
                found.put(e.getKey(), t.getInfo().getShape());
                bytes += FloatTensor.elementCount(t.getInfo().getShape()) * Float.BYTES;
            }
            if (bytes > DirectMemory.headroom()) {
                unpinnable = true;
                return;
            }
            try {
                allocate(found, shapesOf(feed), Set.copyOf(requested));
            } catch (OutOfMemoryError e) { // another thread took the headroom first
                close();
                unpinnable = true;
            }
        }

        /** Whether runs stay unpinned because the outputs did not fit in the direct memory left. */
        public boolean isUnpinnable() {
            return unpinnable;
        }

        /** Bytes of direct memory these buffers hold (0 when unpinned). */
        public long pinnedBytes() {
            long b = 0;
            for (java.nio.ByteBuffer m : memory) b += m.capacity();
            return b;
        }

        /**
         * New buffers pinned to the same outputs for the same input shapes as these (memory of their own), so that a
         * thread's first run is already pinned: an unpinned run copies every output twice (ONNX Runtime's
         * {@code getFloatBuffer} copies into a new heap buffer, ~250 MB on ppocr-det at 640x640, then into the
         * scratch). Unpinned if these are.
         */
        public OutputBuffers sameShapes() {
            OutputBuffers b = new OutputBuffers();
            b.unpinnable = unpinnable;
            if (inputShapes != null) {
                Map<String, long[]> outputs = new LinkedHashMap<>();
                for (String name : pinned.keySet()) outputs.put(name, shapes.get(name));
                try {
                    b.allocate(outputs, inputShapes, names);
                } catch (OrtException e) {
                    b.close();
                    throw new QuantbridgeException("ONNX Runtime cannot pin the outputs: " + e.getMessage(), e);
                } catch (OutOfMemoryError e) {
                    b.close();
                    b.unpinnable = true;
                }
            }
            return b;
        }

        private void allocate(Map<String, long[]> outputs, Map<String, List<Long>> inputs, Set<String> requested)
                throws OrtException {
            OrtEnvironment env = OrtRuntime.environment();
            for (Map.Entry<String, long[]> e : outputs.entrySet()) {
                int n = Math.toIntExact(FloatTensor.elementCount(e.getValue()));
                java.nio.ByteBuffer bytes = java.nio.ByteBuffer.allocateDirect(n * Float.BYTES)
                        .order(java.nio.ByteOrder.nativeOrder());
                memory.add(bytes);
                FloatBuffer b = bytes.asFloatBuffer();
                pinned.put(e.getKey(), OnnxTensor.createTensor(env, b, e.getValue()));
                buffers.put(e.getKey(), b);
                shapes.put(e.getKey(), e.getValue());
            }
            inputShapes = inputs;
            names = requested;
        }

        private static void free(java.nio.ByteBuffer b) {
            try {
                java.lang.reflect.Field f = sun.misc.Unsafe.class.getDeclaredField("theUnsafe");
                f.setAccessible(true);
                ((sun.misc.Unsafe) f.get(null)).invokeCleaner(b);
            } catch (ReflectiveOperationException | RuntimeException e) {
                // not available here: the garbage collector frees it
            }
        }

        @Override
        public void close() {
            pinned.values().forEach(OnnxTensor::close);
            pinned.clear();
            buffers.clear();
            // native memory goes back now rather than at some later GC (a calibration pass pins ~100 MB per worker)
            memory.forEach(OutputBuffers::free);
            memory.clear();
            shapes.clear();
            inputShapes = null;
            names = null;
        }
    }

    /**
     * As {@link #runStreaming(Map, Set, OutputSink, boolean)}, writing the outputs into {@code buffers} (see
     * {@link OutputBuffers}) and handing them over as buffers, not copied into an array: the sink reads each value
     * once (a histogram reads the buffer in chunks that stay in cache; a copy into a large array first cost 0.6 ns per
     * value more than the histogram's own reading on ppocr-det). {@code names} must not be empty.
     */
    public void runStreaming(Map<String, FloatTensor> feed, Set<String> names, BufferSink sink, OutputBuffers buffers) {
        enter();
        try {
            if (!buffers.matches(feed, names)) {
                Map<String, OnnxTensor> tensors = inputTensors(feed);
                try (OrtSession.Result r = session.run(tensors, names)) {
                    buffers.pin(feed, names, r);
                    deliverBuffers(r, sink);
                } catch (OrtException e) {
                    throw failed(feed, e);
                } finally {
                    tensors.values().forEach(OnnxTensor::close);
                }
                return;
            }
            Map<String, OnnxTensor> tensors = inputTensors(feed);
            try (OrtSession.Result r = session.run(tensors, buffers.pinned)) {
                for (String name : buffers.pinned.keySet()) {
                    sink.accept(name, buffers.shapes.get(name), buffers.buffers.get(name).asReadOnlyBuffer());
                }
            } catch (OrtException e) {
                throw failed(feed, e);
            } finally {
                tensors.values().forEach(OnnxTensor::close);
            }
        } finally {
            lock.readLock().unlock();
        }
    }

    private static final ThreadLocal<float[]> SCRATCH = ThreadLocal.withInitial(() -> new float[1 << 16]);

    /**
     * ONNX's name of a tensor's element type ({@code uint16}); ONNX Runtime's Java type, which has no unsigned type
     * wider than 8 bits, would say {@code unknown} for some.
     */
    static String elementType(ai.onnxruntime.TensorInfo t) {
        String n = t.onnxType.name();
        String prefix = "ONNX_TENSOR_ELEMENT_DATA_TYPE_";
        return (n.startsWith(prefix) ? n.substring(prefix.length()) : n).toLowerCase(java.util.Locale.ROOT);
    }

    private static void copyAsFloat(String name, OnnxTensor t, float[] dst, int n) {
        if (t.getInfo().type == ai.onnxruntime.OnnxJavaType.FLOAT) {
            t.getFloatBuffer().get(dst, 0, n);
            return;
        }
        String type = elementType(t.getInfo());
        if (ElementTypes.byteSize(type) == 0) {
            throw new QuantbridgeException("output '" + name + "' is " + type + "; quantbridge reads outputs of types "
                    + String.join(", ", ElementTypes.CONVERTED));
        }
        ElementTypes.decode(t.getByteBuffer(), type, dst, n);
    }

    private void checkShape(TensorInfo in, FloatTensor t) {
        if (!in.rankKnown()) return;
        long[] want = in.shape();
        long[] got = t.shape();
        boolean ok = want.length == got.length;
        for (int i = 0; ok && i < want.length; i++) {
            ok = want[i] < 0 || want[i] == got[i];
        }
        if (!ok) {
            boolean onlyBatch = want.length == got.length && want.length > 0 && want[0] > 1 && got[0] == 1;
            for (int i = 1; onlyBatch && i < want.length; i++) onlyBatch = want[i] < 0 || want[i] == got[i];
            throw new QuantbridgeException(label + ": input '" + in.name() + "' expects shape "
                    + Arrays.toString(want) + " (-1 = any) but got " + Arrays.toString(got) + (onlyBatch
                    ? "; the model's batch is fixed at " + want[0] + " and a sample is one image or .npy of batch 1:"
                    + " export the model with a dynamic (or 1) batch, or give .npy samples of batch " + want[0] : ""));
        }
    }

    @Override
    public void close() {
        if (lock.getReadHoldCount() > 0) {
            throw new QuantbridgeException(label + ": the session cannot be closed from inside one of its own runs");
        }
        lock.writeLock().lock(); // waits for the runs in flight
        try {
            if (closed) return;
            closed = true;
            session.close();
        } catch (OrtException e) {
            throw new QuantbridgeException(label + ": closing the session failed: " + e.getMessage(), e);
        } finally {
            lock.writeLock().unlock();
        }
    }
}
