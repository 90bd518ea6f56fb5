package io.quantbridge.onnx;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;

/** Test inputs from the fetched opencv-doc photos, resized and normalised like the PaddleOCR pipelines. */
final class Photos {
    /** Photos with text: calibration uses the first ones, evaluation the last (held out). */
    static final List<String> TEXT = List.of("imageTextR.png", "text_motion.jpg", "sudoku.png", "notes.png",
            "imageTextN.png");

    static final float[] IMAGENET_MEAN = {0.485f, 0.456f, 0.406f};
    static final float[] IMAGENET_STD = {0.229f, 0.224f, 0.225f};
    static final float[] HALF = {0.5f, 0.5f, 0.5f};

    private Photos() { }

    static Path file(String name) {
        Path root = TestModels.repoRoot();
        Path f = root == null ? null : root.resolve(".cache/data/opencv").resolve(name);
        assumeTrue(f != null && Files.isRegularFile(f), "models not fetched: run scripts/fetch-models.sh");
        return f;
    }

    /** The photo resized to h x w as a [1,3,h,w] tensor: (rgb/255 - mean) / std. */
    static Ort.Input tensor(String name, int h, int w, float[] mean, float[] std) {
        try {
            BufferedImage src = ImageIO.read(file(name).toFile());
            BufferedImage dst = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
            Graphics2D g = dst.createGraphics();
            g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
            g.drawImage(src, 0, 0, w, h, null);
            g.dispose();
            float[] f = new float[3 * h * w];
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int rgb = dst.getRGB(x, y);
                    int[] c = {(rgb >> 16) & 0xff, (rgb >> 8) & 0xff, rgb & 0xff};
                    for (int k = 0; k < 3; k++) f[(k * h + y) * w + x] = (c[k] / 255f - mean[k]) / std[k];
                }
            }
            return new Ort.Input(f, new long[] {1, 3, h, w});
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Calibration batches (all text photos but the last) for input "x". */
    static List<Map<String, Ort.Input>> calibration(int h, int w, float[] mean, float[] std) {
        List<Map<String, Ort.Input>> l = new ArrayList<>();
        for (String n : TEXT.subList(0, TEXT.size() - 1)) l.add(Map.of("x", tensor(n, h, w, mean, std)));
        return l;
    }

    /** The held-out photo for input "x". */
    static Map<String, Ort.Input> heldOut(int h, int w, float[] mean, float[] std) {
        return Map.of("x", tensor(TEXT.get(TEXT.size() - 1), h, w, mean, std));
    }
}
