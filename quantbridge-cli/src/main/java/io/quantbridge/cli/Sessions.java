package io.quantbridge.cli;

import io.quantbridge.backend.Backend;
import io.quantbridge.backend.BackendSelector;
import io.quantbridge.backend.ModelSession;
import io.quantbridge.util.InputFiles;
import java.io.PrintWriter;
import java.nio.file.Path;

/**
 * Finds the backend that runs a model file: the one named with --backend, the quantbridge.backend property, the
 * QUANTBRIDGE_BACKEND variable or the config file, else the highest-ranked usable one that reads it.
 */
final class Sessions {
    private Sessions() { }

    /** The backend for {@code model}; {@code doing} says what is done with it in a note ("inspecting it with"). */
    static Backend backendFor(Path model, String explicit, PrintWriter err, String doing) {
        InputFiles.require(model, "model");
        BackendSelector.Choice c = BackendSelector.fromEnvironment().selectToRun(explicit, model);
        notePassedOver(c, doing, err);
        return c.backend();
    }

    static ModelSession open(Path model, String explicit, PrintWriter err) {
        return backendFor(model, explicit, err, "running it with").open(model);
    }

    /**
     * Says on {@code err} which higher-ranked backends the default passed over and why, and what {@code doing} the
     * model instead; nothing for a named backend or one chosen first.
     */
    static void notePassedOver(BackendSelector.Choice c, String doing, PrintWriter err) {
        for (String why : c.passedOver()) {
            err.println("note: " + why + "; " + doing + " " + c.backend().id()
                    + ", the next usable backend (--backend " + why.substring(0, why.indexOf(' ')) + " to insist)");
        }
        err.flush();
    }
}
