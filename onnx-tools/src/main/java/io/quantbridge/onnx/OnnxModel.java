package io.quantbridge.onnx;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import io.quantbridge.QuantbridgeException;
import io.quantbridge.onnx.proto.Onnx.AttributeProto;
import io.quantbridge.onnx.proto.Onnx.GraphProto;
import io.quantbridge.onnx.proto.Onnx.ModelProto;
import io.quantbridge.onnx.proto.Onnx.NodeProto;
import io.quantbridge.onnx.proto.Onnx.OperatorSetIdProto;
import io.quantbridge.onnx.proto.Onnx.StringStringEntryProto;
import io.quantbridge.onnx.proto.Onnx.TensorProto;
import io.quantbridge.onnx.proto.Onnx.TensorShapeProto;
import io.quantbridge.onnx.proto.Onnx.TypeProto;
import io.quantbridge.onnx.proto.Onnx.ValueInfoProto;
import io.quantbridge.tensor.TensorInfo;
import io.quantbridge.util.AtomicFiles;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.UnaryOperator;

/**
 * An ONNX model in memory: an immutable wrapper around the {@link ModelProto}. Transformations return new models.
 * Tensors stored as external data are read into the model when it is loaded, so a loaded model is self-contained and
 * {@link #save(Path)} writes a single file. Fields this project does not model survive load and save unchanged.
 */
public final class OnnxModel {
    /** The default ONNX operator domain ("" and "ai.onnx" are the same). */
    public static final String DEFAULT_DOMAIN = "";

    private final ModelProto proto;
    private final String label;

    private OnnxModel(ModelProto proto, String label) {
        this.proto = proto;
        this.label = label;
    }

    /** Wraps a model proto; {@code label} names it in error messages. */
    public static OnnxModel of(ModelProto proto, String label) {
        return new OnnxModel(proto, label);
    }

    public static OnnxModel of(ModelProto proto) {
        return new OnnxModel(proto, proto.getGraph().getName().isEmpty() ? "model" : "model " + proto.getGraph().getName());
    }

    /**
     * Reads an .onnx file. A missing file, a file that is not an ONNX model, or a truncated one gives a
     * {@link QuantbridgeException} naming the file. External-data tensors are read from files relative to the
     * model's folder.
     */
    public static OnnxModel load(Path file) {
        if (Files.isDirectory(file)) {
            throw new QuantbridgeException("model file " + file + " is a directory, not an .onnx file");
        }
        byte[] bytes;
        try {
            long size = Files.size(file);
            if (size > Integer.MAX_VALUE - 16) {
                throw new QuantbridgeException("model file " + file + " is " + size + " bytes; ONNX protobuf files"
                        + " over 2 GB are not supported (store the weights as external data)");
            }
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new QuantbridgeException("model file " + file + " not found");
        } catch (IOException e) {
            throw new QuantbridgeException("cannot read model file " + file + ": " + e.getMessage(), e);
        }
        OnnxModel m = parse(bytes, file.toString());
        OnnxArity.check(m);
        Path dir = file.toAbsolutePath().getParent();
        return m.hasExternalData() ? m.withExternalDataLoaded(dir) : m;
    }

    /** Parses a serialized model; {@code label} names it in error messages. External data is not resolved. */
    public static OnnxModel fromBytes(byte[] bytes, String label) {
        return parse(bytes, label);
    }

