package io.quantbridge.table;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.calib.CalibrationMethod;
import io.quantbridge.calib.CalibratorSpec;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class CalibrationTableReuseTest {
    private static final String SHA_A = "a".repeat(64);
    private static final String SHA_B = "b".repeat(64);
    private static final CalibratorSpec ENTROPY = CalibratorSpec.of(CalibrationMethod.ENTROPY);
    private static final CalibratorSpec MAX = CalibratorSpec.of(CalibrationMethod.MAX);

    private static CalibrationTable table(String sha, CalibratorSpec spec) {
        return new CalibrationTable(sha, spec, Map.of(), List.of(TensorRange.symmetric("x", 1, -1, 1)));
    }

    @Test
    void sameModelAndCalibratorIsReusable() {
        assertEquals(List.of(), table(SHA_A, ENTROPY).checkReusableFor(SHA_A, CalibratorSpec.of(CalibrationMethod.ENTROPY), false));
    }

    @Test
    void modelHashDiffers() {
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> table(SHA_A, ENTROPY).checkReusableFor(SHA_B, ENTROPY, false));
        assertEquals("calibration table cannot be reused: model SHA-256 differs (table " + SHA_A + ", model " + SHA_B
                + ") (pass --force-table to use it anyway)", e.getMessage());
    }

    @Test
    void calibratorDiffers() {
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> table(SHA_A, ENTROPY).checkReusableFor(SHA_A, MAX, false));
        assertEquals("calibration table cannot be reused: calibrator differs (table " + ENTROPY.toMap()
                + ", requested " + MAX.toMap() + ") (pass --force-table to use it anyway)", e.getMessage());
    }

    @Test
    void overrideReturnsTheDifferences() {
        List<String> diffs = table(SHA_A, ENTROPY).checkReusableFor(SHA_B, MAX, true);
        assertEquals(List.of("model SHA-256 differs (table " + SHA_A + ", model " + SHA_B + ")",
                "calibrator differs (table " + ENTROPY.toMap() + ", requested " + MAX.toMap() + ")"), diffs);
    }

    @Test
    void unknownProvenanceIsNotADifference() {
        // a table read from a TensorRT cache knows neither model nor calibrator
        assertEquals(List.of(), table(null, null).checkReusableFor(SHA_B, MAX, false));
    }
}
