package io.quantbridge.bench;

import io.quantbridge.backend.Progress;
import io.quantbridge.calib.CalibrationMethod;
import io.quantbridge.calib.CalibratorSpec;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.QdqOptions;
import io.quantbridge.onnx.QdqPlan;
import io.quantbridge.onnx.QdqQuantizer;
import io.quantbridge.onnx.backend.Sensitivity;
import io.quantbridge.onnx.proto.Onnx;
import io.quantbridge.table.TensorRange;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

/** Experiment (not a test): where the int8 error of ppocr-det comes from. */
public final class DetErrorAnalysis {
    public static void main(String[] args) throws Exception {
        DetExperiment x = new DetExperiment();
        QdqOptions opts = DetExperiment.OPTIONS;
        CalibratorSpec mse = CalibratorSpec.of(CalibrationMethod.MSE);
        OnnxModel cond = x.conditioned(mse);
        try (Sensitivity s = x.sensitivity(cond)) {
            s.observe(x.calib, mse, Progress.NONE);
            Map<String, TensorRange> ranges = s.ranges(mse);
            QdqPlan plan = s.fullPlan();
            OnnxModel full = QdqQuantizer.apply(plan, ranges).model();
            System.out.println(s.evaluate("full", full));
            System.out.println(s.evaluate("weights only", strip(full, t -> !isInit(full, t))));
            OnnxModel floatW = QdqQuantizer.apply(QdqQuantizer.plan(cond, opts.withInt8Weights(false)), ranges).model();
            System.out.println(s.evaluate("activations only", strip(floatW, t -> isInit(floatW, t))));
            if (args.length > 0 && args[0].equals("each")) {
                // leave-one-in: one activation tensor quantized alone (weights float)
                List<String> acts = new ArrayList<>();
                for (Onnx.NodeProto n : floatW.nodes()) {
                    if (n.getOpType().equals("QuantizeLinear") && !isInit(floatW, n.getInput(0))) acts.add(n.getInput(0));
                }
                List<Sensitivity.Result> res = new ArrayList<>();
                for (String a : acts) {
                    res.add(s.evaluate("only " + a + " amax=" + ranges.get(a).amax(),
                            strip(floatW, t -> isInit(floatW, t) || !t.equals(a))));
                }
                res.sort((p, q) -> Double.compare(p.cosine(), q.cosine()));
                for (Sensitivity.Result r : res) System.out.println(r);
            }
        }
    }

    static boolean isInit(OnnxModel m, String t) {
        return m.initializers().containsKey(t);
    }

    /** Removes QuantizeLinear/DequantizeLinear pairs whose quantized tensor matches. */
    static OnnxModel strip(OnnxModel m, Predicate<String> which) {
        Onnx.GraphProto g = m.graph();
        Map<String, Onnx.NodeProto> byOutput = new HashMap<>();
        for (Onnx.NodeProto n : g.getNodeList()) for (String out : n.getOutputList()) byOutput.put(out, n);
        Map<String, String> rename = new HashMap<>();
        Set<Onnx.NodeProto> drop = new java.util.HashSet<>();
        for (Onnx.NodeProto d : g.getNodeList()) {
            if (!d.getOpType().equals("DequantizeLinear")) continue;
            Onnx.NodeProto q = byOutput.get(d.getInput(0));
            if (q == null || !q.getOpType().equals("QuantizeLinear")) continue;
            if (!which.test(q.getInput(0))) continue;
            rename.put(d.getOutput(0), q.getInput(0));
            drop.add(d);
        }
        Onnx.GraphProto.Builder gb = g.toBuilder().clearNode();
        Set<String> stillUsed = new java.util.HashSet<>();
        List<Onnx.NodeProto> kept = new ArrayList<>();
        for (Onnx.NodeProto n : g.getNodeList()) {
            if (drop.contains(n)) continue;
            Onnx.NodeProto.Builder nb = n.toBuilder();
            for (int i = 0; i < nb.getInputCount(); i++) {
                String r = rename.get(nb.getInput(i));
                if (r != null) nb.setInput(i, r);
            }
            kept.add(nb.build());
            stillUsed.addAll(nb.getInputList());
        }
        for (Onnx.NodeProto n : kept) {
            if (n.getOpType().equals("QuantizeLinear") && !stillUsed.contains(n.getOutput(0))) continue;
            gb.addNode(n);
        }
        return m.withProto(m.proto().toBuilder().setGraph(gb).build());
    }
}