    private static OnnxModel parse(byte[] bytes, String label) {
        if (bytes.length >= 8 && bytes[4] == 'T' && bytes[5] == 'F' && bytes[6] == 'L' && bytes[7] == '3') {
            throw new QuantbridgeException(label + " is a TFLite model (file identifier TFL3), not ONNX: use the"
                    + " tflite backend (--backend tflite)");
        }
        ModelProto proto;
        try {
            CodedInputStream in = CodedInputStream.newInstance(bytes);
            in.setSizeLimit(Integer.MAX_VALUE);
            in.setRecursionLimit(1000);
            proto = ModelProto.parseFrom(in);
        } catch (InvalidProtocolBufferException e) {
            throw new QuantbridgeException(label + " is not a valid ONNX model (truncated or not an ONNX file: "
                    + e.getMessage() + ")", e);
        } catch (IOException e) {
            throw new QuantbridgeException("cannot parse " + label + ": " + e.getMessage(), e);
        }
        if (!proto.hasGraph() || proto.getIrVersion() <= 0) {
            throw new QuantbridgeException(label + " is not an ONNX model (no " + (proto.hasGraph() ? "IR version" : "graph")
                    + " in it; " + bytes.length + " bytes)");
        }
        if (proto.getIrVersion() >= 3 && proto.getOpsetImportCount() == 0) {
            throw new QuantbridgeException(label + " is not a complete ONNX model (no opset_import; the file may be"
                    + " truncated)");
        }
        return new OnnxModel(proto, label);
    }

    public ModelProto proto() { return proto; }

    public GraphProto graph() { return proto.getGraph(); }

    public List<NodeProto> nodes() { return proto.getGraph().getNodeList(); }

    /** What error messages call this model (its file, usually). */
    public String label() { return label; }

    /** This model with another proto, keeping the label. */
    public OnnxModel withProto(ModelProto p) {
        return new OnnxModel(p, label);
    }

    /**
     * This model with a rank given to graph inputs whose type has no shape (any rank): each named input that has none
     * gets that many dimensions, none of them fixed. Inputs with a shape, and names that are no input, are left as
     * they are. Shape inference, and so what can be folded and rewritten, then sees the rank the data has.
     */
    public OnnxModel withInputRanks(Map<String, Integer> ranks) {
        GraphProto.Builder g = proto.getGraph().toBuilder();
        boolean changed = false;
        for (int i = 0; i < g.getInputCount(); i++) {
            ValueInfoProto vi = g.getInput(i);
            Integer rank = ranks.get(vi.getName());
            if (rank == null || !vi.getType().hasTensorType() || vi.getType().getTensorType().hasShape()) continue;
            TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
            for (int d = 0; d < rank; d++) shape.addDim(TensorShapeProto.Dimension.newBuilder());
            ValueInfoProto.Builder b = vi.toBuilder();
            b.getTypeBuilder().getTensorTypeBuilder().setShape(shape);
            g.setInput(i, b);
            changed = true;
        }
        return changed ? withProto(proto.toBuilder().setGraph(g).build()) : this;
    }

    /** The main graph's initializers by name, in file order. */
    public Map<String, TensorProto> initializers() {
        Map<String, TensorProto> m = new LinkedHashMap<>();
        for (TensorProto t : proto.getGraph().getInitializerList()) m.put(t.getName(), t);
        return Collections.unmodifiableMap(m);
    }

    public Optional<TensorProto> initializer(String name) {
        for (TensorProto t : proto.getGraph().getInitializerList()) {
            if (t.getName().equals(name)) return Optional.of(t);
        }
        return Optional.empty();
    }

    /** The opset version imported for the default (ai.onnx) domain; 1 when none is declared. */
    public long opsetVersion() {
        return opsetVersion(DEFAULT_DOMAIN).orElse(1L);
    }

    public Optional<Long> opsetVersion(String domain) {
        for (OperatorSetIdProto o : proto.getOpsetImportList()) {
            if (isDefaultDomain(o.getDomain()) ? isDefaultDomain(domain) : o.getDomain().equals(domain)) {
                return Optional.of(o.getVersion());
            }
        }
        return Optional.empty();
    }

    public static boolean isDefaultDomain(String domain) {
        return domain.isEmpty() || domain.equals("ai.onnx");
    }

