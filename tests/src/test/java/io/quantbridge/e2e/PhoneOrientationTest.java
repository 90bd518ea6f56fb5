package io.quantbridge.e2e;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.backend.Backend;
import io.quantbridge.backend.BackendSelector;
import io.quantbridge.backend.ModelSession;
import io.quantbridge.data.ImageLoader;
import io.quantbridge.data.Preprocessing;
import io.quantbridge.metrics.Fidelity;
import io.quantbridge.tensor.FloatTensor;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.MemoryCacheImageOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A photo as a phone stores it when held upright: the raster turned a quarter counter-clockwise, and EXIF orientation
 * 6 telling viewers to turn it back. The text detector sees the upright picture, as from the PNG.
 */
class PhoneOrientationTest {
    @TempDir
    Path tmp;

    /** The raster a phone's sensor gives for {@code upright}: turned 90 degrees counter-clockwise. */
    private static BufferedImage sensorRaster(BufferedImage upright) {
        int w = upright.getWidth();
        int h = upright.getHeight();
        BufferedImage r = new BufferedImage(h, w, BufferedImage.TYPE_3BYTE_BGR);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) r.setRGB(y, w - 1 - x, upright.getRGB(x, y));
        }
        return r;
    }

    private static byte[] jpeg(BufferedImage img) throws Exception {
        ImageWriter writer = ImageIO.getImageWritersByFormatName("jpeg").next();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (MemoryCacheImageOutputStream out = new MemoryCacheImageOutputStream(bytes)) {
            writer.setOutput(out);
            ImageWriteParam p = writer.getDefaultWriteParam();
            p.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
            p.setCompressionQuality(0.95f);
            writer.write(null, new IIOImage(img, null, null), p);
        } finally {
            writer.dispose();
        }
        return bytes.toByteArray();
    }

    /** An APP1 "Exif" segment with IFD0 holding orientation 6, big-endian as many phones write it. */
    private static byte[] withOrientation6(byte[] jpeg) {
        ByteBuffer tiff = ByteBuffer.allocate(26).order(ByteOrder.BIG_ENDIAN);
        tiff.put((byte) 'M').put((byte) 'M').putShort((short) 42).putInt(8).putShort((short) 1);
        tiff.putShort((short) 0x0112).putShort((short) 3).putInt(1).putShort((short) 6).putShort((short) 0);
        tiff.putInt(0);
        ByteBuffer out = ByteBuffer.allocate(jpeg.length + 4 + 6 + 26);
        out.put(jpeg, 0, 2).put((byte) 0xFF).put((byte) 0xE1).putShort((short) (2 + 6 + 26));
        out.put(new byte[] {'E', 'x', 'i', 'f', 0, 0}).put(tiff.array()).put(jpeg, 2, jpeg.length - 2);
        return out.array();
    }

    @Test
    void theDetectorFindsTheTextOfAnUprightPhoneJpegWhereItFindsItInThePng() throws Exception {
        Path model = RealModels.model("ch_PP-OCRv4_det_infer.onnx");
        Path png = RealModels.photos().resolve("imageTextN.png");
        byte[] sensor = jpeg(sensorRaster(ImageIO.read(png.toFile())));
        Path phone = tmp.resolve("phone.jpg");
        Files.write(phone, withOrientation6(sensor));
        Path untagged = tmp.resolve("untagged.jpg");
        Files.write(untagged, sensor);

        Preprocessing pre = Preprocessing.builder().size(640, 640).mean(0.485, 0.456, 0.406)
                .std(0.229, 0.224, 0.225).build();
        Backend backend = BackendSelector.fromEnvironment().select("onnx", model).backend();
        float[] fromPng;
        float[] fromPhone;
        float[] fromUntagged;
        try (ModelSession s = backend.open(model)) {
            String input = s.inputs().get(0).name();
            fromPng = run(s, input, ImageLoader.load(png, pre));
            fromPhone = run(s, input, ImageLoader.load(phone, pre));
            fromUntagged = run(s, input, ImageLoader.load(untagged, pre));
        }
        double phoneIou = Fidelity.maskIou(fromPng, fromPhone, 0.3);
        double untaggedIou = Fidelity.maskIou(fromPng, fromUntagged, 0.3);
        double phoneCosine = Fidelity.cosine(fromPng, fromPhone);
        System.out.printf("imageTextN as an upright phone JPEG: text mask IoU %.4f, cosine %.4f against the PNG;"
                + " without its orientation tag IoU %.4f%n", phoneIou, phoneCosine, untaggedIou);
        // what is left is the JPEG's loss (quality 0.95)
        assertTrue(phoneIou > 0.9 && phoneCosine > 0.98, phoneIou + " / " + phoneCosine);
        assertTrue(untaggedIou < 0.3, "the sideways raster should not give the upright text: " + untaggedIou);
    }

    private static float[] run(ModelSession s, String input, FloatTensor image) {
        Map<String, FloatTensor> out = s.run(Map.of(input, image));
        return out.get(s.outputs().get(0).name()).data();
    }
}
