package io.quantbridge.request;

import io.quantbridge.QuantbridgeException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** A file a backend wrote, with what it is ("model", "calibration table", "tensorrt cache", ...). */
public record Artifact(String kind, Path path, long bytes) {
    /** The artifact for a file just written, with its size read back; an unreadable file is an error naming it. */
    public static Artifact of(String kind, Path path) {
        try {
            return new Artifact(kind, path, Files.size(path));
        } catch (IOException e) {
            throw new QuantbridgeException("cannot read back " + path + ": " + e.getMessage(), e);
        }
    }

    /** For report.json: {@code kind}, {@code path}, {@code bytes}. */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("kind", kind);
        m.put("path", path.toString());
        m.put("bytes", bytes);
        return m;
    }
}
