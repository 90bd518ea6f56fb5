package io.quantbridge.tflite;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.flatbuffers.FlatBufferBuilder;
import io.quantbridge.request.Precision;
import io.quantbridge.QuantbridgeException;
import io.quantbridge.request.QuantizationRequest;
import io.quantbridge.request.QuantizationResult;
import io.quantbridge.backend.Progress;
import io.quantbridge.tensor.FloatTensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.lite.schema.BufferT;
import org.tensorflow.lite.schema.BuiltinOperator;
import org.tensorflow.lite.schema.BuiltinOptions;
import org.tensorflow.lite.schema.BuiltinOptionsUnion;
import org.tensorflow.lite.schema.Conv2DOptionsT;
import org.tensorflow.lite.schema.Model;
import org.tensorflow.lite.schema.ModelT;
import org.tensorflow.lite.schema.OperatorCodeT;
import org.tensorflow.lite.schema.OperatorT;
import org.tensorflow.lite.schema.Padding;
import org.tensorflow.lite.schema.SubGraphT;
import org.tensorflow.lite.schema.TensorT;
import org.tensorflow.lite.schema.TensorType;
import org.tensorflow.lite.schema.WhileOptionsT;

/**
 * Models with control flow, as TensorFlow's converter writes Keras RNN layers (GRU, LSTM, SimpleRNN): a WHILE whose
 * condition and body are further subgraphs. The main subgraph is quantized around the WHILE, which stays float with
 * the subgraphs it runs. Such models were refused ("has 3 subgraphs (control flow); only single-subgraph models can be
 * quantized"), after calibration had failed on a tensor the interpreter left unallocated (a NullPointerException).
 */
class TfliteControlFlowTest {
    @TempDir
    Path tmp;

    /** Tensor names of a subgraph under construction, and the subgraph's operators. */
    static final class Sub {
        final TfliteModel m;
        final SubGraphT g = new SubGraphT();
        final List<TensorT> tensors = new ArrayList<>();
        final List<OperatorT> ops = new ArrayList<>();
        final Random r;

        Sub(TfliteModel m, String name, long seed) {
            this.m = m;
            this.r = new Random(seed);
            g.setName(name);
        }

        int act(String name, byte type, int... shape) {
            tensors.add(TfliteModel.newTensor(name, type, shape, null, 0, null));
            return tensors.size() - 1;
        }

        int weights(String name, float scale, int... shape) {
            int n = 1;
            for (int d : shape) n *= d;
            float[] v = new float[n];
            for (int i = 0; i < n; i++) v[i] = (float) (r.nextGaussian() * scale);
            tensors.add(TfliteModel.newTensor(name, TensorType.FLOAT32, shape, null,
                    m.addBuffer(TfliteModel.floatBytes(v)), null));
            return tensors.size() - 1;
        }

        int zeros(String name, int... shape) {
            int n = 1;
            for (int d : shape) n *= d;
            tensors.add(TfliteModel.newTensor(name, TensorType.FLOAT32, shape, null,
                    m.addBuffer(TfliteModel.floatBytes(new float[n])), null));
            return tensors.size() - 1;
        }

        int scalar(String name, int value) {
            tensors.add(TfliteModel.newTensor(name, TensorType.INT32, new int[0], null,
                    m.addBuffer(TfliteModel.intBytes(new int[] {value})), null));
            return tensors.size() - 1;
        }

        void op(int code, byte optionsType, Object options, int[] inputs, int... outputs) {
            OperatorT op = new OperatorT();
            op.setOpcodeIndex(m.opCodeIndex(code, 1));
            op.setInputs(inputs);
            op.setOutputs(outputs);
            if (options != null) {
                BuiltinOptionsUnion u = new BuiltinOptionsUnion();
                u.setType(optionsType);
                u.setValue(options);
                op.setBuiltinOptions(u);
            }
            ops.add(op);
        }

