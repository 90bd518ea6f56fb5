package io.quantbridge.openvino;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.ModelSession;
import io.quantbridge.onnx.InputRanks;
import io.quantbridge.onnx.OnnxArity;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.SpatialStride;
import io.quantbridge.tensor.ElementTypes;
import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.tensor.TensorInfo;
import io.quantbridge.util.AtomicFiles;
import io.quantbridge.util.InputFiles;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A model compiled by OpenVINO for a device (the CPU), ready to run: an ONNX model ({@code .onnx}), OpenVINO IR
 * ({@code .xml} beside its {@code .bin}) or a compiled model exported by {@link #export} ({@code .blob}).
 *
 * <p>Thread-safe: each {@link #run} borrows an infer request from a pool (creating one when all are busy), so
 * several threads run at once. Inputs are copied into the request's own direct buffers, whose memory OpenVINO reads
 * in place (host-pointer tensors, no further copy). {@link #close} waits for runs in progress, then frees every
 * native object; any later call fails with a message saying the session is closed.
 *
 * <p>A model whose single input has dynamic dimensions (the PaddleOCR detector's {@code [-1, 3, -1, -1]}) is compiled
 * as it is, for its ports and properties, and again for each static input shape it runs with (up to
 * {@value #MAX_SHAPES} shapes): OpenVINO picks its kernels for static shapes, and its dynamic-shape path gives wrong
 * results on int8 Q/DQ models in 2026.4 (outputs near 0 on the detector).
 */
public final class OpenVinoSession implements ModelSession {
    public static final String DEVICE = "CPU";
    public static final String INFERENCE_PRECISION = "INFERENCE_PRECISION_HINT";
    public static final String PERF_COUNT = "PERF_COUNT";

    /**
     * How to compile: the device, compile properties ({@code INFERENCE_PRECISION_HINT=f32}, ...), a static shape for
     * the single input of a dynamic model (null keeps it dynamic) and whether to collect per-layer profiles.
     * A {@code .blob} is imported into a core that carries these properties.
     */
    public record Options(String device, Map<String, String> properties, long[] inputShape, boolean profiling) {
        public Options {
            Objects.requireNonNull(device, "device");
            properties = Collections.unmodifiableMap(new LinkedHashMap<>(properties));
            inputShape = inputShape == null ? null : inputShape.clone();
        }

        /** The CPU, float32 inference for whatever is not quantized (no bf16/f16 downgrade), dynamic shapes kept. */
        public static Options defaults() {
            return new Options(DEVICE, Map.of(INFERENCE_PRECISION, "f32"), null, false);
        }

        public Options withProperty(String key, String value) {
            Map<String, String> p = new LinkedHashMap<>(properties);
            p.put(key, value);
            return new Options(device, p, inputShape, profiling);
        }

        public Options withInputShape(long... shape) {
            return new Options(device, properties, shape, profiling);
        }

        public Options withProfiling(boolean on) {
            return new Options(device, properties, inputShape, on);
        }

        @Override
        public long[] inputShape() {
            return inputShape == null ? null : inputShape.clone();
        }

        String[] keyValues() {
            Map<String, String> p = new LinkedHashMap<>(properties);
            if (profiling) p.put(PERF_COUNT, "YES");
            List<String> kv = new ArrayList<>();
            p.forEach((k, v) -> {
                kv.add(k);
                kv.add(v);
            });
            return kv.toArray(String[]::new);
        }
    }

    /** One executed node of the runtime model, from OpenVINO's per-layer profile. */
    public record Layer(String name, String type, String execType, int status, long realTimeMicros) {
        /**
         * The precision the kernel ran in, from the exec type's suffix ({@code brgconv_avx512_amx_I8} ->
         * {@code I8}, {@code jit_avx512_FP32} -> {@code FP32}), or an empty string when it names none.
         */
        public String precision() {
            int u = execType.lastIndexOf('_');
            String p = u < 0 ? "" : execType.substring(u + 1).toUpperCase(Locale.ROOT);
            return p.matches("I8|U8|I4|U4|I16|U16|I32|I64|BF16|FP16|FP32|F16|F32|BOOL") ? p : "";
        }

        /** Whether the kernel ran in 8-bit integers. */
        public boolean int8() {
            String p = precision();
            return p.equals("I8") || p.equals("U8");
        }

        /** Whether it ran at all (not optimized out or fused into a neighbour). */
        public boolean executed() {
            return status == 2; // ov_profiling_info_t: NOT_RUN 0, OPTIMIZED_OUT 1, EXECUTED 2
        }
    }

    private final Path source;
    private final Options options;
    private final long ownCore; // a core of its own (an imported blob), else 0
    private ByteBuffer content; // memory OpenVINO may point into (imported blob, model read from memory), or null
    private long compiled;
    private final Pool main;
    private final List<TensorInfo> inputs;
    private final List<TensorInfo> outputs;
    // a model whose single input is dynamic is also compiled for each static input shape it is run with (kernels are
    // chosen for static shapes; OpenVINO's dynamic int8 path can also be wrong): the model kept for reshaping, and
    // the compiled models by input shape
    private long model;
    private long core;
    private final Map<List<Long>, Pool> byShape = new LinkedHashMap<>();
    static final int MAX_SHAPES = 8;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private volatile boolean closed;

    /**
     * The names a model's own file gives its inputs and outputs (an ONNX graph's, or those a blob's sidecar recorded),
     * which the session's ports take; null where there are none.
     */
    record Names(List<String> inputs, List<String> outputs) {
        static Names of(OnnxModel parsed) {
            return parsed == null ? null : new Names(parsed.inputs().stream().map(TensorInfo::name).toList(),
                    parsed.outputs().stream().map(TensorInfo::name).toList());
        }
    }

    private OpenVinoSession(Path source, Options options, long ownCore, long compiled, ByteBuffer content,
                            Names names) {
        this.source = source;
        this.options = options;
        this.ownCore = ownCore;
        this.compiled = compiled;
        this.content = content;
        this.main = new Pool(compiled);
        try {
            this.inputs = named(compiled, true, ports(OvNative.compiledPorts(compiled, true), "input"),
                    names == null ? null : names.inputs());
            this.outputs = named(compiled, false, ports(OvNative.compiledPorts(compiled, false), "output"),
                    names == null ? null : names.outputs());
        } catch (RuntimeException e) {
            free();
            throw e;
        }
    }

    /** Opens {@code model} with {@link Options#defaults()}. */
    public static OpenVinoSession open(Path model) {
        return open(model, Options.defaults());
    }

    /** Reads and compiles (or imports) {@code model}. */
    public static OpenVinoSession open(Path model, Options options) {
        return open(model, options, null);
    }

    /**
     * {@link #open(Path, Options)}, an exported model's ports named by {@code names} (when not null) rather than by
     * its sidecar: the names of the model it was compiled from, before the sidecar is written.
     */
    static OpenVinoSession open(Path model, Options options, Names names) {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(options, "options");
        InputFiles.require(model, "model");
        String name = model.getFileName().toString().toLowerCase(Locale.ROOT);
        OpenVinoRuntime rt = OpenVinoRuntime.get();
        if (name.endsWith(".blob")) {
            return importBlob(rt, model, options, names);
        }
        if (!name.endsWith(".onnx") && !name.endsWith(".xml")) {
            throw new QuantbridgeException("openvino reads .onnx, .xml (OpenVINO IR) and .blob (exported compiled "
                    + "models), not " + model.getFileName());
        }
        OnnxModel parsed = checkOnnx(model);
        byte[] ranked = withGraphRanks(parsed);
        if (ranked != null) return compile(ranked, model.toString(), options);
        String hint = parsed == null ? "" : rankHint(parsed);
        long m;
        try {
            m = OvNative.readModel(rt.core, model.toAbsolutePath().toString());
        } catch (OpenVinoException e) {
            throw new OpenVinoException("openvino: cannot read model " + model + ": " + e.getMessage() + hint, e);
        }
        return compileOwning(rt.core, m, model, options, null, Names.of(parsed));
    }

    /**
     * {@code ports}, each that carries a tensor named in {@code wanted} called by that name. OpenVINO describes a port
     * by one of its tensor's names, and a tensor has several where it merged tensors: an ONNX graph input read by an
     * Identity (or by a Cast to its own type) came out named after the Identity's output, the float model's input
     * and the quantized model's (Identity removed) then had different names, and a feed by the ONNX name was refused.
     */
    private static List<TensorInfo> named(long compiled, boolean inputs, List<TensorInfo> ports, List<String> wanted) {
        if (wanted == null) return ports;
        List<TensorInfo> out = new ArrayList<>(ports);
        boolean[] renamed = new boolean[out.size()];
        for (String name : wanted) {
            if (out.stream().anyMatch(t -> t.name().equals(name))) continue;
            int i = OvNative.compiledPortIndex(compiled, inputs, name);
            if (i < 0 || i >= out.size() || renamed[i]) continue;
            TensorInfo t = out.get(i);
            out.set(i, new TensorInfo(name, t.elementType(), t.shape(), t.rankKnown()));
            renamed[i] = true;
        }
        return List.copyOf(out);
    }

    /**
     * For an ONNX model with inputs that declare no rank, which OpenVINO's ONNX reader cannot convert a Conv on: the
     * model with the ranks its graph fixes for them ({@link InputRanks}), every dimension open, with a warning; null
     * when every input has a rank, the graph fixes none for one of them, or the weights are in external files (which
     * a model read from memory cannot find).
     */
    private static byte[] withGraphRanks(OnnxModel parsed) {
        if (parsed == null || parsed.inputs().stream().allMatch(TensorInfo::rankKnown)) return null;
        java.util.Map<String, Integer> ranks = InputRanks.fromGraph(parsed);
        long open = parsed.inputs().stream().filter(t -> !t.rankKnown()).count();
        if (ranks.size() != open || parsed.hasExternalData()) return null;
        System.getLogger("io.quantbridge.openvino").log(System.Logger.Level.WARNING, "openvino: " + parsed.label()
                + ": model input" + (ranks.size() == 1 ? " " : "s ") + ranks.keySet().stream()
                .map(n -> "'" + n + "'").collect(java.util.stream.Collectors.joining(", "))
                + (ranks.size() == 1 ? " declares" : " declare") + " no rank; read with the rank the graph fixes ("
                + ranks.values().stream().map(String::valueOf).collect(java.util.stream.Collectors.joining(", "))
                + "), every dimension open, as OpenVINO's ONNX reader needs");
        return parsed.withInputRanks(ranks).toBytes();
    }

    /**
     * Reads an .onnx file in Java and checks its nodes' arity ({@link OnnxArity}) before OpenVINO's ONNX frontend,
     * which takes it on trust and crashed the JVM on a Conv without inputs (found by mutating ppocr-cls). External
     * data is not read for this. Returns the model as Java reads it, null for other files and files Java does not
     * read as ONNX (OpenVINO's reader then says what is wrong).
     */
    private static OnnxModel checkOnnx(Path model) {
        if (!model.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".onnx")) return null;
        byte[] bytes;
        try {
            bytes = java.nio.file.Files.readAllBytes(model);
        } catch (java.io.IOException e) {
            throw new QuantbridgeException("openvino: cannot read model " + model + ": " + e.getMessage(), e);
        }
        return checkArity(bytes, model.toString());
    }

    /**
     * {@link OnnxArity#check}, for bytes Java reads as an ONNX model; others are left to OpenVINO's own message.
     * Returns the model Java read, or null.
     */
    private static OnnxModel checkArity(byte[] onnx, String label) {
        OnnxModel parsed;
        try {
            parsed = OnnxModel.fromBytes(onnx, label);
        } catch (QuantbridgeException notOnnx) {
            return null;
        }
        OnnxArity.check(parsed);
        return parsed;
    }

    /**
     * For an error of OpenVINO's ONNX reader: the inputs that declare no rank, which its converters for Conv and
     * others need ("The input data tensor's rank has to be known"), and what to do; empty when every input has one.
     */
    static String rankHint(OnnxModel model) {
        List<String> open = model.inputs().stream().filter(t -> !t.rankKnown()).map(t -> "'" + t.name() + "'")
                .toList();
        if (open.isEmpty()) return "";
        return " (model input" + (open.size() == 1 ? " " : "s ") + String.join(", ", open)
                + (open.size() == 1 ? " declares" : " declare") + " no rank, which OpenVINO's ONNX reader needs for"
                + " some operators: give the model's inputs shapes, e.g. with dimensions left symbolic; quantize"
                + " --backend onnx writes models that take the calibration data's rank)";
    }

    /**
     * Whether OpenVINO's frontend reads {@code model} (an .onnx or .xml file), without compiling it: a model it cannot
     * convert fails here, before anything is spent on it, with OpenVINO's message.
     */
    static void checkReadable(Path model) {
        OpenVinoRuntime rt = OpenVinoRuntime.get();
        OnnxModel parsed = checkOnnx(model);
        String hint = parsed == null ? "" : rankHint(parsed);
        long m;
        try {
            m = OvNative.readModel(rt.core, model.toAbsolutePath().toString());
        } catch (OpenVinoException e) {
            throw new OpenVinoException("openvino: cannot read model " + model + ": " + e.getMessage() + hint, e);
        }
        OvNative.modelFree(m);
    }

    /**
     * Why OpenVINO's frontend cannot read {@code model}, read as {@link #open} reads it (inputs of unknown rank take
     * the rank the graph fixes); empty when it reads it, or when an input's rank is left to the calibration data.
     * A short reason: OpenVINO's list of operators it failed to convert, when it gives one.
     */
    static Optional<String> readProblem(Path model) {
        OnnxModel parsed = checkOnnx(model);
        try {
            if (parsed != null && !parsed.inputs().stream().allMatch(TensorInfo::rankKnown)) {
                byte[] ranked = withGraphRanks(parsed);
                if (ranked == null) return Optional.empty();
                checkReadable(ranked, model.getFileName().toString());
            } else {
                checkReadable(model);
            }
            return Optional.empty();
        } catch (OpenVinoException e) {
            return Optional.of(shortReason(e));
        }
    }

    /** OpenVINO's list of operators it failed to convert, from a reader's error, else its first line. */
    static String shortReason(OpenVinoException e) {
        String text = e.detail() != null ? e.detail() : e.getMessage();
        int at = text.indexOf("Conversion is failed for:");
        if (at >= 0) {
            String ops = text.substring(at + "Conversion is failed for:".length()).strip();
            int end = ops.indexOf('\n');
            return "OpenVINO's ONNX reader cannot convert " + (end < 0 ? ops : ops.substring(0, end).strip());
        }
        String first = text.lines().findFirst().orElse(text).strip();
        return first.length() > 240 ? first.substring(0, 237) + "..." : first;
    }

    /** {@link #checkReadable(Path)} for an ONNX model held in memory; {@code label} names it in messages. */
    static void checkReadable(byte[] onnx, String label) {
        OpenVinoRuntime rt = OpenVinoRuntime.get();
        OvNative.modelFree(readFromMemory(rt, checkArity(onnx, label), ByteBuffer.allocateDirect(onnx.length)
                .put(onnx), label));
    }

    /** OpenVINO's model read from {@code content}, a direct copy of {@code onnx} that must outlive it. */
    private static long readFromMemory(OpenVinoRuntime rt, OnnxModel parsed, ByteBuffer content, String label) {
        String hint = parsed == null ? "" : rankHint(parsed);
        try {
            return OvNative.readModelFromMemory(rt.core, content);
        } catch (OpenVinoException e) {
            throw new OpenVinoException("openvino: cannot read model " + label + ": " + e.getMessage() + hint, e);
        }
    }

    /** Compiles an ONNX model held in memory; {@code label} names it in messages. */
    public static OpenVinoSession compile(byte[] onnx, String label, Options options) {
        Objects.requireNonNull(onnx, "onnx");
        if (onnx.length == 0) throw new QuantbridgeException("openvino: model " + label + " is empty");
        OpenVinoRuntime rt = OpenVinoRuntime.get();
        ByteBuffer content = ByteBuffer.allocateDirect(onnx.length).put(onnx);
        OnnxModel parsed = checkArity(onnx, label);
        long m = readFromMemory(rt, parsed, content, label);
        return compileOwning(rt.core, m, Path.of(label), options, content, Names.of(parsed));
    }

    /** Compiles {@code m} and frees it, unless the session keeps it to compile for static shapes later. */
    private static OpenVinoSession compileOwning(long core, long m, Path model, Options options, ByteBuffer content,
                                                 Names names) {
        OpenVinoSession session = null;
        try {
            session = compileModel(core, m, model, options, content, names);
            return session;
        } finally {
            if (session == null || session.model != m) OvNative.modelFree(m);
        }
    }

    private static OpenVinoSession compileModel(long core, long m, Path model, Options options, ByteBuffer content,
                                                Names names) {
        long[] shape = options.inputShape();
        if (shape != null) {
            String[] in = OvNative.modelPorts(m, true);
            if (in.length != 1) {
                throw new QuantbridgeException("openvino: a static input shape applies to a model with one input, but "
                        + model + " has " + in.length);
            }
            TensorInfo port = port(in[0], 0, "input");
            checkShape(port, shape, "openvino: input shape for " + model);
            try {
                OvNative.reshapeSingleInput(m, shape);
            } catch (OpenVinoException e) {
                throw new OpenVinoException("openvino: cannot give " + model + " the input shape "
                        + Arrays.toString(shape) + ": " + e.getMessage(), e);
            }
        }
        long c;
        try {
            c = OvNative.compile(core, m, options.device(), options.keyValues());
        } catch (OpenVinoException e) {
            throw new OpenVinoException("openvino: cannot compile " + model + " for " + options.device() + ": "
                    + e.getMessage(), e);
        }
        OpenVinoSession session = new OpenVinoSession(model, options, 0, c, content, names);
        session.core = core;
        if (shape == null && session.inputs.size() == 1 && session.inputs.get(0).isDynamic()) {
            session.model = m; // the caller frees m when compileModel returns: keep our own reference instead
        }
        return session;
    }

    /**
     * Imports an exported model. Import takes no properties, so the session has a core of its own that carries them
     * ({@code INFERENCE_PRECISION_HINT}: otherwise a CPU with bf16 arithmetic would run the float layers in bf16,
     * whatever the model was compiled with). The file's bytes stay in native memory while the session lives: the
     * CPU plugin reads the weights from there.
     */
    private static OpenVinoSession importBlob(OpenVinoRuntime rt, Path model, Options options, Names given) {
        ByteBuffer blob;
        try (FileChannel ch = FileChannel.open(model, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size > Integer.MAX_VALUE - 16) {
                throw new QuantbridgeException("openvino: compiled model " + model + " is larger than 2 GB");
            }
            if (size == 0) {
                throw new QuantbridgeException("openvino: compiled model " + model + " is empty");
            }
            blob = ByteBuffer.allocateDirect((int) size);
            while (blob.hasRemaining() && ch.read(blob) >= 0) {
                // read it all
            }
            blob.flip();
        } catch (IOException e) {
            throw new QuantbridgeException("model " + model + " cannot be read: " + e.getMessage(), e);
        }
        Names recorded = BlobSidecar.check(model, blob, rt.version);
        Names names = given != null ? given : recorded;
        long own = rt.newCore();
        long c;
        try {
            String[] kv = options.keyValues();
            if (kv.length > 0) OvNative.coreSetProperties(own, options.device(), kv);
            c = OvNative.importModel(own, blob, options.device());
        } catch (OpenVinoException e) {
            OvNative.coreFree(own);
            throw new OpenVinoException("openvino: cannot import compiled model " + model + " (written by "
                    + "ov_compiled_model_export_model of a compatible OpenVINO version for " + options.device()
                    + "?): " + e.getMessage(), e);
        } catch (RuntimeException e) {
            OvNative.coreFree(own);
            throw e;
        }
        return new OpenVinoSession(model, options, own, c, blob, names);
    }

    @Override
    public List<TensorInfo> inputs() {
        return inputs;
    }

    @Override
    public List<TensorInfo> outputs() {
        return outputs;
    }

    /** The file this session was opened from. */
    public Path source() {
        return source;
    }

    public Options options() {
        return options;
    }

    @Override
    public Map<String, FloatTensor> run(Map<String, FloatTensor> feed) {
        return withRequest(feed, r -> readOutputs(r));
    }

    /**
     * Runs once on {@code feed} (zeros of the input shapes, dynamic dimensions 640, when null) and returns the runtime
     * model's layers with their kernels and status. Needs {@link Options#profiling()}.
     */
    public List<Layer> profile(Map<String, FloatTensor> feed) {
        if (!options.profiling()) {
            throw new IllegalStateException("this session was opened without profiling (Options.withProfiling)");
        }
        Map<String, FloatTensor> in = feed != null ? feed : zeros(640);
        return withRequest(in, r -> {
            List<Layer> layers = new ArrayList<>();
            for (String s : OvNative.profile(r.handle)) {
                String[] f = s.split("\t", -1);
                layers.add(new Layer(f[0], f[1], f[2], Integer.parseInt(f[3]), Long.parseLong(f[4])));
            }
            return layers;
        });
    }

    /** Zeros for every input; a dynamic batch becomes 1 and other dynamic dimensions {@code dynamicDim}. */
    public Map<String, FloatTensor> zeros(int dynamicDim) {
        Map<String, FloatTensor> feed = new LinkedHashMap<>();
        for (TensorInfo in : inputs) {
            long[] s = in.shape();
            for (int i = 0; i < s.length; i++) {
                if (s[i] < 0) s[i] = i == 0 ? 1 : dynamicDim;
            }
            feed.put(in.name(), new FloatTensor(s, new float[Math.toIntExact(FloatTensor.elementCount(s))]));
        }
        return feed;
    }

    /** A property of the compiled model ({@code INFERENCE_PRECISION_HINT}, {@code EXECUTION_DEVICES}, ...). */
    public String property(String key) {
        return guarded(() -> OvNative.compiledProperty(compiled, key));
    }

    /** A property of the compiled model, or null when the device does not report it. */
    public String propertyOrNull(String key) {
        try {
            return property(key);
        } catch (OpenVinoException e) {
            return null;
        }
    }

    /** The runtime model (what the device executes): its name and its inputs and outputs with runtime types. */
    public Map<String, Object> runtimeModel() {
        return guarded(() -> {
            long m = OvNative.runtimeModel(compiled);
            try {
                Map<String, Object> r = new LinkedHashMap<>();
                r.put("name", OvNative.modelName(m));
                r.put("inputs", ports(OvNative.modelPorts(m, true), "input").stream().map(TensorInfo::toString)
                        .toList());
                r.put("outputs", ports(OvNative.modelPorts(m, false), "output").stream().map(TensorInfo::toString)
                        .toList());
                return r;
            } finally {
                OvNative.modelFree(m);
            }
        });
    }

    /** Writes the compiled model ({@code ov_compiled_model_export_model}) to {@code target}, atomically. */
    public void export(Path target) {
        guarded(() -> {
            AtomicFiles.write(target, out -> {
                Path dir = target.toAbsolutePath().getParent();
                Path tmp = AtomicFiles.tempFile(dir, "." + target.getFileName() + ".export.");
                try {
                    OvNative.exportModel(compiled, tmp.toString());
                    Files.copy(tmp, out);
                } catch (OpenVinoException e) {
                    throw new OpenVinoException("openvino: cannot export the compiled model to " + target + ": "
                            + e.getMessage(), e);
                } finally {
                    Files.deleteIfExists(tmp);
                    AtomicFiles.release(tmp);
                }
            });
            return null;
        });
    }

    @Override
    public void close() {
        lock.writeLock().lock();
        try {
            if (closed) return;
            closed = true;
            free();
        } finally {
            lock.writeLock().unlock();
        }
    }

    private void free() {
        synchronized (byShape) {
            for (Pool p : byShape.values()) p.free();
            byShape.clear();
        }
        if (main != null) main.free();
        compiled = 0;
        if (model != 0) OvNative.modelFree(model);
        model = 0;
        if (ownCore != 0) OvNative.coreFree(ownCore);
        content = null; // only now may the memory OpenVINO read go
    }

    @Override
    public String toString() {
        return "OpenVinoSession[" + source + " on " + options.device() + (closed ? ", closed" : "") + "]";
    }

    // ---- running ------------------------------------------------------------------------------------------------

    /** One infer request with the direct buffers bound to its inputs. */
    private static final class Request {
        final long handle;
        final ByteBuffer[] buffers;
        final long[][] bound;

        Request(long handle, int inputs) {
            this.handle = handle;
            this.buffers = new ByteBuffer[inputs];
            this.bound = new long[inputs][];
        }
    }

    private interface Body<T> {
        T apply(Request r);
    }

    private interface Guarded<T> {
        T get();
    }

    private <T> T guarded(Guarded<T> body) {
        lock.readLock().lock();
        try {
            checkOpen();
            return body.get();
        } finally {
            lock.readLock().unlock();
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("openvino: the session for " + source + " is closed");
        }
    }

    private <T> T withRequest(Map<String, FloatTensor> feed, Body<T> body) {
        Objects.requireNonNull(feed, "inputs");
        lock.readLock().lock();
        try {
            checkOpen();
            Fed[] ordered = validate(feed);
            Pool pool = model != 0 ? forShape(ordered[0].tensor().shape()) : main;
            Request r = pool.borrow();
            try {
                for (int i = 0; i < ordered.length; i++) bind(r, i, ordered[i]);
                try {
                    OvNative.infer(r.handle);
                } catch (OpenVinoException e) {
                    throw new OpenVinoException("openvino: inference of " + source + " failed: " + e.getMessage(), e);
                }
                return body.apply(r);
            } finally {
                pool.idle.addFirst(r);
            }
        } finally {
            lock.readLock().unlock();
        }
    }

    /**
     * For an ONNX model that cannot take an image shape: the size its downsampling divides
     * ({@link SpatialStride#sizeHint}), in parentheses; empty otherwise.
     */
    private String strideHint(long[] shape) {
        if (shape.length != 4 || inputs.size() != 1) return "";
        boolean nchw = shape[1] == 1 || shape[1] == 3;
        if (!nchw && shape[3] != 1 && shape[3] != 3) return "";
        OnnxModel parsed;
        try {
            if (content != null) {
                byte[] bytes = new byte[content.capacity()];
                content.duplicate().clear().get(bytes);
                parsed = OnnxModel.fromBytes(bytes, source.toString());
            } else if (source.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".onnx")) {
                parsed = OnnxModel.fromBytes(Files.readAllBytes(source), source.toString());
            } else {
                return "";
            }
        } catch (IOException | QuantbridgeException notOnnx) {
            return "";
        }
        String hint = SpatialStride.sizeHint(parsed, inputs.get(0).name(), shape[nchw ? 3 : 2], shape[nchw ? 2 : 1]);
        return hint.isEmpty() ? "" : " (" + hint + ")";
    }

    /** The model compiled for this input shape (compiled on first use; the dynamic one past MAX_SHAPES shapes). */
    private Pool forShape(long[] shape) {
        List<Long> key = Arrays.stream(shape).boxed().toList();
        synchronized (byShape) {
            Pool p = byShape.get(key);
            if (p != null) return p;
            if (byShape.size() >= MAX_SHAPES) return main;
            try {
                OvNative.reshapeSingleInput(model, shape);
            } catch (OpenVinoException e) {
                throw new OpenVinoException("openvino: " + source + " cannot take input shape " + Arrays.toString(shape)
                        + ": " + e.getMessage() + strideHint(shape), e);
            }
            long c;
            try {
                c = OvNative.compile(core, model, options.device(), options.keyValues());
            } catch (OpenVinoException e) {
                throw new OpenVinoException("openvino: cannot compile " + source + " for input shape "
                        + Arrays.toString(shape) + ": " + e.getMessage(), e);
            }
            p = new Pool(c);
            byShape.put(key, p);
            return p;
        }
    }

    /** A compiled model with its infer requests: idle ones are reused, a new one is created when all are busy. */
    private final class Pool {
        final long handle;
        final ConcurrentLinkedDeque<Request> idle = new ConcurrentLinkedDeque<>();
        final List<Request> all = new ArrayList<>();

        Pool(long handle) {
            this.handle = handle;
        }

        Request borrow() {
            Request r = idle.pollFirst();
            if (r != null) return r;
            r = new Request(OvNative.createRequest(handle), inputs.size());
            synchronized (all) {
                all.add(r);
            }
            return r;
        }

        void free() {
            synchronized (all) {
                for (Request r : all) OvNative.requestFree(r.handle);
                all.clear();
                idle.clear();
            }
            OvNative.compiledFree(handle);
        }
    }

    /** An input as fed, and its values in the port's element type when that is not float32. */
    private record Fed(FloatTensor tensor, ByteBuffer encoded, int type) { }

    /** The inputs in model order, each checked against its port (and converted to its type). */
    private Fed[] validate(Map<String, FloatTensor> feed) {
        Fed[] ordered = new Fed[inputs.size()];
        List<FloatTensor> given = io.quantbridge.backend.Feeds.inOrder("openvino: " + source.getFileName(), inputs,
                feed);
        for (int i = 0; i < inputs.size(); i++) {
            TensorInfo port = inputs.get(i);
            FloatTensor t = given.get(i);
            int type = elementTypeCode(port.elementType());
            if (type < 0) {
                throw new QuantbridgeException("openvino: input '" + port.name() + "' of " + source.getFileName()
                        + " is " + port.elementType() + "; quantbridge feeds " + String.join(", ",
                        ElementTypes.CONVERTED) + " inputs");
            }
            checkShape(port, t.shape(), "openvino: input '" + port.name() + "' of " + source.getFileName());
            ordered[i] = new Fed(t, port.elementType().equals("float") ? null
                    : ElementTypes.encode(t, port, "openvino: " + source.getFileName()), type);
        }
        return ordered;
    }

    private static void checkShape(TensorInfo port, long[] shape, String what) {
        long[] want = port.shape();
        boolean ok = want.length == shape.length;
        for (int d = 0; ok && d < want.length; d++) {
            ok = shape[d] > 0 && (want[d] < 0 || want[d] == shape[d]);
        }
        if (!ok) {
            throw new QuantbridgeException(what + " has shape " + Arrays.toString(shape) + " but the model takes "
                    + Arrays.toString(want) + " (-1: any size)");
        }
    }

    private static void bind(Request r, int i, Fed f) {
        FloatTensor t = f.tensor();
        long[] shape = t.shape();
        long bytes = f.encoded() != null ? f.encoded().remaining() : (long) t.size() * Float.BYTES;
        ByteBuffer buf = r.buffers[i];
        boolean rebind = buf == null || buf.capacity() < bytes || !Arrays.equals(r.bound[i], shape);
        if (buf == null || buf.capacity() < bytes) {
            buf = ByteBuffer.allocateDirect(Math.toIntExact(bytes)).order(ByteOrder.nativeOrder());
        }
        buf.clear();
        if (f.encoded() != null) {
            buf.put(f.encoded().duplicate());
        } else {
            buf.asFloatBuffer().put(t.data());
        }
        if (rebind) {
            OvNative.setInput(r.handle, i, buf, shape, f.type());
            r.buffers[i] = buf;
            r.bound[i] = shape;
        }
    }

    private Map<String, FloatTensor> readOutputs(Request r) {
        Map<String, FloatTensor> out = new LinkedHashMap<>();
        for (int i = 0; i < outputs.size(); i++) {
            long[] shape = OvNative.outputShape(r.handle, i);
            long n = FloatTensor.elementCount(shape);
            if (n > Integer.MAX_VALUE - 16) {
                throw new QuantbridgeException("openvino: output '" + outputs.get(i).name() + "' of "
                        + source.getFileName() + " has " + n + " elements, too many for a Java array");
            }
            float[] data = new float[(int) n];
            String type = outputs.get(i).elementType();
            if (type.equals("float") || type.equals("float16")) {
                OvNative.copyOutput(r.handle, i, data);
            } else if (ElementTypes.byteSize(type) > 0) { // an integer or bool output: its bytes, read in Java
                ByteBuffer raw = ByteBuffer.allocateDirect(Math.toIntExact(n * ElementTypes.byteSize(type)));
                ElementTypes.decode(raw, elementType(OvNative.copyOutputBytes(r.handle, i, raw)), data, (int) n);
            } else {
                throw new QuantbridgeException("openvino: output '" + outputs.get(i).name() + "' of "
                        + source.getFileName() + " is " + type + "; quantbridge reads outputs of types "
                        + String.join(", ", ElementTypes.CONVERTED));
            }
            out.put(outputs.get(i).name(), new FloatTensor(shape, data));
        }
        return out;
    }

    // ---- ports ----------------------------------------------------------------------------------------------------

    private static List<TensorInfo> ports(String[] described, String kind) {
        List<TensorInfo> list = new ArrayList<>();
        for (int i = 0; i < described.length; i++) list.add(port(described[i], i, kind));
        return List.copyOf(list);
    }

    /** Parses "name TAB type-code TAB d0,d1,..." from the bridge; an unnamed port is called input0, output1, ... */
    static TensorInfo port(String described, int index, String kind) {
        String[] f = described.split("\t", -1);
        String name = f[0].isEmpty() ? kind + index : f[0];
        long[] shape;
        if (f[2].equals("?")) {
            return TensorInfo.ofUnknownRank(name, elementType(Integer.parseInt(f[1])));
        } else if (f[2].isEmpty()) {
            shape = new long[0];
        } else {
            shape = Arrays.stream(f[2].split(",")).mapToLong(Long::parseLong).toArray();
        }
        return new TensorInfo(name, elementType(Integer.parseInt(f[1])), shape);
    }

    /** OpenVINO's code ({@code ov_element_type_e}) of an element type that quantbridge feeds, else -1. */
    static int elementTypeCode(String name) {
        if (ElementTypes.byteSize(name) == 0) return -1;
        for (int code = 0; code < 24; code++) if (elementType(code).equals(name)) return code;
        return -1;
    }

    /** ONNX's names for OpenVINO's element types ({@code ov_element_type_e}). */
    static String elementType(int code) {
        return switch (code) {
            case 0 -> "dynamic";
            case 1 -> "bool";
            case 2 -> "bfloat16";
            case 3 -> "float16";
            case 4 -> "float";
            case 5 -> "double";
            case 6 -> "int4";
            case 7 -> "int8";
            case 8 -> "int16";
            case 9 -> "int32";
            case 10 -> "int64";
            case 11 -> "uint1";
            case 14 -> "uint4";
            case 16 -> "uint8";
            case 17 -> "uint16";
            case 18 -> "uint32";
            case 19 -> "uint64";
            case 23 -> "string";
            default -> "type" + code;
        };
    }
}
