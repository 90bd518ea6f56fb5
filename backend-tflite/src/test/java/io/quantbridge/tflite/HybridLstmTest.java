package io.quantbridge.tflite;

import static io.quantbridge.tflite.TfliteControlFlowTest.in;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.backend.Progress;
import io.quantbridge.request.Precision;
import io.quantbridge.request.QuantizationRequest;
import io.quantbridge.request.QuantizationResult;
import io.quantbridge.tensor.FloatTensor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.lite.schema.ActivationFunctionType;
import org.tensorflow.lite.schema.BuiltinOperator;
import org.tensorflow.lite.schema.BuiltinOptions;
import org.tensorflow.lite.schema.OperatorT;
import org.tensorflow.lite.schema.SubGraphT;
import org.tensorflow.lite.schema.TensorT;
import org.tensorflow.lite.schema.TensorType;
import org.tensorflow.lite.schema.UnidirectionalSequenceLSTMOptionsT;

/**
 * Dynamic range on TFLite's fused LSTM (UNIDIRECTIONAL_SEQUENCE_LSTM, what TensorFlow's converter writes for a tf_keras
 * LSTM layer): its eight weight matrices become int8 per tensor and the op runs in TFLite's hybrid kernel, as
 * TensorFlow's own dynamic-range converter writes it (version 3, {@code asymmetric_quantize_inputs}). The op was left
 * float, so a keyword-spotting LSTM's weights, most of its file, stayed float32.
 */
class HybridLstmTest {
    @TempDir
    Path tmp;

    private static final int STEPS = 6;
    private static final int FEATURES = 4;
    private static final int UNITS = 8;

    /** x [1, 6, 4] -> LSTM(8) -> FULLY_CONNECTED [1, 6, 3]; with peepholes when asked. */
    static byte[] lstmModel(boolean peephole) {
        TfliteModel m = TfliteControlFlowTest.emptyModel("lstm");
        TfliteControlFlowTest.Sub main = new TfliteControlFlowTest.Sub(m, "main", 7);
        int x = main.act("x", TensorType.FLOAT32, 1, STEPS, FEATURES);
        int[] ins = new int[24];
        Arrays.fill(ins, -1);
        ins[0] = x;
        String[] gates = {"input", "forget", "cell", "output"};
        for (int k = 0; k < 4; k++) {
            ins[1 + k] = main.weights("lstm/input_to_" + gates[k], 0.4f, UNITS, FEATURES);
            ins[5 + k] = main.weights("lstm/recurrent_to_" + gates[k], 0.3f, UNITS, UNITS);
            ins[12 + k] = main.weights("lstm/" + gates[k] + "_bias", 0.1f, UNITS);
        }
        if (peephole) {
            for (int k = 0; k < 3; k++) ins[9 + k] = main.weights("lstm/cell_to_" + gates[k == 2 ? 3 : k], 0.2f, UNITS);
        }
        for (int k = 0; k < 2; k++) {
            ins[18 + k] = main.act(k == 0 ? "lstm/output_state" : "lstm/cell_state", TensorType.FLOAT32, 1, UNITS);
            main.tensors.get(ins[18 + k]).setIsVariable(true);
        }
        int h = main.act("lstm", TensorType.FLOAT32, 1, STEPS, UNITS);
        UnidirectionalSequenceLSTMOptionsT o = new UnidirectionalSequenceLSTMOptionsT();
        o.setFusedActivationFunction(ActivationFunctionType.TANH);
        o.setCellClip(10f);
        main.op(BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM, BuiltinOptions.UnidirectionalSequenceLSTMOptions, o, ins,
                h);
        int w = main.weights("head/w", 0.4f, 3, UNITS);
        int b = main.weights("head/b", 0.1f, 3);
        int z = main.act("z", TensorType.FLOAT32, 1, STEPS, 3);
        org.tensorflow.lite.schema.FullyConnectedOptionsT fo = new org.tensorflow.lite.schema.FullyConnectedOptionsT();
        fo.setKeepNumDims(true);
        main.op(BuiltinOperator.FULLY_CONNECTED, BuiltinOptions.FullyConnectedOptions, fo, in(h, w, b), z);
        m.raw().setSubgraphs(new SubGraphT[] {main.build(in(x), in(z))});
        return m.toBytes();
    }

