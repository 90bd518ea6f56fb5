package io.quantbridge.e2e;

import java.nio.file.Path;
import java.util.ArrayList;

/** Experiment helper: writes the cls/rec crop folders of {@link PpocrClsRecAcceptanceTest} under args[0]. */
public final class WriteCrops {
    public static void main(String[] args) throws Exception {
        PpocrClsRecAcceptanceTest.writeCrops(Path.of(args[0]), new ArrayList<>());
    }
}