    /** This model with the default-domain opset import set to {@code version} (IR version raised where needed). */
    public OnnxModel withOpsetVersion(long version) {
        ModelProto.Builder b = proto.toBuilder();
        boolean found = false;
        for (int i = 0; i < b.getOpsetImportCount(); i++) {
            if (isDefaultDomain(b.getOpsetImport(i).getDomain())) {
                b.setOpsetImport(i, b.getOpsetImport(i).toBuilder().setVersion(version));
                found = true;
            }
        }
        if (!found) {
            b.addOpsetImport(OperatorSetIdProto.newBuilder().setDomain(DEFAULT_DOMAIN).setVersion(version));
        }
        long minIr = version >= 21 ? 10 : version >= 19 ? 9 : version >= 15 ? 8 : version >= 13 ? 7 : version >= 12 ? 7
                : version >= 11 ? 6 : version >= 10 ? 5 : 3;
        if (b.getIrVersion() < minIr) b.setIrVersion(minIr);
        return new OnnxModel(b.build(), label);
    }

    /** Graph inputs that are real inputs (not initializers listed as inputs), with -1 for symbolic dimensions. */
    public List<TensorInfo> inputs() {
        Set<String> inits = new HashSet<>();
        for (TensorProto t : proto.getGraph().getInitializerList()) inits.add(t.getName());
        List<TensorInfo> out = new ArrayList<>();
        for (ValueInfoProto vi : proto.getGraph().getInputList()) {
            if (!inits.contains(vi.getName())) out.add(tensorInfo(vi));
        }
        return out;
    }

    public List<TensorInfo> outputs() {
        List<TensorInfo> out = new ArrayList<>();
        for (ValueInfoProto vi : proto.getGraph().getOutputList()) out.add(tensorInfo(vi));
        return out;
    }

    /**
     * Name, element type ("float", "int64", ... as in ONNX's tensor(T)) and shape of a value; symbolic or missing
     * dimensions are -1; a tensor type without a shape has an unknown rank ({@link TensorInfo#rankKnown()}).
     */
    public static TensorInfo tensorInfo(ValueInfoProto vi) {
        if (!vi.hasType() || !vi.getType().hasTensorType()) {
            return TensorInfo.ofUnknownRank(vi.getName(), vi.hasType() ? "non-tensor" : "unknown");
        }
        TypeProto.Tensor t = vi.getType().getTensorType();
        if (!t.hasShape()) return TensorInfo.ofUnknownRank(vi.getName(), DataTypes.name(t.getElemType()));
        List<TensorShapeProto.Dimension> dims = t.getShape().getDimList();
        long[] shape = new long[dims.size()];
        for (int i = 0; i < shape.length; i++) {
            TensorShapeProto.Dimension d = dims.get(i);
            shape[i] = d.hasDimValue() && d.getDimValue() > 0 ? d.getDimValue() : d.hasDimValue() && d.getDimValue() == 0 ? 0 : -1;
        }
        return new TensorInfo(vi.getName(), DataTypes.name(t.getElemType()), shape);
    }

