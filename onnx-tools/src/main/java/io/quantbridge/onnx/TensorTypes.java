package io.quantbridge.onnx;

import io.quantbridge.onnx.proto.Onnx.AttributeProto;
import io.quantbridge.onnx.proto.Onnx.GraphProto;
import io.quantbridge.onnx.proto.Onnx.NodeProto;
import io.quantbridge.onnx.proto.Onnx.TensorProto;
import io.quantbridge.onnx.proto.Onnx.TensorShapeProto;
import io.quantbridge.onnx.proto.Onnx.TypeProto;
import io.quantbridge.onnx.proto.Onnx.ValueInfoProto;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A light forward inference of element type and rank for every tensor of a graph (exporters such as Paddle2ONNX
 * write no value_info). Dimensions are tracked where they are cheap to know (initializers, graph inputs, shape
 * vectors built from Shape/Slice/Concat) so that the rank of a Reshape result is known. Unknown is -1 / null.
 */
public final class TensorTypes {

    /** Element type (ONNX code, 0 when unknown) and dims ({@code null} when the rank is unknown; -1 entries). */
    public record Info(int elemType, long[] dims) {
        public int rank() {
            return dims == null ? -1 : dims.length;
        }

        static Info of(int type, long[] dims) {
            return new Info(type, dims);
        }

        static Info unknownRank(int type) {
            return new Info(type, null);
        }

        static Info ofRank(int type, int rank) {
            if (rank < 0) return new Info(type, null);
            long[] d = new long[rank];
            Arrays.fill(d, -1);
            return new Info(type, d);
        }

        Info withType(int t) {
            return new Info(t, dims);
        }
    }

    private final Map<String, Info> infos = new HashMap<>();
    private final Map<String, TensorProto> constants = new HashMap<>();

    private TensorTypes() { }

    /** Infers the main graph of a model. */
    public static TensorTypes infer(GraphProto g) {
        return infer(g, Map.of());
    }

    /** Infers a graph whose outer scope (for subgraphs) has the given types. */
    public static TensorTypes infer(GraphProto g, Map<String, Info> outer) {
        TensorTypes t = new TensorTypes();
        t.infos.putAll(outer);
        for (TensorProto init : g.getInitializerList()) {
            t.infos.put(init.getName(), Info.of(init.getDataType(), Tensors.dims(init)));
            t.constants.put(init.getName(), init);
        }
        for (ValueInfoProto vi : g.getInputList()) {
            fromValueInfo(vi).ifPresent(i -> t.infos.putIfAbsent(vi.getName(), i));
        }
        Map<String, Info> declared = new HashMap<>();
        for (ValueInfoProto vi : g.getValueInfoList()) {
            fromValueInfo(vi).ifPresent(i -> declared.put(vi.getName(), i));
        }
        for (ValueInfoProto vi : g.getOutputList()) {
            fromValueInfo(vi).ifPresent(i -> declared.putIfAbsent(vi.getName(), i));
        }
        for (NodeProto n : g.getNodeList()) {
            Info[] out = t.node(n);
            for (int k = 0; k < n.getOutputCount(); k++) {
                String name = n.getOutput(k);
                if (name.isEmpty()) continue;
                Info inferred = k < out.length && out[k] != null ? out[k] : Info.unknownRank(0);
                Info d = declared.get(name);
                if (d != null) {
                    int type = d.elemType() != 0 ? d.elemType() : inferred.elemType();
                    inferred = Info.of(type, d.dims() != null ? d.dims() : inferred.dims());
                }
                t.infos.put(name, inferred);
            }
        }
        return t;
    }

    static Optional<Info> fromValueInfo(ValueInfoProto vi) {
        if (!vi.hasType() || !vi.getType().hasTensorType()) return Optional.empty();
        TypeProto.Tensor tt = vi.getType().getTensorType();
        long[] dims = null;
        if (tt.hasShape()) {
            List<TensorShapeProto.Dimension> ds = tt.getShape().getDimList();
            dims = new long[ds.size()];
            for (int i = 0; i < dims.length; i++) {
                TensorShapeProto.Dimension d = ds.get(i);
                dims[i] = d.hasDimValue() && d.getDimValue() >= 0 ? d.getDimValue() : -1;
            }
        }
        return Optional.of(Info.of(tt.getElemType(), dims));
    }

    /** All known infos by tensor name. */
    public Map<String, Info> all() {
        return java.util.Collections.unmodifiableMap(infos);
    }

    public Info get(String tensor) {
        return infos.getOrDefault(tensor, Info.unknownRank(0));
    }

