package io.quantbridge.data;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.tensor.FloatTensor;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Enumeration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.CheckedInputStream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;

/**
 * NumPy {@code .npz} archives, as {@code numpy.savez} and {@code numpy.savez_compressed} write them: a zip archive
 * holding one {@code <name>.npy} entry per array (stored or deflated). Each array is read as {@link NpyFile} reads a
 * file, with the same element types and refusals; arrays are keyed by their name without {@code .npy}, in archive
 * order. An entry that is not a {@code .npy} array is refused (a pickled object array, a stray file), so is an
 * archive without arrays. Every error message starts with the archive and, where there is one, the array.
 */
public final class NpzFile {
    private static final String SUFFIX = ".npy";

    private NpzFile() { }

    /** Every array of {@code file}, each checked against the archive's CRC-32 of its entry. */
    public static Map<String, FloatTensor> read(Path file) {
        return visit(file, (zip, entry, name, source) -> {
            try (CheckedInputStream in = new CheckedInputStream(zip.getInputStream(entry), new CRC32())) {
                NpyFile.Header h = header(in, entry, source);
                h.checkWhole();
                // the whole array is the single sample of the same array seen as [1, ...]
                FloatTensor t = new NpyFile.Header(source, prepend(h.shape), h.descr, h.dtype, h.count, h.dataStart,
                        h.fortran)
                        .sample(in, 0);
                checkCrc(in, entry, source);
                return t;
            }
        });
    }

    /**
     * Reads every entry of {@code file} to its end and checks it against the archive's CRC-32, as numpy does when it
     * loads an array. Java's {@link ZipFile} checks none, stored or deflated: a changed byte in an array's data would
     * otherwise be calibrated on. {@link #read} checks what it reads; this is for stacked samples, each of which reads
     * only up to its own slice.
     */
    public static void verify(Path file) {
        visit(file, (zip, entry, name, source) -> {
            try (CheckedInputStream in = new CheckedInputStream(zip.getInputStream(entry), new CRC32())) {
                checkCrc(in, entry, source);
                return Boolean.TRUE;
            }
        });
    }

    /** Reads what is left of the entry and compares the checksum of all of it with the archive's. */
    private static void checkCrc(CheckedInputStream in, ZipEntry entry, String source) throws IOException {
        in.transferTo(OutputStream.nullOutputStream());
        if (entry.getCrc() != -1 && in.getChecksum().getValue() != entry.getCrc()) {
            throw new QuantbridgeException(source + ": the data does not match the archive's CRC-32 ("
                    + String.format("%08x", in.getChecksum().getValue()) + ", the archive says "
                    + String.format("%08x", entry.getCrc()) + "): the file is corrupt");
        }
    }

    /** The shape of every array of {@code file}, from the headers (each array's size is checked against it). */
    public static Map<String, long[]> shapes(Path file) {
        return visit(file, (zip, entry, name, source) -> {
            try (InputStream in = zip.getInputStream(entry)) {
                return header(in, entry, source).shape.clone();
            }
        });
    }

    /**
     * Sample {@code index} of every array of {@code file}, each array seen as samples stacked along its first
     * dimension ({@code a[index]}, of shape {@code shape[1:]}). Only that sample is kept in memory; a deflated
     * ({@code savez_compressed}) array is decompressed up to it.
     */
    public static Map<String, FloatTensor> readSample(Path file, long index) {
        return visit(file, (zip, entry, name, source) -> {
            try (InputStream in = zip.getInputStream(entry)) {
                NpyFile.Header h = header(in, entry, source);
                if (h.shape.length == 0 || index >= h.shape[0]) {
                    throw new QuantbridgeException(source + ": shape " + Arrays.toString(h.shape)
                            + " has no sample " + index + " along its first dimension");
                }
                return h.sample(in, index);
            }
        });
    }

    /** The header of an entry, its uncompressed size checked against it. */
    private static NpyFile.Header header(InputStream in, ZipEntry entry, String source) throws IOException {
        NpyFile.Header h = NpyFile.header(in, source);
        if (entry.getSize() >= 0) h.checkDataBytes(entry.getSize() - h.dataStart);
        return h;
    }

    private static long[] prepend(long[] shape) {
        long[] s = new long[shape.length + 1];
        s[0] = 1;
        System.arraycopy(shape, 0, s, 1, shape.length);
        return s;
    }

    private interface EntryReader<T> {
        T read(ZipFile zip, ZipEntry entry, String name, String source) throws IOException;
    }

    private static <T> Map<String, T> visit(Path file, EntryReader<T> reader) {
        if (!Files.exists(file)) throw new QuantbridgeException(file + ": no such file");
        Map<String, T> out = new LinkedHashMap<>();
        String current = null;
        try (ZipFile zip = new ZipFile(file.toFile())) {
            Enumeration<? extends ZipEntry> entries = zip.entries();
            while (entries.hasMoreElements()) {
                ZipEntry e = entries.nextElement();
                if (e.isDirectory()) continue;
                String entryName = e.getName();
                if (!entryName.endsWith(SUFFIX)) {
                    throw new QuantbridgeException(file + ": entry '" + entryName + "' is not a .npy array (an .npz"
                            + " file holds one <name>.npy per array, as numpy.savez writes it)");
                }
                String name = entryName.substring(0, entryName.length() - SUFFIX.length());
                current = name;
                out.put(name, reader.read(zip, e, name, file + " array '" + name + "'"));
            }
        } catch (NoSuchFileException e) {
            throw new QuantbridgeException(file + ": no such file");
        } catch (ZipException e) {
            throw new QuantbridgeException(file + ": not a readable .npz file (a zip archive of .npy arrays"
                    + (current == null ? "" : "; failed in array '" + current + "'") + "): " + e.getMessage(), e);
        } catch (IOException e) {
            throw new QuantbridgeException(file + ": cannot read" + (current == null ? "" : " array '" + current
                    + "'") + ": " + e.getMessage(), e);
        }
        if (out.isEmpty()) throw new QuantbridgeException(file + ": the .npz file holds no arrays");
        return out;
    }
}
