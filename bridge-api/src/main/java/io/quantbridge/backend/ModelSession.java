package io.quantbridge.backend;

import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.tensor.TensorInfo;
import java.util.List;
import java.util.Map;

/**
 * A loaded model ready to run. Holds native resources: close it. Implementations document whether {@link #run} may
 * be called from several threads at once.
 */
public interface ModelSession extends AutoCloseable {
    List<TensorInfo> inputs();

    List<TensorInfo> outputs();

    /**
     * Runs the model once. Inputs are keyed by input name; every model input must be present with a shape that fits.
     * Returns every model output by name, in model order.
     */
    Map<String, FloatTensor> run(Map<String, FloatTensor> inputs);

    @Override
    void close();
}
