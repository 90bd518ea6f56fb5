package io.quantbridge.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.tensor.TensorInfo;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SampleSourceTest {
    @TempDir
    Path dir;

    private static final TensorInfo IMAGE_NCHW = new TensorInfo("images", "float32", new long[] {1, 3, 4, 6});
    private static final TensorInfo DYNAMIC_NCHW = new TensorInfo("x", "float32", new long[] {-1, 3, -1, -1});

    private Path image(Path file) throws IOException {
        return TestImages.write(file);
    }

    private Path npy(Path file, long[] shape, float... values) throws IOException {
        Files.createDirectories(file.getParent());
        if (values.length == 0) values = new float[(int) FloatTensor.elementCount(shape)];
        NpyFile.write(file, new FloatTensor(shape, values));
        return file;
    }

    private static List<String> ids(SampleSource s) {
        return s.samples().stream().map(SampleRef::id).toList();
    }

    @Test
    void singleFile() throws IOException {
        Path f = image(dir.resolve("one.jpg"));
        SampleSource s = SampleSource.discover(f);
        assertEquals(List.of("one.jpg"), ids(s));
        assertEquals(SampleRef.Kind.IMAGE, s.samples().get(0).kind());
        Path n = npy(dir.resolve("x.npy"), new long[] {2});
        assertEquals(SampleRef.Kind.NPY, SampleSource.discover(n).samples().get(0).kind());
        Path md = dir.resolve("notes.md");
        Files.writeString(md, "hi");
        assertEquals("calibration data " + md + ": not an image (.png, .jpg, .jpeg, .bmp, .gif, .tif, .tiff), .npy or .npz file",
                assertThrows(QuantbridgeException.class, () -> SampleSource.discover(md)).getMessage());
        // a .txt file is a list of sample paths
        Path txt = dir.resolve("notes.txt");
        Files.writeString(txt, "hi");
        assertEquals("calibration data " + txt + " line 1: hi does not exist (a .txt file is read as a list of sample"
                + " paths, one a line, relative to its folder)",
                assertThrows(QuantbridgeException.class, () -> SampleSource.discover(txt)).getMessage());
    }

    @Test
    void folderOfFilesSortedHiddenAndOtherTypesIgnored() throws IOException {
        Path d = dir.resolve("calib");
        TestImages.write(d, "b.png", "a.JPEG", "c.jpg", ".hidden.png", "._a.jpg");
        Files.writeString(d.resolve("README.txt"), "x");
        Files.createDirectories(d.resolve("notes")).resolve("x.txt").toFile().createNewFile();
        SampleSource s = SampleSource.discover(d);
        assertEquals(List.of("a.JPEG", "b.png", "c.jpg"), ids(s));
        assertEquals(List.of(SampleRef.Kind.IMAGE, SampleRef.Kind.IMAGE, SampleRef.Kind.IMAGE),
                s.samples().stream().map(SampleRef::kind).toList());
        assertEquals(d.resolve("a.JPEG"), s.samples().get(0).files().get(0));
        assertEquals(3, s.size());
        assertEquals(d, s.root());
    }

    /**
     * BMP, GIF and TIFF, which ImageIO reads, are samples like PNG and JPEG, and read as the same pixels; WebP and
     * HEIF, which it cannot read, were skipped without a word (a folder of phone photos and WebP downloads lost the
     * downloads): now they are refused, naming one and the way out.
     */
    @Test
    void bmpGifAndTiffAreImagesAndUndecodableOnesAreRefusedNotSkipped() throws IOException {
        Path d = Files.createDirectories(dir.resolve("mixed"));
        BufferedImage img = new BufferedImage(8, 6, BufferedImage.TYPE_3BYTE_BGR);
        for (int y = 0; y < 6; y++) for (int x = 0; x < 8; x++) img.setRGB(x, y, (x * 30) << 16 | (y * 40) << 8 | 200);
        for (String[] f : new String[][] {{"a.png", "png"}, {"b.BMP", "bmp"}, {"c.gif", "gif"}, {"d.tif", "tiff"},
                {"e.tiff", "tiff"}}) {
            assertTrue(ImageIO.write(img, f[1], d.resolve(f[0]).toFile()), f[1]);
        }
        SampleSource s = SampleSource.discover(d);
        assertEquals(List.of("a.png", "b.BMP", "c.gif", "d.tif", "e.tiff"), ids(s));
        Preprocessing pre = Preprocessing.builder().size(8, 6).scale(1).build();
        float[] png = ImageLoader.load(d.resolve("a.png"), pre).data();
        for (SampleRef r : s.samples()) {
            float[] t = SampleSource.load(r, List.of(DYNAMIC_NCHW), pre).get("x").data();
            assertArrayEquals(png, t, r.id()); // the GIF's palette holds these few colours exactly
        }

        Files.write(d.resolve("f.webp"), new byte[] {'R', 'I', 'F', 'F'});
        Files.write(d.resolve("g.HEIC"), new byte[] {0});
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> SampleSource.discover(d, SampleSource.EVALUATION));
        assertEquals("evaluation data " + d + ": holds 2 images in a format quantbridge cannot decode (e.g. f.webp, a"
                + " WebP image): convert to PNG or JPEG (.png, .jpg, .jpeg, .bmp, .gif, .tif, .tiff are read); left"
                + " out, they would go missing from the data set unnoticed", e.getMessage());
        Files.delete(d.resolve("f.webp"));
        assertTrue(assertThrows(QuantbridgeException.class, () -> SampleSource.discover(d)).getMessage()
                .endsWith(": holds 1 image in a format quantbridge cannot decode (e.g. g.HEIC, a HEIF image): convert"
                        + " to PNG or JPEG (.png, .jpg, .jpeg, .bmp, .gif, .tif, .tiff are read); left out, it would go"
                        + " missing from the data set unnoticed"));
        assertEquals("calibration data " + d.resolve("g.HEIC") + ": a HEIF image, which quantbridge cannot decode:"
                + " convert to PNG or JPEG (.png, .jpg, .jpeg, .bmp, .gif, .tif, .tiff are read)",
                assertThrows(QuantbridgeException.class, () -> SampleSource.discover(d.resolve("g.HEIC")))
                        .getMessage());
    }

    /**
     * Images sorted into class folders (ImageNet's {@code val/n01440764/*.JPEG}) are read whole. Sub-folders were not
     * searched: such a folder gave "no images found", and one with a few photos beside its class folders calibrated
     * on those few alone, without a word.
     */
    @Test
    void imagesInSubFoldersAreSamplesNamedByTheirRelativePath() throws IOException {
        Path d = dir.resolve("val");
        TestImages.write(d, "top.jpg", "n02/b.png", "n01/a.JPEG", "n01/deep/c.png", ".git/objects/x.png");
        Files.createDirectories(d.resolve("arrays"));
        Files.createSymbolicLink(d.resolve("n02/loop"), d); // a link back up the tree is walked once
        SampleSource s = SampleSource.discover(d);
        assertEquals(List.of("n01/a.JPEG", "n01/deep/c.png", "n02/b.png", "top.jpg"), ids(s));
        assertEquals(Map.of("", 1, "n01/", 1, "n01/deep/", 1, "n02/", 1), s.subFolders());
        assertEquals(List.of("", "n01/", "n01/deep/", "n02/"), List.copyOf(s.subFolders().keySet()));
        assertEquals(Map.of(), SampleSource.discover(d.resolve("n01/deep")).subFolders());
        assertEquals(d.resolve("n01/deep/c.png"), s.samples().get(1).path());
        assertEquals(SampleRef.Kind.IMAGE, s.samples().get(1).kind());

        // an undecodable image deep down is refused like one at the top, by its relative path
        Files.write(d.resolve("n02/z.webp"), new byte[] {'R', 'I', 'F', 'F'});
        assertEquals("calibration data " + d + ": holds 1 image in a format quantbridge cannot decode (e.g."
                + " n02/z.webp, a WebP image): convert to PNG or JPEG (.png, .jpg, .jpeg, .bmp, .gif, .tif, .tiff are"
                + " read); left out, it would go missing from the data set unnoticed",
                assertThrows(QuantbridgeException.class, () -> SampleSource.discover(d)).getMessage());
        Files.delete(d.resolve("n02/z.webp"));

        // .npz files in sub-folders are samples too, and arrays beside images are refused as at the top
        Files.copy(NpzFileTest.fixture("tokens.npz"), d.resolve("arrays/t.npz"));
        assertEquals("calibration data " + d + ": holds both images (4, e.g. n01/a.JPEG) and arrays (1, e.g."
                + " arrays/t.npz); images are preprocessed (--size, --scale, --mean, --std) and arrays are fed as they"
                + " are, so put them in separate folders",
                assertThrows(QuantbridgeException.class, () -> SampleSource.discover(d)).getMessage());

        // a file or folder given as excluded is left out (the evaluation folder inside the calibration folder)
        assertEquals(List.of("n01/a.JPEG", "n01/deep/c.png", "n02/b.png", "top.jpg"),
                ids(SampleSource.discover(d, SampleSource.CALIBRATION, null, d.resolve("arrays"))));
        Files.delete(d.resolve("arrays/t.npz"));
        assertEquals(List.of("n01/a.JPEG", "n01/deep/c.png", "top.jpg"),
                ids(SampleSource.discover(d, SampleSource.CALIBRATION, null, d.resolve("n02"))));
        assertEquals(List.of("n01/a.JPEG", "n01/deep/c.png", "n02/b.png"),
                ids(SampleSource.discover(d, SampleSource.CALIBRATION, null, d.resolve("top.jpg"))));
    }

    /**
     * A list file names a curated subset of a large data set, one path a line (TensorRT's samples take their
     * calibration images so); a {@code .txt} was refused as "not an image".
     */
    @Test
    void aListFileNamesItsSamplesOneALine() throws IOException {
        Path d = dir.resolve("imagenet");
        TestImages.write(d, "val/n01/a.JPEG", "val/n02/b.png", "val/n02/c.png");
        Path far = TestImages.write(dir.resolve("elsewhere/far.png"));
        Path list = d.resolve("calib.txt");
        Files.writeString(list, "\uFEFF# the calibration subset\n\nval/n02/b.png\n  val/n01/a.JPEG  \n" + far + "\n");
        SampleSource s = SampleSource.discover(list, SampleSource.CALIBRATION, null);
        assertEquals(List.of(far.toString(), "val/n01/a.JPEG", "val/n02/b.png"), ids(s));
        assertEquals(d.resolve("val/n01/a.JPEG"), s.samples().get(1).path());
        assertEquals(SampleRef.Kind.IMAGE, s.samples().get(1).kind());
        assertEquals(list, s.root());

        Files.writeString(list, "val/n02/b.png\nval/n02/missing.png\n");
        assertEquals("calibration data " + list + " line 2: val/n02/missing.png does not exist",
                assertThrows(QuantbridgeException.class, () -> SampleSource.discover(list)).getMessage());
        Files.writeString(list, "val/n02/b.png\nval/n01/../n02/b.png\n");
        assertEquals("calibration data " + list + " line 2: val/n01/../n02/b.png is listed twice (line 1 names the"
                + " same file)", assertThrows(QuantbridgeException.class, () -> SampleSource.discover(list))
                .getMessage());
        Files.writeString(list, "val/n02\n");
        assertEquals("calibration data " + list + " line 1: val/n02 is a folder without .npy files; list the samples"
                + " themselves", assertThrows(QuantbridgeException.class, () -> SampleSource.discover(list))
                .getMessage());
        Files.writeString(d.resolve("notes.md"), "x");
        Files.writeString(list, "notes.md\n");
        assertEquals("calibration data " + list + " line 1: notes.md is not an image (.png, .jpg, .jpeg, .bmp, .gif,"
                + " .tif, .tiff), .npy or .npz file", assertThrows(QuantbridgeException.class,
                () -> SampleSource.discover(list)).getMessage());
        Files.writeString(list, "# nothing yet\n");
        assertEquals("calibration data " + list + ": lists no samples",
                assertThrows(QuantbridgeException.class, () -> SampleSource.discover(list)).getMessage());
        // the folder rules hold: a folder of .npy files is one sample, and images and arrays are not mixed
        npy(d.resolve("s1/ids.npy"), new long[] {1, 4});
        Files.writeString(list, "s1\n");
        assertEquals(SampleRef.Kind.NPY_FOLDER, SampleSource.discover(list).samples().get(0).kind());
        Files.writeString(list, "s1/ids.npy\nval/n02/c.png\n");
        assertTrue(assertThrows(QuantbridgeException.class, () -> SampleSource.discover(list)).getMessage()
                .startsWith("calibration data " + list + ": lists both images (1, e.g. val/n02/c.png) and arrays (1,"
                        + " e.g. s1/ids.npy)"));
    }

    @Test
    void folderOfSampleFolders() throws IOException {
        Path d = dir.resolve("calib");
        npy(d.resolve("s2").resolve("ids.npy"), new long[] {1, 4});
        npy(d.resolve("s2").resolve("mask.npy"), new long[] {1, 4});
        npy(d.resolve("s1").resolve("ids.npy"), new long[] {1, 4});
        npy(d.resolve(".cache").resolve("ids.npy"), new long[] {1, 4});
        npy(d.resolve("more/s3").resolve("ids.npy"), new long[] {1, 4}); // wherever it lies
        Files.createDirectories(d.resolve("empty"));
        SampleSource s = SampleSource.discover(d);
        assertEquals(List.of("more/s3", "s1", "s2"), ids(s));
        SampleRef s2 = s.samples().get(2);
        assertEquals(SampleRef.Kind.NPY_FOLDER, s2.kind());
        assertEquals(List.of(d.resolve("s2/ids.npy"), d.resolve("s2/mask.npy")), s2.files());
    }

    @Test
    void mixedFilesAndFoldersIsAmbiguous() throws IOException {
        Path d = dir.resolve("calib");
        image(d.resolve("a.png"));
        npy(d.resolve("s1").resolve("x.npy"), new long[] {1});
        QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> SampleSource.discover(d));
        assertEquals("calibration data " + d + ": holds both sample files (1, e.g. a.png) and sample folders of"
                + " .npy files (1, e.g. s1); put them in separate folders", e.getMessage());
    }

    @Test
    void imagesAndArraysInOneFolderAreRefused() throws IOException {
        Path d = dir.resolve("mixed");
        image(d.resolve("b.png"));
        image(d.resolve("c.jpg"));
        npy(d.resolve("a.npy"), new long[] {1, 3, 4, 6});
        QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> SampleSource.discover(d));
        assertEquals("calibration data " + d + ": holds both images (2, e.g. b.png) and arrays (1, e.g. a.npy);"
                + " images are preprocessed (--size, --scale, --mean, --std) and arrays are fed as they are, so put"
                + " them in separate folders", e.getMessage());
        // .npy and .npz files are both arrays
        Files.delete(d.resolve("b.png"));
        Files.delete(d.resolve("c.jpg"));
        Files.copy(NpzFileTest.fixture("tokens.npz"), d.resolve("b.npz"));
        assertEquals(List.of("a.npy", "b.npz"), ids(SampleSource.discover(d)));
    }

    @Test
    void emptyAndMissing() throws IOException {
        Path d = Files.createDirectories(dir.resolve("calib"));
        Files.writeString(d.resolve("labels.csv"), "x");
        image(d.resolve(".hidden.png"));
        assertEquals("calibration data " + d + ": no images (.png, .jpg, .jpeg, .bmp, .gif, .tif, .tiff), .npy or .npz files found",
                assertThrows(QuantbridgeException.class, () -> SampleSource.discover(d)).getMessage());
        Path missing = dir.resolve("nope");
        assertEquals("calibration data " + missing + " does not exist",
                assertThrows(QuantbridgeException.class, () -> SampleSource.discover(missing)).getMessage());
        assertEquals("evaluation data " + missing + " does not exist", assertThrows(QuantbridgeException.class,
                () -> SampleSource.discover(missing, SampleSource.EVALUATION)).getMessage());
    }

    @Test
    void imageTakesItsSizeFromTheModel() throws IOException {
        Path f = image(dir.resolve("a.png"));
        SampleRef ref = SampleSource.discover(f).samples().get(0);
        Map<String, FloatTensor> in = SampleSource.load(ref, List.of(IMAGE_NCHW), Preprocessing.defaults());
        assertEquals(List.of("images"), List.copyOf(in.keySet()));
        assertArrayEquals(new long[] {1, 3, 4, 6}, in.get("images").shape());

        TensorInfo nhwc = new TensorInfo("x", "float32", new long[] {1, 5, 7, 3});
        Preprocessing p = Preprocessing.builder().layout(Layout.NHWC).build();
        assertArrayEquals(new long[] {1, 5, 7, 3}, SampleSource.load(ref, List.of(nhwc), p).get("x").shape());

        Preprocessing sized = Preprocessing.builder().size(10, 20).build();
        assertArrayEquals(new long[] {1, 3, 20, 10}, SampleSource.load(ref, List.of(DYNAMIC_NCHW), sized)
                .get("x").shape());
    }

    @Test
    void imageSizeErrorsNameTheOption() throws IOException {
        SampleRef ref = SampleSource.discover(image(dir.resolve("a.png"))).samples().get(0);
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> SampleSource.load(ref, List.of(DYNAMIC_NCHW), Preprocessing.defaults()));
        assertEquals("--size: model input 'x' [-1, 3, -1, -1] has a dynamic height or width; give the image size"
                + " with --size WIDTHxHEIGHT", e.getMessage());
        e = assertThrows(QuantbridgeException.class, () -> SampleSource.load(ref, List.of(IMAGE_NCHW),
                Preprocessing.builder().size(224, 224).build()));
        assertEquals("--size 224x224 does not match model input 'images' [1, 3, 4, 6], which takes 6x4 images",
                e.getMessage());
        // --resize fit: each image at its own size, which only a model of dynamic height and width takes
        Preprocessing fit = Preprocessing.builder().size(960, 960).resize(Preprocessing.Resize.FIT).build();
        e = assertThrows(QuantbridgeException.class, () -> SampleSource.load(ref, List.of(IMAGE_NCHW), fit));
        assertEquals("--resize fit feeds each image at its own size, but model input 'images' [1, 3, 4, 6] takes 6x4"
                + " images; use --resize crop, pad or stretch", e.getMessage());
        e = assertThrows(QuantbridgeException.class, () -> SampleSource.load(ref, List.of(DYNAMIC_NCHW),
                Preprocessing.builder().resize(Preprocessing.Resize.FIT).build()));
        assertEquals("--resize fit: give the size images are fitted within with --size WIDTHxHEIGHT (960x960 for"
                + " PaddleOCR's detector)", e.getMessage());
        // the image's own size (image() writes an 8x8 one), rounded up to one multiple
        assertArrayEquals(new long[] {1, 3, 32, 32}, SampleSource.load(ref, List.of(DYNAMIC_NCHW), fit).get("x")
                .shape());
        // --resize height: a model of dynamic width takes a line wider than --size at its own width (8x8 at height
        // 2 is 2 wide), where a fixed width squeezes it
        Preprocessing lines = Preprocessing.builder().size(1, 2).resize(Preprocessing.Resize.HEIGHT).build();
        assertArrayEquals(new long[] {1, 3, 2, 2}, SampleSource.load(ref, List.of(DYNAMIC_NCHW), lines).get("x")
                .shape());
        assertArrayEquals(new long[] {1, 3, 2, 4}, SampleSource.load(ref, List.of(DYNAMIC_NCHW),
                lines.toBuilder().size(4, 2).build()).get("x").shape());
        assertEquals(true, SampleSource.resolve(List.of(DYNAMIC_NCHW), lines).toMap().get("widen_lines"));
        TensorInfo fixedWidth = new TensorInfo("x", "float32", new long[] {1, 3, 2, 1});
        assertArrayEquals(new long[] {1, 3, 2, 1}, SampleSource.load(ref, List.of(fixedWidth), lines).get("x")
                .shape());
        assertEquals(null, SampleSource.resolve(List.of(fixedWidth), lines).toMap().get("widen_lines"));
    }

    @Test
    void imageNeedsOneImageInput() throws IOException {
        Path f = image(dir.resolve("a.png"));
        SampleRef ref = SampleSource.discover(f).samples().get(0);
        TensorInfo other = new TensorInfo("scale", "float32", new long[] {1});
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> SampleSource.load(ref, List.of(IMAGE_NCHW, other), Preprocessing.defaults()));
        assertEquals("calibration data " + f + ": an image can feed only a model with one input, but the model has 2"
                + " (images, scale); give one sub-folder per sample holding <input name>.npy for each input, or one"
                + " .npz file per sample",
                e.getMessage());
        TensorInfo twoChannels = new TensorInfo("mel", "float32", new long[] {1, 76, 32, 2});
        e = assertThrows(QuantbridgeException.class,
                () -> SampleSource.load(ref, List.of(twoChannels), Preprocessing.defaults()));
        assertEquals("calibration data " + f + ": model input 'mel' [1, 76, 32, 2] has no dimension of 3 (colour) or 1"
                + " (gray) channels where either layout puts them ([N, C, H, W] or [N, H, W, C]); images give 3"
                + " channels or 1, so give .npy files instead", e.getMessage());
        TensorInfo flat = new TensorInfo("v", "float32", new long[] {1, 10});
        e = assertThrows(QuantbridgeException.class,
                () -> SampleSource.load(ref, List.of(flat), Preprocessing.defaults()));
        assertEquals("calibration data " + f + ": model input 'v' [1, 10] is not an image input (rank 4,"
                + " [N, C, H, W] for --layout nchw, C = 3 or 1); give .npy files instead", e.getMessage());
    }

    @Test
    void imagesTakeTheLayoutAndChannelsOfTheModelInput() throws IOException {
        BufferedImage img = new BufferedImage(8, 8, BufferedImage.TYPE_3BYTE_BGR);
        for (int y = 0; y < 8; y++) {
            for (int x = 0; x < 8; x++) img.setRGB(x, y, (x * 31) << 16 | (y * 29) << 8 | ((x * y * 7) & 0xff));
        }
        Path f = dir.resolve("colours.png");
        ImageIO.write(img, "png", f.toFile());
        SampleRef ref = SampleSource.discover(f).samples().get(0);
        // [1, 128, 128, 3] is NHWC whatever the default layout says, and [1, 3, H, W] NCHW whatever --layout says
        TensorInfo nhwc = new TensorInfo("x", "float32", new long[] {1, 6, 8, 3});
        FloatTensor t = SampleSource.load(ref, List.of(nhwc), Preprocessing.defaults()).get("x");
        assertArrayEquals(new long[] {1, 6, 8, 3}, t.shape());
        FloatTensor same = SampleSource.load(ref, List.of(nhwc),
                Preprocessing.builder().layout(Layout.NHWC).build()).get("x");
        assertArrayEquals(same.data(), t.data());
        FloatTensor nchw = SampleSource.load(ref, List.of(IMAGE_NCHW),
                Preprocessing.builder().layout(Layout.NHWC).build()).get("images");
        assertArrayEquals(new long[] {1, 3, 4, 6}, nchw.shape());
        assertEquals("nhwc", SampleSource.resolve(List.of(nhwc), Preprocessing.defaults()).toMap().get("layout"));

        // one channel: gray images, one mean and one std
        TensorInfo gray = new TensorInfo("g", "float32", new long[] {1, 1, 4, 6});
        Preprocessing half = Preprocessing.builder().mean(0.5).std(0.5).build();
        FloatTensor g = SampleSource.load(ref, List.of(gray), half).get("g");
        assertArrayEquals(new long[] {1, 1, 4, 6}, g.shape());
        FloatTensor rgb = SampleSource.load(ref, List.of(IMAGE_NCHW), half).get("images");
        assertTrue(rgb.data()[0] != rgb.data()[24] || rgb.data()[1] != rgb.data()[25], "a colour image");
        for (int i = 0; i < 24; i++) {
            double luma = 0.299 * rgb.data()[i] + 0.587 * rgb.data()[24 + i] + 0.114 * rgb.data()[48 + i];
            assertEquals(luma, g.data()[i], 1e-5, "pixel " + i);
        }
        TensorInfo grayNhwc = new TensorInfo("m", "float32", new long[] {1, 4, 6, 1});
        assertArrayEquals(g.data(), SampleSource.load(ref, List.of(grayNhwc), half).get("m").data());
        assertEquals("gray", SampleSource.resolve(List.of(gray), half).toMap().get("channel_order"));
        QuantbridgeException e = assertThrows(QuantbridgeException.class, () -> SampleSource.load(ref, List.of(gray),
                Preprocessing.builder().mean(0.485, 0.456, 0.406).build()));
        assertEquals("--mean: model input 'g' [1, 1, 4, 6] takes gray images (one channel), so it takes one value,"
                + " not [0.485, 0.456, 0.406]", e.getMessage());
    }

    @Test
    void unreadableImageNamesTheFile() throws IOException {
        Path f = dir.resolve("broken.jpg");
        Files.writeString(f, "not a jpeg");
        SampleRef ref = SampleSource.discover(f).samples().get(0);
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> SampleSource.load(ref, List.of(IMAGE_NCHW), Preprocessing.defaults()));
        assertEquals("calibration data " + f + ": cannot decode the image (not a PNG, JPEG, BMP, GIF or TIFF file?)", e.getMessage());
    }

    @Test
    void npyShapeIsChecked() throws IOException {
        Path f = npy(dir.resolve("a.npy"), new long[] {3, 4, 6});
        SampleRef ref = SampleSource.discover(f).samples().get(0);
        // the missing batch dimension is added
        assertArrayEquals(new long[] {1, 3, 4, 6},
                SampleSource.load(ref, List.of(IMAGE_NCHW), Preprocessing.defaults()).get("images").shape());
        assertArrayEquals(new long[] {1, 3, 4, 6},
                SampleSource.load(ref, List.of(DYNAMIC_NCHW), Preprocessing.defaults()).get("x").shape());
        TensorInfo exact = new TensorInfo("t", "float32", new long[] {3, -1, 6});
        assertArrayEquals(new long[] {3, 4, 6},
                SampleSource.load(ref, List.of(exact), Preprocessing.defaults()).get("t").shape());

        TensorInfo wrong = new TensorInfo("images", "float32", new long[] {1, 3, 224, 224});
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> SampleSource.load(ref, List.of(wrong), Preprocessing.defaults()));
        assertEquals("calibration data " + f + ": shape [3, 4, 6] does not match model input 'images'"
                + " [1, 3, 224, 224]", e.getMessage());
        TensorInfo wrongDyn = new TensorInfo("x", "float32", new long[] {-1, 1, -1, -1});
        e = assertThrows(QuantbridgeException.class,
                () -> SampleSource.load(ref, List.of(wrongDyn), Preprocessing.defaults()));
        assertEquals("calibration data " + f + ": shape [3, 4, 6] does not match model input 'x'"
                + " [-1, 1, -1, -1] (-1 = any size)", e.getMessage());
        TensorInfo batch2 = new TensorInfo("x", "float32", new long[] {2, 3, 4, 6});
        assertThrows(QuantbridgeException.class,
                () -> SampleSource.load(ref, List.of(batch2), Preprocessing.defaults()));
    }

    /** An input whose rank the model leaves open (an ONNX tensor type without a shape) is not a scalar. */
    @Test
    void anInputOfAnyRankTakesArraysAsTheyAreAndImagesAtTheGivenSize() throws IOException {
        TensorInfo any = TensorInfo.ofUnknownRank("x", "float");
        assertEquals("x float[any rank]", any.toString());
        assertTrue(any.isDynamic());
        assertThrows(IllegalArgumentException.class, () -> new TensorInfo("x", "float", new long[] {1}, false));
        assertNotEquals(any, new TensorInfo("x", "float", new long[0]));

        for (long[] shape : new long[][] {{3, 4, 6}, {7}, {1, 3, 4, 6}}) {
            Path f = npy(dir.resolve("a" + shape.length + ".npy"), shape);
            SampleRef ref = SampleSource.discover(f).samples().get(0);
            assertArrayEquals(shape, SampleSource.load(ref, List.of(any), Preprocessing.defaults()).get("x").shape());
        }
        Path img = image(dir.resolve("a.png"));
        SampleRef ref = SampleSource.discover(img).samples().get(0);
        assertEquals("--size: model input 'x' [any rank] has a dynamic height or width; give the image size with"
                + " --size WIDTHxHEIGHT", assertThrows(QuantbridgeException.class,
                () -> SampleSource.load(ref, List.of(any), Preprocessing.defaults())).getMessage());
        assertArrayEquals(new long[] {1, 3, 20, 10}, SampleSource.load(ref, List.of(any),
                Preprocessing.builder().size(10, 20).build()).get("x").shape());
        Preprocessing nhwc = Preprocessing.builder().size(10, 20).layout(Layout.NHWC).build();
        assertEquals(nhwc, SampleSource.resolve(List.of(any), nhwc));
        assertArrayEquals(new long[] {1, 20, 10, 3}, SampleSource.load(ref, List.of(any), nhwc).get("x").shape());
        // a stacked file is split along its first dimension, as for a dynamic batch
        assertEquals(5, SampleSource.discover(NpzFileTest.fixture("stacked.npy"), SampleSource.CALIBRATION,
                List.of(any)).size());
    }

    /**
     * A uint8 image input (the model normalizes in its graph) takes whole pixel values: with scale 1, std 1 and whole
     * means the resized pixels are rounded; any other preprocessing is left as it is (and refused by the runtime).
     */
    @Test
    void anIntegerImageInputTakesWholePixelsWhenThePreprocessingKeepsThem() throws IOException {
        Path f = dir.resolve("noise.png");
        BufferedImage img = new BufferedImage(8, 8, BufferedImage.TYPE_3BYTE_BGR);
        java.util.Random r = new java.util.Random(2);
        for (int y = 0; y < 8; y++) for (int x = 0; x < 8; x++) img.setRGB(x, y, r.nextInt(1 << 24));
        ImageIO.write(img, "png", f.toFile());
        SampleRef ref = SampleSource.discover(f).samples().get(0);
        TensorInfo u8 = new TensorInfo("x", "uint8", new long[] {1, 3, 3, 5});
        TensorInfo f32 = new TensorInfo("x", "float32", new long[] {1, 3, 3, 5});
        Preprocessing pixels = Preprocessing.builder().scale(1).build();
        float[] asFloat = SampleSource.load(ref, List.of(f32), pixels).get("x").data();
        float[] asU8 = SampleSource.load(ref, List.of(u8), pixels).get("x").data();
        int fractions = 0;
        for (int i = 0; i < asFloat.length; i++) {
            assertEquals(Math.rint(asFloat[i]), asU8[i], 0, "pixel " + i);
            if (asFloat[i] != Math.rint(asFloat[i])) fractions++;
        }
        assertTrue(fractions > asFloat.length / 2, "the resize gives fractions: " + fractions);
        assertTrue(SampleSource.takesPixels(u8, Preprocessing.builder().scale(1).mean(128, 128, 128).build()));
        assertTrue(SampleSource.takesPixels(new TensorInfo("x", "int64", new long[0]), pixels));
        assertEquals(false, SampleSource.takesPixels(u8, Preprocessing.defaults())); // scale 1/255
        assertEquals(false, SampleSource.takesPixels(u8, Preprocessing.builder().scale(1).mean(127.5, 127.5, 127.5)
                .build()));
        assertEquals(false, SampleSource.takesPixels(u8, Preprocessing.builder().scale(1).std(2, 2, 2).build()));
        assertEquals(false, SampleSource.takesPixels(f32, pixels));
        assertArrayEquals(SampleSource.load(ref, List.of(f32), Preprocessing.defaults()).get("x").data(),
                SampleSource.load(ref, List.of(u8), Preprocessing.defaults()).get("x").data());
    }

    @Test
    void emptyArrayIsRefusedBeforeTheRuntimeSeesIt() throws IOException {
        // [0, 3, 4, 6] fits [-1, 3, -1, -1] dimension by dimension; ONNX Runtime then failed inside a Reshape
        Path f = npy(dir.resolve("e.npy"), new long[] {0, 3, 4, 6});
        SampleRef ref = SampleSource.discover(f).samples().get(0);
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> SampleSource.load(ref, List.of(DYNAMIC_NCHW), Preprocessing.defaults()));
        assertEquals("calibration data " + f + ": the array holds no values (shape [0, 3, 4, 6]), so there is"
                + " nothing to feed model input 'x' [-1, 3, -1, -1]", e.getMessage());
    }

    @Test
    void nanAndInfinityAreRefused() throws IOException {
        float[] v = new float[18];
        v[17] = Float.NaN;
        Path f = npy(dir.resolve("a").resolve("b.npy"), new long[] {1, 3, 2, 3}, v);
        SampleRef ref = SampleSource.discover(f).samples().get(0);
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> SampleSource.load(ref, List.of(DYNAMIC_NCHW), Preprocessing.defaults()));
        assertEquals("calibration data " + f + ": NaN at element 17 (index [0, 2, 1, 2])", e.getMessage());
        float[] w = new float[18];
        w[4] = Float.NEGATIVE_INFINITY;
        w[5] = Float.NaN;
        npy(f, new long[] {1, 3, 2, 3}, w);
        e = assertThrows(QuantbridgeException.class,
                () -> SampleSource.load(ref, List.of(DYNAMIC_NCHW), Preprocessing.defaults()));
        assertEquals("calibration data " + f + ": -Infinity at element 4 (index [0, 0, 1, 1])", e.getMessage());
    }

    @Test
    void corruptNpyNamesTheFile() throws IOException {
        Path f = dir.resolve("c.npy");
        Files.write(f, new byte[] {1, 2, 3});
        SampleRef ref = SampleSource.discover(f, SampleSource.EVALUATION).samples().get(0);
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> SampleSource.load(ref, List.of(DYNAMIC_NCHW), Preprocessing.defaults()));
        assertEquals("evaluation data " + f + ": not a .npy file (the magic string \\x93NUMPY is missing)",
                e.getMessage());
    }

    @Test
    void singleNpyNeedsASingleInputModel() throws IOException {
        Path f = npy(dir.resolve("a.npy"), new long[] {1});
        SampleRef ref = SampleSource.discover(f).samples().get(0);
        TensorInfo a = new TensorInfo("a", "float32", new long[] {1});
        TensorInfo b = new TensorInfo("b", "float32", new long[] {1});
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> SampleSource.load(ref, List.of(a, b), Preprocessing.defaults()));
        assertEquals("calibration data " + f + ": a single .npy file can feed only a model with one input, but the"
                + " model has 2 (a, b); give one sub-folder per sample holding <input name>.npy for each input, or one"
                + " .npz file per sample",
                e.getMessage());
    }

    @Test
    void sampleFoldersFeedInputsByName() throws IOException {
        Path d = dir.resolve("calib");
        npy(d.resolve("s1/input_ids.npy"), new long[] {1, 4}, 1, 2, 3, 4);
        npy(d.resolve("s1/attention_mask.npy"), new long[] {1, 4}, 1, 1, 1, 0);
        npy(d.resolve("s1/input_0.npy"), new long[] {2}, 5, 6);
        npy(d.resolve("s1/unused.npy"), new long[] {1});
        TensorInfo ids = new TensorInfo("input_ids", "int64", new long[] {1, -1});
        TensorInfo mask = new TensorInfo("attention_mask", "int64", new long[] {1, -1});
        TensorInfo colon = new TensorInfo("input:0", "float32", new long[] {2});
        SampleRef ref = SampleSource.discover(d).samples().get(0);
        Map<String, FloatTensor> in = SampleSource.load(ref, List.of(ids, mask, colon), Preprocessing.defaults());
        assertEquals(List.of("input_ids", "attention_mask", "input:0"), List.copyOf(in.keySet()));
        assertArrayEquals(new float[] {1, 2, 3, 4}, in.get("input_ids").data());
        assertArrayEquals(new float[] {1, 1, 1, 0}, in.get("attention_mask").data());
        assertArrayEquals(new float[] {5, 6}, in.get("input:0").data());

        TensorInfo typeIds = new TensorInfo("token_type_ids", "int64", new long[] {1, -1});
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> SampleSource.load(ref, List.of(ids, typeIds), Preprocessing.defaults()));
        assertEquals("calibration data " + d.resolve("s1") + ": no token_type_ids.npy for model input"
                + " 'token_type_ids' (found attention_mask.npy, input_0.npy, input_ids.npy, unused.npy)",
                e.getMessage());
    }

    @Test
    void singleInputTakesTheOnlyNpyWhateverItsName() throws IOException {
        Path d = dir.resolve("calib");
        npy(d.resolve("s1/whatever.npy"), new long[] {1, 3, 4, 6});
        SampleRef ref = SampleSource.discover(d).samples().get(0);
        assertArrayEquals(new long[] {1, 3, 4, 6},
                SampleSource.load(ref, List.of(IMAGE_NCHW), Preprocessing.defaults()).get("images").shape());
    }

    @Test
    void npzFilesFeedInputsByArrayName() throws IOException {
        Path d = dir.resolve("tokens");
        Files.createDirectories(d);
        Files.copy(NpzFileTest.fixture("tokens.npz"), d.resolve("a.npz"));
        Files.copy(NpzFileTest.fixture("tokens_compressed.npz"), d.resolve("b.npz"));
        SampleSource src = SampleSource.discover(d);
        assertEquals(List.of("a.npz", "b.npz"), ids(src));
        TensorInfo ids = new TensorInfo("input_ids", "int64", new long[] {1, -1});
        TensorInfo mask = new TensorInfo("attention_mask", "int64", new long[] {1, -1});
        for (SampleRef ref : src.samples()) {
            assertEquals(SampleRef.Kind.NPZ, ref.kind());
            Map<String, FloatTensor> in = SampleSource.load(ref, List.of(mask, ids), Preprocessing.defaults());
            assertEquals(List.of("attention_mask", "input_ids"), List.copyOf(in.keySet()));
            assertArrayEquals(new float[] {101, 7592, 2088, 102}, in.get("input_ids").data());
            assertArrayEquals(new long[] {1, 4}, in.get("attention_mask").shape());
        }
        TensorInfo typeIds = new TensorInfo("token_type_ids", "int64", new long[] {1, -1});
        SampleRef a = src.samples().get(0);
        assertEquals("calibration data " + d.resolve("a.npz") + ": no array 'token_type_ids' for model input"
                + " 'token_type_ids' (the arrays are input_ids, attention_mask; save them with numpy.savez(file,"
                + " <input name>=array, ...))",
                assertThrows(QuantbridgeException.class,
                        () -> SampleSource.load(a, List.of(ids, typeIds), Preprocessing.defaults())).getMessage());
        TensorInfo wide = new TensorInfo("input_ids", "int64", new long[] {1, 8});
        assertEquals("calibration data " + d.resolve("a.npz") + " array 'input_ids': shape [1, 4] does not match"
                + " model input 'input_ids' [1, 8]",
                assertThrows(QuantbridgeException.class,
                        () -> SampleSource.load(a, List.of(wide, mask), Preprocessing.defaults())).getMessage());
    }

    @Test
    void aFileGivenByItselfMayStackSamplesForTheModelsInputs() {
        Path npy = NpzFileTest.fixture("stacked.npy"); // [5, 2, 3]
        TensorInfo x = new TensorInfo("x", "float32", new long[] {1, 2, 3});
        SampleSource s = SampleSource.discover(npy, SampleSource.CALIBRATION, List.of(x));
        assertEquals(List.of("stacked.npy[0]", "stacked.npy[1]", "stacked.npy[2]", "stacked.npy[3]",
                "stacked.npy[4]"), ids(s));
        Map<String, FloatTensor> in = SampleSource.load(s.samples().get(2), List.of(x), Preprocessing.defaults());
        assertArrayEquals(new long[] {1, 2, 3}, in.get("x").shape());
        assertArrayEquals(new float[] {20, 21, 22, 23, 24, 25}, in.get("x").data());
        // an input without a batch dimension takes the slice as it is
        TensorInfo bare = new TensorInfo("x", "float32", new long[] {2, 3});
        assertEquals(5, SampleSource.discover(npy, SampleSource.CALIBRATION, List.of(bare)).size());
        // a dynamic batch would take the whole array as one batch of 5; samples are fed with batch 1
        TensorInfo dynamic = new TensorInfo("x", "float32", new long[] {-1, 2, 3});
        assertEquals(5, SampleSource.discover(npy, SampleSource.CALIBRATION, List.of(dynamic)).size());
        // arrays that fit whole with a fixed first dimension are one sample, as is any file with no model given
        TensorInfo five = new TensorInfo("x", "float32", new long[] {5, 2, 3});
        assertEquals(List.of("stacked.npy"), ids(SampleSource.discover(npy, SampleSource.CALIBRATION,
                List.of(five))));
        assertEquals(List.of("stacked.npy"), ids(SampleSource.discover(npy)));
        // one sample without its batch dimension: its slices do not fit, so it is one sample
        TensorInfo image = new TensorInfo("x", "float32", new long[] {-1, 5, 2, 3});
        assertEquals(List.of("stacked.npy"), ids(SampleSource.discover(npy, SampleSource.CALIBRATION,
                List.of(image))));
        // arrays that fit neither way are one sample, which loading then refuses with its shape
        TensorInfo other = new TensorInfo("x", "float32", new long[] {1, 3, 2});
        SampleSource one = SampleSource.discover(npy, SampleSource.CALIBRATION, List.of(other));
        assertEquals(List.of("stacked.npy"), ids(one));
        assertEquals("calibration data " + npy + ": shape [5, 2, 3] does not match model input 'x' [1, 3, 2]",
                assertThrows(QuantbridgeException.class, () -> SampleSource.load(one.samples().get(0),
                        List.of(other), Preprocessing.defaults())).getMessage());

        TensorInfo y = new TensorInfo("y", "int32", new long[] {1, 4});
        SampleSource z = SampleSource.discover(NpzFileTest.fixture("stacked.npz"), SampleSource.EVALUATION,
                List.of(x, y));
        assertEquals(5, z.size());
        assertEquals(3, z.samples().get(3).index());
        Map<String, FloatTensor> zin = SampleSource.load(z.samples().get(3), List.of(x, y), Preprocessing.defaults());
        assertArrayEquals(new float[] {30, 31, 32, 33, 34, 35}, zin.get("x").data());
        assertArrayEquals(new float[] {300, 301, 302, 303}, zin.get("y").data());
        assertArrayEquals(new long[] {1, 4}, zin.get("y").shape());
        // an npz of one sample per input name stays one sample
        TensorInfo ids = new TensorInfo("input_ids", "int64", new long[] {1, -1});
        TensorInfo mask = new TensorInfo("attention_mask", "int64", new long[] {1, -1});
        assertEquals(1, SampleSource.discover(NpzFileTest.fixture("tokens.npz"), SampleSource.CALIBRATION,
                List.of(ids, mask)).size());

        // the whole stacked set is checked sample by sample, each reading only its slice
        io.quantbridge.request.RequestData.checkEvaluation(z.samples(), List.of(x, y), Preprocessing.defaults());
    }
}
