package io.quantbridge.request;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The process a staging folder belongs to, written into its name ({@code <host>-<pid>-<start>}: a hash of the host
 * name, the process id, the process start in epoch milliseconds), so that a later run can tell the folder of a killed
 * run, which it removes, from that of a run still going: a process id alone is reused, and another machine's
 * process ids mean nothing here.
 *
 * @param host    the first 8 hex digits of the SHA-256 of the host name
 * @param pid     the process id
 * @param startMs the process start, epoch milliseconds; 0 where the platform does not tell it
 */
record RunOwner(String host, long pid, long startMs) {
    private static final Pattern TAG = Pattern.compile("([0-9a-f]{8})-([0-9]{1,19})-([0-9]{1,19})-.*");
    private static final String THIS_HOST = hostHash();

    /** This process. */
    static RunOwner current() {
        ProcessHandle me = ProcessHandle.current();
        return new RunOwner(THIS_HOST, me.pid(), start(me));
    }

    /** The owner a staging folder's name (without its prefix) records; empty for other names (older versions). */
    static Optional<RunOwner> parse(String tag) {
        Matcher m = TAG.matcher(tag);
        if (!m.matches()) return Optional.empty();
        try {
            return Optional.of(new RunOwner(m.group(1), Long.parseLong(m.group(2)), Long.parseLong(m.group(3))));
        } catch (NumberFormatException e) {
            return Optional.empty();
        }
    }

    /** How a staging folder's name records this owner. */
    String tag() {
        return host + "-" + pid + "-" + startMs;
    }

    boolean isThisMachine() {
        return host.equals(THIS_HOST);
    }

    /**
     * Whether this owner is a process of this machine that has ended: no process has its id, or the one that has it
     * started at another time (the id was reused). False where that cannot be known.
     */
    boolean endedHere() {
        if (!isThisMachine() || startMs == 0) return false;
        Optional<ProcessHandle> p = ProcessHandle.of(pid);
        if (p.isEmpty() || !p.get().isAlive()) return true;
        long now = start(p.get());
        return now != 0 && Math.abs(now - startMs) > 1000;
    }

    /** When the process started, for messages. */
    String started() {
        return Instant.ofEpochMilli(startMs).toString();
    }

    private static long start(ProcessHandle p) {
        return p.info().startInstant().map(Instant::toEpochMilli).orElse(0L);
    }

    private static String hostHash() {
        String name = null;
        try {
            Path kernel = Path.of("/proc/sys/kernel/hostname");
            if (Files.isReadable(kernel)) name = Files.readString(kernel).trim();
        } catch (IOException | RuntimeException ignored) {
            // asked below
        }
        if (name == null || name.isEmpty()) name = System.getenv("HOSTNAME");
        if (name == null || name.isEmpty()) name = System.getenv("COMPUTERNAME");
        if (name == null || name.isEmpty()) {
            try {
                name = java.net.InetAddress.getLocalHost().getHostName();
            } catch (IOException | RuntimeException e) {
                name = "unknown";
            }
        }
        return io.quantbridge.util.Hashing.sha256(name.getBytes(StandardCharsets.UTF_8)).substring(0, 8);
    }
}
