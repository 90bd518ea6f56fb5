package io.quantbridge.cli;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.Backend;
import io.quantbridge.backend.BackendSelector;
import io.quantbridge.backend.ModelSession;
import io.quantbridge.util.InputFiles;
import java.nio.file.Path;

/** Finds the backend that runs a model file: the one named with --backend, else the first usable one that reads it. */
final class Sessions {
    private Sessions() { }

    static Backend backendFor(Path model, String explicit) {
        InputFiles.require(model, "model");
        BackendSelector selector = BackendSelector.fromEnvironment();
        if (explicit != null) {
            Backend b = selector.select(explicit).backend();
            if (!b.capabilities().reads(model)) {
                throw new QuantbridgeException("backend '" + b.id() + "' does not read " + model.getFileName()
                        + " (it reads " + b.capabilities().modelExtensions() + ")");
            }
            return b;
        }
        StringBuilder why = new StringBuilder();
        for (Backend b : selector.backends()) {
            if (!b.capabilities().reads(model)) continue;
            if (b.status().usable()) return b;
            why.append("; ").append(b.id()).append(": ").append(b.status().reason());
        }
        throw new QuantbridgeException("no usable backend reads " + model.getFileName()
                + (why.length() == 0 ? "" : why.toString()));
    }

    static ModelSession open(Path model, String explicit) {
        return backendFor(model, explicit).open(model);
    }
}
