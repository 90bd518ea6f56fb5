package io.quantbridge.tflite;

import static org.tensorflow.lite.schema.BuiltinOperator.ADD;
import static org.tensorflow.lite.schema.BuiltinOperator.LEAKY_RELU;
import static org.tensorflow.lite.schema.BuiltinOperator.MAXIMUM;
import static org.tensorflow.lite.schema.BuiltinOperator.MINIMUM;
import static org.tensorflow.lite.schema.BuiltinOperator.PRELU;
import static org.tensorflow.lite.schema.BuiltinOperator.RELU;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.tensorflow.lite.schema.ActivationFunctionType;
import org.tensorflow.lite.schema.AddOptionsT;
import org.tensorflow.lite.schema.BuiltinOptions;
import org.tensorflow.lite.schema.LeakyReluOptionsT;
import org.tensorflow.lite.schema.MaximumMinimumOptionsT;
import org.tensorflow.lite.schema.OperatorT;
import org.tensorflow.lite.schema.SubGraphT;
import org.tensorflow.lite.schema.TensorT;
import org.tensorflow.lite.schema.TensorType;

/**
 * The Edge TPU rewrites of {@link GraphRewrites}: activations its compiler does not map, written with ops it maps
 * (SPEC section 7), exact in float. New tensors get calibrated ranges so that the int8 rewrite can quantize them.
 */
final class EdgeTpuRewrites {
    private EdgeTpuRewrites() { }

    static int splitLeakyRelu(TfliteModel m, Map<Integer, double[]> ranges, Predicate<OperatorT> keep) {
        SubGraphT g = m.main();
        List<OperatorT> out = new ArrayList<>();
        int n = 0;
        for (OperatorT op : g.getOperators()) {
            float alpha = op.getBuiltinOptions() != null
                    && op.getBuiltinOptions().getValue() instanceof LeakyReluOptionsT o ? o.getAlpha() : Float.NaN;
            if (m.builtinCode(op) != LEAKY_RELU || keep.test(op) || op.getInputs().length != 1
                    || op.getOutputs().length != 1 || !(alpha >= 0 && alpha <= 1)) {
                out.add(op);
                continue;
            }
            int x = op.getInputs()[0];
            int y = op.getOutputs()[0];
            if (!calibratedActivation(m, ranges, x, y)) {
                out.add(op);
                continue;
            }
            TensorT xt = m.tensor(x);
            String name = m.tensor(y).getName();
            int at = m.addTensor(TfliteModel.newTensor(name + "/alpha", TensorType.FLOAT32, new int[0], null,
                    m.addBuffer(TfliteModel.floatBytes(new float[] {alpha})), null));
            int scaled = m.addTensor(TfliteModel.newTensor(name + "/alpha_x", TensorType.FLOAT32, xt.getShape(),
                    xt.getShapeSignature(), 0, null));
            // MAXIMUM's inputs and output share one set of int8 parameters: x's
            ranges.put(scaled, ranges.get(x).clone());
            ranges.put(y, ranges.get(x).clone());

            OperatorT max = GraphRewrites.builtin(m, MAXIMUM, BuiltinOptions.MaximumMinimumOptions,
                    new MaximumMinimumOptionsT(), new int[] {x, scaled}, y);
            out.add(GraphRewrites.mul(m, x, at, scaled));
            out.add(max);
            n++;
        }
        if (n > 0) g.setOperators(out.toArray(new OperatorT[0]));
        return n;
    }

    /**
     * PRELU(x; alpha) = RELU(x) + MUL(MINIMUM(x, 0), alpha), for any alpha (MediaPipe's per-channel alphas reach -4.5
     * and 12, so the MAXIMUM form of LEAKY_RELU does not apply): four ops the Edge TPU maps, where PRELU would stop
     * its compiler. Int8 parameters: MINIMUM shares x's; RELU takes [0, max x]; the MUL output the range that x's
     * negative part times the alphas can reach; the ADD output PRELU's calibrated output range. Only where alpha is a
     * float constant and x and the output were calibrated.
     */
    static int splitPrelu(TfliteModel m, Map<Integer, double[]> ranges, Predicate<OperatorT> keep) {
        SubGraphT g = m.main();
        List<OperatorT> out = new ArrayList<>();
        int n = 0;
        for (OperatorT op : g.getOperators()) {
            int[] ins = op.getInputs();
            if (m.builtinCode(op) != PRELU || keep.test(op) || ins.length != 2 || op.getOutputs().length != 1
                    || ins[1] < 0 || !m.isConstant(ins[1]) || m.tensor(ins[1]).getType() != TensorType.FLOAT32) {
                out.add(op);
                continue;
            }
            int x = ins[0];
            int y = op.getOutputs()[0];
            if (!calibratedActivation(m, ranges, x, y)) {
                out.add(op);
                continue;
            }
            TensorT xt = m.tensor(x);
            float[] alpha = m.floats(ins[1]);
            double aMin = 0;
            double aMax = 0;
            for (float a : alpha) {
                aMin = Math.min(aMin, a);
                aMax = Math.max(aMax, a);
            }
            double[] rx = ranges.get(x);
            double neg = Math.min(rx[0], 0);
            String name = m.tensor(y).getName();
            int zero = m.addTensor(TfliteModel.newTensor(name + "/zero", TensorType.FLOAT32, new int[0], null,
                    m.addBuffer(TfliteModel.floatBytes(new float[] {0f})), null));
            int relu = m.addTensor(TfliteModel.newTensor(name + "/relu", TensorType.FLOAT32, xt.getShape(),
                    xt.getShapeSignature(), 0, null));
            int min = m.addTensor(TfliteModel.newTensor(name + "/negative", TensorType.FLOAT32, xt.getShape(),
                    xt.getShapeSignature(), 0, null));
            int scaled = m.addTensor(TfliteModel.newTensor(name + "/alpha_negative", TensorType.FLOAT32,
                    xt.getShape(), xt.getShapeSignature(), 0, null));
            ranges.put(relu, new double[] {0, Math.max(rx[1], 0)});
            ranges.put(min, rx.clone());
            ranges.put(scaled, new double[] {neg * aMax, neg * aMin});

            OperatorT r = new OperatorT();
            r.setOpcodeIndex(m.opCodeIndex(RELU, 1));
            r.setInputs(new int[] {x});
            r.setOutputs(new int[] {relu});
            out.add(r);
            out.add(GraphRewrites.builtin(m, MINIMUM, BuiltinOptions.MaximumMinimumOptions, new MaximumMinimumOptionsT(),
                    new int[] {x, zero}, min));
            out.add(GraphRewrites.mul(m, min, ins[1], scaled));
            AddOptionsT ao = new AddOptionsT();
            ao.setFusedActivationFunction(ActivationFunctionType.NONE);
            out.add(GraphRewrites.builtin(m, ADD, BuiltinOptions.AddOptions, ao, new int[] {relu, scaled}, y));
            n++;
        }
        if (n > 0) g.setOperators(out.toArray(new OperatorT[0]));
        return n;
    }

    /** Whether {@code x} is a float32 activation and both it and {@code y} have calibrated ranges. */
    private static boolean calibratedActivation(TfliteModel m, Map<Integer, double[]> ranges, int x, int y) {
        return m.tensor(x).getType() == TensorType.FLOAT32 && !m.isConstant(x) && ranges.containsKey(x)
                && ranges.containsKey(y);
    }
}
