package io.quantbridge.openvino;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.backend.Backend;
import io.quantbridge.backend.BackendSelector;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Finding the runtime, reporting status, and building the bridge without headers. */
class OpenVinoBackendTest {
    @TempDir
    Path tmp;

    @Test
    void isFoundThroughTheServiceLoaderAndReadsItsFormats() {
        Backend b = BackendSelector.discover().stream().filter(x -> x.id().equals("openvino")).findFirst()
                .orElseThrow();
        assertTrue(b.capabilities().reads(Path.of("model.int8.blob")));
        assertTrue(b.capabilities().reads(Path.of("model.onnx")));
        assertFalse(b.capabilities().reads(Path.of("model.tflite")));
        assertEquals(List.of("cpu"), b.capabilities().targets());
    }

    @Test
    void theStatusNamesTheRuntimeVersionWhenItIsThere() {
        OpenVinoRuntime rt = OpenVinoTesting.runtime();
        String s = new OpenVinoBackend().status().describe();
        assertTrue(s.startsWith("usable (OpenVINO " + rt.version + " on CPU"), s);
        assertTrue(rt.version.startsWith("2026.4.1"), rt.version);
    }

    @Test
    void theFetchedCopyIsFoundFromTheWorkingFolderOrFromWhereQuantbridgeWasLoaded() throws Exception {
        Path repo = tmp.resolve("checkout");
        Path libs = Files.createDirectories(repo.resolve(".cache/openvino/libs"));
        Path jar = Files.createDirectories(repo.resolve("quantbridge-cli/target/lib")).resolve("backend-openvino.jar");
        Files.writeString(jar, "");
        Path classes = Files.createDirectories(repo.resolve("backend-openvino/target/classes"));
        Path elsewhere = Files.createDirectories(tmp.resolve("home/user/project"));
        // bin/quantbridge run from another folder: found above the CLI's lib folder
        assertEquals(libs, OpenVinoBackend.fetchedCopy(elsewhere, jar).orElseThrow());
        assertEquals(libs, OpenVinoBackend.fetchedCopy(elsewhere, classes).orElseThrow());
        // from inside the checkout, the working folder is enough
        assertEquals(libs, OpenVinoBackend.fetchedCopy(repo.resolve("quantbridge-cli"), null).orElseThrow());
        // a jar installed elsewhere (a Maven repository) and a working folder without a copy: none
        Path installed = Files.createDirectories(tmp.resolve("m2/io/quantbridge/backend-openvino/0.1.0"))
                .resolve("backend-openvino-0.1.0.jar");
        assertTrue(OpenVinoBackend.fetchedCopy(elsewhere, installed).isEmpty());
        assertTrue(OpenVinoBackend.fetchedCopy(null, null).isEmpty());
    }

    @Test
    void theHomePropertyWinsAndAVersionedLibraryNameIsFound() throws Exception {
        Path home = Files.createDirectories(tmp.resolve("ov").resolve("libs"));
        Files.writeString(home.resolve("libopenvino_c.so.2641"), "");
        String before = System.getProperty(OpenVinoBackend.HOME_PROPERTY);
        try {
            System.setProperty(OpenVinoBackend.HOME_PROPERTY, tmp.resolve("ov").toString());
            assertEquals(home.resolve("libopenvino_c.so.2641"), OpenVinoBackend.findLibrary().orElseThrow());
            Files.writeString(home.resolve("libopenvino_c.so"), "");
            assertEquals(home.resolve("libopenvino_c.so"), OpenVinoBackend.findLibrary().orElseThrow());
        } finally {
            if (before == null) {
                System.clearProperty(OpenVinoBackend.HOME_PROPERTY);
            } else {
                System.setProperty(OpenVinoBackend.HOME_PROPERTY, before);
            }
        }
    }

    @Test
    void withoutTheRuntimeOrTheBridgeTheStatusSaysWhatFixesIt() throws Exception {
        // a child JVM in an empty folder: no fetched copy above it, no OPENVINO_HOME
        String missing = probe(tmp, Map.of(), List.of());
        if (missing.startsWith("unusable")) { // (a system-wide OpenVINO would be found, rightly)
            assertEquals("unusable: libopenvino_c.so not found (no OPENVINO_HOME set, no .cache/openvino above the "
                    + "working folder or quantbridge's jars, none on the system's library path); set OPENVINO_HOME (or "
                    + "-Dquantbridge.openvino.home) or run scripts/fetch-openvino.sh", missing);
        }
        // a configured home that holds no runtime is named, even where another runtime could be found
        Path empty = Files.createDirectories(tmp.resolve("not-openvino"));
        Path libs0 = OpenVinoTesting.runtime().library.getParent();
        String wrongHome = probe(libs0.getParent().getParent(), Map.of("OPENVINO_HOME", empty.toString()), List.of());
        assertEquals("unusable: OPENVINO_HOME=" + empty + " holds no libopenvino_c.so (looked in it, in libs/ and in "
                + "runtime/lib/intel64/ and aarch64/ under it); point OPENVINO_HOME at an OpenVINO runtime (the folder "
                + "with libopenvino_c.so, or the root of OpenVINO's archive), or unset it to use the copy from "
                + "scripts/fetch-openvino.sh or the system's", wrongHome);
        // the property comes first: a wrong one is named though OPENVINO_HOME is right
        String wrongProperty = probe(tmp, Map.of("OPENVINO_HOME", libs0.toString()),
                List.of("-Dquantbridge.openvino.home=" + empty));
        assertTrue(wrongProperty.startsWith("unusable: -Dquantbridge.openvino.home=" + empty + " holds no "
                + "libopenvino_c.so"), wrongProperty);
        Path libs = OpenVinoTesting.runtime().library.getParent();
        String noBridge = probe(tmp, Map.of("OPENVINO_HOME", libs.toString()),
                List.of("-D" + OpenVinoRuntime.JNI_PROPERTY + "=" + tmp.resolve("absent.so")));
        assertEquals("unusable: -D" + OpenVinoRuntime.JNI_PROPERTY + "=" + tmp.resolve("absent.so")
                + " does not exist; " + OpenVinoRuntime.REBUILD, noBridge);
        String ok = probe(tmp, Map.of("OPENVINO_HOME", libs.toString()), List.of());
        assertTrue(ok.startsWith("usable (OpenVINO "), ok);
    }

