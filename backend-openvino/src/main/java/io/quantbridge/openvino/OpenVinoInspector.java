package io.quantbridge.openvino;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.backend.OnnxBackend;
import io.quantbridge.tensor.TensorInfo;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Describes a model as OpenVINO runs it on the CPU: it compiles (or imports) the model with per-layer profiling,
 * runs it once on zeros, and lists every executed layer of the runtime model with its kernel and the precision it
 * ran in, so that one sees which layers really run in int8. An ONNX model is first described as ONNX.
 */
final class OpenVinoInspector {
    /** Node types of the runtime model that carry the arithmetic (what int8 is for). */
    static final Set<String> COMPUTE = Set.of("Convolution", "GroupConvolution", "ConvolutionBackpropData",
            "Deconvolution", "FullyConnected", "MatMul", "GroupDeconvolution");

    private OpenVinoInspector() { }

    static String describe(Path model) {
        StringBuilder sb = new StringBuilder();
        String name = model.getFileName().toString().toLowerCase(Locale.ROOT);
        if (name.endsWith(".onnx")) {
            sb.append(new OnnxBackend().inspect(model)).append('\n');
        }
        OpenVinoRuntime rt = OpenVinoRuntime.get();
        OpenVinoSession.Options options = OpenVinoSession.Options.defaults().withProfiling(true);
        if (name.endsWith(".onnx")) {
            // a dynamic image input is compiled for 640x640: kernels are chosen for static shapes
            options = options.withInputShape(OpenVinoQuantization.staticInputShape(OnnxModel.load(model).inputs(),
                    Preprocessing.builder().size(640, 640).build()));
        }
        if (CpuFeatures.x86WithoutInt8Dot() && io.quantbridge.onnx.Uint8Activations.hasInt8Activations(model)) {
            // as OpenVinoBackend.open runs it here: in float, since the int8 kernels get int8 activations wrong
            options = options.withProperty(OpenVinoBackend.NO_LOW_PRECISION, "NO");
            sb.append("OpenVINO on this CPU (x86 without VNNI) computes int8 activations wrongly; the model is compiled"
                    + " without low-precision transforms (LP_TRANSFORMS_MODE=NO), in float, as sessions run it here."
                    + " quantize --backend openvino on this machine writes uint8 activations, which run in int8\n");
        }
        try (OpenVinoSession s = OpenVinoSession.open(model, options)) {
            describe(sb, rt, s, model, name);
        } catch (QuantbridgeException e) {
            if (!name.endsWith(".onnx")) throw e;
            // the ONNX description stands; OpenVINO's view needs shapes the model accepts
            sb.append("OpenVINO ").append(rt.version).append(": not compiled: ").append(e.getMessage())
                    .append(" (inspect compiles dynamic image inputs at 640x640; `bench --backend openvino --size WxH`"
                            + " runs the model at its own size)\n");
        }
        return sb.toString();
    }

    private static void describe(StringBuilder sb, OpenVinoRuntime rt, OpenVinoSession s, Path model, String name) {
        {
            sb.append("OpenVINO ").append(rt.version).append(" on ").append(s.options().device());
            String full = rt.deviceProperty(s.options().device(), "FULL_DEVICE_NAME");
            if (full != null) sb.append(" (").append(full.strip()).append(')');
            sb.append('\n');
            sb.append(name.endsWith(".blob") ? "imported compiled model " : "compiled model ").append(model)
                    .append('\n');
            String hint = s.propertyOrNull(OpenVinoSession.INFERENCE_PRECISION);
            if (hint != null) sb.append("inference precision: ").append(hint).append('\n');
            for (TensorInfo t : s.inputs()) sb.append("input   ").append(t).append('\n');
            for (TensorInfo t : s.outputs()) sb.append("output  ").append(t).append('\n');
            List<OpenVinoSession.Layer> layers = s.profile(s.zeros(640));
            Map<String, Object> summary = summary(layers);
            sb.append("runtime layers: ").append(summary.get("executed_layers")).append(" executed, ")
                    .append(summary.get("int8_layers")).append(" in int8; convolution/matmul layers in int8: ")
                    .append(summary.get("int8_compute_layers")).append(" of ").append(summary.get("compute_layers"))
                    .append('\n');
            sb.append("by precision:");
            ((Map<?, ?>) summary.get("by_precision")).forEach((k, v) -> sb.append(' ').append(k).append('=').append(v));
            sb.append('\n');
            sb.append(String.format(Locale.ROOT, "%-44s %-24s %-30s %s%n", "LAYER", "TYPE", "KERNEL", "PRECISION"));
            for (OpenVinoSession.Layer l : layers) {
                if (!l.executed()) continue;
                sb.append(String.format(Locale.ROOT, "%-44s %-24s %-30s %s%n", shorten(l.name(), 44), l.type(),
                        l.execType(), l.precision().isEmpty() ? "-" : l.precision()));
            }
        }
    }

    /**
     * Counts over the executed layers: {@code executed_layers}, {@code int8_layers}, {@code compute_layers}
     * (convolutions and matrix products), {@code int8_compute_layers}, {@code by_precision},
     * {@code by_kernel} and {@code float_compute_layers} (the names of compute layers that did not run in int8).
     */
    static Map<String, Object> summary(List<OpenVinoSession.Layer> layers) {
        int executed = 0;
        int int8 = 0;
        int compute = 0;
        int computeInt8 = 0;
        Map<String, Integer> byPrecision = new TreeMap<>();
        Map<String, Integer> byKernel = new TreeMap<>();
        List<String> floatCompute = new ArrayList<>();
        for (OpenVinoSession.Layer l : layers) {
            if (!l.executed()) continue;
            executed++;
            if (l.int8()) int8++;
            byPrecision.merge(l.precision().isEmpty() ? "other" : l.precision(), 1, Integer::sum);
            byKernel.merge(l.type() + ":" + l.execType(), 1, Integer::sum);
            if (COMPUTE.contains(l.type())) {
                compute++;
                if (l.int8()) {
                    computeInt8++;
                } else {
                    floatCompute.add(l.name());
                }
            }
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("executed_layers", executed);
        m.put("int8_layers", int8);
        m.put("compute_layers", compute);
        m.put("int8_compute_layers", computeInt8);
        m.put("by_precision", byPrecision);
        m.put("by_kernel", byKernel);
        m.put("float_compute_layers", floatCompute);
        return m;
    }

    private static String shorten(String s, int n) {
        return s.length() <= n ? s : "..." + s.substring(s.length() - (n - 3));
    }
}
