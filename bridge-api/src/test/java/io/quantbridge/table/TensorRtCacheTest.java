package io.quantbridge.table;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.QuantbridgeException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TensorRtCacheTest {
    /** Written by hand the way TensorRT writes caches: lower-case hex, no padding, names with ':' and spaces. */
    static final String CACHE = """
            TRT-8601-EntropyCalibration2
            input: 3c008912
            conv1/Relu:0: 3d2e4b1a
            (Unnamed Layer* 3) [Convolution]_output: 3e0d1c2b
            zeros: 0
            tiny: 1
            one: 3f800000
            """;

    @TempDir
    Path dir;

    @Test
    void roundTripsByteForByte() throws IOException {
        Path in = dir.resolve("in.cache");
        Files.writeString(in, CACHE, StandardCharsets.UTF_8);
        TensorRtCache.Contents c = TensorRtCache.read(in);
        assertEquals("8601", c.version());
        assertEquals("EntropyCalibration2", c.algorithm());
        assertEquals(List.of("input", "conv1/Relu:0", "(Unnamed Layer* 3) [Convolution]_output", "zeros", "tiny",
                "one"), List.copyOf(c.table().tensors().keySet()));
        Path out = dir.resolve("out.cache");
        TensorRtCache.write(out, c.table(), c.version(), c.algorithm());
        assertArrayEquals(Files.readAllBytes(in), Files.readAllBytes(out));
        assertEquals(CACHE, TensorRtCache.format(c.table(), "8601", "EntropyCalibration2"));
    }

    @Test
    void decodesTheScale() {
        TensorRange r = TensorRtCache.parse(CACHE, "c").table().tensors().get("input");
        assertEquals(0.0078452, r.scale(), 1e-7);
        assertEquals(0.0078452 * 127, r.amax(), 1e-4);
        assertEquals(0.996, r.amax(), 1e-3);
        assertEquals(r.scale() * 127, r.amax(), 0.0);
        assertEquals(0, r.zeroPoint());
        assertTrue(Double.isNaN(r.min()) && Double.isNaN(r.max()));
        CalibrationTable t = TensorRtCache.parse(CACHE, "c").table();
        assertNull(t.modelSha256());
        assertNull(t.calibrator());
        assertEquals(0.0, t.tensors().get("zeros").amax());
        assertEquals(127.0, t.tensors().get("one").amax());
    }

    @Test
    void encodesLowerCaseUnpadded() {
        assertEquals("3c008912", TensorRtCache.hex(Float.intBitsToFloat(0x3c008912)));
        assertEquals("0", TensorRtCache.hex(0.0));
        assertEquals("0", TensorRtCache.hex(-0.0));
        assertEquals("3f800000", TensorRtCache.hex(1.0));
        assertEquals("1", TensorRtCache.hex(Float.MIN_VALUE));
        CalibrationTable t = new CalibrationTable(null, null, Map.of(),
                List.of(TensorRange.symmetric("a", 0.996, 0, 0.996), TensorRange.symmetric("b", 0.0, 0, 0)));
        assertEquals("TRT-100900-EntropyCalibration2\na: " + Integer.toHexString(Float.floatToIntBits(
                (float) (0.996 / 127))) + "\nb: 0\n", TensorRtCache.format(t, "100900", "EntropyCalibration2"));
    }

    @Test
    void versionAndAlgorithmAreConfigurable() {
        CalibrationTable t = TensorRtCache.parse(CACHE, "c").table();
        assertTrue(TensorRtCache.format(t, "100300", TensorRtCache.MIN_MAX_CALIBRATION)
                .startsWith("TRT-100300-MinMaxCalibration\ninput: 3c008912\n"));
        assertEquals("100900", TensorRtCache.versionOf("10.9.0"));
        assertEquals("100300", TensorRtCache.versionOf("10.3"));
        assertEquals("8601", TensorRtCache.versionOf("8.6.1"));
        assertEquals("7000", TensorRtCache.versionOf("7.0.0"));
        assertEquals("8204", TensorRtCache.versionOf("8204"));
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> TensorRtCache.format(t, "10.9", "EntropyCalibration2"));
        assertEquals("--trt-cache-version: '10.9' is not a number such as 100900 (TensorRT 10.9.0) or 8601"
                + " (TensorRT 8.6.1)", e.getMessage());
        e = assertThrows(QuantbridgeException.class, () -> TensorRtCache.format(t, "100900", "Entropy"));
        assertTrue(e.getMessage().startsWith("TensorRT calibration cache algorithm 'Entropy' is not one of"
                + " EntropyCalibration2, MinMaxCalibration"), e.getMessage());
        Path out = dir.resolve("x.cache");
        e = assertThrows(QuantbridgeException.class, () -> TensorRtCache.write(out, t, "v10", "EntropyCalibration2"));
        assertTrue(e.getMessage().startsWith("cannot write TensorRT calibration cache " + out
                + ": --trt-cache-version: 'v10'"), e.getMessage());
        assertTrue(Files.notExists(out));
    }

    private String error(String text) throws IOException {
        Path f = dir.resolve("bad.cache");
        Files.writeString(f, text);
        return assertThrows(QuantbridgeException.class, () -> TensorRtCache.read(f)).getMessage();
    }

    @Test
    void errorsNameFileAndLine() throws IOException {
        String f = dir.resolve("bad.cache").toString();
        assertEquals("TensorRT calibration cache " + f + ", line 1: bad header \"TRT-abc-EntropyCalibration2\""
                        + " (expected TRT-<version>-<algorithm> such as TRT-100900-EntropyCalibration2; algorithms:"
                        + " EntropyCalibration2, MinMaxCalibration, EntropyCalibration, LegacyCalibration)",
                error("TRT-abc-EntropyCalibration2\nx: 0\n"));
        assertTrue(error("NOT-A-CACHE\n").startsWith("TensorRT calibration cache " + f + ", line 1: bad header"));
        assertTrue(error("TRT-8601-Percentile\n").startsWith("TensorRT calibration cache " + f + ", line 1: bad header"));
        assertTrue(error("").startsWith("TensorRT calibration cache " + f + ", line 1: the file is empty"));
        assertEquals("TensorRT calibration cache " + f + ", line 3: bad hex \"3g000000\" for tensor \"b\""
                        + " (expected the float32 bits of the scale, e.g. 3c008912)",
                error("TRT-8601-EntropyCalibration2\na: 3c008912\nb: 3g000000\n"));
        assertEquals("TensorRT calibration cache " + f + ", line 2: missing ':' in \"a 3c008912\""
                + " (expected <tensor name>: <hex>)", error("TRT-8601-EntropyCalibration2\na 3c008912\n"));
        assertEquals("TensorRT calibration cache " + f + ", line 2: bad hex \"\" for tensor \"a\""
                        + " (expected the float32 bits of the scale, e.g. 3c008912)",
                error("TRT-8601-EntropyCalibration2\na:\n"));
        assertTrue(error("TRT-8601-EntropyCalibration2\na: 123456789\n").contains("line 2: bad hex \"123456789\""));
        assertEquals("TensorRT calibration cache " + f + ", line 2: tensor \"a\" has scale -1.0 (hex bf800000),"
                + " which is not finite and >= 0", error("TRT-8601-EntropyCalibration2\na: bf800000\n"));
        assertTrue(error("TRT-8601-EntropyCalibration2\na: 7fc00000\n").contains("line 2: tensor \"a\" has scale NaN"));
        assertEquals("TensorRT calibration cache " + f + ", line 3: tensor \"a\" appears twice",
                error("TRT-8601-EntropyCalibration2\na: 0\na: 1\n"));
        Path missing = dir.resolve("missing.cache");
        assertEquals("TensorRT calibration cache " + missing + " does not exist",
                assertThrows(QuantbridgeException.class, () -> TensorRtCache.read(missing)).getMessage());
    }

    @Test
    void toleratesCrLfAndBlankLines() {
        TensorRtCache.Contents c = TensorRtCache.parse("TRT-100900-MinMaxCalibration\r\na:b: 3f800000\r\n\r\n", "c");
        assertEquals("100900", c.version());
        assertEquals("MinMaxCalibration", c.algorithm());
        assertEquals(127.0, c.table().tensors().get("a:b").amax());
    }
}
