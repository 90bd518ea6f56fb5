package io.quantbridge.data;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.tensor.FloatTensor;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.Raster;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import javax.imageio.plugins.tiff.BaselineTIFFTagSet;
import javax.imageio.plugins.tiff.TIFFDirectory;
import javax.imageio.plugins.tiff.TIFFField;

/**
 * Turns a JPEG or PNG image into a model input tensor, following a {@link Preprocessing}:
 *
 * <ol>
 *   <li>Decode with {@code javax.imageio}. Gray images give R = G = B = gray (the stored values, with no colour-space
 *       conversion), RGB images their stored R, G, B, images with alpha their colour channels (alpha is dropped, not
 *       composited), palette images their palette colours, CMYK JPEGs (print and stock photos; Adobe's inverted
 *       storage is undone by the decoder) {@code R = (255 - C) (255 - K) / 255} and alike for G and B, rounded as
 *       PIL's {@code convert("RGB")} does it, without a colour profile. 16-bit samples are mapped to 0..255
 *       ({@code v * 255 / 65535}, kept fractional) so that the usual {@code scale = 1/255} still applies. A JPEG or
 *       PNG whose EXIF orientation says the stored pixels are turned or mirrored (phone photos taken upright) is
 *       turned back first, the way image viewers and OpenCV's {@code imread} show it ({@code ExifOrientation}).</li>
 *   <li>Resize to {@code width x height} with bilinear interpolation, with half-pixel centres and edges clamped, like
 *       OpenCV's {@code cv2.resize(..., interpolation=INTER_LINEAR)}; no antialiasing filter. Computed in float; a
 *       same-size "resize" returns the pixels unchanged. Deterministic. How an image of another aspect ratio fits
 *       ({@link Preprocessing#resize()}): stretched to the size (the default); scaled with its aspect kept to cover
 *       the size, times 1 / {@link Preprocessing#cropFraction()}, and its centre cut out, the cut computed in
 *       continuous source coordinates (no intermediate resized image, no rounding of its size or offset); or scaled
 *       with its aspect kept to fit inside, its size rounded to whole pixels, placed in the centre (an odd pixel of
 *       padding on the right or bottom) or at the top left, and the rest filled with
 *       {@link Preprocessing#padColor()}, a pixel like any other for the steps below; or scaled to the height, its
 *       width {@code ceil(height * w / h)} but at most the input's (squeezed), padded alike (PaddleOCR's text
 *       lines); or, with {@link Preprocessing.Resize#FIT}, fed at its own size: fitted within the size, never
 *       enlarged, each side rounded to a multiple ({@link Preprocessing#inputSize}), so that the tensor's shape
 *       follows the image.</li>
 *   <li>Each output channel {@code c} (in RGB order, or BGR when {@link Preprocessing#bgr()}) becomes
 *       {@code ((pixel * scale) - mean[c]) / std[c]}, {@code mean} and {@code std} being given in output-channel
 *       order.</li>
 *   <li>Layout {@code [1, 3, H, W]} (NCHW) or {@code [1, H, W, 3]} (NHWC).</li>
 *   <li>With {@link Preprocessing#gray()}, one channel instead: {@code 0.299 R + 0.587 G + 0.114 B} of the resized
 *       pixel, normalized with {@code mean[0]} and {@code std[0]} ({@code [1, 1, H, W]} or {@code [1, H, W, 1]}). PIL's
 *       {@code convert("L")} rounds the gray value to an integer before resizing; this does not (at most half a
 *       level apart).</li>
 * </ol>
 *
 * <p>Pixels are read a row at a time from the raster (only the rows the resize needs), not with per-pixel
 * {@code getRGB} calls. An unreadable or undecodable file gives a {@link QuantbridgeException} whose message starts
 * with the file.
 */
public final class ImageLoader {
    private ImageLoader() { }

