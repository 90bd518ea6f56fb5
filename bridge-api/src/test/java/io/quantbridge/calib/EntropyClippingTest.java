package io.quantbridge.calib;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.table.TensorRange;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class EntropyClippingTest {
    private static final CalibratorSpec ENTROPY = CalibratorSpec.builder(CalibrationMethod.ENTROPY).build();

    /**
     * "tail": 99.9% of the values within about 0.15 of 0 and one in a thousand spread evenly up to 4, the shape of
     * ppocr-rec's swish outputs where entropy collapses the model; "plain": a Gaussian, which entropy keeps whole.
     */
    private static TensorStatistics stats() {
        TensorStatistics s = new TensorStatistics();
        Random r = new Random(7);
        float[] tail = new float[100_000];
        float[] plain = new float[100_000];
        for (int i = 0; i < tail.length; i++) {
            tail[i] = i % 1000 == 0 ? (float) (4 * r.nextFloat()) : (float) Math.abs(0.05 * r.nextGaussian());
            plain[i] = (float) r.nextGaussian();
        }
        s.observe("plain", plain);
        s.observe("tail", tail);
        return s;
    }

    @Test
    void findsTheTensorsEntropyClipsFarBelowMse() {
        TensorStatistics s = stats();
        List<TensorRange> ranges = s.ranges(ENTROPY);
        List<EntropyClipping.Clip> found = EntropyClipping.find(s, ENTROPY, ranges);
        assertEquals(List.of("tail"), found.stream().map(EntropyClipping.Clip::tensor).toList());
        EntropyClipping.Clip c = found.get(0);
        double mse = new MseCalibrator(ENTROPY).amax(s.histogram("tail"));
        assertEquals(mse, c.mseAmax());
        assertEquals(ranges.get(1).amax(), c.amax());
        assertTrue(c.amax() < 0.75 && c.mseAmax() > 3.5, c.toString()); // a 5x cut: the one-in-a-thousand tail goes
        assertEquals(s.histogram("tail").absMax(), c.absMax());

        // with the floor, or another calibrator, there is nothing to say
        CalibratorSpec floored = CalibratorSpec.builder(CalibrationMethod.ENTROPY).floor(CalibratorSpec.Floor.MSE).build();
        List<TensorRange> flooredRanges = s.ranges(floored);
        assertTrue(flooredRanges.get(1).amax() >= mse);
        assertEquals(List.of(), EntropyClipping.find(s, floored, flooredRanges));
        CalibratorSpec max = CalibratorSpec.builder(CalibrationMethod.MAX).build();
        assertEquals(List.of(), EntropyClipping.find(s, max, s.ranges(max)));
    }

    @Test
    void recordsTheTightestAndSaysItInOneLine() {
        TensorStatistics s = stats();
        List<TensorRange> ranges = s.ranges(ENTROPY);
        Map<String, Object> calibration = new LinkedHashMap<>();
        assertTrue(EntropyClipping.warning(calibration).isEmpty());
        EntropyClipping.record(s, ENTROPY, ranges, calibration);
        @SuppressWarnings("unchecked")
        Map<String, Object> m = (Map<String, Object>) calibration.get("entropy_clipping");
        assertEquals(1, m.get("tensors"));
        assertEquals(2, m.get("of"));
        assertEquals(2.0, m.get("factor"));
        @SuppressWarnings("unchecked")
        Map<String, Object> t = ((List<Map<String, Object>>) m.get("tightest")).get(0);
        EntropyClipping.Clip c = EntropyClipping.find(s, ENTROPY, ranges).get(0);
        assertEquals(Map.of("tensor", "tail", "amax", c.amax(), "mse_amax", c.mseAmax(), "abs_max", c.absMax()), t);
        assertEquals(String.format(java.util.Locale.ROOT, "entropy clips 1 of 2 tensors to less than half the range"
                        + " mse keeps on the same histograms (tightest: tail at amax %.4g against %.4g, values up to"
                        + " %.4g); if fidelity suffers, --entropy-floor mse never clips tighter than mse (report.json"
                        + " calibration.entropy_clipping)", c.amax(), c.mseAmax(), c.absMax()),
                EntropyClipping.warning(calibration).orElseThrow());

        // a TFLite name joined from every name a fused tensor stands for is cut on the console, whole in the report
        String fused = "model_1/model/re_lu_60/Relu6;" + "model_1/model/batch_normalization_75/FusedBatchNormV3;".repeat(3);
        Map<String, Object> tail = new LinkedHashMap<>(t);
        tail.put("tensor", fused);
        Map<String, Object> cut = new LinkedHashMap<>(m);
        cut.put("tightest", List.of(tail));
        String line = EntropyClipping.warning(Map.of("entropy_clipping", cut)).orElseThrow();
        assertTrue(line.contains("(tightest: " + fused.substring(0, 97) + "... at amax "), line);
        assertEquals(fused.length(), ((String) tail.get("tensor")).length());

        // nothing recorded when nothing is clipped
        Map<String, Object> none = new LinkedHashMap<>();
        EntropyClipping.record(s, ENTROPY, List.of(ranges.get(0)), none);
        assertTrue(none.isEmpty());
    }
}
