package io.quantbridge.data;

import io.quantbridge.QuantbridgeException;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * How an image becomes a float tensor: resized to {@code width x height} (0 = take it from the model input), as
 * {@link #resize()} says when the image has another aspect ratio (stretched, the default; cut to the aspect ratio;
 * fitted inside and padded; or fitted to the height as a text line), with OpenCV's bilinear resampling or PIL's
 * ({@link #antialias()}), each pixel channel turned into {@code ((pixel * scale) - mean[c]) / std[c]}, channels in
 * RGB (or BGR) order, laid out NCHW or NHWC with a batch dimension of 1; or, for models that take one channel, one
 * gray channel
 * ({@code 0.299 R + 0.587 G + 0.114 B}, ITU-R BT.601 as PIL's {@code convert("L")} and OpenCV's RGB2GRAY weigh them)
 * turned into {@code ((gray * scale) - mean[0]) / std[0]}. Immutable.
 */
public final class Preprocessing {
    private final int width;
    private final int height;
    private final double scale;
    private final double[] mean;
    private final double[] std;
    private final Layout layout;
    private final boolean bgr;
    private final boolean gray;
    private final Resize resize;
    private final double cropFraction;
    private final double[] padColor;
    private final Placement padAt;
    private final boolean antialias;
    private final int multipleOf;
    private final boolean widenLines;

    /** How an image whose aspect ratio differs from the input's meets the input size. */
    public enum Resize {
        /** Scaled to the input size in each direction on its own: the aspect ratio is not kept (the default). */
        STRETCH,
        /**
         * Scaled, aspect kept, to cover the input, then its centre cut out: the image-classification evaluation
         * transform ({@code Resize(256)}, {@code CenterCrop(224)} with a crop fraction of 0.875).
         */
        CROP,
        /** Scaled, aspect kept, to fit inside the input, the rest filled with the pad colour (a letterbox). */
        PAD,
        /**
         * Scaled to the input's height with the aspect kept, its width rounded up to whole pixels, the rest filled
         * with the pad colour; an image wider than the input is squeezed to its width: the text-line resize of
         * PaddleOCR's recogniser and direction classifier ({@code resize_norm_img}) and MMOCR's
         * {@code RescaleToHeight}.
         */
        HEIGHT,
        /**
         * Fed at its own size: scaled with the aspect kept to fit within the size (never enlarged), each side then
         * rounded to a multiple of {@link #multipleOf()} (half to even, at least one multiple), so that every image
         * gives its own input shape, for a model whose height and width are dynamic: PaddleOCR's detector
         * ({@code DetResizeForTest}, {@code limit_side_len} 960: a size of 960x960, multiples of 32).
         */
        FIT;

        /** {@code stretch}, {@code crop} or {@code pad}, any case. */
        public static Resize parse(String text) {
            for (Resize r : values()) {
                if (r.label().equalsIgnoreCase(text == null ? "" : text.trim())) return r;
            }
            throw new QuantbridgeException("--resize: '" + text + "' is not stretch, crop, pad, height or fit");
        }

        public String label() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    /** Where a padded image sits in the input. */
    public enum Placement {
        /** Centred; an odd pixel of padding goes to the right or bottom (YOLO's letterbox). */
        CENTER,
        /** At the top left corner: the padding is on the right and at the bottom (PaddleOCR's text lines). */
        TOP_LEFT;

        /** {@code center} or {@code top-left}, any case. */
        public static Placement parse(String text) {
            for (Placement p : values()) {
                if (p.label().equalsIgnoreCase(text == null ? "" : text.trim())) return p;
            }
            throw new QuantbridgeException("--pad-at: '" + text + "' is not center or top-left");
        }

        public String label() {
            return name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
        }
    }

    private Preprocessing(Builder b) {
        this.width = b.width;
        this.height = b.height;
        this.scale = b.scale;
        this.mean = b.mean.clone();
        this.std = b.std.clone();
        this.layout = b.layout;
        this.bgr = b.bgr;
        this.gray = b.gray;
        this.resize = b.resize;
        this.cropFraction = b.cropFraction;
        this.padColor = b.padColor.clone();
        this.antialias = b.antialias;
        this.multipleOf = b.multipleOf;
        this.widenLines = b.widenLines;
        this.padAt = b.padAt != null ? b.padAt : b.resize == Resize.HEIGHT ? Placement.TOP_LEFT : Placement.CENTER;
    }

    public static Builder builder() {
        return new Builder();
    }

    public static Preprocessing defaults() {
        return builder().build();
    }

    public int width() { return width; }
    public int height() { return height; }
    public double scale() { return scale; }
    public double[] mean() { return mean.clone(); }
    public double[] std() { return std.clone(); }
    public Layout layout() { return layout; }
    public boolean bgr() { return bgr; }
    /** One gray channel instead of three colour channels. */
    public boolean gray() { return gray; }

    /** How an image of another aspect ratio meets the input size. */
    public Resize resize() { return resize; }
    /** With {@link Resize#CROP}: the centre part kept, as a fraction of the covering size, in (0, 1]; 1 otherwise. */
    public double cropFraction() { return cropFraction; }
    /** With {@link Resize#PAD} or {@link Resize#HEIGHT}: the padding's R, G, B pixel values (0..255, before {@link #scale()}). */
    public double[] padColor() { return padColor.clone(); }
    /** With {@link Resize#PAD} or {@link Resize#HEIGHT}: where the image sits. */
    public Placement padAt() { return padAt; }

    /**
     * Whether resizing filters as PIL's bilinear resize and {@code tf.image.resize(..., antialias=True)} do: a
     * triangle filter widened by the shrink factor, so that a shrunk image averages every source pixel it covers;
     * otherwise OpenCV's {@code INTER_LINEAR}, which reads the 2x2 pixels nearest each output pixel.
     */
    public boolean antialias() { return antialias; }

    /**
     * With {@link Resize#HEIGHT}, for a model whose width is dynamic: a line wider than the width is fed wider,
     * {@code ceil(height * w / h)}, rather than squeezed (PaddleOCR's recogniser); set by
     * {@link SampleSource#imagePreprocessing} from the model's input.
     */
    public boolean widenLines() { return widenLines; }

    /** With {@link Resize#FIT}: what each side of the input is rounded to a multiple of; 32 by default. */
    public int multipleOf() { return multipleOf; }

    /**
     * The input size an image of {@code w x h} pixels is fed at: {@link #width()} x {@link #height()}, or with
     * {@link Resize#FIT} its own fitted size, as {@code {width, height}}.
     */
    public int[] inputSize(int w, int h) {
        if (resize == Resize.HEIGHT && widenLines) {
            // PaddleOCR's recogniser: max(imgW, ceil(imgH * w / h)); the line is padded up to the width, never squeezed
            double lineWidth = Math.ceil(height * ((double) w / h));
            return new int[] {(int) Math.min(Integer.MAX_VALUE, Math.max(width, lineWidth)), height};
        }
        if (resize != Resize.FIT) return new int[] {width, height};
        double s = Math.min(1.0, Math.min((double) width / w, (double) height / h));
        return new int[] {fitted(w, s), fitted(h, s)};
    }

    private int fitted(int side, double s) {
        long m = Math.max(1, (long) Math.rint(side * s / multipleOf));
        return (int) Math.min(Integer.MAX_VALUE, m * multipleOf);
    }

    /** This preprocessing with the size filled in, when it was left to the model. */
    public Preprocessing withSizeIfUnset(int w, int h) {
        if (width > 0 && height > 0) return this;
        return toBuilder().size(w, h).build();
    }

    public Builder toBuilder() {
        return builder().size(width, height).scale(scale).mean(mean).std(std).layout(layout).bgr(bgr).gray(gray)
                .resize(resize).cropFraction(cropFraction).padColor(padColor)
                .padAt(resize == Resize.PAD || resize == Resize.HEIGHT ? padAt : null).antialias(antialias)
                .multipleOf(multipleOf).widenLines(widenLines);
    }

    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("width", width);
        m.put("height", height);
        m.put("scale", scale);
        m.put("mean", Arrays.stream(mean).boxed().toList());
        m.put("std", Arrays.stream(std).boxed().toList());
        m.put("layout", layout.name().toLowerCase(java.util.Locale.ROOT));
        m.put("channel_order", gray ? "gray" : bgr ? "bgr" : "rgb");
        // the default (stretch) adds nothing, so that tables and fingerprints written before these keys stay valid
        if (resize == Resize.CROP) {
            m.put("resize", resize.label());
            m.put("crop_fraction", cropFraction);
        } else if (resize == Resize.PAD || resize == Resize.HEIGHT) {
            m.put("resize", resize.label());
            m.put("pad_color", Arrays.stream(padColor).boxed().toList());
            m.put("pad_at", padAt.label());
        }
        if (resize == Resize.FIT) {
            m.put("resize", resize.label());
            m.put("multiple_of", multipleOf);
        }
        if (widenLines) m.put("widen_lines", true);
        if (antialias) m.put("antialias", true);
        return m;
    }

    @Override
    public String toString() {
        return toMap().toString();
    }

    public static final class Builder {
        private int width;
        private int height;
        private double scale = 1.0 / 255.0;
        private double[] mean = {0, 0, 0};
        private double[] std = {1, 1, 1};
        private Layout layout = Layout.NCHW;
        private boolean bgr;
        private boolean gray;
        private Resize resize = Resize.STRETCH;
        private double cropFraction = 1;
        private double[] padColor = {0, 0, 0};
        private Placement padAt;
        private boolean antialias;
        private int multipleOf = 32;
        private boolean widenLines;

        public Builder size(int width, int height) {
            if (width < 0 || height < 0) {
                throw new QuantbridgeException("--size: " + width + "x" + height + " is not a valid size");
            }
            this.width = width;
            this.height = height;
            return this;
        }

        public Builder scale(double scale) {
            if (!Double.isFinite(scale) || scale == 0) {
                throw new QuantbridgeException("--scale: " + scale + " must be finite and non-zero");
            }
            this.scale = scale;
            return this;
        }

        public Builder mean(double... mean) {
            this.mean = checkTriple("--mean", mean, false);
            return this;
        }

        public Builder std(double... std) {
            this.std = checkTriple("--std", std, true);
            return this;
        }

        public Builder layout(Layout layout) {
            this.layout = layout;
            return this;
        }

        public Builder bgr(boolean bgr) {
            this.bgr = bgr;
            return this;
        }

        /** One gray channel (BT.601 luma of R, G, B) instead of three colour channels. */
        public Builder gray(boolean gray) {
            this.gray = gray;
            return this;
        }

        /** How an image of another aspect ratio meets the input size (default {@link Resize#STRETCH}). */
        public Builder resize(Resize resize) {
            this.resize = java.util.Objects.requireNonNull(resize, "resize");
            return this;
        }

        /**
         * With {@link Resize#CROP}: the centre part kept, as a fraction of the size that covers the input (0.875:
         * the shorter side scaled to 256 and 224 cut from it, for a 224x224 input); in (0, 1], default 1.
         */
        public Builder cropFraction(double fraction) {
            if (!(fraction > 0 && fraction <= 1)) {
                throw new QuantbridgeException("--crop-fraction: " + fraction + " is not in (0, 1]");
            }
            this.cropFraction = fraction;
            return this;
        }

        /** With {@link Resize#PAD} or {@link Resize#HEIGHT}: the padding's colour, as 1 (gray) or 3 (R, G, B) pixel values in 0..255. */
        public Builder padColor(double... color) {
            double[] c = checkTriple("--pad-color", color, false);
            for (double v : c) {
                if (v < 0 || v > 255) {
                    throw new QuantbridgeException("--pad-color: " + Arrays.toString(color) + " is not a colour of"
                            + " pixel values in 0..255 (the padding is a pixel, normalized with --scale, --mean and"
                            + " --std like the image)");
                }
            }
            this.padColor = c;
            return this;
        }

        /**
         * With {@link Resize#PAD} or {@link Resize#HEIGHT}: where the image sits; null (the default) for the mode's
         * own, {@link Placement#CENTER} for a letterbox and {@link Placement#TOP_LEFT} for text lines.
         */
        public Builder padAt(Placement placement) {
            this.padAt = placement;
            return this;
        }

        /**
         * Resize with PIL's antialiasing bilinear filter (torchvision's {@code Resize} on PIL images,
         * {@code tf.image.resize(..., antialias=True)}) rather than OpenCV's {@code INTER_LINEAR} (default false).
         */
        public Builder antialias(boolean antialias) {
            this.antialias = antialias;
            return this;
        }

        /**
         * With {@link Resize#HEIGHT}: feed lines wider than the width at their own width instead of squeezing them,
         * for a model whose width is dynamic (default false; {@link SampleSource} sets it from the model).
         */
        public Builder widenLines(boolean widen) {
            this.widenLines = widen;
            return this;
        }

        /** With {@link Resize#FIT}: the multiple each side of the input is rounded to (default 32). */
        public Builder multipleOf(int multiple) {
            if (multiple < 1) throw new QuantbridgeException("--multiple-of: " + multiple + " must be at least 1");
            this.multipleOf = multiple;
            return this;
        }

        /**
         * The preprocessing; a crop fraction other than 1 needs {@link Resize#CROP}, and a pad colour other than
         * black or a placement needs {@link Resize#PAD} or {@link Resize#HEIGHT}: set without
         * either, they would do nothing.
         */
        public Preprocessing build() {
            if (cropFraction != 1 && resize != Resize.CROP) {
                throw new QuantbridgeException("--crop-fraction " + cropFraction + " applies with --resize crop (the"
                        + " resize is " + resize.label() + ")");
            }
            if (widenLines && resize != Resize.HEIGHT) {
                throw new QuantbridgeException("widening lines applies with --resize height (the resize is "
                        + resize.label() + ")");
            }
            if (multipleOf != 32 && resize != Resize.FIT) {
                throw new QuantbridgeException("--multiple-of " + multipleOf + " applies with --resize fit (the resize is "
                        + resize.label() + ")");
            }
            boolean padSet = padColor[0] != 0 || padColor[1] != 0 || padColor[2] != 0 || padAt != null;
            if (padSet && resize != Resize.PAD && resize != Resize.HEIGHT) {
                throw new QuantbridgeException((padAt != null ? "--pad-at" : "--pad-color")
                        + " applies with --resize pad or height (the resize is " + resize.label() + ")");
            }
            return new Preprocessing(this);
        }

        private static double[] checkTriple(String option, double[] v, boolean positive) {
            if (v.length == 1) v = new double[] {v[0], v[0], v[0]};
            if (v.length != 3) {
                throw new QuantbridgeException(option + ": expected 1 or 3 values, got " + v.length);
            }
            for (double d : v) {
                if (!Double.isFinite(d) || (positive && d <= 0)) {
                    throw new QuantbridgeException(option + ": " + Arrays.toString(v)
                            + (positive ? " must be finite and positive" : " must be finite"));
                }
            }
            return v.clone();
        }
    }
}
