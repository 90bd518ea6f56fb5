package io.quantbridge.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.tensor.FloatTensor;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code .npz} archives. The fixtures under {@code src/test/resources/npz} were written by numpy 2.4.6:
 * <pre>
 * ids = np.array([[101, 7592, 2088, 102]], dtype=np.int64); mask = np.array([[1, 1, 1, 0]], dtype=np.int64)
 * np.savez('tokens.npz', input_ids=ids, attention_mask=mask)
 * np.savez_compressed('tokens_compressed.npz', input_ids=ids, attention_mask=mask)
 * x = (np.arange(5)[:, None, None] * 10 + np.arange(6).reshape(2, 3)).astype(np.float32)
 * y = (np.arange(5)[:, None] * 100 + np.arange(4)).astype(np.int32)
 * np.savez_compressed('stacked.npz', x=x, y=y); np.save('stacked.npy', x)
 * </pre>
 */
class NpzFileTest {
    @TempDir
    Path dir;

    static Path fixture(String name) {
        try {
            return Path.of(NpzFileTest.class.getResource("/npz/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void readsNumpysStoredAndDeflatedArchives() {
        for (String name : List.of("tokens.npz", "tokens_compressed.npz")) {
            Map<String, FloatTensor> a = NpzFile.read(fixture(name));
            assertEquals(List.of("input_ids", "attention_mask"), List.copyOf(a.keySet()), name);
            assertArrayEquals(new long[] {1, 4}, a.get("input_ids").shape());
            assertArrayEquals(new float[] {101, 7592, 2088, 102}, a.get("input_ids").data());
            assertArrayEquals(new float[] {1, 1, 1, 0}, a.get("attention_mask").data());
            assertArrayEquals(new long[] {1, 4}, NpzFile.shapes(fixture(name)).get("attention_mask"));
        }
    }

    @Test
    void readsOneStackedSampleOfEveryArray() {
        Path f = fixture("stacked.npz");
        assertArrayEquals(new long[] {5, 2, 3}, NpzFile.shapes(f).get("x"));
        Map<String, FloatTensor> s3 = NpzFile.readSample(f, 3);
        assertArrayEquals(new long[] {2, 3}, s3.get("x").shape());
        assertArrayEquals(new float[] {30, 31, 32, 33, 34, 35}, s3.get("x").data());
        assertArrayEquals(new long[] {4}, s3.get("y").shape());
        assertArrayEquals(new float[] {300, 301, 302, 303}, s3.get("y").data());
        // the same slice from the .npy numpy wrote beside it
        FloatTensor n4 = NpyFile.readSample(fixture("stacked.npy"), 4);
        assertArrayEquals(new long[] {2, 3}, n4.shape());
        assertArrayEquals(new float[] {40, 41, 42, 43, 44, 45}, n4.data());
        assertArrayEquals(new long[] {5, 2, 3}, NpyFile.shape(fixture("stacked.npy")));
        assertEquals(fixture("stacked.npz") + " array 'x': shape [5, 2, 3] has no sample 5 along its first dimension",
                assertThrows(QuantbridgeException.class, () -> NpzFile.readSample(f, 5)).getMessage());
    }

    private Path zip(String name, Map<String, byte[]> entries) throws IOException {
        Path f = dir.resolve(name);
        try (OutputStream os = Files.newOutputStream(f); ZipOutputStream z = new ZipOutputStream(os)) {
            for (Map.Entry<String, byte[]> e : entries.entrySet()) {
                ZipEntry ze = new ZipEntry(e.getKey());
                ze.setMethod(ZipEntry.STORED);
                ze.setSize(e.getValue().length);
                CRC32 crc = new CRC32();
                crc.update(e.getValue());
                ze.setCrc(crc.getValue());
                z.putNextEntry(ze);
                z.write(e.getValue());
                z.closeEntry();
            }
        }
        return f;
    }

    @Test
    void refusesWhatIsNotAnArchiveOfArrays() throws IOException {
        Path notZip = dir.resolve("a.npz");
        Files.writeString(notZip, "not a zip");
        String m = assertThrows(QuantbridgeException.class, () -> NpzFile.read(notZip)).getMessage();
        assertTrue(m.startsWith(notZip + ": not a readable .npz file (a zip archive of .npy arrays): "), m);

        Path pickle = zip("p.npz", Map.of("labels.pkl", new byte[] {1, 2}));
        assertEquals(pickle + ": entry 'labels.pkl' is not a .npy array (an .npz file holds one <name>.npy per"
                + " array, as numpy.savez writes it)",
                assertThrows(QuantbridgeException.class, () -> NpzFile.read(pickle)).getMessage());

        Path empty = zip("e.npz", Map.of());
        assertEquals(empty + ": the .npz file holds no arrays",
                assertThrows(QuantbridgeException.class, () -> NpzFile.read(empty)).getMessage());

        byte[] good = NpyBytes.f4("(2,)", 1, 2);
        byte[] cut = java.util.Arrays.copyOf(good, good.length - 4);
        Path truncated = zip("t.npz", Map.of("x.npy", cut));
        assertEquals(truncated + " array 'x': truncated .npy data: shape [2] of <f4 needs 8 bytes, the file has 4",
                assertThrows(QuantbridgeException.class, () -> NpzFile.read(truncated)).getMessage());
        assertEquals(truncated + " array 'x': truncated .npy data: shape [2] of <f4 needs 8 bytes, the file has 4",
                assertThrows(QuantbridgeException.class, () -> NpzFile.shapes(truncated)).getMessage());

        Path missing = dir.resolve("none.npz");
        assertEquals(missing + ": no such file",
                assertThrows(QuantbridgeException.class, () -> NpzFile.read(missing)).getMessage());
    }

    @Test
    void stackedNpyChecksTheWholeFileBeforeReadingASample() throws IOException {
        byte[] good = NpyBytes.f4("(3, 2)", 1, 2, 3, 4, 5, 6);
        Path cut = dir.resolve("cut.npy");
        Files.write(cut, java.util.Arrays.copyOf(good, good.length - 4));
        assertEquals(cut + ": truncated .npy data: shape [3, 2] of <f4 needs 24 bytes, the file has 20",
                assertThrows(QuantbridgeException.class, () -> NpyFile.readSample(cut, 0)).getMessage());
        Path f = dir.resolve("ok.npy");
        Files.write(f, good);
        assertArrayEquals(new float[] {5, 6}, NpyFile.readSample(f, 2).data());
    }

    /**
     * A changed byte in an array's data: numpy refuses the archive (zipfile checks each entry's CRC-32), and Java's
     * ZipFile checks nothing, stored or deflated. A whole array is checked as it is read; a stacked file, whose samples
     * read only up to their own slice, when its samples are discovered.
     */
    @Test
    void aChangedByteInTheDataFailsTheArchivesChecksum() throws IOException {
        byte[] good = NpyBytes.f4("(3, 2)", 1, 2, 3, 4, 5, 6);
        byte[] bad = good.clone();
        bad[bad.length - 2] = (byte) 0xE0; // 6.0f (00 00 C0 40) -> 7.0f
        CRC32 crcGood = new CRC32();
        crcGood.update(good);
        CRC32 crcBad = new CRC32();
        crcBad.update(bad);
        Path f = zip("flip.npz", Map.of("x.npy", good));
        byte[] bytes = Files.readAllBytes(f);
        int at = indexOf(bytes, good);
        System.arraycopy(bad, 0, bytes, at, bad.length);
        Files.write(f, bytes);

        String expected = f + " array 'x': the data does not match the archive's CRC-32 ("
                + String.format("%08x", crcBad.getValue()) + ", the archive says "
                + String.format("%08x", crcGood.getValue()) + "): the file is corrupt";
        assertEquals(expected, assertThrows(QuantbridgeException.class, () -> NpzFile.read(f)).getMessage());
        assertEquals(expected, assertThrows(QuantbridgeException.class, () -> NpzFile.verify(f)).getMessage());
        // a slice is read without the rest of the entry
        assertArrayEquals(new float[] {5, 7}, NpzFile.readSample(f, 2).get("x").data());
        io.quantbridge.tensor.TensorInfo x = new io.quantbridge.tensor.TensorInfo("x", "float", new long[] {-1, 2});
        assertEquals("calibration data " + expected, assertThrows(QuantbridgeException.class,
                () -> SampleSource.discover(f, SampleSource.CALIBRATION, List.of(x))).getMessage());

        NpzFile.verify(fixture("stacked.npz"));
        NpzFile.verify(fixture("tokens_compressed.npz"));
    }

    private static int indexOf(byte[] in, byte[] part) {
        for (int i = 0; i + part.length <= in.length; i++) {
            if (java.util.Arrays.equals(in, i, i + part.length, part, 0, part.length)) return i;
        }
        throw new AssertionError("not found");
    }
}
