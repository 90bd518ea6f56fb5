package io.quantbridge.util;

import io.quantbridge.QuantbridgeException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Checks paths the user names before anything reads or writes them, so that the error says what is wrong with the
 * path.
 */
public final class InputFiles {
    private InputFiles() { }

    /**
     * {@code file}, if it is a readable regular file; otherwise a {@link QuantbridgeException} starting with
     * {@code what} and the path: it does not exist, it is a folder, or it cannot be read.
     */
    public static Path require(Path file, String what) {
        if (Files.isDirectory(file)) {
            throw new QuantbridgeException(what + " " + file + " is a folder, not a file");
        }
        if (!Files.isRegularFile(file)) {
            throw new QuantbridgeException(what + " " + file + " does not exist" + encodingHint(file.toString()));
        }
        if (!Files.isReadable(file)) {
            throw new QuantbridgeException(what + " " + file + " is not readable (check its permissions)");
        }
        return file;
    }

    /**
     * Why a file name may not reach the file: the JVM takes file names in its locale's encoding
     * ({@code sun.jnu.encoding}), which in the C/POSIX locale (cron, systemd units, minimal containers) is ASCII, so
     * a name with other characters comes out with {@code ?} in place of them and names no file. A sentence to add to
     * an error about {@code name}, or "" when the encoding is UTF-8 or the name is plain ASCII.
     */
    public static String encodingHint(String name) {
        return encodingHint(name, System.getProperty("sun.jnu.encoding", ""));
    }

    static String encodingHint(String name, String encoding) {
        if (encoding.replace("-", "").equalsIgnoreCase("UTF8") || name == null) return "";
        boolean lost = name.indexOf('\uFFFD') >= 0 || name.indexOf('?') >= 0 || !name.chars().allMatch(c -> c < 128);
        return lost ? "; the JVM's file-name encoding is " + encoding + " (the C/POSIX locale), in which names with"
                + " other than ASCII characters come out as ?: run Java with a UTF-8 locale (LANG=C.UTF-8)" : "";
    }

    /**
     * Creates the output folder {@code dir} (and its parents) if needed; a {@link QuantbridgeException} naming
     * {@code option} if it is a file or cannot be created.
     */
    public static Path createFolder(Path dir, String option) {
        if (Files.exists(dir) && !Files.isDirectory(dir)) {
            throw new QuantbridgeException(option + " " + dir + " is a file, not a folder");
        }
        try {
            return Files.createDirectories(dir);
        } catch (java.nio.file.FileAlreadyExistsException e) {
            throw new QuantbridgeException(option + " " + dir + ": " + e.getFile() + " is a file, not a folder", e);
        } catch (java.io.IOException e) {
            throw new QuantbridgeException(option + " " + dir + ": cannot create the folder: " + e.getMessage(), e);
        }
    }
}
