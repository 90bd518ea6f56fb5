package io.quantbridge.onnx;

import com.google.protobuf.ByteString;
import io.quantbridge.onnx.proto.Onnx.AttributeProto;
import io.quantbridge.onnx.proto.Onnx.AttributeProto.AttributeType;
import io.quantbridge.onnx.proto.Onnx.NodeProto;
import io.quantbridge.onnx.proto.Onnx.TensorProto;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;

/** Reading and building node attributes. */
public final class Attributes {
    private Attributes() { }

    public static Optional<AttributeProto> find(NodeProto node, String name) {
        for (AttributeProto a : node.getAttributeList()) {
            if (a.getName().equals(name)) {
                return Optional.of(a);
            }
        }
        return Optional.empty();
    }

    public static boolean has(NodeProto node, String name) {
        return find(node, name).isPresent();
    }

    public static long getInt(NodeProto node, String name, long dflt) {
        return find(node, name).map(AttributeProto::getI).orElse(dflt);
    }

    public static float getFloat(NodeProto node, String name, float dflt) {
        return find(node, name).map(AttributeProto::getF).orElse(dflt);
    }

    public static String getString(NodeProto node, String name, String dflt) {
        return find(node, name).map(a -> a.getS().toString(StandardCharsets.UTF_8)).orElse(dflt);
    }

    public static Optional<long[]> getInts(NodeProto node, String name) {
        return find(node, name).map(a -> a.getIntsList().stream().mapToLong(Long::longValue).toArray());
    }

    public static Optional<float[]> getFloats(NodeProto node, String name) {
        return find(node, name).map(a -> {
            List<Float> l = a.getFloatsList();
            float[] f = new float[l.size()];
            for (int i = 0; i < f.length; i++) f[i] = l.get(i);
            return f;
        });
    }

    public static AttributeProto ofInt(String name, long v) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeType.INT).setI(v).build();
    }

    public static AttributeProto ofFloat(String name, float v) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeType.FLOAT).setF(v).build();
    }

    public static AttributeProto ofString(String name, String v) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeType.STRING)
                .setS(ByteString.copyFromUtf8(v)).build();
    }

    public static AttributeProto ofInts(String name, long... v) {
        AttributeProto.Builder b = AttributeProto.newBuilder().setName(name).setType(AttributeType.INTS);
        for (long x : v) b.addInts(x);
        return b.build();
    }

    public static AttributeProto ofTensor(String name, TensorProto t) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeType.TENSOR).setT(t).build();
    }

    /** {@code node} without the named attributes. */
    public static NodeProto without(NodeProto node, String... names) {
        NodeProto.Builder b = node.toBuilder().clearAttribute();
        outer:
        for (AttributeProto a : node.getAttributeList()) {
            for (String n : names) {
                if (a.getName().equals(n)) continue outer;
            }
            b.addAttribute(a);
        }
        return b.build();
    }

    /** {@code node} with attribute {@code a} added or replacing the one of the same name (keeping its position). */
    public static NodeProto with(NodeProto node, AttributeProto a) {
        NodeProto.Builder b = node.toBuilder();
        for (int i = 0; i < b.getAttributeCount(); i++) {
            if (b.getAttribute(i).getName().equals(a.getName())) {
                b.setAttribute(i, a);
                return b.build();
            }
        }
        return b.addAttribute(a).build();
    }

    /** True for attributes holding graphs (If/Loop/Scan bodies). */
    public static boolean isGraph(AttributeProto a) {
        return a.getType() == AttributeType.GRAPH || a.getType() == AttributeType.GRAPHS
                || a.hasG() || a.getGraphsCount() > 0;
    }
}