    private static List<Map<String, FloatTensor>> samples(int count, long seed) {
        Random r = new Random(seed);
        List<Map<String, FloatTensor>> l = new ArrayList<>();
        for (int s = 0; s < count; s++) {
            float[] v = new float[STEPS * FEATURES];
            for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
            Map<String, FloatTensor> feed = new LinkedHashMap<>();
            feed.put("x", new FloatTensor(new long[] {1, STEPS, FEATURES}, v));
            l.add(feed);
        }
        return l;
    }

    private QuantizationResult dynamic(boolean peephole) {
        Path model = tmp.resolve(peephole ? "peephole.tflite" : "lstm.tflite");
        TfliteModel.parse(lstmModel(peephole), "lstm").save(model);
        return new TfliteBackend().quantize(QuantizationRequest.builder().model(model).precision(Precision.DYNAMIC)
                .evaluationSamples(samples(6, 2)).outputDir(tmp.resolve(peephole ? "p" : "d")).build(),
                Progress.NONE);
    }

    @Test
    void theLstmsWeightMatricesBecomeInt8PerTensorInTheHybridKernel() {
        QuantizationResult r = dynamic(false);
        TfliteModel q = TfliteModel.load(r.artifact("model").orElseThrow().path());
        OperatorT lstm = q.operators().get(0);
        assertEquals("UNIDIRECTIONAL_SEQUENCE_LSTM", q.opName(lstm));
        assertEquals(3, q.opCode(lstm).getVersion());
        assertTrue(((UnidirectionalSequenceLSTMOptionsT) lstm.getBuiltinOptions().getValue())
                .getAsymmetricQuantizeInputs());
        List<String> types = new ArrayList<>();
        for (int slot = 0; slot < 24; slot++) {
            int t = lstm.getInputs()[slot];
            if (t < 0) continue;
            TensorT tt = q.tensor(t);
            types.add(slot + ":" + TensorType.name(tt.getType()));
            if (tt.getType() == TensorType.INT8) {
                assertEquals(1, tt.getQuantization().getScale().length, tt.getName() + " scales");
                assertEquals(0L, tt.getQuantization().getZeroPoint()[0], tt.getName() + " zero point");
            }
        }
        assertEquals(List.of("0:FLOAT32", "1:INT8", "2:INT8", "3:INT8", "4:INT8", "5:INT8", "6:INT8", "7:INT8",
                "8:INT8", "12:FLOAT32", "13:FLOAT32", "14:FLOAT32", "15:FLOAT32", "18:FLOAT32", "19:FLOAT32"), types);
        // the float matrices are gone from the file
        for (TensorT t : q.main().getTensors()) {
            assertTrue(!t.getName().contains("_to_") || t.getType() == TensorType.INT8, t.getName());
        }
        List<?> hybrid = (List<?>) ((Map<?, ?>) r.report().get("dynamic_range")).get("hybrid");
        assertEquals(2, hybrid.size());
        assertEquals("lstm/input_to_input, lstm/input_to_forget, lstm/input_to_cell, lstm/input_to_output,"
                + " lstm/recurrent_to_input, lstm/recurrent_to_forget, lstm/recurrent_to_cell,"
                + " lstm/recurrent_to_output", ((Map<?, ?>) hybrid.get(0)).get("weights"));
        double c = r.fidelity().get("z").cosine();
        assertTrue(c > 0.999 && c < 1, "cosine " + c);
    }

    @Test
    void aPeepholeLstmStaysFloatAndSaysWhy() {
        QuantizationResult r = dynamic(true);
        TfliteModel q = TfliteModel.load(r.artifact("model").orElseThrow().path());
        OperatorT lstm = q.operators().get(0);
        assertEquals(1, q.opCode(lstm).getVersion());
        assertEquals(TensorType.FLOAT32, q.tensor(lstm.getInputs()[4]).getType());
        List<?> kept = (List<?>) ((Map<?, ?>) r.report().get("dynamic_range")).get("float_weighted_ops");
        assertEquals(List.of(Map.of("op", "#0 UNIDIRECTIONAL_SEQUENCE_LSTM (lstm)", "reason",
                "peephole or layer-norm LSTM (input 9): not made hybrid by this tool")), kept);
        assertEquals(1, ((List<?>) ((Map<?, ?>) r.report().get("dynamic_range")).get("hybrid")).size());
        assertTrue(r.fidelity().get("z").cosine() > 0.999, r.fidelity().toString());
    }
}
