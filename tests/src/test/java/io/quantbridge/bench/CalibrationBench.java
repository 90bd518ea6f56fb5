package io.quantbridge.bench;

import io.quantbridge.backend.Progress;
import io.quantbridge.calib.CalibrationMethod;
import io.quantbridge.calib.CalibratorSpec;
import io.quantbridge.calib.TensorStatistics;
import io.quantbridge.data.DataSplit;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.data.SampleRef;
import io.quantbridge.data.SampleSource;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.QdqOptions;
import io.quantbridge.onnx.QdqPlan;
import io.quantbridge.onnx.QdqQuantizer;
import io.quantbridge.onnx.backend.Conditioning;
import io.quantbridge.onnx.runtime.ActivationObserver;
import io.quantbridge.onnx.runtime.OrtModelSession;
import io.quantbridge.table.CalibrationTable;
import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.util.AtomicFiles;
import io.quantbridge.util.Json;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Benchmark (not a test) of calibration on the real PaddleOCR detector, in one process on this machine:
 * calibration wall time divided by the pure forward-pass time of the same samples (both on all cores, samples
 * preloaded so neither pays for image decoding), peak heap per calibrator, and int8 vs FP32 latency in ONNX
 * Runtime. Usage: {@code tests/bench/calibration.sh [SIZE] [SAMPLES]}; writes JSON to the path in argument 3.
 */
public final class CalibrationBench {
    public static void main(String[] args) throws Exception {
        int size = args.length > 0 ? Integer.parseInt(args[0]) : 640;
        int n = args.length > 1 ? Integer.parseInt(args[1]) : 64;
        Path outFile = Path.of(args.length > 2 ? args[2] : "calibration-bench.json");
        Path root = Path.of("").toAbsolutePath();
        Path modelFile = root.resolve(".cache/models/ppocr/ch_PP-OCRv4_det_infer.onnx");
        Path photos = root.resolve(".cache/data/opencv");
        int cores = Runtime.getRuntime().availableProcessors();

        Preprocessing pre = Preprocessing.builder().size(size, size).mean(0.485, 0.456, 0.406)
                .std(0.229, 0.224, 0.225).build();
        List<SampleRef> calib = DataSplit.split(SampleSource.discover(photos).samples(), 1, n).calibration();
        OnnxModel model = OnnxModel.load(modelFile);
        QdqPlan plan = QdqQuantizer.plan(model, QdqOptions.defaults());
        OnnxModel prepared = plan.preparedModel();
        List<FloatTensor> inputs = new ArrayList<>();
        for (SampleRef s : calib) inputs.add(SampleSource.load(s, prepared.inputs(), pre).get("x"));

        Map<String, Object> result = new LinkedHashMap<>();
        result.put("model", "ppocr-det " + size + "x" + size);
        result.put("samples", n);
        result.put("cores", cores);

        // pure forward pass: the same parallel layout as calibration (one single-threaded run per core at a time)
        double forward = Double.MAX_VALUE;
        try (OrtModelSession s = OrtModelSession.open(prepared.toBytes(), "float", 1)) {
            parallel(cores, inputs, x -> s.run(Map.of("x", x))); // warm-up
            for (int rep = 0; rep < 2; rep++) {
                long t0 = System.nanoTime();
                parallel(cores, inputs, x -> s.run(Map.of("x", x)));
                forward = Math.min(forward, (System.nanoTime() - t0) / 1e9);
            }
        }
        result.put("forward_seconds", forward);
        System.out.printf("forward pass of %d samples: %.2f s%n", n, forward);

        java.util.Set<String> observed = new java.util.LinkedHashSet<>();
        observed.add("x");
        observed.addAll(plan.activationTensors());
        List<Map<String, Object>> rows = new ArrayList<>();
        CalibrationTable lastTable = null;
        QdqPlan lastPlan = plan;
        for (CalibrationMethod m : CalibrationMethod.values()) {
            CalibratorSpec spec = CalibratorSpec.of(m);
            System.gc();
            ManagementFactory.getMemoryPoolMXBeans().forEach(MemoryPoolMXBean::resetPeakUsage);
            long t0 = System.nanoTime();
            // what `quantize` does: per-channel statistics, equalization and bias correction, then histograms
            Conditioning.Outcome conditioned = Conditioning.apply(plan, plan.options(), spec, true, true, n,
                    i -> Map.of("x", inputs.get(i)), cores, Progress.NONE);
            double conditioningSecs = (System.nanoTime() - t0) / 1e9;
            lastPlan = conditioned.plan();
            ActivationObserver obs = new ActivationObserver(lastPlan.preparedModel().proto(), observed, spec, cores);
            TensorStatistics stats = obs.observe(n, i -> Map.of("x", inputs.get(i)), Progress.NONE);
            var ranges = stats.ranges(spec);
            double secs = (System.nanoTime() - t0) / 1e9;
            long peak = 0;
            for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) {
                if (p.getType() == MemoryType.HEAP) peak += p.getPeakUsage().getUsed();
            }
            lastTable = new CalibrationTable(null, spec, Map.of(), ranges);
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("calibrator", m.id());
            row.put("seconds", secs);
            row.put("ratio_to_forward", secs / forward);
            row.put("conditioning_seconds", conditioningSecs);
            row.put("histogram_seconds", secs - conditioningSecs);
            row.put("histogram_ratio_to_forward", (secs - conditioningSecs) / forward);
            row.put("peak_heap_mib", peak / 1048576.0);
            row.put("tensors", ranges.size());
            rows.add(row);
            System.out.printf("%-10s %.2f s  ratio %.2f (conditioning %.2f s, histograms %.2f s = %.2f)  peak heap "
                    + "%.0f MiB (%d tensors)%n", m.id(), secs, secs / forward, conditioningSecs, secs - conditioningSecs,
                    (secs - conditioningSecs) / forward, peak / 1048576.0, ranges.size());
        }
        result.put("calibration", rows);

