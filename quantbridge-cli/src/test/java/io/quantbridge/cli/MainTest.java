package io.quantbridge.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MainTest {
    @TempDir
    Path tmp;

    record Run(int code, String out, String err) { }

    static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(args, new PrintWriter(out), new PrintWriter(err));
        return new Run(code, out.toString(), err.toString());
    }

    @Test
    void benchTakesTheMedianOfAnEvenCountAsTheMeanOfItsMiddleTwo() {
        // bench took the upper middle value: 2 timed runs of 2 and 6 ms gave a median of 6 above a mean of 4
        assertEquals(4.0, BenchCommand.median(new double[] {2, 6}));
        assertEquals(3.5, BenchCommand.median(new double[] {1, 3, 4, 9}));
        assertEquals(3.0, BenchCommand.median(new double[] {1, 3, 9}));
        assertEquals(7.0, BenchCommand.median(new double[] {7}));
    }

    @Test
    void backendsListsAllFourWithTheirStatus() {
        Run r = run("backends");
        assertEquals(0, r.code(), r.err());
        for (String id : new String[] {"onnx", "tensorrt", "tflite", "openvino"}) {
            assertTrue(r.out().lines().anyMatch(l -> l.startsWith(id + " ")), id + " missing:\n" + r.out());
        }
        assertTrue(r.out().lines().anyMatch(l -> l.matches("tensorrt +300 +unusable +no CUDA device.*")), r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.matches("onnx +\\d+ +usable .*")), r.out());
        // the table is sorted by rank: the default is its first usable backend (openvino once its runtime is fetched)
        String first = r.out().lines().filter(l -> l.matches("\\w+ +\\d+ +usable .*")).findFirst().orElseThrow()
                .split(" ")[0];
        assertTrue(r.out().contains("selected: " + first + " (default (highest-ranked usable backend))"), r.out());
    }

    /** A configured backend that does not exist is said on one line, after the table, and fails the command. */
    @Test
    void backendsSaysWhenTheConfiguredBackendIsUnknown() {
        String before = System.getProperty("quantbridge.backend");
        System.setProperty("quantbridge.backend", "nope");
        try {
            Run r = run("backends");
            assertEquals(1, r.code(), r.out());
            assertTrue(r.out().endsWith("\nselected: none (unknown backend 'nope' (from system property"
                    + " quantbridge.backend))\n"), r.out());
            assertTrue(r.out().lines().anyMatch(l -> l.matches("onnx +\\d+ +usable .*")), r.out());
        } finally {
            if (before == null) System.clearProperty("quantbridge.backend");
            else System.setProperty("quantbridge.backend", before);
        }
    }

    @Test
    void everySubcommandHasHelp() {
        for (String c : new String[] {"quantize", "eval", "bench", "inspect", "backends"}) {
            Run r = run(c, "--help");
            assertEquals(0, r.code(), c);
            assertTrue(r.out().startsWith("Usage: quantbridge " + c), r.out());
        }
        Run q = run("quantize", "--help");
        for (String opt : new String[] {"--backend", "--model", "--calib", "--eval", "--calibrator", "--percentile",
                "--precision", "--size", "--scale", "--mean", "--std", "--layout", "--bgr", "--resize", "--crop-fraction",
                "--pad-color", "--pad-at", "--antialias", "--multiple-of", "--samples", "--seed",
                "--exclude", "--target", "--io", "--out"}) {
            assertTrue(q.out().contains(opt), "quantize --help lacks " + opt);
        }
    }

    @Test
    void missingRequiredOptionIsUsageErrorWithOneLineReason() {
        Run r = run("quantize", "--model", "m.onnx");
        assertEquals(2, r.code());
        assertEquals("quantbridge quantize: Missing required option: '--out=DIR'", r.err().lines().findFirst().get());
    }

    @Test
    void badValuesFailWithOneLineNamingTheOption() {
        Run r = run("quantize", "--model", "m.onnx", "--calib", "d", "--out", tmp.toString(), "--calibrator", "kl");
        assertEquals(1, r.code());
        assertEquals("quantbridge quantize: --calibrator: unknown calibrator 'kl' (use entropy, percentile, max or mse)\n",
                r.err());
        r = run("quantize", "--model", "m.onnx", "--calib", "d", "--out", tmp.toString(), "--size", "640");
        assertEquals("quantbridge quantize: --size: '640' is not WxH, e.g. 640x640\n", r.err());
        r = run("quantize", "--model", "m.onnx", "--calib", "d", "--out", tmp.toString(), "--size", "0x0");
        assertEquals("quantbridge quantize: --size: '0x0': width and height must be at least 1\n", r.err());
        r = run("quantize", "--model", "m.onnx", "--calib", "d", "--out", tmp.toString(), "--resize", "letterbox");
        assertEquals("quantbridge quantize: --resize: 'letterbox' is not stretch, crop, pad, height or fit\n", r.err());
        r = run("quantize", "--model", "m.onnx", "--calib", "d", "--out", tmp.toString(), "--multiple-of", "64");
        assertEquals("quantbridge quantize: --multiple-of 64 applies with --resize fit (the resize is stretch)\n",
                r.err());
        r = run("quantize", "--model", "m.onnx", "--calib", "d", "--out", tmp.toString(), "--pad-color", "114");
        assertEquals("quantbridge quantize: --pad-color applies with --resize pad or height (the resize is"
                + " stretch)\n", r.err());
        r = run("quantize", "--model", "m.onnx", "--calib", "d", "--out", tmp.toString(), "--resize", "crop",
                "--crop-fraction", "8/7");
        assertEquals("quantbridge quantize: --crop-fraction: 1.1428571428571428 is not in (0, 1]\n", r.err());
        r = run("eval", "--model", "m.onnx", "--candidate", "c.onnx", "--data", "d", "--resize", "crop",
                "--pad-at", "top-left");
        assertEquals("quantbridge eval: --pad-at applies with --resize pad or height (the resize is crop)\n",
                r.err());
        r = run("quantize", "--model", "m.onnx", "--calib", "d", "--out", tmp.toString(), "--resize", "pad",
                "--pad-color", "114,114");
        assertEquals("quantbridge quantize: --pad-color: expected 1 or 3 values, got 2\n", r.err());
        r = run("quantize", "--model", "m.onnx", "--calib", "d", "--out", tmp.toString(), "--precision", "fp16",
                "--calibrator", "entropy");
        assertEquals("quantbridge quantize: --calibrator applies only to --precision int8 (--precision fp16 calibrates "
                + "no activation ranges)\n", r.err());
        r = run("quantize", "--model", "m.onnx", "--calib", "d", "--out", tmp.toString(), "--calibrator",
                "entropy", "--percentile", "99");
        assertEquals("quantbridge quantize: --percentile applies only to --calibrator percentile\n", r.err());
        r = run("quantize", "--model", "m.onnx", "--calib", "d", "--out", tmp.toString(), "--entropy-floor", "mse");
        assertEquals("quantbridge quantize: --entropy-floor applies only to --calibrator entropy\n", r.err());
        r = run("quantize", "--model", "m.onnx", "--calib", "d", "--out", tmp.toString(), "--calibrator",
                "entropy", "--entropy-floor", "max");
        assertEquals("quantbridge quantize: --entropy-floor: unknown value 'max' (use none or mse)\n", r.err());
        r = run("quantize", "--model", "m.onnx", "--calib", "d", "--out", tmp.toString(), "--equalize-alpha", "1.5");
        assertEquals("quantbridge quantize: --equalize-alpha: 1.5 is not in [0, 1]\n", r.err());
        r = run("quantize", "--model", "m.onnx", "--calib", "d", "--out", tmp.toString(), "--equalize-alpha", "0.5,x");
        assertEquals("quantbridge quantize: --equalize-alpha: 'x' is not a number (use a value in [0, 1], a "
                + "comma-separated list of them, or auto)\n", r.err());
        r = run("quantize", "--model", "m.onnx", "--calib", "d", "--out", tmp.toString(), "--equalize-alpha", "1,1");
        assertEquals("quantbridge quantize: --equalize-alpha: a search needs at least two different strengths (got "
                + "1.0); pass one value to use it without searching\n", r.err());
        r = run("quantize", "--model", "m.onnx", "--calib", "d", "--out", tmp.toString(), "--equalize-alpha", "auto",
                "--precision", "fp16");
        assertEquals("quantbridge quantize: --equalize-alpha: only int8 with equalization uses it (this run is "
                + "fp16)\n", r.err());
        r = run("quantize", "--model", "m.onnx", "--calib", "d", "--out", tmp.toString(), "--equalize-alpha", "1",
                "--no-equalize");
        assertEquals("quantbridge quantize: --equalize-alpha: only int8 with equalization uses it (this run is int8 "
                + "with --no-equalize)\n", r.err());
        r = run("quantize", "--model", "m.onnx", "--calib", "d", "--out", tmp.toString(), "--center",
                "--no-equalize");
        assertEquals("quantbridge quantize: --center: only int8 with equalization shifts channels (this run is int8 "
                + "with --no-equalize)\n", r.err());
        r = run("quantize", "--model", "m.onnx", "--out", tmp.toString());
        assertEquals("quantbridge quantize: --calib is required for int8 (or reuse a table with --table)\n", r.err());
        assertFalse(r.err().contains("\tat "), "no stack trace without --verbose");
    }

    @Test
    void dynamicPrecisionIsRefusedByBackendsThatDoNotWriteIt() {
        Run r = run("quantize", "--backend", "onnx", "--model", "m.onnx", "--precision", "dynamic", "--out",
                tmp.toString());
        assertEquals(1, r.code());
        assertEquals("quantbridge quantize: --precision dynamic: the onnx backend does not write dynamic models (it"
                + " writes int8, fp16)\n", r.err());
        r = run("quantize", "--model", "m.onnx", "--precision", "int4", "--out", tmp.toString());
        assertEquals("quantbridge quantize: --precision: unknown precision 'int4' (use int8, fp16 or dynamic)\n",
                r.err());
    }

    @Test
    void unusableBackendIsRefusedWithTheReason() {
        Run r = run("quantize", "--backend", "tensorrt", "--model", "m.onnx", "--calib", "d", "--out",
                tmp.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().startsWith("quantbridge quantize: backend 'tensorrt' (from --backend) is not usable: "
                + "no CUDA device"), r.err());
    }

    @Test
    void inspectReadsATensorRtCache() throws Exception {
        Path cache = tmp.resolve("calibration.cache");
        Files.writeString(cache, "TRT-100900-EntropyCalibration2\nx: 3c008912\nconv1:out: 3d000000\n");
        Run r = run("inspect", cache.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("version 100900, algorithm EntropyCalibration2"), r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.matches("x +0\\.996338 +0\\.00784518 +NaN +NaN")), r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("conv1:out ")), r.out());
    }

    @Test
    void missingModelIsNamed() {
        Path model = tmp.resolve("absent.onnx");
        Run r = run("bench", "--model", model.toString());
        assertEquals(1, r.code());
        assertEquals("quantbridge bench: model " + model + " does not exist\n", r.err());
    }
}
