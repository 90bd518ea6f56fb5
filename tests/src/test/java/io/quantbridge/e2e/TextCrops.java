package io.quantbridge.e2e;

import io.quantbridge.data.ImageLoader;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.onnx.runtime.OrtModelSession;
import io.quantbridge.tensor.FloatTensor;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.AffineTransform;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;

/**
 * Real text crops for the PaddleOCR classifier and recogniser tests, found by the float PaddleOCR detector: a small
 * Java version of PaddleOCR's DB post-processing (threshold the probability map, connected components, box score,
 * unclip) with axis-aligned boxes, and PaddleOCR's resize-and-pad of a crop to the classifier / recogniser input.
 *
 * <p>Padding is mid-gray 128: after {@code (x/255 - 0.5) / 0.5} that is ~0, which is what PaddleOCR pads with (it
 * pads the normalised tensor with zeros).
 */
final class TextCrops {
    private TextCrops() { }

    /** Pad value of the canvases (R = G = B). */
    static final int PAD = 128;

    /**
     * A text box in original image pixels: a rectangle of {@code width x height} centred at {@code (cx, cy)}, its
     * width along the direction {@code angle} (radians, clockwise from the x axis since y grows downwards);
     * {@code score} is the mean text probability of its pixels.
     */
    record Box(double cx, double cy, double width, double height, double angle, double score) { }

    /** PaddleOCR's DB defaults: binarisation threshold, box score threshold, unclip ratio, minimum box side. */
    static final double MASK_THRESHOLD = 0.3;
    static final double BOX_THRESHOLD = 0.6;
    static final double UNCLIP_RATIO = 1.5;
    static final int MIN_SIDE = 3;

