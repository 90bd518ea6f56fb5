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

    /**
     * No progress, but every note (the warnings quantize prints: outlier samples, layers kept in float, files an
     * earlier run left) handed to {@code sink}, which must be thread-safe; for a service that logs them.
     */
    static Progress notes(java.util.function.Consumer<String> sink) {
        java.util.Objects.requireNonNull(sink, "sink");
        return new Progress() {
            @Override public void begin(String task, long total) { }
            @Override public void advance(long steps) { }
            @Override public void end() { }
            @Override public void note(String message) { sink.accept(message); }
        };
    }
}
