package io.quantbridge.cli;

import io.quantbridge.table.CalibrationTable;
import io.quantbridge.table.PortableTableFormat;
import io.quantbridge.table.TensorRange;
import io.quantbridge.table.TensorRtCache;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** Describes a model, a portable calibration table, a TensorRT calibration cache or a quantize report. */
@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = "Describe a model (inputs, outputs, operators, quantization), a calibration table (.json), a "
                + "TensorRT calibration cache (.cache) or a quantize report (report.json).")
final class InspectCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Parameters(paramLabel = "FILE", description = "The file to describe.")
    Path file;

    @Option(names = "--backend", paramLabel = "ID", description = "Backend that reads the model.")
    String backend;

    @Option(names = "--verbose", description = "Stack traces on failure.")
    boolean verbose;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        if (name.endsWith(".json") && ReportSummary.isReport(file)) {
            ReportSummary.print(out, file);
        } else if (name.endsWith(".json")) {
            CalibrationTable t = PortableTableFormat.read(file);
            out.println("calibration table " + file);
            out.println("model sha256: " + (t.modelSha256() == null ? "unknown" : t.modelSha256()));
            out.println("calibrator:   " + (t.calibrator() == null ? "unknown" : t.calibrator().toMap()));
            out.println("data:         " + t.data());
            printRanges(out, t);
        } else if (name.endsWith(".cache") || name.endsWith(".calib")) {
            TensorRtCache.Contents c = TensorRtCache.read(file);
            out.println("TensorRT calibration cache " + file);
            out.println("version " + c.version() + ", algorithm " + c.algorithm());
            printRanges(out, c.table());
        } else {
            out.print(Sessions.backendFor(file, backend, spec.commandLine().getErr(), "inspecting it with")
                    .inspect(file));
        }
        return 0;
    }

    private static void printRanges(PrintWriter out, CalibrationTable t) {
        out.printf(Locale.ROOT, "%d tensors%n%-48s %12s %12s %12s %12s%n", t.tensors().size(), "TENSOR", "AMAX",
                "SCALE", "MIN", "MAX");
        for (TensorRange r : t.tensors().values()) {
            out.printf(Locale.ROOT, "%-48s %12.6g %12.6g %12.6g %12.6g%n", r.name(), r.amax(), r.scale(), r.min(),
                    r.max());
        }
    }
}
