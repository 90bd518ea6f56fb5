package io.quantbridge.openvino;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.QuantbridgeException;

import io.quantbridge.data.DataSplit;
import io.quantbridge.data.NpyFile;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.data.SampleSource;
import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.tensor.TensorInfo;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Which static input shape a model with dynamic dimensions is compiled for. */
class StaticShapeTest {
    @TempDir
    Path tmp;

    @Test
    void npySamplesFixTheDynamicWidthOfATextRecogniser() {
        for (int i = 0; i < 3; i++) {
            NpyFile.write(tmp.resolve("line" + i + ".npy"), new FloatTensor(new long[] {1, 3, 48, 96},
                    new float[3 * 48 * 96]));
        }
        DataSplit split = DataSplit.split(SampleSource.discover(tmp).samples(), 1, 2);
        Preprocessing none = Preprocessing.builder().build();
        List<TensorInfo> rec = List.of(new TensorInfo("x", "float", new long[] {-1, 3, 48, -1}));
        // no --size: nothing to fill the width from but the data
        assertNull(OpenVinoQuantization.staticInputShape(rec, none));
        assertArrayEquals(new long[] {1, 3, 48, 96}, OpenVinoQuantization.sampleShape(rec, split, none));
        // a model whose static height the samples contradict: the loader's error names the file and both shapes
        List<TensorInfo> other = List.of(new TensorInfo("x", "float", new long[] {-1, 3, 32, -1}));
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> OpenVinoQuantization.sampleShape(other, split, none));
        assertTrue(e.getMessage().contains("shape [1, 3, 48, 96] does not match model input 'x' [-1, 3, 32, -1]"),
                e.getMessage());
        // static models and missing data: nothing to do
        assertNull(OpenVinoQuantization.sampleShape(List.of(new TensorInfo("x", "float", new long[] {1, 3, 48, 96})),
                split, none));
        assertNull(OpenVinoQuantization.sampleShape(rec, null, none));
    }
}
