package io.quantbridge.request;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.Progress;
import io.quantbridge.util.AtomicFiles;
import io.quantbridge.util.InputFiles;
import io.quantbridge.util.Json;
import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BiFunction;
import java.util.stream.Stream;

/**
 * Runs a quantization so that the output folder changes only when the run succeeds: the backend writes into a hidden
 * folder inside {@code --out} ({@code .quantbridge-run-...}), and its files are renamed into {@code --out} once the
 * run has returned, with {@value #REPORT} (the result's report) among them. A run that fails (a bad evaluation
 * sample, ONNX Runtime refusing a shape, a full disk, an interrupt) deletes that folder, so {@code --out} keeps the files of the last run that succeeded, report.json with
 * them, instead of a new model beside an old report; an output folder the run created is removed again. The result's
 * artifact paths, the report's strings, progress notes and error messages name the files where they end up. A process
 * killed outright cannot delete its folder; the folder's name records the process ({@link RunOwner}), and the next
 * run into the same output folder removes the folders of processes of this machine that have ended.
 *
 * <p>No run replaces the model it quantizes: a model kept in {@code --out} under a name the backends write
 * ({@code model.fp32.onnx}, say) is refused before the run, and any other file the run wrote over it is refused
 * before anything moves.
 */
public final class StagedOutput {
    /** The report a run writes beside its files: the result's report as JSON. */
    public static final String REPORT = "report.json";
    /** The name every staging folder starts with. */
    public static final String PREFIX = ".quantbridge-run-";
    /** The staging folders of runs under way, each with whether the run created its output folder. */
    private static final Map<Path, Boolean> PENDING = new ConcurrentHashMap<>();
    /** The names the backends give their files: model.int8.onnx, model.fp32.tflite, model.int8_edgetpu.tflite, ... */
    private static final java.util.regex.Pattern WRITTEN_NAMES =
            java.util.regex.Pattern.compile("model\\.(int8|fp32|fp16|dynamic|implicit)([._].*)?");
    /** The other names of files the backends write ({@value #REPORT} is always written). */
    private static final java.util.regex.Pattern OTHER_NAMES =
            java.util.regex.Pattern.compile("calibration\\.(json|cache)|trtexec\\.txt");

    private StagedOutput() { }

    /**
     * Runs {@code body} on {@code request} with its output folder replaced by a new staging folder inside it, then
     * moves what it wrote into the output folder (created when missing) and returns its result with the paths
     * moved too. A null {@code given} progress is {@link Progress#NONE}.
     */
    public static QuantizationResult run(QuantizationRequest request, Progress given,
                                         BiFunction<QuantizationRequest, Progress, QuantizationResult> body) {
        Progress progress = given == null ? Progress.NONE : given;
        Path out = request.outputDir();
        Path model = request.model();
        if (model.getFileName() != null && WRITTEN_NAMES.matcher(model.getFileName().toString()).matches()
                && sameFile(model.toAbsolutePath().getParent(), out)) {
            throw new QuantbridgeException("--model " + model + " is in --out " + out + " under a name quantize gives "
                    + "its own files (model.<precision>.<format>), so the run would replace it: choose another --out, "
                    + "or rename the model");
        }
        boolean created = !Files.exists(out);
        InputFiles.createFolder(out, "--out");
        Path stage;
        try {
            stage = Files.createTempDirectory(out, PREFIX + RunOwner.current().tag() + "-");
        } catch (IOException e) {
            if (created) removeIfEmpty(out);
            throw new QuantbridgeException("--out " + out + ": cannot write in the folder: " + e.getMessage(), e);
        }
        PENDING.put(stage, created);
        if (!created) clearLeftovers(out, stage, progress);
        String from = stage.toString();
        String to = out.toString();
        boolean done = false;
        try {
            QuantizationResult r;
            try {
                r = body.apply(request.toBuilder().outputDir(stage).build(), new Progress() {
                    @Override public void begin(String task, long total) { progress.begin(task, total); }
                    @Override public void advance(long steps) { progress.advance(steps); }
                    @Override public void end() { progress.end(); }
                    @Override public void note(String message) { progress.note(message.replace(from, to)); }
                });
            } catch (QuantbridgeException e) {
                String m = e.getMessage();
                if (m == null || !m.contains(from)) throw e;
                QuantbridgeException moved = new QuantbridgeException(m.replace(from, to), e.getCause());
                moved.setStackTrace(e.getStackTrace());
                throw moved;
            }
            refuseReplacing(model, stage, out, r);
            List<Artifact> artifacts = new ArrayList<>();
            for (Artifact a : r.artifacts()) {
                Path p = a.path().startsWith(stage) ? out.resolve(stage.relativize(a.path())) : a.path();
                artifacts.add(new Artifact(a.kind(), p, a.bytes()));
            }
            @SuppressWarnings("unchecked")
            Map<String, Object> report = (Map<String, Object>) replaced(r.report(), from, to);
            Map<String, Object> file = new LinkedHashMap<>(report);
            file.putIfAbsent("backend", r.backend());
            AtomicFiles.writeString(stage.resolve(REPORT), Json.write(file)); // moves in with the files it describes
            List<String> written = names(stage);
            moveInto(stage, out);
            List<String> earlier = new ArrayList<>();
            for (String n : names(out)) {
                if (!written.contains(n) && (WRITTEN_NAMES.matcher(n).matches() || OTHER_NAMES.matcher(n).matches())
                        && Files.isRegularFile(out.resolve(n))) {
                    earlier.add(n);
                }
            }
            if (!earlier.isEmpty()) {
                progress.note("--out " + out + " also holds " + String.join(", ", earlier) + " from an earlier run, "
                        + "which this run did not write (report.json lists what it wrote)");
            }
            done = true;
            return new QuantizationResult(r.backend(), artifacts, r.table(), report);
        } finally {
            deleteTree(stage);
            PENDING.remove(stage);
            if (!done && created) removeIfEmpty(out);
        }
    }

