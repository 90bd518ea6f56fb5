package io.quantbridge.cli;

import io.quantbridge.eval.BoxDecoder;
import io.quantbridge.eval.FidelityEvaluation;
import io.quantbridge.eval.OutputSigmoid;
import io.quantbridge.eval.OutputSlice;
import io.quantbridge.eval.OutputView;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/** What evaluation measures besides cosine, SQNR and max error: options shared by quantize (with --eval) and eval. */
final class FidelityOptions {
    @Option(names = "--mask-threshold", paramLabel = "T",
            description = "Also report text/segmentation mask IoU at this threshold (quantize: with --eval).")
    Double maskThreshold;

    @Option(names = "--top1", description = "Also report top-1 agreement over the last axis, overall and per class"
            + " of the float model (quantize: with --eval).")
    boolean top1;

    @Option(names = "--slice", paramLabel = "OUTPUT:AXIS:FROM:TO[=NAME]",
            description = "Also judge indices FROM..TO-1 of an output's axis on their own, e.g. the class scores of a"
                    + " YOLOv8 output: output0:1:4:84=scores (quantize: with --eval). Repeatable.")
    List<String> slices = new ArrayList<>();

    @Option(names = "--sigmoid", paramLabel = "OUTPUT[=NAME]",
            description = "Also judge the sigmoid of an output (or of a --slice NAME) that holds logits: the"
                    + " probabilities an application reads, with their mask IoU at --mask-threshold (0.5 when not"
                    + " given), e.g. a segmentation map: Identity_2=segmentation (quantize: with --eval). Repeatable.")
    List<String> sigmoids = new ArrayList<>();

    @Option(names = "--boxes", paramLabel = "KIND[,key=value]...",
            description = "Also decode an output into boxes and report box recall and precision against the float"
                    + " model's boxes: mask[,threshold=0.3,box-score=0.6,min-side=3] (regions of a probability map, as"
                    + " DBNet's post-processing finds text), yolo[,score=0.25,nms=0.7,max=300] ([N, 4 + classes,"
                    + " anchors]) or anchors[,strides=8:16:16:16,per-layer=2,score=0.5,nms=0.3,size=WxH,scores=NAME]"
                    + " (MediaPipe's SSD heads); output=NAME picks the output, match=IOU the matching IoU (0.5)"
                    + " (quantize: with --eval). Repeatable.")
    List<String> boxes = new ArrayList<>();

    @Option(names = "--labels", paramLabel = "FILE",
            description = "Class names, one per line (line 1 is class 0), for the per-class entries of --top1 and"
                    + " --boxes.")
    java.nio.file.Path labels;

    /** The names in {@code --labels}, or none. */
    List<String> labelNames() {
        if (labels == null) return List.of();
        io.quantbridge.util.InputFiles.require(labels, "--labels");
        List<String> lines;
        try {
            lines = new ArrayList<>(java.nio.file.Files.readAllLines(labels, java.nio.charset.StandardCharsets.UTF_8));
        } catch (java.io.IOException | java.io.UncheckedIOException e) {
            throw new io.quantbridge.QuantbridgeException("--labels " + labels + ": cannot read it (" + e + ")");
        }
        while (!lines.isEmpty() && lines.get(lines.size() - 1).isBlank()) lines.remove(lines.size() - 1);
        if (lines.isEmpty()) throw new io.quantbridge.QuantbridgeException("--labels " + labels + " holds no names");
        return lines.stream().map(String::strip).toList();
    }

    /** The --slice views, then the --sigmoid ones (which may name a slice). */
    List<OutputView> outputViews() {
        List<OutputView> views = new ArrayList<>();
        slices.stream().map(OutputSlice::parse).forEach(views::add);
        sigmoids.stream().map(OutputSigmoid::parse).forEach(views::add);
        return views;
    }

    List<BoxDecoder> boxDecoders() {
        return boxes.stream().map(BoxDecoder::parse).toList();
    }

    FidelityEvaluation.Metrics metrics() {
        return new FidelityEvaluation.Metrics(maskThreshold, top1, outputViews(), boxDecoders(), labelNames());
    }
}
