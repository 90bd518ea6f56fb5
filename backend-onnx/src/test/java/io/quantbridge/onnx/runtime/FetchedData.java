package io.quantbridge.onnx.runtime;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;

/** The real models and photos that {@code scripts/fetch-models.sh} puts under {@code .cache/}, for tests. */
public final class FetchedData {
    private FetchedData() { }

    /** {@code .cache/<relative>} in the repository; the test is skipped when it has not been fetched. */
    public static Path cache(String relative) {
        Path dir = Path.of("").toAbsolutePath();
        for (int i = 0; i < 4 && dir != null; i++, dir = dir.getParent()) {
            Path p = dir.resolve(".cache").resolve(relative);
            if (Files.exists(p)) return p;
        }
        assumeTrue(false, relative + " is not fetched (scripts/fetch-models.sh)");
        return null;
    }
}
