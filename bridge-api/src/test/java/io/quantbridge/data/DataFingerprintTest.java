package io.quantbridge.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.QuantbridgeException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataFingerprintTest {
    @TempDir
    Path dir;

    private List<SampleRef> folder(String name, String... contents) throws IOException {
        Path d = Files.createDirectories(dir.resolve(name));
        for (int i = 0; i < contents.length; i++) {
            Files.writeString(d.resolve("s" + i + ".npy"), contents[i]);
        }
        return SampleSource.discover(d).samples();
    }

    @Test
    void stableAcrossOrderAndLocation() throws IOException {
        List<SampleRef> a = folder("a", "one", "two", "three");
        List<SampleRef> b = folder("b", "one", "two", "three");
        Preprocessing p = Preprocessing.defaults();
        String fp = DataFingerprint.of(a, p);
        assertTrue(fp.matches("[0-9a-f]{64}"), fp);
        assertEquals(fp, DataFingerprint.of(b, p));
        List<SampleRef> shuffled = new ArrayList<>(a);
        Collections.reverse(shuffled);
        assertEquals(fp, DataFingerprint.of(shuffled, p));
    }

    @Test
    void changesWithContentNamesSetAndPreprocessing() throws IOException {
        Preprocessing p = Preprocessing.defaults();
        String fp = DataFingerprint.of(folder("a", "one", "two"), p);
        assertNotEquals(fp, DataFingerprint.of(folder("b", "one", "twO"), p));
        assertNotEquals(fp, DataFingerprint.of(folder("c", "one"), p));
        assertNotEquals(fp, DataFingerprint.of(folder("d", "onet", "wo"), p));
        assertNotEquals(fp, DataFingerprint.of(folder("a"), Preprocessing.builder().size(224, 224).build()));
        assertNotEquals(fp, DataFingerprint.of(folder("a"), null));
        List<SampleRef> renamed = folder("e", "one", "two");
        Files.move(dir.resolve("e/s1.npy"), dir.resolve("e/t1.npy"));
        assertNotEquals(fp, DataFingerprint.of(SampleSource.discover(dir.resolve("e")).samples(), p));
        assertEquals(fp, DataFingerprint.of(folder("a"), p));
        assertEquals(2, renamed.size());
    }

    @Test
    void tableDataMap() throws IOException {
        List<SampleRef> s = folder("a", "one", "two");
        Preprocessing p = Preprocessing.defaults();
        Map<String, Object> m = DataFingerprint.tableData(s, p, 9);
        assertEquals(List.of("fingerprint", "samples", "seed", "preprocessing"), List.copyOf(m.keySet()));
        assertEquals(DataFingerprint.of(s, p), m.get("fingerprint"));
        assertEquals(2, m.get("samples"));
        assertEquals(9L, m.get("seed"));
        assertEquals(p.toMap(), m.get("preprocessing"));
    }

    @Test
    void unreadableFileNamesIt() throws IOException {
        List<SampleRef> s = folder("a", "one");
        Files.delete(dir.resolve("a/s0.npy"));
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> DataFingerprint.of(s, Preprocessing.defaults()));
        assertTrue(e.getMessage().startsWith("calibration data " + dir.resolve("a/s0.npy") + ": cannot read"),
                e.getMessage());
    }

    @Test
    void stackedSamplesHashTheirIndexAndTheFileOnce() throws IOException {
        Path f = dir.resolve("calib.npy");
        NpyFile.write(f, new io.quantbridge.tensor.FloatTensor(new long[] {4, 2}, new float[] {1, 2, 3, 4, 5, 6, 7,
                8}));
        List<io.quantbridge.tensor.TensorInfo> in = List.of(new io.quantbridge.tensor.TensorInfo("x", "float32",
                new long[] {1, 2}));
        List<SampleRef> all = SampleSource.discover(f, SampleSource.CALIBRATION, in).samples();
        assertEquals(4, all.size());
        Preprocessing p = Preprocessing.defaults();
        String fp = DataFingerprint.of(all, p);
        assertEquals(fp, DataFingerprint.of(SampleSource.discover(f, SampleSource.CALIBRATION, in).samples(), p));
        assertNotEquals(fp, DataFingerprint.of(all.subList(0, 3), p));
        assertNotEquals(DataFingerprint.of(List.of(all.get(0), all.get(1)), p),
                DataFingerprint.of(List.of(all.get(0), all.get(2)), p));
        NpyFile.write(f, new io.quantbridge.tensor.FloatTensor(new long[] {4, 2}, new float[] {1, 2, 3, 4, 5, 6, 7,
                9}));
        assertNotEquals(fp, DataFingerprint.of(SampleSource.discover(f, SampleSource.CALIBRATION, in).samples(), p));
    }
}
