package io.quantbridge.request;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.quantbridge.QuantbridgeException;
import java.nio.file.Path;
import java.util.List;
import java.util.function.BiFunction;
import java.util.function.ToIntFunction;
import org.junit.jupiter.api.Test;

class QuantizationRequestTest {
    private static QuantizationRequest.Builder builder() {
        return QuantizationRequest.builder().model(Path.of("m.onnx")).outputDir(Path.of("out"))
                .calibrationData(Path.of("photos"));
    }

    @Test
    void floatLayersDefaultToNoneAndSurviveToBuilder() {
        QuantizationRequest r = builder().build();
        assertEquals(0, r.floatLayers());
        assertEquals(64, r.sensitivitySamples());
        QuantizationRequest s = builder().floatLayers(3).sensitivitySamples(8).build().toBuilder().build();
        assertEquals(3, s.floatLayers());
        assertEquals(8, s.sensitivitySamples());
    }

    @Test
    void floatLayersNeedInt8AndSensitivitySamplesAtLeastOne() {
        QuantizationRequest.Builder b = builder().precision(Precision.FP16).floatLayers(3);
        assertEquals("--float-layers: only --precision int8 keeps chosen layers in float (this run is fp16)",
                assertThrows(QuantbridgeException.class, b::build).getMessage());
        assertEquals("--float-layers: -1 is negative",
                assertThrows(QuantbridgeException.class, () -> b.floatLayers(-1)).getMessage());
        assertEquals("--sensitivity-samples: 0 (needs at least 1)",
                assertThrows(QuantbridgeException.class, () -> b.sensitivitySamples(0)).getMessage());
    }

    @Test
    void keepFloatNamesNodesOnceNeedsInt8AndExcludesTheSearch() {
        assertEquals(List.of(), builder().build().keepFloat());
        QuantizationRequest r = builder().keepFloat(List.of("conv1", "conv2", "conv1")).build().toBuilder().build();
        assertEquals(List.of("conv1", "conv2"), r.keepFloat());
        assertEquals("--keep-float: empty node name",
                assertThrows(QuantbridgeException.class, () -> builder().keepFloat(List.of(" "))).getMessage());
        assertEquals("--keep-float: only --precision int8 keeps quantized nodes in float (this run is fp16)",
                assertThrows(QuantbridgeException.class,
                        () -> builder().precision(Precision.FP16).keepFloat(List.of("conv1")).build()).getMessage());
        assertEquals("--keep-float and --float-layers both choose the nodes kept in float (--keep-float names them, "
                + "--float-layers searches): choose one", assertThrows(QuantbridgeException.class,
                        () -> builder().floatLayers(2).keepFloat(List.of("conv1")).build()).getMessage());
    }

    @Test
    void int8WeightOptionsAreRefusedWithFp16() {
        assertEquals("--per-tensor: it sets how int8 weights are scaled; --precision fp16 has no int8 weights",
                assertThrows(QuantbridgeException.class,
                        () -> builder().precision(Precision.FP16).perChannel(false).build()).getMessage());
        assertEquals("--no-reduce-range: it sets the range of int8 weights; --precision fp16 has no int8 weights",
                assertThrows(QuantbridgeException.class,
                        () -> builder().precision(Precision.FP16).reduceRange(false).build()).getMessage());
        // dynamic range has int8 weights
        assertEquals(false, builder().precision(Precision.DYNAMIC).perChannel(false).build().perChannel());
    }

    /**
     * A sample count for a step after calibration: 0 (off) by default, kept by toBuilder, negative refused, and
     * refused for fp16 with {@code fp16Refusal}.
     */
    private static void assertInt8SampleOption(String option, BiFunction<QuantizationRequest.Builder, Integer,
            QuantizationRequest.Builder> set, ToIntFunction<QuantizationRequest> get, String fp16Refusal) {
        assertEquals(0, get.applyAsInt(builder().build()), option);
        assertEquals(16, get.applyAsInt(set.apply(builder(), 16).build().toBuilder().build()), option);
        assertEquals(option + ": -2 is negative",
                assertThrows(QuantbridgeException.class, () -> set.apply(builder(), -2)).getMessage());
        QuantizationRequest.Builder b = set.apply(builder().precision(Precision.FP16), 8);
        assertEquals(option + ": " + fp16Refusal + " (this run is fp16)",
                assertThrows(QuantbridgeException.class, b::build).getMessage());
    }

    @Test
    void empiricalBiasCorrectionAndGptqAreOffByDefaultSurviveToBuilderAndNeedInt8() {
        assertInt8SampleOption("--empirical-bias-correction", QuantizationRequest.Builder::empiricalBiasSamples,
                QuantizationRequest::empiricalBiasSamples, "only --precision int8 has biases to correct");
        assertInt8SampleOption("--gptq", QuantizationRequest.Builder::gptqSamples, QuantizationRequest::gptqSamples,
                "only --precision int8 and dynamic round weights to int8");
        // dynamic range takes --gptq, with calibration samples to round from
        assertEquals(8, builder().precision(Precision.DYNAMIC).gptqSamples(8).build().gptqSamples());
        QuantizationRequest.Builder noData = QuantizationRequest.builder().model(Path.of("m.tflite"))
                .outputDir(Path.of("out")).precision(Precision.DYNAMIC).gptqSamples(8);
        assertEquals("--gptq: GPTQ rounds from the input statistics of calibration samples; give them with --calib"
                + " (--precision dynamic needs no other data)",
                assertThrows(QuantbridgeException.class, noData::build).getMessage());
    }

