import io.quantbridge.data.DataSplit;
import io.quantbridge.data.ImageLoader;
import io.quantbridge.data.Layout;
import io.quantbridge.data.NpyFile;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.data.SampleRef;
import io.quantbridge.data.SampleSource;
import io.quantbridge.tensor.FloatTensor;
import java.awt.image.BufferedImage;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes the exact model inputs quantbridge would compute from images, as .npy files, so that every peer (and
 * quantbridge itself, fed the same folders) sees bit-identical tensors. Uses quantbridge's own DataSplit, ImageLoader
 * and NpyFile from the built CLI's class path; run with the single-file source launcher:
 *
 * <pre>java -cp 'quantbridge-cli/target/lib/*' tests/bench/compare/DumpInputs.java MODE DATA OUT SEED NCALIB W H
 *      SCALE MEAN STD LAYOUT [EXTRA_EVAL_DIR]</pre>
 *
 * MODE {@code images}: DataSplit.split(DATA, SEED, NCALIB) exactly as {@code quantize --calib D --eval D} does; each
 * image resized to WxH. MODE {@code strips}: same photo split, but each photo gives text-line-shaped crops
 * (aspect W:H) resized to WxH: the calibration set gets the centre strip of each calibration photo (every other one
 * rotated by 180 degrees), the evaluation set three strips (top, centre, bottom) of each evaluation photo and of every
 * photo in EXTRA_EVAL_DIR, each upright and rotated. MODE {@code textlines} (the recogniser): the text lines that
 * the float PaddleOCR detector (EXTRA = the detector .onnx) finds in the photos, cut and padded to WxH exactly as
 * issue 3's acceptance test does, with its photo split: PpocrClsRecAcceptanceTest's REC_CALIB photos calibrate, the
 * lines of REC_EVAL evaluate (SEED and NCALIB are not used: the split is the test's, by photo). The test's own
 * TextCrops and photo lists are called from tests/target/test-classes (add it to the class path), so the crops cannot
 * drift from the acceptance test's. Writes OUT/calib/*.npy, OUT/eval/*.npy and OUT/split.json.
 */
public class DumpInputs {
    public static void main(String[] a) throws Exception {
        String mode = a[0];
        Path data = Path.of(a[1]);
        Path out = Path.of(a[2]);
        long seed = Long.parseLong(a[3]);
        int nCalib = Integer.parseInt(a[4]);
        int w = Integer.parseInt(a[5]);
        int h = Integer.parseInt(a[6]);
        double scale = parse(a[7]);
        double[] mean = triple(a[8]);
        double[] std = triple(a[9]);
        Layout layout = Layout.valueOf(a[10].toUpperCase());
        Path extra = a.length > 11 ? Path.of(a[11]) : null;
        Preprocessing pre = Preprocessing.builder().size(w, h).scale(scale).mean(mean).std(std).layout(layout).build();

        DataSplit split = DataSplit.split(SampleSource.discover(data).samples(), seed, nCalib);
        Path calibDir = Files.createDirectories(out.resolve("calib"));
        Path evalDir = Files.createDirectories(out.resolve("eval"));
        List<String> calibIds = new ArrayList<>();
        List<String> evalIds = new ArrayList<>();
        if (mode.equals("images")) {
            for (SampleRef s : split.calibration()) {
                NpyFile.write(calibDir.resolve(s.id() + ".npy"), ImageLoader.load(s.files().get(0), pre));
                calibIds.add(s.id());
            }
            for (SampleRef s : split.evaluation()) {
                NpyFile.write(evalDir.resolve(s.id() + ".npy"), ImageLoader.load(s.files().get(0), pre));
                evalIds.add(s.id());
            }
        } else if (mode.equals("strips")) {
            int i = 0;
            for (SampleRef s : split.calibration()) {
                boolean rot = (i++ % 2) == 1;
                String id = s.id() + ".c" + (rot ? ".r180" : "");
                FloatTensor t = strip(ImageLoader.read(s.files().get(0)), 1, pre, s.id());
                NpyFile.write(calibDir.resolve(id + ".npy"), rot ? rotate180(t, layout) : t);
                calibIds.add(id);
            }
            List<SampleRef> evalPhotos = new ArrayList<>(split.evaluation());
            if (extra != null) evalPhotos.addAll(SampleSource.discover(extra).samples());
            for (SampleRef s : evalPhotos) {
                BufferedImage img;
                try {
                    img = ImageLoader.read(s.files().get(0));
                } catch (RuntimeException e) { // e.g. skimage's deliberately truncated.jpg
                    System.out.println("skipped " + s.files().get(0) + ": " + e.getMessage());
                    continue;
                }
                for (int pos = 0; pos < 3; pos++) {
                    FloatTensor t = strip(img, pos, pre, s.id());
                    String id = s.id() + ".s" + pos;
                    NpyFile.write(evalDir.resolve(id + ".npy"), t);
                    NpyFile.write(evalDir.resolve(id + ".r180.npy"), rotate180(t, layout));
                    evalIds.add(id);
                    evalIds.add(id + ".r180");
                }
            }
        } else if (mode.equals("textlines")) {
            textLines(data, extra, pre, w, h, calibDir, evalDir, calibIds, evalIds);
        } else {
            throw new IllegalArgumentException("mode " + mode);
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("seed", seed);
        m.put("calibration", calibIds);
        m.put("evaluation", evalIds);
        StringBuilder sb = new StringBuilder("{\"mode\": \"" + mode + "\", \"seed\": " + seed + ", \"preprocessing\": \""
                + pre + "\",\n \"calibration\": [");
        join(sb, calibIds);
        sb.append("],\n \"evaluation\": [");
        join(sb, evalIds);
        sb.append("]}\n");
        Files.writeString(out.resolve("split.json"), sb.toString());
        System.out.println(mode + ": " + calibIds.size() + " calibration and " + evalIds.size()
                + " evaluation tensors in " + out);
    }

    /**
     * The recogniser's lines as PpocrClsRecAcceptanceTest.writeCrops makes them (TextCrops.detect with the long side
     * at most 960 and boxes under 10 px dropped, TextCrops.crop, TextCrops.canvas squeezed to WxH), through reflection
     * on the test classes (package-private there).
     */
    @SuppressWarnings("unchecked")
    static void textLines(Path photos, Path detModel, Preprocessing pre, int w, int h, Path calibDir, Path evalDir,
            List<String> calibIds, List<String> evalIds) throws Exception {
        if (detModel == null) throw new IllegalArgumentException("textlines needs the detector model as EXTRA");
        Class<?> test = Class.forName("io.quantbridge.e2e.PpocrClsRecAcceptanceTest");
        Class<?> crops = Class.forName("io.quantbridge.e2e.TextCrops");
        Class<?> box = Class.forName("io.quantbridge.e2e.TextCrops$Box");
        List<String> recCalib = (List<String>) field(test, "REC_CALIB");
        String recEval = (String) field(test, "REC_EVAL");
        int maxSide = (Integer) field(test, "DET_MAX_SIDE");
        int minH = (Integer) field(test, "MIN_H");
        if (w != (Integer) field(test, "REC_W") || h != (Integer) field(test, "H")) {
            throw new IllegalArgumentException("the acceptance test's lines are " + field(test, "REC_W") + "x"
                    + field(test, "H"));
        }
        Class<?> session = Class.forName("io.quantbridge.onnx.runtime.OrtModelSession");
        Method detect = method(crops, "detect", session, BufferedImage.class, int.class, int.class);
        Method crop = method(crops, "crop", BufferedImage.class, box);
        Method canvas = method(crops, "canvas", BufferedImage.class, int.class, int.class, boolean.class);
        List<String> all = new ArrayList<>(recCalib);
        all.add(recEval);
        try (AutoCloseable det = (AutoCloseable) session.getMethod("open", Path.class, int.class)
                .invoke(null, detModel, 2)) {
            for (String name : all) {
                BufferedImage img = ImageLoader.read(photos.resolve(name));
                List<Object> boxes = (List<Object>) detect.invoke(null, det, img, maxSide, minH);
                String stem = name.replaceAll("\\.[a-z]+$", "");
                boolean isEval = name.equals(recEval);
                for (int i = 0; i < boxes.size(); i++) {
                    BufferedImage line = (BufferedImage) canvas.invoke(null, crop.invoke(null, img, boxes.get(i)), w,
                            h, true);
                    String id = String.format("%s_%02d", stem, i);
                    // TextCrops.tensor: (x/255 - 0.5) / 0.5, RGB, NCHW, no resize (the canvas has the size)
                    NpyFile.write((isEval ? evalDir : calibDir).resolve(id + ".npy"),
                            ImageLoader.toTensor(line, pre, id));
                    (isEval ? evalIds : calibIds).add(id);
                }
            }
        }
    }

    static Object field(Class<?> c, String name) throws Exception {
        Field f = c.getDeclaredField(name);
        f.setAccessible(true);
        return f.get(null);
    }

    static Method method(Class<?> c, String name, Class<?>... types) throws Exception {
        Method m = c.getDeclaredMethod(name, types);
        m.setAccessible(true);
        return m;
    }

    /** A crop with the output's aspect ratio spanning the full width: pos 0 top, 1 centre, 2 bottom. */
    static FloatTensor strip(BufferedImage img, int pos, Preprocessing pre, String src) {
        int iw = img.getWidth();
        int ih = img.getHeight();
        int cw = iw;
        int ch = (int) Math.round((double) iw * pre.height() / pre.width());
        if (ch > ih) {
            ch = ih;
            cw = Math.min(iw, (int) Math.round((double) ih * pre.width() / pre.height()));
        }
        int x = (iw - cw) / 2;
        int y = pos == 0 ? 0 : pos == 1 ? (ih - ch) / 2 : ih - ch;
        return ImageLoader.toTensor(img.getSubimage(x, y, cw, ch), pre, src);
    }

    static FloatTensor rotate180(FloatTensor t, Layout layout) {
        long[] s = t.shape();
        float[] d = t.data();
        float[] r = new float[d.length];
        if (layout == Layout.NCHW) {
            int c = (int) s[1], hh = (int) s[2], ww = (int) s[3];
            for (int k = 0; k < c; k++)
                for (int y = 0; y < hh; y++)
                    for (int x = 0; x < ww; x++)
                        r[(k * hh + (hh - 1 - y)) * ww + (ww - 1 - x)] = d[(k * hh + y) * ww + x];
        } else {
            int hh = (int) s[1], ww = (int) s[2], c = (int) s[3];
            for (int y = 0; y < hh; y++)
                for (int x = 0; x < ww; x++)
                    for (int k = 0; k < c; k++)
                        r[((hh - 1 - y) * ww + (ww - 1 - x)) * c + k] = d[(y * ww + x) * c + k];
        }
        return new FloatTensor(s, r);
    }

    static void join(StringBuilder sb, List<String> ids) {
        for (int i = 0; i < ids.size(); i++) sb.append(i == 0 ? "" : ", ").append('"').append(ids.get(i)).append('"');
    }

    static double parse(String v) {
        if (v.contains("/")) {
            String[] p = v.split("/");
            return Double.parseDouble(p[0]) / Double.parseDouble(p[1]);
        }
        return Double.parseDouble(v);
    }

    static double[] triple(String v) {
        String[] p = v.split(",");
        double[] r = new double[p.length];
        for (int i = 0; i < p.length; i++) r[i] = Double.parseDouble(p[i]);
        return r;
    }
}