        /** The loop's variables as the condition and the body take them: i, h, acc, e. */
        int[] loopVariables() {
            return in(act("i", TensorType.INT32), act("h", TensorType.FLOAT32, 1, 16),
                    act("acc", TensorType.FLOAT32, 1, 16), act("e", TensorType.FLOAT32, 1, 16));
        }

        SubGraphT build(int[] inputs, int[] outputs) {
            g.setTensors(tensors.toArray(new TensorT[0]));
            g.setOperators(ops.toArray(new OperatorT[0]));
            g.setInputs(inputs);
            g.setOutputs(outputs);
            return g;
        }
    }

    static int[] in(int... t) {
        return t;
    }

    /** A model with one empty subgraph, to which {@link Sub}s add. */
    static TfliteModel emptyModel(String label) {
        ModelT mt = new ModelT();
        mt.setVersion(3);
        mt.setOperatorCodes(new OperatorCodeT[0]);
        mt.setBuffers(new BufferT[] {new BufferT()});
        SubGraphT empty = new SubGraphT();
        empty.setTensors(new TensorT[0]);
        empty.setOperators(new OperatorT[0]);
        mt.setSubgraphs(new SubGraphT[] {empty});
        mt.setDescription(label);
        FlatBufferBuilder fbb = new FlatBufferBuilder(1024);
        Model.finishModelBuffer(fbb, Model.pack(fbb, mt));
        return TfliteModel.parse(fbb.sizedByteArray(), label);
    }

    /**
     * x [1,4,4,3] -> CONV_2D -> FULLY_CONNECTED h0 [1,16] -> WHILE over (i, h, acc, e) three times:
     * h = tanh(h Wb + bb + e), acc += h, the accumulator starting from a zero constant (as Keras' RNN states do), e = h0
     * passed through unchanged (as Keras passes its input sequence) -> FULLY_CONNECTED z [1,4]. Outputs z and the last
     * h; nothing reads the loop's e, which the interpreter leaves unallocated.
     */
    static byte[] rnnModel() {
        TfliteModel m = emptyModel("rnn");

        Sub main = new Sub(m, "main", 1);
        int x = main.act("x", TensorType.FLOAT32, 1, 4, 4, 3);
        int w1 = main.weights("conv/w", 0.3f, 8, 3, 3, 3);
        int b1 = main.weights("conv/b", 0.1f, 8);
        int y0 = main.act("conv", TensorType.FLOAT32, 1, 4, 4, 8);
        Conv2DOptionsT co = new Conv2DOptionsT();
        co.setPadding(Padding.SAME);
        co.setStrideW(1);
        co.setStrideH(1);
        main.op(BuiltinOperator.CONV_2D, BuiltinOptions.Conv2DOptions, co, in(x, w1, b1), y0);
        int w2 = main.weights("embed/w", 0.1f, 16, 128);
        int b2 = main.weights("embed/b", 0.1f, 16);
        int h0 = main.act("embed", TensorType.FLOAT32, 1, 16);
        main.op(BuiltinOperator.FULLY_CONNECTED, BuiltinOptions.NONE, null, in(y0, w2, b2), h0);
        int i0 = main.scalar("i0", 0);
        int acc0 = main.zeros("acc0", 1, 16);
        int iOut = main.act("loop/i", TensorType.INT32);
        int hOut = main.act("loop/h", TensorType.FLOAT32, 1, 16);
        int accOut = main.act("loop/acc", TensorType.FLOAT32, 1, 16);
        int eOut = main.act("loop/e", TensorType.FLOAT32, 1, 16);
        WhileOptionsT wo = new WhileOptionsT();
        wo.setCondSubgraphIndex(1);
        wo.setBodySubgraphIndex(2);
        main.op(BuiltinOperator.WHILE, BuiltinOptions.WhileOptions, wo, in(i0, h0, acc0, h0), iOut, hOut, accOut, eOut);
        int w3 = main.weights("head/w", 0.3f, 4, 16);
        int b3 = main.weights("head/b", 0.1f, 4);
        int z = main.act("z", TensorType.FLOAT32, 1, 4);
        main.op(BuiltinOperator.FULLY_CONNECTED, BuiltinOptions.NONE, null, in(accOut, w3, b3), z);

        Sub cond = new Sub(m, "cond", 2);
        int[] cv = cond.loopVariables();
        int three = cond.scalar("three", 3);
        int more = cond.act("more", TensorType.BOOL);
        cond.op(BuiltinOperator.LESS, BuiltinOptions.NONE, null, in(cv[0], three), more);

        Sub body = new Sub(m, "body", 3);
        int[] bv = body.loopVariables();
        int bi = bv[0];
        int bh = bv[1];
        int ba = bv[2];
        int be = bv[3];
        int one = body.scalar("one", 1);
        int bi1 = body.act("i1", TensorType.INT32);
        body.op(BuiltinOperator.ADD, BuiltinOptions.NONE, null, in(bi, one), bi1);
        int wb = body.weights("cell/w", 0.4f, 16, 16);
        int bb = body.weights("cell/b", 0.1f, 16);
        int f = body.act("cell", TensorType.FLOAT32, 1, 16);
        body.op(BuiltinOperator.FULLY_CONNECTED, BuiltinOptions.NONE, null, in(bh, wb, bb), f);
        int fe = body.act("cell+e", TensorType.FLOAT32, 1, 16);
        body.op(BuiltinOperator.ADD, BuiltinOptions.NONE, null, in(f, be), fe);
        int bh1 = body.act("h1", TensorType.FLOAT32, 1, 16);
        body.op(BuiltinOperator.TANH, BuiltinOptions.NONE, null, in(fe), bh1);
        int ba1 = body.act("acc1", TensorType.FLOAT32, 1, 16);
        body.op(BuiltinOperator.ADD, BuiltinOptions.NONE, null, in(ba, bh1), ba1);

        m.raw().setSubgraphs(new SubGraphT[] {main.build(in(x), in(z, hOut)), cond.build(cv, in(more)),
                body.build(bv, in(bi1, bh1, ba1, be))});
        return m.toBytes();
    }