    /**
     * Runs the float detector on {@code img} resized like PaddleOCR (aspect kept, long side at most {@code maxSide},
     * sides rounded to multiples of 32) and returns the text boxes in original pixels, top to bottom, then left to
     * right. Each box is the component's oriented rectangle (its axis from the second moments of the component's
     * pixels, so slanted lines get slanted boxes), unclipped like DB; boxes whose height in the original is below
     * {@code minHeight} are dropped.
     */
    static List<Box> detect(OrtModelSession det, BufferedImage img, int maxSide, int minHeight) {
        int w = img.getWidth();
        int h = img.getHeight();
        double r = Math.min(1.0, (double) maxSide / Math.max(w, h));
        int mw = Math.max(32, (int) Math.round(w * r / 32.0) * 32);
        int mh = Math.max(32, (int) Math.round(h * r / 32.0) * 32);
        Preprocessing p = Preprocessing.builder().size(mw, mh).mean(0.485, 0.456, 0.406).std(0.229, 0.224, 0.225)
                .build();
        FloatTensor x = ImageLoader.toTensor(img, p, "detector input");
        String in = det.inputs().get(0).name();
        FloatTensor map = det.run(Map.of(in, x)).values().iterator().next();
        float[] prob = map.data();
        int mapH = (int) map.dim(2);
        int mapW = (int) map.dim(3);
        double sx = (double) w / mapW;
        double sy = (double) h / mapH;

        boolean[] seen = new boolean[mapW * mapH];
        int[] stack = new int[mapW * mapH];
        int[] members = new int[mapW * mapH];
        List<Box> boxes = new ArrayList<>();
        for (int start = 0; start < prob.length; start++) {
            if (seen[start] || prob[start] <= MASK_THRESHOLD) continue;
            // 8-connected component by depth-first search
            int top = 0;
            int count = 0;
            stack[top++] = start;
            seen[start] = true;
            double sum = 0;
            double mx = 0;
            double my = 0;
            while (top > 0) {
                int i = stack[--top];
                members[count++] = i;
                int cx = i % mapW;
                int cy = i / mapW;
                sum += prob[i];
                mx += cx;
                my += cy;
                for (int dy = -1; dy <= 1; dy++) {
                    int ny = cy + dy;
                    if (ny < 0 || ny >= mapH) continue;
                    for (int dx = -1; dx <= 1; dx++) {
                        int nx = cx + dx;
                        if (nx < 0 || nx >= mapW) continue;
                        int j = ny * mapW + nx;
                        if (!seen[j] && prob[j] > MASK_THRESHOLD) {
                            seen[j] = true;
                            stack[top++] = j;
                        }
                    }
                }
            }
            double score = sum / count;
            if (count < MIN_SIDE * MIN_SIDE || score < BOX_THRESHOLD) continue;
            // orientation from the second moments (in original-pixel units, so that anisotropic scaling is right)
            mx /= count;
            my /= count;
            double cxx = 0;
            double cyy = 0;
            double cxy = 0;
            for (int k = 0; k < count; k++) {
                double dx = (members[k] % mapW - mx) * sx;
                double dy = (members[k] / mapW - my) * sy;
                cxx += dx * dx;
                cyy += dy * dy;
                cxy += dx * dy;
            }
            double angle = 0.5 * Math.atan2(2 * cxy, cxx - cyy);
            double ux = Math.cos(angle);
            double uy = Math.sin(angle);
            double umin = Double.MAX_VALUE;
            double umax = -Double.MAX_VALUE;
            double vmin = Double.MAX_VALUE;
            double vmax = -Double.MAX_VALUE;
            for (int k = 0; k < count; k++) {
                // pixel centre in original pixels; each map pixel covers sx x sy
                double px = (members[k] % mapW + 0.5) * sx;
                double py = (members[k] / mapW + 0.5) * sy;
                double u = px * ux + py * uy;
                double v = -px * uy + py * ux;
                umin = Math.min(umin, u);
                umax = Math.max(umax, u);
                vmin = Math.min(vmin, v);
                vmax = Math.max(vmax, v);
            }
            double half = 0.5 * Math.max(sx, sy);
            double bw = umax - umin + 2 * half;
            double bh = vmax - vmin + 2 * half;
            if (Math.min(bw, bh) < MIN_SIDE * Math.max(sx, sy)) continue;
            // DB unclip of a rectangle: offset by area * ratio / perimeter on every side
            double d = bw * bh * UNCLIP_RATIO / (2.0 * (bw + bh));
            double uc = (umin + umax) / 2;
            double vc = (vmin + vmax) / 2;
            double bx = uc * ux - vc * uy;
            double by = uc * uy + vc * ux;
            // the major axis of a single tall glyph is vertical: turn such boxes by 90 degrees so that text is
            // always read within 45 degrees of horizontal (like PaddleOCR's turn of tall crops)
            Box b = Math.abs(angle) <= Math.PI / 4
                    ? new Box(bx, by, bw + 2 * d, bh + 2 * d, angle, score)
                    : new Box(bx, by, bh + 2 * d, bw + 2 * d, angle - Math.signum(angle) * Math.PI / 2, score);
            if (Math.min(b.width(), b.height()) < minHeight) continue;
            boxes.add(b);
        }
        // reading order: rows of boxes whose centres are within half a box height, then left to right
        boxes.sort(Comparator.comparingDouble(Box::cy));
        List<Box> ordered = new ArrayList<>();
        int i = 0;
        while (i < boxes.size()) {
            int j = i + 1;
            while (j < boxes.size() && boxes.get(j).cy() - boxes.get(i).cy() < boxes.get(i).height() / 2) j++;
            List<Box> row = new ArrayList<>(boxes.subList(i, j));
            row.sort(Comparator.comparingDouble(Box::cx));
            ordered.addAll(row);
            i = j;
        }
        return ordered;
    }

