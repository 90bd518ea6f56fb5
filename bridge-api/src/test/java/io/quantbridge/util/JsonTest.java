package io.quantbridge.util;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.quantbridge.QuantbridgeException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JsonTest {
    @TempDir
    Path tmp;

    @Test
    void roundTripKeepsOrderAndTypes() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("z", 1L);
        m.put("a", 0.5);
        m.put("s", "q\"uote\n");
        m.put("l", List.of(1L, 2L));
        m.put("n", null);
        m.put("b", true);
        String text = Json.write(m);
        assertEquals(m, Json.parse(text));
        assertEquals(List.of("z", "a", "s", "l", "n", "b"), List.copyOf(Json.parseObject(text).keySet()));
    }

    @Test
    void badJsonNamesTheLine() {
        var e = assertThrows(QuantbridgeException.class, () -> Json.parse("{\n\"a\": 1,\n\"b\" 2}"));
        assertEquals("invalid JSON at line 3: expected ':'", e.getMessage());
    }

    @Test
    void atomicWriteLeavesNoTemporaryFileOnFailure() throws Exception {
        Path target = tmp.resolve("out.json");
        Files.writeString(target, "old");
        assertThrows(QuantbridgeException.class, () -> AtomicFiles.write(target, out -> {
            out.write("partial".getBytes());
            throw new java.io.IOException("disk full");
        }));
        assertEquals("old", Files.readString(target));
        try (var files = Files.list(tmp)) {
            assertEquals(List.of(target), files.toList());
        }
    }
}
