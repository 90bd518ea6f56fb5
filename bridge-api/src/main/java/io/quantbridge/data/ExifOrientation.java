package io.quantbridge.data;

import java.awt.image.BufferedImage;
import java.awt.image.Raster;
import java.awt.image.WritableRaster;
import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The EXIF orientation of a JPEG (APP1 "Exif" segment), PNG ({@code eXIf} chunk) or TIFF (its own IFD0), and the
 * turn that shows the stored pixels the way a viewer does. Phone cameras store a portrait photo as a landscape raster
 * with orientation 6 ("rotate 90 degrees clockwise to view"); ImageIO decodes the raster and ignores the tag, so
 * without this a model would be calibrated and judged on a sideways photo. OpenCV's {@code imread} applies the tag too.
 *
 * <p>Orientation values (TIFF 6.0 / EXIF 2.3, tag 0x0112), for a stored image {@code S} of width {@code w} and height
 * {@code h} and the displayed image {@code D}: 1 as stored; 2 mirrored left-right, {@code D(x, y) = S(w-1-x, y)};
 * 3 turned 180 degrees; 4 mirrored top-bottom; 5 transposed, {@code D(x, y) = S(y, x)}; 6 turned 90 degrees clockwise,
 * {@code D(x, y) = S(y, h-1-x)}; 7 transversed, {@code D(x, y) = S(w-1-y, h-1-x)}; 8 turned 90 degrees
 * counter-clockwise, {@code D(x, y) = S(w-1-y, x)}. A missing, damaged or out-of-range tag reads as 1, as viewers
 * take it.
 */
final class ExifOrientation {
    private ExifOrientation() { }

    static final int AS_STORED = 1;
    private static final int ORIENTATION_TAG = 0x0112;
    private static final int TIFF_SHORT = 3;

    /** The file's EXIF orientation (1-8), 1 where it has none or it cannot be read. Reads only the file's header. */
    static int of(Path file) {
        try (InputStream raw = Files.newInputStream(file);
                DataInputStream in = new DataInputStream(new BufferedInputStream(raw, 8192))) {
            int b0 = in.readUnsignedByte();
            int b1 = in.readUnsignedByte();
            if (b0 == 0xFF && b1 == 0xD8) return fromJpeg(in);
            if (b0 == 0x89 && b1 == 'P') return fromPng(in);
            if ((b0 == 'I' && b1 == 'I') || (b0 == 'M' && b1 == 'M')) return fromTiffFile(file);
            return AS_STORED;
        } catch (IOException | RuntimeException e) {
            return AS_STORED; // a file too short or damaged to carry a tag: the decoder says what is wrong with it
        }
    }

    /** The EXIF orientation (1-8) of an image held in memory, as {@link #of(Path)} reads a file's. */
    static int of(byte[] bytes) {
        try (DataInputStream in = new DataInputStream(new java.io.ByteArrayInputStream(bytes))) {
            int b0 = in.readUnsignedByte();
            int b1 = in.readUnsignedByte();
            if (b0 == 0xFF && b1 == 0xD8) return fromJpeg(in);
            if (b0 == 0x89 && b1 == 'P') return fromPng(in);
            if ((b0 == 'I' && b1 == 'I') || (b0 == 'M' && b1 == 'M')) return fromTiff(ByteBuffer.wrap(bytes));
            return AS_STORED;
        } catch (IOException | RuntimeException e) {
            return AS_STORED;
        }
    }

    /** Walks the JPEG's segments up to the first scan, looking for an APP1 segment that starts with "Exif\0\0". */
    private static int fromJpeg(DataInputStream in) throws IOException {
        while (true) {
            int b = in.readUnsignedByte();
            if (b != 0xFF) return AS_STORED; // not at a marker: a damaged header
            int marker = in.readUnsignedByte();
            while (marker == 0xFF) marker = in.readUnsignedByte(); // fill bytes
            if (marker == 0xDA || marker == 0xD9) return AS_STORED; // start of scan, end of image
            if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue; // markers without a length
            int length = in.readUnsignedShort() - 2;
            if (length < 0) return AS_STORED;
            if (marker == 0xE1 && length >= 6) {
                byte[] segment = in.readNBytes(length);
                if (segment.length == length && segment[0] == 'E' && segment[1] == 'x' && segment[2] == 'i'
                        && segment[3] == 'f' && segment[4] == 0 && segment[5] == 0) {
                    return fromTiff(ByteBuffer.wrap(segment, 6, segment.length - 6).slice());
                }
            } else {
                in.skipNBytes(length);
            }
        }
    }

    /** Walks the PNG's chunks up to the image data ({@code eXIf} comes before IDAT) or the end. */
    private static int fromPng(DataInputStream in) throws IOException {
        byte[] rest = in.readNBytes(6);
        if (rest.length != 6 || rest[0] != 'N' || rest[1] != 'G') return AS_STORED;
        while (true) {
            long length = Integer.toUnsignedLong(in.readInt());
            int type = in.readInt();
            if (type == 0x65584966 && length <= 1 << 20) { // "eXIf"
                byte[] data = in.readNBytes((int) length);
                return data.length == length ? fromTiff(ByteBuffer.wrap(data)) : AS_STORED;
            }
            if (type == 0x49444154 || type == 0x49454E44) return AS_STORED; // IDAT, IEND
            in.skipNBytes(length + 4); // the data and its CRC
        }
    }

