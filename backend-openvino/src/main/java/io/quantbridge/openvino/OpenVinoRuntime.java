package io.quantbridge.openvino;

import java.io.IOException;
import java.io.InputStream;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.CodeSource;
import java.util.Locale;
import java.util.Optional;

/**
 * The loaded OpenVINO runtime: {@code libopenvino_c.so} (found by {@link OpenVinoBackend#findLibrary()}), the JNI
 * bridge {@value #JNI_LIBRARY} and one {@code ov_core_t} shared by every session of the process (OpenVINO's core is
 * thread-safe; compile-time settings travel with each compile call). Loading happens once; a failure is remembered
 * and reported the same way each time.
 *
 * <p>The bridge is looked for at {@code -D}{@value #JNI_PROPERTY}, inside the jar (or {@code target/classes}) under
 * {@code io/quantbridge/openvino/native/<platform>/}, then in the {@code native/} folder beside the jar
 * ({@code backend-openvino/target/native}).
 */
final class OpenVinoRuntime {
    static final String JNI_PROPERTY = "quantbridge.openvino.jni";
    static final String JNI_LIBRARY = "libquantbridge_openvino.so";
    /** The temporary folder a bridge found inside a jar is copied to, to be loaded from there. */
    private static final String EXTRACTED_PREFIX = "quantbridge-openvino";
    static final String FETCH = "run scripts/fetch-openvino.sh";
    static final String REBUILD = "run scripts/fetch-openvino.sh, then rebuild backend-openvino "
            + "(./mvnw -pl backend-openvino install): native/build.sh compiles the bridge when the headers are there";

    /** Why the runtime cannot be used, and what fixes it. */
    static final class Unavailable extends OpenVinoException {
        final String reason;
        final String fix;

        Unavailable(String reason, String fix, Throwable cause) {
            super("openvino: " + reason + "; " + fix, cause);
            this.reason = reason;
            this.fix = fix;
        }
    }

    private static OpenVinoRuntime instance;
    private static Unavailable failure;

    final Path library;
    final Path bridge;
    final String version;
    final String description;
    final long core;

    private OpenVinoRuntime(Path library, Path bridge, String version, String description, long core) {
        this.library = library;
        this.bridge = bridge;
        this.version = version;
        this.description = description;
        this.core = core;
    }

    /** The runtime, loading it on first use. */
    static synchronized OpenVinoRuntime get() {
        if (instance != null) return instance;
        if (failure != null) throw failure;
        try {
            instance = load();
            return instance;
        } catch (Unavailable u) {
            failure = u;
            throw u;
        }
    }

    private static OpenVinoRuntime load() {
        String platform = platform();
        if (platform == null) {
            throw new Unavailable("no JNI bridge for " + System.getProperty("os.name") + " "
                    + System.getProperty("os.arch"), "use Linux on x86-64 or arm64", null);
        }
        Path lib = OpenVinoBackend.locateLibrary();
        Path bridge = findBridge(platform).orElseThrow(() -> new Unavailable("found " + lib
                + ", but the JNI bridge " + JNI_LIBRARY + " was not built (OpenVINO's C headers were missing when "
                + "backend-openvino was compiled)", REBUILD, null));
        try {
            System.load(bridge.toAbsolutePath().toString());
        } catch (UnsatisfiedLinkError | SecurityException e) {
            throw new Unavailable("cannot load the JNI bridge " + bridge + ": " + e.getMessage(), REBUILD, e);
        } finally {
            removeExtracted(bridge);
        }
        try {
            OvNative.load(lib.toAbsolutePath().toString());
        } catch (IllegalStateException e) {
            throw new Unavailable(e.getMessage(), "point " + OpenVinoBackend.HOME_ENV
                    + " at a complete OpenVINO runtime (2024.5 or newer) or " + FETCH, e);
        }
        try {
            String[] v = OvNative.version();
            long core = OvNative.coreCreate();
            return new OpenVinoRuntime(lib, bridge, v[0], v[1], core);
        } catch (OpenVinoException e) {
            throw new Unavailable("OpenVINO at " + lib + " does not start: " + e.getMessage(), FETCH, e);
        }
    }

    /** "linux-x86_64", "linux-arm64", or null where the bridge is not built. */
    static String platform() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        if (!os.contains("linux")) return null;
        if (arch.equals("amd64") || arch.equals("x86_64")) return "linux-x86_64";
        if (arch.equals("aarch64") || arch.equals("arm64")) return "linux-arm64";
        return null;
    }

    static Optional<Path> findBridge(String platform) {
        String explicit = System.getProperty(JNI_PROPERTY);
        if (explicit != null && !explicit.isBlank()) {
            Path p = Path.of(explicit);
            if (!Files.isRegularFile(p)) {
                throw new Unavailable("-D" + JNI_PROPERTY + "=" + explicit + " does not exist", REBUILD, null);
            }
            return Optional.of(p);
        }
        String resource = "native/" + platform + "/" + JNI_LIBRARY;
        URL url = OpenVinoRuntime.class.getResource(resource);
        if (url != null) {
            if (url.getProtocol().equals("file")) {
                try {
                    return Optional.of(Path.of(url.toURI()));
                } catch (URISyntaxException | IllegalArgumentException ignored) {
                    // fall through to extraction
                }
            }
            try (InputStream in = url.openStream()) {
                Path dir = Files.createTempDirectory(EXTRACTED_PREFIX);
                Path p = dir.resolve(JNI_LIBRARY);
                Files.copy(in, p, StandardCopyOption.REPLACE_EXISTING);
                return Optional.of(p);
            } catch (IOException e) {
                throw new Unavailable("cannot extract the JNI bridge from " + url + ": " + e.getMessage(),
                        "make the temporary folder (java.io.tmpdir) writable", e);
            }
        }
        try {
            CodeSource cs = OpenVinoRuntime.class.getProtectionDomain().getCodeSource();
            if (cs != null && cs.getLocation() != null) {
                Path beside = Path.of(cs.getLocation().toURI()).getParent().resolve("native").resolve(JNI_LIBRARY);
                if (Files.isRegularFile(beside)) return Optional.of(beside);
            }
        } catch (URISyntaxException | RuntimeException ignored) {
            // no code source to look beside
        }
        return Optional.empty();
    }

    /**
     * Deletes a bridge extracted from the jar, and its folder, once it is loaded (or failed to load): a loaded library
     * stays mapped, and nothing is left in the temporary folder however the JVM ends (deleteOnExit needs an orderly
     * exit, and the command line halts on Ctrl-C).
     */
    static void removeExtracted(Path bridge) {
        Path dir = bridge.getParent();
        if (dir == null || !dir.getFileName().toString().startsWith(EXTRACTED_PREFIX)
                || !dir.getParent().equals(Path.of(System.getProperty("java.io.tmpdir")))) {
            return;
        }
        try {
            Files.deleteIfExists(bridge);
            Files.deleteIfExists(dir);
        } catch (IOException ignored) {
            // left for the system's own cleaning of its temporary folder
        }
    }

    /** A core property of a device, or null when OpenVINO does not know it. */
    String deviceProperty(String device, String key) {
        try {
            return OvNative.coreProperty(core, device, key);
        } catch (OpenVinoException e) {
            return null;
        }
    }

    /** A new core of its own (free it with {@link OvNative#coreFree}). */
    long newCore() {
        return OvNative.coreCreate();
    }
}
