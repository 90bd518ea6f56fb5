package io.quantbridge.tflite;

import static org.bytedeco.tensorflowlite.global.tensorflowlite.kTfLiteBuiltinDelegate;
import static org.bytedeco.tensorflowlite.global.tensorflowlite.kTfLiteFloat32;
import static org.bytedeco.tensorflowlite.global.tensorflowlite.kTfLiteInt16;
import static org.bytedeco.tensorflowlite.global.tensorflowlite.kTfLiteInt8;
import static org.bytedeco.tensorflowlite.global.tensorflowlite.kTfLiteOk;
import static org.bytedeco.tensorflowlite.global.tensorflowlite.kTfLiteUInt8;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.ModelSession;
import io.quantbridge.tensor.ElementTypes;
import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.tensor.TensorInfo;
import io.quantbridge.util.InputFiles;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.tensorflowlite.BuiltinOpResolver;
import org.bytedeco.tensorflowlite.BuiltinOpResolverWithoutDefaultDelegates;
import org.bytedeco.tensorflowlite.FlatBufferModel;
import org.bytedeco.tensorflowlite.Interpreter;
import org.bytedeco.tensorflowlite.InterpreterBuilder;
import org.bytedeco.tensorflowlite.InterpreterOptions;
import org.bytedeco.tensorflowlite.MutableOpResolver;
import org.bytedeco.tensorflowlite.TfLiteIntArray;
import org.bytedeco.tensorflowlite.TfLiteRegistration;
import org.bytedeco.tensorflowlite.TfLiteTensor;
import org.tensorflow.lite.schema.TensorT;

/**
 * A {@code .tflite} model running in the TFLite interpreter (JavaCPP presets). Float32 inputs and outputs are passed
 * through; int8/uint8 inputs are quantized and int8/uint8/int16/int32 outputs converted to float with the tensors'
 * own parameters, so that models written with {@code --io int8} can be compared with their float originals.
 *
 * <p>The model is parsed and checked in Java before any native call, and every input's shape is checked before it
 * is copied, so a missing, corrupt or mismatched model fails with a message rather than a crash. {@link #run} is
 * synchronized (the interpreter is not thread-safe); the interpreter itself uses {@code threads} threads.
 */
public final class TfliteSession implements ModelSession {
    /** How to build the interpreter. */
    public record Options(int threads, boolean xnnpack, boolean preserveAllTensors) {
        /** XNNPACK (the default delegate) on, intermediate tensors may be reused. */
        public static Options defaults(int threads) {
            return new Options(threads, true, false);
        }

        /** No delegate and every tensor kept readable after a run: for calibration. */
        public static Options calibration() {
            return new Options(1, false, true);
        }
    }

    private final String label;
    private final TfliteModel model;
    private final BytePointer buffer;
    private final FlatBufferModel flatBuffer;
    private final MutableOpResolver resolver;
    private final InterpreterOptions interpreterOptions;
    private final InterpreterBuilder builder;
    private final Interpreter interpreter;
    private final int[] inputIndices;
    private final int[] outputIndices;
    private final List<TensorInfo> inputs;
    private final List<TensorInfo> outputs;
    private boolean closed;

