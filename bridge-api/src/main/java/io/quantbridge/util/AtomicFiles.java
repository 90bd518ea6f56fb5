package io.quantbridge.util;

import io.quantbridge.QuantbridgeException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Writes files so that readers see either the old content or the complete new one: the bytes go to a temporary file
 * in the same folder, which is then renamed over the target. A failure leaves no partial file behind, and an
 * interrupted process neither: the temporary files in use are registered, and {@link #deletePending()} (which the
 * command line's signal handler calls) removes them.
 */
public final class AtomicFiles {
    private static final Set<Path> PENDING = ConcurrentHashMap.newKeySet();

    private AtomicFiles() { }

    /**
     * A new temporary file in {@code dir} (named {@code prefix...tmp}), registered until {@link #release} so that an
     * interrupted run removes it. Callers rename or delete it, then release it.
     */
    public static Path tempFile(Path dir, String prefix) throws IOException {
        // not Files.createTempFile: it makes the file readable by its owner only (0600), and the rename keeps that,
        // so a serving process running as another user could not read the artifacts; a plain new file gets the
        // permissions the umask gives any new file
        for (int attempt = 0; ; attempt++) {
            Path tmp = dir.resolve(prefix + Long.toUnsignedString(ThreadLocalRandom.current().nextLong(), 36) + ".tmp");
            try {
                Files.createFile(tmp);
            } catch (FileAlreadyExistsException e) {
                if (attempt < 100) continue;
                throw e;
            }
            PENDING.add(tmp);
            return tmp;
        }
    }

    /**
     * Gives a temporary file the permissions of the file it is about to replace, so that replacing a file keeps who
     * may read it. Best effort: file systems without POSIX permissions keep their defaults.
     */
    public static void keepPermissions(Path tmp, Path target) {
        try {
            if (Files.exists(target)) Files.setPosixFilePermissions(tmp, Files.getPosixFilePermissions(target));
        } catch (IOException | UnsupportedOperationException ignored) {
            // the new file keeps the default permissions
        }
    }

    /** Forgets a temporary file from {@link #tempFile} once it has been renamed or deleted. */
    public static void release(Path tmp) {
        if (tmp != null) PENDING.remove(tmp);
    }

    /**
     * Deletes the temporary files of writes still under way (for a process that is being stopped) and returns them.
     * Best effort: a file that cannot be deleted is skipped.
     */
    public static List<Path> deletePending() {
        List<Path> deleted = new java.util.ArrayList<>();
        for (Path p : List.copyOf(PENDING)) {
            try {
                if (Files.deleteIfExists(p)) deleted.add(p);
            } catch (IOException ignored) {
                // nothing more can be done for it while the process stops
            }
            PENDING.remove(p);
        }
        return deleted;
    }

    /** Copies {@code from} to {@code to} atomically. */
    public static void copy(Path from, Path to) {
        write(to, out -> Files.copy(from, out));
    }

    /** Something that writes a whole file to a stream. */
    @FunctionalInterface
    public interface Writer {
        void writeTo(OutputStream out) throws IOException;
    }

    public static void write(Path target, byte[] bytes) {
        write(target, out -> out.write(bytes));
    }

    public static void writeString(Path target, String text) {
        write(target, text.getBytes(StandardCharsets.UTF_8));
    }

    public static void write(Path target, Writer writer) {
        Path dir = target.toAbsolutePath().getParent();
        Path tmp = null;
        try {
            Files.createDirectories(dir);
            tmp = tempFile(dir, "." + target.getFileName() + ".");
            try (OutputStream out = new java.io.BufferedOutputStream(Files.newOutputStream(tmp))) {
                writer.writeTo(out);
            }
            keepPermissions(tmp, target);
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
            release(tmp);
            tmp = null;
        } catch (IOException e) {
            throw new QuantbridgeException("cannot write " + target + ": " + e.getMessage(), e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // the original failure is what the user needs to see
                }
                release(tmp);
            }
        }
    }
}
