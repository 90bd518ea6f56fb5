package io.quantbridge.tflite;

import io.quantbridge.tensor.Float16;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.tensorflow.lite.schema.BuiltinOperator;
import org.tensorflow.lite.schema.OperatorT;
import org.tensorflow.lite.schema.TensorT;
import org.tensorflow.lite.schema.TensorType;

/**
 * FP16 mode: every float32 constant with at least {@link #MIN_ELEMENTS} values that an operator reads is stored as
 * a FLOAT16 constant feeding a DEQUANTIZE (the layout TFLite's own float16 quantization and MediaPipe use), halving
 * the weights; activations stay float32. Returns the number of constants converted.
 */
final class Fp16Weights {
    static final int MIN_ELEMENTS = 16;

    private Fp16Weights() { }

    static int convert(TfliteModel m) {
        Set<Integer> consumed = new HashSet<>();
        for (OperatorT op : m.operators()) for (int i : op.getInputs()) if (i >= 0) consumed.add(i);
        List<OperatorT> dequantize = new ArrayList<>();
        int converted = 0;
        int tensors = m.main().getTensors().length;
        for (int t = 0; t < tensors; t++) {
            TensorT tt = m.tensor(t);
            if (!consumed.contains(t) || tt.getType() != TensorType.FLOAT32 || !m.isConstant(t)) continue;
            float[] v = m.floats(t);
            if (v.length < MIN_ELEMENTS) continue;
            ByteBuffer bb = ByteBuffer.allocate(v.length * 2).order(ByteOrder.LITTLE_ENDIAN);
            for (float x : v) bb.putShort(Float16.fromFloat(x));
            int buf = m.addBuffer(bb.array());
            int half = m.addTensor(TfliteModel.newTensor(tt.getName() + "/fp16", TensorType.FLOAT16, tt.getShape(),
                    tt.getShapeSignature(), buf, null));
            tt.setBuffer(0);
            OperatorT dq = new OperatorT();
            dq.setOpcodeIndex(m.opCodeIndex(BuiltinOperator.DEQUANTIZE, 3));
            dq.setInputs(new int[] {half});
            dq.setOutputs(new int[] {t});
            dequantize.add(dq);
            converted++;
        }
        List<OperatorT> ops = new ArrayList<>(dequantize);
        ops.addAll(m.operators());
        m.main().setOperators(ops.toArray(new OperatorT[0]));
        m.compact();
        return converted;
    }
}