    private static List<Map<String, FloatTensor>> samples(int count, long seed) {
        Random r = new Random(seed);
        List<Map<String, FloatTensor>> l = new ArrayList<>();
        for (int s = 0; s < count; s++) {
            float[] v = new float[48];
            for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
            Map<String, FloatTensor> feed = new LinkedHashMap<>();
            feed.put("x", new FloatTensor(new long[] {1, 4, 4, 3}, v));
            l.add(feed);
        }
        return l;
    }

    private Path floatModel() {
        Path file = tmp.resolve("rnn.tflite");
        TfliteModel.parse(rnnModel(), "rnn").save(file);
        return file;
    }

    private QuantizationResult quantize(Path model, String out,
                                        java.util.function.UnaryOperator<QuantizationRequest.Builder> more) {
        return new TfliteBackend().quantize(more.apply(QuantizationRequest.builder().model(model).seed(1)
                .calibrationSamples(samples(64, 1)).evaluationSamples(samples(6, 2))
                .outputDir(tmp.resolve(out))).build(), Progress.NONE);
    }

    private static List<String> opNames(TfliteModel m, int subgraph) {
        List<String> l = new ArrayList<>();
        for (OperatorT op : m.raw().getSubgraphs()[subgraph].getOperators()) l.add(m.opName(op));
        return l;
    }

    private static byte typeOf(TfliteModel m, int subgraph, int tensor) {
        return m.raw().getSubgraphs()[subgraph].getTensors()[tensor].getType();
    }

