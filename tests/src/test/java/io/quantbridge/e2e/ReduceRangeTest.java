package io.quantbridge.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.proto.Onnx.NodeProto;
import io.quantbridge.onnx.proto.Onnx.TensorProto;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --reduce-range} on the real ppocr-cls: 7-bit weights by default for {@code --target onnxruntime}, whose
 * uint8 x int8 kernels on x86 CPUs without VNNI add products in pairs into int16 and saturate with full-range weights
 * (this test's fidelity bound fails there without it: cosine 0.954 on an AVX2 EPYC, 0.997 with it; 0.989 either way
 * on an AVX-512 VNNI Xeon); full range for
 * TensorRT's layout and on request.
 */
class ReduceRangeTest {
    @TempDir
    Path tmp;

    private Cli quantize(Path out, String... more) {
        List<String> args = new ArrayList<>(List.of("quantize", "--backend", "onnx", "--model",
                RealModels.model("ch_ppocr_mobile_v2.0_cls_infer.onnx").toString(), "--calib",
                RealModels.photos().toString(), "--eval", RealModels.photos().toString(), "--samples", "24", "--seed",
                "1", "--size", "192x48", "--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5", "--out", out.toString(),
                "--quiet"));
        args.addAll(List.of(more));
        return Cli.run(args);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> quantization(Path dir) throws Exception {
        return (Map<String, Object>) QuantizeOnnxEndToEndTest.report(dir).get("quantization");
    }

    private static double cosine(Path dir) throws Exception {
        Map<?, ?> f = (Map<?, ?>) QuantizeOnnxEndToEndTest.report(dir).get("fidelity");
        return ((Number) ((Map<?, ?>) f.values().iterator().next()).get("cosine")).doubleValue();
    }

    /** The largest |code| of the model's int8 weights. */
    private static int largestWeightCode(Path model) {
        OnnxModel m = OnnxModel.load(model);
        Map<String, TensorProto> inits = m.initializers();
        int largest = 0;
        for (NodeProto n : m.nodes()) {
            TensorProto t = n.getOpType().equals("DequantizeLinear") ? inits.get(n.getInput(0)) : null;
            if (t == null || t.getDataType() != TensorProto.DataType.INT8_VALUE) continue;
            for (byte b : t.getRawData().toByteArray()) largest = Math.max(largest, Math.abs(b));
        }
        return largest;
    }

    @Test
    void onnxRuntimeTargetTakesSevenBitWeightsUnlessToldOtherwise() throws Exception {
        Path ort = tmp.resolve("ort");
        Cli r = quantize(ort, "--target", "onnxruntime");
        assertEquals(0, r.code(), r.err());
        assertEquals(List.of(-64L, 64L), quantization(ort).get("weight_codes"));
        assertEquals("7-bit weights (--reduce-range, the default for --target onnxruntime): ONNX Runtime's integer"
                + " kernels on x86 CPUs without VNNI saturate with full-range ones",
                quantization(ort).get("weight_codes_why"));
        assertEquals(64, largestWeightCode(ort.resolve("model.int8.onnx")));
        // measured by ONNX Runtime's own integer kernels on this CPU, whatever its instruction set: 0.997 on an AVX2
        // EPYC (0.954 there with full-range weights, which saturate), 0.9889 on an AVX-512 VNNI / AMX Xeon (0.9886
        // with full-range weights: its kernels, not the 7 bits, cost the rest there)
        assertTrue(cosine(ort) > 0.98, "cosine " + cosine(ort));

        Path full = tmp.resolve("full");
        r = quantize(full, "--target", "onnxruntime", "--no-reduce-range");
        assertEquals(0, r.code(), r.err());
        assertEquals(List.of(-127L, 127L), quantization(full).get("weight_codes"));
        assertEquals(null, quantization(full).get("weight_codes_why"));
        assertEquals(127, largestWeightCode(full.resolve("model.int8.onnx")));
        // inspect warns where ONNX Runtime's kernels would saturate: on this CPU, if it has no VNNI
        String warning = "this CPU has no VNNI: its integer kernels add uint8 x int8 products in pairs into int16,"
                + " which saturates with this model's weight codes (up to +-127); quantize with --reduce-range";
        Cli i = Cli.run(List.of("inspect",
                full.resolve("model.int8.onnx").toString()));
        assertEquals(0, i.code(), i.err());
        assertEquals(io.quantbridge.util.CpuInfo.x86WithoutInt8Dot(), i.out().contains(warning), i.out());
        i = Cli.run(List.of("inspect", ort.resolve("model.int8.onnx").toString()));
        assertEquals(false, i.out().contains("this CPU has no VNNI"), i.out());

        // TensorRT's layout keeps full-range weights, and takes 7-bit ones when asked
        Path trt = tmp.resolve("trt");
        r = quantize(trt);
        assertEquals(0, r.code(), r.err());
        assertEquals(List.of(-127L, 127L), quantization(trt).get("weight_codes"));
        assertTrue(cosine(trt) > 0.97, "cosine " + cosine(trt));
        Path trt7 = tmp.resolve("trt7");
        r = quantize(trt7, "--reduce-range");
        assertEquals(0, r.code(), r.err());
        assertEquals(64, largestWeightCode(trt7.resolve("model.int8.onnx")));
        assertEquals("7-bit weights (--reduce-range): ONNX Runtime's integer kernels on x86 CPUs without VNNI"
                + " saturate with full-range ones", quantization(trt7).get("weight_codes_why"));
    }

    @Test
    void tfliteRefusesTheOption() {
        Cli r = Cli.run(List.of("quantize", "--backend", "tflite",
                "--model", RealModels.npmModel("blazeface-tflite", "face_detection_short_range.tflite").toString(),
                "--calib", RealModels.photos().toString(), "--samples", "2", "--reduce-range", "--out",
                tmp.resolve("t").toString(), "--quiet"));
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("--reduce-range: only the ONNX-based backends (onnx, tensorrt, openvino) have it;"
                + " TFLite's int8 kernels take full-range weights on every CPU"), r.err());
    }
}