    private TfliteSession(String label, TfliteModel model, byte[] bytes, Options options) {
        this.label = label;
        this.model = model;
        checkOperators(model, label);
        TfliteLogs.infoOff(); // before the first interpreter: its XNNPACK INFO line would land in the output
        this.inputIndices = model.main().getInputs().clone();
        this.outputIndices = model.main().getOutputs().clone();
        this.inputs = model.inputs();
        this.outputs = model.outputs();
        this.buffer = new BytePointer(bytes.length);
        buffer.put(bytes);
        FlatBufferModel fb = FlatBufferModel.VerifyAndBuildFromBuffer(buffer, bytes.length);
        if (fb == null || fb.isNull()) {
            buffer.close();
            throw new QuantbridgeException("model " + label + ": the TFLite runtime rejected the flatbuffer"
                    + " (verification failed); the file is corrupt");
        }
        this.flatBuffer = fb;
        if (options.xnnpack()) preflight(fb, model, label);
        this.resolver = options.xnnpack() ? new BuiltinOpResolver() : new BuiltinOpResolverWithoutDefaultDelegates();
        CustomOps.register(resolver);
        this.interpreterOptions = new InterpreterOptions();
        if (options.preserveAllTensors()) interpreterOptions.SetPreserveAllTensors(true);
        this.builder = new InterpreterBuilder(flatBuffer, resolver, interpreterOptions);
        if (options.threads() > 0) builder.SetNumThreads(options.threads());
        this.interpreter = new Interpreter((Pointer) null);
        int st = builder.apply(interpreter);
        if (st != kTfLiteOk || interpreter.isNull()) {
            release();
            throw new QuantbridgeException("model " + label + ": the TFLite interpreter cannot be built for it"
                    + " (an operator or operator version this runtime lacks; TFLite's own message is on stderr)");
        }
        if (interpreter.AllocateTensors() != kTfLiteOk) {
            release();
            String why = CustomOps.takeError();
            throw cannotPrepare(label, why);
        }
        if (!options.xnnpack()) {
            try {
                checkComputedShapes(interpreter, model, label);
            } catch (QuantbridgeException e) {
                release();
                throw e;
            }
        }
    }

    /** Whether TFLite's flatbuffer verifier accepts {@code bytes} as a model (bounds of every table and vector). */
    static boolean verifies(byte[] bytes) {
        try (BytePointer p = new BytePointer(bytes.length)) {
            p.put(bytes);
            FlatBufferModel fb = FlatBufferModel.VerifyAndBuildFromBuffer(p, bytes.length);
            boolean ok = fb != null && !fb.isNull();
            if (fb != null) fb.close();
            return ok;
        }
    }

    private static QuantbridgeException cannotPrepare(String label, String why) {
        return new QuantbridgeException("model " + label + ": the TFLite interpreter cannot prepare it"
                + (why != null ? ": " + why : " (AllocateTensors failed; TFLite's own message is on stderr)"));
    }

    /**
     * Prepares the model once in a plain interpreter (no delegate) and checks what it computes before XNNPACK sees
     * the model. XNNPACK takes over when the interpreter first allocates, before the operators are prepared, and
     * plans with the shapes and inputs the file declares; where they are wrong it crashed the JVM, in
     * {@code AllocateTensors} or in the first {@code Invoke} (found by mutating real models: a CONV_2D's stride
     * changed in pose-lite, a MUL left without inputs in selfie-seg). The plain interpreter's own kernels refuse
     * such operators, or compute the shapes the file should have declared. Costs one allocation of the model's
     * tensors per session.
     */
    private static void preflight(FlatBufferModel fb, TfliteModel model, String label) {
        try (MutableOpResolver plain = new BuiltinOpResolverWithoutDefaultDelegates();
             InterpreterBuilder b = new InterpreterBuilder(fb, plain);
             Interpreter it = new Interpreter((Pointer) null)) {
            CustomOps.register(plain);
            if (b.apply(it) != kTfLiteOk || it.isNull()) return; // the real builder says why
            if (it.AllocateTensors() != kTfLiteOk) {
                throw cannotPrepare(label, CustomOps.takeError());
            }
            checkComputedShapes(it, model, label);
        }
    }

