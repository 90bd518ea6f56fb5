package io.quantbridge.tensorrt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.request.Precision;
import java.util.List;
import org.junit.jupiter.api.Test;

class BuildPlanTest {
    static final TensorRtVersion TRT10 = TensorRtVersion.parse("10.15.1");
    static final TensorRtVersion TRT11 = TensorRtVersion.parse("11.4.1");
    static final DeviceInfo L4 = new DeviceInfo("NVIDIA L4", 8, 9, 0, TRT10);
    static final DeviceInfo ORIN = new DeviceInfo("Orin", 8, 7, 2, TensorRtVersion.parse("10.3.0"));
    static final DeviceInfo GTX1080 = new DeviceInfo("NVIDIA GeForce GTX 1080", 6, 1, 0, TRT10);
    static final DeviceInfo MAXWELL = new DeviceInfo("Tesla M40", 5, 2, 0, TRT10);

    private static EngineBuildConfig.Builder int8() {
        return EngineBuildConfig.builder().precision(Precision.INT8);
    }

    @Test
    void tensorRt10ExplicitInt8SetsTheInt8FlagOnTheQdqModel() {
        BuildPlan p = BuildPlan.select(int8().build(), L4);
        assertEquals(BuildPlan.ModelInput.QDQ_MODEL, p.input());
        assertEquals(List.of("kINT8"), p.builderFlags());
        assertFalse(p.calibrator());
        assertEquals("int8", p.precision());
        assertTrue(p.notes().isEmpty());
    }

    @Test
    void tensorRt10ImplicitInt8AttachesTheCalibratorToTheCalibratedFloatModel() {
        BuildPlan p = BuildPlan.select(int8().quantization(EngineBuildConfig.Quantization.IMPLICIT)
                .fp16FloatLayers(true).build(), L4);
        assertEquals(BuildPlan.ModelInput.CALIBRATED_FLOAT_MODEL, p.input());
        assertEquals(List.of("kINT8", "kFP16"), p.builderFlags());
        assertTrue(p.calibrator());
    }

