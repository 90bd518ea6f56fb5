package io.quantbridge.backend;

/** Receives progress of long work (calibration passes, builds, evaluation). Implementations must be thread-safe. */
public interface Progress {
    Progress NONE = new Progress() {
        @Override public void begin(String task, long total) { }
        @Override public void advance(long steps) { }
        @Override public void end() { }
    };

    /** A new task of {@code total} steps (0 when unknown) replaces the current one. */
    void begin(String task, long total);

    void advance(long steps);

    void end();

    /** A line of information (what was kept in float, say); the default drops it. */
    default void note(String message) { }
}
