package io.quantbridge.cli;

import io.quantbridge.backend.ModelSession;
import io.quantbridge.data.DataSplit;
import io.quantbridge.data.SampleRef;
import io.quantbridge.data.SampleSource;
import io.quantbridge.eval.FidelityEvaluation;
import io.quantbridge.eval.OutputSlice;
import io.quantbridge.util.AtomicFiles;
import io.quantbridge.util.Json;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Compares a quantized model with its float reference on held-out data. */
@Command(name = "eval", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Compare a candidate (quantized) model with the float reference on held-out data: pooled "
                + "cosine, SQNR (dB), max abs error per output, and mask IoU or top-1 agreement when asked.")
final class EvalCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "FILE", description = "The float reference model.")
    Path model;

    @Option(names = "--candidate", required = true, paramLabel = "FILE", description = "The model to judge.")
    Path candidate;

    @Option(names = "--data", required = true, paramLabel = "DIR|FILE", description = "Held-out inputs.")
    Path data;

    @Option(names = "--backend", paramLabel = "ID", description = "Backend that runs both models.")
    String backend;

    @CommandLine.Mixin
    PreprocessingOptions preprocessing = new PreprocessingOptions();

    @Option(names = "--samples", paramLabel = "N", defaultValue = "0", description = "At most N samples (0 = all).")
    int samples;

    @Option(names = "--seed", paramLabel = "N", defaultValue = "0", description = "Seed for choosing --samples.")
    long seed;

    @Option(names = "--mask-threshold", paramLabel = "T", description = "Also report mask IoU at this threshold.")
    Double maskThreshold;

    @Option(names = "--top1", description = "Also report top-1 agreement over the last axis.")
    boolean top1;

    @Option(names = "--slice", paramLabel = "OUTPUT:AXIS:FROM:TO[=NAME]",
            description = "Also judge indices FROM..TO-1 of an output's axis on their own, e.g. the class scores of a"
                    + " YOLOv8 output: output0:1:4:84=scores. Repeatable.")
    java.util.List<String> slices = new java.util.ArrayList<>();

    @Option(names = "--boxes", paramLabel = "KIND[,key=value]...",
            description = "Also decode an output into boxes and report box recall and precision against the float"
                    + " model's boxes: mask[,threshold=0.3,box-score=0.6,min-side=3] (regions of a probability map, as"
                    + " DBNet's post-processing finds text) or yolo[,score=0.25,nms=0.7,max=300] ([N, 4 + classes,"
                    + " anchors]); output=NAME picks the output, match=IOU the matching IoU (0.5). Repeatable.")
    List<String> boxes = new java.util.ArrayList<>();

    @Option(names = "--threads", paramLabel = "N", defaultValue = "0", description = "Worker threads (0 = cores).")
    int threads;

    @Option(names = "--out", paramLabel = "FILE", description = "Also write the result as JSON.")
    Path out;

    @Option(names = "--quiet", description = "No progress output.")
    boolean quiet;

    @Option(names = "--verbose", description = "Stack traces on failure.")
    boolean verbose;

    @Override
    public Integer call() {
        SampleSource.discover(data, SampleSource.EVALUATION); // a wrong path fails before any model is loaded
        ConsoleProgress progress = new ConsoleProgress(spec.commandLine().getErr(), quiet);
        Map<String, Map<String, Object>> fidelity;
        List<SampleRef> chosen;
        try (ModelSession ref = Sessions.open(model, backend); ModelSession cand = Sessions.open(candidate, backend)) {
            chosen = DataSplit.cap(SampleSource.discover(data, SampleSource.EVALUATION, ref.inputs()).samples(), seed,
                    samples);
            fidelity = FidelityEvaluation.run(ref, cand, chosen, preprocessing.build(),
                    new FidelityEvaluation.Metrics(maskThreshold, top1,
                            slices.stream().map(OutputSlice::parse).toList(),
                            boxes.stream().map(io.quantbridge.eval.BoxDecoder::parse).toList()),
                    threads > 0 ? threads : Runtime.getRuntime().availableProcessors(), progress);
        }
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("model", model.toString());
        result.put("candidate", candidate.toString());
        result.put("samples", chosen.size());
        result.put("fidelity", fidelity);
        if (out != null) AtomicFiles.writeString(out, Json.write(result));
        QuantizeCommand.printFidelity(spec.commandLine().getOut(), fidelity);
        return 0;
    }
}
