package io.quantbridge.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.tensor.FloatTensor;
import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageLoaderTest {
    @TempDir
    Path dir;

    private static Preprocessing size(int w, int h) {
        return Preprocessing.builder().size(w, h).build();
    }

    /** A 3x2 RGB image with distinct channel values: pixel (x, y) = (10x + y, 100 + 10x + y, 200 + x + y). */
    private static BufferedImage rgb3x2(int type) {
        BufferedImage img = new BufferedImage(3, 2, type);
        for (int y = 0; y < 2; y++) {
            for (int x = 0; x < 3; x++) {
                img.setRGB(x, y, 0xff000000 | (10 * x + y) << 16 | (100 + 10 * x + y) << 8 | (200 + x + y));
            }
        }
        return img;
    }

    private Path png(BufferedImage img, String name) throws IOException {
        Path f = dir.resolve(name);
        assertTrue(ImageIO.write(img, "png", f.toFile()));
        return f;
    }

    private static float at(FloatTensor t, int c, int y, int x) {
        long[] s = t.shape();
        if (s[1] == 3) return t.data()[(int) ((c * s[2] + y) * s[3] + x)];
        return t.data()[(int) ((y * s[2] + x) * 3 + c)];
    }

    @Test
    void sameSizeKeepsPixelsNchwAndNhwc() throws IOException {
        Path f = png(rgb3x2(BufferedImage.TYPE_3BYTE_BGR), "a.png");
        FloatTensor nchw = ImageLoader.load(f, Preprocessing.builder().size(3, 2).scale(1).build());
        assertArrayEquals(new long[] {1, 3, 2, 3}, nchw.shape());
        FloatTensor nhwc = ImageLoader.load(f, Preprocessing.builder().size(3, 2).scale(1).layout(Layout.NHWC).build());
        assertArrayEquals(new long[] {1, 2, 3, 3}, nhwc.shape());
        for (int y = 0; y < 2; y++) {
            for (int x = 0; x < 3; x++) {
                float[] expected = {10 * x + y, 100 + 10 * x + y, 200 + x + y};
                for (int c = 0; c < 3; c++) {
                    assertEquals(expected[c], at(nchw, c, y, x), 0f);
                    assertEquals(expected[c], at(nhwc, c, y, x), 0f);
                }
            }
        }
        // NCHW planes: the first row of the red plane
        assertEquals(0f, nchw.data()[0]);
        assertEquals(10f, nchw.data()[1]);
        assertEquals(20f, nchw.data()[2]);
        // NHWC: pixel (0,0) then pixel (1,0)
        assertArrayEquals(new float[] {0, 100, 200, 10, 110, 201}, java.util.Arrays.copyOf(nhwc.data(), 6));
    }

    @Test
    void bgrMeanStdAndScale() throws IOException {
        Path f = png(rgb3x2(BufferedImage.TYPE_INT_RGB), "a.png");
        Preprocessing p = Preprocessing.builder().size(3, 2).scale(1.0 / 255).bgr(true)
                .mean(0.1, 0.2, 0.3).std(0.5, 0.25, 2).build();
        FloatTensor t = ImageLoader.load(f, p);
        // output channel 0 is blue, 1 green, 2 red; mean/std in output order
        int x = 2;
        int y = 1;
        double b = 200 + x + y;
        double g = 100 + 10 * x + y;
        double r = 10 * x + y;
        assertEquals((float) ((b / 255 - 0.1) / 0.5), at(t, 0, y, x), 0f);
        assertEquals((float) ((g / 255 - 0.2) / 0.25), at(t, 1, y, x), 0f);
        assertEquals((float) ((r / 255 - 0.3) / 2), at(t, 2, y, x), 0f);
    }

    @Test
    void grayIsTakenAsStoredNotGammaConverted() throws IOException {
        BufferedImage img = new BufferedImage(2, 1, BufferedImage.TYPE_BYTE_GRAY);
        img.getRaster().setSample(0, 0, 0, 128);
        img.getRaster().setSample(1, 0, 0, 7);
        FloatTensor t = ImageLoader.load(png(img, "g.png"), Preprocessing.builder().size(2, 1).scale(1).build());
        assertArrayEquals(new float[] {128, 7, 128, 7, 128, 7}, t.data());
        // one gray channel out: a gray source gives its stored values exactly
        FloatTensor g = ImageLoader.load(png(img, "g.png"), Preprocessing.builder().size(2, 1).scale(1).gray(true)
                .build());
        assertArrayEquals(new long[] {1, 1, 1, 2}, g.shape());
        assertArrayEquals(new float[] {128, 7}, g.data());
    }

    @Test
    void grayOutputWeighsRgbAsBt601() throws IOException {
        BufferedImage img = new BufferedImage(3, 1, BufferedImage.TYPE_3BYTE_BGR);
        img.setRGB(0, 0, 0xff0000);
        img.setRGB(1, 0, 0x00ff00);
        img.setRGB(2, 0, 0x0000ff);
        FloatTensor g = ImageLoader.load(png(img, "rgb.png"), Preprocessing.builder().size(3, 1).scale(1)
                .mean(10).std(2).layout(Layout.NHWC).gray(true).build());
        assertArrayEquals(new long[] {1, 1, 3, 1}, g.shape());
        assertArrayEquals(new float[] {(float) ((0.299 * 255 - 10) / 2), (float) ((0.587 * 255 - 10) / 2),
                (float) ((0.114 * 255 - 10) / 2)}, g.data(), 1e-4f);
    }

    @Test
    void sixteenBitGrayIsMappedTo255() throws IOException {
        BufferedImage img = new BufferedImage(2, 1, BufferedImage.TYPE_USHORT_GRAY);
        img.getRaster().setSample(0, 0, 0, 65535);
        img.getRaster().setSample(1, 0, 0, 257);
        FloatTensor t = ImageLoader.load(png(img, "g16.png"), Preprocessing.builder().size(2, 1).scale(1).build());
        assertEquals(255f, t.data()[0], 1e-4f);
        assertEquals(1f, t.data()[1], 1e-4f);
    }

    @Test
    void alphaIsDropped() throws IOException {
        BufferedImage img = new BufferedImage(1, 1, BufferedImage.TYPE_INT_ARGB);
        img.setRGB(0, 0, 0x000a141e); // fully transparent, colour (10, 20, 30)
        Path f = png(img, "rgba.png");
        assertEquals(BufferedImage.TYPE_4BYTE_ABGR, ImageIO.read(f.toFile()).getType());
        assertArrayEquals(new float[] {10, 20, 30},
                ImageLoader.load(f, Preprocessing.builder().size(1, 1).scale(1).build()).data());
    }

    @Test
    void indexedUsesThePalette() throws IOException {
        byte[] r = {0, (byte) 250};
        byte[] g = {0, 40};
        byte[] b = {0, 3};
        BufferedImage img = new BufferedImage(2, 1, BufferedImage.TYPE_BYTE_INDEXED,
                new IndexColorModel(8, 2, r, g, b));
        img.getRaster().setSample(1, 0, 0, 1);
        FloatTensor t = ImageLoader.load(png(img, "idx.png"),
                Preprocessing.builder().size(2, 1).scale(1).layout(Layout.NHWC).build());
        assertArrayEquals(new float[] {0, 0, 0, 250, 40, 3}, t.data());
    }

    @Test
    void bilinearResizeUsesHalfPixelCentres() throws IOException {
        BufferedImage img = new BufferedImage(2, 1, BufferedImage.TYPE_BYTE_GRAY);
        img.getRaster().setSample(1, 0, 0, 255);
        Path f = png(img, "ramp.png");
        // upscale 2 -> 4: source x = (ox + 0.5) / 2 - 0.5 = -0.25 (clamped), 0.25, 0.75, 1.25 (clamped)
        FloatTensor up = ImageLoader.load(f, Preprocessing.builder().size(4, 3).scale(1).build());
        assertArrayEquals(new long[] {1, 3, 3, 4}, up.shape());
        for (int y = 0; y < 3; y++) {
            assertEquals(0f, at(up, 0, y, 0), 1e-4f);
            assertEquals(63.75f, at(up, 1, y, 1), 1e-4f);
            assertEquals(191.25f, at(up, 2, y, 2), 1e-4f);
            assertEquals(255f, at(up, 0, y, 3), 1e-4f);
        }
        // downscale 4x4 -> 2x2: each output is the mean of a 2x2 block (source position 0.5 / 2.5)
        BufferedImage sq = new BufferedImage(4, 4, BufferedImage.TYPE_BYTE_GRAY);
        for (int y = 0; y < 4; y++) for (int x = 0; x < 4; x++) sq.getRaster().setSample(x, y, 0, 16 * y + x);
        FloatTensor down = ImageLoader.load(png(sq, "sq.png"), Preprocessing.builder().size(2, 2).scale(1).build());
        assertEquals((0 + 1 + 16 + 17) / 4f, at(down, 0, 0, 0), 1e-4f);
        assertEquals((2 + 3 + 18 + 19) / 4f, at(down, 1, 0, 1), 1e-4f);
        assertEquals((34 + 35 + 50 + 51) / 4f, at(down, 2, 1, 1), 1e-4f);
    }

    @Test
    void readsJpeg() throws IOException {
        BufferedImage img = new BufferedImage(64, 48, BufferedImage.TYPE_3BYTE_BGR);
        for (int y = 0; y < 48; y++) for (int x = 0; x < 64; x++) img.setRGB(x, y, 0xc86432); // (200, 100, 50)
        Path f = dir.resolve("photo.JPG");
        assertTrue(ImageIO.write(img, "jpeg", f.toFile()));
        FloatTensor t = ImageLoader.load(f, Preprocessing.builder().size(32, 32).scale(1).build());
        assertArrayEquals(new long[] {1, 3, 32, 32}, t.shape());
        assertEquals(200, at(t, 0, 10, 10), 3);
        assertEquals(100, at(t, 1, 10, 10), 3);
        assertEquals(50, at(t, 2, 10, 10), 3);
    }

    /**
     * A CMYK JPEG (Adobe marker, black separated) reads as Pillow's {@code convert("RGB")} reads it, value for value;
     * the colour model's own sRGB view, which it used to go through, is 52 levels off on average here.
     */
    @Test
    void cmykJpegReadsAsPillowConvertsIt() throws Exception {
        Path cmyk = Path.of(ImageLoaderTest.class.getResource("/images/astronaut-cmyk.jpg").toURI());
        Path pil = Path.of(ImageLoaderTest.class.getResource("/images/astronaut-cmyk.pil-rgb.png").toURI());
        BufferedImage decoded = ImageLoader.read(cmyk);
        assertEquals(java.awt.color.ColorSpace.TYPE_CMYK, decoded.getColorModel().getColorSpace().getType());
        Preprocessing same = Preprocessing.builder().size(128, 96).scale(1).build();
        FloatTensor ours = ImageLoader.load(cmyk, same);
        assertArrayEquals(ImageLoader.load(pil, same).data(), ours.data());

        double off = 0;
        for (int y = 0; y < 96; y++) {
            for (int x = 0; x < 128; x++) {
                int v = decoded.getRGB(x, y);
                off += Math.abs(((v >> 16) & 0xff) - at(ours, 0, y, x)) + Math.abs(((v >> 8) & 0xff) - at(ours, 1, y, x))
                        + Math.abs((v & 0xff) - at(ours, 2, y, x));
            }
        }
        assertTrue(off / (3 * 96 * 128) > 20, "the colour model's view: " + off / (3 * 96 * 128));
    }

    /**
     * A CMYK TIFF (photometric interpretation 5) of the same samples reads as Pillow converts it too. It carries the
     * RGB profile Pillow kept from the source image, and ImageIO's TIFF reader gives its four samples as R, G, B and
     * alpha by that profile: the inks themselves read as colours.
     */
    @Test
    void cmykTiffReadsAsPillowConvertsIt() throws Exception {
        Path tif = Path.of(ImageLoaderTest.class.getResource("/images/astronaut-cmyk.tif").toURI());
        Path pil = Path.of(ImageLoaderTest.class.getResource("/images/astronaut-cmyk.pil-rgb.png").toURI());
        Preprocessing same = Preprocessing.builder().size(128, 96).scale(1).build();
        assertArrayEquals(ImageLoader.load(pil, same).data(), ImageLoader.load(tif, same).data());
        BufferedImage asImageIoReadsIt = ImageIO.read(tif.toFile());
        assertEquals(4, asImageIoReadsIt.getColorModel().getNumComponents());
        assertTrue(asImageIoReadsIt.getColorModel().hasAlpha());
    }

    @Test
    void deterministic() throws IOException {
        Path f = png(rgb3x2(BufferedImage.TYPE_3BYTE_BGR), "a.png");
        assertArrayEquals(ImageLoader.load(f, size(7, 5)).data(), ImageLoader.load(f, size(7, 5)).data());
    }

    @Test
    void unreadableFileNamesTheFile() throws IOException {
        Path f = dir.resolve("not-an-image.png");
        Files.writeString(f, "this is text");
        QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> ImageLoader.load(f, size(2, 2)));
        assertEquals(f + ": cannot decode the image (not a PNG, JPEG, BMP, GIF or TIFF file?)", e.getMessage());
        Path missing = dir.resolve("missing.png");
        e = assertThrows(QuantbridgeException.class, () -> ImageLoader.load(missing, size(2, 2)));
        assertEquals(missing + ": no such image file", e.getMessage());
        Path truncated = dir.resolve("cut.png");
        byte[] full = Files.readAllBytes(png(rgb3x2(BufferedImage.TYPE_3BYTE_BGR), "full.png"));
        Files.write(truncated, java.util.Arrays.copyOf(full, 40));
        e = assertThrows(QuantbridgeException.class, () -> ImageLoader.load(truncated, size(2, 2)));
        assertTrue(e.getMessage().startsWith(truncated + ": cannot decode the image"), e.getMessage());
    }

    /**
     * The JPEG decoder fills what a cut-short file lacks with gray and returns it without an error (PIL refuses such a
     * file); its warnings say so, and the image is refused. Bytes between segments, which it also warns about and
     * which some cameras write, cost nothing of the image and pass.
     */
    @Test
    void aCutShortJpegIsRefusedAndStrayBytesBetweenSegmentsAreNot() throws IOException {
        BufferedImage img = new BufferedImage(64, 48, BufferedImage.TYPE_3BYTE_BGR);
        java.util.Random r = new java.util.Random(1);
        for (int y = 0; y < 48; y++) for (int x = 0; x < 64; x++) img.setRGB(x, y, r.nextInt(1 << 24));
        Path full = dir.resolve("full.jpg");
        assertTrue(ImageIO.write(img, "jpeg", full.toFile()));
        byte[] bytes = Files.readAllBytes(full);

        Path cut = dir.resolve("cut.jpg");
        Files.write(cut, java.util.Arrays.copyOf(bytes, bytes.length * 2 / 3));
        assertEquals(64, ImageIO.read(cut.toFile()).getWidth(), "ImageIO alone decodes it");
        QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> ImageLoader.load(cut, size(8, 8)));
        assertEquals(cut + ": the image is damaged (the JPEG decoder says: Truncated File - Missing EOI marker; Corrupt"
                + " JPEG data: premature end of data segment), and would give its damaged part as gray", e.getMessage());
        // held in memory: refused alike, under the name given
        byte[] cutBytes = Files.readAllBytes(cut);
        e = assertThrows(QuantbridgeException.class, () -> ImageLoader.read(cutBytes, "upload 7"));
        assertTrue(e.getMessage().startsWith("upload 7: the image is damaged (the JPEG decoder says: Truncated"),
                e.getMessage());
        assertArrayEquals(ImageLoader.load(full, size(8, 8)).data(),
                ImageLoader.toTensor(ImageLoader.read(bytes, "upload"), size(8, 8), "upload").data());
        e = assertThrows(QuantbridgeException.class, () -> ImageLoader.read(new byte[0], "upload 8"));
        assertEquals("upload 8: the image is empty (0 bytes)", e.getMessage());
        e = assertThrows(QuantbridgeException.class, () -> ImageLoader.read("GIF89a?".getBytes(), "upload 9"));
        assertTrue(e.getMessage().startsWith("upload 9: cannot decode the image"), e.getMessage());

        // two stray bytes before the first Huffman table (FF C4): "Corrupt JPEG data: 2 extraneous bytes before
        // marker 0xc4"
        int dht = 2;
        while (!(bytes[dht] == (byte) 0xFF && bytes[dht + 1] == (byte) 0xC4)) dht++;
        byte[] padded = new byte[bytes.length + 2];
        System.arraycopy(bytes, 0, padded, 0, dht);
        padded[dht] = 0x12;
        padded[dht + 1] = 0x34;
        System.arraycopy(bytes, dht, padded, dht + 2, bytes.length - dht);
        Path stray = dir.resolve("stray.jpg");
        Files.write(stray, padded);
        java.util.List<String> warnings = new java.util.ArrayList<>();
        try (var in = ImageIO.createImageInputStream(stray.toFile())) {
            var reader = ImageIO.getImageReaders(in).next();
            reader.addIIOReadWarningListener((source, w) -> warnings.add(w));
            reader.setInput(in);
            reader.read(0);
            reader.dispose();
        }
        assertTrue(warnings.contains("Corrupt JPEG data: 2 extraneous bytes before marker 0xc4"), warnings.toString());
        assertArrayEquals(ImageLoader.load(full, size(8, 8)).data(), ImageLoader.load(stray, size(8, 8)).data());
    }

    /** A PNG whose header declares {@code w x h} gray pixels, followed by one tiny deflated row. */
    private static byte[] pngDeclaring(int w, int h) throws IOException {
        java.io.ByteArrayOutputStream png = new java.io.ByteArrayOutputStream();
        java.io.DataOutputStream out = new java.io.DataOutputStream(png);
        out.write(new byte[] {(byte) 0x89, 'P', 'N', 'G', 13, 10, 26, 10});
        java.nio.ByteBuffer ihdr = java.nio.ByteBuffer.allocate(13).putInt(w).putInt(h).put((byte) 8);
        java.io.ByteArrayOutputStream z = new java.io.ByteArrayOutputStream();
        try (java.util.zip.DeflaterOutputStream d = new java.util.zip.DeflaterOutputStream(z)) {
            d.write(new byte[16]);
        }
        for (Object[] c : new Object[][] {{"IHDR", ihdr.array()}, {"IDAT", z.toByteArray()}, {"IEND", new byte[0]}}) {
            byte[] type = ((String) c[0]).getBytes(java.nio.charset.StandardCharsets.US_ASCII);
            byte[] data = (byte[]) c[1];
            java.util.zip.CRC32 crc = new java.util.zip.CRC32();
            crc.update(type);
            crc.update(data);
            out.writeInt(data.length);
            out.write(type);
            out.write(data);
            out.writeInt((int) crc.getValue());
        }
        return png.toByteArray();
    }

    @Test
    void anImageDeclaringMorePixelsThanPillowDecodesIsRefusedFromItsHeader() throws IOException {
        // 222 bytes that declare 15000 x 15000 (225 M pixels): ImageIO would allocate them before reading a row
        byte[] bomb = pngDeclaring(15000, 15000);
        Path f = dir.resolve("bomb.png");
        Files.write(f, bomb);
        QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> ImageLoader.read(f));
        assertEquals(f + ": 15000 x 15000 is 225,000,000 pixels, more than the 178,956,970 decoded at most (Pillow's"
                + " limit for decompression bombs; the file may declare a size it does not hold);"
                + " -Dquantbridge.image.maxPixels=N raises it, 0 for none", e.getMessage());
        e = assertThrows(QuantbridgeException.class, () -> ImageLoader.read(bomb, "upload"));
        assertTrue(e.getMessage().startsWith("upload: 15000 x 15000 is 225,000,000 pixels"), e.getMessage());
        // the limit is the property's, read on each image
        Path small = png(rgb3x2(BufferedImage.TYPE_3BYTE_BGR), "small.png");
        try {
            System.setProperty(ImageLoader.MAX_PIXELS_PROPERTY, "5");
            e = assertThrows(QuantbridgeException.class, () -> ImageLoader.read(small));
            assertTrue(e.getMessage().startsWith(small + ": 3 x 2 is 6 pixels, more than the 5 decoded at most"),
                    e.getMessage());
            System.setProperty(ImageLoader.MAX_PIXELS_PROPERTY, "6");
            assertEquals(3, ImageLoader.read(small).getWidth());
            System.setProperty(ImageLoader.MAX_PIXELS_PROPERTY, "lots");
            e = assertThrows(QuantbridgeException.class, () -> ImageLoader.read(small));
            assertEquals("-Dquantbridge.image.maxPixels=lots is not a pixel count (0 for no limit)", e.getMessage());
        } finally {
            System.clearProperty(ImageLoader.MAX_PIXELS_PROPERTY);
        }
    }

    @Test
    void sizeMustBeSet() throws IOException {
        Path f = png(rgb3x2(BufferedImage.TYPE_3BYTE_BGR), "a.png");
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> ImageLoader.load(f, Preprocessing.defaults()));
        assertEquals(f + ": --size is not set (0x0) and no model input gave one", e.getMessage());
    }

    /** A w x h RGB image whose every pixel and channel differs: (x, y) = (7x + 3y, 255 - 5x - 2y, 11y + x) mod 256. */
    private static BufferedImage pattern(int w, int h) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int r = (7 * x + 3 * y) & 0xff;
                int g = (255 - 5 * x - 2 * y) & 0xff;
                int b = (11 * y + x) & 0xff;
                img.setRGB(x, y, r << 16 | g << 8 | b);
            }
        }
        return img;
    }

    private static FloatTensor stretch(BufferedImage img, int w, int h, Preprocessing base) {
        return ImageLoader.toTensor(img, base.toBuilder().size(w, h).build(), "stretched");
    }

    @Test
    void cropCutsTheCentreAtTheInputsAspectRatio() {
        Preprocessing norm = Preprocessing.builder().mean(0.4, 0.5, 0.6).std(0.2, 0.3, 0.4).build();
        Preprocessing crop = norm.toBuilder().resize(Preprocessing.Resize.CROP).build();
        // a wide image: its centre square, resized, and nothing of the sides
        BufferedImage wide = pattern(12, 4);
        assertArrayEquals(stretch(wide.getSubimage(4, 0, 4, 4), 2, 2, norm).data(),
                stretch(wide, 2, 2, crop).data());
        // a tall one into a wide input: the centre band of the input's aspect ratio (12x6 of 12x16)
        BufferedImage tall = pattern(12, 16);
        assertArrayEquals(stretch(tall.getSubimage(0, 5, 12, 6), 4, 2, norm).data(),
                stretch(tall, 4, 2, crop).data());
        // a crop fraction keeps that part of the covering size: 0.5 of 8x8 is the centre 4x4, pixel for pixel
        BufferedImage sq = pattern(8, 8);
        FloatTensor half = stretch(sq, 4, 4, crop.toBuilder().cropFraction(0.5).build());
        assertArrayEquals(stretch(sq.getSubimage(2, 2, 4, 4), 4, 4, norm).data(), half.data());
        // the same aspect ratio and fraction 1: the plain resize
        assertArrayEquals(stretch(sq, 4, 4, norm).data(), stretch(sq, 4, 4, crop).data());
    }

    @Test
    void padFitsTheWholeImageAndFillsTheRestWithThePadColour() {
        // PaddleOCR's normalization, where a pad colour of 127.5 comes out as 0
        Preprocessing norm = Preprocessing.builder().mean(0.5, 0.5, 0.5).std(0.5, 0.5, 0.5).build();
        Preprocessing pad = norm.toBuilder().resize(Preprocessing.Resize.PAD).padColor(127.5).build();
        BufferedImage wide = pattern(8, 4);
        FloatTensor content = stretch(wide, 4, 2, norm);
        // centred in 4x5: the image is 4x2, with one row of padding above and two below
        FloatTensor centred = stretch(wide, 4, 5, pad);
        assertArrayEquals(new long[] {1, 3, 5, 4}, centred.shape());
        for (int c = 0; c < 3; c++) {
            for (int y = 0; y < 5; y++) {
                for (int x = 0; x < 4; x++) {
                    float expected = y == 1 || y == 2 ? at(content, c, y - 1, x) : 0f;
                    assertEquals(expected, at(centred, c, y, x), 0f, "c" + c + " y" + y + " x" + x);
                }
            }
        }
        // at the top left, in NHWC with BGR channels: the padding is below, in the colour's B, G, R order
        Preprocessing topLeft = norm.toBuilder().layout(Layout.NHWC).bgr(true).resize(Preprocessing.Resize.PAD)
                .padColor(255, 127.5, 0).padAt(Preprocessing.Placement.TOP_LEFT).build();
        FloatTensor below = stretch(wide, 4, 4, topLeft);
        FloatTensor contentBgr = stretch(wide, 4, 2, norm.toBuilder().layout(Layout.NHWC).bgr(true).build());
        for (int y = 0; y < 4; y++) {
            for (int x = 0; x < 4; x++) {
                float[] expected = y < 2
                        ? new float[] {at(contentBgr, 0, y, x), at(contentBgr, 1, y, x), at(contentBgr, 2, y, x)}
                        : new float[] {-1f, 0f, 1f};
                for (int c = 0; c < 3; c++) assertEquals(expected[c], at(below, c, y, x), 0f);
            }
        }
        // a tall image pads columns; one gray channel pads with the colour's BT.601 luma
        BufferedImage tall = pattern(3, 12);
        Preprocessing grayPad = Preprocessing.builder().scale(1).gray(true).resize(Preprocessing.Resize.PAD)
                .padColor(100, 200, 50).build();
        FloatTensor g = ImageLoader.toTensor(tall, grayPad.toBuilder().size(4, 8).build(), "tall");
        FloatTensor gContent = ImageLoader.toTensor(tall, Preprocessing.builder().scale(1).gray(true).size(2, 8)
                .build(), "tall");
        float luma = (float) (0.299 * 100 + 0.587 * 200 + 0.114 * 50);
        for (int y = 0; y < 8; y++) {
            assertEquals(luma, g.data()[y * 4], 1e-4f);
            assertEquals(gContent.data()[y * 2], g.data()[y * 4 + 1], 0f);
            assertEquals(gContent.data()[y * 2 + 1], g.data()[y * 4 + 2], 0f);
            assertEquals(luma, g.data()[y * 4 + 3], 1e-4f);
        }
    }

    @Test
    void heightScalesTextLinesToTheHeightPadsNarrowOnesAndSqueezesWideOnes() {
        Preprocessing norm = Preprocessing.builder().mean(0.5, 0.5, 0.5).std(0.5, 0.5, 0.5).build();
        Preprocessing lines = norm.toBuilder().resize(Preprocessing.Resize.HEIGHT).padColor(127.5).build();
        assertEquals(Preprocessing.Placement.TOP_LEFT, lines.padAt());
        // 7x4 into 8x2: width ceil(2 * 7 / 4) = 4 (PaddleOCR's rounding), on the left, 0 after the normalization
        BufferedImage narrow = pattern(7, 4);
        FloatTensor t = stretch(narrow, 8, 2, lines);
        FloatTensor content = stretch(narrow, 4, 2, norm);
        for (int c = 0; c < 3; c++) {
            for (int y = 0; y < 2; y++) {
                for (int x = 0; x < 8; x++) {
                    assertEquals(x < 4 ? at(content, c, y, x) : 0f, at(t, c, y, x), 0f, "c" + c + " y" + y + " x" + x);
                }
            }
        }
        // 20x4 would be 10 wide: squeezed to the input's 8, which is the plain resize
        BufferedImage wide = pattern(20, 4);
        assertArrayEquals(stretch(wide, 8, 2, norm).data(), stretch(wide, 8, 2, lines).data());
        // for a model of dynamic width, the wide line is fed at its own width, 10, not squeezed
        FloatTensor widened = stretch(wide, 8, 2, lines.toBuilder().widenLines(true).build());
        assertArrayEquals(new long[] {1, 3, 2, 10}, widened.shape());
        assertArrayEquals(stretch(wide, 10, 2, norm).data(), widened.data());
        assertArrayEquals(t.data(), stretch(narrow, 8, 2, lines.toBuilder().widenLines(true).build()).data());
        // centred on request
        FloatTensor centred = stretch(narrow, 8, 2, lines.toBuilder().padAt(Preprocessing.Placement.CENTER).build());
        for (int x = 0; x < 8; x++) {
            assertEquals(x >= 2 && x < 6 ? at(content, 1, 1, x - 2) : 0f, at(centred, 1, 1, x), 0f);
        }
        // toBuilder keeps the mode's own placement unset, so another mode does not inherit it
        assertEquals(Preprocessing.Placement.CENTER,
                lines.toBuilder().resize(Preprocessing.Resize.PAD).padAt(null).build().padAt());
    }

    @Test
    void antialiasAveragesEveryPixelAShrunkImageCovers() {
        // a ramp 0, 10, ..., 70 shrunk to 4: each output a triangle of radius 2 around source 1, 3, 5, 7, its
        // window cut at the edges and renormalized (PIL's bilinear); cv2's INTER_LINEAR reads 2 pixels: 5, 25, 45, 65
        BufferedImage ramp = new BufferedImage(8, 1, BufferedImage.TYPE_BYTE_GRAY);
        for (int x = 0; x < 8; x++) ramp.getRaster().setSample(x, 0, 0, 10 * x);
        Preprocessing plain = Preprocessing.builder().size(4, 1).scale(1).gray(true).build();
        assertArrayEquals(new float[] {5, 25, 45, 65}, ImageLoader.toTensor(ramp, plain, "ramp").data(), 1e-4f);
        float[] aa = ImageLoader.toTensor(ramp, plain.toBuilder().antialias(true).build(), "ramp").data();
        assertArrayEquals(new float[] {(0.75f * 10 + 0.25f * 20) / 1.75f, 25, 45, (0.25f * 50 + 0.75f * 60
                + 0.75f * 70) / 1.75f}, aa, 1e-4f);

        // against Pillow 13's Image.resize(BILINEAR) of the same values as a float image (mode F)
        BufferedImage img = pattern(13, 7);
        Preprocessing p = Preprocessing.builder().scale(1).antialias(true).build();
        FloatTensor down = stretch(img, 5, 3, p);
        float[][] pil = {
            {10.0381f, 26.1169f, 44.5714f, 63.0260f, 79.1048f},
            {16.4667f, 32.5455f, 51.0f, 69.4545f, 85.5333f},
            {22.8952f, 38.9740f, 57.4286f, 75.8831f, 91.9619f}};
        for (int y = 0; y < 3; y++) {
            for (int x = 0; x < 5; x++) assertEquals(pil[y][x], at(down, 0, y, x), 2e-3f, "y" + y + " x" + x);
        }
        // enlarging: the triangle keeps radius 1, which is bilinear (PIL renormalizes at the edges where cv2 clamps)
        FloatTensor up = stretch(img, 20, 9, p);
        float[] pilRow4 = {9.0f, 12.325f, 16.875f, 21.425f, 25.975f, 30.525f};
        for (int x = 0; x < pilRow4.length; x++) assertEquals(pilRow4[x], at(up, 0, 4, x), 2e-3f, "x" + x);
        assertEquals(true, p.toMap().get("antialias"));
    }

    @Test
    void fitFeedsEachImageAtItsOwnSizeRoundedToTheMultiple() {
        Preprocessing fit = Preprocessing.builder().size(960, 960).scale(1).resize(Preprocessing.Resize.FIT).build();
        // PaddleOCR's DetResizeForTest (limit_side_len 960, type max): never enlarged, sides to multiples of 32 with
        // Python's round (half to even), at least 32
        assertArrayEquals(new int[] {512, 480}, fit.inputSize(512, 480));
        assertArrayEquals(new int[] {544, 352}, fit.inputSize(548, 342)); // 17.125 and 10.69 multiples
        assertArrayEquals(new int[] {960, 672}, fit.inputSize(1200, 836)); // 0.8 x: 960 x 668.8 -> 672
        assertArrayEquals(new int[] {32, 32}, fit.inputSize(5, 3));
        assertArrayEquals(new int[] {64, 32}, fit.inputSize(48, 10)); // 1.5 rounds to 2, 0.31 to at least 1
        assertArrayEquals(new int[] {64, 32}, fit.inputSize(80, 32)); // 2.5 multiples: half to even, as Python's round
        assertArrayEquals(new int[] {96, 32}, fit.toBuilder().multipleOf(16).build().inputSize(88, 24)); // 5.5, 1.5
        // the tensor takes that shape, the whole image resized to it
        BufferedImage img = pattern(548, 342);
        FloatTensor t = ImageLoader.toTensor(img, fit, "messi");
        assertArrayEquals(new long[] {1, 3, 352, 544}, t.shape());
        assertArrayEquals(stretch(img, 544, 352, Preprocessing.builder().scale(1).build()).data(), t.data());
        assertEquals(Map.of("resize", "fit", "multiple_of", 32), Map.of("resize", fit.toMap().get("resize"),
                "multiple_of", fit.toMap().get("multiple_of")));
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> Preprocessing.builder().multipleOf(64).build());
        assertEquals("--multiple-of 64 applies with --resize fit (the resize is stretch)", e.getMessage());
    }

    @Test
    void resizeOptionsAreRefusedWhereTheyWouldDoNothing() {
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> Preprocessing.builder().cropFraction(0.875).build());
        assertEquals("--crop-fraction 0.875 applies with --resize crop (the resize is stretch)", e.getMessage());
        e = assertThrows(QuantbridgeException.class,
                () -> Preprocessing.builder().resize(Preprocessing.Resize.CROP).padColor(114).build());
        assertEquals("--pad-color applies with --resize pad or height (the resize is crop)", e.getMessage());
        e = assertThrows(QuantbridgeException.class,
                () -> Preprocessing.builder().padAt(Preprocessing.Placement.TOP_LEFT).build());
        assertEquals("--pad-at applies with --resize pad or height (the resize is stretch)", e.getMessage());
        e = assertThrows(QuantbridgeException.class, () -> Preprocessing.builder().cropFraction(1.5));
        assertEquals("--crop-fraction: 1.5 is not in (0, 1]", e.getMessage());
        e = assertThrows(QuantbridgeException.class, () -> Preprocessing.builder().padColor(0, 300, 0));
        assertTrue(e.getMessage().startsWith("--pad-color: [0.0, 300.0, 0.0] is not a colour of pixel values in"
                + " 0..255"), e.getMessage());
        e = assertThrows(QuantbridgeException.class, () -> Preprocessing.Resize.parse("letterbox"));
        assertEquals("--resize: 'letterbox' is not stretch, crop, pad, height or fit", e.getMessage());
        assertEquals(Preprocessing.Placement.TOP_LEFT, Preprocessing.Placement.parse("Top-Left"));
    }

    @Test
    void theResizeIsRecordedUnlessItIsTheDefaultStretch() {
        assertTrue(!Preprocessing.builder().build().toMap().containsKey("resize"));
        var crop = Preprocessing.builder().resize(Preprocessing.Resize.CROP).cropFraction(0.875).build().toMap();
        assertEquals("crop", crop.get("resize"));
        assertEquals(0.875, crop.get("crop_fraction"));
        var pad = Preprocessing.builder().resize(Preprocessing.Resize.PAD).padColor(114)
                .padAt(Preprocessing.Placement.TOP_LEFT).build().toMap();
        assertEquals("pad", pad.get("resize"));
        assertEquals(java.util.List.of(114.0, 114.0, 114.0), pad.get("pad_color"));
        assertEquals("top-left", pad.get("pad_at"));
    }
}
