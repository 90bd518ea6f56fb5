package io.quantbridge.table;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.calib.CalibrationMethod;
import io.quantbridge.calib.CalibratorSpec;
import io.quantbridge.util.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PortableTableFormatTest {
    private static final String SHA = "ab".repeat(32);

    @TempDir
    Path dir;

    static CalibrationTable sample() {
        Map<String, Object> data = new LinkedHashMap<>();
        data.put("fingerprint", "cd".repeat(32));
        data.put("samples", 64L);
        data.put("seed", 7L);
        data.put("preprocessing", Map.of("width", 224L));
        CalibratorSpec spec = CalibratorSpec.builder(CalibrationMethod.PERCENTILE).percentile(99.9).build();
        return new CalibrationTable(SHA, spec, data, List.of(
                TensorRange.symmetric("input", 0.996, 0.0, 0.996),
                TensorRange.symmetric("conv1/Relu:0", 3.25, Double.NaN, Double.NaN),
                TensorRange.symmetric("zeros", 0.0, 0.0, 0.0)));
    }

    @Test
    void roundTripsEverything() throws IOException {
        Path file = dir.resolve("table.json");
        CalibrationTable t = sample();
        PortableTableFormat.write(file, t);
        CalibrationTable back = PortableTableFormat.read(file);

        assertEquals(SHA, back.modelSha256());
        assertEquals(t.calibrator(), back.calibrator());
        assertEquals(List.copyOf(t.tensors().keySet()), List.copyOf(back.tensors().keySet()));
        for (TensorRange r : t.tensors().values()) {
            TensorRange b = back.tensors().get(r.name());
            assertEquals(r.amax(), b.amax(), 0.0);
            assertEquals(r.scale(), b.scale(), 0.0);
            assertEquals(r.zeroPoint(), b.zeroPoint());
            assertEquals(r.min(), b.min(), 0.0); // NaN equals NaN for assertEquals(double)
            assertEquals(r.max(), b.max(), 0.0);
        }
        assertEquals("cd".repeat(32), back.data().get("fingerprint"));
        assertEquals(64L, back.data().get("samples"));
        // a second write gives the same bytes
        Path again = dir.resolve("again.json");
        PortableTableFormat.write(again, back);
        assertEquals(Files.readString(file), Files.readString(again));
        // nothing else (no temporary file) is left in the folder
        try (var s = Files.list(dir)) {
            assertEquals(2, s.count());
        }
    }

    @Test
    void shapeIsTheContract() {
        Map<String, Object> m = Json.parseObject(PortableTableFormat.format(sample()));
        assertEquals(List.of("format", "model", "calibrator", "data", "tensors"), List.copyOf(m.keySet()));
        assertEquals(PortableTableFormat.FORMAT, m.get("format"));
        assertEquals(Map.of("sha256", SHA), m.get("model"));
        @SuppressWarnings("unchecked")
        Map<String, Object> calib = (Map<String, Object>) m.get("calibrator");
        assertEquals("percentile", calib.get("method"));
        assertEquals(99.9, calib.get("percentile"));
        @SuppressWarnings("unchecked")
        Map<String, Map<String, Object>> tensors = (Map<String, Map<String, Object>>) m.get("tensors");
        Map<String, Object> input = tensors.get("input");
        assertEquals(List.of("amax", "scale", "zero_point", "min", "max"), List.copyOf(input.keySet()));
        assertEquals(0.996, input.get("amax"));
        assertEquals(0.996 / 127, (Double) input.get("scale"), 0.0);
        assertEquals(0L, input.get("zero_point"));
        // unknown min/max are written as null
        assertTrue(tensors.get("conv1/Relu:0").containsKey("min"));
        assertNull(tensors.get("conv1/Relu:0").get("min"));
        assertNull(tensors.get("conv1/Relu:0").get("max"));
    }

    @Test
    void unknownModelAndCalibratorRoundTripAsNull() {
        CalibrationTable t = new CalibrationTable(null, null, Map.of(),
                List.of(TensorRange.symmetric("x", 1.0, Double.NaN, Double.NaN)));
        CalibrationTable back = PortableTableFormat.parse(PortableTableFormat.format(t), "t.json");
        assertNull(back.modelSha256());
        assertNull(back.calibrator());
        assertEquals(1.0, back.tensors().get("x").amax());
    }

    private String valid() {
        return PortableTableFormat.format(sample());
    }

    private String error(String text) {
        Path file = dir.resolve("bad.json");
        try {
            Files.writeString(file, text);
        } catch (IOException e) {
            throw new RuntimeException(e);
        }
        return assertThrows(QuantbridgeException.class, () -> PortableTableFormat.read(file)).getMessage();
    }

    private String file() {
        return dir.resolve("bad.json").toString();
    }

    @Test
    void missingTopLevelKey() {
        Map<String, Object> m = Json.parseObject(valid());
        m.remove("tensors");
        assertEquals("calibration table " + file() + ": missing key \"tensors\"", error(Json.write(m)));
        m = Json.parseObject(valid());
        m.put("model", Map.of());
        assertEquals("calibration table " + file() + ": missing key \"model.sha256\"", error(Json.write(m)));
    }

    @SuppressWarnings("unchecked")
    private Map<String, Object> withTensor(String key, Object value) {
        Map<String, Object> m = Json.parseObject(valid());
        Map<String, Object> t = ((Map<String, Map<String, Object>>) m.get("tensors")).get("input");
        if (value == REMOVE) t.remove(key);
        else t.put(key, value);
        return m;
    }

    private static final Object REMOVE = new Object();

    @Test
    void missingTensorKey() {
        assertEquals("calibration table " + file() + ": tensor \"input\": missing key \"scale\"",
                error(Json.write(withTensor("scale", REMOVE))));
        assertEquals("calibration table " + file() + ": tensor \"input\": missing key \"min\"",
                error(Json.write(withTensor("min", REMOVE))));
    }

    @Test
    void nonNumericValue() {
        assertEquals("calibration table " + file() + ": tensor \"input\": \"amax\" \"big\" is not a number",
                error(Json.write(withTensor("amax", "big"))));
        assertEquals("calibration table " + file() + ": tensor \"input\": \"zero_point\" 0.5 is not an integer",
                error(Json.write(withTensor("zero_point", 0.5))));
    }

    @Test
    void negativeAmax() {
        Map<String, Object> m = withTensor("amax", -1.0);
        String msg = error(Json.write(m));
        assertEquals("calibration table " + file() + ": tensor \"input\": \"amax\" -1.0 must be finite and >= 0", msg);
    }

    @Test
    void inconsistentScale() {
        String msg = error(Json.write(withTensor("scale", 0.0079)));
        assertTrue(msg.startsWith("calibration table " + file() + ": tensor \"input\": \"scale\" 0.0079 is"
                + " inconsistent with amax/127 = "), msg);
        // within 1e-6 relative is accepted
        double ok = 0.996 / 127 * (1 + 5e-7);
        Path file = dir.resolve("ok.json");
        io.quantbridge.util.AtomicFiles.writeString(file, Json.write(withTensor("scale", ok)));
        assertEquals(ok, PortableTableFormat.read(file).tensors().get("input").scale(), 0.0);
    }

    @Test
    void minAboveMax() {
        assertEquals("calibration table " + file() + ": tensor \"input\": \"min\" 2.0 is greater than \"max\" 0.996",
                error(Json.write(withTensor("min", 2.0))));
    }

    @Test
    void badJsonFormatAndCalibrator() {
        assertTrue(error("{\"model\": ").startsWith("calibration table " + file() + ": invalid JSON at line 1"));
        assertEquals("calibration table " + file() + ": expected a JSON object at the top level", error("[1, 2]"));
        // the cache written beside the table, given in its place
        assertEquals("calibration table " + file() + " is a TensorRT calibration cache (TRT-100900-EntropyCalibration2),"
                + " which holds scales only: give the portable table written beside it, calibration.json",
                error("TRT-100900-EntropyCalibration2\ninput: 3c010a14\n"));
        // and the report written beside it
        assertEquals("calibration table " + file() + " is a quantize report (report.json), not a calibration table:"
                + " give the calibration.json written beside it",
                error("{\"backend\": \"onnx\", \"precision\": \"int8\", \"artifacts\": []}"));
        Map<String, Object> m = Json.parseObject(valid());
        m.put("format", "quantbridge-calibration-table/9");
        assertEquals("calibration table " + file() + ": unsupported \"format\" \"quantbridge-calibration-table/9\""
                + " (this version reads quantbridge-calibration-table/1)", error(Json.write(m)));
        m = Json.parseObject(valid());
        m.put("calibrator", Map.of("method", "magic"));
        String msg = error(Json.write(m));
        assertTrue(msg.startsWith("calibration table " + file() + ": \"calibrator\": --calibrator: unknown"), msg);
        m = Json.parseObject(valid());
        m.put("tensors", List.of());
        assertEquals("calibration table " + file() + ": \"tensors\" (an array) is not a JSON object",
                error(Json.write(m)));
    }

    @Test
    void missingFile() {
        Path file = dir.resolve("none.json");
        QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> PortableTableFormat.read(file));
        assertEquals("calibration table " + file + " does not exist", e.getMessage());
    }
}