    private static String probe(Path dir, Map<String, String> env, List<String> jvmArgs) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(jvmArgs);
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(StatusProbe.class.getName());
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(false);
        pb.environment().remove("OPENVINO_HOME");
        pb.environment().remove("LD_LIBRARY_PATH");
        pb.environment().putAll(env);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), err);
        return out;
    }

    @Test
    void theNativeBuildSkipsWithAWarningWhenTheHeadersAreMissing() throws Exception {
        // a copy of native/ in a tree without .cache/openvino/include
        Path root = OpenVinoTesting.root();
        Path copy = Files.createDirectories(tmp.resolve("repo").resolve("native").resolve("openvino"));
        Files.copy(root.resolve("native/build.sh"), copy.getParent().resolve("build.sh"));
        Files.copy(root.resolve("native/openvino/quantbridge_openvino.c"), copy.resolve("quantbridge_openvino.c"));
        Path out = tmp.resolve("out");
        ProcessBuilder pb = new ProcessBuilder("bash", copy.getParent().resolve("build.sh").toString(), out.toString());
        pb.environment().remove("OPENVINO_HOME");
        pb.environment().remove("OPENVINO_INCLUDE");
        Process p = pb.start();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), err);
        assertEquals("[WARNING] native/build.sh: OpenVINO C headers not found (.cache/openvino/include is missing: run "
                + "scripts/fetch-openvino.sh); the openvino backend will report itself unusable", err);
        assertFalse(Files.exists(out.resolve(OpenVinoRuntime.JNI_LIBRARY)));
    }

    @Test
    void theBridgeIsPackagedForThisPlatformAndLinksNoOpenVinoLibrary() throws Exception {
        OpenVinoTesting.runtime();
        assertTrue(OpenVinoRuntime.class.getResource("native/" + OpenVinoRuntime.platform() + "/"
                + OpenVinoRuntime.JNI_LIBRARY) != null, "in target/classes, hence in the jar");
        Path built = OpenVinoTesting.root().resolve("backend-openvino/target/native").resolve(OpenVinoRuntime.JNI_LIBRARY);
        assertTrue(Files.isRegularFile(built), built.toString());
        String dynamic = new String(Files.readAllBytes(built), StandardCharsets.ISO_8859_1);
        assertFalse(dynamic.contains("libopenvino_c.so."), "dlopen()ed at run time, not linked");
    }

    /**
     * The text recogniser's height is dynamic in the file but must be 48: compiled at inspect's 640x640 it cannot
     * be, and inspect still describes the ONNX model and says why OpenVINO's view is missing.
     */
    @Test
    void inspectKeepsTheOnnxDescriptionWhenOpenVinoCannotCompileTheModel() {
        OpenVinoTesting.runtime();
        Path rec = OpenVinoTesting.detector().resolveSibling("ch_PP-OCRv4_rec_infer.onnx");
        String text = new OpenVinoBackend().inspect(rec);
        assertTrue(text.startsWith("ONNX model " + rec), text);
        assertTrue(text.contains("quantization: none (float model)"), text);
        assertTrue(text.contains(": not compiled: openvino: cannot give " + rec + " the input shape [1, 3, 640, 640]"),
                text);
        assertTrue(text.contains("`bench --backend openvino --size WxH` runs the model at its own size"), text);
    }

    /** A bridge copied out of the jar is deleted once loaded; one the user pointed at, or a build's, never. */
    @Test
    void anExtractedBridgeLeavesNothingInTheTemporaryFolder(@TempDir Path elsewhere) throws Exception {
        Path dir = Files.createTempDirectory("quantbridge-openvino");
        Path lib = Files.writeString(dir.resolve(OpenVinoRuntime.JNI_LIBRARY), "x");
        OpenVinoRuntime.removeExtracted(lib);
        assertFalse(Files.exists(lib));
        assertFalse(Files.exists(dir));

        Path own = Files.writeString(Files.createDirectories(elsewhere.resolve("quantbridge-openvino1"))
                .resolve(OpenVinoRuntime.JNI_LIBRARY), "x");
        OpenVinoRuntime.removeExtracted(own);
        assertTrue(Files.exists(own));
    }
}
