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

    @Option(names = "--resize", paramLabel = "stretch|crop|pad|height|fit",
            description = "How an image of another aspect ratio meets --size: stretch (default; the aspect is not"
                    + " kept), crop (aspect kept, scaled to cover, the centre cut out; with --crop-fraction 0.875 the"
                    + " classifiers' resize 256, centre crop 224), pad (aspect kept, scaled to fit, the rest"
                    + " --pad-color: a letterbox) or height (scaled to the height, aspect kept, squeezed if wider,"
                    + " padded on the right: PaddleOCR's text lines) or fit (each image at its own size, fitted within"
                    + " --size, never enlarged, sides rounded to --multiple-of: PaddleOCR's detector at 960x960; for"
                    + " models whose height and width are dynamic).")
    String resize;

    @Option(names = "--crop-fraction", paramLabel = "F",
            description = "With --resize crop: the centre part kept, as a fraction of the size that covers the"
                    + " input, in (0, 1] (default 1).")
    String cropFraction;

    @Option(names = "--pad-color", paramLabel = "V|R,G,B", split = ",",
            description = "With --resize pad or height: the padding's colour in pixel values 0..255, normalized like the"
                    + " image (default 0, black; YOLO pads with 114; 127.5 is 0 after --mean 0.5 --std 0.5).")
    double[] padColor;

    @Option(names = "--pad-at", paramLabel = "center|top-left",
            description = "With --resize pad or height: where the image sits (default center for pad, top-left for"
                    + " height; top-left pads on the right and at the bottom).")
    String padAt;

    @Option(names = "--multiple-of", paramLabel = "N",
            description = "With --resize fit: round each side of the input to a multiple of N (default 32).")
    Integer multipleOf;

    @Option(names = "--antialias",
            description = "Resize as PIL's bilinear resize does (torchvision's Resize on PIL images,"
                    + " tf.image.resize with antialias=True): a shrunk image averages every pixel it covers. Default:"
                    + " OpenCV's cv2.resize INTER_LINEAR, which reads the 2x2 nearest pixels.")
    boolean antialias;

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
        if (resize != null) b.resize(Preprocessing.Resize.parse(resize));
        if (cropFraction != null) b.cropFraction(parseFraction("--crop-fraction", cropFraction));
        if (padColor != null) b.padColor(padColor);
        if (padAt != null) b.padAt(Preprocessing.Placement.parse(padAt));
        b.antialias(antialias);
        if (multipleOf != null) b.multipleOf(multipleOf);
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