    /**
     * Deletes the staging folders of runs still under way (for a process that is being stopped) and returns them.
     * Best effort, as {@link AtomicFiles#deletePending()}.
     */
    public static List<Path> deletePending() {
        List<Path> deleted = new ArrayList<>();
        for (Map.Entry<Path, Boolean> e : List.copyOf(PENDING.entrySet())) {
            Path stage = e.getKey();
            if (deleteTree(stage)) deleted.add(stage);
            if (e.getValue() && stage.getParent() != null) removeIfEmpty(stage.getParent());
            PENDING.remove(stage);
        }
        return deleted;
    }

    /**
     * Deletes the staging folders in {@code out} that runs of this machine left when their process was killed
     * (SIGKILL, the kernel's out-of-memory killer, a container stopped), each with a note, and names those it cannot
     * tell from a run still going (another process, another machine sharing the folder, an older quantbridge).
     */
    private static void clearLeftovers(Path out, Path own, Progress progress) {
        List<String> going = new ArrayList<>();
        for (String name : names(out)) {
            Path dir = out.resolve(name);
            if (!name.startsWith(PREFIX) || dir.equals(own) || PENDING.containsKey(dir) || !Files.isDirectory(dir)) {
                continue;
            }
            java.util.Optional<RunOwner> owner = RunOwner.parse(name.substring(PREFIX.length()));
            if (owner.isPresent() && owner.get().endedHere()) {
                if (deleteTree(dir) && !Files.exists(dir)) {
                    progress.note("--out " + out + ": removed " + name + ", the staging folder of a run (process "
                            + owner.get().pid() + ", started " + owner.get().started() + ") that was killed before it"
                            + " finished");
                }
            } else {
                going.add(name + owner.map(o -> " (process " + o.pid() + (o.isThisMachine() ? "" : " on another machine")
                        + ")").orElse(""));
            }
        }
        if (!going.isEmpty()) {
            progress.note("--out " + out + " also holds " + String.join(", ", going) + ": the staging folder of "
                    + (going.size() == 1 ? "a run" : "runs") + " still going, or killed; the run that finishes last "
                    + "leaves its files in --out; delete such a folder when no run is writing there");
        }
    }

    /** Deletes {@code dir} when it is an empty folder; leaves anything else alone. */
    private static void removeIfEmpty(Path dir) {
        try (Stream<Path> entries = Files.list(dir)) {
            if (entries.findAny().isEmpty()) Files.delete(dir);
        } catch (IOException ignored) {
            // not a folder, gone, or no longer empty: nothing of this run's to remove
        }
    }

    /** Refuses a run whose files would replace {@code model} in {@code out}, naming the file that would. */
    private static void refuseReplacing(Path model, Path stage, Path out, QuantizationResult r) {
        for (String name : names(stage)) {
            Path f = stage.resolve(name);
            if (!sameFile(out.resolve(name), model)) continue;
            String kind = r.artifacts().stream().filter(a -> a.path().equals(f)).map(a -> " (" + a.kind() + ")")
                    .findFirst().orElse("");
            throw new QuantbridgeException("--out " + out + ": the run wrote " + f.getFileName() + kind + ", which "
                    + "would replace --model " + model + "; choose another --out, or rename the model (nothing in "
                    + out + " was changed)");
        }
    }

    /** The names in {@code dir}, sorted. */
    private static List<String> names(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        } catch (IOException e) {
            throw new QuantbridgeException("cannot list " + dir + ": " + e.getMessage(), e);
        }
    }

    private static boolean sameFile(Path a, Path b) {
        try {
            return a != null && b != null && Files.exists(a) && Files.exists(b) && Files.isSameFile(a, b);
        } catch (IOException e) {
            return false;
        }
    }

    /** Renames every file under {@code from} to the same place under {@code to}, replacing what is there. */
    private static void moveInto(Path from, Path to) {
        for (String name : names(from)) {
            Path src = from.resolve(name);
            Path dst = to.resolve(name);
            try {
                if (Files.isDirectory(src) && Files.isDirectory(dst)) {
                    moveInto(src, dst);
                    continue;
                }
                AtomicFiles.keepPermissions(src, dst);
                try {
                    Files.move(src, dst, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                } catch (AtomicMoveNotSupportedException e) {
                    Files.move(src, dst, StandardCopyOption.REPLACE_EXISTING);
                }
            } catch (IOException e) {
                throw new QuantbridgeException("cannot move " + src.getFileName() + " into " + to + ": "
                        + e.getMessage(), e);
            }
        }
    }

    /** {@code value} with {@code from} replaced by {@code to} in every string, maps and lists copied. */
    private static Object replaced(Object value, String from, String to) {
        if (value instanceof String s) return s.replace(from, to);
        if (value instanceof Map<?, ?> m) {
            Map<Object, Object> copy = new LinkedHashMap<>();
            m.forEach((k, v) -> copy.put(k, replaced(v, from, to)));
            return copy;
        }
        if (value instanceof List<?> l) {
            List<Object> copy = new ArrayList<>(l.size());
            for (Object o : l) copy.add(replaced(o, from, to));
            return copy;
        }
        return value;
    }

    /** Deletes {@code dir} and everything in it; true when it existed. Best effort. */
    private static boolean deleteTree(Path dir) {
        if (!Files.exists(dir)) return false;
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException ignored) {
                    // left for the user; the run's own outcome is what matters
                }
            }
        } catch (IOException ignored) {
            // as above
        }
        return true;
    }
}
