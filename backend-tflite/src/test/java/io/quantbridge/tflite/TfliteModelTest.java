package io.quantbridge.tflite;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.tensor.FloatTensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TfliteModelTest {
    @TempDir
    Path tmp;

    @Test
    void missingFileIsAClearError() {
        Path p = tmp.resolve("nope.tflite");
        QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> TfliteSession.open(p, 1));
        assertEquals("model " + p + " does not exist", e.getMessage());
    }

    @Test
    void fileWithoutIdentifierIsRefusedBeforeNativeCode() throws Exception {
        Path p = tmp.resolve("junk.tflite");
        Files.write(p, "this is not a model at all".getBytes());
        QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> TfliteSession.open(p, 1));
        assertEquals("model " + p + " is not a TFLite model: file identifier ' is ' instead of 'TFL3'", e.getMessage());
        Path onnx = RealData.root().resolve(".cache/models/wakeword-embed/embedding_model.onnx");
        if (Files.isRegularFile(onnx)) {
            e = assertThrows(QuantbridgeException.class, () -> TfliteSession.open(onnx, 1));
            assertTrue(e.getMessage().endsWith("(it looks like an ONNX model: use --backend onnx, tensorrt or"
                    + " openvino)"), e.getMessage());
        }
    }

    @Test
    void truncatedModelIsRefusedWithoutCrashing() throws Exception {
        byte[] full = Files.readAllBytes(RealData.model("blazeface-tflite", "face_detection_short_range.tflite"));
        Path p = tmp.resolve("truncated.tflite");
        Files.write(p, Arrays.copyOf(full, 4096));
        QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> TfliteSession.open(p, 1));
        assertTrue(e.getMessage().startsWith("model " + p), e.getMessage());
        assertTrue(e.getMessage().contains("corrupt") || e.getMessage().contains("not a valid"), e.getMessage());
    }

    /** A vector length no heap can hold (unpacking allocates it before reading) is a corrupt file, not a small heap. */
    @Test
    void aVectorLengthBeyondTheFileIsCorruptNotOutOfMemory() throws Exception {
        byte[] bytes = Files.readAllBytes(RealData.model("blazeface-tflite", "face_detection_short_range.tflite"));
        java.nio.ByteBuffer bb = java.nio.ByteBuffer.wrap(bytes).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        java.nio.ByteBuffer shape = org.tensorflow.lite.schema.Model.getRootAsModel(bb).subgraphs(0).tensors(0)
                .shapeAsByteBuffer();
        bb.putInt(shape.position() - 4, Integer.MAX_VALUE); // the shape's element count: beyond any JVM's array limit
        QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> TfliteModel.parse(bytes, "long.tflite"));
        assertEquals("model long.tflite is not a valid TFLite flatbuffer (a vector in it claims more elements than the"
                + " file holds; TFLite's verifier refuses it too); the file is corrupt or truncated", e.getMessage());
    }

    /**
     * Both defects crashed the JVM inside TFLite 2.20 (a DEQUANTIZE output claiming another shape: XNNPACK read past
     * the float16 weights; an operator reading a later operator's output: the graph partitioner read past its
     * arrays). They are refused while parsing, before any native code sees the model.
     */
    @Test
    void modelsTheNativeInterpreterWouldCrashOnAreRefusedWhileParsing() {
        Path blazeface = RealData.model("blazeface-tflite", "face_detection_short_range.tflite");
        TfliteModel m = TfliteModel.load(blazeface);
        var ops = m.operators();
        int dq = -1;
        for (int k = 0; k < ops.size() && dq < 0; k++) {
            if (m.opName(ops.get(k)).equals("DEQUANTIZE") && m.isConstant(ops.get(k).getInputs()[0])) dq = k;
        }
        var out = m.tensor(ops.get(dq).getOutputs()[0]);
        int[] claimed = out.getShape().clone();
        claimed[claimed.length - 1] = 52481;
        out.setShape(claimed);
        String in = m.tensor(ops.get(dq).getInputs()[0]).getName();
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> TfliteSession.open(m.toBytes(), "reshaped.tflite", TfliteSession.Options.defaults(1)));
        assertEquals("model reshaped.tflite is corrupt: operator " + dq + " (DEQUANTIZE) gives constant '" + in
                + "' of shape " + Arrays.toString(m.tensor(ops.get(dq).getInputs()[0]).getShape()) + " the shape "
                + Arrays.toString(claimed) + " in '" + out.getName() + "'", e.getMessage());

        TfliteModel n = TfliteModel.load(blazeface);
        var first = n.operators().get(n.operators().size() - 2);
        int reader = -1;
        for (int k = 0; k < n.operators().size() && reader < 0; k++) {
            if (!n.isConstant(n.operators().get(k).getInputs()[0])) reader = k; // reads an activation
        }
        int later = first.getOutputs()[0];
        n.operators().get(reader).getInputs()[0] = later;
        e = assertThrows(QuantbridgeException.class,
                () -> TfliteSession.open(n.toBytes(), "reordered.tflite", TfliteSession.Options.defaults(1)));
        assertEquals("model reordered.tflite is corrupt: operator " + reader + " ("
                + n.opName(n.operators().get(reader)) + ") reads tensor '" + n.tensor(later).getName()
                + "' before any operator writes it", e.getMessage());

        // TFLite refuses this one itself, with its message on stderr only; here it names the tensor
        TfliteModel s = TfliteModel.load(blazeface);
        int w = s.operators().get(dq).getInputs()[0];
        var buffer = s.buffers()[(int) s.tensor(w).getBuffer()];
        int held = buffer.getData().length;
        buffer.setData(Arrays.copyOf(buffer.getData(), held - 1));
        e = assertThrows(QuantbridgeException.class,
                () -> TfliteSession.open(s.toBytes(), "short.tflite", TfliteSession.Options.defaults(1)));
        assertEquals("model short.tflite is corrupt: constant '" + s.tensor(w).getName() + "' (FLOAT16 "
                + Arrays.toString(s.tensor(w).getShape()) + ") needs " + held + " bytes but its buffer holds "
                + (held - 1), e.getMessage());

        // a RELU rewired to a dequantized bias: the interpreter would resize its output, XNNPACK crashed planning it
        TfliteModel r = TfliteModel.load(blazeface);
        var rops = r.operators();
        int relu = -1;
        for (int k = 0; k < rops.size() && relu < 0; k++) if (r.opName(rops.get(k)).equals("RELU")) relu = k;
        int bias = -1;
        int[] reluOut = r.tensor(rops.get(relu).getOutputs()[0]).getShape();
        for (int k = 0; k < relu && bias < 0; k++) {
            int o = rops.get(k).getOutputs()[0];
            if (r.opName(rops.get(k)).equals("DEQUANTIZE") && r.tensor(o).getShape().length == 1
                    && !Arrays.equals(r.tensor(o).getShape(), reluOut)) {
                bias = o;
            }
        }
        String was = r.tensor(rops.get(relu).getInputs()[0]).getName();
        rops.get(relu).getInputs()[0] = bias;
        int at = relu;
        e = assertThrows(QuantbridgeException.class,
                () -> TfliteSession.open(r.toBytes(), "rewired.tflite", TfliteSession.Options.defaults(1)));
        assertEquals("model rewired.tflite is corrupt: operator " + at + " (RELU) writes '"
                + r.tensor(rops.get(at).getOutputs()[0]).getName() + "' " + Arrays.toString(reluOut) + " from '"
                + r.tensor(bias).getName() + "' " + Arrays.toString(r.tensor(bias).getShape())
                + ", but RELU keeps its input's shape", e.getMessage(), was);

        // an input index become -1 ('absent') where the operator needs one: AllocateTensors crashed the JVM
        TfliteModel a = TfliteModel.load(blazeface);
        a.operators().get(dq).getInputs()[0] = -1;
        e = assertThrows(QuantbridgeException.class,
                () -> TfliteSession.open(a.toBytes(), "absent.tflite", TfliteSession.Options.defaults(1)));
        assertEquals("model absent.tflite is corrupt: operator " + dq + " (DEQUANTIZE) has no input 0 (tensor index"
                + " -1, 'absent'), which DEQUANTIZE needs", e.getMessage());
        // where the schema allows it (a conv's bias), TFLite 2.20 wants a CONV_2D bias all the same and refuses the
        // model; the parser gives the convolution a zero bias, the same function, which the interpreter runs
        TfliteModel b = TfliteModel.load(blazeface);
        int conv = -1;
        for (int k = 0; k < b.operators().size() && conv < 0; k++) {
            if (b.opName(b.operators().get(k)).equals("CONV_2D")) conv = k;
        }
        int biasTensor = b.operators().get(conv).getInputs()[2];
        int channels = b.tensor(biasTensor).getShape()[0];
        b.operators().get(conv).getInputs()[2] = -1;
        byte[] noBias = b.toBytes();
        TfliteModel parsed = TfliteModel.parse(noBias, "no-bias.tflite");
        assertEquals(1, parsed.zeroBiasesAdded());
        int[] inputs = parsed.operators().get(conv).getInputs();
        assertEquals(new float[channels].length, parsed.floats(inputs[2]).length);
        assertTrue(Arrays.equals(new float[channels], parsed.floats(inputs[2])), "a zero bias");
        // the same as the model with its bias set to zeros
        TfliteModel z = TfliteModel.load(blazeface);
        z.dequantizeFloat16Weights(); // blazeface's biases are float16 constants behind DEQUANTIZE
        String convOut = b.tensor(b.operators().get(conv).getOutputs()[0]).getName();
        var zConv = z.operators().stream().filter(o -> z.tensor(o.getOutputs()[0]).getName().equals(convOut))
                .findFirst().orElseThrow();
        z.tensor(zConv.getInputs()[2]).setBuffer(z.addBuffer(TfliteModel.floatBytes(new float[channels])));
        float[] image = new float[128 * 128 * 3];
        for (int i = 0; i < image.length; i++) image[i] = (float) Math.sin(i * 0.01);
        Map<String, FloatTensor> feed = Map.of("input", new FloatTensor(new long[] {1, 128, 128, 3}, image));
        try (TfliteSession withZeros = TfliteSession.open(z.toBytes(), "zeros.tflite", TfliteSession.Options.defaults(1));
             TfliteSession absent = TfliteSession.open(noBias, "no-bias.tflite", TfliteSession.Options.defaults(1))) {
            float[] want = withZeros.run(feed).get("regressors").data();
            float[] got = absent.run(feed).get("regressors").data();
            double worst = 0;
            for (int i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(want[i] - got[i]));
            assertTrue(worst < 1e-3, "the same outputs: max abs difference " + worst);
        }
    }

    /**
     * Two mutated models that parse and that XNNPACK, planning with what the file declares, crashed the JVM on (TFLite
     * 2.20): a CONV_2D whose stride no longer gives its declared output shape (the crash came in the first Invoke), a
     * MUL left without inputs. A plain interpreter prepares each model first: the one computes the true shape, the
     * other refuses the MUL.
     */
    @Test
    void modelsXnnpackWouldCrashOnAreRefusedByAPlainInterpreterFirst() {
        TfliteModel pose = TfliteModel.load(RealData.model("pose-lite", "pose_landmark_lite.tflite"));
        int conv = -1; // one whose readers still prepare with the narrower output (the mutation that crashed)
        for (int k = 0; k < pose.operators().size() && conv < 0; k++) {
            var op = pose.operators().get(k);
            if (pose.opName(op).equals("CONV_2D") && op.getBuiltinOptions().getValue() instanceof
                    org.tensorflow.lite.schema.Conv2DOptionsT o && o.getStrideW() == 1
                    && Arrays.equals(new int[] {1, 8, 8, 96}, pose.tensor(op.getOutputs()[0]).getShape())) {
                conv = k;
            }
        }
        var c = pose.operators().get(conv);
        ((org.tensorflow.lite.schema.Conv2DOptionsT) c.getBuiltinOptions().getValue()).setStrideW(2);
        int[] declared = pose.tensor(c.getOutputs()[0]).getShape();
        int[] computed = declared.clone();
        computed[2] = (declared[2] + 1) / 2; // SAME padding
        int at = conv;
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> TfliteSession.open(pose.toBytes(), "strided.tflite", TfliteSession.Options.defaults(1)));
        assertEquals("model strided.tflite is corrupt: tensor '" + pose.tensor(c.getOutputs()[0]).getName()
                + "' is declared " + Arrays.toString(declared) + " but operator " + at + " (CONV_2D) computes "
                + Arrays.toString(computed), e.getMessage());

        TfliteModel selfie = TfliteModel.load(RealData.model("selfie-seg", "selfie_segmentation.tflite"));
        var mul = selfie.operators().stream().filter(op -> selfie.opName(op).equals("MUL")).findFirst().orElseThrow();
        mul.setInputs(new int[0]);
        e = assertThrows(QuantbridgeException.class,
                () -> TfliteSession.open(selfie.toBytes(), "no-inputs.tflite", TfliteSession.Options.defaults(1)));
        assertEquals("model no-inputs.tflite: the TFLite interpreter cannot prepare it (AllocateTensors failed;"
                + " TFLite's own message is on stderr)", e.getMessage());
    }

    @Test
    void float16WeightsBecomeFloat32AndTheDequantizeOpsGo() {
        TfliteModel m = TfliteModel.load(RealData.model("blazeface-tflite", "face_detection_short_range.tflite"));
        assertEquals(164, m.operators().size());
        assertEquals(74, m.dequantizeFloat16Weights());
        assertEquals(90, m.operators().size());
        assertTrue(m.float16Tensors().isEmpty());
        for (var op : m.operators()) assertTrue(!m.opName(op).equals("DEQUANTIZE"));
        // the converted model computes what the original computes
        try (TfliteSession a = TfliteSession.open(RealData.model("blazeface-tflite", "face_detection_short_range.tflite"), 1);
             TfliteSession b = TfliteSession.open(m.toBytes(), "converted", TfliteSession.Options.defaults(1))) {
            float[] x = new float[128 * 128 * 3];
            for (int i = 0; i < x.length; i++) x[i] = (float) Math.sin(i * 0.01);
            Map<String, FloatTensor> feed = Map.of("input", new FloatTensor(new long[] {1, 128, 128, 3}, x));
            float[] ya = a.run(feed).get("classificators").data();
            float[] yb = b.run(feed).get("classificators").data();
            for (int i = 0; i < ya.length; i++) assertEquals(ya[i], yb[i], 1e-3 * Math.max(1, Math.abs(ya[i])));
        }
    }

    @Test
    void wrongInputShapeIsRefusedBeforeTheInterpreterRuns() {
        try (TfliteSession s = TfliteSession.open(RealData.model("blazeface-tflite", "face_detection_short_range.tflite"), 1)) {
            QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> s.run(Map.of("input",
                    new FloatTensor(new long[] {1, 3, 128, 128}, new float[3 * 128 * 128]))));
            assertTrue(e.getMessage().endsWith(": input 'input' expects shape [1, 128, 128, 3] (-1 = any) but got"
                    + " [1, 3, 128, 128]"), e.getMessage());
            QuantbridgeException missing = assertThrows(QuantbridgeException.class, () -> s.run(Map.of()));
            assertTrue(missing.getMessage().endsWith(": input 'input' [1, 128, 128, 3] was not given (given: [])"),
                    missing.getMessage());
            // a name the model lacks was dropped without a word; the interpreter never sees it now
            FloatTensor image = new FloatTensor(new long[] {1, 128, 128, 3}, new float[128 * 128 * 3]);
            java.util.Map<String, FloatTensor> extra = new java.util.LinkedHashMap<>(Map.of("input", image));
            extra.put("imput", image);
            assertTrue(assertThrows(QuantbridgeException.class, () -> s.run(extra)).getMessage()
                    .endsWith("face_detection_short_range.tflite: the model has no input 'imput' (its inputs: input"
                            + " [1, 128, 128, 3])"));
            // the session still works afterwards
            assertEquals(2, s.run(Map.of("input", new FloatTensor(new long[] {1, 128, 128, 3},
                    new float[128 * 128 * 3]))).size());
        }
    }

    @Test
    void customOpOfMediaPipeRunsInJava() {
        try (TfliteSession s = TfliteSession.open(RealData.model("selfie-seg", "selfie_segmentation.tflite"), 1)) {
            float[] x = new float[256 * 256 * 3];
            var out = s.run(Map.of("input_1", new FloatTensor(new long[] {1, 256, 256, 3}, x)));
            float[] mask = out.get("activation_10").data();
            assertEquals(256 * 256, mask.length);
            for (float v : mask) assertTrue(v >= 0 && v <= 1, "sigmoid output " + v);
        }
    }
}