    @Test
    void theFloatModelRunsAndEveryObservedActivationHoldsData() {
        TfliteModel m = TfliteModel.parse(rnnModel(), "rnn");
        assertEquals(3, m.raw().getSubgraphs().length);
        assertEquals(List.of(1, 2), TfliteModel.calledSubgraphs(m.operators().get(2)));
        try (TfliteSession s = TfliteSession.open(rnnModel(), "rnn", new TfliteSession.Options(1, false, true))) {
            Map<String, FloatTensor> out = s.run(samples(1, 3).get(0));
            assertEquals(List.of("z", "loop/h"), List.copyOf(out.keySet()));
            for (float v : out.get("loop/h").data()) assertTrue(Math.abs(v) <= 1, "tanh output " + v);
        }
    }

    @Test
    void int8QuantizesTheMainSubgraphAroundAFloatWhile() throws Exception {
        Path model = floatModel();
        QuantizationResult r = quantize(model, "int8", b -> b);
        for (String output : List.of("z", "loop/h")) {
            double c = r.fidelity().get(output).cosine();
            assertTrue(c > 0.995, output + " cosine " + c);
        }
        TfliteModel q = TfliteModel.load(r.artifact("model").orElseThrow().path());
        TfliteModel f = TfliteModel.load(model);
        assertEquals(3, q.raw().getSubgraphs().length);
        assertEquals(List.of("QUANTIZE", "CONV_2D", "FULLY_CONNECTED", "DEQUANTIZE", "WHILE", "QUANTIZE",
                "FULLY_CONNECTED", "DEQUANTIZE"), opNames(q, 0));
        for (OperatorT op : q.operators()) {
            String name = q.opName(op);
            if (!name.equals("CONV_2D") && !name.equals("FULLY_CONNECTED")) continue;
            assertEquals(TensorType.INT8, q.tensor(op.getInputs()[0]).getType(), name + " input");
            assertEquals(TensorType.INT8, q.tensor(op.getInputs()[1]).getType(), name + " weights");
            assertEquals(TensorType.INT32, q.tensor(op.getInputs()[2]).getType(), name + " bias");
            assertEquals(TensorType.INT8, q.tensor(op.getOutputs()[0]).getType(), name + " output");
        }
        OperatorT loop = q.operators().get(4);
        assertEquals(List.of(1, 2), TfliteModel.calledSubgraphs(loop));
        assertEquals(List.of(TensorType.INT32, TensorType.FLOAT32, TensorType.FLOAT32, TensorType.FLOAT32),
                java.util.Arrays.stream(loop.getInputs()).mapToObj(t -> q.tensor(t).getType()).toList());
        // the condition and the body are the float model's, weights included
        for (int sg = 1; sg < 3; sg++) {
            assertEquals(opNames(f, sg), opNames(q, sg), "subgraph " + sg);
            SubGraphT a = f.raw().getSubgraphs()[sg];
            SubGraphT b = q.raw().getSubgraphs()[sg];
            for (int t = 0; t < a.getTensors().length; t++) {
                assertEquals(a.getTensors()[t].getName(), b.getTensors()[t].getName());
                assertEquals(typeOf(f, sg, t), typeOf(q, sg, t), a.getTensors()[t].getName());
                int[] da = f.buffers()[(int) a.getTensors()[t].getBuffer()].getData();
                int[] db = q.buffers()[(int) b.getTensors()[t].getBuffer()].getData();
                assertTrue(java.util.Arrays.equals(da, db), "data of " + a.getTensors()[t].getName());
            }
        }
        List<?> floatOps = (List<?>) ((Map<?, ?>) r.report().get("quantization")).get("float_ops");
        assertEquals(1, floatOps.size(), floatOps.toString());
        assertEquals("control flow: WHILE runs subgraphs [1, 2], which stay float (only the main subgraph is"
                + " quantized)", ((Map<?, ?>) floatOps.get(0)).get("reason"));
        // the written model runs the same outside the backend: the fidelity above is the interpreter's
        try (TfliteSession fs = TfliteSession.open(model, new TfliteSession.Options(1, false, false));
             TfliteSession qs = TfliteSession.open(r.artifact("model").orElseThrow().path(),
                     new TfliteSession.Options(1, true, false))) {
            double c = TfliteOperatorVariantsTest.cosine(fs, qs, samples(6, 2));
            assertTrue(c > 0.995, "cosine with XNNPACK " + c);
        }
    }

