package io.quantbridge.tensorrt;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.tensor.TensorInfo;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * One input's shapes in a TensorRT optimization profile: the smallest, the tuned-for and the largest shape the engine
 * accepts. Every dimension is positive and {@code min <= opt <= max} per dimension.
 */
public record ShapeProfile(String input, long[] min, long[] opt, long[] max) {
    public ShapeProfile {
        if (input == null || input.isEmpty()) throw new QuantbridgeException("profile: input name missing");
        if (min == null || opt == null || max == null) {
            throw new QuantbridgeException("profile for '" + input + "': min, opt and max are all required");
        }
        min = min.clone();
        opt = opt.clone();
        max = max.clone();
        if (min.length != opt.length || opt.length != max.length) {
            throw new QuantbridgeException("profile for '" + input + "': min " + dims(min) + ", opt " + dims(opt)
                    + " and max " + dims(max) + " differ in rank");
        }
        if (min.length == 0) throw new QuantbridgeException("profile for '" + input + "': empty shape");
        for (int i = 0; i < min.length; i++) {
            if (min[i] <= 0 || opt[i] <= 0 || max[i] <= 0) {
                throw new QuantbridgeException("profile for '" + input + "': dimension " + i
                        + " must be positive (min " + dims(min) + ", opt " + dims(opt) + ", max " + dims(max) + ")");
            }
            if (min[i] > opt[i] || opt[i] > max[i]) {
                throw new QuantbridgeException("profile for '" + input + "': dimension " + i + " needs min <= opt <= max"
                        + " (min " + dims(min) + ", opt " + dims(opt) + ", max " + dims(max) + ")");
            }
        }
    }

    /** A profile that accepts only {@code shape}. */
    public static ShapeProfile fixed(String input, long... shape) {
        return new ShapeProfile(input, shape, shape, shape);
    }

    /**
     * A profile that accepts every one of {@code shapes} (all of one rank): min and max are their smallest and largest
     * size per dimension, opt the median size per dimension (the lower one of an even count), so that a data set of
     * text lines from 96 to 960 pixels wide is tuned for a typical line; one shape gives {@link #fixed}.
     */
    public static ShapeProfile spanning(String input, List<long[]> shapes) {
        if (shapes.isEmpty()) throw new QuantbridgeException("profile for '" + input + "': no shapes to span");
        int rank = shapes.get(0).length;
        long[] min = new long[rank];
        long[] opt = new long[rank];
        long[] max = new long[rank];
        for (int d = 0; d < rank; d++) {
            long[] sizes = new long[shapes.size()];
            for (int i = 0; i < sizes.length; i++) {
                long[] s = shapes.get(i);
                if (s.length != rank) {
                    throw new QuantbridgeException("profile for '" + input + "': shapes " + dims(shapes.get(0))
                            + " and " + dims(s) + " differ in rank");
                }
                sizes[i] = s[d];
            }
            Arrays.sort(sizes);
            min[d] = sizes[0];
            opt[d] = sizes[(sizes.length - 1) / 2];
            max[d] = sizes[sizes.length - 1];
        }
        return new ShapeProfile(input, min, opt, max);
    }

    /**
     * Parses {@code name:1x3x320x320} (fixed) or {@code name:1x3x320x320,1x3x640x640,1x3x960x960} (min,opt,max),
     * trtexec's shape spelling. The name may itself contain colons: the last one separates it.
     */
    public static ShapeProfile parse(String spec) {
        int colon = spec == null ? -1 : spec.lastIndexOf(':');
        if (colon <= 0) throw new QuantbridgeException("profile '" + spec + "' is not name:1x3x320x320[,opt,max]");
        String name = spec.substring(0, colon);
        String[] parts = spec.substring(colon + 1).split(",", -1);
        if (parts.length != 1 && parts.length != 3) {
            throw new QuantbridgeException("profile '" + spec + "': give one shape or three (min,opt,max)");
        }
        long[][] shapes = new long[parts.length][];
        for (int i = 0; i < parts.length; i++) shapes[i] = parseDims(spec, parts[i]);
        return parts.length == 1 ? fixed(name, shapes[0]) : new ShapeProfile(name, shapes[0], shapes[1], shapes[2]);
    }

    private static long[] parseDims(String spec, String s) {
        if (!s.matches("[0-9]+(x[0-9]+)*")) {
            throw new QuantbridgeException("profile '" + spec + "': '" + s + "' is not a shape such as 1x3x320x320");
        }
        return Arrays.stream(s.split("x")).mapToLong(Long::parseLong).toArray();
    }

    @Override public long[] min() { return min.clone(); }
    @Override public long[] opt() { return opt.clone(); }
    @Override public long[] max() { return max.clone(); }

    public boolean isFixed() {
        return Arrays.equals(min, max);
    }

    /** trtexec's spelling of one shape: {@code 1x3x320x320}. */
    public static String dims(long[] shape) {
        return Arrays.stream(shape).mapToObj(Long::toString).collect(Collectors.joining("x"));
    }

    /**
     * Checks profiles against the ONNX model's inputs: each names a real input, has its rank, keeps its static
     * dimensions; every input with a dynamic dimension has a profile; no input is named twice.
     */
    public static void checkAgainst(List<ShapeProfile> profiles, List<TensorInfo> inputs) {
        Map<String, TensorInfo> byName = new HashMap<>();
        for (TensorInfo t : inputs) byName.put(t.name(), t);
        Set<String> seen = new HashSet<>();
        for (ShapeProfile p : profiles) {
            TensorInfo in = byName.get(p.input());
            if (in == null) {
                throw new QuantbridgeException("profile names '" + p.input() + "', which is not an input of the model"
                        + " (inputs: " + inputs.stream().map(TensorInfo::name).toList() + ")");
            }
            if (!seen.add(p.input())) {
                throw new QuantbridgeException("input '" + p.input() + "' has more than one profile");
            }
            long[] shape = in.shape();
            if (shape.length != p.min.length) {
                throw new QuantbridgeException("profile for '" + p.input() + "' has rank " + p.min.length
                        + " but the model's input " + in + " has rank " + shape.length);
            }
            for (int i = 0; i < shape.length; i++) {
                if (shape[i] >= 0 && (p.min[i] != shape[i] || p.max[i] != shape[i])) {
                    throw new QuantbridgeException("profile for '" + p.input() + "': dimension " + i + " is fixed at "
                            + shape[i] + " in the model (" + in + ") but the profile spans " + p.min[i] + ".."
                            + p.max[i]);
                }
            }
        }
        for (TensorInfo in : inputs) {
            if (in.isDynamic() && !seen.contains(in.name())) {
                throw new QuantbridgeException("input " + in + " has dynamic dimensions: give it a profile "
                        + "(min/opt/max shapes)");
            }
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ShapeProfile p && input.equals(p.input) && Arrays.equals(min, p.min)
                && Arrays.equals(opt, p.opt) && Arrays.equals(max, p.max);
    }

    @Override
    public int hashCode() {
        return input.hashCode() * 31 + Arrays.hashCode(opt);
    }

    @Override
    public String toString() {
        return input + ":" + (isFixed() ? dims(opt) : dims(min) + "," + dims(opt) + "," + dims(max));
    }
}
