package io.quantbridge.cli;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.data.Layout;
import io.quantbridge.data.Preprocessing;
import picocli.CommandLine.Option;

/** Image preprocessing options shared by quantize, eval and bench. */
final class PreprocessingOptions {
    @Option(names = "--size", paramLabel = "WxH",
            description = "Resize images to this size (default: the model input's size).")
    String size;

    @Option(names = "--scale", paramLabel = "S", description = "Pixel scale, default 1/255 (a fraction is fine).")
    String scale;

    @Option(names = "--mean", paramLabel = "a,b,c", split = ",", description = "Per-channel mean, after scaling.")
    double[] mean;

    @Option(names = "--std", paramLabel = "a,b,c", split = ",", description = "Per-channel std, after scaling.")
    double[] std;

    @Option(names = "--layout", paramLabel = "nchw|nhwc", description = "Tensor layout (default nchw); an input that fits only one layout takes that one.")
    String layout;

    @Option(names = "--bgr", description = "Channels in BGR order (default RGB).")
    boolean bgr;

    Preprocessing build() {
        Preprocessing.Builder b = Preprocessing.builder();
        if (size != null) {
            String[] wh = size.toLowerCase(java.util.Locale.ROOT).split("x");
            int w;
            int h;
            try {
                if (wh.length != 2) throw new NumberFormatException();
                w = Integer.parseInt(wh[0].trim());
                h = Integer.parseInt(wh[1].trim());
            } catch (NumberFormatException e) {
                throw new QuantbridgeException("--size: '" + size + "' is not WxH, e.g. 640x640");
            }
            if (w < 1 || h < 1) {
                throw new QuantbridgeException("--size: '" + size + "': width and height must be at least 1");
            }
            b.size(w, h);
        }
        if (scale != null) b.scale(parseFraction("--scale", scale));
        if (mean != null) b.mean(mean);
        if (std != null) b.std(std);
        if (layout != null) b.layout(Layout.parse(layout));
        b.bgr(bgr);
        return b.build();
    }

    static double parseFraction(String option, String text) {
        try {
            int slash = text.indexOf('/');
            if (slash > 0) {
                return Double.parseDouble(text.substring(0, slash)) / Double.parseDouble(text.substring(slash + 1));
            }
            return Double.parseDouble(text);
        } catch (NumberFormatException e) {
            throw new QuantbridgeException(option + ": '" + text + "' is not a number");
        }
    }
}
