package io.quantbridge.util;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.QuantbridgeException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicFilesTest {
    @TempDir
    Path dir;

    private List<Path> files() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.sorted().toList();
        }
    }

    @Test
    void writeReplacesTheTargetAndLeavesNoTemporaryFile() throws IOException {
        Path target = dir.resolve("model.onnx");
        Files.writeString(target, "old");
        AtomicFiles.writeString(target, "new");
        assertEquals("new", Files.readString(target));
        assertEquals(List.of(target), files());
        assertEquals(List.of(), AtomicFiles.deletePending());
    }

    /**
     * A written file gets the permissions any new file gets here (the umask's), not the owner-only 0600 of a Java
     * temporary file, so that a service running as another user can read the artifacts; a replaced file keeps its own.
     */
    @Test
    void writtenFilesGetTheUsualPermissionsAndReplacedOnesKeepTheirs() throws IOException {
        Path reference = Files.createFile(dir.resolve("plain"));
        Path written = dir.resolve("model.int8.onnx");
        AtomicFiles.writeString(written, "int8");
        assertEquals(PosixFilePermissions.toString(Files.getPosixFilePermissions(reference)),
                PosixFilePermissions.toString(Files.getPosixFilePermissions(written)));

        Path kept = dir.resolve("report.json");
        Files.writeString(kept, "old");
        Files.setPosixFilePermissions(kept, PosixFilePermissions.fromString("rw-r-----"));
        AtomicFiles.writeString(kept, "new");
        assertEquals("rw-r-----", PosixFilePermissions.toString(Files.getPosixFilePermissions(kept)));
        assertEquals("new", Files.readString(kept));
    }

    @Test
    void failedWriteKeepsTheOldContentAndRemovesItsTemporaryFile() throws IOException {
        Path target = dir.resolve("calibration.cache");
        Files.writeString(target, "old");
        QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> AtomicFiles.write(target, out -> {
            out.write("half".getBytes(StandardCharsets.UTF_8));
            throw new IOException("disk full");
        }));
        assertEquals("cannot write " + target + ": disk full", e.getMessage());
        assertEquals("old", Files.readString(target));
        assertEquals(List.of(target), files());
    }

    @Test
    void deletePendingRemovesTheTemporaryFileOfAWriteUnderWay() throws IOException {
        Path target = dir.resolve("model.int8.onnx");
        List<Path>[] seen = new List[2];
        // what the signal handler does while a write is under way: its temporary file goes, the target never appears
        assertThrows(QuantbridgeException.class, () -> AtomicFiles.write(target, out -> {
            out.write(new byte[1000]);
            out.flush();
            seen[0] = files();
            seen[1] = AtomicFiles.deletePending();
        }));
        assertEquals(1, seen[0].size());
        Path tmp = seen[0].get(0);
        assertTrue(tmp.getFileName().toString().startsWith(".model.int8.onnx."), tmp.toString());
        assertTrue(tmp.getFileName().toString().endsWith(".tmp"), tmp.toString());
        assertEquals(seen[0], seen[1]);
        assertFalse(Files.exists(target));
        assertEquals(List.of(), files());
    }

    @Test
    void copyIsAtomicToo() throws IOException {
        Path from = dir.resolve("a.bin");
        Files.write(from, new byte[] {1, 2, 3});
        Path to = dir.resolve("b.bin");
        AtomicFiles.copy(from, to);
        assertEquals(List.of(from, to), files());
        assertEquals(3, Files.size(to));
    }
}
