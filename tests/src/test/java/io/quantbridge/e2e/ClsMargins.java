package io.quantbridge.e2e;

import io.quantbridge.data.ImageLoader;
import io.quantbridge.onnx.runtime.OrtModelSession;
import io.quantbridge.tensor.FloatTensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** Experiment: FP32 margins of the cls crops on which int8 models (args[1..]) disagree with FP32. */
public final class ClsMargins {
    public static void main(String[] args) throws Exception {
        Path eval = Path.of(args[0]);
        OrtModelSession fp = OrtModelSession.open(RealModels.model("ch_ppocr_mobile_v2.0_cls_infer.onnx"), 1);
        OrtModelSession[] q = new OrtModelSession[args.length - 1];
        for (int i = 1; i < args.length; i++) q[i - 1] = OrtModelSession.open(Path.of(args[i]), 1);
        int[] below = new int[3];
        for (Path f : Files.list(eval).sorted().toList()) {
            FloatTensor x = TextCrops.tensor(ImageLoader.read(f));
            float[] a = fp.run(Map.of("x", x)).values().iterator().next().data();
            double margin = Math.abs(a[0] - a[1]);
            if (margin < 0.05) below[0]++;
            if (margin < 0.1) below[1]++;
            if (margin < 0.2) below[2]++;
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < q.length; i++) {
                float[] b = q[i].run(Map.of("x", x)).values().iterator().next().data();
                if ((a[0] > a[1]) != (b[0] > b[1])) sb.append(' ').append(args[i + 1]).append(String.format("(%.3f)", b[0]));
            }
            if (sb.length() > 0) System.out.printf("%s fp32 p0=%.3f flipped in%s%n", f.getFileName(), a[0], sb);
        }
        System.out.printf("fp32 margin < 0.05: %d, < 0.1: %d, < 0.2: %d%n", below[0], below[1], below[2]);
    }
}
