package io.quantbridge.onnx;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.quantbridge.table.TensorRange;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/** Test helper: runs models with ONNX Runtime (CPU) and compares outputs. */
final class Ort {
    private Ort() { }

    /** A float input: values and shape. */
    record Input(float[] data, long[] shape) { }

    static OrtSession session(OnnxModel model, boolean optimize) throws OrtException {
        return session(model, optimize, false);
    }

    /**
     * With {@code asWritten}, Q/DQ pairs are not fused into ONNX Runtime's integer kernels (which saturate with
     * full-range weights on x86 CPUs without VNNI): the model computes what it says, on any CPU.
     */
    static OrtSession session(OnnxModel model, boolean optimize, boolean asWritten) throws OrtException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions so = new OrtSession.SessionOptions()) {
            if (asWritten) so.addConfigEntry("session.disable_quant_qdq", "1");
            so.setIntraOpNumThreads(2);
            so.setInterOpNumThreads(1);
            so.setOptimizationLevel(optimize ? OrtSession.SessionOptions.OptLevel.ALL_OPT
                    : OrtSession.SessionOptions.OptLevel.NO_OPT);
            return env.createSession(model.toBytes(), so);
        }
    }

    static Map<String, float[]> run(OnnxModel model, Map<String, Input> inputs) throws OrtException {
        try (OrtSession s = session(model, true)) {
            return run(s, inputs);
        }
    }

    /** {@link #run(OnnxModel, Map)} as written: Q/DQ pairs not fused ({@link #session(OnnxModel, boolean, boolean)}). */
    static Map<String, float[]> runAsWritten(OnnxModel model, Map<String, Input> inputs) throws OrtException {
        try (OrtSession s = session(model, true, true)) {
            return run(s, inputs);
        }
    }

    static Map<String, float[]> run(OrtSession s, Map<String, Input> inputs) throws OrtException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        Map<String, OnnxTensor> in = new HashMap<>();
        try {
            for (Map.Entry<String, Input> e : inputs.entrySet()) {
                in.put(e.getKey(), OnnxTensor.createTensor(env, FloatBuffer.wrap(e.getValue().data()), e.getValue().shape()));
            }
            Map<String, float[]> out = new LinkedHashMap<>();
            try (OrtSession.Result r = s.run(in)) {
                for (Map.Entry<String, OnnxValue> e : r) {
                    OnnxTensor t = (OnnxTensor) e.getValue();
                    FloatBuffer fb = t.getFloatBuffer();
                    float[] f = new float[fb.remaining()];
                    fb.get(f);
                    out.put(e.getKey(), f);
                }
            }
            return out;
        } finally {
            for (OnnxTensor t : in.values()) t.close();
        }
    }

    static Input random(long seed, long... shape) {
        Random r = new Random(seed);
        int n = 1;
        for (long d : shape) n *= (int) d;
        float[] f = new float[n];
        for (int i = 0; i < n; i++) f[i] = r.nextFloat() * 2 - 1;
        return new Input(f, shape);
    }

    /** Max-abs ranges of the given tensors over the inputs (a simple calibration for tests). */
    static Map<String, TensorRange> maxAbsRanges(OnnxModel model, Collection<String> tensors, List<Map<String, Input>> batches)
            throws OrtException {
        OnnxModel observed = model.withOutputs(tensors);
        Map<String, double[]> mm = new LinkedHashMap<>();
        try (OrtSession s = session(observed, false)) {
            for (Map<String, Input> b : batches) {
                Map<String, float[]> out = run(s, b);
                for (String t : tensors) {
                    float[] v = out.containsKey(t) ? out.get(t) : b.get(t).data();
                    double[] a = mm.computeIfAbsent(t, k -> new double[] {Double.MAX_VALUE, -Double.MAX_VALUE});
                    for (float x : v) {
                        a[0] = Math.min(a[0], x);
                        a[1] = Math.max(a[1], x);
                    }
                }
            }
        }
        Map<String, TensorRange> m = new LinkedHashMap<>();
        mm.forEach((t, a) -> m.put(t, TensorRange.symmetric(t, Math.max(Math.abs(a[0]), Math.abs(a[1])), a[0], a[1])));
        return m;
    }

    static double cosine(float[] a, float[] b) {
        if (a.length != b.length) throw new IllegalArgumentException(a.length + " vs " + b.length);
        double ab = 0, aa = 0, bb = 0;
        for (int i = 0; i < a.length; i++) {
            ab += (double) a[i] * b[i];
            aa += (double) a[i] * a[i];
            bb += (double) b[i] * b[i];
        }
        return ab / Math.sqrt(aa * bb);
    }

    static double maxAbsDiff(float[] a, float[] b) {
        if (a.length != b.length) throw new IllegalArgumentException(a.length + " vs " + b.length);
        double m = 0;
        for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs((double) a[i] - b[i]));
        return m;
    }
}
