package io.quantbridge.tensorrt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.request.Precision;
import java.util.List;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;

class TrtexecCommandsTest {
    private static List<String> commands(String text) {
        return text.lines().filter(l -> l.startsWith("trtexec ")).toList();
    }

    @Test
    void int8GivesImplicitAndBothExplicitLines() {
        String text = TrtexecCommands.text(new TrtexecCommands.Inputs(Precision.INT8, "model.int8.onnx",
                "model.fp32.onnx", "model.fp16.onnx", "calibration.cache", "100900", "/m/det.onnx",
                List.of(ShapeProfile.fixed("x", 1, 3, 320, 320)), OptionalInt.empty(), false));
        String shapes = " --minShapes=x:1x3x320x320 --optShapes=x:1x3x320x320 --maxShapes=x:1x3x320x320";
        assertEquals(List.of(
                "trtexec --onnx=model.fp32.onnx --int8 --calib=calibration.cache" + shapes
                        + " --saveEngine=model.implicit.plan",
                "trtexec --onnx=model.int8.onnx --int8" + shapes + " --saveEngine=model.int8.plan",
                "trtexec --onnx=model.int8.onnx" + shapes + " --saveEngine=model.int8.plan"), commands(text));
        assertTrue(text.contains("TensorRT 10.9.0 (TRT-100900)"), text);
        assertTrue(text.contains("# TensorRT 11"), text);
    }

    @Test
    void fp16AndDla() {
        String text = TrtexecCommands.text(new TrtexecCommands.Inputs(Precision.FP16, "model.int8.onnx",
                "model.fp32.onnx", "model.fp16.onnx", null, null, "/m/my det.onnx", List.of(), OptionalInt.of(0), false));
        assertEquals(List.of("trtexec --onnx='/m/my det.onnx' --fp16 --useDLACore=0 --allowGPUFallback "
                        + "--saveEngine=model.fp16.plan",
                "trtexec --onnx=model.fp16.onnx --saveEngine=model.fp16.plan"), commands(text));
        assertFalse(text.contains("--calib"));
    }

    /** An FP16 model that keeps float32 layers (values beyond float16): TensorRT 10 builds it strongly typed. */
    @Test
    void fp16WithFloat32LayersIsBuiltStronglyTyped() {
        String text = TrtexecCommands.text(new TrtexecCommands.Inputs(Precision.FP16, "model.int8.onnx",
                "model.fp32.onnx", "model.fp16.onnx", null, null, "/m/mel.onnx", List.of(), OptionalInt.empty(), true));
        assertEquals(List.of("trtexec --onnx=model.fp16.onnx --stronglyTyped --saveEngine=model.fp16.plan",
                "trtexec --onnx=model.fp16.onnx --saveEngine=model.fp16.plan"), commands(text));
        // DLA needs the fp16 flag: the old line, with a warning
        String dla = TrtexecCommands.text(new TrtexecCommands.Inputs(Precision.FP16, "model.int8.onnx",
                "model.fp32.onnx", "model.fp16.onnx", null, null, "/m/mel.onnx", List.of(), OptionalInt.of(0), true));
        assertTrue(dla.contains("trtexec --onnx=/m/mel.onnx --fp16 --useDLACore=0"), dla);
        assertTrue(dla.contains("those layers may overflow"), dla);
    }

    @Test
    void releaseAndQuoting() {
        assertEquals("10.3.0", TrtexecCommands.release("100300"));
        assertEquals("8.6.1", TrtexecCommands.release("8601"));
        assertEquals("'it'\\''s'", TrtexecCommands.quote("it's"));
    }
}