    /**
     * Refuses a model whose operators compute other shapes than the file declares for their outputs (tensors of
     * unknown or dynamic shape aside): readers planned with the declared shape read past the computed one.
     */
    private static void checkComputedShapes(Interpreter it, TfliteModel model, String label) {
        var g = model.main();
        TensorT[] ts = g.getTensors();
        long n = Math.min(it.tensors_size(), ts.length);
        for (int i = 0; i < n; i++) {
            int[] declared = ts[i].getShape();
            int[] signature = ts[i].getShapeSignature();
            if (declared == null || declared.length == 0) continue;
            if (signature != null && Arrays.stream(signature).anyMatch(d -> d < 0)) continue;
            TfLiteTensor t = it.tensor(i);
            if (t == null || t.isNull() || t.dims() == null || t.dims().isNull()) continue;
            long[] computed = dims(t);
            if (!Arrays.equals(Arrays.stream(declared).asLongStream().toArray(), computed)) {
                String writer = "";
                var ops = g.getOperators();
                for (int k = 0; k < ops.length && writer.isEmpty(); k++) {
                    for (int o : ops[k].getOutputs()) {
                        if (o == i) writer = "operator " + k + " (" + model.opName(ops[k]) + ") computes ";
                    }
                }
                throw new QuantbridgeException("model " + label + " is corrupt: tensor '" + ts[i].getName()
                        + "' is declared " + Arrays.toString(declared) + " but "
                        + (writer.isEmpty() ? "the interpreter computes " : writer) + Arrays.toString(computed));
            }
        }
    }

    /** Opens a model file: XNNPACK where available, {@code threads} interpreter threads (0 = TFLite's default). */
    public static TfliteSession open(Path file, int threads) {
        return open(file, Options.defaults(threads));
    }

