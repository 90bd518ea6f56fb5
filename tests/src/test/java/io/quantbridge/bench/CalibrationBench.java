package io.quantbridge.bench;

import io.quantbridge.backend.Progress;
import io.quantbridge.calib.CalibrationMethod;
import io.quantbridge.calib.CalibratorSpec;
import io.quantbridge.data.DataSplit;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.data.SampleRef;
import io.quantbridge.data.SampleSource;
import io.quantbridge.onnx.ConvFolding;
import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.OrtQdqLayout;
import io.quantbridge.onnx.QdqOptions;
import io.quantbridge.onnx.QdqPlan;
import io.quantbridge.onnx.QdqQuantizer;
import io.quantbridge.onnx.backend.CalibrationPass;
import io.quantbridge.onnx.backend.Conditioning;
import io.quantbridge.onnx.runtime.ActivationObserver;
import io.quantbridge.onnx.runtime.OrtModelSession;
import io.quantbridge.table.CalibrationTable;
import io.quantbridge.table.TensorRange;
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
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Benchmark (not a test) of calibration on the real PaddleOCR detector, in one process on this machine:
 * calibration wall time divided by the pure forward-pass time of the same samples (both on all cores, samples
 * preloaded so neither pays for image decoding), the same ratio in process CPU time (steadier on a shared machine),
 * a breakdown (the forward pass with the observed tensors exposed and copied out; the pass, conditioning and range
 * times), peak heap per calibrator, and int8 vs FP32 latency in ONNX Runtime. Usage: {@code tests/bench/calibration.sh [SIZE] [SAMPLES]}; writes JSON to the path in argument 3.
 */
public final class CalibrationBench {
    /** Values read at a time from a pinned tensor, as {@code Histogram} reads them. */
    private static final int CHUNK = 8 * 1024;

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
        double forwardCpu = 0;
        try (OrtModelSession s = OrtModelSession.open(prepared.toBytes(), "float", 1)) {
            parallel(cores, inputs, x -> s.run(Map.of("x", x))); // warm-up
            for (int rep = 0; rep < 2; rep++) {
                long c0 = cpuNanos();
                long t0 = System.nanoTime();
                parallel(cores, inputs, x -> s.run(Map.of("x", x)));
                double secs = (System.nanoTime() - t0) / 1e9;
                if (secs < forward) {
                    forward = secs;
                    forwardCpu = (cpuNanos() - c0) / 1e9;
                }
            }
        }
        result.put("forward_seconds", forward);
        result.put("forward_cpu_seconds", forwardCpu);
        System.out.printf("forward pass of %d samples: %.2f s (cpu %.2f s)%n", n, forward, forwardCpu);

