package io.quantbridge.tflite;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.backend.Progress;
import io.quantbridge.calib.CalibrationMethod;
import io.quantbridge.calib.CalibratorSpec;
import io.quantbridge.data.Layout;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.data.SampleRef;
import io.quantbridge.data.SampleSource;
import io.quantbridge.tensor.FloatTensor;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.tensorflow.lite.schema.ActivationFunctionType;
import org.tensorflow.lite.schema.BuiltinOperator;
import org.tensorflow.lite.schema.Conv2DOptionsT;
import org.tensorflow.lite.schema.DepthwiseConv2DOptionsT;
import org.tensorflow.lite.schema.OperatorT;

/**
 * GPTQ's patches must be exactly what the conv multiplies: on blazeface (5x5 stride-2 CONV_2D with SAME padding,
 * 3x3 stride-2 depthwise convs), {@code act(w . patch + b)} at every sampled position equals the interpreter's output.
 */
class TfliteGptqTest {
    private static final Preprocessing PRE = Preprocessing.builder().scale(1 / 127.5).mean(1, 1, 1).std(1, 1, 1)
            .layout(Layout.NHWC).build();

    @Test
    void patchesReproduceTheInterpretersConvOutputs() {
        TfliteModel m = TfliteModel.load(RealData.model("blazeface-tflite", "face_detection_short_range.tflite"));
        m.dequantizeFloat16Weights();
        TfliteGptq.Plan plan = TfliteGptq.plan(m);
        assertEquals(Map.of(), plan.skipped());
        TfliteGptq.Op conv = null;
        TfliteGptq.Op depthwise = null;
        for (TfliteGptq.Op o : plan.ops()) {
            if (o.code() == BuiltinOperator.CONV_2D && o.kh() == 5 && o.strideH() == 2 && conv == null) conv = o;
            if (o.code() == BuiltinOperator.DEPTHWISE_CONV_2D && o.strideH() == 2 && depthwise == null) depthwise = o;
        }
        assertNotNull(conv, "blazeface has a 5x5 stride-2 conv");
        assertNotNull(depthwise, "blazeface has a stride-2 depthwise conv");
        assertEquals(5 * 5 * 3, conv.patch());
        assertEquals(9, depthwise.patch());

        SampleRef photo = SampleSource.discover(RealData.data("opencv")).samples().get(0);
        Map<String, FloatTensor> feed = SampleSource.load(photo, m.inputs(), PRE);
        try (TfliteSession s = TfliteSession.open(m.toBytes(), "blazeface", new TfliteSession.Options(1, false, true))) {
            s.run(feed);
            for (TfliteGptq.Op o : List.of(conv, depthwise)) assertPatchesGiveTheOutput(m, s, o);
        }
    }

    private static void assertPatchesGiveTheOutput(TfliteModel m, TfliteSession s, TfliteGptq.Op o) {
        OperatorT op = m.operators().get(o.index());
        float[] in = s.tensorAsFloat(o.input());
        float[] out = s.tensorAsFloat(op.getOutputs()[0]);
        float[] w = m.floats(o.weight());
        float[] b = m.floats(op.getInputs()[2]);
        boolean dw = o.code() == BuiltinOperator.DEPTHWISE_CONV_2D;
        Object opts = op.getBuiltinOptions().getValue();
        byte act = opts instanceof Conv2DOptionsT c ? c.getFusedActivationFunction()
                : ((DepthwiseConv2DOptionsT) opts).getFusedActivationFunction();
        assertEquals(o.oh() * o.ow() * o.outs(), out.length, "output size of op #" + o.index());
        double[] x = new double[o.patch()];
        double worst = 0;
        int checked = 0;
        // every position on the border (where padding matters) and a diagonal through the inside
        for (int oy = 0; oy < o.oh(); oy++) {
            for (int ox = 0; ox < o.ow(); ox++) {
                boolean border = oy == 0 || ox == 0 || oy == o.oh() - 1 || ox == o.ow() - 1;
                if (!border && oy != ox) continue;
                for (int co = 0; co < o.outs(); co++) {
                    double v;
                    if (dw) {
                        TfliteGptq.patch(o, in, oy, ox, co / o.mult(), 1, x);
                        v = b[co];
                        for (int t = 0; t < o.patch(); t++) v += w[t * o.outs() + co] * x[t];
                    } else {
                        TfliteGptq.patch(o, in, oy, ox, 0, o.c(), x);
                        v = b[co];
                        for (int t = 0; t < o.patch(); t++) v += w[co * o.patch() + t] * x[t];
                    }
                    if (act == ActivationFunctionType.RELU) v = Math.max(0, v);
                    else if (act == ActivationFunctionType.RELU6) v = Math.min(6, Math.max(0, v));
                    else assertEquals(ActivationFunctionType.NONE, act);
                    double got = out[(oy * o.ow() + ox) * o.outs() + co];
                    worst = Math.max(worst, Math.abs(got - v) / (1 + Math.abs(v)));
                    checked++;
                }
            }
        }
        assertTrue(checked > 1000, "checked " + checked);
        assertTrue(worst < 1e-4, "op #" + o.index() + ": w . patch + b differs from the interpreter by " + worst);
    }

    @Test
    void statisticsDoNotDependOnTheWorkerCount() {
        TfliteModel m = TfliteModel.load(RealData.model("blazeface-tflite", "face_detection_short_range.tflite"));
        m.dequantizeFloat16Weights();
        List<SampleRef> photos = SampleSource.discover(RealData.data("opencv")).samples().subList(0, 4);
        List<List<TfliteGptq.Rounded>> runs = new java.util.ArrayList<>();
        for (int workers : new int[] {1, 2}) {
            TfliteGptq.Plan plan = TfliteGptq.plan(m, Set.of(BuiltinOperator.CONV_2D));
            TfliteObserver obs = new TfliteObserver(m, CalibratorSpec.of(CalibrationMethod.MAX), workers);
            TfliteObserver.Observation seen = obs.observe(photos.size(),
                    i -> SampleSource.load(photos.get(i), m.inputs(), PRE), Progress.NONE, Set.of(),
                    new TfliteObserver.GptqRequest(plan, 1, Set.of(0, 1, 2, 3)));
            runs.add(TfliteGptq.round(m, seen.gptq(), TfliteGptq.DAMP));
        }
        assertEquals(runs.get(0).size(), runs.get(1).size());
        int differ = 0;
        double nearest = 0;
        double gptq = 0;
        for (int k = 0; k < runs.get(0).size(); k++) {
            TfliteGptq.Rounded a = runs.get(0).get(k);
            TfliteGptq.Rounded c = runs.get(1).get(k);
            // sums added in another order may move a code that sits on a rounding boundary, nothing more
            for (int i = 0; i < a.weights().data().length; i++) if (a.weights().data()[i] != c.weights().data()[i]) differ++;
            nearest += a.nearestError();
            gptq += a.gptqError();
        }
        assertTrue(differ <= 2, differ + " codes differ between 1 and 2 workers");
        assertTrue(gptq < 0.5 * nearest, "gptq output error " + gptq + " against nearest " + nearest);
    }
}
