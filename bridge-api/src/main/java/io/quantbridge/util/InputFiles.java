package io.quantbridge.util;

import io.quantbridge.QuantbridgeException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Checks a file the user names before anything reads it, so that the error says what is wrong with the path. */
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
            throw new QuantbridgeException(what + " " + file + " does not exist");
        }
        if (!Files.isReadable(file)) {
            throw new QuantbridgeException(what + " " + file + " is not readable (check its permissions)");
        }
        return file;
    }
}
