package io.quantbridge.util;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Finds native shared libraries the way users expect, without loading them: first the folders the caller names
 * (from a system property, an environment variable, a fetched copy), then {@code LD_LIBRARY_PATH},
 * {@code java.library.path}, the folders of {@code /etc/ld.so.conf.d} and the usual system folders.
 */
public final class NativeLibraries {
    private NativeLibraries() { }

    /** The first file called {@code fileName} (e.g. {@code libcuda.so.1}) in the preferred folders or the system's. */
    public static Optional<Path> find(String fileName, List<Path> preferred) {
        for (Path dir : searchPath(preferred)) {
            Path p = dir.resolve(fileName);
            if (Files.isRegularFile(p) || Files.isSymbolicLink(p) && Files.exists(p)) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    /** The folders searched, in order, without duplicates. */
    public static List<Path> searchPath(List<Path> preferred) {
        Set<Path> dirs = new LinkedHashSet<>(preferred);
        addAll(dirs, System.getenv("LD_LIBRARY_PATH"));
        addAll(dirs, System.getProperty("java.library.path"));
        Path confDir = Path.of("/etc/ld.so.conf.d");
        if (Files.isDirectory(confDir)) {
            try (Stream<Path> files = Files.list(confDir)) {
                for (Path conf : files.sorted().toList()) {
                    for (String line : Files.readAllLines(conf)) {
                        String l = line.strip();
                        if (l.startsWith("/")) dirs.add(Path.of(l));
                    }
                }
            } catch (IOException | RuntimeException ignored) {
                // an unreadable loader config only narrows the search
            }
        }
        for (String d : new String[] {"/usr/local/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
                "/usr/lib64", "/usr/lib", "/lib/x86_64-linux-gnu", "/lib64", "/usr/local/cuda/lib64",
                "/usr/local/nvidia/lib64", "/usr/lib/wsl/lib"}) {
            dirs.add(Path.of(d));
        }
        return new ArrayList<>(dirs);
    }

    private static void addAll(Set<Path> dirs, String pathList) {
        if (pathList == null) return;
        for (String s : pathList.split(java.io.File.pathSeparator)) {
            if (!s.isBlank()) dirs.add(Path.of(s));
        }
    }
}
