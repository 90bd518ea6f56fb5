package io.quantbridge.onnx.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The samples and the rescoring width of the float-layer search's screening round. */
class FloatLayerSearchTest {
    @Test
    void theScreeningSamplesAreThoseWithTheLargestErrorInIndexOrder() {
        double[] err = {0.5, 9, 0.1, 7, 7, 3};
        assertArrayEquals(new int[] {1, 3, 4}, FloatLayerSearch.largest(err, 3));
        // a tie at the cut goes to the lower index
        assertArrayEquals(new int[] {1, 3}, FloatLayerSearch.largest(err, 2));
        assertArrayEquals(new int[] {0, 1, 2, 3, 4, 5}, FloatLayerSearch.largest(err, 10));
    }

    @Test
    void atLeastTwelveAndFourPerRequestedNodeAreScoredAgainOnEverySample() {
        assertEquals(12, FloatLayerSearch.rescored(1));
        assertEquals(12, FloatLayerSearch.rescored(3));
        assertEquals(20, FloatLayerSearch.rescored(5));
    }
}
