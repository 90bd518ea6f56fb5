package io.quantbridge.data;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.util.Hashing;
import io.quantbridge.util.Json;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A SHA-256 fingerprint of a set of samples: it changes when a sample is added, removed, renamed or edited, or when
 * the preprocessing changes, and not when the files move to another folder or are listed in another order.
 *
 * <p>Hashed, all as length-prefixed fields (so that no two different inputs hash the same bytes): for each sample in
 * id order, its id, its file count, and for each file its name and content; then the preprocessing as the JSON of
 * {@link Preprocessing#toMap()} (or nothing when null). A sample of tensors ({@link SampleRef.Kind#TENSORS}) hashes,
 * in place of files, each tensor in name order: its name, rank, dimensions and the IEEE 754 bits of its values.
 */
public final class DataFingerprint {
    private DataFingerprint() { }

    /** Lower-case hex SHA-256 of the samples and the preprocessing (which may be null). */
    public static String of(List<SampleRef> samples, Preprocessing preprocessing) {
        MessageDigest md = Hashing.sha256();
        List<SampleRef> sorted = new ArrayList<>(samples);
        sorted.sort(Comparator.comparing(SampleRef::id));
        putLong(md, sorted.size());
        byte[] buf = new byte[1 << 16];
        // a file that stacks samples is hashed once, after the samples taken from it (each then hashes its index)
        Map<String, SampleRef> stackFiles = new java.util.TreeMap<>();
        for (SampleRef s : sorted) {
            putString(md, s.id());
            putLong(md, s.files().size());
            if (s.kind() == SampleRef.Kind.TENSORS) {
                putTensors(md, s);
                continue;
            }
            if (s.stacked()) {
                putLong(md, s.index());
                stackFiles.putIfAbsent(s.path().getFileName().toString(), s);
                continue;
            }
            for (Path f : s.files()) {
                putString(md, f.getFileName().toString());
                putFile(md, f, s, buf);
            }
        }
        putLong(md, stackFiles.size());
        for (Map.Entry<String, SampleRef> e : stackFiles.entrySet()) {
            putString(md, e.getKey());
            putFile(md, e.getValue().path(), e.getValue(), buf);
        }
        if (preprocessing != null) {
            putString(md, Json.write(preprocessing.toMap()));
        } else {
            putLong(md, -1);
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /**
     * The "data" map of a calibration table: {@code fingerprint}, {@code samples} (count), {@code seed} and, when
     * given, {@code preprocessing}.
     */
    public static Map<String, Object> tableData(List<SampleRef> calibration, Preprocessing preprocessing, long seed) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("fingerprint", of(calibration, preprocessing));
        m.put("samples", calibration.size());
        m.put("seed", seed);
        if (preprocessing != null) m.put("preprocessing", preprocessing.toMap());
        return m;
    }

    private static void putFile(MessageDigest md, Path f, SampleRef s, byte[] buf) {
        try {
            putLong(md, Files.size(f));
            try (InputStream in = Files.newInputStream(f)) {
                int n;
                while ((n = in.read(buf)) > 0) md.update(buf, 0, n);
            }
        } catch (IOException e) {
            String label = s.label() == null ? SampleSource.CALIBRATION : s.label();
            throw new QuantbridgeException(label + " " + f + ": cannot read: " + e.getMessage(), e);
        }
    }

    private static void putTensors(MessageDigest md, SampleRef s) {
        Map<String, FloatTensor> tensors = s.tensors().get();
        String label = s.label() == null ? SampleSource.CALIBRATION : s.label();
        if (tensors == null) throw new QuantbridgeException(label + " " + s.id() + ": the sample is null");
        Map<String, FloatTensor> sorted = new java.util.TreeMap<>();
        for (Map.Entry<String, FloatTensor> e : tensors.entrySet()) {
            if (e.getKey() == null || e.getValue() == null) {
                throw new QuantbridgeException(label + " " + s.id() + ": a tensor or its name is null");
            }
            sorted.put(e.getKey(), e.getValue());
        }
        putLong(md, sorted.size());
        java.nio.ByteBuffer bytes = java.nio.ByteBuffer.allocate(1 << 16);
        for (Map.Entry<String, FloatTensor> e : sorted.entrySet()) {
            putString(md, e.getKey());
            long[] shape = e.getValue().shape();
            putLong(md, shape.length);
            for (long d : shape) putLong(md, d);
            for (float v : e.getValue().data()) {
                if (!bytes.hasRemaining()) {
                    md.update(bytes.array(), 0, bytes.position());
                    bytes.clear();
                }
                bytes.putInt(Float.floatToIntBits(v));
            }
            md.update(bytes.array(), 0, bytes.position());
            bytes.clear();
        }
    }

    private static void putString(MessageDigest md, String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        putLong(md, b.length);
        md.update(b);
    }

    private static void putLong(MessageDigest md, long v) {
        for (int i = 7; i >= 0; i--) md.update((byte) (v >>> (8 * i)));
    }
}
