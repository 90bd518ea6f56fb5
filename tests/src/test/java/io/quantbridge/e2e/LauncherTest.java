package io.quantbridge.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** {@code bin/quantbridge} as users start it, on the JDKs this machine has. */
class LauncherTest {
    private record Result(int code, String out, String err) { }

    private static Result run(Path javaHome, String... args) throws Exception {
        return run(javaHome, Map.of(), args);
    }

    /** {@code env}: variables to set, and those mapped to "" to remove. */
    private static Result run(Path javaHome, Map<String, String> changes, String... args) throws Exception {
        return run(RealModels.root().resolve("bin/quantbridge"), javaHome, changes, args);
    }

    private static Result run(Path launcher, Path javaHome, Map<String, String> changes, String... args)
            throws Exception {
        assumeTrue(Files.isRegularFile(RealModels.root().resolve("quantbridge-cli/target/quantbridge-cli.jar")),
                "the CLI jar is not built");
        ProcessBuilder pb = new ProcessBuilder(Stream.concat(Stream.of("bash", launcher.toString()), Stream.of(args))
                .toList());
        Map<String, String> env = pb.environment();
        env.put("QUANTBRIDGE_NO_BUILD", "1");
        env.put("QUANTBRIDGE_JAVA_OPTS", "-Xmx1g");
        env.put("PATH", javaHome.resolve("bin") + ":" + env.getOrDefault("PATH", ""));
        changes.forEach((k, v) -> {
            if (v.isEmpty()) env.remove(k);
            else env.put(k, v);
        });
        Path out = Files.createTempFile("launcher", ".out");
        Path err = Files.createTempFile("launcher", ".err");
        try {
            Process p = pb.redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            int code = p.waitFor();
            return new Result(code, Files.readString(out, StandardCharsets.UTF_8),
                    Files.readString(err, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    /** A JDK of feature version {@code min} or newer among the usual install folders, if any. */
    private static Optional<Path> jdkAtLeast(int min) throws IOException {
        Path jvms = Path.of("/usr/lib/jvm");
        if (!Files.isDirectory(jvms)) return Optional.empty();
        try (Stream<Path> s = Files.list(jvms)) {
            for (Path home : s.sorted().toList()) {
                Path release = home.resolve("release");
                if (!Files.isRegularFile(release) || !Files.isExecutable(home.resolve("bin/java"))) continue;
                for (String line : Files.readAllLines(release)) {
                    if (!line.startsWith("JAVA_VERSION=\"")) continue;
                    String v = line.substring("JAVA_VERSION=\"".length()).split("[.\"]")[0];
                    if (v.matches("[0-9]+") && Integer.parseInt(v) >= min) return Optional.of(home);
                }
            }
        }
        return Optional.empty();
    }

    @Test
    void readsAnOnnxModelWithoutWarningsOnANewJdk() throws Exception {
        Optional<Path> jdk = jdkAtLeast(23);
        assumeTrue(jdk.isPresent(), "no JDK 23 or newer under /usr/lib/jvm");
        Path model = RealModels.model("ch_ppocr_mobile_v2.0_cls_infer.onnx");
        // protobuf-java (ONNX reading) calls sun.misc.Unsafe, which JDK 23+ warns about in four lines on every run
        Result r = run(jdk.get(), "inspect", model.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("ONNX model " + model), r.out());
        assertFalse(r.err().contains("WARNING"), r.err());
    }

    /**
     * A link to the launcher (in ~/bin, say, or a chain of relative links) runs the checkout the launcher belongs to:
     * it took the link's folder for the checkout, found no jar there and failed trying to build one.
     */
    @Test
    void runsThroughLinksToIt(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        Path home = Path.of(System.getProperty("java.home"));
        Path bin = Files.createDirectories(tmp.resolve("bin"));
        Path absolute = Files.createSymbolicLink(bin.resolve("quantbridge"),
                RealModels.root().resolve("bin/quantbridge"));
        Path other = Files.createDirectories(tmp.resolve("other"));
        Path relative = Files.createSymbolicLink(other.resolve("qb"), Path.of("../bin/quantbridge"));
        for (Path link : List.of(absolute, relative)) {
            Result r = run(link, home, Map.of(), "backends");
            assertEquals(0, r.code(), link + ": " + r.err());
            assertTrue(r.out().contains("onnx") && r.out().contains("selected:"), r.out());
        }
    }

    /**
     * In the C/POSIX locale (cron, systemd units, minimal containers) Java takes file names as ASCII: a model named
     * with any other character could not even be given on the command line. The launcher runs in C.UTF-8 there, and
     * the JVM started without it says what is wrong.
     */
    @Test
    void takesFileNamesBeyondAsciiInTheCLocale(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        Process locales = new ProcessBuilder("locale", "-a").redirectErrorStream(true).start();
        String all = new String(locales.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        locales.waitFor();
        assumeTrue(all.lines().anyMatch(l -> l.equalsIgnoreCase("C.utf8") || l.equalsIgnoreCase("C.UTF-8")),
                "no C.UTF-8 locale here");
        assumeTrue(System.getProperty("sun.jnu.encoding", "").replace("-", "").equalsIgnoreCase("UTF8"),
                "the tests themselves run in a locale that cannot name the file");
        Path model = Files.copy(RealModels.model("ch_ppocr_mobile_v2.0_cls_infer.onnx"),
                Files.createDirectories(tmp.resolve("mod\u00e8les")).resolve("cls.onnx"));
        Map<String, String> posix = Map.of("LANG", "C", "LC_ALL", "", "LC_CTYPE", "");
        Result r = run(Path.of(System.getProperty("java.home")), posix, "inspect", model.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("ONNX model " + model), r.out());

        // the same JVM without the launcher: one line that names the encoding and the way out
        Result direct = posixJvm(tmp, "inspect", model.toString());
        assertEquals(2, direct.code(), direct.err());
        assertTrue(direct.err().contains("the JVM's file-name encoding is ANSI_X3.4-1968 (the C/POSIX locale), in which"
                + " names with other than ASCII characters come out as ?: run Java with a UTF-8 locale (LANG=C.UTF-8)"),
                direct.err());

        // photos so named, found in a folder, are read even there: the path from the listing keeps its bytes (they
        // were opened through a File built from the path's string, and could not be)
        Path photos = Files.createDirectories(tmp.resolve("photos"));
        for (String name : List.of("caf\u00e9.jpg", "\u65e5\u672c.jpg")) {
            Files.copy(RealModels.photos().resolve(name.startsWith("caf") ? "HappyFish.jpg" : "aero1.jpg"),
                    photos.resolve(name));
        }
        Result q = posixJvm(tmp, "quantize", "--backend", "onnx", "--model",
                RealModels.model("ch_ppocr_mobile_v2.0_cls_infer.onnx").toString(), "--calib", photos.toString(),
                "--size", "192x48", "--quiet", "--out", tmp.resolve("out").toString());
        assertEquals(0, q.code(), q.err());
        assertTrue(Files.isRegularFile(tmp.resolve("out/model.int8.onnx")));
    }

    /** The CLI in a JVM of its own in the C locale, without the launcher. */
    private static Result posixJvm(Path dir, String... args) throws Exception {
        List<String> cmd = new java.util.ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                .toString(), "-Xmx1g", "-cp", System.getProperty("java.class.path"), "io.quantbridge.cli.Main"));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile());
        pb.environment().put("LANG", "C");
        pb.environment().remove("LC_ALL");
        pb.environment().remove("LC_CTYPE");
        Path out = Files.createTempFile(dir, "jvm", ".out");
        Path err = Files.createTempFile(dir, "jvm", ".err");
        Process p = pb.redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        int code = p.waitFor();
        return new Result(code, Files.readString(out, StandardCharsets.UTF_8), Files.readString(err,
                StandardCharsets.UTF_8));
    }

    @Test
    void runsOnTheBuildJdk() throws Exception {
        // the option that quiets JDK 23+ is unknown to older JDKs: the launcher must not pass it there
        Path home = Path.of(System.getProperty("java.home"));
        Result r = run(home, "backends");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("onnx") && r.out().contains("selected:"), r.out());
        assertFalse(r.err().contains("Unrecognized option"), r.err());
    }

    /**
     * The serial collector by default (G1 grew the heap to several times calibration's live set: ppocr-det's peak RSS
     * 2.0-2.6 GiB against 1.5), and the collector that {@code QUANTBRIDGE_JAVA_OPTS} names when it names one.
     */
    @Test
    void usesTheSerialCollectorUnlessTheOptionsNameOne() throws Exception {
        Path home = Path.of(System.getProperty("java.home"));
        Result byDefault = run(home, Map.of("QUANTBRIDGE_JAVA_OPTS", "-Xmx1g -XX:+PrintCommandLineFlags"), "backends");
        assertEquals(0, byDefault.code(), byDefault.err());
        String flags = byDefault.out().lines().findFirst().orElseThrow();
        assertTrue(flags.contains("-XX:+UseSerialGC") && flags.contains("-XX:MaxHeapSize=1073741824"), flags);

        Result g1 = run(home, Map.of("QUANTBRIDGE_JAVA_OPTS", "-XX:+UseCompressedOops -XX:+UseG1GC -XX:+PrintCommandLineFlags"),
                "backends");
        assertEquals(0, g1.code(), g1.err());
        flags = g1.out().lines().findFirst().orElseThrow();
        assertTrue(flags.contains("-XX:+UseG1GC") && !flags.contains("UseSerialGC"), flags);
        assertTrue(g1.out().contains("selected:"), g1.out());
    }

    /**
     * ONNX Runtime 1.29 starts a telemetry uploader on Linux that writes a device id and an event database under
     * {@code ~/.cache/Microsoft} (and looks up its upload host) unless ORT_DISABLE_TELEMETRY=1 is set before it loads.
     */
    @Test
    void theLauncherStopsOnnxRuntimesTelemetry(@org.junit.jupiter.api.io.TempDir Path home) throws Exception {
        Result r = run(Path.of(System.getProperty("java.home")), Map.of("HOME", home.toString(),
                "ORT_DISABLE_TELEMETRY", ""), "backends");
        assertEquals(0, r.code(), r.err());
        String onnx = r.out().lines().filter(l -> l.startsWith("onnx ")).findFirst().orElseThrow();
        assertTrue(onnx.matches("onnx +10 +usable +ONNX Runtime [0-9.]+ on CPU"), onnx);
        try (Stream<Path> files = Files.walk(home)) {
            assertEquals(List.of(home), files.toList(), "ONNX Runtime wrote into HOME");
        }
    }

    /**
     * A run that ONNX Runtime rejects (ppocr-det fed 100x100, where the neck's upsampled maps no longer line up) is
     * said once, in quantbridge's line with ONNX Runtime's message in it: ONNX Runtime's own logger printed the same
     * error before it, in colour.
     */
    @Test
    void aRunThatOnnxRuntimeRejectsIsSaidOnce(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Path model = RealModels.model("ch_PP-OCRv4_det_infer.onnx");
        Path calib = Files.createDirectories(dir.resolve("calib"));
        io.quantbridge.data.NpyFile.write(calib.resolve("odd.npy"),
                new io.quantbridge.tensor.FloatTensor(new long[] {1, 3, 100, 100}, new float[3 * 100 * 100]));
        Result r = run(Path.of(System.getProperty("java.home")), "quantize", "--backend", "onnx", "--model",
                model.toString(), "--calib", calib.toString(), "--quiet", "--out", dir.resolve("out").toString());
        assertEquals(1, r.code(), r.out() + r.err());
        List<String> lines = r.err().lines().filter(l -> !l.isBlank()).toList();
        assertEquals(1, lines.size(), r.err());
        assertTrue(lines.get(0).startsWith("quantbridge quantize: " + model + " (with its observed tensors as outputs,"
                + " for calibration): ONNX Runtime failed on input x [1, 3, 100, 100]: "), lines.get(0));
        assertTrue(lines.get(0).contains("while running Add node"), lines.get(0));
        assertFalse(r.err().contains("[E:onnxruntime"), r.err());
    }
}
