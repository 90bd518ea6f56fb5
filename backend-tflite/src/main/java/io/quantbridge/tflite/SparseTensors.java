package io.quantbridge.tflite;

import io.quantbridge.QuantbridgeException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.tensorflow.lite.schema.BuiltinOperator;
import org.tensorflow.lite.schema.DimensionMetadataT;
import org.tensorflow.lite.schema.DimensionType;
import org.tensorflow.lite.schema.OperatorT;
import org.tensorflow.lite.schema.SparseIndexVector;
import org.tensorflow.lite.schema.SparseIndexVectorUnion;
import org.tensorflow.lite.schema.SparsityParametersT;
import org.tensorflow.lite.schema.TensorT;
import org.tensorflow.lite.schema.TensorType;

/**
 * Sparse constants (TFLite's {@code SparsityParameters}: a traversal order, optional blocks, and per traversed
 * dimension either a dense size or CSR segments and indices) made dense in Java. MediaPipe's pose and full-range face
 * detectors store their 1x1 conv weights this way, as float16 constants behind DENSIFY and DEQUANTIZE.
 *
 * <p>{@link #densify} rewrites every sparse constant of the main subgraph into a dense one and drops the DENSIFY
 * operators that read them, so that the quantizers see ordinary constant weights. It also avoids a runtime fault: the
 * XNNPACK delegate of TFLite 2.20 computed wrong outputs (face_detection_full_range_sparse: largest output 31 against
 * 98) for the same graph once its other float16 weights had been turned into float32 constants, while the
 * interpreter's own kernels agreed with the original.
 */
final class SparseTensors {
    private SparseTensors() { }

    /** Makes every sparse constant dense and removes the DENSIFY operators; returns how many constants it densified. */
    static int densify(TfliteModel m) {
        TensorT[] tensors = m.main().getTensors();
        int densified = 0;
        for (int t = 0; t < tensors.length; t++) {
            TensorT tt = tensors[t];
            if (tt.getSparsity() == null || !m.isConstant(t)) continue;
            byte[] dense = toDense(tt, m.bytes(t), m.label());
            tt.setBuffer(m.addBuffer(dense));
            tt.setSparsity(null);
            densified++;
        }
        List<OperatorT> kept = new ArrayList<>();
        int dropped = 0;
        for (OperatorT op : m.operators()) {
            if (m.builtinCode(op) == BuiltinOperator.DENSIFY && op.getInputs().length == 1
                    && op.getOutputs().length == 1 && m.isConstant(op.getInputs()[0])
                    && m.tensor(op.getInputs()[0]).getSparsity() == null) {
                TensorT out = m.tensor(op.getOutputs()[0]);
                out.setBuffer(m.addBuffer(m.bytes(op.getInputs()[0])));
                out.setSparsity(null);
                dropped++;
                continue;
            }
            kept.add(op);
        }
        if (dropped > 0) m.main().setOperators(kept.toArray(new OperatorT[0]));
        if (densified > 0 || dropped > 0) m.compact();
        return densified;
    }

    /**
     * The dense row-major bytes of a sparse tensor, as TFLite's format converter lays them out: the traversed
     * dimensions are visited in order, a dense one over its size, a CSR one over the indices of the segment its
     * parent position selects; blocked dimensions add their offset within the block to the dimension they refine.
     */
    static byte[] toDense(TensorT t, byte[] stored, String model) {
        String where = "model " + model + ": sparse tensor '" + t.getName() + "'";
        int elemSize = switch (t.getType()) {
            case TensorType.FLOAT32, TensorType.INT32 -> 4;
            case TensorType.FLOAT16, TensorType.INT16 -> 2;
            case TensorType.INT8, TensorType.UINT8 -> 1;
            default -> throw new QuantbridgeException(where + " is " + TfliteModel.typeName(t.getType())
                    + ": only float32, float16, int32, int16 and int8 sparse constants are read");
        };
        int[] shape = t.getShape();
        SparsityParametersT sp = t.getSparsity();
        int rank = shape.length;
        int[] order = sp.getTraversalOrder() == null ? new int[0] : sp.getTraversalOrder();
        int[] blockMap = sp.getBlockMap() == null ? new int[0] : sp.getBlockMap();
        DimensionMetadataT[] meta = sp.getDimMetadata() == null ? new DimensionMetadataT[0] : sp.getDimMetadata();
        int levels = rank + blockMap.length;
        if (order.length != levels || meta.length != levels) {
            throw corrupt(where, "traversal order of " + order.length + " and " + meta.length
                    + " dimension metadata for rank " + rank + " with " + blockMap.length + " block dimension(s)");
        }
        boolean[] seen = new boolean[levels];
        for (int d : order) {
            if (d < 0 || d >= levels || seen[d]) throw corrupt(where, "traversal order " + Arrays.toString(order));
            seen[d] = true;
        }
        int[] blockSize = new int[blockMap.length];
        for (int b = 0; b < blockMap.length; b++) {
            if (blockMap[b] < 0 || blockMap[b] >= rank) throw corrupt(where, "block map " + Arrays.toString(blockMap));
            if (meta[rank + b].getFormat() != DimensionType.DENSE || meta[rank + b].getDenseSize() <= 0) {
                throw corrupt(where, "block dimension " + b + " is not dense");
            }
            blockSize[b] = meta[rank + b].getDenseSize();
        }
        long count = 1;
        for (int d : shape) {
            if (d < 0) throw corrupt(where, "shape " + Arrays.toString(shape));
            count *= d;
        }
        if (count * elemSize > Integer.MAX_VALUE) throw corrupt(where, "shape " + Arrays.toString(shape));
        Walk w = new Walk(where, shape, order, blockMap, blockSize, meta, stored, elemSize,
                new byte[(int) (count * elemSize)]);
        w.populate(new int[levels], 0, 0);
        if (w.next != stored.length / elemSize || stored.length % elemSize != 0) {
            throw corrupt(where, "its index arrays select " + w.next + " values but " + stored.length / elemSize
                    + " are stored");
        }
        return w.dense;
    }

