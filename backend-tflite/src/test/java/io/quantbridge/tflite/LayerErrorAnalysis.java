package io.quantbridge.tflite;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.quantbridge.data.Layout;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.data.SampleRef;
import io.quantbridge.data.SampleSource;
import io.quantbridge.tensor.FloatTensor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.tensorflow.lite.schema.OperatorT;

/**
 * Not a test: a per-tensor error analysis run by hand. Runs the float model and a quantized candidate with every
 * tensor preserved (TFLite kernels, no delegate) on the same samples and prints, for each activation the two share by
 * name, in the candidate's op order, the cosine and SQNR of candidate against float accumulated over the samples.
 *
 * <pre>
 * ./mvnw -B -o -pl backend-tflite test -Dtest=LayerErrorAnalysis -Dqb.float=F.tflite -Dqb.candidate=Q.tflite \
 *     -Dqb.data=DIR [-Dqb.samples=16] [-Dqb.scale=0.0078431] [-Dqb.mean=1,1,1] [-Dqb.std=1,1,1]
 * </pre>
 */
class LayerErrorAnalysis {
    @Test
    void analyze() {
        String f = System.getProperty("qb.float");
        assumeTrue(f != null, "set -Dqb.float, -Dqb.candidate and -Dqb.data to run the analysis");
        Path floatModel = Path.of(f);
        Path candidate = Path.of(System.getProperty("qb.candidate"));
        Path data = Path.of(System.getProperty("qb.data"));
        int samples = Integer.getInteger("qb.samples", 16);
        Preprocessing.Builder pb = Preprocessing.builder().layout(Layout.NHWC)
                .scale(Double.parseDouble(System.getProperty("qb.scale", String.valueOf(1 / 255.0))));
        if (System.getProperty("qb.mean") != null) pb.mean(doubles(System.getProperty("qb.mean")));
        if (System.getProperty("qb.std") != null) pb.std(doubles(System.getProperty("qb.std")));
        Preprocessing pre = pb.build();
        List<SampleRef> refs = SampleSource.discover(data).samples();
        int stride = Math.max(1, refs.size() / samples);
        TfliteSession.Options opts = new TfliteSession.Options(1, false, true);
        try (TfliteSession fs = TfliteSession.open(floatModel, opts);
             TfliteSession qs = TfliteSession.open(candidate, opts)) {
            TfliteModel fm = fs.model();
            TfliteModel qm = qs.model();
            Map<String, Integer> floatByName = new HashMap<>();
            for (int t = 0; t < fm.main().getTensors().length; t++) floatByName.put(fm.tensor(t).getName(), t);
            List<int[]> pairs = new ArrayList<>();
            List<String> labels = new ArrayList<>();
            List<OperatorT> ops = qm.operators();
            for (int i = 0; i < ops.size(); i++) {
                for (int o : ops.get(i).getOutputs()) {
                    String name = qm.tensor(o).getName();
                    Integer ft = floatByName.get(name);
                    if (ft == null || fm.isConstant(ft)) continue;
                    pairs.add(new int[] {ft, o});
                    var q = qm.tensor(o).getQuantization();
                    String scale = q != null && q.getScale() != null && q.getScale().length == 1
                            ? String.format(Locale.ROOT, "s=%.4g zp=%d", q.getScale()[0], q.getZeroPoint()[0]) : "";
                    String shortName = name.length() > 70 ? "..." + name.substring(name.length() - 67) : name;
                    labels.add(String.format(Locale.ROOT, "%4d %-18s|%-22s|%s", i, qm.opName(ops.get(i)), scale,
                            shortName));
                }
            }
            double[][] acc = new double[pairs.size()][4];
            double[][] chanMax = new double[pairs.size()][];
            double[][] range = new double[pairs.size()][2];
            for (double[] r : range) {
                r[0] = Double.MAX_VALUE;
                r[1] = -Double.MAX_VALUE;
            }
            int n = 0;
            for (int s = 0; s < refs.size() && n < samples; s += stride, n++) {
                Map<String, FloatTensor> feed = SampleSource.load(refs.get(s), fs.inputs(), pre);
                fs.run(feed);
                qs.run(feed);
                for (int k = 0; k < pairs.size(); k++) {
                    float[] a = fs.tensorAsFloat(pairs.get(k)[0]);
                    float[] b = qs.tensorAsFloat(pairs.get(k)[1]);
                    if (a == null || b == null || a.length != b.length) continue;
                    int[] shape = fm.tensor(pairs.get(k)[0]).getShape();
                    int ch = shape.length == 4 ? shape[3] : 1;
                    if (chanMax[k] == null) chanMax[k] = new double[ch];
                    for (int i = 0; i < a.length; i++) {
                        chanMax[k][i % ch] = Math.max(chanMax[k][i % ch], Math.abs(a[i]));
                    }
                    for (int i = 0; i < a.length; i++) {
                        acc[k][0] += (double) a[i] * b[i];
                        acc[k][1] += (double) a[i] * a[i];
                        acc[k][2] += (double) b[i] * b[i];
                        double d = a[i] - b[i];
                        acc[k][3] += d * d;
                        range[k][0] = Math.min(range[k][0], a[i]);
                        range[k][1] = Math.max(range[k][1], a[i]);
                    }
                }
            }
            System.out.printf(Locale.ROOT, "%d samples; cosine and SQNR of each tensor, candidate vs float%n", n);
            for (int k = 0; k < pairs.size(); k++) {
                double cos = acc[k][0] / Math.sqrt(acc[k][1] * acc[k][2] + 1e-30);
                double sqnr = 10 * Math.log10(acc[k][1] / (acc[k][3] + 1e-30));
                String[] l = labels.get(k).split("\\|", 3);
                String spread = "";
                if (chanMax[k] != null && chanMax[k].length > 1) {
                    double[] c = chanMax[k].clone();
                    java.util.Arrays.sort(c);
                    spread = String.format(Locale.ROOT, "ch max/median %5.1f", c[c.length - 1] / Math.max(1e-12,
                            c[c.length / 2]));
                }
                l[1] = spread + " " + l[1];
                System.out.printf(Locale.ROOT, "%s cos=%.5f sqnr=%6.2f float[%9.3g, %9.3g] %s %s%n", l[0], cos, sqnr,
                        range[k][0], range[k][1], l[1], l[2]);
            }
        }
    }

    private static double[] doubles(String s) {
        String[] p = s.split(",");
        double[] d = new double[p.length];
        for (int i = 0; i < p.length; i++) d[i] = Double.parseDouble(p[i].trim());
        return d;
    }
}