    /**
     * Dynamic range needs no calibration, so the weights inside the loop become int8 too: TensorFlow's converter puts
     * an RNN cell's matrices in the WHILE body, where most of such a model's weights are.
     */
    @Test
    void dynamicRangeMakesTheWeightsOfEverySubgraphInt8() {
        Path model = floatModel();
        QuantizationResult r = quantize(model, "dynamic", b -> b.precision(Precision.DYNAMIC));
        TfliteModel q = TfliteModel.load(r.artifact("model").orElseThrow().path());
        assertEquals(3, q.raw().getSubgraphs().length);
        List<String> hybrid = new ArrayList<>();
        for (int sg = 0; sg < 3; sg++) {
            SubGraphT g = q.raw().getSubgraphs()[sg];
            for (OperatorT op : g.getOperators()) {
                String name = q.opName(op);
                if (!name.equals("CONV_2D") && !name.equals("FULLY_CONNECTED")) continue;
                TensorT w = TfliteModel.tensor(g, op.getInputs()[1]);
                assertEquals(TensorType.FLOAT32, TfliteModel.tensor(g, op.getInputs()[0]).getType(), name + " input");
                assertEquals(TensorType.FLOAT32, TfliteModel.tensor(g, op.getOutputs()[0]).getType(), name + " output");
                hybrid.add(sg + " " + name + " " + w.getName() + " " + TensorType.name(w.getType()) + " v"
                        + q.opCode(op).getVersion());
            }
            // the float weights the int8 ones replace are gone from the subgraph
            for (TensorT t : g.getTensors()) {
                assertTrue(!t.getName().endsWith("/w") || t.getType() == TensorType.INT8, t.getName());
            }
        }
        assertEquals(List.of("0 CONV_2D conv/w/int8 INT8 v5", "0 FULLY_CONNECTED embed/w/int8 INT8 v12",
                "0 FULLY_CONNECTED head/w/int8 INT8 v12", "2 FULLY_CONNECTED cell/w/int8 INT8 v12"), hybrid);
        List<?> ops = (List<?>) ((Map<?, ?>) r.report().get("dynamic_range")).get("hybrid");
        Map<?, ?> cell = (Map<?, ?>) ops.get(3);
        assertEquals(2, cell.get("subgraph"));
        assertEquals("cell", cell.get("output"));
        assertTrue(Files.exists(model));
        long floatBytes = model.toFile().length();
        long int8Bytes = r.artifact("model").orElseThrow().path().toFile().length();
        assertTrue(int8Bytes < floatBytes / 2, int8Bytes + " bytes against " + floatBytes);
        for (String output : List.of("z", "loop/h")) {
            double c = r.fidelity().get(output).cosine();
            assertTrue(c > 0.999, output + " cosine " + c);
        }
        String text = TfliteInspector.describe(q);
        assertTrue(text.contains("\nsubgraph 1 'cond', run by #2 WHILE: 1 operators LESS=1; constants int32=1\n"
                + "subgraph 2 'body', run by #2 WHILE: 5 operators ADD=3 FULLY_CONNECTED=1 TANH=1; constants"
                + " float32=1 int32=1 int8=1\n"), text);
    }

    @Test
    void theEdgeTpuTargetRefusesTheWhileAndLeavesNoFiles() {
        Path model = floatModel();
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> quantize(model, "edgetpu", b -> b.target("edgetpu")));
        assertTrue(e.getMessage().startsWith("--target edgetpu: the model cannot run on the Edge TPU: #"),
                e.getMessage());
        assertTrue(e.getMessage().contains(" WHILE stays float (control flow: WHILE runs subgraphs [1, 2]"),
                e.getMessage());
        assertTrue(!Files.exists(tmp.resolve("edgetpu")) || tmp.resolve("edgetpu").toFile().list().length == 0,
                "files left by a refused run");
    }
}