        // what quantize observes (graph input, Q/DQ activations, outputs of quantized nodes for the TensorRT cache)
        Set<String> observed = CalibrationPass.observedTensors(plan);
        Set<String> fetched = new LinkedHashSet<>(observed);
        fetched.remove("x");
        result.put("tensors", observed.size());
        // breakdown: the same forward pass with every observed tensor exposed and copied out, nothing done with it
        double exposed = Double.MAX_VALUE;
        double exposedCpu = 0;
        try (OrtModelSession s = OrtModelSession.open(ActivationObserver.withOutputs(prepared.proto(), fetched)
                .toByteArray(), "exposed", 1)) {
            ThreadLocal<OrtModelSession.OutputBuffers> buffers = ThreadLocal.withInitial(OrtModelSession.OutputBuffers::new);
            ThreadLocal<float[][]> copies = ThreadLocal.withInitial(() -> new float[1][0]);
            Job job = x -> s.runStreaming(Map.of("x", x), fetched, (name, shape, data) -> {
                float[][] c = copies.get(); // copied out into one array, as calibration did before it read buffers
                if (c[0].length < data.remaining()) c[0] = new float[data.remaining()];
                data.get(0, c[0], 0, data.remaining());
            }, buffers.get());
            parallel(cores, inputs, job); // warm-up
            for (int rep = 0; rep < 2; rep++) {
                long c0 = cpuNanos();
                long t0 = System.nanoTime();
                parallel(cores, inputs, job);
                double secs = (System.nanoTime() - t0) / 1e9;
                if (secs < exposed) {
                    exposed = secs;
                    exposedCpu = (cpuNanos() - c0) / 1e9;
                }
            }
        }
        result.put("exposed_forward_seconds", exposed);
        result.put("exposed_forward_ratio", exposed / forward);
        result.put("exposed_forward_cpu_ratio", exposedCpu / forwardCpu);
        System.out.printf("forward with %d tensors exposed and copied out: %.2f s (x%.2f; cpu x%.2f)%n",
                fetched.size(), exposed, exposed / forward, exposedCpu / forwardCpu);
        // floors of any pass over these tensors, exposed into pinned buffers as calibration runs: not read at all; and
        // every value read once, each tensor copied chunk by chunk into a small array that stays in the L1 cache (as
        // the histograms read them), nothing done with the values
        double pinned;
        double read;
        try (OrtModelSession s = OrtModelSession.open(ActivationObserver.withOutputs(prepared.proto(), fetched)
                .toByteArray(), "exposed", 1)) {
            ThreadLocal<OrtModelSession.OutputBuffers> buffers = ThreadLocal.withInitial(OrtModelSession.OutputBuffers::new);
            ThreadLocal<float[]> chunks = ThreadLocal.withInitial(() -> new float[CHUNK]);
            AtomicInteger sink = new AtomicInteger();
            pinned = fastest(cores, inputs, x -> s.runStreaming(Map.of("x", x), fetched, (name, shape, data) -> { },
                    buffers.get()));
            read = fastest(cores, inputs, x -> s.runStreaming(Map.of("x", x), fetched, (name, shape, data) -> {
                float[] c = chunks.get();
                int len = data.remaining();
                for (int i = 0; i < len; i += CHUNK) data.get(i, c, 0, Math.min(CHUNK, len - i));
                if (c[0] > 1e30f) sink.incrementAndGet(); // keeps the copies
            }, buffers.get()));
        }
        result.put("exposed_pinned_forward_seconds", pinned);
        result.put("exposed_pinned_forward_ratio", pinned / forward);
        System.out.printf("forward with %d tensors exposed into pinned buffers, not read: %.2f s (x%.2f)%n",
                fetched.size(), pinned, pinned / forward);
        result.put("exposed_pinned_read_forward_seconds", read);
        result.put("exposed_pinned_read_forward_ratio", read / forward);
        System.out.printf("forward with %d tensors exposed into pinned buffers, each value read once: %.2f s (x%.2f)%n",
                fetched.size(), read, read / forward);

        List<Map<String, Object>> rows = new ArrayList<>();
        CalibrationTable lastTable = null;
        QdqPlan lastPlan = plan;
        for (CalibrationMethod m : CalibrationMethod.values()) {
            CalibratorSpec spec = CalibratorSpec.of(m);
            System.gc();
            ManagementFactory.getMemoryPoolMXBeans().forEach(MemoryPoolMXBean::resetPeakUsage);
            long c0 = cpuNanos();
            long t0 = System.nanoTime();
            // what `quantize` does: one pass for conditioning statistics and histograms, equalization and bias
            // correction, derived histograms, then the calibrator on every histogram
            CalibrationPass.Result pass = CalibrationPass.run(plan, plan.options(), spec, Conditioning.Settings.DEFAULT, observed, n,
                    i -> Map.of("x", inputs.get(i)), cores, Progress.NONE);
            long t1 = System.nanoTime();
            lastPlan = pass.plan();
            var ranges = pass.statistics().ranges(spec);
            double secs = (System.nanoTime() - t0) / 1e9;
            double cpu = (cpuNanos() - c0) / 1e9;
            double rangeSecs = (System.nanoTime() - t1) / 1e9;
            long peak = 0;
            for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) {
                if (p.getType() == MemoryType.HEAP) peak += p.getPeakUsage().getUsed();
            }
            lastTable = new CalibrationTable(null, spec, Map.of(), ranges);
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("calibrator", m.id());
            row.put("seconds", secs);
            row.put("ratio_to_forward", secs / forward);
            row.put("cpu_ratio_to_forward", cpu / forwardCpu);
            row.put("pass_seconds", pass.passSeconds());
            row.put("conditioning_seconds", pass.conditioningSeconds());
            row.put("ranges_seconds", rangeSecs);
            row.put("peak_heap_mib", peak / 1048576.0);
            row.put("tensors", ranges.size());
            rows.add(row);
            System.out.printf("%-10s %.2f s  ratio %.2f, cpu ratio %.2f (pass %.2f s, conditioning %.2f s, ranges %.2f s)"
                    + "  peak heap %.0f MiB (%d tensors)%n", m.id(), secs, secs / forward, cpu / forwardCpu,
                    pass.passSeconds(), pass.conditioningSeconds(), rangeSecs, peak / 1048576.0, ranges.size());
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