    /** A value info for a tensor of the given element type with unknown shape. */
    public static ValueInfoProto valueInfo(String name, int elemType) {
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder()
                .setTensorType(TypeProto.Tensor.newBuilder().setElemType(elemType))).build();
    }

    // ---------------------------------------------------------------------------------------------- serialisation

    public byte[] toBytes() {
        checkSerializable();
        return proto.toByteArray();
    }

    private void checkSerializable() {
        int size = proto.getSerializedSize();
        if (size < 0) {
            throw new QuantbridgeException(label + " is larger than 2 GB when serialised; writing models with"
                    + " external data is not supported");
        }
    }

    /** Writes the model to {@code file} atomically (a temporary file renamed over the target). */
    public void save(Path file) {
        checkSerializable();
        AtomicFiles.write(file, proto::writeTo);
    }

    // ----------------------------------------------------------------------------------------------- external data

    /**
     * Whether some tensor still points to an external data file: possible for a model from {@link #fromBytes}, never
     * for one from {@link #load}, which reads the data in.
     */
    public boolean hasExternalData() {
        boolean[] found = {false};
        mapTensors(proto.getGraph(), t -> {
            if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) found[0] = true;
            return t;
        });
        return found[0];
    }

    private OnnxModel withExternalDataLoaded(Path dir) {
        GraphProto g = mapTensors(proto.getGraph(), t -> t.getDataLocation() == TensorProto.DataLocation.EXTERNAL
                ? readExternal(t, dir) : t);
        return new OnnxModel(proto.toBuilder().setGraph(g).build(), label);
    }

    /** An external-data offset or length: a count of bytes. */
    private long externalNumber(TensorProto t, StringStringEntryProto e) {
        long v;
        try {
            v = Long.parseLong(e.getValue().strip());
        } catch (NumberFormatException x) {
            v = -1;
        }
        if (v < 0) {
            throw new QuantbridgeException(label + ": external data of tensor " + t.getName() + " has " + e.getKey()
                    + " '" + e.getValue() + "', not a count of bytes");
        }
        return v;
    }

    private TensorProto readExternal(TensorProto t, Path dir) {
        String location = null;
        long offset = 0;
        long length = -1;
        for (StringStringEntryProto e : t.getExternalDataList()) {
            switch (e.getKey()) {
                case "location" -> location = e.getValue();
                case "offset" -> offset = externalNumber(t, e);
                case "length" -> length = externalNumber(t, e);
                default -> { }
            }
        }
        if (location == null) {
            throw new QuantbridgeException(label + ": tensor " + t.getName() + " is marked as external data but has"
                    + " no location");
        }
        Path f = dir.resolve(location).normalize();
        if (!f.startsWith(dir.normalize())) {
            throw new QuantbridgeException(label + ": external data file " + location + " of tensor " + t.getName()
                    + " lies outside the model's folder " + dir);
        }
        long expected = Tensors.elementCount(t) * DataTypes.size(t.getDataType());
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
            long len = length >= 0 ? length : ch.size() - offset;
            if (offset + len > ch.size()) {
                throw new QuantbridgeException(label + ": external data of tensor " + t.getName() + " needs bytes "
                        + offset + ".." + (offset + len) + " of " + f + ", which has only " + ch.size());
            }
            if (expected > 0 && len != expected) {
                throw new QuantbridgeException(label + ": external data of tensor " + t.getName() + " is " + len
                        + " bytes, expected " + expected);
            }
            if (len > Integer.MAX_VALUE) {
                throw new QuantbridgeException(label + ": tensor " + t.getName() + " is over 2 GB");
            }
            java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate((int) len);
            ch.position(offset);
            while (buf.hasRemaining()) {
                if (ch.read(buf) < 0) break;
            }
            buf.flip();
            return t.toBuilder().clearExternalData().clearDataLocation().setRawData(ByteString.copyFrom(buf)).build();
        } catch (NoSuchFileException e) {
            throw new QuantbridgeException(label + ": external data file " + f + " of tensor " + t.getName()
                    + " not found (external data is read relative to the model's folder)");
        } catch (IOException e) {
            throw new QuantbridgeException(label + ": cannot read external data file " + f + ": " + e.getMessage(), e);
        }
    }

    /** Applies {@code fn} to every tensor of a graph: initializers and tensor attributes, in subgraphs too. */
    static GraphProto mapTensors(GraphProto g, UnaryOperator<TensorProto> fn) {
        GraphProto.Builder b = g.toBuilder();
        for (int i = 0; i < b.getInitializerCount(); i++) {
            TensorProto t = b.getInitializer(i);
            TensorProto u = fn.apply(t);
            if (u != t) b.setInitializer(i, u);
        }
        for (int i = 0; i < b.getNodeCount(); i++) {
            NodeProto n = b.getNode(i);
            NodeProto.Builder nb = null;
            for (int j = 0; j < n.getAttributeCount(); j++) {
                AttributeProto a = n.getAttribute(j);
                AttributeProto.Builder ab = null;
                if (a.hasT()) {
                    TensorProto u = fn.apply(a.getT());
                    if (u != a.getT()) ab = a.toBuilder().setT(u);
                }
                for (int k = 0; k < a.getTensorsCount(); k++) {
                    TensorProto u = fn.apply(a.getTensors(k));
                    if (u != a.getTensors(k)) (ab == null ? ab = a.toBuilder() : ab).setTensors(k, u);
                }
                if (a.hasG()) {
                    GraphProto u = mapTensors(a.getG(), fn);
                    if (!u.equals(a.getG())) (ab == null ? ab = a.toBuilder() : ab).setG(u);
                }
                for (int k = 0; k < a.getGraphsCount(); k++) {
                    GraphProto u = mapTensors(a.getGraphs(k), fn);
                    if (!u.equals(a.getGraphs(k))) (ab == null ? ab = a.toBuilder() : ab).setGraphs(k, u);
                }
                if (ab != null) (nb == null ? nb = n.toBuilder() : nb).setAttribute(j, ab);
            }
            if (nb != null) b.setNode(i, nb);
        }
        return b.build();
    }

    // ---------------------------------------------------------------------------------------------- transformations

    /**
     * Turns the main graph's {@code Constant} nodes into initializers with the same name as the node's output, so
     * tensor names stay stable. Attributes value, value_float(s), value_int(s) and value_string(s) are folded;
     * a sparse_value or an attribute reference (ref_attr_name) is left as a node. Constants inside subgraphs are
     * left alone (subgraphs stay as they are).
     */
    public OnnxModel foldConstants() {
        GraphProto g = proto.getGraph();
        GraphProto.Builder b = g.toBuilder().clearNode();
        Set<String> names = new HashSet<>();
        for (TensorProto t : g.getInitializerList()) names.add(t.getName());
        boolean changed = false;
        for (NodeProto n : g.getNodeList()) {
            Optional<TensorProto> t = n.getOpType().equals("Constant") && isDefaultDomain(n.getDomain())
                    && n.getOutputCount() == 1 ? constantValue(n) : Optional.empty();
            if (t.isEmpty()) {
                b.addNode(n);
                continue;
            }
            String out = n.getOutput(0);
            if (!names.add(out)) {
                throw new QuantbridgeException(label + ": Constant node '" + n.getName() + "' writes " + out
                        + ", which is already an initializer");
            }
            b.addInitializer(t.get().toBuilder().setName(out));
            changed = true;
        }
        return changed ? new OnnxModel(proto.toBuilder().setGraph(b).build(), label) : this;
    }

    /** The tensor a Constant node produces, when it can be computed from its attributes alone. */
    public static Optional<TensorProto> constantValue(NodeProto n) {
        if (n.getAttributeCount() != 1) return Optional.empty();
        AttributeProto a = n.getAttribute(0);
        if (!a.getRefAttrName().isEmpty()) return Optional.empty();
        TensorProto.Builder t = TensorProto.newBuilder();
        switch (a.getName()) {
            case "value" -> {
                return Optional.of(a.getT());
            }
            case "value_float" -> {
                return Optional.of(Tensors.floatScalar("", a.getF()));
            }
            case "value_floats" -> {
                float[] f = new float[a.getFloatsCount()];
                for (int i = 0; i < f.length; i++) f[i] = a.getFloats(i);
                return Optional.of(Tensors.floatTensor("", new long[] {f.length}, f));
            }
            case "value_int" -> {
                return Optional.of(Tensors.int64Tensor("", new long[0], new long[] {a.getI()}));
            }
            case "value_ints" -> {
                return Optional.of(Tensors.int64Vector("", a.getIntsList().stream().mapToLong(Long::longValue).toArray()));
            }
            case "value_string" -> {
                return Optional.of(t.setDataType(DataTypes.STRING).addStringData(a.getS()).build());
            }
            case "value_strings" -> {
                t.setDataType(DataTypes.STRING).addDims(a.getStringsCount());
                for (ByteString s : a.getStringsList()) t.addStringData(s);
                return Optional.of(t.build());
            }
            default -> {
                return Optional.empty();
            }
        }
    }

    /**
     * Removes initializers from the graph's input list (IR version 4 and later allow initializers that are not
     * inputs; listing them as inputs makes them overridable and blocks constant folding in runtimes). Models with
     * an older IR version are returned unchanged.
     */
    public OnnxModel withoutInitializerInputs() {
        if (proto.getIrVersion() < 4) return this;
        GraphProto g = proto.getGraph();
        Set<String> inits = new HashSet<>();
        for (TensorProto t : g.getInitializerList()) inits.add(t.getName());
        List<ValueInfoProto> keep = new ArrayList<>();
        for (ValueInfoProto vi : g.getInputList()) {
            if (!inits.contains(vi.getName())) keep.add(vi);
        }
        if (keep.size() == g.getInputCount()) return this;
        return new OnnxModel(proto.toBuilder().setGraph(g.toBuilder().clearInput().addAllInput(keep)).build(), label);
    }

    /** The main-graph nodes that carry subgraphs (If/Loop/Scan ...), which stay untouched in float. */
    public List<SubgraphInfo> subgraphs() {
        List<SubgraphInfo> out = new ArrayList<>();
        for (NodeProto n : proto.getGraph().getNodeList()) {
            List<String> attrs = new ArrayList<>();
            int count = 0;
            for (AttributeProto a : n.getAttributeList()) {
                if (!Attributes.isGraph(a)) continue;
                attrs.add(a.getName());
                if (a.hasG()) count += countNodes(a.getG());
                for (GraphProto sg : a.getGraphsList()) count += countNodes(sg);
            }
            if (!attrs.isEmpty()) out.add(new SubgraphInfo(n.getName(), n.getOpType(), attrs, count));
        }
        return out;
    }

    private static int countNodes(GraphProto g) {
        int c = g.getNodeCount();
        for (NodeProto n : g.getNodeList()) {
            for (AttributeProto a : n.getAttributeList()) {
                if (a.hasG()) c += countNodes(a.getG());
                for (GraphProto sg : a.getGraphsList()) c += countNodes(sg);
            }
        }
        return c;
    }

    /** Names of outer-scope tensors that the subgraphs of the main graph read (they must keep name and type). */
    public Set<String> tensorsUsedBySubgraphs() {
        Set<String> used = new HashSet<>();
        for (NodeProto n : proto.getGraph().getNodeList()) {
            for (AttributeProto a : n.getAttributeList()) {
                if (a.hasG()) collectOuterRefs(a.getG(), Set.of(), used);
                for (GraphProto sg : a.getGraphsList()) collectOuterRefs(sg, Set.of(), used);
            }
        }
        return used;
    }

    private static void collectOuterRefs(GraphProto g, Set<String> enclosingLocal, Set<String> used) {
        Set<String> local = new HashSet<>(enclosingLocal);
        for (TensorProto t : g.getInitializerList()) local.add(t.getName());
        for (ValueInfoProto vi : g.getInputList()) local.add(vi.getName());
        for (NodeProto n : g.getNodeList()) {
            for (String in : n.getInputList()) {
                if (!in.isEmpty() && !local.contains(in)) used.add(in);
            }
            for (AttributeProto a : n.getAttributeList()) {
                if (a.hasG()) collectOuterRefs(a.getG(), local, used);
                for (GraphProto sg : a.getGraphsList()) collectOuterRefs(sg, local, used);
            }
            local.addAll(n.getOutputList());
        }
    }

    /**
     * This model with extra graph outputs for the named intermediate tensors (for observing activations). Element
     * types come from {@link TensorTypes}; shapes are left unknown. Names already among the outputs are skipped.
     */
    public OnnxModel withOutputs(Collection<String> tensors) {
        GraphProto g = proto.getGraph();
        Set<String> have = new HashSet<>();
        for (ValueInfoProto vi : g.getOutputList()) have.add(vi.getName());
        TensorTypes types = TensorTypes.infer(g);
        GraphProto.Builder b = g.toBuilder();
        for (String t : tensors) {
            if (have.add(t)) {
                int type = types.elemType(t);
                b.addOutput(valueInfo(t, type != 0 ? type : DataTypes.FLOAT));
            }
        }
        return new OnnxModel(proto.toBuilder().setGraph(b).build(), label);
    }

    /**
     * The part of this model that computes {@code outputs}: only the nodes they depend on (subgraphs' outer-scope reads
     * included), the initializers those nodes read, and {@code outputs} as the only graph outputs (float, shapes left
     * unknown; an output that already was one keeps its declaration). Graph inputs all stay, so that the same feeds
     * run it.
     *
     * @throws IllegalArgumentException when a name is neither a graph input nor produced by a node
     */
    public OnnxModel prunedTo(Collection<String> outputs) {
        GraphProto g = proto.getGraph();
        Map<String, Integer> producer = new HashMap<>();
        for (int i = 0; i < g.getNodeCount(); i++) for (String o : g.getNode(i).getOutputList()) producer.put(o, i);
        Set<String> graphInputs = new HashSet<>();
        for (ValueInfoProto vi : g.getInputList()) graphInputs.add(vi.getName());
        boolean[] keep = new boolean[g.getNodeCount()];
        java.util.ArrayDeque<String> todo = new java.util.ArrayDeque<>();
        for (String o : outputs) {
            if (!producer.containsKey(o) && !graphInputs.contains(o)) {
                throw new IllegalArgumentException("no node of " + label + " computes tensor '" + o + "'");
            }
            todo.add(o);
        }
        Set<String> seen = new HashSet<>();
        while (!todo.isEmpty()) {
            String t = todo.poll();
            if (!seen.add(t)) continue;
            Integer p = producer.get(t);
            if (p == null || keep[p]) continue;
            keep[p] = true;
            NodeProto n = g.getNode(p);
            for (String in : n.getInputList()) if (!in.isEmpty()) todo.add(in);
            for (AttributeProto a : n.getAttributeList()) {
                Set<String> refs = new HashSet<>();
                if (a.hasG()) collectOuterRefs(a.getG(), Set.of(), refs);
                for (GraphProto sg : a.getGraphsList()) collectOuterRefs(sg, Set.of(), refs);
                todo.addAll(refs);
            }
        }
        GraphProto.Builder b = g.toBuilder().clearNode().clearOutput().clearInitializer();
        for (int i = 0; i < keep.length; i++) if (keep[i]) b.addNode(g.getNode(i));
        for (TensorProto t : g.getInitializerList()) if (seen.contains(t.getName())) b.addInitializer(t);
        Map<String, ValueInfoProto> declared = new HashMap<>();
        for (ValueInfoProto vi : g.getOutputList()) declared.put(vi.getName(), vi);
        for (String o : new java.util.LinkedHashSet<>(outputs)) {
            b.addOutput(declared.getOrDefault(o, valueInfo(o, DataTypes.FLOAT)));
        }
        return new OnnxModel(proto.toBuilder().setGraph(b).build(), label);
    }

    /** Reads all bytes of a stream as a model (for resources in tests and tools). */
    public static OnnxModel read(InputStream in, String label) {
        try {
            return parse(in.readAllBytes(), label);
        } catch (IOException e) {
            throw new QuantbridgeException("cannot read " + label + ": " + e.getMessage(), e);
        }
    }

    @Override
    public String toString() {
        return label + " (opset " + opsetVersion() + ", " + nodes().size() + " nodes, "
                + proto.getGraph().getInitializerCount() + " initializers)";
    }
}
