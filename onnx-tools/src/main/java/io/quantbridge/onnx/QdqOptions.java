package io.quantbridge.onnx;

import io.quantbridge.onnx.proto.Onnx.NodeProto;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.Optional;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Options of {@link QdqQuantizer}.
 *
 * @param perChannel        per-output-channel weight scales (default true); false gives one scale per weight
 * @param excludes          patterns of nodes to keep in float: each matches a node whose name equals it, whose op
 *                          type equals it, or whose whole name matches it as a Java regular expression
 * @param int8Weights       store weights as int8 initializers feeding DequantizeLinear (default true, the smaller
 *                          file); false keeps float weights with a QuantizeLinear/DequantizeLinear pair
 * @param quantizeAttention also quantize MatMul nodes whose two inputs are both activations (attention chains);
 *                          default false: they stay float
 * @param strict            fail when a tensor of the plan has no usable range in the calibration table, instead
 *                          of keeping its consumers in float (default false)
 * @param floatNodes        nodes kept in float by exact name (what a sensitivity search chose); unlike
 *                          {@code excludes}, never read as op types or regular expressions
 * @param foldIntoConvs     fold BatchNormalization and constant bias Adds into the Conv/ConvTranspose before them
 *                          while preparing the model ({@link ConvFolding}); default false: TensorRT and OpenVINO
 *                          fold them when they build, ONNX Runtime cannot once the weights are behind Q/DQ
 * @param weightMax         the largest weight code: weights take {@code [-weightMax, weightMax]} with scale
 *                          {@code max|w| / weightMax}; {@value #FULL_RANGE} (default) or {@value #REDUCED_RANGE}, the
 *                          7-bit range that ONNX Runtime's integer kernels need on x86 CPUs without VNNI
 */
public record QdqOptions(boolean perChannel, List<String> excludes, boolean int8Weights, boolean quantizeAttention,
                         boolean strict, Set<String> floatNodes, boolean foldIntoConvs, int weightMax) {
    /** Weight codes in [-127, 127]. */
    public static final int FULL_RANGE = 127;
    /**
     * Weight codes in [-64, 64]: on x86 CPUs without VNNI, ONNX Runtime's uint8 x int8 kernels add products in pairs
     * into int16 (vpmaddubsw), which saturates beyond 32767: 255 x 127 x 2 does, 255 x 64 x 2 does not.
     */
    public static final int REDUCED_RANGE = 64;

    public QdqOptions {
        excludes = List.copyOf(excludes);
        floatNodes = Collections.unmodifiableSet(new LinkedHashSet<>(floatNodes));
        if (weightMax < 1 || weightMax > FULL_RANGE) {
            throw new IllegalArgumentException("weightMax " + weightMax + " is not in [1, 127]");
        }
    }

    public QdqOptions(boolean perChannel, List<String> excludes, boolean int8Weights, boolean quantizeAttention,
                      boolean strict) {
        this(perChannel, excludes, int8Weights, quantizeAttention, strict, Set.of(), false, FULL_RANGE);
    }

    public static QdqOptions defaults() {
        return new QdqOptions(true, List.of(), true, false, false);
    }

    public QdqOptions withFloatNodes(Collection<String> v) {
        return new QdqOptions(perChannel, excludes, int8Weights, quantizeAttention, strict, new LinkedHashSet<>(v),
                foldIntoConvs, weightMax);
    }

    public QdqOptions withPerChannel(boolean v) {
        return new QdqOptions(v, excludes, int8Weights, quantizeAttention, strict, floatNodes, foldIntoConvs,
                weightMax);
    }

    public QdqOptions withExcludes(List<String> v) {
        return new QdqOptions(perChannel, v, int8Weights, quantizeAttention, strict, floatNodes, foldIntoConvs,
                weightMax);
    }

    public QdqOptions withInt8Weights(boolean v) {
        return new QdqOptions(perChannel, excludes, v, quantizeAttention, strict, floatNodes, foldIntoConvs,
                weightMax);
    }

    public QdqOptions withQuantizeAttention(boolean v) {
        return new QdqOptions(perChannel, excludes, int8Weights, v, strict, floatNodes, foldIntoConvs,
                weightMax);
    }

    public QdqOptions withFoldIntoConvs(boolean v) {
        return new QdqOptions(perChannel, excludes, int8Weights, quantizeAttention, strict, floatNodes, v,
                weightMax);
    }

    /** Weight codes in {@code [-v, v]} ({@link #FULL_RANGE} or {@link #REDUCED_RANGE}). */
    public QdqOptions withWeightMax(int v) {
        return new QdqOptions(perChannel, excludes, int8Weights, quantizeAttention, strict, floatNodes, foldIntoConvs, v);
    }

    public QdqOptions withStrict(boolean v) {
        return new QdqOptions(perChannel, excludes, int8Weights, quantizeAttention, v, floatNodes, foldIntoConvs,
                weightMax);
    }

    /** Why the node stays float by these options ({@code floatNodes}, then {@code excludes}), if it does. */
    public Optional<String> exclusionReason(String nodeName, String opType) {
        if (floatNodes.contains(nodeName)) return Optional.of("kept in float after calibration (--float-layers or --keep-float)");
        return excludedBy(nodeName, opType).map(p -> "excluded by pattern '" + p + "'");
    }

    /** The first exclude pattern that matches the node, if any. */
    public Optional<String> excludedBy(String nodeName, String opType) {
        for (String p : excludes) {
            if (matches(p, nodeName, opType)) return Optional.of(p);
        }
        return Optional.empty();
    }

    /**
     * The exclude patterns that match none of {@code nodes}, in the order given: a pattern that keeps nothing float
     * is most likely a misspelt name, which would otherwise quantize what the user meant to keep.
     */
    public List<String> unmatchedExcludes(Collection<NodeProto> nodes) {
        List<String> unmatched = new ArrayList<>();
        for (String p : excludes) {
            if (nodes.stream().noneMatch(n -> matches(p, n.getName(), n.getOpType()))) unmatched.add(p);
        }
        return unmatched;
    }

    /** A pattern matches a node whose name or op type equals it, or whose name it matches as a regular expression. */
    private static boolean matches(String pattern, String nodeName, String opType) {
        if (pattern.equals(nodeName) || pattern.equals(opType)) return true;
        try {
            return Pattern.compile(pattern).matcher(nodeName).matches();
        } catch (PatternSyntaxException e) {
            return false; // not a regular expression: only the exact matches above apply
        }
    }
}