    /**
     * A TIFF file's own orientation tag (TIFF 6.0 defines it; EXIF took it from there): the header, then only IFD0,
     * wherever in the file it is (writers often put it after the image data).
     */
    private static int fromTiffFile(Path file) throws IOException {
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(file)) {
            ByteBuffer header = ByteBuffer.allocate(8);
            if (ch.read(header, 0) != 8) return AS_STORED;
            if (header.get(0) == 'I') header.order(ByteOrder.LITTLE_ENDIAN);
            if (header.getShort(2) != 42) return AS_STORED;
            long ifd = Integer.toUnsignedLong(header.getInt(4));
            ByteBuffer count = ByteBuffer.allocate(2).order(header.order());
            if (ifd < 8 || ch.read(count, ifd) != 2) return AS_STORED;
            int entries = Short.toUnsignedInt(count.getShort(0));
            // the IFD read as a small TIFF of its own: header, then the entries at offset 8
            ByteBuffer tiff = ByteBuffer.allocate(8 + 2 + 12 * entries).order(header.order());
            tiff.put(0, header.get(0)).put(1, header.get(1)).putShort(2, (short) 42).putInt(4, 8);
            ch.read(tiff.position(8), ifd);
            return fromTiff(tiff.clear());
        }
    }

    /** The orientation entry of IFD0 in a TIFF structure ("II" or "MM", 42, the offset of IFD0). */
    private static int fromTiff(ByteBuffer tiff) {
        try {
            if (tiff.get(0) == 'I' && tiff.get(1) == 'I') tiff.order(ByteOrder.LITTLE_ENDIAN);
            else if (tiff.get(0) == 'M' && tiff.get(1) == 'M') tiff.order(ByteOrder.BIG_ENDIAN);
            else return AS_STORED;
            if (tiff.getShort(2) != 42) return AS_STORED;
            long ifd = Integer.toUnsignedLong(tiff.getInt(4));
            if (ifd > tiff.limit() - 2) return AS_STORED;
            int entries = Short.toUnsignedInt(tiff.getShort((int) ifd));
            for (int i = 0; i < entries; i++) {
                int at = (int) ifd + 2 + 12 * i;
                if (at + 12 > tiff.limit()) return AS_STORED;
                if (Short.toUnsignedInt(tiff.getShort(at)) != ORIENTATION_TAG) continue;
                if (tiff.getShort(at + 2) != TIFF_SHORT || tiff.getInt(at + 4) != 1) return AS_STORED;
                int value = Short.toUnsignedInt(tiff.getShort(at + 8));
                return value >= 1 && value <= 8 ? value : AS_STORED;
            }
            return AS_STORED;
        } catch (IndexOutOfBoundsException e) {
            return AS_STORED;
        }
    }

    /**
     * The image as displayed under {@code orientation}: {@code img} itself for 1, else a new image of the same colour
     * model (palette, 16-bit and alpha images included) with its samples moved, exactly; width and height swap for
     * 5-8.
     */
    static BufferedImage apply(BufferedImage img, int orientation) {
        if (orientation < 2 || orientation > 8) return img;
        int w = img.getWidth();
        int h = img.getHeight();
        boolean swap = orientation >= 5;
        Raster src = img.getRaster();
        WritableRaster dst = img.getColorModel().createCompatibleWritableRaster(swap ? h : w, swap ? w : h);
        int bands = src.getNumBands();
        int[] row = new int[w * bands];
        int[] line = new int[w * bands];
        for (int sy = 0; sy < h; sy++) {
            src.getPixels(src.getMinX(), src.getMinY() + sy, w, 1, row);
            // the stored row lands on a displayed row (1-4) or column (5-8), forwards or backwards
            int[] first = displayed(orientation, 0, sy, w, h);
            int[] last = displayed(orientation, w - 1, sy, w, h);
            boolean backwards = swap ? last[1] < first[1] : last[0] < first[0];
            int[] out = row;
            if (backwards) {
                for (int x = 0; x < w; x++) System.arraycopy(row, x * bands, line, (w - 1 - x) * bands, bands);
                out = line;
            }
            if (swap) dst.setPixels(first[0], Math.min(first[1], last[1]), 1, w, out);
            else dst.setPixels(Math.min(first[0], last[0]), first[1], w, 1, out);
        }
        return new BufferedImage(img.getColorModel(), dst, img.isAlphaPremultiplied(), null);
    }

    /** Where stored pixel {@code (x, y)} is displayed: {@code {dx, dy}}. */
    private static int[] displayed(int orientation, int x, int y, int w, int h) {
        return switch (orientation) {
            case 2 -> new int[] {w - 1 - x, y};
            case 3 -> new int[] {w - 1 - x, h - 1 - y};
            case 4 -> new int[] {x, h - 1 - y};
            case 5 -> new int[] {y, x};
            case 6 -> new int[] {h - 1 - y, x};
            case 7 -> new int[] {h - 1 - y, w - 1 - x};
            case 8 -> new int[] {y, w - 1 - x};
            default -> new int[] {x, y};
        };
    }
}
