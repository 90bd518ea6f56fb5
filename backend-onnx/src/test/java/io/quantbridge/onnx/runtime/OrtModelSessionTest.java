package io.quantbridge.onnx.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtException;
import io.quantbridge.QuantbridgeException;
import io.quantbridge.onnx.DataTypes;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.tensor.FloatTensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import io.quantbridge.onnx.proto.Onnx.GraphProto;
import io.quantbridge.onnx.proto.Onnx.ModelProto;
import io.quantbridge.onnx.proto.Onnx.NodeProto;
import io.quantbridge.onnx.proto.Onnx.OperatorSetIdProto;
import io.quantbridge.onnx.proto.Onnx.StringStringEntryProto;
import io.quantbridge.onnx.proto.Onnx.TensorProto;
import io.quantbridge.onnx.proto.Onnx.TensorShapeProto;
import io.quantbridge.onnx.proto.Onnx.TypeProto;
import io.quantbridge.onnx.proto.Onnx.ValueInfoProto;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OrtModelSessionTest {

    /** x [2, 3] -> Reshape(x, shape) -> y [3, 2], with the shape tensor stored in {@code shape.bin}. */
    private static ModelProto reshapeWithExternalShape(String opType) {
        TensorProto shape = TensorProto.newBuilder().setName("shape").setDataType(DataTypes.INT64).addDims(2)
                .setDataLocation(TensorProto.DataLocation.EXTERNAL)
                .addExternalData(StringStringEntryProto.newBuilder().setKey("location").setValue("shape.bin"))
                .addExternalData(StringStringEntryProto.newBuilder().setKey("length").setValue("16")).build();
        GraphProto g = GraphProto.newBuilder().setName("g").addInitializer(shape)
                .addInput(ValueInfoProto.newBuilder().setName("x").setType(TypeProto.newBuilder().setTensorType(
                        TypeProto.Tensor.newBuilder().setElemType(DataTypes.FLOAT).setShape(TensorShapeProto.newBuilder()
                                .addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(2))
                                .addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(3))))))
                .addOutput(OnnxModel.valueInfo("y", DataTypes.FLOAT))
                .addNode(NodeProto.newBuilder().setOpType(opType).setName("reshape").addInput("x").addInput("shape")
                        .addOutput("y"))
                .build();
        return ModelProto.newBuilder().setIrVersion(8).setGraph(g)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setVersion(13)).build();
    }

    private static void writeShape(Path file) throws Exception {
        Files.write(file, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(3).putLong(2).array());
    }

    /**
     * ONNX Runtime refuses this model by path (shape inference cannot read an external Reshape shape); the session
     * opens the same model with its data read in, so a run that calibrated it also measures it at the end.
     */
    /**
     * The detector fed a height its 32-fold downsampling does not divide fails in an Add of its neck; the error adds
     * what is wrong with the input and a size that works.
     */
    @Test
    void aSizeTheDetectorsStridesDoNotDivideIsExplained() {
        Path det = FetchedData.cache("models/ppocr/ch_PP-OCRv4_det_infer.onnx");
        try (OrtModelSession s = OrtModelSession.open(det, 1)) {
            QuantbridgeException e = assertThrows(QuantbridgeException.class,
                    () -> s.run(Map.of("x", new FloatTensor(new long[] {1, 3, 48, 192}, new float[3 * 48 * 192]))));
            assertTrue(e.getMessage().startsWith(det + ": ONNX Runtime failed on input x [1, 3, 48, 192]: "),
                    e.getMessage());
            assertTrue(e.getMessage().endsWith("broadcast an axis by a dimension other than 1. 3 by 4 (input 'x' is"
                    + " fed 192x48, but the model downsamples it 32-fold, and maps it adds back together then differ"
                    + " by a row or column: give a size it divides, e.g. --size 192x64)"), e.getMessage());
            assertEquals(1, s.run(Map.of("x", new FloatTensor(new long[] {1, 3, 64, 192}, new float[3 * 64 * 192])))
                    .size());
        }
    }

    @Test
    void aModelOnnxRuntimeRefusesForItsExternalDataIsOpenedWithTheDataReadIn(@TempDir Path tmp) throws Exception {
        Path model = tmp.resolve("reshape.onnx");
        Files.write(model, reshapeWithExternalShape("Reshape").toByteArray());
        writeShape(tmp.resolve("shape.bin"));
        // the premise: by path alone, ONNX Runtime says no
        OrtException byPath = assertThrows(OrtException.class,
                () -> OrtRuntime.environment().createSession(model.toString()).close());
        assertTrue(byPath.getMessage().contains("external"), byPath.getMessage());

        try (OrtModelSession s = OrtModelSession.open(model, 1)) {
            FloatTensor y = s.run(Map.of("x", new FloatTensor(new long[] {2, 3}, new float[] {1, 2, 3, 4, 5, 6})))
                    .get("y");
            assertArrayEquals(new long[] {3, 2}, y.shape());
            assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, y.data());
        }
    }

    /** A model ONNX Runtime refuses for another reason keeps ONNX Runtime's own error, naming the file. */
    @Test
    void otherRefusalsStillNameTheFileAndOnnxRuntimesReason(@TempDir Path tmp) throws Exception {
        Path model = tmp.resolve("unknown-op.onnx");
        Files.write(model, reshapeWithExternalShape("Reshapeish").toByteArray());
        writeShape(tmp.resolve("shape.bin"));
        QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> OrtModelSession.open(model, 1));
        assertTrue(e.getMessage().startsWith("model " + model + " (external data read in): ONNX Runtime cannot load"
                + " it: ") && e.getMessage().contains("Reshapeish"), e.getMessage());

        Path plain = tmp.resolve("plain.onnx");
        ModelProto external = reshapeWithExternalShape("Reshapeish");
        TensorProto inline = TensorProto.newBuilder().setName("shape").setDataType(DataTypes.INT64).addDims(2)
                .addInt64Data(3).addInt64Data(2).build();
        Files.write(plain, external.toBuilder().setGraph(external.getGraph().toBuilder().setInitializer(0, inline))
                .build().toByteArray());
        QuantbridgeException p = assertThrows(QuantbridgeException.class, () -> OrtModelSession.open(plain, 1));
        assertTrue(p.getMessage().startsWith("model " + plain + ": ONNX Runtime cannot load it: ")
                && p.getMessage().contains("Reshapeish"), p.getMessage());
        assertEquals(1, p.getMessage().split("cannot load it", -1).length - 1);
    }

    /**
     * x (a tensor type without a shape: any rank) + s (a scalar, shape []) -> y. ONNX Runtime says [] for both; the
     * session tells them apart from the model and feeds x at whatever rank it comes.
     */
    @Test
    void anInputOfAnyRankIsNotTakenForAScalar(@TempDir Path tmp) throws Exception {
        GraphProto g = GraphProto.newBuilder().setName("g")
                .addInput(OnnxModel.valueInfo("x", DataTypes.FLOAT))
                .addInput(ValueInfoProto.newBuilder().setName("s").setType(TypeProto.newBuilder().setTensorType(
                        TypeProto.Tensor.newBuilder().setElemType(DataTypes.FLOAT)
                                .setShape(TensorShapeProto.newBuilder()))))
                .addOutput(OnnxModel.valueInfo("y", DataTypes.FLOAT))
                .addNode(NodeProto.newBuilder().setOpType("Add").setName("add").addInput("x").addInput("s")
                        .addOutput("y"))
                .build();
        ModelProto proto = ModelProto.newBuilder().setIrVersion(8).setGraph(g)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setVersion(13)).build();
        Path file = tmp.resolve("add.onnx");
        Files.write(file, proto.toByteArray());
        assertEquals("[x float[any rank], s float[]]", OnnxModel.of(proto).inputs().toString());
        try (OrtModelSession byPath = OrtModelSession.open(file, 1);
             OrtModelSession inMemory = OrtModelSession.open(proto.toByteArray(), "add", 1)) {
            for (OrtModelSession s : new OrtModelSession[] {byPath, inMemory}) {
                assertEquals("[x float[any rank], s float[]]", s.inputs().toString());
                assertEquals(false, s.inputs().get(0).rankKnown());
                assertEquals(true, s.inputs().get(1).rankKnown());
                for (long[] shape : new long[][] {{4}, {1, 2, 2}}) {
                    FloatTensor y = s.run(Map.of("x", new FloatTensor(shape, new float[] {1, 2, 3, 4}),
                            "s", new FloatTensor(new long[0], new float[] {10}))).get("y");
                    assertArrayEquals(shape, y.shape());
                    assertArrayEquals(new float[] {11, 12, 13, 14}, y.data());
                }
                // the scalar's rank is known: a vector for it is refused before ONNX Runtime sees it
                QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> s.run(Map.of(
                        "x", new FloatTensor(new long[] {1}, new float[] {1}),
                        "s", new FloatTensor(new long[] {1}, new float[] {1}))));
                assertTrue(e.getMessage().contains("input 's' expects shape [] (-1 = any) but got [1]"),
                        e.getMessage());
            }
        }
        // given the data's rank, x declares it with every dimension open; the scalar keeps its empty shape
        OnnxModel ranked = OnnxModel.of(proto).withInputRanks(Map.of("x", 3, "s", 2, "nothing", 1));
        assertEquals("[x float[-1, -1, -1], s float[]]", ranked.inputs().toString());
    }

    /**
     * {@code close} on one thread while a run is in flight on another waits for it: ONNX Runtime would free the
     * session under the run (a truncated JPEG failing one eval worker closed the sessions while the other worker was
     * running, and the JVM died in libonnxruntime). Later runs are refused by name; a sink cannot close its own run's
     * session (that would wait for itself).
     */
    /**
     * The names of a feed are checked before ONNX Runtime sees it: a name the model lacks was dropped without a word
     * (ONNX Runtime itself refuses it, and so did the OpenVINO session), and an input given as null was called not
     * given.
     */
    @Test
    void aFeedNamingAnInputTheModelLacksIsRefused() {
        Path cls = FetchedData.cache("models/ppocr/ch_ppocr_mobile_v2.0_cls_infer.onnx");
        FloatTensor x = new FloatTensor(new long[] {1, 3, 48, 192}, new float[3 * 48 * 192]);
        try (OrtModelSession s = OrtModelSession.open(cls, 1)) {
            Map<String, FloatTensor> extra = new java.util.LinkedHashMap<>(Map.of("x", x));
            extra.put("scale", x);
            assertEquals(cls + ": the model has no input 'scale' (its inputs: x [-1, 3, -1, -1])",
                    assertThrows(QuantbridgeException.class, () -> s.run(extra)).getMessage());
            Map<String, FloatTensor> nulled = new java.util.HashMap<>();
            nulled.put("x", null);
            assertEquals(cls + ": input 'x' [-1, 3, -1, -1] is given as null",
                    assertThrows(QuantbridgeException.class, () -> s.run(nulled)).getMessage());
            assertEquals(cls + ": the inputs (a map from input name to tensor) are null",
                    assertThrows(NullPointerException.class, () -> s.run(null)).getMessage());
            assertEquals(1, s.run(Map.of("x", x)).size());
        }
    }

    @Test
    void closeWaitsForTheRunsInFlightAndLaterRunsAreRefused() throws Exception {
        Path cls = FetchedData.cache("models/ppocr/ch_ppocr_mobile_v2.0_cls_infer.onnx");
        Map<String, FloatTensor> feed = Map.of("x", new FloatTensor(new long[] {1, 3, 48, 192},
                new float[3 * 48 * 192]));
        OrtModelSession s = OrtModelSession.open(cls, 1);
        CountDownLatch delivering = new CountDownLatch(1);
        AtomicBoolean delivered = new AtomicBoolean();
        AtomicReference<Throwable> failed = new AtomicReference<>();
        Thread run = new Thread(() -> {
            try {
                s.runStreaming(feed, null, (name, shape, data, length) -> {
                    delivering.countDown();
                    try {
                        Thread.sleep(300); // a histogram reading a large output
                    } catch (InterruptedException e) {
                        throw new IllegalStateException(e);
                    }
                    assertArrayEquals(new long[] {1, 2}, shape);
                    delivered.set(true);
                }, false);
            } catch (Throwable t) {
                failed.set(t);
            }
        });
        run.start();
        assertTrue(delivering.await(30, TimeUnit.SECONDS));
        s.close();
        assertTrue(delivered.get(), "close returned while a run was still delivering its outputs");
        run.join();
        assertEquals(null, failed.get());
        QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> s.run(feed));
        assertEquals(cls + ": the session is closed", e.getMessage());
        s.close(); // a second close does nothing

        try (OrtModelSession t = OrtModelSession.open(cls, 1)) {
            QuantbridgeException inside = assertThrows(QuantbridgeException.class,
                    () -> t.runStreaming(feed, null, (name, shape, data, length) -> t.close(), false));
            assertEquals(cls + ": the session cannot be closed from inside one of its own runs", inside.getMessage());
            assertEquals(1, t.run(feed).size()); // still open
        }
    }
}
