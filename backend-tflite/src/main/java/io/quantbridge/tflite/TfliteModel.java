package io.quantbridge.tflite;

import com.google.flatbuffers.FlatBufferBuilder;
import io.quantbridge.QuantbridgeException;
import io.quantbridge.tensor.Float16;
import io.quantbridge.tensor.TensorInfo;
import io.quantbridge.util.AtomicFiles;
import io.quantbridge.util.InputFiles;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.tensorflow.lite.schema.BufferT;
import org.tensorflow.lite.schema.BuiltinOperator;
import org.tensorflow.lite.schema.BuiltinOptionsUnion;
import org.tensorflow.lite.schema.CallOnceOptionsT;
import org.tensorflow.lite.schema.IfOptionsT;
import org.tensorflow.lite.schema.MetadataT;
import org.tensorflow.lite.schema.Model;
import org.tensorflow.lite.schema.ModelT;
import org.tensorflow.lite.schema.OperatorCodeT;
import org.tensorflow.lite.schema.OperatorT;
import org.tensorflow.lite.schema.QuantizationParametersT;
import org.tensorflow.lite.schema.SignatureDefT;
import org.tensorflow.lite.schema.SubGraphT;
import org.tensorflow.lite.schema.TensorMapT;
import org.tensorflow.lite.schema.TensorT;
import org.tensorflow.lite.schema.TensorType;
import org.tensorflow.lite.schema.WhileOptionsT;

/**
 * A {@code .tflite} flatbuffer read into the generated object API ({@code org.tensorflow.lite.schema}), with the
 * helpers the quantizer needs: constant data as floats, new buffers/tensors/op codes, removal of unused tensors and
 * the conversion of float16 weights (FLOAT16 constants feeding DEQUANTIZE) back to float32. Mutable; not thread-safe.
 */
public final class TfliteModel {
    /** The file identifier at bytes 4..8 of every TFLite flatbuffer. */
    public static final String IDENTIFIER = "TFL3";

    private final ModelT model;
    private final String label;
    private int zeroBiasesAdded;

    private TfliteModel(ModelT model, String label) {
        this.model = model;
        this.label = label;
    }

