package io.quantbridge.data;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.tensor.TensorInfo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The samples of a calibration or evaluation data set, discovered from a path, and the loading of one sample into
 * model inputs.
 *
 * <p>Discovery ({@link #discover(Path, String)}) accepts:
 * <ul>
 *   <li>a single file (an image: {@code .png}, {@code .jpg}, {@code .jpeg}, {@code .bmp}, {@code .gif} (its first
 *       frame), {@code .tif}, {@code .tiff}; or {@code .npy} or {@code .npz}): one sample, id = its
 *       name; or, when the model's inputs are given and the file's arrays fit them only one slice along the first
 *       dimension at a time, one sample per slice, ids {@code name[i]} ({@link #discover(Path, String, List)});</li>
 *   <li>a folder of image, {@code .npy} and/or {@code .npz} files: one sample per file (a {@code .npz} holds one
 *       array per model input, named after it, as {@code numpy.savez(f, input_ids=..., attention_mask=...)} writes
 *       it); image and {@code .npz} files in sub-folders are samples too, at any depth, so that a data set sorted
 *       into class folders ({@code val/n01440764/*.JPEG}) is read whole, ids {@code n01440764/ILSVRC2012_..JPEG};</li>
 *   <li>a list file ({@code .txt}): one sample path per line, relative to the list's folder or absolute (images,
 *       {@code .npy} and {@code .npz} files, folders of {@code .npy} files), {@code #} comments and blank lines
 *       skipped; ids are the lines as written ({@link #fromList});</li>
 *   <li>a folder of sub-folders, one per sample, each holding one {@code .npy} file per model input named
 *       {@code <input name>.npy} (or any single {@code .npy} for a single-input model). A folder that directly holds
 *       {@code .npy} files is such a sample wherever it lies below the data folder, and is not searched further.</li>
 * </ul>
 * Names starting with {@code .} are ignored, as are other file types and folders without samples;
 * images in a format Java cannot decode ({@code .webp}, {@code .heic}, {@code .avif}, ...) are refused, not skipped, so
 * that no part of a data set goes missing unnoticed.
 * Discovery reads no data, only the headers of a single {@code .npy} or {@code .npz} file given by itself.
 * Samples are sorted by id (plain string order of the path relative to the data folder, with {@code /} separators,
 * so {@code img10} comes before {@code img2}). A folder mixing sample files and sample sub-folders is refused as
 * ambiguous. Extensions are matched without regard to case.
 *
 * <p>{@link #load} reads a sample when it is needed; a stacked sample reads only its own slice of the file.
 */
public final class SampleSource {
    /** Label for the calibration data set in error messages. */
    public static final String CALIBRATION = "calibration data";
    /** Label for the evaluation data set in error messages. */
    public static final String EVALUATION = "evaluation data";

    private final Path root;
    private final String label;
    private final List<SampleRef> samples;

    private SampleSource(Path root, String label, List<SampleRef> samples) {
        this.root = root;
        this.label = label;
        this.samples = List.copyOf(samples);
    }

    /** The path given to {@link #discover}. */
    public Path root() { return root; }

    /** How error messages name this data set. */
    public String label() { return label; }

    /** The samples, sorted by id; never empty. */
    public List<SampleRef> samples() { return samples; }

    public int size() { return samples.size(); }

    /**
     * How many image and {@code .npz} samples each sub-folder of the data folder holds, sub-folders below it
     * included, by the sub-folder's relative path with a trailing {@code /} ({@code ""} for the data folder itself),
     * sorted; empty when no such sample lies in a sub-folder (folders of {@code .npy} files are samples themselves
     * and are not counted). For saying where the samples of a large tree came from.
     */
    public Map<String, Integer> subFolders() {
        Map<String, Integer> counts = new java.util.TreeMap<>();
        boolean nested = false;
        for (SampleRef s : samples) {
            if (s.kind() == SampleRef.Kind.NPY_FOLDER || s.kind() == SampleRef.Kind.TENSORS || s.stacked()) continue;
            int slash = s.id().lastIndexOf('/');
            nested |= slash >= 0;
            counts.merge(slash < 0 ? "" : s.id().substring(0, slash + 1), 1, Integer::sum);
        }
        return nested ? counts : Map.of();
    }

    /** Discovers calibration data at {@code path}. */
    public static SampleSource discover(Path path) {
        return discover(path, CALIBRATION);
    }

    /**
     * Discovers the samples at {@code path}; {@code label} (e.g. {@link #CALIBRATION}) starts error messages. A
     * single data file is one sample.
     *
     * @throws QuantbridgeException if the path does not exist, is a file of another type, or holds no samples
     */
    public static SampleSource discover(Path path, String label) {
        return discover(path, label, null);
    }

    /**
     * Discovers the samples at {@code path} for a model with these inputs: as {@link #discover(Path, String)}, except
     * that a single {@code .npy} or {@code .npz} file given by itself whose arrays fit the inputs one slice along
     * their first dimension at a time may hold that many samples stacked along it
     * ({@code numpy.save("calib.npy", numpy.stack(samples))}: {@code [64, 3, 224, 224]} for an input
     * {@code [1, 3, 224, 224]} or {@code [-1, 3, 224, 224]} is 64 samples, ids {@code calib.npy[07]}; see
     * {@link #stackSize}). Only the headers are read.
     *
     * @param modelInputs the model's inputs; null to treat every file as one sample
     */
    public static SampleSource discover(Path path, String label, List<TensorInfo> modelInputs) {
        return discover(path, label, modelInputs, null);
    }

    /**
     * As {@link #discover(Path, String, List)}, leaving out {@code excluded} where it lies inside the folder
     * {@code path}: the evaluation folder kept inside the calibration folder ({@code --calib data --eval data/eval})
     * is not calibration data.
     *
     * @param excluded a file or sub-folder of {@code path} that holds no samples of this set; null for none
     */
    public static SampleSource discover(Path path, String label, List<TensorInfo> modelInputs, Path excluded) {
        if (!Files.exists(path)) {
            throw new QuantbridgeException(label + " " + path + " does not exist"
                    + io.quantbridge.util.InputFiles.encodingHint(path.toString()));
        }
        if (!Files.isDirectory(path)) {
            if (isList(path)) return fromList(path, label);
            SampleRef.Kind kind = kindOf(path);
            if (kind == null) {
                String format = undecodableImage(path);
                throw new QuantbridgeException(label + " " + path + (format != null
                        ? ": a " + format + " image, which quantbridge cannot decode" + CONVERT
                        : ": not an image (" + IMAGE_TYPES + "), .npy or .npz file"));
            }
            return new SampleSource(path, label, fileSamples(path, kind, label, modelInputs));
        }
        FolderWalk walk = new FolderWalk(label, excluded == null ? null : realPath(excluded));
        walk.folder(path, "", 0);
        return checked(path, label, "holds", walk.files, walk.folders, walk.undecodable);
    }

    /**
     * The samples found in a data folder or list ({@code verb}: "holds" or "lists"), refusing undecodable images,
     * sample files beside sample folders, images beside arrays, and none at all.
     */
    private static SampleSource checked(Path path, String label, String verb, List<SampleRef> files,
                                        List<SampleRef> folders, List<String> undecodable) {
        if (!undecodable.isEmpty()) {
            throw new QuantbridgeException(label + " " + path + ": " + verb + " " + undecodable.size() + " image"
                    + (undecodable.size() == 1 ? "" : "s") + " in a format quantbridge cannot decode (e.g. "
                    + undecodable.get(0) + ", a " + undecodableImage(Path.of(undecodable.get(0))) + " image)"
                    + CONVERT + "; left out, " + (undecodable.size() == 1 ? "it" : "they")
                    + " would go missing from the data set unnoticed");
        }
        if (!files.isEmpty() && !folders.isEmpty()) {
            throw new QuantbridgeException(label + " " + path + ": " + verb + " both sample files (" + files.size()
                    + ", e.g. " + files.get(0).id() + ") and sample folders of .npy files (" + folders.size()
                    + ", e.g. " + folders.get(0).id() + "); put them in separate folders");
        }
        List<SampleRef> images = files.stream().filter(f -> f.kind() == SampleRef.Kind.IMAGE).toList();
        List<SampleRef> arrays = files.stream().filter(f -> f.kind() != SampleRef.Kind.IMAGE).toList();
        if (!images.isEmpty() && !arrays.isEmpty()) {
            // images are scaled, normalized and resized, arrays are fed as they are: one set on two scales
            throw new QuantbridgeException(label + " " + path + ": " + verb + " both images (" + images.size() + ", e.g. "
                    + images.get(0).id() + ") and arrays (" + arrays.size() + ", e.g. " + arrays.get(0).id()
                    + "); images are preprocessed (--size, --scale, --mean, --std) and arrays are fed as they are,"
                    + " so put them in separate folders");
        }
        List<SampleRef> samples = new ArrayList<>(files.isEmpty() ? folders : files);
        if (samples.isEmpty()) {
            throw new QuantbridgeException(label + " " + path + (verb.equals("lists") ? ": lists no samples"
                    : ": no images (" + IMAGE_TYPES + "), .npy or .npz files found"));
        }
        samples.sort(Comparator.comparing(SampleRef::id));
        return new SampleSource(path, label, samples);
    }

    /** Whether {@code file} is a list of sample files ({@code .txt}). */
    private static boolean isList(Path file) {
        return file.getFileName() != null
                && file.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".txt");
    }

    /**
     * The samples a list file names, one path per line, relative to the list's folder or absolute (a curated subset
     * of a large data set, as TensorRT's samples take their calibration images): each line is an image, {@code .npy}
     * or {@code .npz} file (one sample), or a folder of {@code .npy} files (one sample of them); blank lines and
     * lines starting with {@code #} are skipped. The id of a sample is its line, with {@code /} separators. A path
     * that does not exist, or a file listed twice (by any path), is refused, naming the line.
     */
    private static SampleSource fromList(Path list, String label) {
        List<String> lines;
        try {
            lines = Files.readAllLines(list, java.nio.charset.StandardCharsets.UTF_8);
        } catch (java.nio.charset.MalformedInputException e) {
            throw new QuantbridgeException(label + " " + list + ": not a UTF-8 text file of sample paths", e);
        } catch (IOException e) {
            throw new QuantbridgeException(label + " " + list + ": cannot read the list: " + e.getMessage(), e);
        }
        Path base = list.toAbsolutePath().getParent();
        List<SampleRef> files = new ArrayList<>();
        List<SampleRef> folders = new ArrayList<>();
        List<String> undecodable = new ArrayList<>();
        Map<Path, Integer> listed = new java.util.HashMap<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (i == 0 && line.startsWith("\uFEFF")) line = line.substring(1).strip();
            if (line.isEmpty() || line.startsWith("#")) continue;
            String where = label + " " + list + " line " + (i + 1) + ": " + line;
            Path p;
            try {
                p = base.resolve(line);
            } catch (java.nio.file.InvalidPathException e) {
                throw new QuantbridgeException(where + " is not a path: " + e.getReason(), e);
            }
            if (!Files.exists(p)) {
                boolean first = files.isEmpty() && folders.isEmpty() && undecodable.isEmpty();
                throw new QuantbridgeException(where + " does not exist" + (first ? " (a .txt file is read as a list"
                        + " of sample paths, one a line, relative to its folder)" : ""));
            }
            Integer before = listed.putIfAbsent(realPath(p), i + 1);
            if (before != null) {
                throw new QuantbridgeException(where + " is listed twice (line " + before + " names the same file)");
            }
            String id = line.replace('\\', '/');
            if (Files.isDirectory(p)) {
                List<Path> npys = list(p, label).stream()
                        .filter(f -> Files.isRegularFile(f) && kindOf(f) == SampleRef.Kind.NPY).toList();
                if (npys.isEmpty()) {
                    throw new QuantbridgeException(where + " is a folder without .npy files; list the samples"
                            + " themselves");
                }
                folders.add(new SampleRef(id, SampleRef.Kind.NPY_FOLDER, npys, p, label));
            } else if (undecodableImage(p) != null) {
                undecodable.add(id);
            } else {
                SampleRef.Kind kind = kindOf(p);
                if (kind == null) {
                    throw new QuantbridgeException(where + " is not an image (" + IMAGE_TYPES + "), .npy or .npz"
                            + " file");
                }
                files.add(new SampleRef(id, kind, List.of(p), p, label));
            }
        }
        return checked(list, label, "lists", files, folders, undecodable);
    }

    /** How deep sub-folders are searched: deeper than any class-folder layout, short of a runaway tree. */
    private static final int MAX_DEPTH = 16;

    /**
     * The walk of a data folder: image and {@code .npz} files at any depth are one sample each, a folder that
     * directly holds {@code .npy} files is one sample of them (one per model input) and is not searched further,
     * {@code .npy} files directly in the data folder are one sample each. A folder reached twice (a link back up
     * the tree) is walked once.
     */
    private static final class FolderWalk {
        final String label;
        final Path excluded;
        final List<SampleRef> files = new ArrayList<>();
        final List<SampleRef> folders = new ArrayList<>();
        final List<String> undecodable = new ArrayList<>();
        private final java.util.Set<Path> seen = new java.util.HashSet<>();

        FolderWalk(String label, Path excluded) {
            this.label = label;
            this.excluded = excluded;
        }

        void folder(Path dir, String prefix, int depth) {
            if (!seen.add(realPath(dir))) return;
            if (depth > MAX_DEPTH) {
                throw new QuantbridgeException(label + " " + dir + ": folders nested more than " + MAX_DEPTH
                        + " deep; give a folder nearer the samples");
            }
            List<Path> entries = list(dir, label);
            if (depth > 0) {
                List<Path> npys = entries.stream()
                        .filter(f -> Files.isRegularFile(f) && kindOf(f) == SampleRef.Kind.NPY && !isExcluded(f))
                        .toList();
                if (!npys.isEmpty()) {
                    folders.add(new SampleRef(prefix.substring(0, prefix.length() - 1), SampleRef.Kind.NPY_FOLDER,
                            npys, dir, label));
                    return;
                }
            }
            for (Path entry : entries) {
                if (isExcluded(entry)) continue;
                String id = prefix + entry.getFileName();
                if (Files.isDirectory(entry)) {
                    folder(entry, id + "/", depth + 1);
                } else if (Files.isRegularFile(entry)) {
                    SampleRef.Kind kind = kindOf(entry);
                    if (undecodableImage(entry) != null) {
                        undecodable.add(id);
                    } else if (kind != null) {
                        files.add(new SampleRef(id, kind, List.of(entry), entry, label));
                    }
                }
            }
        }

        private boolean isExcluded(Path p) {
            return excluded != null && realPath(p).equals(excluded);
        }
    }

    /** {@code p} with links resolved, or its absolute normal form where that fails. */
    private static Path realPath(Path p) {
        try {
            return p.toRealPath();
        } catch (IOException e) {
            return p.toAbsolutePath().normalize();
        }
    }

    /** Non-hidden entries of a folder, sorted by name. */
    private static List<Path> list(Path dir, String label) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> !p.getFileName().toString().startsWith("."))
                    .sorted(Comparator.comparing(p -> p.getFileName().toString()))
                    .toList();
        } catch (IOException e) {
            throw new QuantbridgeException(label + " " + dir + ": cannot list the folder: " + e.getMessage(), e);
        }
    }

    /**
     * The samples of a data file given by itself: one, or N stacked along the first dimension of its arrays when
     * {@link #stackSize} says so. Reads only headers.
     */
    private static List<SampleRef> fileSamples(Path file, SampleRef.Kind kind, String label,
                                               List<TensorInfo> modelInputs) {
        String name = file.getFileName().toString();
        long n = -1;
        boolean arrays = kind == SampleRef.Kind.NPY || kind == SampleRef.Kind.NPZ;
        if (modelInputs != null && !modelInputs.isEmpty() && arrays) {
            try {
                n = kind == SampleRef.Kind.NPY ? stackSize(Map.of("", NpyFile.shape(file)), modelInputs)
                        : stackSize(NpzFile.shapes(file), modelInputs);
            } catch (QuantbridgeException e) {
                throw new QuantbridgeException(label + " " + e.getMessage(), e);
            }
        }
        if (n < 0) return List.of(new SampleRef(name, kind, List.of(file), file, label));
        if (n > Integer.MAX_VALUE - 8) {
            throw new QuantbridgeException(label + " " + file + ": " + n + " stacked samples are too many");
        }
        if (kind == SampleRef.Kind.NPZ) {
            // each stacked sample reads only up to its own slice, so the archive's checksums are checked here, once
            try {
                NpzFile.verify(file);
            } catch (QuantbridgeException e) {
                throw new QuantbridgeException(label + " " + e.getMessage(), e);
            }
        }
        int digits = Long.toString(Math.max(n - 1, 0)).length();
        List<SampleRef> out = new ArrayList<>((int) n);
        for (long i = 0; i < n; i++) {
            String id = name + "[" + "0".repeat(digits - Long.toString(i).length()) + i + "]";
            out.add(new SampleRef(id, kind, List.of(file), file, label, i));
        }
        return out;
    }

    /**
     * How many samples the arrays (by name; a {@code .npy} file's one array under "") stack for these inputs, or -1
     * for one sample. They stack when every slice {@code a[i]} along their common first dimension N fits its input
     * and either the arrays do not fit whole, or they do only as a batch of N for inputs whose first dimension is
     * dynamic: samples are fed with batch 1, so {@code [64, 3, 224, 224]} for an input {@code [-1, 3, 224, 224]} is
     * 64 samples rather than one batch of 64. Arrays that fit neither way are one sample, which loading then refuses
     * with its shape.
     */
    private static long stackSize(Map<String, long[]> arrays, List<TensorInfo> inputs) {
        boolean wholeFits = true;
        boolean slicesFit = true;
        boolean dynamicBatch = true;
        long n = -1;
        for (TensorInfo input : inputs) {
            String name = arrays.size() == 1 && inputs.size() == 1 ? arrays.keySet().iterator().next()
                    : arrays.containsKey(input.name()) ? input.name() : safeName(input);
            long[] shape = arrays.get(name);
            if (shape == null) return -1;
            wholeFits &= fitsInput(shape, input);
            dynamicBatch &= !input.rankKnown() || (input.shape().length > 0 && input.shape()[0] < 0);
            if (shape.length == 0 || (n >= 0 && shape[0] != n)) {
                slicesFit = false;
            } else {
                n = shape[0];
                slicesFit &= fitsInput(Arrays.copyOfRange(shape, 1, shape.length), input);
            }
        }
        if (!slicesFit) return -1;
        if (!wholeFits) return n;
        return dynamicBatch && n > 1 ? n : -1;
    }

    private static String safeName(TensorInfo input) {
        return input.name().replaceAll("[/\\\\:*?\"<>|]", "_");
    }

    /**
     * Whether images reach {@code input} as whole pixel values: an integer input (a uint8 image input, say, whose
     * model normalizes in its graph) with a preprocessing that keeps pixels integers (scale 1, std 1, whole means).
     * The bilinear resize is computed in float and gives fractions; image libraries resizing uint8 images round them
     * (cv2.resize, PIL), and an integer input takes nothing else.
     */
    static boolean takesPixels(TensorInfo input, Preprocessing p) {
        if (!input.elementType().matches("u?int(8|16|32|64)")) return false;
        if (p.scale() != 1) return false;
        for (double s : p.std()) if (s != 1) return false;
        for (double m : p.mean()) if (m != Math.rint(m)) return false;
        return true;
    }

    /** {@code t} (a fresh image) with its values rounded to the nearest integer (half to even), in place. */
    private static FloatTensor roundedPixels(FloatTensor t) {
        float[] v = t.data();
        for (int i = 0; i < v.length; i++) v[i] = (float) Math.rint(v[i]);
        return t;
    }

    /** Whether {@link #matchShape} takes an array of this shape for {@code input}. */
    private static boolean fitsInput(long[] act, TensorInfo input) {
        if (!input.rankKnown()) return true;
        long[] exp = input.shape();
        return fits(exp, 0, act) || (act.length == exp.length - 1 && exp.length >= 2 && (exp[0] == 1 || exp[0] < 0)
                && fits(exp, 1, act));
    }

    /** The image files ImageIO decodes without plug-ins, by extension. */
    private static final List<String> IMAGES = List.of(".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff");
    private static final String IMAGE_TYPES = String.join(", ", IMAGES);
    /** Image formats ImageIO has no reader for, by extension, with their names. */
    private static final Map<String, String> UNDECODABLE = Map.of(".webp", "WebP", ".heic", "HEIF", ".heif", "HEIF",
            ".avif", "AVIF", ".jxl", "JPEG XL", ".jp2", "JPEG 2000", ".j2k", "JPEG 2000");
    private static final String CONVERT = ": convert to PNG or JPEG (" + IMAGE_TYPES + " are read)";

    private static SampleRef.Kind kindOf(Path file) {
        String n = file.getFileName().toString().toLowerCase(Locale.ROOT);
        if (n.endsWith(".npy")) return SampleRef.Kind.NPY;
        if (n.endsWith(".npz")) return SampleRef.Kind.NPZ;
        for (String e : IMAGES) if (n.endsWith(e)) return SampleRef.Kind.IMAGE;
        return null;
    }

    /** The format's name when {@code file} is named as an image ImageIO cannot decode, else null. */
    private static String undecodableImage(Path file) {
        String n = file.getFileName().toString().toLowerCase(Locale.ROOT);
        int dot = n.lastIndexOf('.');
        return dot < 0 ? null : UNDECODABLE.get(n.substring(dot));
    }

    /**
     * Loads one sample as model inputs, keyed by input name in model order.
     *
     * <ul>
     *   <li>An image needs a model with exactly one input, of rank 4 with 3 channels where the preprocessing layout
     *       puts them ({@code [N,3,H,W]} for NCHW, {@code [N,H,W,3]} for NHWC; N and the channel may be dynamic).
     *       It is produced with batch 1; batching is the caller's business. When the preprocessing has no size
     *       (0x0) the model's height and width are used (see {@link #imagePreprocessing}).</li>
     *   <li>A {@code .npy} file must match the model input's shape: same rank, equal dimensions, a dynamic model
     *       dimension (-1) matching anything; an array lacking only the leading batch dimension of an input whose
     *       batch is 1 or dynamic (e.g. {@code [3,224,224]} for {@code [1,3,224,224]}) gets a batch of 1. NaN or
     *       infinite values are refused, naming the first bad element.</li>
     *   <li>A sample folder must hold {@code <input name>.npy} for each model input; characters that cannot appear in
     *       file names ({@code / \ : * ? " < > |}) may be replaced by {@code _}. A single-input model accepts the
     *       folder's only {@code .npy} whatever its name. Other {@code .npy} files are ignored.</li>
     *   <li>A {@code .npz} file feeds inputs by array name as a sample folder does by file name (its only array for a
     *       single-input model); other arrays (labels, say) are ignored. Each array is shaped as a {@code .npy}
     *       is.</li>
     *   <li>A stacked sample ({@link #discover(Path, String, List)}) is {@code a[index]} of each array, then shaped
     *       as above.</li>
     *   <li>Tensors a program holds ({@link #ofTensors}) feed inputs by name as an {@code .npz} file's arrays
     *       do.</li>
     * </ul>
     * Every error is a {@link QuantbridgeException} naming the file (and the input where there is one).
     */
    public static Map<String, FloatTensor> load(SampleRef sample, List<TensorInfo> modelInputs, Preprocessing pre) {
        String label = sample.label() == null ? CALIBRATION : sample.label();
        if (modelInputs == null || modelInputs.isEmpty()) {
            throw new QuantbridgeException(label + " " + sample.where() + ": the model has no inputs to feed");
        }
        Map<String, FloatTensor> out = new LinkedHashMap<>();
        switch (sample.kind()) {
            case IMAGE -> {
                Path file = sample.files().get(0);
                String where = label + " " + file;
                TensorInfo input = imageInput(modelInputs, pre, where);
                Preprocessing p = imagePreprocessing(input, forImageInput(input, pre));
                FloatTensor image;
                try {
                    image = ImageLoader.load(file, p);
                } catch (QuantbridgeException e) {
                    throw new QuantbridgeException(label + " " + e.getMessage(), e);
                }
                out.put(input.name(), takesPixels(input, p) ? roundedPixels(image) : image);
            }
            case NPY -> {
                Path file = sample.files().get(0);
                if (modelInputs.size() != 1) {
                    throw new QuantbridgeException(label + " " + file + ": a single .npy file can feed only a model"
                            + " with one input, but the model has " + modelInputs.size() + " (" + names(modelInputs)
                            + "); give one sub-folder per sample holding <input name>.npy for each input, or one"
                            + " .npz file per sample");
                }
                TensorInfo input = modelInputs.get(0);
                out.put(input.name(),
                        sample.stacked() ? loadStacked(sample, input, label) : loadNpy(file, input, label));
            }
            case NPZ -> {
                Map<String, FloatTensor> arrays;
                try {
                    arrays = sample.stacked() ? NpzFile.readSample(sample.path(), sample.index())
                            : NpzFile.read(sample.path());
                } catch (QuantbridgeException e) {
                    throw new QuantbridgeException(label + " " + e.getMessage(), e);
                }
                feedArrays(arrays, modelInputs, label + " " + sample.where(), "array", out);
            }
            case TENSORS -> feedArrays(tensorsOf(sample, label), modelInputs, label + " " + sample.where(), "tensor",
                    out);
            case NPY_FOLDER -> {
                for (TensorInfo input : modelInputs) {
                    Path file = npyFor(sample, input, modelInputs.size() == 1, label);
                    out.put(input.name(), loadNpy(file, input, label));
                }
            }
            default -> throw new IllegalStateException(sample.kind().name());
        }
        return out;
    }

    /**
     * Samples a program holds as tensors rather than files: sample {@code i} is {@code samples.get(i)}, a tensor per
     * model input name, fed as an {@code .npz} file's arrays are ({@link #load}). Their ids are {@code samples[i]}
     * with {@code i} zero-padded to the width of the last index, so that id order is list order.
     *
     * <p>The list is not copied: it may make each sample when asked (an {@link java.util.AbstractList} reading a
     * database, say). Its {@code get} is then called from several threads at once, more than once for the same index
     * (calibration takes two passes and evaluation a third), and must give the same tensors every time. The tensors
     * are read, never changed.
     *
     * @param label how messages name the set ({@link #CALIBRATION} or {@link #EVALUATION})
     * @throws QuantbridgeException when the list is empty
     */
    public static List<SampleRef> ofTensors(List<Map<String, FloatTensor>> samples, String label) {
        java.util.Objects.requireNonNull(samples, "samples");
        int n = samples.size();
        if (n == 0) throw new QuantbridgeException(label + ": the list of samples is empty");
        int digits = Integer.toString(Math.max(n - 1, 0)).length();
        List<SampleRef> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            int index = i;
            String id = "samples[" + "0".repeat(digits - Integer.toString(i).length()) + i + "]";
            out.add(new SampleRef(id, SampleRef.Kind.TENSORS, List.of(), null, label, i, () -> samples.get(index)));
        }
        return out;
    }

    /** The tensors of a {@link SampleRef.Kind#TENSORS} sample, or an error naming it when there are none. */
    private static Map<String, FloatTensor> tensorsOf(SampleRef sample, String label) {
        Map<String, FloatTensor> m;
        try {
            m = sample.tensors().get();
        } catch (IndexOutOfBoundsException e) {
            throw new QuantbridgeException(label + " " + sample.id() + ": the list of samples no longer holds it"
                    + " (it changed while quantbridge read it)", e);
        }
        if (m == null || m.isEmpty()) {
            throw new QuantbridgeException(label + " " + sample.id() + ": the sample is " + (m == null ? "null"
                    : "an empty map") + "; give a tensor per model input name");
        }
        return m;
    }

    /**
     * Feeds each model input from {@code arrays} (by name, as {@link #arrayFor} finds them): checked for NaN and
     * infinity, shaped by {@link #matchShape}; {@code what} is "array" or "tensor", for messages.
     */
    private static void feedArrays(Map<String, FloatTensor> arrays, List<TensorInfo> modelInputs, String where,
                                   String what, Map<String, FloatTensor> out) {
        for (TensorInfo input : modelInputs) {
            String name = arrayFor(arrays, input, modelInputs.size() == 1, where, what);
            String at = where + " " + what + " '" + name + "'";
            FloatTensor t = arrays.get(name);
            if (t == null) throw new QuantbridgeException(at + ": the " + what + " is null");
            checkFinite(t, at);
            out.put(input.name(), matchShape(t, input, at));
        }
    }

    /**
     * The preprocessing for images fed to {@code input}: the given size when set (it must then agree with a fixed
     * model height and width), otherwise the model's height and width.
     *
     * @throws QuantbridgeException naming {@code --size} when neither gives a size, or when they disagree
     */
    public static Preprocessing imagePreprocessing(TensorInfo input, Preprocessing pre) {
        long[] s = imageShape(input);
        boolean nchw = pre.layout() == Layout.NCHW;
        long h = s[nchw ? 2 : 1];
        long w = s[nchw ? 3 : 2];
        if (pre.resize() == Preprocessing.Resize.FIT) {
            if (h > 0 || w > 0) {
                throw new QuantbridgeException("--resize fit feeds each image at its own size, but model input '"
                        + input.name() + "' " + input.shapeText() + " takes " + (w > 0 ? w : "any") + "x"
                        + (h > 0 ? h : "any") + " images; use --resize crop, pad or stretch");
            }
            if (pre.width() <= 0 || pre.height() <= 0) {
                throw new QuantbridgeException("--resize fit: give the size images are fitted within with --size"
                        + " WIDTHxHEIGHT (960x960 for PaddleOCR's detector)");
            }
            return pre;
        }
        pre = widened(w, pre);
        if (pre.width() > 0 && pre.height() > 0) {
            if ((h > 0 && h != pre.height()) || (w > 0 && w != pre.width())) {
                throw new QuantbridgeException("--size " + pre.width() + "x" + pre.height() + " does not match model"
                        + " input '" + input.name() + "' " + input.shapeText() + ", which takes "
                        + (w > 0 ? w : "any") + "x" + (h > 0 ? h : "any") + " images");
            }
            return pre;
        }
        if (h <= 0 || w <= 0) {
            throw new QuantbridgeException("--size: model input '" + input.name() + "' " + input.shapeText()
                    + " has a dynamic height or width; give the image size with --size WIDTHxHEIGHT");
        }
        if (h > Integer.MAX_VALUE || w > Integer.MAX_VALUE) {
            throw new QuantbridgeException("--size: model input '" + input.name() + "' " + input.shapeText()
                    + " is too large for an image");
        }
        return pre.withSizeIfUnset((int) w, (int) h);
    }

    /**
     * The preprocessing that feeds images to the models {@code inputs}: {@code pre} itself unless the model has a
     * single rank-4 input, which {@link #forImageInput} then fits. Backends put this in their reports.
     */
    public static Preprocessing resolve(List<TensorInfo> inputs, Preprocessing pre) {
        if (inputs == null || inputs.size() != 1 || imageShape(inputs.get(0)).length != 4) return pre;
        Preprocessing p = forImageInput(inputs.get(0), pre);
        return widened(imageShape(inputs.get(0))[p.layout() == Layout.NCHW ? 3 : 2], p);
    }

    /**
     * With {@code --resize height}, a model whose width ({@code modelWidth}) is dynamic takes each text line at its
     * own width, as PaddleOCR's recogniser feeds it ({@link Preprocessing#widenLines()}).
     */
    private static Preprocessing widened(long modelWidth, Preprocessing pre) {
        if (pre.resize() != Preprocessing.Resize.HEIGHT || modelWidth > 0 || pre.widenLines()) return pre;
        return pre.toBuilder().widenLines(true).build();
    }

    /**
     * {@code pre} fitted to a rank-4 image input: the layout whose channel dimension the input has, when the
     * requested one does not fit and the other does ([1, 128, 128, 3] is NHWC whatever the default says), and gray
     * images for an input of one channel ([1, 1, 64, W] or [1, 28, 28, 1]), which then take one mean and one std.
     */
    public static Preprocessing forImageInput(TensorInfo input, Preprocessing pre) {
        long[] s = imageShape(input);
        if (s.length != 4) return pre;
        Layout layout = pre.layout();
        Layout other = layout == Layout.NCHW ? Layout.NHWC : Layout.NCHW;
        if (!isChannels(s[channelDim(layout)]) && isChannels(s[channelDim(other)])) layout = other;
        boolean gray = s[channelDim(layout)] == 1;
        if (layout == pre.layout() && gray == pre.gray()) return pre;
        if (gray) {
            for (String[] o : new String[][] {{"--mean", "mean"}, {"--std", "std"}}) {
                double[] v = o[1].equals("mean") ? pre.mean() : pre.std();
                if (v[0] != v[1] || v[1] != v[2]) {
                    throw new QuantbridgeException(o[0] + ": model input '" + input.name() + "' " + input.shapeText()
                            + " takes gray images (one channel), so it takes one value, not " + Arrays.toString(v));
                }
            }
        }
        return pre.toBuilder().layout(layout).gray(gray).build();
    }

    /**
     * The input's shape as images see it: an input of unknown rank takes them as [N, C, H, W] or [N, H, W, C] with
     * every dimension open (the layout as requested, the size from {@code --size}).
     */
    private static long[] imageShape(TensorInfo input) {
        return input.rankKnown() ? input.shape() : new long[] {-1, -1, -1, -1};
    }

    private static int channelDim(Layout layout) {
        return layout == Layout.NCHW ? 1 : 3;
    }

    private static boolean isChannels(long d) {
        return d == 1 || d == 3;
    }

    /** The single image-like input of the model, or an error saying why images cannot feed it. */
    private static TensorInfo imageInput(List<TensorInfo> inputs, Preprocessing pre, String where) {
        if (inputs.size() != 1) {
            throw new QuantbridgeException(where + ": an image can feed only a model with one input, but the model"
                    + " has " + inputs.size() + " (" + names(inputs) + "); give one sub-folder per sample holding"
                    + " <input name>.npy for each input, or one .npz file per sample");
        }
        TensorInfo in = inputs.get(0);
        long[] s = imageShape(in);
        Layout layout = pre.layout();
        String expected = layout == Layout.NCHW ? "[N, C, H, W]" : "[N, H, W, C]";
        String layoutName = layout.name().toLowerCase(Locale.ROOT);
        if (s.length != 4) {
            throw new QuantbridgeException(where + ": model input '" + in.name() + "' " + in.shapeText()
                    + " is not an image input (rank 4, " + expected + " for --layout " + layoutName
                    + ", C = 3 or 1); give .npy files instead");
        }
        long c = s[channelDim(forImageInput(in, pre).layout())];
        if (c != 3 && c != 1 && c != -1) {
            throw new QuantbridgeException(where + ": model input '" + in.name() + "' " + in.shapeText()
                    + " has no dimension of 3 (colour) or 1 (gray) channels where either layout puts them ([N, C, H, W]"
                    + " or [N, H, W, C]); images give 3 channels or 1, so give .npy files instead");
        }
        return in;
    }

    private static Path npyFor(SampleRef sample, TensorInfo input, boolean singleInput, String label) {
        String exact = input.name() + ".npy";
        String safe = input.name().replaceAll("[/\\\\:*?\"<>|]", "_") + ".npy";
        for (Path f : sample.files()) {
            if (f.getFileName().toString().equals(exact)) return f;
        }
        for (Path f : sample.files()) {
            if (f.getFileName().toString().equals(safe)) return f;
        }
        if (singleInput && sample.files().size() == 1) return sample.files().get(0);
        List<String> found = sample.files().stream().map(f -> f.getFileName().toString()).toList();
        throw new QuantbridgeException(label + " " + sample.path() + ": no " + safe + " for model input '"
                + input.name() + "' (found " + String.join(", ", found) + ")");
    }

    /** The array of an {@code .npz} sample that feeds {@code input}: by name, as {@link #npyFor} finds files. */
    private static String arrayFor(Map<String, FloatTensor> arrays, TensorInfo input, boolean singleInput,
                                   String where, String what) {
        String safe = safeName(input);
        if (arrays.containsKey(input.name())) return input.name();
        if (arrays.containsKey(safe)) return safe;
        if (singleInput && arrays.size() == 1) return arrays.keySet().iterator().next();
        String how = what.equals("array") ? "save them with numpy.savez(file, <input name>=array, ...)"
                : "key each sample's map by the model's input names";
        throw new QuantbridgeException(where + ": no " + what + " '" + input.name() + "' for model input '"
                + input.name() + "' (the " + what + "s are " + String.join(", ", arrays.keySet()) + "; " + how
                + ")");
    }

    /** Sample {@link SampleRef#index()} of a stacked {@code .npy} file, shaped for {@code input}. */
    private static FloatTensor loadStacked(SampleRef sample, TensorInfo input, String label) {
        FloatTensor t;
        try {
            t = NpyFile.readSample(sample.path(), sample.index());
        } catch (QuantbridgeException e) {
            throw new QuantbridgeException(label + " " + e.getMessage(), e);
        }
        String where = label + " " + sample.where();
        checkFinite(t, where);
        return matchShape(t, input, where);
    }

    private static FloatTensor loadNpy(Path file, TensorInfo input, String label) {
        FloatTensor t;
        try {
            t = NpyFile.read(file);
        } catch (QuantbridgeException e) {
            throw new QuantbridgeException(label + " " + e.getMessage(), e);
        }
        String where = label + " " + file;
        checkFinite(t, where);
        return matchShape(t, input, where);
    }

    /** {@code t} shaped for {@code input} (a batch of 1 added where it is missing), or an error. */
    static FloatTensor matchShape(FloatTensor t, TensorInfo input, String where) {
        long[] exp = input.shape();
        long[] act = t.shape();
        if (Arrays.stream(act).anyMatch(d -> d == 0)) {
            // a dynamic model dimension takes 0 too, and the runtime then fails deep inside some Reshape
            throw new QuantbridgeException(where + ": the array holds no values (shape " + Arrays.toString(act)
                    + "), so there is nothing to feed model input '" + input.name() + "' "
                    + input.shapeText());
        }
        if (!input.rankKnown() || fits(exp, 0, act)) return t;
        if (act.length == exp.length - 1 && exp.length >= 2 && (exp[0] == 1 || exp[0] < 0) && fits(exp, 1, act)) {
            long[] shape = new long[exp.length];
            shape[0] = 1;
            System.arraycopy(act, 0, shape, 1, act.length);
            return new FloatTensor(shape, t.data());
        }
        throw new QuantbridgeException(where + ": shape " + Arrays.toString(act) + " does not match model input '"
                + input.name() + "' " + input.shapeText() + (input.isDynamic() ? " (-1 = any size)" : ""));
    }

    private static boolean fits(long[] exp, int from, long[] act) {
        if (exp.length - from != act.length) return false;
        for (int i = 0; i < act.length; i++) {
            long e = exp[from + i];
            if (e >= 0 && e != act[i]) return false;
        }
        return true;
    }

    /** Refuses NaN and infinite values, naming the first one by flat element number and index. */
    static void checkFinite(FloatTensor t, String where) {
        float[] d = t.data();
        for (int i = 0; i < d.length; i++) {
            float v = d[i];
            if (!Float.isFinite(v)) {
                String what = Float.isNaN(v) ? "NaN" : (v > 0 ? "Infinity" : "-Infinity");
                throw new QuantbridgeException(where + ": " + what + " at element " + i + " (index "
                        + Arrays.toString(unravel(i, t.shape())) + ")");
            }
        }
    }

    private static long[] unravel(long flat, long[] shape) {
        long[] idx = new long[shape.length];
        for (int k = shape.length - 1; k >= 0; k--) {
            if (shape[k] > 0) {
                idx[k] = flat % shape[k];
                flat /= shape[k];
            }
        }
        return idx;
    }

    private static String names(List<TensorInfo> inputs) {
        return String.join(", ", inputs.stream().map(TensorInfo::name).toList());
    }
}
