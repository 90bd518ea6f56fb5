package io.quantbridge.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.request.QuantizationResult;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** report.json's fidelity as typed values, from the accumulators that write it. */
class OutputFidelityTest {
    @Test
    void theReportsFiguresAsTypedValuesInOutputOrder() {
        FidelityAccumulator scores = new FidelityAccumulator().withMaskIou(0.5);
        scores.add(new float[] {0.1f, 0.9f, 0.7f, 0.2f}, new float[] {0.12f, 0.85f, 0.4f, 0.2f});
        FidelityAccumulator logits = new FidelityAccumulator().withTop1(2);
        logits.add(new float[] {1, 2, 3, 1}, new float[] {1, 2, 2, 3});
        Map<String, Object> fidelity = new LinkedHashMap<>();
        fidelity.put("scores", scores.toMap());
        fidelity.put("logits", logits.toMap());
        Map<String, Object> report = Map.of("fidelity", fidelity);

        Map<String, OutputFidelity> f = new QuantizationResult("onnx", List.of(), null, report).fidelity();
        assertEquals(List.of("scores", "logits"), List.copyOf(f.keySet()));
        OutputFidelity s = f.get("scores");
        assertEquals("scores", s.output());
        assertEquals(1, s.samples());
        assertEquals(scores.cosine(), s.cosine());
        assertEquals(scores.sqnrDb(), s.sqnrDb());
        assertEquals(0.3, s.maxAbs(), 1e-6);
        assertEquals(0.5, s.maskIou().orElseThrow()); // {1, 2} against {1}
        assertTrue(s.top1Agreement().isEmpty());
        assertTrue(s.boxRecall().isEmpty());
        assertEquals(0.5, f.get("logits").top1Agreement().orElseThrow()); // rows [1,2] and [3,1] against [1,2], [2,3]
        assertTrue(f.get("logits").maskIou().isEmpty());
        assertEquals(scores.toMap(), s.values());

        assertEquals(Map.of(), new QuantizationResult("onnx", List.of(), null, Map.of()).fidelity());
        Map<String, Object> broken = new LinkedHashMap<>(scores.toMap());
        broken.remove("cosine");
        assertEquals("fidelity of output 'scores': cosine is missing", assertThrows(QuantbridgeException.class,
                () -> OutputFidelity.of(Map.of("scores", broken))).getMessage());
        broken.put("cosine", "high");
        assertEquals("fidelity of output 'scores': cosine is not a number (high)",
                assertThrows(QuantbridgeException.class, () -> OutputFidelity.of(Map.of("scores", broken)))
                        .getMessage());
    }
}
