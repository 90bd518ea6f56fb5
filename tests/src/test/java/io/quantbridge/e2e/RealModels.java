package io.quantbridge.e2e;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;

/** Locates the models and photos that scripts/fetch-models.sh puts in .cache/ at the repository root. */
final class RealModels {
    private RealModels() { }

    static Path root() {
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null && !Files.isRegularFile(dir.resolve("scripts").resolve("fetch-models.sh"))) {
            dir = dir.getParent();
        }
        if (dir == null) throw new IllegalStateException("repository root not found above " + Path.of("").toAbsolutePath());
        return dir;
    }

    static Path model(String file) {
        Path p = root().resolve(".cache/models/ppocr").resolve(file);
        assumeTrue(Files.isRegularFile(p), "models not fetched: run scripts/fetch-models.sh");
        return p;
    }

    /** A model that scripts/fetch-models.sh takes from an npm package, in .cache/models/{@code id}/. */
    static Path npmModel(String id, String file) {
        Path p = root().resolve(".cache/models").resolve(id).resolve(file);
        assumeTrue(Files.isRegularFile(p), "models not fetched: run scripts/fetch-models.sh");
        return p;
    }

    /** A folder {@code dir} holding copies of the named opencv photos. */
    static Path copyPhotos(Path dir, String... files) throws java.io.IOException {
        Files.createDirectories(dir);
        for (String f : files) Files.copy(photos().resolve(f), dir.resolve(f));
        return dir;
    }

    static Path photos() {
        Path p = root().resolve(".cache/data/opencv");
        assumeTrue(Files.isDirectory(p), "photos not fetched: run scripts/fetch-models.sh");
        return p;
    }
}
