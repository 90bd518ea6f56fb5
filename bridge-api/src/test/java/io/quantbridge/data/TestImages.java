package io.quantbridge.data;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;

/** Small black images written where a data-folder test needs them. */
public final class TestImages {
    private TestImages() { }

    /** An 8x8 image at {@code file} (PNG for a {@code .png} name, else JPEG), its folders created. */
    public static Path write(Path file) throws IOException {
        Files.createDirectories(file.getParent());
        BufferedImage img = new BufferedImage(8, 8, BufferedImage.TYPE_3BYTE_BGR);
        ImageIO.write(img, file.toString().toLowerCase(java.util.Locale.ROOT).endsWith(".png") ? "png" : "jpeg",
                file.toFile());
        return file;
    }

    /** {@link #write(Path)} at each of {@code names}, relative paths below {@code root}. */
    public static void write(Path root, String... names) throws IOException {
        for (String n : names) write(root.resolve(n));
    }
}