        // int8 vs fp32 latency, one sample at a time on all cores
        byte[] int8 = QdqQuantizer.apply(lastPlan, lastTable).model().toBytes();
        Map<String, Object> latency = new LinkedHashMap<>();
        latency.put("fp32_ms", latency(prepared.toBytes(), inputs.get(0)));
        latency.put("int8_ms", latency(int8, inputs.get(0)));
        latency.put("int8_over_fp32", (double) latency.get("int8_ms") / (double) latency.get("fp32_ms"));
        result.put("onnxruntime_latency", latency);
        System.out.printf("ONNX Runtime latency: fp32 %.1f ms, int8 %.1f ms (x%.2f)%n", latency.get("fp32_ms"),
                latency.get("int8_ms"), latency.get("int8_over_fp32"));
        AtomicFiles.writeString(outFile, Json.write(result));
        System.out.println("written " + outFile);
        System.exit(0);
    }

    interface Job {
        void run(FloatTensor x);
    }

    private static void parallel(int workers, List<FloatTensor> inputs, Job job) throws Exception {
        AtomicInteger next = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(workers);
        try {
            List<Future<?>> fs = new ArrayList<>();
            for (int w = 0; w < workers; w++) {
                fs.add(pool.submit(() -> {
                    int i;
                    while ((i = next.getAndIncrement()) < inputs.size()) job.run(inputs.get(i));
                }));
            }
            for (Future<?> f : fs) f.get();
        } finally {
            pool.shutdown();
        }
    }

    private static double latency(byte[] model, FloatTensor x) {
        try (OrtModelSession s = OrtModelSession.open(model, "latency", 0)) {
            for (int i = 0; i < 3; i++) s.run(Map.of("x", x));
            double[] ms = new double[15];
            for (int i = 0; i < ms.length; i++) {
                long t0 = System.nanoTime();
                s.run(Map.of("x", x));
                ms[i] = (System.nanoTime() - t0) / 1e6;
            }
            Arrays.sort(ms);
            return ms[ms.length / 2];
        }
    }
}
