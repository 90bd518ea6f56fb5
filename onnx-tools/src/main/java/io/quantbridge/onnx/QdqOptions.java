package io.quantbridge.onnx;

import java.util.List;
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
 */
public record QdqOptions(boolean perChannel, List<String> excludes, boolean int8Weights, boolean quantizeAttention,
                         boolean strict) {
    public QdqOptions {
        excludes = List.copyOf(excludes);
    }

    public static QdqOptions defaults() {
        return new QdqOptions(true, List.of(), true, false, false);
    }

    public QdqOptions withPerChannel(boolean v) {
        return new QdqOptions(v, excludes, int8Weights, quantizeAttention, strict);
    }

    public QdqOptions withExcludes(List<String> v) {
        return new QdqOptions(perChannel, v, int8Weights, quantizeAttention, strict);
    }

    public QdqOptions withInt8Weights(boolean v) {
        return new QdqOptions(perChannel, excludes, v, quantizeAttention, strict);
    }

    public QdqOptions withQuantizeAttention(boolean v) {
        return new QdqOptions(perChannel, excludes, int8Weights, v, strict);
    }

    public QdqOptions withStrict(boolean v) {
        return new QdqOptions(perChannel, excludes, int8Weights, quantizeAttention, v);
    }

    /** The first exclude pattern that matches the node, if any. */
    public Optional<String> excludedBy(String nodeName, String opType) {
        for (String p : excludes) {
            if (p.equals(nodeName) || p.equals(opType)) return Optional.of(p);
            try {
                if (Pattern.compile(p).matcher(nodeName).matches()) return Optional.of(p);
            } catch (PatternSyntaxException e) {
                // not a regular expression: only the exact matches above apply
            }
        }
        return Optional.empty();
    }
}