    /**
     * Decodes {@code file} (PNG, JPEG or any other format ImageIO reads), turned the way its EXIF orientation says a
     * viewer shows it.
     */
    public static BufferedImage read(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new QuantbridgeException(file + ": no such image file"
                    + io.quantbridge.util.InputFiles.encodingHint(file.toString()));
        }
        // through NIO, not File: a path from a folder listing keeps its bytes, so a JVM whose file-name encoding is
        // ASCII (the C locale) still opens café.jpg, which File, built from the path's string, cannot name
        BufferedImage img = read(() -> Files.newInputStream(file), file.toString());
        return ExifOrientation.apply(img, ExifOrientation.of(file));
    }

    /**
     * Decodes an image held in memory (an upload, a blob from a database) as {@link #read(Path)} decodes a file: the
     * same formats, damage checks, CMYK conversion and EXIF orientation. {@code source} names it in errors.
     */
    public static BufferedImage read(byte[] bytes, String source) {
        java.util.Objects.requireNonNull(bytes, "bytes");
        String label = source == null ? "image" : source;
        if (bytes.length == 0) throw new QuantbridgeException(label + ": the image is empty (0 bytes)");
        BufferedImage img = read(() -> new java.io.ByteArrayInputStream(bytes), label);
        return ExifOrientation.apply(img, ExifOrientation.of(bytes));
    }

    /** Something that opens the image's bytes afresh. */
    private interface Bytes {
        java.io.InputStream open() throws IOException;
    }

    private static BufferedImage read(Bytes bytes, String label) {
        BufferedImage img;
        try {
            img = decode(bytes, label);
        } catch (IOException | RuntimeException e) {
            if (e instanceof QuantbridgeException q) throw q;
            // ImageIO wraps what its decoders throw, errors included: running out of memory is not a bad image
            for (Throwable c = e.getCause(); c != null; c = c.getCause()) {
                if (c instanceof OutOfMemoryError oom) throw oom;
            }
            throw new QuantbridgeException(label + ": cannot decode the image (" + e.getMessage() + ")", e);
        }
        if (img == null) {
            throw new QuantbridgeException(label + ": cannot decode the image (not a PNG, JPEG, BMP, GIF or TIFF"
                    + " file?)");
        }
        if (img.getWidth() < 1 || img.getHeight() < 1) {
            throw new QuantbridgeException(label + ": the image is empty");
        }
        return img;
    }

    /** The system property that sets the largest image decoded, in pixels; 0 for no limit. */
    public static final String MAX_PIXELS_PROPERTY = "quantbridge.image.maxPixels";

    /** Pillow's decompression-bomb error threshold (twice its {@code MAX_IMAGE_PIXELS}), the default limit. */
    public static final long DEFAULT_MAX_PIXELS = 2L * 89_478_485;

    /**
     * Refuses, from the header alone, an image larger than {@link #MAX_PIXELS_PROPERTY} (default
     * {@link #DEFAULT_MAX_PIXELS}): a PNG of 1.5 MB can declare 40000 x 40000 pixels, which ImageIO would allocate
     * before reading a row (an OutOfMemoryError with a 1 GB heap), as Pillow refuses such a "decompression bomb".
     */
    private static void checkPixels(long width, long height, String file) {
        long limit = DEFAULT_MAX_PIXELS;
        String set = System.getProperty(MAX_PIXELS_PROPERTY);
        if (set != null) {
            try {
                limit = Long.parseLong(set.trim());
                if (limit < 0) throw new NumberFormatException();
            } catch (NumberFormatException e) {
                throw new QuantbridgeException("-D" + MAX_PIXELS_PROPERTY + "=" + set + " is not a pixel count (0 for"
                        + " no limit)");
            }
        }
        if (limit > 0 && width * height > limit) {
            throw new QuantbridgeException(String.format(java.util.Locale.ROOT, "%s: %d x %d is %,d pixels, more than"
                    + " the %,d decoded at most (Pillow's limit for decompression bombs; the file may declare a size"
                    + " it does not hold); -D%s=N raises it, 0 for none", file, width, height, width * height, limit,
                    MAX_PIXELS_PROPERTY));
        }
    }

    /**
     * What the decoders report, as they go, when a file's image data is cut short or damaged: they fill the rest with
     * gray (or garbage) and return the image without an error. PIL refuses a cut-short JPEG ("image file is
     * truncated"); so does this, and damaged entropy-coded data too. "N extraneous bytes before marker", which some
     * cameras' files carry and which costs nothing of the image, passes.
     */
    private static final java.util.regex.Pattern DAMAGE = java.util.regex.Pattern.compile(
            "(?i).*(truncated|premature end|bad huffman code|corrupt data).*");

    /** Decodes with the first ImageIO reader for the bytes, refusing what its decoder reports as damage. */
    private static BufferedImage decode(Bytes bytes, String file) throws IOException {
        try (java.io.InputStream raw = bytes.open();
             javax.imageio.stream.ImageInputStream in = new javax.imageio.stream.MemoryCacheImageInputStream(
                     new java.io.BufferedInputStream(raw, 1 << 16))) {
            java.util.Iterator<javax.imageio.ImageReader> readers = ImageIO.getImageReaders(in);
            if (!readers.hasNext()) return null;
            javax.imageio.ImageReader reader = readers.next();
            java.util.List<String> damage = new java.util.ArrayList<>();
            reader.addIIOReadWarningListener((source, warning) -> {
                if (warning != null && DAMAGE.matcher(warning).matches() && !damage.contains(warning)) {
                    damage.add(warning);
                }
            });
            try {
                boolean tiff = "tif".equalsIgnoreCase(reader.getFormatName());
                reader.setInput(in, true, !tiff); // a TIFF's metadata says whether its samples are CMYK
                checkPixels(reader.getWidth(0), reader.getHeight(0), file);
                BufferedImage img = reader.read(0, reader.getDefaultReadParam());
                if (tiff && isCmyk(reader)) img = cmykToRgb(img.getRaster(), file);
                if (!damage.isEmpty()) {
                    throw new QuantbridgeException(file + ": the image is damaged (the " + reader.getFormatName()
                            + " decoder says: " + String.join("; ", damage) + "), and would give its damaged part"
                            + " as gray");
                }
                return img;
            } finally {
                reader.dispose();
            }
        }
    }

    /**
     * A TIFF of separated CMYK samples (photometric interpretation 5, ink set CMYK). ImageIO's TIFF reader takes the
     * colour space from an embedded profile when there is one: with the RGB profile Pillow carries over when it
     * converts an image to CMYK, it gives the four samples as R, G, B and alpha.
     */
    private static boolean isCmyk(javax.imageio.ImageReader reader) throws IOException {
        javax.imageio.metadata.IIOMetadata md = reader.getImageMetadata(0);
        if (md == null) return false;
        TIFFDirectory ifd;
        try {
            ifd = TIFFDirectory.createFromMetadata(md);
        } catch (javax.imageio.metadata.IIOInvalidTreeException e) {
            return false;
        }
        TIFFField photometric = ifd.getTIFFField(BaselineTIFFTagSet.TAG_PHOTOMETRIC_INTERPRETATION);
        TIFFField inkSet = ifd.getTIFFField(BaselineTIFFTagSet.TAG_INK_SET);
        return photometric != null && photometric.getAsInt(0) == BaselineTIFFTagSet.PHOTOMETRIC_INTERPRETATION_CMYK
                && (inkSet == null || inkSet.getAsInt(0) == BaselineTIFFTagSet.INK_SET_CMYK);
    }

    /** The first four samples of 8-bit {@code cmyk} as RGB: {@code (255 - C)(255 - K) / 255}, rounded as PIL does. */
    private static BufferedImage cmykToRgb(Raster cmyk, String file) {
        if (cmyk.getNumBands() < 4 || cmyk.getTransferType() != DataBuffer.TYPE_BYTE) {
            throw new QuantbridgeException(file + ": a CMYK TIFF whose " + cmyk.getNumBands() + " samples are not four"
                    + " 8-bit ones; quantbridge reads 8-bit CMYK");
        }
        int w = cmyk.getWidth();
        int h = cmyk.getHeight();
        BufferedImage rgb = new BufferedImage(w, h, BufferedImage.TYPE_3BYTE_BGR);
        java.awt.image.WritableRaster out = rgb.getRaster();
        int bands = cmyk.getNumBands();
        int[] row = new int[w * bands];
        int[] px = new int[w * 3];
        for (int y = 0; y < h; y++) {
            cmyk.getPixels(cmyk.getMinX(), cmyk.getMinY() + y, w, 1, row);
            for (int x = 0, s = 0, d = 0; x < w; x++, s += bands, d += 3) {
                int notK = 255 - row[s + 3];
                px[d] = notK - mulDiv255(row[s], notK);
                px[d + 1] = notK - mulDiv255(row[s + 1], notK);
                px[d + 2] = notK - mulDiv255(row[s + 2], notK);
            }
            out.setPixels(0, y, w, 1, px);
        }
        return rgb;
    }

    /** Reads {@code file} and converts it; the preprocessing must have its size set. */
    public static FloatTensor load(Path file, Preprocessing p) {
        return toTensor(read(file), p, file.toString());
    }

    /**
     * Converts a decoded image. {@code p.width()} and {@code p.height()} must be positive (fill them from the model
     * with {@link Preprocessing#withSizeIfUnset}); {@code source} names the image in error messages.
     */
    public static FloatTensor toTensor(BufferedImage img, Preprocessing p, String source) {
        if (p.width() <= 0 || p.height() <= 0) {
            throw new QuantbridgeException(source + ": --size is not set (" + p.width() + "x" + p.height()
                    + ") and no model input gave one");
        }
        int srcW = img.getWidth();
        int srcH = img.getHeight();
        int[] size = p.inputSize(srcW, srcH);
        int outW = size[0];
        int outH = size[1];
        RowReader reader = rowReader(img);
        Geometry g = Geometry.of(p, srcW, srcH, outW, outH);

        // horizontal sampling positions of the content columns, shared by all rows
        int[] x0 = new int[g.contentW];
        int[] x1 = new int[g.contentW];
        float[] fx = new float[g.contentW];
        double sxScale = g.srcSpanW / g.contentW;
        for (int cx = 0; cx < g.contentW; cx++) {
            Tap t = Tap.at(g.srcX0 + (cx + 0.5) * sxScale - 0.5, srcW);
            x0[cx] = t.index() * 3;
            x1[cx] = Math.min(t.index() + 1, srcW - 1) * 3;
            fx[cx] = (float) t.fraction();
        }

        float[] srcRow = new float[srcW * 3];
        float[] rowA = new float[g.contentW * 3];
        float[] rowB = new float[g.contentW * 3];
        int rowAIndex = -1;
        int rowBIndex = -1;

        double scale = p.scale();
        double[] mean = p.mean();
        double[] std = p.std();
        int[] srcChannel = p.bgr() ? new int[] {2, 1, 0} : new int[] {0, 1, 2};
        boolean nchw = p.layout() == Layout.NCHW;
        int plane = outW * outH;
        boolean gray = p.gray();
        float[] out = new float[(gray ? 1 : 3) * plane];
        float[] pad = padValues(p, srcChannel);
        FilteredRows filtered = p.antialias() ? new FilteredRows(reader, srcW, srcH, g) : null;

        double syScale = g.srcSpanH / g.contentH;
        for (int oy = 0; oy < outH; oy++) {
            int cy = oy - g.contentY0;
            if (cy < 0 || cy >= g.contentH) {
                for (int ox = 0; ox < outW; ox++) putPad(out, pad, oy * outW + ox, plane, nchw, gray);
                continue;
            }
            float fy;
            if (filtered != null) {
                filtered.row(cy, rowA);
                fy = 0f;
            } else {
                Tap tap = Tap.at(g.srcY0 + (cy + 0.5) * syScale - 0.5, srcH);
                int y0 = tap.index();
                int y1 = Math.min(y0 + 1, srcH - 1);
                fy = (float) tap.fraction();

                // bring horizontally resized rows y0 (into rowA) and y1 (into rowB), reusing what is there
                if (rowAIndex != y0) {
                    if (rowBIndex == y0) {
                        float[] t = rowA;
                        rowA = rowB;
                        rowB = t;
                        rowAIndex = y0;
                        rowBIndex = -1;
                    } else {
                        reader.read(y0, srcRow);
                        resizeRow(srcRow, rowA, x0, x1, fx);
                        rowAIndex = y0;
                    }
                }
                if (fy != 0f && rowBIndex != y1) {
                    reader.read(y1, srcRow);
                    resizeRow(srcRow, rowB, x0, x1, fx);
                    rowBIndex = y1;
                }
            }

            for (int ox = 0; ox < outW; ox++) {
                int pix = oy * outW + ox;
                int cx = ox - g.contentX0;
                if (cx < 0 || cx >= g.contentW) {
                    putPad(out, pad, pix, plane, nchw, gray);
                    continue;
                }
                int base = cx * 3;
                if (gray) {
                    out[pix] = (float) (((luma(rowA, rowB, base, fy) * scale) - mean[0]) / std[0]);
                    continue;
                }
                for (int c = 0; c < 3; c++) {
                    int sc = base + srcChannel[c];
                    float v = rowA[sc];
                    if (fy != 0f) v = v + (rowB[sc] - v) * fy;
                    float norm = (float) (((v * scale) - mean[c]) / std[c]);
                    if (nchw) out[c * plane + pix] = norm;
                    else out[pix * 3 + c] = norm;
                }
            }
        }
        int ch = gray ? 1 : 3;
        long[] shape = nchw ? new long[] {1, ch, outH, outW} : new long[] {1, outH, outW, ch};
        return new FloatTensor(shape, out);
    }

    /**
     * A bilinear tap at source position {@code pos}: the pixel at or before it and the weight of the next one,
     * clamped at the edges (a position before the first pixel or past the last takes that pixel alone).
     */
    private record Tap(int index, double fraction) {
        static Tap at(double pos, int size) {
            int i = (int) Math.floor(pos);
            double f = pos - i;
            if (i < 0) {
                i = 0;
                f = 0;
            }
            if (i >= size - 1) {
                i = size - 1;
                f = 0;
            }
            return new Tap(i, f);
        }
    }

    /**
     * Where the image lands in the {@code outW x outH} input: the content rectangle ({@code contentX0},
     * {@code contentY0}, {@code contentW x contentH} output pixels; the rest is padding) and the source rectangle it
     * shows ({@code srcX0}, {@code srcY0}, {@code srcSpanW x srcSpanH} source pixels, fractional when cropped).
     * Output pixel centres map linearly between the two (half-pixel centres).
     */
    record Geometry(int contentX0, int contentY0, int contentW, int contentH,
                    double srcX0, double srcY0, double srcSpanW, double srcSpanH) {
        static Geometry of(Preprocessing p, int srcW, int srcH, int outW, int outH) {
            switch (p.resize()) {
                case CROP: {
                    // the largest centred part of the source with the input's aspect ratio, times the fraction
                    double f = p.cropFraction();
                    boolean wider = (long) srcW * outH >= (long) srcH * outW;
                    double spanW = wider ? (double) srcH * outW / outH : srcW;
                    double spanH = wider ? srcH : (double) srcW * outH / outW;
                    spanW *= f;
                    spanH *= f;
                    return new Geometry(0, 0, outW, outH, (srcW - spanW) / 2, (srcH - spanH) / 2, spanW, spanH);
                }
                case PAD: {
                    // the whole source scaled by the smaller ratio; sizes rounded to whole pixels
                    double s = Math.min((double) outW / srcW, (double) outH / srcH);
                    int w = (int) Math.max(1, Math.min(outW, Math.round(srcW * s)));
                    int h = (int) Math.max(1, Math.min(outH, Math.round(srcH * s)));
                    boolean centre = p.padAt() == Preprocessing.Placement.CENTER;
                    return new Geometry(centre ? (outW - w) / 2 : 0, centre ? (outH - h) / 2 : 0, w, h,
                            0, 0, srcW, srcH);
                }
                case HEIGHT: {
                    // PaddleOCR: ceil(H * w / h), at most the input's width (wider images are squeezed to it)
                    double ratio = (double) srcW / srcH;
                    int w = (int) Math.max(1, Math.min(outW, Math.ceil(outH * ratio)));
                    boolean centre = p.padAt() == Preprocessing.Placement.CENTER;
                    return new Geometry(centre ? (outW - w) / 2 : 0, 0, w, outH, 0, 0, srcW, srcH);
                }
                default: // STRETCH, and FIT, whose input size is the image's own (rounded to the multiple)
                    return new Geometry(0, 0, outW, outH, 0, 0, srcW, srcH);
            }
        }
    }

    /**
     * The content rows resampled as PIL's {@code Image.resize(..., BILINEAR)} does (and
     * {@code tf.image.resize(..., antialias=True)}): separable, each output pixel a normalized triangle-weighted sum
     * of the source pixels within {@code max(1, shrink)} of its centre, so a shrunk image averages all it covers.
     * In float: PIL rounds 8-bit images to whole levels after each pass, so its values lie within a level of these.
     */
    private static final class FilteredRows {
        private final RowReader reader;
        private final Weights wx;
        private final Weights wy;
        private final float[] srcRow;
        private final float[][] rows;
        private final int width;
        private int released;

        FilteredRows(RowReader reader, int srcW, int srcH, Geometry g) {
            this.reader = reader;
            this.wx = Weights.of(g.contentW, g.srcX0, g.srcSpanW / g.contentW, srcW);
            this.wy = Weights.of(g.contentH, g.srcY0, g.srcSpanH / g.contentH, srcH);
            this.srcRow = new float[srcW * 3];
            this.rows = new float[srcH][];
            this.width = g.contentW;
        }

        /** Content row {@code cy}, interleaved R, G, B, into {@code out}. */
        void row(int cy, float[] out) {
            java.util.Arrays.fill(out, 0, width * 3, 0f);
            int first = wy.start[cy];
            // windows move down with the row: the rows above this one's are not read again
            for (; released < first; released++) rows[released] = null;
            for (int k = 0; k < wy.count[cy]; k++) {
                float w = wy.weight[cy * wy.stride + k];
                float[] r = source(first + k);
                for (int i = 0; i < width * 3; i++) out[i] += w * r[i];
            }
        }

        /** Source row {@code y} resampled horizontally, computed once. */
        private float[] source(int y) {
            float[] r = rows[y];
            if (r != null) return r;
            reader.read(y, srcRow);
            r = new float[width * 3];
            for (int ox = 0; ox < width; ox++) {
                float cr = 0;
                float cg = 0;
                float cb = 0;
                int first = wx.start[ox];
                for (int k = 0; k < wx.count[ox]; k++) {
                    float w = wx.weight[ox * wx.stride + k];
                    int s = (first + k) * 3;
                    cr += w * srcRow[s];
                    cg += w * srcRow[s + 1];
                    cb += w * srcRow[s + 2];
                }
                r[ox * 3] = cr;
                r[ox * 3 + 1] = cg;
                r[ox * 3 + 2] = cb;
            }
            rows[y] = r;
            return r;
        }
    }

    /** Per output position: the first source pixel of its window, the window's length and its weights. */
    private record Weights(int[] start, int[] count, float[] weight, int stride) {
        /**
         * PIL's bilinear coefficients ({@code precompute_coeffs}): output {@code i} centred at source
         * {@code in0 + (i + 0.5) * scale}, the triangle {@code max(0, 1 - |t|)} stretched by
         * {@code max(1, scale)}, the window cut at the image's edges and its weights normalized to sum 1.
         */
        static Weights of(int n, double in0, double scale, int inSize) {
            double filterScale = Math.max(scale, 1.0);
            double support = filterScale;
            int stride = (int) Math.ceil(support) * 2 + 1;
            int[] start = new int[n];
            int[] count = new int[n];
            float[] weight = new float[n * stride];
            double[] w = new double[stride];
            for (int i = 0; i < n; i++) {
                double centre = in0 + (i + 0.5) * scale;
                int min = Math.max(0, (int) (centre - support + 0.5));
                int max = Math.min(inSize, (int) (centre + support + 0.5));
                int len = Math.min(stride, max - min);
                double sum = 0;
                for (int k = 0; k < len; k++) {
                    double t = Math.abs((k + min - centre + 0.5) / filterScale);
                    w[k] = t < 1 ? 1 - t : 0;
                    sum += w[k];
                }
                if (sum == 0) { // no source pixel within reach (cannot happen for a window inside the image)
                    len = 1;
                    min = Math.max(0, Math.min(inSize - 1, (int) Math.floor(centre)));
                    w[0] = 1;
                    sum = 1;
                }
                start[i] = min;
                count[i] = len;
                for (int k = 0; k < len; k++) weight[i * stride + k] = (float) (w[k] / sum);
            }
            return new Weights(start, count, weight, stride);
        }
    }

    /**
     * The padding's normalized values, in output-channel order (one value when gray): the pad colour goes through the
     * same channel order, gray weighting, scale, mean and std as a pixel.
     */
    private static float[] padValues(Preprocessing p, int[] srcChannel) {
        double[] color = p.padColor();
        float r = (float) color[0];
        float g = (float) color[1];
        float b = (float) color[2];
        double[] mean = p.mean();
        double[] std = p.std();
        if (p.gray()) {
            double v = r == g && g == b ? r : 0.299 * r + 0.587 * g + 0.114 * b;
            return new float[] {(float) (((v * p.scale()) - mean[0]) / std[0])};
        }
        float[] rgb = {r, g, b};
        float[] out = new float[3];
        for (int c = 0; c < 3; c++) {
            out[c] = (float) (((rgb[srcChannel[c]] * p.scale()) - mean[c]) / std[c]);
        }
        return out;
    }

    private static void putPad(float[] out, float[] pad, int pix, int plane, boolean nchw, boolean gray) {
        if (gray) {
            out[pix] = pad[0];
        } else if (nchw) {
            out[pix] = pad[0];
            out[plane + pix] = pad[1];
            out[2 * plane + pix] = pad[2];
        } else {
            out[pix * 3] = pad[0];
            out[pix * 3 + 1] = pad[1];
            out[pix * 3 + 2] = pad[2];
        }
    }

    /**
     * The BT.601 luma of the resized pixel at {@code base} (rows A and B blended by {@code fy}). Resizing and the
     * weighted sum are both linear, so this equals resizing the gray image; an equal R, G and B (a gray source) gives
     * that value exactly.
     */
    private static double luma(float[] rowA, float[] rowB, int base, float fy) {
        float r = rowA[base];
        float g = rowA[base + 1];
        float b = rowA[base + 2];
        if (fy != 0f) {
            r = r + (rowB[base] - r) * fy;
            g = g + (rowB[base + 1] - g) * fy;
            b = b + (rowB[base + 2] - b) * fy;
        }
        if (r == g && g == b) return r;
        return 0.299 * r + 0.587 * g + 0.114 * b;
    }

    private static void resizeRow(float[] src, float[] dst, int[] x0, int[] x1, float[] fx) {
        for (int ox = 0; ox < fx.length; ox++) {
            int a = x0[ox];
            int b = x1[ox];
            float f = fx[ox];
            int d = ox * 3;
            if (f == 0f) {
                dst[d] = src[a];
                dst[d + 1] = src[a + 1];
                dst[d + 2] = src[a + 2];
            } else {
                dst[d] = src[a] + (src[b] - src[a]) * f;
                dst[d + 1] = src[a + 1] + (src[b + 1] - src[a + 1]) * f;
                dst[d + 2] = src[a + 2] + (src[b + 2] - src[a + 2]) * f;
            }
        }
    }

    /** a * b / 255 for a, b in 0..255, rounded as PIL's {@code MULDIV255}. */
    private static int mulDiv255(int a, int b) {
        int t = a * b + 128;
        return ((t >> 8) + t) >> 8;
    }

    /** Reads one image row as interleaved R, G, B floats in 0..255. */
    private interface RowReader {
        void read(int y, float[] rgb);
    }

    private static RowReader rowReader(BufferedImage img) {
        ColorModel cm = img.getColorModel();
        Raster raster = img.getRaster();
        int w = img.getWidth();
        int transfer = raster.getTransferType();
        if (cm instanceof ComponentColorModel
                && (transfer == DataBuffer.TYPE_BYTE || transfer == DataBuffer.TYPE_USHORT)) {
            int csType = cm.getColorSpace().getType();
            int bands = raster.getNumBands();
            int colorBands = cm.getNumColorComponents();
            if ((csType == ColorSpace.TYPE_GRAY && colorBands == 1) || (csType == ColorSpace.TYPE_RGB && colorBands == 3)) {
                float[] k = new float[colorBands];
                for (int c = 0; c < colorBands; c++) {
                    k[c] = 255f / ((1 << cm.getComponentSize(c)) - 1);
                }
                boolean gray = colorBands == 1;
                int[] buf = new int[w * bands];
                return (y, rgb) -> {
                    raster.getPixels(0, y, w, 1, buf);
                    for (int x = 0, s = 0, d = 0; x < w; x++, s += bands, d += 3) {
                        if (gray) {
                            float v = buf[s] * k[0];
                            rgb[d] = v;
                            rgb[d + 1] = v;
                            rgb[d + 2] = v;
                        } else {
                            rgb[d] = buf[s] * k[0];
                            rgb[d + 1] = buf[s + 1] * k[1];
                            rgb[d + 2] = buf[s + 2] * k[2];
                        }
                    }
                };
            }
            if (csType == ColorSpace.TYPE_CMYK && colorBands == 4 && transfer == DataBuffer.TYPE_BYTE) {
                int[] buf = new int[w * bands];
                return (y, rgb) -> {
                    raster.getPixels(0, y, w, 1, buf);
                    for (int x = 0, s = 0, d = 0; x < w; x++, s += bands, d += 3) {
                        int notK = 255 - buf[s + 3];
                        rgb[d] = notK - mulDiv255(buf[s], notK);
                        rgb[d + 1] = notK - mulDiv255(buf[s + 1], notK);
                        rgb[d + 2] = notK - mulDiv255(buf[s + 2], notK);
                    }
                };
            }
        }
        // palette, packed-int and other images: the colour model's sRGB view, one row per call
        int[] argb = new int[w];
        return (y, rgb) -> {
            img.getRGB(0, y, w, 1, argb, 0, w);
            for (int x = 0, d = 0; x < w; x++, d += 3) {
                int v = argb[x];
                rgb[d] = (v >> 16) & 0xff;
                rgb[d + 1] = (v >> 8) & 0xff;
                rgb[d + 2] = v & 0xff;
            }
        };
    }
}
