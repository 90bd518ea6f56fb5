package io.quantbridge.data;

import io.quantbridge.QuantbridgeException;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * How an image becomes a float tensor: resized to {@code width x height} (0 = take it from the model input), each
 * pixel channel turned into {@code ((pixel * scale) - mean[c]) / std[c]}, channels in RGB (or BGR) order, laid out
 * NCHW or NHWC with a batch dimension of 1; or, for models that take one channel, one gray channel
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

    private Preprocessing(Builder b) {
        this.width = b.width;
        this.height = b.height;
        this.scale = b.scale;
        this.mean = b.mean.clone();
        this.std = b.std.clone();
        this.layout = b.layout;
        this.bgr = b.bgr;
        this.gray = b.gray;
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

    /** This preprocessing with the size filled in, when it was left to the model. */
    public Preprocessing withSizeIfUnset(int w, int h) {
        if (width > 0 && height > 0) return this;
        return toBuilder().size(w, h).build();
    }

    public Builder toBuilder() {
        return builder().size(width, height).scale(scale).mean(mean).std(std).layout(layout).bgr(bgr).gray(gray);
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

        public Preprocessing build() {
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
