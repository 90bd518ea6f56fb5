package io.quantbridge.onnx.backend;

import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.OrtQdqLayout;
import io.quantbridge.onnx.QdqPlan;
import io.quantbridge.onnx.QdqQuantizer;
import io.quantbridge.table.TensorRange;
import java.util.Map;

/**
 * What a target makes of the Q/DQ model {@link QdqQuantizer} writes: TensorRT and OpenVINO take it as it is, ONNX
 * Runtime gets {@link OrtQdqLayout}. The steps that score or correct int8 models during quantization (strength search,
 * float-layer search, empirical bias correction) go through it, so that they judge the model that is written.
 */
@FunctionalInterface
interface QdqLayout {
    /** TensorRT's placement as written (also OpenVINO's). */
    QdqLayout TENSORRT = (qdq, plan, ranges) -> qdq;
    /** The layout ONNX Runtime's CPU int8 kernels fuse. */
    QdqLayout ONNXRUNTIME = (qdq, plan, ranges) -> OrtQdqLayout.apply(qdq, ranges, plan.sharedScaleGroups()).model();

    /** {@code qdq}, a model QdqQuantizer wrote for {@code plan} from {@code ranges}, as this target runs it. */
    OnnxModel apply(OnnxModel qdq, QdqPlan plan, Map<String, TensorRange> ranges);

    /** The Q/DQ model of {@code plan} for this target. */
    default OnnxModel write(QdqPlan plan, Map<String, TensorRange> ranges) {
        return apply(QdqQuantizer.apply(plan, ranges).model(), plan, ranges);
    }
}