    public static TfliteSession open(Path file, Options options) {
        InputFiles.require(file, "model");
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new QuantbridgeException("model " + file + ": cannot read it: " + e.getMessage(), e);
        }
        return open(bytes, file.toString(), options);
    }

    /** Opens a serialized model; {@code label} names it in errors. */
    public static TfliteSession open(byte[] bytes, String label, Options options) {
        TfliteModel model = TfliteModel.parse(bytes, label);
        boolean changed = model.zeroBiasesAdded() > 0;
        // XNNPACK aborted the JVM on an int8 LOGISTIC or TANH whose output nothing reads: such operators are left
        // out (the outputs are the same). Without XNNPACK (calibration) every tensor keeps its index.
        if (options.xnnpack() && !model.removeDeadOperators().isEmpty()) changed = true;
        return new TfliteSession(label, model, changed ? model.toBytes() : bytes, options);
    }

    /** Refuses custom operators this runtime does not implement before the native builder sees them. */
    private static void checkOperators(TfliteModel model, String label) {
        int index = 0;
        for (var op : model.operators()) {
            var code = model.opCode(op);
            int at = index++;
            if (TfliteModel.builtinCode(code) != org.tensorflow.lite.schema.BuiltinOperator.CUSTOM) continue;
            Integer version = CustomOps.SUPPORTED.get(code.getCustomCode());
            if (version == null) {
                throw new QuantbridgeException("model " + label + ": custom operator '" + code.getCustomCode()
                        + "' is not available in this TFLite runtime (available: " + available() + ")");
            }
            if (code.getVersion() != version) {
                throw new QuantbridgeException("model " + label + ": custom operator '" + code.getCustomCode()
                        + "' version " + code.getVersion() + " is not available in this TFLite runtime (available: "
                        + available() + ")");
            }
            int[] raw = op.getCustomOptions();
            byte[] options = new byte[raw == null ? 0 : raw.length];
            for (int i = 0; i < options.length; i++) options[i] = (byte) raw[i];
            String why = CustomOps.checkOptions(code.getCustomCode(), options);
            if (why != null) {
                throw new QuantbridgeException("model " + label + ": operator " + at + " (" + code.getCustomCode()
                        + "): its options are unusable: " + why);
            }
        }
    }

    private static String available() {
        StringBuilder b = new StringBuilder();
        CustomOps.SUPPORTED.forEach((name, v) -> b.append(b.length() == 0 ? "" : ", ").append(name).append(" v")
                .append(v));
        return b.toString();
    }

    /**
     * How the interpreter runs the model after delegation: {@code partitions} delegate kernels (XNNPACK) replaced
     * {@code delegatedNodes} of the model's {@code modelNodes} operators; {@code undelegated} counts, by op name, the
     * operators that run in TFLite's own kernels (each one between two partitions costs a hand-over).
     */
    public record Delegation(int modelNodes, int partitions, Map<String, Integer> undelegated) {
        public int undelegatedNodes() {
            return undelegated.values().stream().mapToInt(Integer::intValue).sum();
        }

        public int delegatedNodes() {
            return modelNodes - undelegatedNodes();
        }

        public Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("model_nodes", modelNodes);
            m.put("delegated_nodes", delegatedNodes());
            m.put("delegate_partitions", partitions);
            m.put("undelegated", undelegated);
            return m;
        }

        @Override
        public String toString() {
            return "delegates replaced " + delegatedNodes() + " of " + modelNodes + " nodes in " + partitions
                    + " partition(s)" + (undelegated.isEmpty() ? "" : "; not delegated: " + undelegated);
        }
    }

    /** The interpreter's execution plan after delegation (see {@link Delegation}). */
    public synchronized Delegation delegation() {
        if (closed) throw new QuantbridgeException(label + ": the session is closed");
        IntPointer plan = interpreter.execution_plan();
        int partitions = 0;
        Map<String, Integer> rest = new java.util.TreeMap<>();
        List<org.tensorflow.lite.schema.OperatorT> ops = model.operators();
        for (long i = 0; i < plan.limit(); i++) {
            int node = plan.get(i);
            TfLiteRegistration reg = interpreter.node_and_registration(node).second();
            int code = reg.builtin_code();
            if (code == kTfLiteBuiltinDelegate) {
                partitions++;
            } else if (node < ops.size()) {
                // nodes below the model's operator count are the model's operators, in order
                rest.merge(model.opName(ops.get(node)), 1, Integer::sum);
            } else {
                rest.merge(TfliteModel.builtinName(code), 1, Integer::sum);
            }
        }
        return new Delegation(model.operators().size(), partitions, rest);
    }

    /** The parsed model this session runs. */
    public TfliteModel model() {
        return model;
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
    public synchronized Map<String, FloatTensor> run(Map<String, FloatTensor> feed) {
        invoke(feed);
        Map<String, FloatTensor> out = new LinkedHashMap<>();
        for (int i = 0; i < outputIndices.length; i++) {
            int idx = outputIndices[i];
            TfLiteTensor t = interpreter.tensor(idx);
            long[] shape = dims(t);
            float[] data = new float[Math.toIntExact(FloatTensor.elementCount(shape))];
            read(idx, t, data);
            out.put(outputs.get(i).name(), new FloatTensor(shape, data));
        }
        return out;
    }

    /** Receives one tensor after a run; {@code data} is only valid during the call. */
    @FunctionalInterface
    public interface TensorSink {
        void accept(int tensorIndex, float[] data, int length);
    }

    /**
     * Runs once and hands the float32 tensors {@code indices} (of the main subgraph) to the sink, one at a time,
     * through one scratch array. Needs a session with {@link Options#preserveAllTensors()} for intermediate tensors.
     */
    public synchronized void runObserving(Map<String, FloatTensor> feed, int[] indices, TensorSink sink) {
        invoke(feed);
        float[] scratch = new float[0];
        for (int idx : indices) {
            TfLiteTensor t = interpreter.tensor(idx);
            if (!hasData(t) || t.type() != kTfLiteFloat32) continue;
            int n = (int) (t.bytes() / 4);
            if (scratch.length < n) scratch = new float[n];
            t.data().f().capacity(n).get(scratch, 0, n);
            sink.accept(idx, scratch, n);
        }
    }

    /**
     * Tensor {@code index} of the main subgraph after the last run, as float (int8 dequantized with its per-tensor
     * parameters); null when it holds no data. Needs {@link Options#preserveAllTensors()} for intermediate tensors.
     */
    public synchronized float[] tensorAsFloat(int index) {
        if (closed) throw new QuantbridgeException(label + ": the session is closed");
        TfLiteTensor t = interpreter.tensor(index);
        if (!hasData(t)) return null;
        long[] shape = dims(t);
        float[] data = new float[Math.toIntExact(FloatTensor.elementCount(shape))];
        read(index, t, data);
        return data;
    }

    private void invoke(Map<String, FloatTensor> feed) {
        if (closed) throw new QuantbridgeException(label + ": the session is closed");
        boolean resized = false;
        List<FloatTensor> ordered = io.quantbridge.backend.Feeds.inOrder(label, inputs, feed);
        for (int i = 0; i < inputIndices.length; i++) {
            TensorInfo in = inputs.get(i);
            FloatTensor t = ordered.get(i);
            checkShape(in, t);
            long[] current = dims(interpreter.tensor(inputIndices[i]));
            if (!Arrays.equals(current, t.shape())) {
                int[] s = new int[t.rank()];
                for (int d = 0; d < s.length; d++) s[d] = Math.toIntExact(t.dim(d));
                if (interpreter.ResizeInputTensor(inputIndices[i], s) != kTfLiteOk) {
                    throw new QuantbridgeException(label + ": the interpreter cannot resize input '" + in.name()
                            + "' to " + Arrays.toString(t.shape()));
                }
                resized = true;
            }
        }
        if (resized && interpreter.AllocateTensors() != kTfLiteOk) {
            String why = CustomOps.takeError();
            throw new QuantbridgeException(label + ": the interpreter cannot allocate tensors for the new input"
                    + " shapes " + shapesOf(feed) + (why != null ? ": " + why : ""));
        }
        for (int i = 0; i < inputIndices.length; i++) {
            write(inputIndices[i], inputs.get(i), feed.get(inputs.get(i).name()));
        }
        CustomOps.takeError();
        if (interpreter.Invoke() != kTfLiteOk) {
            String why = CustomOps.takeError();
            throw new QuantbridgeException(label + ": the TFLite interpreter failed to run the model (inputs "
                    + shapesOf(feed) + (why != null ? "): " + why : "; TFLite's own message is on stderr)"));
        }
    }

    private String shapesOf(Map<String, FloatTensor> feed) {
        List<String> l = new ArrayList<>();
        feed.forEach((k, v) -> l.add(k + Arrays.toString(v.shape())));
        return l.toString();
    }

    private void checkShape(TensorInfo in, FloatTensor t) {
        long[] want = in.shape();
        long[] got = t.shape();
        boolean ok = want.length == got.length;
        for (int i = 0; ok && i < want.length; i++) ok = want[i] < 0 || want[i] == got[i];
        for (int i = 0; ok && i < got.length; i++) ok = got[i] > 0;
        if (!ok) {
            throw new QuantbridgeException(label + ": input '" + in.name() + "' expects shape "
                    + Arrays.toString(want) + " (-1 = any) but got " + Arrays.toString(got));
        }
    }

    /**
     * Writes an input: float32 as it is; int8, uint8 and int16 with a quantization scale as the real values they
     * quantize (rounded, clamped); other numeric and bool types (an int8 or uint8 without a scale among them: a raw
     * camera frame, a token id) as whole values, which {@link ElementTypes#encode} checks.
     */
    private void write(int idx, TensorInfo info, FloatTensor value) {
        TfLiteTensor t = interpreter.tensor(idx);
        float[] v = value.data();
        int type = t.type();
        float scale = t.params().scale();
        if (type == kTfLiteFloat32) {
            if (t.bytes() != 4L * v.length) throw sizeMismatch(info, t.bytes(), v.length);
            t.data().f().capacity(v.length).put(v);
        } else if ((type == kTfLiteInt8 || type == kTfLiteUInt8) && scale > 0) {
            if (t.bytes() != v.length) throw sizeMismatch(info, t.bytes(), v.length);
            int zp = t.params().zero_point();
            int lo = type == kTfLiteInt8 ? -128 : 0;
            int hi = type == kTfLiteInt8 ? 127 : 255;
            byte[] q = new byte[v.length];
            for (int i = 0; i < v.length; i++) {
                long r = Math.round(Math.rint(v[i] / scale)) + zp;
                q[i] = (byte) Math.max(lo, Math.min(hi, r));
            }
            t.data().raw().capacity(q.length).put(q);
        } else if (type == kTfLiteInt16 && scale > 0) {
            if (t.bytes() != 2L * v.length) throw sizeMismatch(info, t.bytes(), v.length);
            int zp = t.params().zero_point();
            short[] q = new short[v.length];
            for (int i = 0; i < v.length; i++) {
                long r = Math.round(Math.rint(v[i] / scale)) + zp;
                q[i] = (short) Math.max(Short.MIN_VALUE, Math.min(Short.MAX_VALUE, r));
            }
            t.data().i16().capacity(q.length).put(q);
        } else {
            String name = elementType(type);
            if (ElementTypes.byteSize(name) == 0) {
                throw new QuantbridgeException(label + ": input '" + info.name() + "' has type " + typeName(type)
                        + "; quantbridge feeds " + String.join(", ", ElementTypes.CONVERTED) + " inputs");
            }
            ByteBuffer b = ElementTypes.encode(value, new TensorInfo(info.name(), name, value.shape()), label);
            if (t.bytes() != b.remaining()) throw sizeMismatch(info, t.bytes(), v.length);
            t.data().raw().capacity(b.remaining()).asBuffer().put(b);
        }
    }

    /** ONNX's name ({@link ElementTypes}) of a TFLite element type: {@code float16}, {@code int32}, {@code bool}. */
    private static String elementType(int type) {
        String n = typeName(type);
        return switch (n) {
            case "float32" -> "float";
            case "float64" -> "double";
            default -> n;
        };
    }

    private QuantbridgeException sizeMismatch(TensorInfo info, long bytes, int values) {
        return new QuantbridgeException(label + ": input '" + info.name() + "' holds " + bytes
                + " bytes in the interpreter but " + values + " values were given");
    }

    private void read(int idx, TfLiteTensor t, float[] dst) {
        int n = dst.length;
        int type = t.type();
        if (type == kTfLiteFloat32) {
            t.data().f().capacity(n).get(dst);
        } else if (type == kTfLiteInt8 || type == kTfLiteUInt8) {
            byte[] b = new byte[n];
            t.data().raw().capacity(n).get(b);
            float scale = t.params().scale();
            int zp = t.params().zero_point();
            boolean unsigned = type == kTfLiteUInt8;
            for (int i = 0; i < n; i++) {
                int q = unsigned ? b[i] & 0xff : b[i];
                dst[i] = scale > 0 ? (q - zp) * scale : q;
            }
        } else if (type == kTfLiteInt16) {
            short[] s = new short[n];
            t.data().i16().capacity(n).get(s);
            float scale = t.params().scale();
            int zp = t.params().zero_point();
            for (int i = 0; i < n; i++) dst[i] = scale > 0 ? (s[i] - zp) * scale : s[i];
        } else {
            String name = elementType(type);
            if (ElementTypes.byteSize(name) == 0) {
                TensorT tt = model.tensor(idx);
                throw new QuantbridgeException(label + ": output '" + tt.getName() + "' has type " + typeName(type)
                        + ", which cannot be read as numbers");
            }
            ElementTypes.decode(t.data().raw().capacity(t.bytes()).asBuffer(), name, dst, n);
        }
    }

    /**
     * Whether a tensor holds data now. {@code data()} is the union inside the tensor struct, never null itself; the
     * pointer it holds is null for a tensor the interpreter did not allocate (an LSTM's unused intermediates, a
     * tensor of a subgraph that has not run).
     */
    private static boolean hasData(TfLiteTensor t) {
        return t != null && !t.isNull() && t.data().raw() != null && t.bytes() > 0;
    }

    private static long[] dims(TfLiteTensor t) {
        TfLiteIntArray a = t.dims();
        long[] d = new long[a.size()];
        for (int i = 0; i < d.length; i++) d[i] = a.data(i);
        return d;
    }

    private static String typeName(int type) {
        BytePointer p = org.bytedeco.tensorflowlite.global.tensorflowlite.TfLiteTypeGetName(type);
        return p == null ? "type " + type : p.getString().toLowerCase(Locale.ROOT);
    }

    private void release() {
        if (interpreter != null && !interpreter.isNull()) interpreter.close();
        builder.close();
        interpreterOptions.close();
        resolver.close();
        flatBuffer.close();
        buffer.close();
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        release();
    }
}
