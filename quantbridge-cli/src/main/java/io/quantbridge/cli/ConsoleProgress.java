package io.quantbridge.cli;

import io.quantbridge.backend.Progress;
import java.io.PrintWriter;
import java.util.Locale;

/**
 * A progress bar on the error stream. On a terminal it redraws one line; otherwise (logs, CI) it prints a line when
 * a task begins and when it ends, with its duration.
 */
final class ConsoleProgress implements Progress {
    private static final int WIDTH = 30;

    private final PrintWriter err;
    private final boolean interactive;
    private final boolean quiet;
    private String task;
    private long total;
    private long done;
    private long startNanos;
    private long lastDraw;

    ConsoleProgress(PrintWriter err, boolean quiet) {
        this(err, quiet, System.console() != null);
    }

    /** {@code interactive}: redraw one line (a terminal), or print a line per task (logs). */
    ConsoleProgress(PrintWriter err, boolean quiet, boolean interactive) {
        this.err = err;
        this.interactive = interactive;
        this.quiet = quiet;
    }

    @Override
    public synchronized void begin(String task, long total) {
        finishLine();
        this.task = task;
        this.total = total;
        this.done = 0;
        this.startNanos = System.nanoTime();
        this.lastDraw = 0;
        if (quiet) return;
        if (interactive) {
            draw();
        } else {
            err.println(task + (total > 0 ? " (" + total + ")" : "") + " ...");
            err.flush();
        }
    }

    @Override
    public synchronized void advance(long steps) {
        done += steps;
        if (quiet || !interactive) return;
        long now = System.nanoTime();
        if (now - lastDraw > 100_000_000L || done >= total) {
            lastDraw = now;
            draw();
        }
    }

    @Override
    public synchronized void end() {
        finishLine();
    }

    @Override
    public synchronized void note(String message) {
        if (quiet) return;
        if (interactive && task != null) err.print("\r\033[K");
        err.println(message);
        if (interactive && task != null) draw();
        err.flush();
    }

    private void finishLine() {
        if (task == null) return;
        double secs = (System.nanoTime() - startNanos) / 1e9;
        if (!quiet) {
            if (interactive) {
                draw();
                err.println();
            } else {
                err.printf(Locale.ROOT, "%s: done in %.1f s%n", task, secs);
            }
            err.flush();
        }
        task = null;
    }

    private void draw() {
        double secs = (System.nanoTime() - startNanos) / 1e9;
        StringBuilder sb = new StringBuilder("\r\033[K").append(task).append(' ');
        if (total > 0) {
            int filled = (int) Math.min(WIDTH, WIDTH * done / Math.max(1, total));
            sb.append('[').append("#".repeat(filled)).append(" ".repeat(WIDTH - filled)).append("] ")
                    .append(done).append('/').append(total).append(' ');
        } else if (done > 0) {
            sb.append(done).append(' ');
        }
        sb.append(String.format(Locale.ROOT, "%.1fs", secs));
        if (total > 0 && done > 0 && done < total) { // the steps so far, at their pace
            sb.append(String.format(Locale.ROOT, ", about %.0fs left", secs * (total - done) / done));
        }
        err.print(sb);
        err.flush();
    }
}