    /**
     * The box's pixels as an upright RGB image (bilinear; outside the photo is white; palette, gray and alpha images
     * are drawn onto white), like PaddleOCR's get_rotate_crop_image.
     */
    static BufferedImage crop(BufferedImage img, Box b) {
        int cw = Math.max(1, (int) Math.round(b.width()));
        int ch = Math.max(1, (int) Math.round(b.height()));
        BufferedImage out = new BufferedImage(cw, ch, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, cw, ch);
        g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
        // crop pixel (u, v) shows the photo at centre + R(angle) (u - cw/2, v - ch/2); draw the photo with the inverse
        AffineTransform t = new AffineTransform();
        t.translate(cw / 2.0, ch / 2.0);
        t.rotate(-b.angle());
        t.translate(-b.cx(), -b.cy());
        g.drawImage(img, t, null);
        g.dispose();
        return out;
    }

    static BufferedImage rotate180(BufferedImage src) {
        int w = src.getWidth();
        int h = src.getHeight();
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                out.setRGB(w - 1 - x, h - 1 - y, src.getRGB(x, y));
            }
        }
        return out;
    }

    /**
     * The crop scaled to height {@code height} with its aspect kept and pasted left-aligned on a
     * {@code width x height} canvas of {@link #PAD}. A crop wider than the canvas is squeezed to {@code width} when
     * {@code squeezeWide} (PaddleOCR's resize_norm_img), else cut at the canvas' right edge.
     */
    static BufferedImage canvas(BufferedImage crop, int width, int height, boolean squeezeWide) {
        double ratio = (double) crop.getWidth() / crop.getHeight();
        int rw = Math.max(1, (int) Math.ceil(height * ratio));
        if (squeezeWide) rw = Math.min(width, rw);
        BufferedImage out = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        g.setColor(new Color(PAD, PAD, PAD));
        g.fillRect(0, 0, width, height);
        g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
        g.setRenderingHint(RenderingHints.KEY_RENDERING, RenderingHints.VALUE_RENDER_QUALITY);
        g.drawImage(crop, 0, 0, rw, height, null);
        g.dispose();
        return out;
    }

    static void writePng(BufferedImage img, Path file) {
        try {
            if (!ImageIO.write(img, "png", file.toFile())) throw new IOException("no PNG writer");
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(file.toString(), e);
        }
    }

    /** The classifier / recogniser input: {@code (x/255 - 0.5) / 0.5}, RGB, NCHW, no resize (the canvas has the size). */
    static FloatTensor tensor(BufferedImage canvas) {
        Preprocessing p = Preprocessing.builder().size(canvas.getWidth(), canvas.getHeight()).mean(0.5, 0.5, 0.5)
                .std(0.5, 0.5, 0.5).build();
        return ImageLoader.toTensor(canvas, p, "recogniser input");
    }

    /** Greedy CTC: argmax per time step, repeats collapsed, blank (class 0) dropped; class i is {@code chars[i-1]}. */
    static String ctcGreedy(FloatTensor probs, List<String> chars) {
        int t = (int) probs.dim(1);
        int c = (int) probs.dim(2);
        float[] d = probs.data();
        StringBuilder sb = new StringBuilder();
        int prev = -1;
        for (int i = 0; i < t; i++) {
            int best = 0;
            float bestV = d[i * c];
            for (int k = 1; k < c; k++) {
                if (d[i * c + k] > bestV) {
                    bestV = d[i * c + k];
                    best = k;
                }
            }
            if (best != 0 && best != prev) sb.append(best - 1 < chars.size() ? chars.get(best - 1) : "?");
            prev = best;
        }
        return sb.toString();
    }

    /** Levenshtein distance over code points. */
    static int levenshtein(String a, String b) {
        int[] x = a.codePoints().toArray();
        int[] y = b.codePoints().toArray();
        int[] prev = new int[y.length + 1];
        int[] cur = new int[y.length + 1];
        for (int j = 0; j <= y.length; j++) prev[j] = j;
        for (int i = 1; i <= x.length; i++) {
            cur[0] = i;
            for (int j = 1; j <= y.length; j++) {
                int sub = prev[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1);
                cur[j] = Math.min(sub, Math.min(prev[j] + 1, cur[j - 1] + 1));
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[y.length];
    }
}