    @Test
    void tensorRt11HasNoPrecisionFlagsAndNoCalibrators() {
        BuildPlan p = BuildPlan.select(int8().build(), new DeviceInfo("NVIDIA H100", 9, 0, 0, TRT11));
        assertEquals(BuildPlan.ModelInput.QDQ_MODEL, p.input());
        assertTrue(p.builderFlags().isEmpty(), p.builderFlags().toString());
        BuildPlan fp16 = BuildPlan.select(EngineBuildConfig.builder().precision(Precision.FP16).build(),
                new DeviceInfo("NVIDIA H100", 9, 0, 0, TRT11));
        assertEquals(BuildPlan.ModelInput.FP16_MODEL, fp16.input());
        assertTrue(fp16.builderFlags().isEmpty());
        QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> BuildPlan.select(
                int8().quantization(EngineBuildConfig.Quantization.IMPLICIT).build(),
                new DeviceInfo("NVIDIA H100", 9, 0, 0, TRT11)));
        assertTrue(e.getMessage().contains("removed calibrators"), e.getMessage());
        e = assertThrows(QuantbridgeException.class, () -> BuildPlan.select(int8().fp16FloatLayers(true).build(),
                new DeviceInfo("NVIDIA H100", 9, 0, 0, TRT11)));
        assertTrue(e.getMessage().contains("strongly typed"), e.getMessage());
    }

    @Test
    void tensorRt10Fp16SetsTheFp16FlagOnTheSourceModel() {
        BuildPlan p = BuildPlan.select(EngineBuildConfig.builder().precision(Precision.FP16).build(), L4);
        assertEquals(BuildPlan.ModelInput.SOURCE_MODEL, p.input());
        assertEquals(List.of("kFP16"), p.builderFlags());
    }

    @Test
    void tensorRt10Fp16BuildsTheFp16ModelStronglyTypedWhenItKeepsFloat32Layers() {
        BuildPlan p = BuildPlan.select(EngineBuildConfig.builder().precision(Precision.FP16).build(), L4, true);
        assertEquals(BuildPlan.ModelInput.FP16_MODEL, p.input());
        assertEquals(List.of("kSTRONGLY_TYPED"), p.networkFlags());
        assertTrue(p.builderFlags().isEmpty(), p.builderFlags().toString());
        assertTrue(p.notes().get(0).contains("strongly typed"), p.notes().toString());
        assertEquals("fp16", p.precision());
    }

    @Test
    void neverFallsBackToFp32Silently() {
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> BuildPlan.select(int8().build(), MAXWELL));
        assertTrue(e.getMessage().contains("Tesla M40 (compute capability 5.2) has no fast int8"), e.getMessage());
        assertTrue(e.getMessage().contains(TensorRtOptions.ALLOW_FP32), e.getMessage());
        e = assertThrows(QuantbridgeException.class, () -> BuildPlan.select(
                EngineBuildConfig.builder().precision(Precision.FP16).build(), GTX1080));
        assertTrue(e.getMessage().contains("has no fast fp16"), e.getMessage());

        BuildPlan p = BuildPlan.select(int8().allowFp32(true).build(), MAXWELL);
        assertEquals("fp32", p.precision());
        assertEquals(BuildPlan.ModelInput.SOURCE_MODEL, p.input());
        assertTrue(p.builderFlags().isEmpty());
        assertEquals(1, p.notes().size());
        assertTrue(p.notes().get(0).contains("built in FP32 because FP32 was allowed"), p.notes().toString());
    }

    @Test
    void int8WithFp16FloatLayersOnAGpuWithoutFastFp16SaysSo() {
        BuildPlan p = BuildPlan.select(int8().fp16FloatLayers(true).build(), GTX1080);
        assertEquals(List.of("kINT8"), p.builderFlags());
        assertTrue(p.notes().get(0).contains("no fast fp16"));
    }

    @Test
    void dlaNeedsTheCoreAndFallsBackToTheGpu() {
        BuildPlan p = BuildPlan.select(int8().dlaCore(1).build(), ORIN);
        assertEquals(List.of("kINT8", "kGPU_FALLBACK"), p.builderFlags());
        assertThrows(QuantbridgeException.class, () -> BuildPlan.select(int8().dlaCore(2).build(), ORIN));
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> BuildPlan.select(int8().dlaCore(0).build(), L4));
        assertTrue(e.getMessage().contains("has no DLA"), e.getMessage());
        BuildPlan strict = BuildPlan.select(int8().dlaCore(0).gpuFallback(false).build(), ORIN);
        assertEquals(List.of("kINT8"), strict.builderFlags());
        assertTrue(strict.notes().get(0).contains("without GPU fallback"));
    }

    @Test
    void oldTensorRtIsRefused() {
        assertThrows(QuantbridgeException.class, () -> BuildPlan.select(int8().build(),
                new DeviceInfo("x", 8, 6, 0, TensorRtVersion.parse("8.6.1"))));
    }

    @Test
    void fastPrecisionFollowsTheComputeCapability() {
        assertTrue(L4.fastInt8() && L4.fastFp16());
        assertTrue(GTX1080.fastInt8());
        assertFalse(GTX1080.fastFp16());
        assertFalse(MAXWELL.fastInt8());
        assertTrue(new DeviceInfo("Jetson Nano", 5, 3, 0, TRT10).fastFp16());
        assertTrue(new DeviceInfo("P100", 6, 0, 0, TRT10).fastFp16());
    }

    @Test
    void versions() {
        assertEquals(new TensorRtVersion(10, 15, 1), TensorRtVersion.parse("10.15.1.29"));
        assertEquals(new TensorRtVersion(10, 3, 0), TensorRtVersion.parse("10.3"));
        assertEquals(new TensorRtVersion(10, 15, 1), TensorRtVersion.fromLibVersion(101501));
        assertEquals("100300", TensorRtVersion.parse("10.3.0").cacheHeaderVersion());
        assertTrue(TRT10.hasCalibrators() && TRT10.hasPrecisionFlags() && TRT10.drivableByPresets());
        assertFalse(TRT11.hasCalibrators() || TRT11.hasPrecisionFlags() || TRT11.drivableByPresets());
        assertThrows(QuantbridgeException.class, () -> TensorRtVersion.parse("ten"));
        assertThrows(QuantbridgeException.class, () -> TensorRtVersion.fromLibVersion(8601));
    }
}
