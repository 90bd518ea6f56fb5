package io.quantbridge.request;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.Progress;
import io.quantbridge.util.AtomicFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StagedOutputTest {
    @TempDir
    Path tmp;

    private static QuantizationRequest request(Path out) {
        return QuantizationRequest.builder().model(Path.of("m.onnx")).calibrationData(Path.of("photos"))
                .outputDir(out).build();
    }

    private static List<String> names(Path dir) throws Exception {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void aRunThatSucceedsMovesItsFilesInAndNamesThemThere() throws Exception {
        Path out = Files.createDirectories(tmp.resolve("out"));
        Files.writeString(out.resolve("model.int8.onnx"), "old model");
        Files.writeString(out.resolve("report.json"), "old report");
        Files.setPosixFilePermissions(out.resolve("model.int8.onnx"), PosixFilePermissions.fromString("rw-r-----"));
        List<String> notes = new java.util.concurrent.CopyOnWriteArrayList<>();
        Progress progress = Progress.notes(notes::add);
        QuantizationResult r = StagedOutput.run(request(out), progress, (req, p) -> {
            Path stage = req.outputDir();
            assertEquals(out, stage.getParent());
            assertTrue(stage.getFileName().toString().startsWith(StagedOutput.PREFIX), stage.toString());
            assertEquals("old model", read(out.resolve("model.int8.onnx")), "out is untouched while the run runs");
            AtomicFiles.writeString(stage.resolve("model.int8.onnx"), "new model");
            AtomicFiles.writeString(stage.resolve("calibration.cache"), "cache");
            p.note("wrote " + stage.resolve("calibration.cache"));
            return new QuantizationResult("onnx", List.of(Artifact.of("model", stage.resolve("model.int8.onnx"))),
                    null, Map.of("tensorrt", Map.of("commands", List.of(stage.resolve("trtexec.txt").toString())),
                            "samples", 3));
        });
        assertEquals(List.of("calibration.cache", "model.int8.onnx", "report.json"), names(out));
        assertEquals("new model", read(out.resolve("model.int8.onnx")));
        // report.json is the run's report (its paths moved too), written in the stage and moved in with its files
        Map<String, Object> written = new java.util.LinkedHashMap<>(r.report());
        written.put("backend", "onnx");
        assertEquals(io.quantbridge.util.Json.write(written), read(out.resolve("report.json")));
        assertEquals("rw-r-----", PosixFilePermissions.toString(
                Files.getPosixFilePermissions(out.resolve("model.int8.onnx"))), "a replaced file keeps its readers");
        assertEquals(new Artifact("model", out.resolve("model.int8.onnx"), 9), r.artifacts().get(0));
        assertEquals(Map.of("tensorrt", Map.of("commands", List.of(out.resolve("trtexec.txt").toString())),
                "samples", 3), r.report());
        assertEquals(List.of("wrote " + out.resolve("calibration.cache")), notes);

        // files an earlier run left, which this one does not rewrite, are named
        Files.writeString(out.resolve("model.int8.blob"), "an earlier run's OpenVINO model");
        Files.writeString(out.resolve("notes.txt"), "the user's");
        List<String> again = new ArrayList<>();
        StagedOutput.run(request(out), Progress.notes(again::add), (req, p) -> {
            AtomicFiles.writeString(req.outputDir().resolve("model.int8.onnx"), "newer model");
            return new QuantizationResult("onnx", List.of(), null, Map.of());
        });
        assertEquals(List.of("--out " + out + " also holds calibration.cache, model.int8.blob from an earlier run, "
                + "which this run did not write (report.json lists what it wrote)"), again);

        // no progress is Progress.NONE
        QuantizationResult quiet = StagedOutput.run(request(out), null, (req, p) -> {
            p.begin("calibrating", 1);
            p.note("nobody listens");
            p.end();
            return new QuantizationResult("onnx", List.of(), null, Map.of());
        });
        assertEquals(List.of(), quiet.artifacts());
    }

    @Test
    void aRunThatFailsLeavesTheFolderAsItWas() throws Exception {
        Path out = Files.createDirectories(tmp.resolve("out"));
        Files.writeString(out.resolve("model.int8.onnx"), "old model");
        Files.writeString(out.resolve("report.json"), "old report");
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> StagedOutput.run(request(out), Progress.NONE, (req, p) -> {
                    AtomicFiles.writeString(req.outputDir().resolve("model.int8.onnx"), "new model");
                    throw new QuantbridgeException("cannot write " + req.outputDir().resolve("calibration.cache")
                            + ": No space left on device");
                }));
        assertEquals("cannot write " + out.resolve("calibration.cache") + ": No space left on device",
                e.getMessage());
        assertEquals(List.of("model.int8.onnx", "report.json"), names(out));
        assertEquals("old model", read(out.resolve("model.int8.onnx")));

        // an output folder the run created goes too; any other failure passes through as it is
        Path fresh = tmp.resolve("fresh");
        IllegalStateException bug = new IllegalStateException("bug");
        assertEquals(bug, assertThrows(IllegalStateException.class, () -> StagedOutput.run(request(fresh),
                Progress.NONE, (req, p) -> {
                    AtomicFiles.writeString(req.outputDir().resolve("model.int8.onnx"), "new model");
                    throw bug;
                })));
        assertFalse(Files.exists(fresh), "a failed run left " + fresh);

        Files.writeString(tmp.resolve("file"), "x");
        assertEquals("--out " + tmp.resolve("file") + " is a file, not a folder", assertThrows(
                QuantbridgeException.class, () -> StagedOutput.run(request(tmp.resolve("file")), Progress.NONE,
                        (req, p) -> null)).getMessage());
    }

    @Test
    void noRunReplacesTheModelItQuantizes() throws Exception {
        Path out = Files.createDirectories(tmp.resolve("models"));
        Path fp32 = Files.writeString(out.resolve("model.fp32.onnx"), "the user's float model");
        QuantizationRequest early = QuantizationRequest.builder().model(fp32).calibrationData(Path.of("photos"))
                .outputDir(out).build();
        assertEquals("--model " + fp32 + " is in --out " + out + " under a name quantize gives its own files "
                + "(model.<precision>.<format>), so the run would replace it: choose another --out, or rename the "
                + "model", assertThrows(QuantbridgeException.class, () -> StagedOutput.run(early, Progress.NONE,
                        (req, p) -> { throw new AssertionError("the run started"); })).getMessage());
        assertEquals(List.of("model.fp32.onnx"), names(out));

        // any other name a run writes over is refused before anything moves
        Path net = Files.writeString(out.resolve("net.onnx"), "the user's net");
        QuantizationRequest late = early.toBuilder().model(net).build();
        assertEquals("--out " + out + ": the run wrote net.onnx (model), which would replace --model " + net
                + "; choose another --out, or rename the model (nothing in " + out + " was changed)",
                assertThrows(QuantbridgeException.class, () -> StagedOutput.run(late, Progress.NONE, (req, p) -> {
                    Path f = req.outputDir().resolve("net.onnx");
                    AtomicFiles.writeString(f, "quantized");
                    AtomicFiles.writeString(req.outputDir().resolve("calibration.json"), "{}");
                    return new QuantizationResult("onnx", List.of(Artifact.of("model", f)), null, Map.of());
                })).getMessage());
        assertEquals(List.of("model.fp32.onnx", "net.onnx"), names(out));
        assertEquals("the user's net", read(net));

        // a model beside the outputs under another name is fine
        StagedOutput.run(late, Progress.NONE, (req, p) -> {
            AtomicFiles.writeString(req.outputDir().resolve("model.int8.onnx"), "quantized");
            return new QuantizationResult("onnx", List.of(), null, Map.of());
        });
        assertEquals(List.of("model.fp32.onnx", "model.int8.onnx", "net.onnx", "report.json"), names(out));
    }

    @Test
    void aStoppedProcessRemovesTheRunUnderWay() throws Exception {
        Path out = tmp.resolve("stopped");
        List<Path> removed = new ArrayList<>();
        // the signal handler calls deletePending, then halts; here the run goes on and finds its files gone
        assertThrows(QuantbridgeException.class, () -> StagedOutput.run(request(out), Progress.NONE, (req, p) -> {
            AtomicFiles.writeString(req.outputDir().resolve("model.int8.onnx"), "new model");
            removed.addAll(StagedOutput.deletePending());
            return new QuantizationResult("onnx", List.of(), null, Map.of());
        }));
        assertEquals(1, removed.size());
        assertEquals(out, removed.get(0).getParent());
        assertFalse(Files.exists(out), "the output folder the run created is removed with it");
        assertEquals(List.of(), StagedOutput.deletePending());
    }

    /**
     * A run killed outright (SIGKILL, the out-of-memory killer) leaves its staging folder, which no later run could
     * tell from one still going. The folder's name now records its process: a later run removes the folders of
     * processes of this machine that have ended, and names the others.
     */
    @Test
    void aLaterRunRemovesTheStagingFolderOfAKilledRun() throws Exception {
        Path out = Files.createDirectories(tmp.resolve("killed"));
        Process ended = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-version").redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        long endedStart = ended.toHandle().info().startInstant().orElseThrow().toEpochMilli();
        ended.waitFor();
        RunOwner me = RunOwner.current();
        Path dead = Files.createDirectories(out.resolve(StagedOutput.PREFIX + new RunOwner(me.host(), ended.pid(),
                endedStart).tag() + "-123"));
        Files.writeString(dead.resolve("model.fp32.onnx"), "half a model");
        // the same process id, started at another time: the id was reused
        Path reused = Files.createDirectories(out.resolve(StagedOutput.PREFIX + new RunOwner(me.host(), me.pid(),
                me.startMs() - 60_000).tag() + "-7"));
        Path alive = Files.createDirectories(out.resolve(StagedOutput.PREFIX + me.tag() + "-8"));
        Path elsewhere = Files.createDirectories(out.resolve(StagedOutput.PREFIX + "00000000-" + ended.pid() + "-"
                + endedStart + "-9"));
        Path older = Files.createDirectories(out.resolve(StagedOutput.PREFIX + "4711"));
        List<String> notes = new ArrayList<>();
        StagedOutput.run(request(out), Progress.notes(notes::add), (req, p) -> {
            AtomicFiles.writeString(req.outputDir().resolve("model.int8.onnx"), "quantized");
            return new QuantizationResult("onnx", List.of(), null, Map.of());
        });
        assertFalse(Files.exists(dead));
        assertFalse(Files.exists(reused));
        Map<String, String> left = new java.util.TreeMap<>(Map.of(alive.getFileName().toString(), " (process "
                + me.pid() + ")", elsewhere.getFileName().toString(), " (process " + ended.pid()
                + " on another machine)", older.getFileName().toString(), ""));
        List<String> expected = new ArrayList<>(left.keySet());
        expected.addAll(List.of("model.int8.onnx", "report.json"));
        assertEquals(expected, names(out));
        assertEquals(3, notes.size(), notes.toString());
        assertTrue(notes.contains("--out " + out + ": removed " + dead.getFileName() + ", the staging folder of a run"
                + " (process " + ended.pid() + ", started " + java.time.Instant.ofEpochMilli(endedStart) + ") that was"
                + " killed before it finished"), notes.toString());
        assertTrue(notes.stream().anyMatch(n -> n.startsWith("--out " + out + ": removed " + reused.getFileName()
                + ", ")), notes.toString());
        assertEquals("--out " + out + " also holds " + String.join(", ", left.entrySet().stream()
                .map(e -> e.getKey() + e.getValue()).toList()) + ": the staging folder of runs still going, or killed; the run that finishes"
                + " last leaves its files in --out; delete such a folder when no run is writing there", notes.get(2));
        assertTrue(RunOwner.parse(me.tag() + "-1").orElseThrow().equals(me));
        assertTrue(RunOwner.parse("4711").isEmpty());
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
