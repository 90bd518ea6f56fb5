package io.quantbridge.calib;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.table.CalibrationTable;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The entropy calibrator's MSE floor ({@link CalibratorSpec.Floor}). */
class EntropyFloorTest {
    private static final CalibratorSpec ENTROPY = CalibratorSpec.of(CalibrationMethod.ENTROPY);
    private static final CalibratorSpec FLOORED = CalibratorSpec.builder(CalibrationMethod.ENTROPY)
            .floor(CalibratorSpec.Floor.MSE).build();
    private static final CalibratorSpec MSE = CalibratorSpec.of(CalibrationMethod.MSE);

    private static Histogram histogram(float[] x) {
        Histogram h = new Histogram();
        h.add(x, 0, x.length);
        return h;
    }

    /**
     * A sparse RELU6 map like those of pose-lite's segmentation branch: half exact zeros, a bulk decaying within about
     * 0.1 (exponential, mean 0.05) and one value in a thousand anywhere up to 6.
     */
    private static float[] sparse(long seed) {
        Random r = new Random(seed);
        float[] x = new float[200_000];
        for (int i = 0; i < x.length; i++) {
            if (r.nextDouble() < 0.5) continue;
            x[i] = r.nextDouble() < 0.001 ? (float) (6 * r.nextDouble())
                    : (float) Math.min(6, -0.05 * Math.log(1 - r.nextDouble()));
        }
        return x;
    }

    /** Dense: a standard normal, where entropy keeps a little more range than MSE. */
    private static float[] normal(long seed) {
        Random r = new Random(seed);
        float[] x = new float[200_000];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        return x;
    }

    @Test
    void whereEntropyClipsHarderThanMseTheFloorGivesMsesThreshold() {
        Histogram h = histogram(sparse(1));
        double entropy = ENTROPY.create().amax(h);
        double mse = MSE.create().amax(h);
        assertTrue(entropy < 0.5 * mse, "entropy " + entropy + " against mse " + mse); // the collapse
        assertEquals(mse, FLOORED.create().amax(h), 0);
    }

    @Test
    void whereEntropyKeepsMoreRangeTheFloorChangesNothing() {
        Histogram h = histogram(normal(2));
        double entropy = ENTROPY.create().amax(h);
        double mse = MSE.create().amax(h);
        assertTrue(entropy > mse, "entropy " + entropy + " against mse " + mse);
        assertEquals(entropy, FLOORED.create().amax(h), 0);
    }

    @Test
    void theFloorIsRecordedOnlyWhenSetAndReadBack() {
        assertFalse(ENTROPY.toMap().containsKey("floor"));
        assertEquals("mse", FLOORED.toMap().get("floor"));
        assertEquals(FLOORED, CalibratorSpec.fromMap(FLOORED.toMap()));
        assertEquals(ENTROPY, CalibratorSpec.fromMap(ENTROPY.toMap()));
        assertFalse(FLOORED.equals(ENTROPY));
        assertEquals(CalibratorSpec.Floor.NONE, CalibratorSpec.fromMap(Map.of("method", "entropy")).floor());
    }

    @Test
    void aTableMadeWithTheFloorIsNotReusedWithoutIt() {
        CalibrationTable table = new CalibrationTable("abc", FLOORED, Map.of(), List.of());
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> table.checkReusableFor("abc", ENTROPY, false));
        assertTrue(e.getMessage().startsWith("calibration table cannot be reused: calibrator differs (table {method="
                + "entropy, bins=2048, levels=128, start_bin=128, zero_bin=suppress, tie_break=first, q_mask=kept, "
                + "floor=mse}, requested {method=entropy,"), e.getMessage());
        assertEquals(List.of(), table.checkReusableFor("abc", FLOORED, false));
    }

    @Test
    void otherCalibratorsRefuseAFloor() {
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> CalibratorSpec.builder(CalibrationMethod.PERCENTILE).floor(CalibratorSpec.Floor.MSE).build());
        assertEquals("calibrator floor mse applies only to the entropy calibrator, not percentile", e.getMessage());
    }
}
