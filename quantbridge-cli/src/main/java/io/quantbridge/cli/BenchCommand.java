package io.quantbridge.cli;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.ModelSession;
import io.quantbridge.data.SampleSource;
import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.tensor.TensorInfo;
import io.quantbridge.util.AtomicFiles;
import io.quantbridge.util.Json;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Times models on the same input, one after another in one process. */
@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Time one or more models on the same input (the first --data sample, or seeded random values "
                + "of the model's input shape: normal for float inputs, uniform over the type for 8-bit and bool "
                + "ones, zeros for wider integers, which may be indexes): median, mean and p90 latency, and each "
                + "model's ratio to the first.")
final class BenchCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "FILE", description = "A model; repeat to compare.")
    List<Path> models;

    @Option(names = "--data", paramLabel = "DIR|FILE", description = "Input data (first sample is used).")
    Path data;

    @Option(names = "--backend", paramLabel = "ID", description = "Backend that runs the models.")
    String backend;

    @CommandLine.Mixin
    PreprocessingOptions preprocessing = new PreprocessingOptions();

    @Option(names = "--shape", paramLabel = "INPUT=DIMS",
            description = "The shape of input INPUT when bench makes its values up (no --data), as trtexec's --shapes:"
                    + " e.g. --shape input=1x576 --shape state=2x1x128 for dimensions --size does not give"
                    + " (repeatable).")
    List<String> shapes = new ArrayList<>();

    @Option(names = "--iterations", paramLabel = "N", defaultValue = "20", description = "Timed runs (default 20).")
    int iterations;

    @Option(names = "--warmup", paramLabel = "N", defaultValue = "3", description = "Untimed runs first (default 3).")
    int warmup;

    @Option(names = "--out", paramLabel = "FILE", description = "Also write the result as JSON.")
    Path out;

    @Option(names = "--verbose", description = "Stack traces on failure.")
    boolean verbose;

    /** The median of ascending {@code sorted}: the middle value, or the mean of the two middle ones. */
    static double median(double[] sorted) {
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    @Override
    public Integer call() {
        if (iterations < 1) throw new QuantbridgeException("--iterations must be at least 1");
        Map<String, long[]> given = parseShapes(shapes);
        if (!given.isEmpty() && data != null) {
            throw new QuantbridgeException("--shape gives the shape of made-up input values, and --data gives the"
                    + " input itself: use one of them");
        }
        Map<String, Path> inputs = new LinkedHashMap<>();
        inputs.put("--data", data);
        for (Path m : models) inputs.putIfAbsent("--model " + m, m);
        JsonOutput.check(out, "bench.json", inputs);
        PrintWriter o = spec.commandLine().getOut();
        List<Map<String, Object>> rows = new ArrayList<>();
        double first = Double.NaN;
        o.printf(Locale.ROOT, "%-50s %10s %10s %10s %8s%n", "MODEL", "MEDIAN ms", "MEAN ms", "P90 ms", "RATIO");
        for (Path m : models) {
            try (ModelSession s = Sessions.open(m, backend, spec.commandLine().getErr())) {
                Map<String, FloatTensor> feed = input(s, given, m);
                for (int i = 0; i < warmup; i++) s.run(feed);
                double[] ms = new double[iterations];
                for (int i = 0; i < iterations; i++) {
                    long t0 = System.nanoTime();
                    s.run(feed);
                    ms[i] = (System.nanoTime() - t0) / 1e6;
                }
                double[] sorted = ms.clone();
                Arrays.sort(sorted);
                double median = median(sorted);
                double mean = Arrays.stream(ms).average().orElse(Double.NaN);
                double p90 = sorted[Math.min(sorted.length - 1, (int) Math.ceil(0.9 * sorted.length) - 1)];
                if (Double.isNaN(first)) first = median;
                Map<String, Object> row = new LinkedHashMap<>();
                row.put("model", m.toString());
                Map<String, Object> fed = new LinkedHashMap<>();
                feed.forEach((k, v) -> fed.put(k, Arrays.stream(v.shape()).boxed().toList()));
                row.put("input_shapes", fed);
                row.put("median_ms", median);
                row.put("mean_ms", mean);
                row.put("p90_ms", p90);
                row.put("ratio_to_first", median / first);
                rows.add(row);
                o.printf(Locale.ROOT, "%-50s %10.2f %10.2f %10.2f %8.2f%n", shorten(m.toString()), median, mean, p90,
                        median / first);
            }
        }
        if (out != null) {
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("iterations", iterations);
            r.put("warmup", warmup);
            r.put("cores", Runtime.getRuntime().availableProcessors());
            r.put("results", rows);
            AtomicFiles.writeString(out, Json.write(r));
        }
        return 0;
    }

    /** {@code --shape} values by input name, in order. */
    static Map<String, long[]> parseShapes(List<String> specs) {
        Map<String, long[]> out = new LinkedHashMap<>();
        for (String spec : specs) {
            int at = spec.lastIndexOf('=');
            String name = at < 0 ? "" : spec.substring(0, at);
            String[] dims = at < 0 ? new String[0] : spec.substring(at + 1).split("x", -1);
            long[] shape = new long[dims.length];
            for (int i = 0; i < dims.length; i++) {
                try {
                    shape[i] = Long.parseLong(dims[i].trim());
                } catch (NumberFormatException e) {
                    shape[i] = -1;
                }
            }
            if (name.isEmpty() || dims.length == 0 || Arrays.stream(shape).anyMatch(d -> d < 1)) {
                throw new QuantbridgeException("--shape " + spec + ": give INPUT=DIMS, the dimensions positive"
                        + " integers joined by x (input=1x576; a scalar takes no --shape)");
            }
            if (out.put(name, shape) != null) {
                throw new QuantbridgeException("--shape: input '" + name + "' is given twice");
            }
        }
        return out;
    }

    /** The {@code --shape} of {@code in}, checked against its rank and fixed dimensions, or null. */
    private static long[] givenShape(TensorInfo in, Map<String, long[]> given, Path model) {
        long[] shape = given.get(in.name());
        if (shape == null) return null;
        String what = "--shape " + in.name() + "=" + dims(shape) + ": " + model.getFileName() + "'s input '"
                + in.name() + "' is " + in.shapeText();
        if (in.rankKnown() && in.shape().length != shape.length) {
            throw new QuantbridgeException(what + ", of rank " + in.shape().length);
        }
        if (in.rankKnown()) {
            for (int i = 0; i < shape.length; i++) {
                if (in.shape()[i] >= 0 && in.shape()[i] != shape[i]) {
                    throw new QuantbridgeException(what + ", whose dimension " + i + " is " + in.shape()[i]);
                }
            }
        }
        return shape.clone();
    }

    private static String dims(long[] shape) {
        return String.join("x", Arrays.stream(shape).mapToObj(Long::toString).toList());
    }

    private Map<String, FloatTensor> input(ModelSession s, Map<String, long[]> given, Path model) {
        if (data != null) {
            var samples = SampleSource.discover(data, "bench data", s.inputs()).samples();
            return SampleSource.load(samples.get(0), s.inputs(), preprocessing.build());
        }
        Map<String, FloatTensor> feed = new LinkedHashMap<>();
        Random rnd = new Random(0);
        var pre = preprocessing.build();
        List<String> names = s.inputs().stream().map(TensorInfo::name).toList();
        for (String name : given.keySet()) {
            if (!names.contains(name)) {
                throw new QuantbridgeException("--shape " + name + "=" + dims(given.get(name)) + ": "
                        + model.getFileName() + " has no input '" + name + "' (its inputs: "
                        + String.join(", ", names) + ")");
            }
        }
        for (TensorInfo in : s.inputs()) {
            long[] shape = givenShape(in, given, model);
            if (shape == null && !in.rankKnown()) {
                throw new QuantbridgeException("input '" + in.name() + "' " + in.shapeText() + " takes arrays of any"
                        + " rank, so bench cannot make one up: give --shape " + in.name() + "=DIMS or --data");
            }
            if (shape == null) shape = in.shape();
            for (int i = 0; i < shape.length; i++) {
                if (shape[i] >= 0) continue;
                if (i == 0) {
                    shape[i] = 1;
                } else if (shape.length == 4 && pre.width() > 0) {
                    boolean nchw = SampleSource.forImageInput(in, pre).layout() == io.quantbridge.data.Layout.NCHW;
                    shape[i] = (nchw ? i == 2 : i == 1) ? pre.height() : (nchw ? i == 3 : i == 2) ? pre.width() : 3;
                } else {
                    throw new QuantbridgeException("input '" + in.name() + "' has dynamic shape "
                            + Arrays.toString(in.shape()) + ": give " + (shape.length == 4 ? "--size WxH, " : "")
                            + "--shape " + in.name() + "=DIMS or --data");
                }
            }
            float[] v = new float[Math.toIntExact(FloatTensor.elementCount(shape))];
            switch (in.elementType()) {
                case "uint8" -> { for (int i = 0; i < v.length; i++) v[i] = rnd.nextInt(256); }
                case "int8" -> { for (int i = 0; i < v.length; i++) v[i] = rnd.nextInt(256) - 128; }
                case "bool" -> { for (int i = 0; i < v.length; i++) v[i] = rnd.nextInt(2); }
                case "int16", "int32", "int64", "uint16", "uint32", "uint64" -> { } // zeros: any index is in range
                default -> { for (int i = 0; i < v.length; i++) v[i] = (float) rnd.nextGaussian(); }
            }
            feed.put(in.name(), new FloatTensor(shape, v));
        }
        return feed;
    }

    private static String shorten(String s) {
        return s.length() <= 50 ? s : "..." + s.substring(s.length() - 47);
    }
}
