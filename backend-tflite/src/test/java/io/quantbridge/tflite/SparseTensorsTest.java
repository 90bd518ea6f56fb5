package io.quantbridge.tflite;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.calib.CalibrationMethod;
import io.quantbridge.calib.CalibratorSpec;
import io.quantbridge.request.Precision;
import io.quantbridge.backend.Progress;
import io.quantbridge.request.QuantizationRequest;
import io.quantbridge.request.QuantizationResult;
import io.quantbridge.data.Layout;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.data.SampleSource;
import io.quantbridge.tensor.FloatTensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.lite.schema.BuiltinOperator;
import org.tensorflow.lite.schema.DimensionMetadataT;
import org.tensorflow.lite.schema.DimensionType;
import org.tensorflow.lite.schema.Int32VectorT;
import org.tensorflow.lite.schema.SparseIndexVector;
import org.tensorflow.lite.schema.SparseIndexVectorUnion;
import org.tensorflow.lite.schema.SparsityParametersT;
import org.tensorflow.lite.schema.TensorT;
import org.tensorflow.lite.schema.TensorType;
import org.tensorflow.lite.schema.Uint16VectorT;
import org.tensorflow.lite.schema.Uint8VectorT;

/** Sparse constants made dense in Java, checked by hand and against TFLite's own DENSIFY on a real model. */
class SparseTensorsTest {
    @TempDir
    Path tmp;

    private static final String SPARSE_MODEL = "face_detection_full_range_sparse.tflite";
    private static final Preprocessing MINUS_ONE_TO_ONE = Preprocessing.builder().scale(1 / 127.5)
            .mean(1, 1, 1).std(1, 1, 1).layout(Layout.NHWC).build();

    private static DimensionMetadataT dense(int size) {
        DimensionMetadataT d = new DimensionMetadataT();
        d.setFormat(DimensionType.DENSE);
        d.setDenseSize(size);
        return d;
    }

    private static SparseIndexVectorUnion vector(byte type, int... values) {
        SparseIndexVectorUnion u = new SparseIndexVectorUnion();
        u.setType(type);
        switch (type) {
            case SparseIndexVector.Int32Vector -> {
                Int32VectorT v = new Int32VectorT();
                v.setValues(values);
                u.setValue(v);
            }
            case SparseIndexVector.Uint16Vector -> {
                Uint16VectorT v = new Uint16VectorT();
                v.setValues(values);
                u.setValue(v);
            }
            default -> {
                Uint8VectorT v = new Uint8VectorT();
                v.setValues(values);
                u.setValue(v);
            }
        }
        return u;
    }

    private static DimensionMetadataT csr(byte type, int[] segments, int[] indices) {
        DimensionMetadataT d = new DimensionMetadataT();
        d.setFormat(DimensionType.SPARSE_CSR);
        d.setArraySegments(vector(type, segments));
        d.setArrayIndices(vector(type, indices));
        return d;
    }

    private static TensorT sparse(int[] shape, int[] order, int[] blockMap, DimensionMetadataT... meta) {
        SparsityParametersT sp = new SparsityParametersT();
        sp.setTraversalOrder(order);
        sp.setBlockMap(blockMap);
        sp.setDimMetadata(meta);
        TensorT t = TfliteModel.newTensor("w", TensorType.FLOAT32, shape, null, 0, null);
        t.setSparsity(sp);
        return t;
    }

    private static float[] dense(TensorT t, float... stored) {
        byte[] b = SparseTensors.toDense(t, TfliteModel.floatBytes(stored), "test.tflite");
        float[] f = new float[b.length / 4];
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(f);
        return f;
    }

    @Test
    void blockSparseMatrixWithTwoByTwoBlocks() {
        // [[1 0 2 3] [0 4 0 0] [0 0 5 0] [0 0 0 6]]: blocks (0,0), (0,1) and (1,1) are stored, (1,0) is all zeros
        TensorT t = sparse(new int[] {4, 4}, new int[] {0, 1, 2, 3}, new int[] {0, 1},
                dense(2), csr(SparseIndexVector.Uint8Vector, new int[] {0, 2, 3}, new int[] {0, 1, 1}),
                dense(2), dense(2));
        assertArrayEquals(new float[] {1, 0, 2, 3, 0, 4, 0, 0, 0, 0, 5, 0, 0, 0, 0, 6},
                dense(t, 1, 0, 0, 4, 2, 3, 0, 0, 5, 0, 0, 6));
    }

    @Test
    void rowsOfAOneByOneConvInCsrAsMediaPipeStoresThem() {
        // [2, 1, 1, 4] weights: output channel 0 keeps inputs 1 and 3, channel 1 keeps input 0
        TensorT t = sparse(new int[] {2, 1, 1, 4}, new int[] {0, 1, 2, 3}, null, dense(2), dense(1), dense(1),
                csr(SparseIndexVector.Uint16Vector, new int[] {0, 2, 3}, new int[] {1, 3, 0}));
        assertArrayEquals(new float[] {0, 7, 0, 8, 9, 0, 0, 0}, dense(t, 7, 8, 9));
        // a traversal order that visits columns first stores the transposed matrix
        TensorT cols = sparse(new int[] {2, 3}, new int[] {1, 0}, null, dense(3),
                csr(SparseIndexVector.Int32Vector, new int[] {0, 1, 1, 3}, new int[] {1, 0, 1}));
        assertArrayEquals(new float[] {0, 0, 5, 4, 0, 6}, dense(cols, 4, 5, 6));
    }

