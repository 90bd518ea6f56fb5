package io.quantbridge.onnx;

import io.quantbridge.onnx.proto.Onnx.AttributeProto;
import io.quantbridge.onnx.proto.Onnx.GraphProto;
import io.quantbridge.onnx.proto.Onnx.NodeProto;
import io.quantbridge.onnx.proto.Onnx.TensorProto;
import io.quantbridge.onnx.proto.Onnx.ValueInfoProto;
import java.util.HashSet;
import java.util.Set;

/** Deterministic fresh names: a base name, or the base with _1, _2 ... when the base is taken anywhere in the model. */
final class Names {
    private final Set<String> taken = new HashSet<>();

    static Names of(GraphProto g) {
        Names n = new Names();
        n.collect(g);
        return n;
    }

    private void collect(GraphProto g) {
        for (TensorProto t : g.getInitializerList()) taken.add(t.getName());
        for (ValueInfoProto v : g.getInputList()) taken.add(v.getName());
        for (ValueInfoProto v : g.getOutputList()) taken.add(v.getName());
        for (ValueInfoProto v : g.getValueInfoList()) taken.add(v.getName());
        for (NodeProto n : g.getNodeList()) {
            taken.add(n.getName());
            taken.addAll(n.getInputList());
            taken.addAll(n.getOutputList());
            for (AttributeProto a : n.getAttributeList()) {
                if (a.hasG()) collect(a.getG());
                for (GraphProto sg : a.getGraphsList()) collect(sg);
            }
        }
    }

    /** {@code base} if unused, else the first free {@code base_N}; the result is marked as taken. */
    String fresh(String base) {
        if (taken.add(base)) return base;
        for (int i = 1; ; i++) {
            String c = base + "_" + i;
            if (taken.add(c)) return c;
        }
    }

    boolean isTaken(String name) {
        return taken.contains(name);
    }
}
