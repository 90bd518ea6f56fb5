package io.quantbridge.data;

import io.quantbridge.tensor.FloatTensor;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * One discovered calibration or evaluation sample, not yet loaded: an id (its path relative to the data root, with
 * {@code /} separators; the file name for a single-file source), what kind of sample it is, and its files; or one
 * sample of tensors a program holds itself ({@link Kind#TENSORS}, made by {@link SampleSource#ofTensors}).
 * Load it with {@link SampleSource#load}.
 *
 * @param id     the relative path, unique within one {@link SampleSource}; samples are sorted by it
 * @param kind   image file, single {@code .npy} file, {@code .npz} file, or folder of {@code .npy} files (one per
 *               model input)
 * @param files  the image or {@code .npy} file; for {@link Kind#NPY_FOLDER} the folder's {@code .npy} files,
 *               sorted by name
 * @param path   where the sample is: the file, or the sample folder for {@link Kind#NPY_FOLDER}; null for
 *               {@link Kind#TENSORS}
 * @param label  how error messages name the data set, e.g. {@code "calibration data"}
 * @param index  for a sample taken from a file that stacks samples along its first dimension ({@link Kind#NPY} or
 *               {@link Kind#NPZ}), its position there; -1 for a sample that is the whole file or folder; for
 *               {@link Kind#TENSORS}, its position in the program's list
 * @param tensors for {@link Kind#TENSORS}, what gives the sample's tensors (a tensor per model input name); null
 *               otherwise
 */
public record SampleRef(String id, Kind kind, List<Path> files, Path path, String label, long index,
                        Supplier<Map<String, FloatTensor>> tensors) {
    /** What a sample is made of. */
    public enum Kind {
        /** An image file (PNG, JPEG, BMP, GIF or TIFF) feeding the model's single image input. */
        IMAGE,
        /** One {@code .npy} file feeding the model's single input. */
        NPY,
        /** A folder holding {@code <input name>.npy} for each model input. */
        NPY_FOLDER,
        /** One {@code .npz} file holding an array per model input ({@code numpy.savez(f, <input name>=...)}). */
        NPZ,
        /** Tensors a program holds, given in a list rather than in files (a tensor per model input name). */
        TENSORS
    }

    public SampleRef {
        files = List.copyOf(files);
        if (index < -1) throw new IllegalArgumentException("sample index " + index);
        if ((kind == Kind.TENSORS) != (tensors != null)) {
            throw new IllegalArgumentException("a " + kind + " sample " + (tensors == null ? "needs" : "takes no")
                    + " tensors");
        }
    }

    /** A sample that is one slice of a file ({@link #stacked()}), or the whole file or folder ({@code index} -1). */
    public SampleRef(String id, Kind kind, List<Path> files, Path path, String label, long index) {
        this(id, kind, files, path, label, index, null);
    }

    /** A sample that is a whole file or folder. */
    public SampleRef(String id, Kind kind, List<Path> files, Path path, String label) {
        this(id, kind, files, path, label, -1);
    }

    /** Whether the sample is one slice of a file that stacks samples along its first dimension. */
    public boolean stacked() {
        return index >= 0 && kind != Kind.TENSORS;
    }

    /**
     * The sample's file, its file and index for a stacked one ({@code calib.npy[17]}), or its id for tensors
     * ({@code samples[17]}), for messages.
     */
    public String where() {
        if (kind == Kind.TENSORS) return id;
        return stacked() ? path + "[" + index + "]" : path.toString();
    }

    @Override
    public String toString() {
        return id;
    }
}
