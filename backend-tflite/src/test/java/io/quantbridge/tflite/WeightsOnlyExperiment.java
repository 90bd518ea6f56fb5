package io.quantbridge.tflite;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.quantbridge.backend.Progress;
import io.quantbridge.calib.CalibrationMethod;
import io.quantbridge.calib.CalibratorSpec;
import io.quantbridge.data.Layout;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.data.SampleRef;
import io.quantbridge.data.SampleSource;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.tensorflow.lite.schema.BuiltinOperator;
import org.tensorflow.lite.schema.OperatorT;

/**
 * Not a test: writes the float model with the weights of CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED replaced by
 * their int8 per-channel values dequantized (activations stay float), to separate the error of the weights from that
 * of the activations.
 *
 * <pre>
 * ./mvnw -B -o -pl backend-tflite test -Dtest=WeightsOnlyExperiment -Dqb.float=F.tflite -Dqb.out=W.tflite \
 *     [-Dqb.ops=CONV_2D,DEPTHWISE_CONV_2D,FULLY_CONNECTED] [-Dqb.gptq=PHOTOS]
 * </pre>
 */
class WeightsOnlyExperiment {
    @Test
    void write() {
        String f = System.getProperty("qb.float");
        assumeTrue(f != null, "set -Dqb.float and -Dqb.out");
        Set<String> ops = Set.of(System.getProperty("qb.ops", "CONV_2D,DEPTHWISE_CONV_2D,FULLY_CONNECTED")
                .split(","));
        TfliteModel m = TfliteModel.load(Path.of(f));
        m.dequantizeFloat16Weights();
        // with -Dqb.gptq=DIR: GPTQ codes from up to 48 photos of DIR (inputs in [0, 1], NHWC) instead of nearest
        Map<Integer, QuantizedWeights> gptq = new HashMap<>();
        if (System.getProperty("qb.gptq") != null) {
            List<SampleRef> refs = SampleSource.discover(Path.of(System.getProperty("qb.gptq"))).samples();
            Preprocessing pre = Preprocessing.builder().layout(Layout.NHWC).scale(1 / 255.0).build();
            TfliteGptq.Plan plan = TfliteGptq.plan(m);
            TfliteObserver obs = new TfliteObserver(m, CalibratorSpec.of(CalibrationMethod.MAX), 2);
            int count = Math.min(48, refs.size());
            TfliteObserver.Observation seen = obs.observe(count, i -> SampleSource.load(refs.get(i), m.inputs(), pre),
                    Progress.NONE, Set.of(), new TfliteObserver.GptqRequest(plan, 1,
                            TfliteQuantization.spread(count, count)));
            for (TfliteGptq.Rounded r : TfliteGptq.round(m, seen.gptq(), TfliteGptq.DAMP)) {
                gptq.put(r.op().weight(), r.weights());
                System.out.printf("op %d %s patch %d err nearest %.4g gptq %.4g%n", r.op().index(),
                        TfliteModel.builtinName(r.op().code()), r.op().patch(), r.nearestError(), r.gptqError());
            }
        }
        int n = 0;
        for (OperatorT op : m.operators()) {
            int code = m.builtinCode(op);
            if (!ops.contains(TfliteModel.builtinName(code))) continue;
            int axis = code == BuiltinOperator.DEPTHWISE_CONV_2D ? 3 : 0;
            int w = op.getInputs()[1];
            if (!m.isConstant(w)) continue;
            float[] v = m.floats(w);
            int[] shape = m.tensor(w).getShape();
            QuantizedWeights q = gptq.containsKey(w) ? gptq.get(w) : QuantizedWeights.symmetric(v, shape, true, axis);
            int inner = 1;
            for (int d = axis + 1; d < shape.length; d++) inner *= shape[d];
            float[] dq = new float[v.length];
            for (int i = 0; i < v.length; i++) dq[i] = q.data()[i] * q.scales()[(i / inner) % shape[axis]];
            m.tensor(w).setBuffer(m.addBuffer(TfliteModel.floatBytes(dq)));
            n++;
        }
        m.compact();
        m.save(Path.of(System.getProperty("qb.out")));
        System.out.println("fake-quantized weights of " + n + " ops");
    }
}