    @Test
    void corruptSparsityIsAnErrorNamingTheTensor() {
        TensorT beyond = sparse(new int[] {2, 4}, new int[] {0, 1}, null, dense(2),
                csr(SparseIndexVector.Uint8Vector, new int[] {0, 1, 2}, new int[] {1, 4}));
        QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> dense(beyond, 1, 2));
        assertEquals("model test.tflite: sparse tensor 'w' is corrupt: an index 4 beyond dimension 1 of size 4",
                e.getMessage());
        TensorT counts = sparse(new int[] {2, 4}, new int[] {0, 1}, null, dense(2),
                csr(SparseIndexVector.Uint8Vector, new int[] {0, 1, 2}, new int[] {1, 2}));
        e = assertThrows(QuantbridgeException.class, () -> dense(counts, 1, 2, 3));
        assertEquals("model test.tflite: sparse tensor 'w' is corrupt: its index arrays select 2 values but 3 are"
                + " stored", e.getMessage());
    }

    private static Map<String, FloatTensor> photo(TfliteSession s, String file) {
        Path p = RealData.data("opencv").resolve(file);
        return SampleSource.load(SampleSource.discover(p).samples().get(0), s.inputs(), MINUS_ONE_TO_ONE);
    }

    @Test
    void densifiedRealModelComputesWhatTfliteDensifyComputes() {
        Path model = RealData.model("blazeface-tflite", SPARSE_MODEL);
        TfliteModel m = TfliteModel.load(model);
        long densify = m.operators().stream().filter(o -> m.builtinCode(o) == BuiltinOperator.DENSIFY).count();
        assertEquals(46, SparseTensors.densify(m));
        assertEquals(46, densify);
        assertTrue(m.operators().stream().noneMatch(o -> m.builtinCode(o) == BuiltinOperator.DENSIFY));
        for (TensorT t : m.main().getTensors()) assertNull(t.getSparsity(), t.getName());
        Path out = tmp.resolve("dense.tflite");
        m.save(out);
        // the interpreter's own kernels (no XNNPACK): the same float16 weights, so bit-identical outputs
        TfliteSession.Options plain = new TfliteSession.Options(1, false, false);
        try (TfliteSession a = TfliteSession.open(model, plain); TfliteSession b = TfliteSession.open(out, plain)) {
            Map<String, FloatTensor> feed = photo(a, "messi5.jpg");
            Map<String, FloatTensor> ra = a.run(feed);
            Map<String, FloatTensor> rb = b.run(feed);
            assertEquals(ra.keySet(), rb.keySet());
            for (String k : ra.keySet()) assertArrayEquals(ra.get(k).data(), rb.get(k).data(), 0f, k);
        }
    }

    @SuppressWarnings("unchecked")
    private static double cosine(QuantizationResult r, String output) {
        Map<String, Map<String, Object>> f = (Map<String, Map<String, Object>>) r.report().get("fidelity");
        return ((Number) f.get(output).get("cosine")).doubleValue();
    }

    @Test
    @SuppressWarnings("unchecked")
    void sparseWeightedDetectorQuantizesLikeADenseOne() {
        Path model = RealData.model("blazeface-tflite", SPARSE_MODEL);
        Path photos = RealData.data("opencv");
        QuantizationRequest.Builder b = QuantizationRequest.builder().model(model).seed(1).threads(2)
                .calibrationData(photos).evaluationData(photos).maxSamples(32).preprocessing(MINUS_ONE_TO_ONE)
                .calibrator(CalibratorSpec.of(CalibrationMethod.MSE));
        QuantizationResult int8 = new TfliteBackend().quantize(b.outputDir(tmp.resolve("int8")).build(),
                Progress.NONE);
        TfliteModel q = TfliteModel.load(tmp.resolve("int8").resolve(TfliteQuantization.INT8_MODEL));
        // before: the 46 sparse 1x1 convs stayed float ("weights are not constant"), and XNNPACK ran the float
        // convs wrongly: cosine 0.38 / 0.71
        assertEquals(TfliteQuantizationTest.assertInt8Compute(q), RealData.weightedOps(q).size());
        assertTrue(RealData.weightedOps(q).size() > 80);
        Map<String, Object> info = (Map<String, Object>) int8.report().get("model");
        assertEquals(46, info.get("sparse_weights_densified"));
        for (String out : List.of("Identity", "Identity_1")) {
            assertTrue(cosine(int8, out) > 0.975, out + " int8 " + cosine(int8, out));
        }
        // before: NaN on 57 of the 59 held-out photos (XNNPACK on the float32 constants beside DENSIFY)
        QuantizationResult fp16 = new TfliteBackend().quantize(b.outputDir(tmp.resolve("fp16"))
                .precision(Precision.FP16).build(), Progress.NONE);
        for (String out : List.of("Identity", "Identity_1")) {
            assertTrue(cosine(fp16, out) > 0.99999, out + " fp16 " + cosine(fp16, out));
        }
    }
}