    private static final class Walk {
        final String where;
        final int[] shape;
        final int[] order;
        final int[] blockMap;
        final int[] blockSize;
        final DimensionMetadataT[] meta;
        final int[][] segments;
        final int[][] indices;
        final byte[] stored;
        final int elemSize;
        final byte[] dense;
        int next;

        Walk(String where, int[] shape, int[] order, int[] blockMap, int[] blockSize, DimensionMetadataT[] meta,
                byte[] stored, int elemSize, byte[] dense) {
            this.where = where;
            this.shape = shape;
            this.order = order;
            this.blockMap = blockMap;
            this.blockSize = blockSize;
            this.meta = meta;
            this.stored = stored;
            this.elemSize = elemSize;
            this.dense = dense;
            segments = new int[meta.length][];
            indices = new int[meta.length][];
            for (int l = 0; l < meta.length; l++) {
                if (meta[l].getFormat() == DimensionType.SPARSE_CSR) {
                    segments[l] = values(meta[l].getArraySegments(), "array_segments", l);
                    indices[l] = values(meta[l].getArrayIndices(), "array_indices", l);
                } else if (meta[l].getFormat() != DimensionType.DENSE || meta[l].getDenseSize() < 0) {
                    throw corrupt(where, "dimension metadata " + l + " has format " + meta[l].getFormat());
                }
            }
        }

        private int[] values(SparseIndexVectorUnion u, String what, int level) {
            int[] v = null;
            if (u != null) {
                switch (u.getType()) {
                    case SparseIndexVector.Int32Vector -> v = u.asInt32Vector().getValues();
                    case SparseIndexVector.Uint16Vector -> v = u.asUint16Vector().getValues();
                    case SparseIndexVector.Uint8Vector -> v = u.asUint8Vector().getValues();
                    default -> v = null;
                }
            }
            if (v == null) throw corrupt(where, "dimension " + level + " is CSR without " + what);
            return v;
        }

        void populate(int[] idx, int level, int prev) {
            if (level == idx.length) {
                place(idx);
                return;
            }
            if (meta[level].getFormat() == DimensionType.DENSE) {
                int size = meta[level].getDenseSize();
                for (int i = 0; i < size; i++) {
                    idx[level] = i;
                    populate(idx, level + 1, prev * size + i);
                }
                return;
            }
            int[] seg = segments[level];
            int[] ind = indices[level];
            if (prev + 1 >= seg.length) throw corrupt(where, "array_segments of dimension " + level + " too short");
            int from = seg[prev];
            int to = seg[prev + 1];
            if (from < 0 || to < from || to > ind.length) {
                throw corrupt(where, "array_segments of dimension " + level + " out of range");
            }
            for (int i = from; i < to; i++) {
                idx[level] = ind[i];
                populate(idx, level + 1, i);
            }
        }

        private void place(int[] idx) {
            int rank = shape.length;
            int[] orig = new int[rank];
            for (int l = 0; l < rank; l++) orig[order[l]] = idx[l];
            for (int l = rank; l < idx.length; l++) {
                int b = order[l] - rank;
                if (b < 0) throw corrupt(where, "traversal order " + Arrays.toString(order));
                orig[blockMap[b]] = orig[blockMap[b]] * blockSize[b] + idx[l];
            }
            long flat = 0;
            for (int d = 0; d < rank; d++) {
                if (orig[d] < 0 || orig[d] >= shape[d]) {
                    throw corrupt(where, "an index " + orig[d] + " beyond dimension " + d + " of size " + shape[d]);
                }
                flat = flat * shape[d] + orig[d];
            }
            if ((long) (next + 1) * elemSize > stored.length) {
                throw corrupt(where, "its index arrays select more values than the " + stored.length / elemSize
                        + " stored");
            }
            System.arraycopy(stored, next * elemSize, dense, (int) flat * elemSize, elemSize);
            next++;
        }
    }

    private static QuantbridgeException corrupt(String where, String what) {
        return new QuantbridgeException(where + " is corrupt: " + what);
    }
}