        // --target onnxruntime: the layout ONNX Runtime's int8 kernels fuse, calibrated as quantize does (mse);
        // fp32_folded_ms is the float model with the same folding and fused hard swishes, for a fair comparison
        QdqPlan ortPlan = QdqQuantizer.plan(model, QdqOptions.defaults().withFoldIntoConvs(true));
        CalibratorSpec mse = CalibratorSpec.of(CalibrationMethod.MSE);
        CalibrationPass.Result ortPass = CalibrationPass.run(ortPlan, ortPlan.options(), mse,
                Conditioning.Settings.DEFAULT, CalibrationPass.observedTensors(ortPlan), n,
                i -> Map.of("x", inputs.get(i)), cores, Progress.NONE);
        Map<String, TensorRange> ortRanges = new LinkedHashMap<>();
        for (TensorRange r : ortPass.statistics().ranges(mse)) ortRanges.put(r.name(), r);
        OnnxModel ortInt8 = OrtQdqLayout.apply(QdqQuantizer.apply(ortPass.plan(), ortRanges).model(), ortRanges,
                ortPass.plan().sharedScaleGroups()).model();
        OnnxModel folded = OrtQdqLayout.apply(ConvFolding.apply(prepared).model(), Map.of(), List.of()).model();
        Map<String, Object> ortLatency = new LinkedHashMap<>();
        ortLatency.put("fp32_ms", latency(prepared.toBytes(), inputs.get(0)));
        ortLatency.put("fp32_folded_ms", latency(folded.toBytes(), inputs.get(0)));
        ortLatency.put("int8_ms", latency(ortInt8.toBytes(), inputs.get(0)));
        ortLatency.put("int8_over_fp32", (double) ortLatency.get("int8_ms") / (double) ortLatency.get("fp32_ms"));
        ortLatency.put("int8_over_fp32_folded",
                (double) ortLatency.get("int8_ms") / (double) ortLatency.get("fp32_folded_ms"));
        result.put("onnxruntime_layout_latency", ortLatency);
        System.out.printf("ONNX Runtime latency, --target onnxruntime: fp32 %.1f ms (folded %.1f ms), int8 %.1f ms "
                + "(x%.2f; x%.2f of folded)%n", ortLatency.get("fp32_ms"), ortLatency.get("fp32_folded_ms"),
                ortLatency.get("int8_ms"), ortLatency.get("int8_over_fp32"), ortLatency.get("int8_over_fp32_folded"));
        AtomicFiles.writeString(outFile, Json.write(result));
        System.out.println("written " + outFile);
        System.exit(0);
    }

    /** The shortest of two timed runs of {@code job} over the inputs, after a warm-up run. */
    private static double fastest(int workers, List<FloatTensor> inputs, Job job) throws Exception {
        parallel(workers, inputs, job); // warm-up
        double best = Double.MAX_VALUE;
        for (int rep = 0; rep < 2; rep++) {
            long t0 = System.nanoTime();
            parallel(workers, inputs, job);
            best = Math.min(best, (System.nanoTime() - t0) / 1e9);
        }
        return best;
    }

    /** CPU time of the whole process (ONNX Runtime, Java, GC): steadier than wall time on a shared machine. */
    private static long cpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime();
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