    @Test
    void refitIsOffByDefaultNeedsInt8AndExcludesGptq() {
        assertInt8SampleOption("--refit", QuantizationRequest.Builder::refitSamples, QuantizationRequest::refitSamples,
                "only --precision int8 has int8 inputs to refit convs to");
        assertEquals("--refit: only --precision int8 has int8 inputs to refit convs to (this run is dynamic)",
                assertThrows(QuantbridgeException.class,
                        () -> builder().precision(Precision.DYNAMIC).refitSamples(4).build()).getMessage());
        assertEquals("--refit and --gptq both set the int8 weights of the convs (refit fits them to the int8 model's "
                + "inputs and rounds to nearest; GPTQ rounds the float weights): choose one",
                assertThrows(QuantbridgeException.class,
                        () -> builder().refitSamples(4).gptqSamples(4).build()).getMessage());
    }

    @Test
    void equalizeAlphaIsAStrengthInZeroToOneForInt8WithEqualization() {
        assertEquals(0.5, builder().build().equalizeAlpha());
        assertEquals(1.0, builder().equalizeAlpha(1).build().toBuilder().build().equalizeAlpha());
        assertEquals(0.0, builder().equalizeAlpha(0).build().equalizeAlpha());
        for (double bad : new double[] {-0.1, 1.5, Double.NaN}) {
            assertEquals("--equalize-alpha: " + bad + " is not in [0, 1]",
                    assertThrows(QuantbridgeException.class, () -> builder().equalizeAlpha(bad)).getMessage());
        }
        assertEquals("--equalize-alpha: only int8 with equalization uses it (this run is int8 with --no-equalize)",
                assertThrows(QuantbridgeException.class,
                        () -> builder().equalize(false).equalizeAlpha(0.75).build()).getMessage());
        assertEquals("--equalize-alpha: only int8 with equalization uses it (this run is fp16)",
                assertThrows(QuantbridgeException.class,
                        () -> builder().precision(Precision.FP16).equalizeAlpha(0.75).build()).getMessage());
        // the default passes with anything: nothing was asked
        assertEquals(0.5, builder().equalize(false).precision(Precision.FP16).build().equalizeAlpha());
    }

    @Test
    void centeringIsOffByDefaultAndOnlyForInt8WithEqualization() {
        assertEquals(false, builder().build().center());
        assertEquals(true, builder().center(true).build().toBuilder().build().center());
        assertEquals("--center: only int8 with equalization shifts channels (this run is int8 with --no-equalize)",
                assertThrows(QuantbridgeException.class,
                        () -> builder().equalize(false).center(true).build()).getMessage());
        assertEquals("--center: only int8 with equalization shifts channels (this run is fp16)",
                assertThrows(QuantbridgeException.class,
                        () -> builder().precision(Precision.FP16).center(true).build()).getMessage());
    }

    @Test
    void layerErrorsNeedInt8AndEvaluationData() {
        assertEquals(0, builder().build().layerErrors());
        assertEquals(7, builder().evaluationData(Path.of("eval")).layerErrors(7).build().toBuilder().build()
                .layerErrors());
        assertEquals("--layers: it compares the int8 model with its float model on the evaluation samples; it needs"
                + " --precision int8 (this run is int8) and --eval",
                assertThrows(QuantbridgeException.class, () -> builder().layerErrors(5).build()).getMessage());
        assertEquals("--layers: it compares the int8 model with its float model on the evaluation samples; it needs"
                + " --precision int8 (this run is fp16)",
                assertThrows(QuantbridgeException.class, () -> builder().evaluationData(Path.of("eval"))
                        .precision(Precision.FP16).layerErrors(5).build()).getMessage());
        assertThrows(QuantbridgeException.class, () -> builder().layerErrors(-1));
    }

    @Test
    void equalizeAlphaSearchTakesTwoOrMoreStrengthsInAscendingOrder() {
        assertEquals(List.of(), builder().build().equalizeAlphaCandidates());
        assertEquals(List.of(0.0, 0.5, 1.0), builder().equalizeAlphaSearch(List.of(1.0, -0.0, 0.5, 1.0)).build()
                .toBuilder().build().equalizeAlphaCandidates());
        assertEquals(List.of(), builder().equalizeAlphaSearch(List.of(0.5, 1.0)).equalizeAlphaSearch(List.of())
                .build().equalizeAlphaCandidates());
        assertEquals("--equalize-alpha: 1.5 is not in [0, 1]", assertThrows(QuantbridgeException.class,
                () -> builder().equalizeAlphaSearch(List.of(0.5, 1.5))).getMessage());
        assertEquals("--equalize-alpha: a search needs at least two different strengths (got 0.75); pass one value "
                + "to use it without searching", assertThrows(QuantbridgeException.class,
                        () -> builder().equalizeAlphaSearch(List.of(0.75, 0.75))).getMessage());
        assertEquals("--equalize-alpha: only int8 with equalization uses it (this run is int8 with --no-equalize)",
                assertThrows(QuantbridgeException.class, () -> builder().equalize(false)
                        .equalizeAlphaSearch(QuantizationRequest.AUTO_EQUALIZE_ALPHAS).build()).getMessage());
        assertEquals("--equalize-alpha: either one strength or a search, not both",
                assertThrows(QuantbridgeException.class, () -> builder().equalizeAlpha(1)
                        .equalizeAlphaSearch(List.of(0.5, 1.0)).build()).getMessage());
        assertEquals("--equalize-alpha: a search calibrates once per strength, and --table reuses a calibration; "
                + "pass the strength the table records instead", assertThrows(QuantbridgeException.class,
                        () -> builder().reuseTable(java.nio.file.Path.of("t.json"))
                                .equalizeAlphaSearch(List.of(0.5, 1.0)).build()).getMessage());
    }
}