    public int elemType(String tensor) {
        return get(tensor).elemType();
    }

    public int rank(String tensor) {
        return get(tensor).rank();
    }

    private Info in(NodeProto n, int i) {
        return i < n.getInputCount() && !n.getInput(i).isEmpty() ? get(n.getInput(i)) : Info.unknownRank(0);
    }

    private Optional<long[]> constLongs(NodeProto n, int i) {
        if (i >= n.getInputCount()) return Optional.empty();
        TensorProto c = constants.get(n.getInput(i));
        if (c == null) return Optional.empty();
        try {
            return Optional.of(Tensors.toLongs(c));
        } catch (RuntimeException e) {
            return Optional.empty();
        }
    }

    private Optional<long[]> axes(NodeProto n) {
        Optional<long[]> a = Attributes.getInts(n, "axes");
        return a.isPresent() ? a : constLongs(n, 1);
    }

    private static int broadcastRank(Info... xs) {
        int r = 0;
        for (Info x : xs) {
            if (x.rank() < 0) return -1;
            r = Math.max(r, x.rank());
        }
        return r;
    }

    private Info[] node(NodeProto n) {
        String op = n.getOpType();
        boolean std = n.getDomain().isEmpty() || n.getDomain().equals("ai.onnx");
        Info x = in(n, 0);
        if (!std) {
            return new Info[] {Info.unknownRank(x.elemType())};
        }
        switch (op) {
            case "Constant": {
                for (AttributeProto a : n.getAttributeList()) {
                    switch (a.getName()) {
                        case "value": return new Info[] {Info.of(a.getT().getDataType(), Tensors.dims(a.getT()))};
                        case "value_float": return new Info[] {Info.of(DataTypes.FLOAT, new long[0])};
                        case "value_floats": return new Info[] {Info.of(DataTypes.FLOAT, new long[] {a.getFloatsCount()})};
                        case "value_int": return new Info[] {Info.of(DataTypes.INT64, new long[0])};
                        case "value_ints": return new Info[] {Info.of(DataTypes.INT64, new long[] {a.getIntsCount()})};
                        case "value_string": return new Info[] {Info.of(DataTypes.STRING, new long[0])};
                        case "value_strings": return new Info[] {Info.of(DataTypes.STRING, new long[] {a.getStringsCount()})};
                        default: break;
                    }
                }
                return new Info[] {Info.unknownRank(0)};
            }
            case "Shape": {
                long len = -1;
                if (x.rank() >= 0) {
                    long r = x.rank();
                    long start = Attributes.getInt(n, "start", 0);
                    long end = Attributes.getInt(n, "end", r);
                    if (start < 0) start += r;
                    if (end < 0) end += r;
                    len = Math.max(0, Math.min(end, r) - Math.max(start, 0));
                }
                return new Info[] {Info.of(DataTypes.INT64, new long[] {len})};
            }
            case "Size":
                return new Info[] {Info.of(DataTypes.INT64, new long[0])};
            case "Cast":
                return new Info[] {x.withType((int) Attributes.getInt(n, "to", 0))};
            case "CastLike":
                return new Info[] {x.withType(in(n, 1).elemType())};
            case "Equal": case "Less": case "Greater": case "LessOrEqual": case "GreaterOrEqual":
            case "And": case "Or": case "Xor":
                return new Info[] {Info.ofRank(DataTypes.BOOL, broadcastRank(x, in(n, 1)))};
            case "Not": case "IsNaN": case "IsInf":
                return new Info[] {x.withType(DataTypes.BOOL)};
            case "ArgMax": case "ArgMin": {
                int r = x.rank();
                boolean keep = Attributes.getInt(n, "keepdims", 1) != 0;
                return new Info[] {Info.ofRank(DataTypes.INT64, r < 0 ? -1 : keep ? r : r - 1)};
            }
            case "NonZero":
                return new Info[] {Info.ofRank(DataTypes.INT64, 2)};
            case "TopK":
                return new Info[] {Info.ofRank(x.elemType(), x.rank()), Info.ofRank(DataTypes.INT64, x.rank())};
            case "MaxPool":
                return new Info[] {Info.ofRank(x.elemType(), x.rank()), Info.ofRank(DataTypes.INT64, x.rank())};
            case "Dropout":
                return new Info[] {x, x.withType(DataTypes.BOOL)};
            case "Unique":
                return new Info[] {Info.unknownRank(x.elemType()), Info.ofRank(DataTypes.INT64, 1),
                    Info.ofRank(DataTypes.INT64, 1), Info.ofRank(DataTypes.INT64, 1)};
            case "QuantizeLinear": {
                int t = n.getInputCount() > 2 && !n.getInput(2).isEmpty() ? in(n, 2).elemType() : DataTypes.UINT8;
                return new Info[] {x.withType(t)};
            }
            case "DequantizeLinear":
                return new Info[] {x.withType(in(n, 1).elemType() != 0 ? in(n, 1).elemType() : DataTypes.FLOAT)};
            case "DynamicQuantizeLinear":
                return new Info[] {x.withType(DataTypes.UINT8), Info.of(DataTypes.FLOAT, new long[0]),
                    Info.of(DataTypes.UINT8, new long[0])};
            case "ConstantOfShape": {
                int t = Attributes.find(n, "value").map(a -> a.getT().getDataType()).orElse(DataTypes.FLOAT);
                long len = x.rank() == 1 ? x.dims()[0] : -1;
                return new Info[] {Info.ofRank(t, (int) len)};
            }
            case "Range":
                return new Info[] {Info.ofRank(x.elemType(), 1)};
            case "Where":
                return new Info[] {Info.ofRank(in(n, 1).elemType(), broadcastRank(x, in(n, 1), in(n, 2)))};
            case "Gather": {
                Info idx = in(n, 1);
                int r = x.rank() < 0 || idx.rank() < 0 ? -1 : x.rank() + idx.rank() - 1;
                return new Info[] {Info.ofRank(x.elemType(), r)};
            }
            case "GatherElements":
                return new Info[] {Info.ofRank(x.elemType(), in(n, 1).rank())};
            case "OneHot": {
                int r = x.rank() < 0 ? -1 : x.rank() + 1;
                return new Info[] {Info.ofRank(in(n, 2).elemType(), r)};
            }
            case "EyeLike":
                return new Info[] {x.withType((int) Attributes.getInt(n, "dtype", x.elemType()))};
            case "RandomNormal": case "RandomUniform": {
                int r = Attributes.getInts(n, "shape").map(s -> s.length).orElse(-1);
                return new Info[] {Info.ofRank((int) Attributes.getInt(n, "dtype", DataTypes.FLOAT), r)};
            }
            case "RandomNormalLike": case "RandomUniformLike":
                return new Info[] {x.withType((int) Attributes.getInt(n, "dtype", x.elemType()))};
            case "Multinomial":
                return new Info[] {Info.ofRank((int) Attributes.getInt(n, "dtype", DataTypes.INT32), 2)};
            case "Concat": {
                if (x.rank() == 1) {
                    long sum = 0;
                    for (int i = 0; i < n.getInputCount(); i++) {
                        Info xi = in(n, i);
                        if (xi.rank() != 1 || xi.dims()[0] < 0) { sum = -1; break; }
                        sum += xi.dims()[0];
                    }
                    return new Info[] {Info.of(x.elemType(), new long[] {sum})};
                }
                int r = x.rank();
                for (int i = 1; r < 0 && i < n.getInputCount(); i++) r = in(n, i).rank();
                return new Info[] {Info.ofRank(x.elemType(), r)};
            }
            case "Reshape": {
                Info s = in(n, 1);
                Optional<long[]> c = constLongs(n, 1);
                if (c.isPresent()) return new Info[] {Info.of(x.elemType(), c.get().clone())};
                return new Info[] {Info.ofRank(x.elemType(), s.rank() == 1 ? (int) s.dims()[0] : -1)};
            }
            case "Flatten":
                return new Info[] {Info.ofRank(x.elemType(), 2)};
            case "Squeeze": {
                Optional<long[]> a = axes(n);
                int r = x.rank() >= 0 && a.isPresent() ? x.rank() - a.get().length : -1;
                if (x.rank() >= 0 && a.isEmpty() && x.dims() != null
                        && Arrays.stream(x.dims()).allMatch(d -> d >= 0)) {
                    r = (int) Arrays.stream(x.dims()).filter(d -> d != 1).count();
                }
                return new Info[] {Info.ofRank(x.elemType(), r)};
            }
            case "Unsqueeze": {
                Optional<long[]> a = axes(n);
                int r = x.rank() >= 0 && a.isPresent() ? x.rank() + a.get().length : -1;
                return new Info[] {Info.ofRank(x.elemType(), r)};
            }
            case "ReduceMean": case "ReduceSum": case "ReduceMax": case "ReduceMin": case "ReduceProd":
            case "ReduceL1": case "ReduceL2": case "ReduceLogSum": case "ReduceLogSumExp": case "ReduceSumSquare": {
                boolean keep = Attributes.getInt(n, "keepdims", 1) != 0;
                if (keep) return new Info[] {Info.ofRank(x.elemType(), x.rank())};
                Optional<long[]> a = axes(n);
                int r = x.rank() < 0 ? -1 : a.isPresent() && a.get().length > 0 ? x.rank() - a.get().length : 0;
                return new Info[] {Info.ofRank(x.elemType(), r)};
            }
            case "MatMul": case "MatMulInteger": {
                Info b = in(n, 1);
                int r = -1;
                if (x.rank() >= 0 && b.rank() >= 0) {
                    r = Math.max(x.rank(), b.rank());
                    if (x.rank() == 1 || b.rank() == 1) r = Math.max(x.rank(), b.rank()) - 1;
                }
                int t = op.equals("MatMul") ? x.elemType() : DataTypes.INT32;
                return new Info[] {Info.ofRank(t, r)};
            }
            case "Gemm":
                return new Info[] {Info.ofRank(x.elemType(), 2)};
            case "Slice": {
                if (x.rank() == 1 && x.dims()[0] >= 0) {
                    Optional<long[]> starts = n.getInputCount() > 1 ? constLongs(n, 1) : Attributes.getInts(n, "starts");
                    Optional<long[]> ends = n.getInputCount() > 1 ? constLongs(n, 2) : Attributes.getInts(n, "ends");
                    Optional<long[]> steps = constLongs(n, 4);
                    if (starts.isPresent() && ends.isPresent() && starts.get().length == 1 && ends.get().length == 1
                            && (steps.isEmpty() || (steps.get().length == 1 && steps.get()[0] == 1))) {
                        long len = x.dims()[0];
                        long s = starts.get()[0], e = ends.get()[0];
                        if (s < 0) s += len;
                        if (e < 0) e += len;
                        s = Math.max(0, Math.min(s, len));
                        e = Math.max(0, Math.min(e, len));
                        return new Info[] {Info.of(x.elemType(), new long[] {Math.max(0, e - s)})};
                    }
                }
                return new Info[] {Info.ofRank(x.elemType(), x.rank())};
            }
            case "Expand": {
                Info s = in(n, 1);
                int r = x.rank() >= 0 && s.rank() == 1 && s.dims()[0] >= 0 ? (int) Math.max(x.rank(), s.dims()[0]) : -1;
                return new Info[] {Info.ofRank(x.elemType(), r)};
            }
            case "LSTM": case "GRU": case "RNN":
                return new Info[] {Info.ofRank(x.elemType(), 4), Info.ofRank(x.elemType(), 3),
                    Info.ofRank(x.elemType(), 3)};
            case "If": case "Loop": case "Scan": {
                Info[] out = new Info[n.getOutputCount()];
                for (AttributeProto a : n.getAttributeList()) {
                    if (a.hasG()) {
                        GraphProto body = a.getG();
                        int offset = op.equals("Loop") ? 1 : 0;
                        for (int k = 0; k < out.length; k++) {
                            int j = k + offset;
                            if (out[k] == null && j < body.getOutputCount()) {
                                out[k] = fromValueInfo(body.getOutput(j)).map(i -> i.rank() >= 0 && !op.equals("If")
                                        ? Info.unknownRank(i.elemType()) : i).orElse(null);
                            }
                        }
                    }
                }
                return out;
            }
            case "Split": {
                Info[] out = new Info[n.getOutputCount()];
                Arrays.fill(out, Info.ofRank(x.elemType(), x.rank()));
                return out;
            }
            case "Add": case "Sub": case "Mul": case "Div": case "Pow": case "Max": case "Min": case "Sum": case "Mean":
            case "PRelu": case "Mod": case "BitShift": {
                Info[] ins = new Info[n.getInputCount()];
                for (int i = 0; i < ins.length; i++) ins[i] = in(n, i);
                int t = x.elemType() != 0 ? x.elemType() : ins.length > 1 ? ins[1].elemType() : 0;
                return new Info[] {Info.ofRank(t, broadcastRank(ins))};
            }
            default: {
                // same type and rank as the first input: unary ops, Conv, pooling, normalisations, Resize, Pad, Clip,
                // Transpose, Tile, Identity, Softmax, ...
                Info[] out = new Info[Math.max(1, n.getOutputCount())];
                out[0] = Info.ofRank(x.elemType(), x.rank());
                for (int k = 1; k < out.length; k++) out[k] = Info.unknownRank(x.elemType());
                return out;
            }
        }
    }
}
