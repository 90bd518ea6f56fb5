package io.quantbridge.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.CRC32;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ExifOrientationTest {
    @TempDir
    Path dir;

    /** A 5x3 image whose pixels all differ, so that any misplaced pixel shows. */
    private static BufferedImage distinct(int type) {
        BufferedImage img = new BufferedImage(5, 3, type);
        for (int y = 0; y < 3; y++) {
            for (int x = 0; x < 5; x++) {
                img.setRGB(x, y, 0xff000000 | (40 * x) << 16 | (60 * y) << 8 | (7 * x + 13 * y));
            }
        }
        return img;
    }

    /** The stored pixel that orientation {@code o} shows at {@code (x, y)}, as EXIF defines the eight values. */
    private static int[] storedAt(int o, int x, int y, int w, int h) {
        return switch (o) {
            case 1 -> new int[] {x, y};
            case 2 -> new int[] {w - 1 - x, y};
            case 3 -> new int[] {w - 1 - x, h - 1 - y};
            case 4 -> new int[] {x, h - 1 - y};
            case 5 -> new int[] {y, x};
            case 6 -> new int[] {y, h - 1 - x};
            case 7 -> new int[] {w - 1 - y, h - 1 - x};
            case 8 -> new int[] {w - 1 - y, x};
            default -> throw new AssertionError(o);
        };
    }

    /** Every sample of {@code shown} is the stored sample that orientation {@code o} puts there. */
    private static void assertShows(BufferedImage stored, int o, BufferedImage shown) {
        int w = stored.getWidth();
        int h = stored.getHeight();
        boolean swap = o >= 5;
        assertEquals(swap ? h : w, shown.getWidth(), "width, orientation " + o);
        assertEquals(swap ? w : h, shown.getHeight(), "height, orientation " + o);
        Raster s = stored.getRaster();
        Raster d = shown.getRaster();
        for (int y = 0; y < shown.getHeight(); y++) {
            for (int x = 0; x < shown.getWidth(); x++) {
                int[] at = storedAt(o, x, y, w, h);
                assertArrayEquals(s.getPixel(at[0], at[1], (int[]) null), d.getPixel(x, y, (int[]) null),
                        "orientation " + o + ", shown pixel (" + x + ", " + y + ")");
            }
        }
    }

    /** A TIFF structure whose IFD0 holds a width entry and then the orientation, in the given byte order. */
    private static byte[] tiff(int orientation, ByteOrder order) {
        ByteBuffer b = ByteBuffer.allocate(8 + 2 + 2 * 12 + 4).order(order);
        b.put(order == ByteOrder.LITTLE_ENDIAN ? (byte) 'I' : (byte) 'M');
        b.put(order == ByteOrder.LITTLE_ENDIAN ? (byte) 'I' : (byte) 'M');
        b.putShort((short) 42).putInt(8);
        b.putShort((short) 2);
        b.putShort((short) 0x0100).putShort((short) 4).putInt(1).putInt(5); // ImageWidth, LONG
        b.putShort((short) 0x0112).putShort((short) 3).putInt(1).putShort((short) orientation).putShort((short) 0);
        b.putInt(0); // no next IFD
        return b.array();
    }

    /** The JPEG with an APP1 "Exif" segment after its SOI marker, as cameras write it. */
    private static byte[] withExif(byte[] jpeg, byte[] tiff) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(jpeg, 0, 2);
        int length = 2 + 6 + tiff.length;
        out.write(new byte[] {(byte) 0xFF, (byte) 0xE1, (byte) (length >> 8), (byte) length}, 0, 4);
        out.write(new byte[] {'E', 'x', 'i', 'f', 0, 0}, 0, 6);
        out.write(tiff, 0, tiff.length);
        out.write(jpeg, 2, jpeg.length - 2);
        return out.toByteArray();
    }

    /** The PNG with an {@code eXIf} chunk after IHDR. */
    private static byte[] withExifChunk(byte[] png, byte[] tiff) {
        int afterIhdr = 8 + 8 + 13 + 4;
        ByteBuffer chunk = ByteBuffer.allocate(12 + tiff.length);
        chunk.putInt(tiff.length).put(new byte[] {'e', 'X', 'I', 'f'}).put(tiff);
        CRC32 crc = new CRC32();
        crc.update(chunk.array(), 4, 4 + tiff.length);
        chunk.putInt((int) crc.getValue());
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(png, 0, afterIhdr);
        out.write(chunk.array(), 0, chunk.capacity());
        out.write(png, afterIhdr, png.length - afterIhdr);
        return out.toByteArray();
    }

    private static byte[] encode(BufferedImage img, String format) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        assertTrue(ImageIO.write(img, format, out));
        return out.toByteArray();
    }

    private Path file(String name, byte[] bytes) throws IOException {
        Path f = dir.resolve(name);
        Files.write(f, bytes);
        return f;
    }

    @Test
    void eachOfTheEightJpegOrientationsIsShownAsExifDefinesIt() throws IOException {
        byte[] jpeg = encode(distinct(BufferedImage.TYPE_3BYTE_BGR), "jpeg");
        BufferedImage stored = ImageLoader.read(file("plain.jpg", jpeg));
        for (int o = 1; o <= 8; o++) {
            for (ByteOrder order : new ByteOrder[] {ByteOrder.LITTLE_ENDIAN, ByteOrder.BIG_ENDIAN}) {
                Path f = file("o" + o + order + ".jpg", withExif(jpeg, tiff(o, order)));
                assertEquals(o, ExifOrientation.of(f));
                assertShows(stored, o, ImageLoader.read(f));
                // the same bytes held in memory (an upload) are turned alike
                byte[] bytes = Files.readAllBytes(f);
                assertEquals(o, ExifOrientation.of(bytes));
                assertShows(stored, o, ImageLoader.read(bytes, "upload"));
            }
        }
    }

    /** A TIFF file carries the tag in its own IFD0 (ImageIO's writer puts that after the image data). */
    @Test
    void tiffFilesAreTurnedByTheirOwnOrientationTag() throws IOException {
        BufferedImage img = distinct(BufferedImage.TYPE_3BYTE_BGR);
        BufferedImage stored = null;
        for (int o = 1; o <= 8; o++) {
            javax.imageio.ImageWriter w = ImageIO.getImageWritersByFormatName("tiff").next();
            javax.imageio.metadata.IIOMetadata md = w.getDefaultImageMetadata(
                    new javax.imageio.ImageTypeSpecifier(img), w.getDefaultWriteParam());
            javax.imageio.plugins.tiff.TIFFDirectory ifd = javax.imageio.plugins.tiff.TIFFDirectory
                    .createFromMetadata(md);
            ifd.addTIFFField(new javax.imageio.plugins.tiff.TIFFField(javax.imageio.plugins.tiff.BaselineTIFFTagSet
                    .getInstance().getTag(javax.imageio.plugins.tiff.BaselineTIFFTagSet.TAG_ORIENTATION), o));
            Path f = dir.resolve("o" + o + ".tif");
            try (javax.imageio.stream.ImageOutputStream out = ImageIO.createImageOutputStream(f.toFile())) {
                w.setOutput(out);
                w.write(null, new javax.imageio.IIOImage(img, null, ifd.getAsMetadata()), w.getDefaultWriteParam());
            } finally {
                w.dispose();
            }
            assertEquals(o, ExifOrientation.of(f));
            BufferedImage shown = ImageLoader.read(f);
            if (o == 1) stored = shown;
            assertShows(stored, o, shown);
            assertEquals(o, ExifOrientation.of(Files.readAllBytes(f)));
            assertShows(stored, o, ImageLoader.read(Files.readAllBytes(f), "upload.tif"));
        }
    }

    @Test
    void pngOrientationTurnsRgbPaletteAndSixteenBitGrayImagesExactly() throws IOException {
        BufferedImage gray16 = new BufferedImage(5, 3, BufferedImage.TYPE_USHORT_GRAY);
        for (int y = 0; y < 3; y++) {
            for (int x = 0; x < 5; x++) gray16.getRaster().setSample(x, y, 0, 1000 * x + 17 * y + 40000);
        }
        byte[] levels = new byte[16];
        for (int i = 0; i < 16; i++) levels[i] = (byte) (i * 16);
        BufferedImage palette = new BufferedImage(5, 3, BufferedImage.TYPE_BYTE_BINARY,
                new IndexColorModel(4, 16, levels, levels, levels));
        for (int y = 0; y < 3; y++) {
            for (int x = 0; x < 5; x++) palette.getRaster().setSample(x, y, 0, x + 5 * y);
        }
        BufferedImage[] images = {distinct(BufferedImage.TYPE_INT_ARGB), gray16, palette};
        for (BufferedImage img : images) {
            byte[] png = encode(img, "png");
            BufferedImage stored = ImageLoader.read(file("plain.png", png));
            for (int o : new int[] {2, 3, 6, 7, 8}) {
                Path f = file("o" + o + ".png", withExifChunk(png, tiff(o, ByteOrder.BIG_ENDIAN)));
                BufferedImage shown = ImageLoader.read(f);
                assertEquals(stored.getColorModel(), shown.getColorModel());
                assertShows(stored, o, shown);
            }
        }
    }

    @Test
    void aPortraitPhoneJpegGivesTheTensorOfTheUprightPicture() throws IOException {
        // a phone stores the upright 3x5 picture as the 5x3 raster turned counter-clockwise, with orientation 6
        BufferedImage raster = distinct(BufferedImage.TYPE_3BYTE_BGR);
        byte[] png = encode(raster, "png");
        Path phone = file("phone.png", withExifChunk(png, tiff(6, ByteOrder.LITTLE_ENDIAN)));
        Preprocessing p = Preprocessing.builder().size(3, 5).scale(1).build();
        float[] t = ImageLoader.load(phone, p).data();
        assertArrayEquals(new long[] {1, 3, 5, 3}, ImageLoader.load(phone, p).shape());
        // shown pixel (x, y) is stored pixel (y, 2 - x): its red channel is 40 * y
        for (int y = 0; y < 5; y++) {
            for (int x = 0; x < 3; x++) assertEquals(40 * y, t[y * 3 + x], "red at (" + x + ", " + y + ")");
        }
    }

    @Test
    void missingDamagedOrOutOfRangeTagsLeaveThePixelsAsStored() throws IOException {
        byte[] jpeg = encode(distinct(BufferedImage.TYPE_3BYTE_BGR), "jpeg");
        BufferedImage plain = ImageLoader.read(file("plain.jpg", jpeg));
        byte[] zero = tiff(0, ByteOrder.LITTLE_ENDIAN);
        byte[] nine = tiff(9, ByteOrder.LITTLE_ENDIAN);
        byte[] badMagic = tiff(6, ByteOrder.LITTLE_ENDIAN);
        badMagic[2] = 43;
        byte[] ifdOutside = tiff(6, ByteOrder.BIG_ENDIAN);
        ifdOutside[7] = 100;
        byte[] truncated = java.util.Arrays.copyOf(tiff(6, ByteOrder.LITTLE_ENDIAN), 30);
        for (byte[] t : new byte[][] {zero, nine, badMagic, ifdOutside, truncated}) {
            Path f = file("bad.jpg", withExif(jpeg, t));
            assertEquals(1, ExifOrientation.of(f));
            assertShows(plain, 1, ImageLoader.read(f));
        }
        assertEquals(1, ExifOrientation.of(file("plain.jpg", jpeg)));
        assertEquals(1, ExifOrientation.of(file("short.jpg", new byte[] {(byte) 0xFF})));
    }
}