    /** Reads a model file; every problem is a {@link QuantbridgeException} naming the file. */
    public static TfliteModel load(Path file) {
        InputFiles.require(file, "model");
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new QuantbridgeException("model " + file + ": cannot read it: " + e.getMessage(), e);
        }
        return parse(bytes, file.toString());
    }

    /** Parses a serialized model; {@code label} names it in errors. */
    public static TfliteModel parse(byte[] bytes, String label) {
        checkIdentifier(bytes, label);
        ModelT m;
        try {
            ByteBuffer bb = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
            m = Model.getRootAsModel(bb).unpack();
        } catch (RuntimeException e) {
            throw new QuantbridgeException("model " + label + " is not a valid TFLite flatbuffer (" + e
                    + "); the file is corrupt or truncated", e);
        } catch (OutOfMemoryError e) {
            // unpacking allocates each vector at the length the file states before reading it: a corrupt length
            // asked for more than the heap (found by mutating blazeface: 2 of 120 files, -Xmx2g). TFLite's own
            // verifier tells that apart from a valid model too large for the heap.
            if (TfliteSession.verifies(bytes)) throw e;
            throw new QuantbridgeException("model " + label + " is not a valid TFLite flatbuffer (a vector in it"
                    + " claims more elements than the file holds; TFLite's verifier refuses it too); the file is"
                    + " corrupt or truncated");
        }
        if (m.getSubgraphs() == null || m.getSubgraphs().length == 0) {
            throw new QuantbridgeException("model " + label + " has no subgraph");
        }
        TfliteModel model = new TfliteModel(m, label);
        model.validate();
        model.normalizeEmptyVectors();
        model.zeroBiasesAdded = model.addMissingConvBiases();
        return model;
    }

    /**
     * Gives each float CONV_2D and DEPTHWISE_CONV_2D without a bias (two inputs, or bias index -1) a zero float32
     * bias: the same function, in the form TFLite's kernels take. TFLite 2.20's CONV_2D refuses to prepare without a
     * bias ("has_bias was not true"), both refuse a bias index of -1 ("Tensor at index 2 was optional but was
     * expected"), and the float DEPTHWISE_CONV_2D accepts two inputs when it prepares, then reads the bias it does not
     * have: the first {@code Invoke} crashed the JVM, with or without XNNPACK. The int8 kernels need a bias too.
     *
     * @return the number of operators given a bias
     */
    private int addMissingConvBiases() {
        int added = 0;
        SubGraphT g = main();
        for (OperatorT op : g.getOperators()) {
            int code = builtinCode(op);
            if (code != BuiltinOperator.CONV_2D && code != BuiltinOperator.DEPTHWISE_CONV_2D) continue;
            int[] in = op.getInputs();
            boolean absent = in.length == 2 || in.length > 2 && in[2] == -1;
            if (!absent || in[0] < 0 || in[1] < 0 || op.getOutputs().length == 0) continue;
            TensorT w = tensor(in[1]);
            TensorT out = tensor(op.getOutputs()[0]);
            int[] ws = w.getShape();
            if (out.getType() != TensorType.FLOAT32 || ws == null || ws.length != 4) continue;
            int channels = ws[code == BuiltinOperator.CONV_2D ? 0 : 3];
            if (channels <= 0) continue;
            int b = addTensor(newTensor(w.getName() + "/zero_bias", TensorType.FLOAT32, new int[] {channels}, null,
                    addBuffer(floatBytes(new float[channels])), null));
            int[] n = Arrays.copyOf(in, 3);
            n[2] = b;
            op.setInputs(n);
            added++;
        }
        return added;
    }

    /** How many convolutions {@link #parse} gave a zero bias (see {@link #addMissingConvBiases}). */
    int zeroBiasesAdded() {
        return zeroBiasesAdded;
    }

    /** Checks the size and the {@code TFL3} identifier before anything reads the flatbuffer. */
    static void checkIdentifier(byte[] bytes, String label) {
        if (bytes.length < 8) {
            throw new QuantbridgeException("model " + label + " is not a TFLite model: only " + bytes.length
                    + " bytes");
        }
        String id = new String(bytes, 4, 4, StandardCharsets.ISO_8859_1);
        if (!id.equals(IDENTIFIER)) {
            // an ONNX ModelProto starts with field 1 (ir_version, a varint): tag byte 0x08
            boolean onnx = bytes[0] == 0x08 || label.endsWith(".onnx");
            throw new QuantbridgeException("model " + label + " is not a TFLite model: file identifier '"
                    + printable(id) + "' instead of '" + IDENTIFIER + "'" + (onnx ? " (it looks like an ONNX model:"
                    + " use --backend onnx, tensorrt or openvino)" : ""));
        }
    }

    private static String printable(String s) {
        StringBuilder sb = new StringBuilder();
        for (char c : s.toCharArray()) {
            sb.append(c >= 32 && c < 127 ? String.valueOf(c) : String.format(Locale.ROOT, "\\x%02x", (int) c));
        }
        return sb.toString();
    }

    /** Index checks that keep later code (and the native interpreter) away from out-of-range references. */
    private void validate() {
        int nb = buffers().length;
        int nc = model.getOperatorCodes() == null ? 0 : model.getOperatorCodes().length;
        for (SubGraphT g : model.getSubgraphs()) {
            int nt = g.getTensors() == null ? 0 : g.getTensors().length;
            for (TensorT t : g.getTensors()) {
                if (t.getBuffer() < 0 || t.getBuffer() >= nb) {
                    throw corrupt("tensor '" + t.getName() + "' refers to buffer " + t.getBuffer() + " of " + nb);
                }
            }
            for (OperatorT op : g.getOperators()) {
                if (op.getOpcodeIndex() < 0 || op.getOpcodeIndex() >= nc) {
                    throw corrupt("an operator refers to op code " + op.getOpcodeIndex() + " of " + nc);
                }
                for (int i : op.getInputs()) if (i < -1 || i >= nt) throw corrupt("operator input " + i + " of " + nt);
                for (int i : op.getOutputs()) if (i < 0 || i >= nt) throw corrupt("operator output " + i + " of " + nt);
            }
            for (int i : g.getInputs()) if (i < 0 || i >= nt) throw corrupt("graph input " + i + " of " + nt);
            for (int i : g.getOutputs()) if (i < 0 || i >= nt) throw corrupt("graph output " + i + " of " + nt);
            checkDataFlow(g);
        }
    }

    /**
     * What the native interpreter takes on trust and crashes on (found by mutating real models; each crashed the JVM
     * in TFLite 2.20 with XNNPACK before it was checked here): an operator that reads a tensor no earlier operator
     * wrote ({@code PartitionGraphIntoIndependentNodeSubsets} reads past its arrays), and a DEQUANTIZE whose output
     * claims another shape than its constant input (XNNPACK packs float16 weights with the output's shape and reads
     * past the buffer). A tensor is ready when it is a graph input, constant, a variable, holds no elements, or an
     * earlier operator wrote it. An element-wise operator whose declared output shape is not its input's
     * ({@link #SAME_SHAPE_OUT}) is refused for the same reason. A constant whose buffer is shorter than its shape
     * needs, which TFLite refuses with a message on stderr only, is refused here naming the tensor.
     */
    private void checkDataFlow(SubGraphT g) {
        TensorT[] ts = g.getTensors();
        boolean[] ready = new boolean[ts.length];
        for (int i : g.getInputs()) ready[i] = true;
        for (int i = 0; i < ts.length; i++) {
            TensorT t = ts[i];
            if (t.getIsVariable() || hasData(t) || elements(t.getShape()) == 0) ready[i] = true;
            int bits = elementBits(t.getType());
            if (hasData(t) && t.getSparsity() == null && bits > 0) {
                long needed = (elements(t.getShape()) * bits + 7) / 8;
                int held = buffers()[(int) t.getBuffer()].getData().length;
                if (held < needed) {
                    throw corrupt("constant '" + t.getName() + "' (" + typeName(t.getType()) + " "
                            + Arrays.toString(t.getShape()) + ") needs " + needed + " bytes but its buffer holds "
                            + held);
                }
            }
        }
        OperatorT[] ops = g.getOperators();
        for (int k = 0; k < ops.length; k++) {
            OperatorT op = ops[k];
            int[] inputs = op.getInputs();
            for (int slot = 0; slot < inputs.length; slot++) {
                if (inputs[slot] == -1 && !mayBeAbsent(builtinCode(op), slot)) {
                    throw corrupt("operator " + k + " (" + opName(op) + ") has no input " + slot + " (tensor index"
                            + " -1, 'absent'), which " + opName(op) + " needs");
                }
            }
            for (int i : inputs) {
                if (i >= 0 && !ready[i]) {
                    throw corrupt("operator " + k + " (" + opName(op) + ") reads tensor '" + ts[i].getName()
                            + "' before any operator writes it");
                }
            }
            if (builtinCode(op) == BuiltinOperator.DEQUANTIZE && op.getInputs().length > 0
                    && op.getOutputs().length > 0 && op.getInputs()[0] >= 0) {
                TensorT in = ts[op.getInputs()[0]];
                TensorT out = ts[op.getOutputs()[0]];
                if (hasData(in) && !Arrays.equals(in.getShape(), out.getShape())) {
                    throw corrupt("operator " + k + " (DEQUANTIZE) gives constant '" + in.getName() + "' of shape "
                            + Arrays.toString(in.getShape()) + " the shape " + Arrays.toString(out.getShape())
                            + " in '" + out.getName() + "'");
                }
            }
            int code = builtinCode(op);
            if (SAME_SHAPE_OUT.contains(code) && op.getInputs().length > 0 && op.getOutputs().length > 0
                    && op.getInputs()[0] >= 0 && op.getOutputs()[0] >= 0) {
                TensorT in = ts[op.getInputs()[0]];
                TensorT out = ts[op.getOutputs()[0]];
                int[] a = in.getShape();
                int[] b = out.getShape();
                if (a != null && b != null && a.length > 0 && b.length > 0 && !Arrays.equals(a, b)) {
                    throw corrupt("operator " + k + " (" + opName(op) + ") writes '" + out.getName() + "' "
                            + Arrays.toString(b) + " from '" + in.getName() + "' " + Arrays.toString(a) + ", but "
                            + opName(op) + " keeps its input's shape");
                }
            }
            for (int o : op.getOutputs()) ready[o] = true;
        }
    }

    /**
     * Whether input {@code slot} of a builtin may be -1 (absent): the bias of the convolutions and of FULLY_CONNECTED,
     * RESHAPE's shape (it may come from the options), any input of the recurrent operators (their peepholes,
     * projections and states are optional), and any input of a custom operator or a builtin newer than this schema,
     * whose rules are not known here. Elsewhere the interpreter's kernels read the tensor without checking: a
     * DEQUANTIZE whose input index had become -1 crashed the JVM in {@code AllocateTensors} (TFLite 2.20).
     */
    static boolean mayBeAbsent(int code, int slot) {
        return switch (code) {
            case BuiltinOperator.CONV_2D, BuiltinOperator.DEPTHWISE_CONV_2D, BuiltinOperator.FULLY_CONNECTED,
                 BuiltinOperator.CONV_3D -> slot == 2;
            case BuiltinOperator.TRANSPOSE_CONV, BuiltinOperator.CONV_3D_TRANSPOSE -> slot == 3;
            case BuiltinOperator.RESHAPE -> slot == 1;
            case BuiltinOperator.LSTM, BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM,
                 BuiltinOperator.BIDIRECTIONAL_SEQUENCE_LSTM, BuiltinOperator.RNN,
                 BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_RNN, BuiltinOperator.BIDIRECTIONAL_SEQUENCE_RNN,
                 BuiltinOperator.SVDF, BuiltinOperator.CUSTOM -> true;
            default -> code > BuiltinOperator.RIGHT_SHIFT;
        };
    }

    /**
     * Element-wise operators whose output has their first input's shape. The interpreter resizes their outputs when
     * it prepares them, but XNNPACK plans with the shapes the file declares: a RELU declared [1, 1, 1, 24] reading a
     * [96] tensor crashed the JVM in {@code xnn_subgraph_fusion} (TFLite 2.20).
     */
    private static final Set<Integer> SAME_SHAPE_OUT = Set.of(BuiltinOperator.RELU, BuiltinOperator.RELU6,
            BuiltinOperator.RELU_N1_TO_1, BuiltinOperator.RELU_0_TO_1, BuiltinOperator.LEAKY_RELU,
            BuiltinOperator.ELU, BuiltinOperator.GELU, BuiltinOperator.HARD_SWISH, BuiltinOperator.LOGISTIC,
            BuiltinOperator.TANH, BuiltinOperator.SOFTMAX, BuiltinOperator.LOG_SOFTMAX,
            BuiltinOperator.L2_NORMALIZATION, BuiltinOperator.LOCAL_RESPONSE_NORMALIZATION, BuiltinOperator.ABS,
            BuiltinOperator.NEG, BuiltinOperator.EXP, BuiltinOperator.LOG, BuiltinOperator.SQRT,
            BuiltinOperator.RSQRT, BuiltinOperator.SQUARE, BuiltinOperator.SIN, BuiltinOperator.COS,
            BuiltinOperator.FLOOR, BuiltinOperator.CEIL, BuiltinOperator.ROUND, BuiltinOperator.SIGN,
            BuiltinOperator.QUANTIZE, BuiltinOperator.CAST);

    private boolean hasData(TensorT t) {
        int[] d = buffers()[(int) t.getBuffer()].getData();
        return d != null && d.length > 0;
    }

    /** Bits per element of a fixed-size tensor type; 0 for strings, resources and variants. */
    static int elementBits(byte type) {
        return switch (type) {
            case TensorType.INT4 -> 4;
            case TensorType.BOOL, TensorType.INT8, TensorType.UINT8 -> 8;
            case TensorType.FLOAT16, TensorType.INT16, TensorType.UINT16 -> 16;
            case TensorType.FLOAT32, TensorType.INT32, TensorType.UINT32 -> 32;
            case TensorType.INT64, TensorType.UINT64, TensorType.FLOAT64, TensorType.COMPLEX64 -> 64;
            case TensorType.COMPLEX128 -> 128;
            default -> 0;
        };
    }

    /** Elements of a shape (negative dimensions count as 0), saturating far below overflow of bits or bytes. */
    private static long elements(int[] shape) {
        long cap = Long.MAX_VALUE / 256;
        long n = 1;
        for (int d : shape == null ? new int[0] : shape) {
            if (d <= 0) return 0;
            n = n > cap / d ? cap : n * d;
        }
        return n;
    }

    /**
     * The object API unpacks absent vectors as empty arrays and would pack them back as present-but-empty, which the
     * interpreter reads differently (a builtin op "with custom options"); absent stays absent.
     */
    private void normalizeEmptyVectors() {
        for (BufferT b : buffers()) {
            if (b.getData() != null && b.getData().length == 0) b.setData(null);
        }
        for (SubGraphT g : model.getSubgraphs()) {
            for (OperatorT op : g.getOperators()) {
                if (op.getCustomOptions() != null && op.getCustomOptions().length == 0) op.setCustomOptions(null);
                if (op.getMutatingVariableInputs() != null && op.getMutatingVariableInputs().length == 0) {
                    op.setMutatingVariableInputs(null);
                }
                if (op.getIntermediates() != null && op.getIntermediates().length == 0) op.setIntermediates(null);
            }
            for (TensorT t : g.getTensors()) {
                if (t.getShapeSignature() != null && t.getShapeSignature().length == 0 && t.getShape().length > 0) {
                    t.setShapeSignature(null);
                }
            }
        }
    }

    private QuantbridgeException corrupt(String what) {
        return new QuantbridgeException("model " + label + " is corrupt: " + what);
    }

    /** A deep copy (through serialization). */
    public TfliteModel copy() {
        return parse(toBytes(), label);
    }

    public String label() {
        return label;
    }

    public ModelT raw() {
        return model;
    }

    /** The main subgraph (index 0). */
    public SubGraphT main() {
        return model.getSubgraphs()[0];
    }

    public BufferT[] buffers() {
        return model.getBuffers() == null ? new BufferT[0] : model.getBuffers();
    }

    public TensorT tensor(int index) {
        return main().getTensors()[index];
    }

    /** Tensor {@code index} of subgraph {@code g}. */
    public static TensorT tensor(SubGraphT g, int index) {
        return g.getTensors()[index];
    }

    public List<OperatorT> operators() {
        return Arrays.asList(main().getOperators());
    }

    /** The builtin code of an operator code, reading both fields (old files only have the deprecated byte). */
    public static int builtinCode(OperatorCodeT c) {
        return Math.max(c.getBuiltinCode(), c.getDeprecatedBuiltinCode());
    }

    public OperatorCodeT opCode(OperatorT op) {
        return model.getOperatorCodes()[(int) op.getOpcodeIndex()];
    }

    public int builtinCode(OperatorT op) {
        return builtinCode(opCode(op));
    }

    /** {@code CONV_2D}, or the custom code for custom operators. */
    public String opName(OperatorT op) {
        OperatorCodeT c = opCode(op);
        int code = builtinCode(c);
        if (code == BuiltinOperator.CUSTOM) return c.getCustomCode() == null ? "CUSTOM" : c.getCustomCode();
        return builtinName(code);
    }

    public static String builtinName(int code) {
        try {
            return BuiltinOperator.name(code);
        } catch (RuntimeException e) {
            return "BUILTIN_" + code;
        }
    }

    public static String typeName(byte type) {
        try {
            return TensorType.name(type);
        } catch (RuntimeException e) {
            return "TYPE_" + type;
        }
    }

    /** The index of the op code {@code (code, version)}, added when missing. */
    public int opCodeIndex(int code, int version) {
        OperatorCodeT[] codes = model.getOperatorCodes() == null ? new OperatorCodeT[0] : model.getOperatorCodes();
        for (int i = 0; i < codes.length; i++) {
            if (builtinCode(codes[i]) == code && code != BuiltinOperator.CUSTOM && codes[i].getVersion() == version) {
                return i;
            }
        }
        OperatorCodeT c = new OperatorCodeT();
        c.setBuiltinCode(code);
        c.setDeprecatedBuiltinCode((byte) Math.min(code, 127));
        c.setVersion(version);
        OperatorCodeT[] n = Arrays.copyOf(codes, codes.length + 1);
        n[codes.length] = c;
        model.setOperatorCodes(n);
        return codes.length;
    }

    /** The subgraphs a control-flow operator (WHILE, IF, CALL_ONCE) runs, by index; none for other operators. */
    public static List<Integer> calledSubgraphs(OperatorT op) {
        BuiltinOptionsUnion u = op.getBuiltinOptions();
        Object o = u == null ? null : u.getValue();
        if (o instanceof WhileOptionsT w) return List.of(w.getCondSubgraphIndex(), w.getBodySubgraphIndex());
        if (o instanceof IfOptionsT f) return List.of(f.getThenSubgraphIndex(), f.getElseSubgraphIndex());
        if (o instanceof CallOnceOptionsT c) return List.of(c.getInitSubgraphIndex());
        return List.of();
    }

    /** Whether tensor {@code index} of the main subgraph holds constant data. */
    public boolean isConstant(int index) {
        return isConstant(main(), index);
    }

    /** Whether tensor {@code index} of subgraph {@code g} holds constant data. */
    public boolean isConstant(SubGraphT g, int index) {
        TensorT t = tensor(g, index);
        if (t.getBuffer() <= 0) return false;
        int[] d = buffers()[(int) t.getBuffer()].getData();
        return d != null && d.length > 0;
    }

    /** The raw bytes of a constant tensor. */
    public byte[] bytes(int index) {
        return bytes(main(), index);
    }

    /** The raw bytes of constant tensor {@code index} of subgraph {@code g}. */
    public byte[] bytes(SubGraphT g, int index) {
        int[] d = buffers()[(int) tensor(g, index).getBuffer()].getData();
        byte[] b = new byte[d == null ? 0 : d.length];
        for (int i = 0; i < b.length; i++) b[i] = (byte) d[i];
        return b;
    }

    /** The values of a FLOAT32 or FLOAT16 constant tensor. */
    public float[] floats(int index) {
        return floats(main(), index);
    }

    /** The values of FLOAT32 or FLOAT16 constant tensor {@code index} of subgraph {@code g}. */
    public float[] floats(SubGraphT g, int index) {
        TensorT t = tensor(g, index);
        ByteBuffer bb = ByteBuffer.wrap(bytes(g, index)).order(ByteOrder.LITTLE_ENDIAN);
        if (t.getType() == TensorType.FLOAT32) {
            float[] f = new float[bb.remaining() / 4];
            bb.asFloatBuffer().get(f);
            return f;
        }
        if (t.getType() == TensorType.FLOAT16) {
            float[] f = new float[bb.remaining() / 2];
            for (int i = 0; i < f.length; i++) f[i] = Float16.toFloat(bb.getShort(2 * i));
            return f;
        }
        throw new QuantbridgeException("model " + label + ": tensor '" + t.getName() + "' is "
                + typeName(t.getType()) + ", not a float constant");
    }

    /** The values of an INT32 constant tensor. */
    public int[] ints(int index) {
        ByteBuffer bb = ByteBuffer.wrap(bytes(index)).order(ByteOrder.LITTLE_ENDIAN);
        int[] v = new int[bb.remaining() / 4];
        bb.asIntBuffer().get(v);
        return v;
    }

    /** Appends a buffer holding {@code data}; returns its index. */
    public int addBuffer(byte[] data) {
        BufferT b = new BufferT();
        int[] d = new int[data.length];
        for (int i = 0; i < d.length; i++) d[i] = data[i] & 0xff;
        b.setData(d);
        BufferT[] old = buffers();
        BufferT[] n = Arrays.copyOf(old, old.length + 1);
        n[old.length] = b;
        model.setBuffers(n);
        return old.length;
    }

    public static byte[] floatBytes(float[] v) {
        ByteBuffer bb = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        bb.asFloatBuffer().put(v);
        return bb.array();
    }

    public static byte[] intBytes(int[] v) {
        ByteBuffer bb = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        bb.asIntBuffer().put(v);
        return bb.array();
    }

    /** Appends a tensor to the main subgraph; returns its index. */
    public int addTensor(TensorT t) {
        return addTensor(main(), t);
    }

    /** Appends a tensor to subgraph {@code g}; returns its index. */
    public static int addTensor(SubGraphT g, TensorT t) {
        TensorT[] old = g.getTensors();
        TensorT[] n = Arrays.copyOf(old, old.length + 1);
        n[old.length] = t;
        g.setTensors(n);
        return old.length;
    }

    public static TensorT newTensor(String name, byte type, int[] shape, int[] shapeSignature, int buffer,
                                    QuantizationParametersT q) {
        TensorT t = new TensorT();
        t.setName(name);
        t.setType(type);
        t.setShape(shape.clone());
        if (shapeSignature != null) t.setShapeSignature(shapeSignature.clone());
        t.setBuffer(buffer);
        t.setQuantization(q);
        return t;
    }

    /** A tensor's shape signature (-1 for dynamic dimensions), or its shape when it has none. */
    public static int[] signature(TensorT t) {
        int[] s = t.getShapeSignature();
        return s != null && s.length == t.getShape().length ? s : t.getShape();
    }

    public static long[] longShape(int[] shape) {
        long[] l = new long[shape.length];
        for (int i = 0; i < shape.length; i++) l[i] = shape[i];
        return l;
    }

    public List<TensorInfo> inputs() {
        return infos(main().getInputs());
    }

    public List<TensorInfo> outputs() {
        return infos(main().getOutputs());
    }

    private List<TensorInfo> infos(int[] idx) {
        List<TensorInfo> l = new ArrayList<>();
        for (int i : idx) {
            TensorT t = tensor(i);
            l.add(new TensorInfo(t.getName(), typeName(t.getType()).toLowerCase(Locale.ROOT),
                    longShape(signature(t))));
        }
        return l;
    }

    /** Whether any activation or weight of the main subgraph is already int8/uint8/int16 quantized. */
    public boolean isQuantized() {
        for (TensorT t : main().getTensors()) {
            byte ty = t.getType();
            if (ty == TensorType.INT8 || ty == TensorType.UINT8 || ty == TensorType.INT16) {
                QuantizationParametersT q = t.getQuantization();
                if (q != null && q.getScale() != null && q.getScale().length > 0) return true;
            }
        }
        return false;
    }

    /**
     * Turns FLOAT16 constants feeding DEQUANTIZE back into float32 constants and drops those DEQUANTIZE operators
     * (MediaPipe's float16-weight models). Returns the number of operators dropped.
     */
    public int dequantizeFloat16Weights() {
        List<OperatorT> keep = new ArrayList<>();
        int dropped = 0;
        for (OperatorT op : main().getOperators()) {
            if (builtinCode(op) == BuiltinOperator.DEQUANTIZE && op.getInputs().length == 1
                    && op.getOutputs().length == 1) {
                int in = op.getInputs()[0];
                int out = op.getOutputs()[0];
                if (tensor(in).getType() == TensorType.FLOAT16 && isConstant(in)
                        && tensor(out).getType() == TensorType.FLOAT32) {
                    TensorT o = tensor(out);
                    o.setBuffer(addBuffer(floatBytes(floats(in))));
                    o.setQuantization(null);
                    dropped++;
                    continue;
                }
            }
            keep.add(op);
        }
        main().setOperators(keep.toArray(new OperatorT[0]));
        if (dropped > 0) compact();
        return dropped;
    }

    /** The indices of float16 tensors left after {@link #dequantizeFloat16Weights()} (should be none). */
    public List<String> float16Tensors() {
        List<String> l = new ArrayList<>();
        for (TensorT t : main().getTensors()) if (t.getType() == TensorType.FLOAT16) l.add(t.getName());
        return l;
    }

    /** Operators kept even when nothing reads their outputs: they change state or run other subgraphs. */
    private static final Set<Integer> SIDE_EFFECTS = Set.of(BuiltinOperator.CUSTOM, BuiltinOperator.CALL_ONCE,
            BuiltinOperator.VAR_HANDLE, BuiltinOperator.READ_VARIABLE, BuiltinOperator.ASSIGN_VARIABLE,
            BuiltinOperator.WHILE, BuiltinOperator.IF, BuiltinOperator.CALL);

    /**
     * Removes the operators of the main subgraph whose outputs no later operator reads and that are no graph or
     * signature output (and, in turn, the operators only they read from), then the tensors and buffers left unused.
     * Operators that change state (variables, custom and control-flow operators, any operator with a variable input)
     * stay. The outputs are the same; XNNPACK (TFLite 2.20) aborted the JVM in {@code xnn_subgraph_optimize} on an
     * int8 LOGISTIC or TANH whose output nobody reads.
     *
     * @return a description of each operator removed ({@code "#3 TANH (y1)"}), in model order
     */
    public List<String> removeDeadOperators() {
        SubGraphT g = main();
        OperatorT[] ops = g.getOperators();
        boolean[] live = new boolean[g.getTensors().length];
        for (int i : g.getOutputs()) live[i] = true;
        if (model.getSignatureDefs() != null) {
            for (SignatureDefT sd : model.getSignatureDefs()) {
                if (sd.getSubgraphIndex() != 0 || sd.getOutputs() == null) continue;
                for (TensorMapT tm : sd.getOutputs()) {
                    long n = tm.getTensorIndex();
                    if (n >= 0 && n < live.length) live[(int) n] = true;
                }
            }
        }
        boolean[] keep = new boolean[ops.length];
        for (int k = ops.length - 1; k >= 0; k--) {
            OperatorT op = ops[k];
            boolean needed = SIDE_EFFECTS.contains(builtinCode(op)) || op.getOutputs().length == 0;
            for (int o : op.getOutputs()) needed |= live[o];
            for (int i : op.getInputs()) needed |= i >= 0 && tensor(i).getIsVariable();
            if (!needed) continue;
            keep[k] = true;
            for (int i : op.getInputs()) if (i >= 0) live[i] = true;
            if (op.getIntermediates() != null) for (int i : op.getIntermediates()) if (i >= 0) live[i] = true;
        }
        List<String> removed = new ArrayList<>();
        List<OperatorT> kept = new ArrayList<>();
        for (int k = 0; k < ops.length; k++) {
            if (keep[k]) {
                kept.add(ops[k]);
            } else {
                OperatorT op = ops[k];
                removed.add("#" + k + " " + opName(op) + " ("
                        + (op.getOutputs().length > 0 ? tensor(op.getOutputs()[0]).getName() : "") + ")");
            }
        }
        if (!removed.isEmpty()) {
            g.setOperators(kept.toArray(new OperatorT[0]));
            compact();
        }
        return removed;
    }

    /**
     * Removes the tensors of the main subgraph that no operator, graph input/output or signature uses, and the
     * buffers no tensor or metadata uses, renumbering references.
     */
    public void compact() {
        compact(main());
    }

    /**
     * Removes the tensors of subgraph {@code g} that no operator, graph input/output or signature of it uses, and the
     * buffers no tensor or metadata uses, renumbering references.
     */
    public void compact(SubGraphT g) {
        int index = Arrays.asList(model.getSubgraphs()).indexOf(g);
        TensorT[] tensors = g.getTensors();
        boolean[] used = new boolean[tensors.length];
        for (OperatorT op : g.getOperators()) {
            for (int i : op.getInputs()) if (i >= 0) used[i] = true;
            for (int i : op.getOutputs()) used[i] = true;
            if (op.getIntermediates() != null) for (int i : op.getIntermediates()) if (i >= 0) used[i] = true;
        }
        for (int i : g.getInputs()) used[i] = true;
        for (int i : g.getOutputs()) used[i] = true;
        int[] map = new int[tensors.length];
        List<TensorT> kept = new ArrayList<>();
        for (int i = 0; i < tensors.length; i++) {
            if (used[i]) {
                map[i] = kept.size();
                kept.add(tensors[i]);
            } else {
                map[i] = -1;
            }
        }
        g.setTensors(kept.toArray(new TensorT[0]));
        for (OperatorT op : g.getOperators()) {
            op.setInputs(remap(op.getInputs(), map));
            op.setOutputs(remap(op.getOutputs(), map));
            if (op.getIntermediates() != null) op.setIntermediates(remap(op.getIntermediates(), map));
        }
        g.setInputs(remap(g.getInputs(), map));
        g.setOutputs(remap(g.getOutputs(), map));
        if (model.getSignatureDefs() != null) {
            for (SignatureDefT s : model.getSignatureDefs()) {
                if (s.getSubgraphIndex() != index) continue;
                for (TensorMapT[] maps : new TensorMapT[][] {s.getInputs(), s.getOutputs()}) {
                    if (maps == null) continue;
                    for (TensorMapT tm : maps) {
                        int n = (int) tm.getTensorIndex();
                        if (n >= 0 && n < map.length && map[n] >= 0) tm.setTensorIndex(map[n]);
                    }
                }
            }
        }
        compactBuffers();
    }

    private static int[] remap(int[] idx, int[] map) {
        int[] r = new int[idx.length];
        for (int i = 0; i < idx.length; i++) r[i] = idx[i] < 0 ? idx[i] : map[idx[i]];
        return r;
    }

    private void compactBuffers() {
        BufferT[] buffers = buffers();
        boolean[] used = new boolean[buffers.length];
        if (used.length > 0) used[0] = true;
        for (SubGraphT g : model.getSubgraphs()) for (TensorT t : g.getTensors()) used[(int) t.getBuffer()] = true;
        if (model.getMetadata() != null) {
            for (MetadataT m : model.getMetadata()) {
                if (m.getBuffer() >= 0 && m.getBuffer() < used.length) used[(int) m.getBuffer()] = true;
            }
        }
        if (model.getMetadataBuffer() != null) {
            for (int b : model.getMetadataBuffer()) if (b >= 0 && b < used.length) used[b] = true;
        }
        Map<Integer, Integer> map = new HashMap<>();
        List<BufferT> kept = new ArrayList<>();
        for (int i = 0; i < buffers.length; i++) {
            if (used[i]) {
                map.put(i, kept.size());
                kept.add(buffers[i]);
            }
        }
        model.setBuffers(kept.toArray(new BufferT[0]));
        for (SubGraphT g : model.getSubgraphs()) for (TensorT t : g.getTensors()) t.setBuffer(map.get((int) t.getBuffer()));
        if (model.getMetadata() != null) {
            for (MetadataT m : model.getMetadata()) {
                Integer n = map.get((int) m.getBuffer());
                if (n != null) m.setBuffer(n);
            }
        }
        if (model.getMetadataBuffer() != null) {
            int[] mb = model.getMetadataBuffer();
            for (int i = 0; i < mb.length; i++) {
                Integer n = map.get(mb[i]);
                if (n != null) mb[i] = n;
            }
        }
    }

    /** The serialized model, with the {@code TFL3} identifier. */
    public byte[] toBytes() {
        FlatBufferBuilder fbb = new FlatBufferBuilder(1 << 16);
        int root = Model.pack(fbb, model);
        Model.finishModelBuffer(fbb, root);
        return fbb.sizedByteArray();
    }

    public void save(Path file) {
        AtomicFiles.write(file, toBytes());
    }
}
