package io.quantbridge.data;

import static io.quantbridge.data.NpyBytes.npy;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.tensor.FloatTensor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NpyFileTest {
    @TempDir
    Path dir;

    private FloatTensor parse(byte[] b) {
        return NpyFile.parse(b, "t.npy");
    }

    private static byte[] le(int bytesPerValue, long... v) {
        ByteBuffer b = ByteBuffer.allocate(bytesPerValue * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (long x : v) {
            switch (bytesPerValue) {
                case 1 -> b.put((byte) x);
                case 2 -> b.putShort((short) x);
                case 4 -> b.putInt((int) x);
                default -> b.putLong(x);
            }
        }
        return b.array();
    }

    @Test
    void writesWhatNumpySaveWrites() throws IOException {
        Path f = dir.resolve("a.npy");
        NpyFile.write(f, new FloatTensor(new long[] {2, 3}, new float[] {1, 2, 3, 4, 5, 6}));
        byte[] b = Files.readAllBytes(f);
        // numpy.save(np.arange(1, 7, dtype=np.float32).reshape(2, 3)): header_len 118 ('v'), data at 128
        String dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
        String expectedHeader = "\u0093NUMPY\u0001\u0000v\u0000" + dict + " ".repeat(117 - dict.length()) + "\n";
        assertEquals(expectedHeader, new String(b, 0, 128, StandardCharsets.ISO_8859_1));
        assertEquals(128 + 24, b.length);
        assertArrayEquals(NpyBytes.f4("(2, 3)", 1, 2, 3, 4, 5, 6), b);
        FloatTensor t = NpyFile.read(f);
        assertArrayEquals(new long[] {2, 3}, t.shape());
        assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, t.data());
    }

    @Test
    void roundTripsShapes() {
        for (long[] shape : new long[][] {{}, {5}, {1, 3, 4, 4}, {0, 2}}) {
            float[] data = new float[(int) FloatTensor.elementCount(shape)];
            for (int i = 0; i < data.length; i++) data[i] = i * 0.5f - 3;
            FloatTensor back = parse(NpyFile.toBytes(new FloatTensor(shape, data)));
            assertArrayEquals(shape, back.shape(), Arrays.toString(shape));
            assertArrayEquals(data, back.data());
            assertEquals(0, NpyFile.toBytes(new FloatTensor(shape, data)).length % 4);
        }
        String h = new String(NpyFile.toBytes(new FloatTensor(new long[] {5}, new float[5])), 10, 118,
                StandardCharsets.ISO_8859_1);
        assertEquals("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }" + " ".repeat(20 + 40) + "\n", h);
        h = new String(NpyFile.toBytes(new FloatTensor(new long[] {}, new float[1])), 10, 118,
                StandardCharsets.ISO_8859_1);
        assertTrue(h.contains("'shape': (), }"), h);
    }

    @Test
    void readsEveryDtype() {
        assertArrayEquals(new float[] {1.5f, -2}, parse(npy("<f8", "(2,)",
                ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putDouble(1.5).putDouble(-2).array())).data());
        assertArrayEquals(new float[] {1, -2, 65504, 0x1p-24f, Float.POSITIVE_INFINITY, 0.333251953125f},
                parse(npy("<f2", "(6,)", le(2, 0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x3555))).data());
        assertTrue(Float.isNaN(parse(npy("<f2", "(1,)", le(2, 0x7e00))).data()[0]));
        assertArrayEquals(new float[] {-128, 127, -1}, parse(npy("|i1", "(3,)", le(1, -128, 127, -1))).data());
        assertArrayEquals(new float[] {-128, 127, -1}, parse(npy("<i1", "(3,)", le(1, -128, 127, -1))).data());
        assertArrayEquals(new float[] {0, 255, 128}, parse(npy("|u1", "(3,)", le(1, 0, 255, 128))).data());
        assertArrayEquals(new float[] {0, 255, 128}, parse(npy("<u1", "(3,)", le(1, 0, 255, 128))).data());
        assertArrayEquals(new float[] {-32768, 1234}, parse(npy("<i2", "(2,)", le(2, -32768, 1234))).data());
        assertArrayEquals(new float[] {65535}, parse(npy("<u2", "(1,)", le(2, 65535))).data());
        assertArrayEquals(new float[] {-100000, 7}, parse(npy("<i4", "(2,)", le(4, -100000, 7))).data());
        assertArrayEquals(new float[] {4294967040f}, parse(npy("<u4", "(1,)", le(4, 0xffffff00L))).data());
        assertArrayEquals(new float[] {-5_000_000_000f, 3}, parse(npy("<i8", "(2,)", le(8, -5_000_000_000L, 3))).data());
        assertArrayEquals(new float[] {0x1p63f}, parse(npy("<u8", "(1,)", le(8, Long.MIN_VALUE))).data());
        // integers that float32 would round are refused, not rounded (token ids, sample rates travel as float32)
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> parse(npy("<i8", "(2,)", le(8, 3, 16_777_217))));
        assertEquals("t.npy: integer 16777217 at flat index 1 cannot be held exactly as float32 (integers up to 2^24"
                + " can), in which quantbridge carries input values", e.getMessage());
        assertThrows(QuantbridgeException.class, () -> parse(npy("<u4", "(1,)", le(4, -1))));
        e = assertThrows(QuantbridgeException.class, () -> parse(npy("<u8", "(1,)", le(8, -1))));
        assertTrue(e.getMessage().startsWith("t.npy: integer 18446744073709551615 at flat index 0"), e.getMessage());
        assertArrayEquals(new float[] {1, 0, 1}, parse(npy("|b1", "(3,)", le(1, 1, 0, 1))).data());
    }

    @Test
    void readsBigEndian() {
        byte[] be = ByteBuffer.allocate(8).order(ByteOrder.BIG_ENDIAN).putFloat(1.25f).putFloat(-3).array();
        assertArrayEquals(new float[] {1.25f, -3}, parse(npy(">f4", "(2,)", be)).data());
        byte[] be2 = ByteBuffer.allocate(4).order(ByteOrder.BIG_ENDIAN).putShort((short) -2).putShort((short) 300)
                .array();
        assertArrayEquals(new float[] {-2, 300}, parse(npy(">i2", "(2,)", be2)).data());
    }

    @Test
    void readsVersions2And3AndOtherHeaderSpellings() {
        String dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }";
        assertArrayEquals(new long[] {1, 2}, parse(npy(2, dict, NpyBytes.floats(1, 2))).shape());
        assertArrayEquals(new float[] {1, 2}, parse(npy(3, dict, NpyBytes.floats(1, 2))).data());
        // key order, double quotes, no trailing comma, Python 2 long suffix
        String odd = "{\"shape\": (2L,), \"fortran_order\": False, \"descr\": \"<f4\"}";
        assertArrayEquals(new float[] {3, 4}, parse(npy(1, odd, NpyBytes.floats(3, 4))).data());
    }

    private String error(byte[] bytes) throws IOException {
        Path f = dir.resolve("bad.npy");
        Files.write(f, bytes);
        return assertThrows(QuantbridgeException.class, () -> NpyFile.read(f)).getMessage();
    }

    /**
     * {@code numpy.save(f, np.arange(6, dtype='<f4').reshape(2, 3).T)} writes these bytes (numpy 2.4): the transposed
     * matrix in Fortran order, its data the original's memory. Read, it is {@code a.T} in C order. A 3-d array's
     * values come back where numpy puts them; stacked samples in Fortran order are refused.
     */
    @Test
    void readsFortranOrderIntoCOrder() throws IOException {
        byte[] t = npy(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (3, 2), }", NpyBytes.floats(0, 1, 2, 3, 4,
                5));
        FloatTensor a = parse(t);
        assertArrayEquals(new long[] {3, 2}, a.shape());
        assertArrayEquals(new float[] {0, 3, 1, 4, 2, 5}, a.data());

        // a[i][j][k] = 100 i + 10 j + k, shape (2, 3, 4), written with i fastest
        float[] fortran = new float[24];
        float[] c = new float[24];
        int f = 0;
        for (int k = 0; k < 4; k++) {
            for (int j = 0; j < 3; j++) {
                for (int i = 0; i < 2; i++) {
                    fortran[f++] = 100 * i + 10 * j + k;
                    c[i * 12 + j * 4 + k] = 100 * i + 10 * j + k;
                }
            }
        }
        FloatTensor cube = parse(npy(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3, 4), }",
                NpyBytes.floats(fortran)));
        assertArrayEquals(c, cube.data());
        // big-endian doubles too: the order is the elements', whatever their type
        ByteBuffer be = ByteBuffer.allocate(48).order(ByteOrder.BIG_ENDIAN);
        for (int v = 0; v < 6; v++) be.putDouble(v);
        assertArrayEquals(new float[] {0, 3, 1, 4, 2, 5},
                parse(npy(1, "{'descr': '>f8', 'fortran_order': True, 'shape': (3, 2), }", be.array())).data());
        // one sample of a stack of one is the whole array
        Path one = dir.resolve("one.npy");
        Files.write(one, npy(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (1, 3, 2), }", NpyBytes.floats(0, 1,
                2, 3, 4, 5)));
        assertArrayEquals(new float[] {0, 3, 1, 4, 2, 5}, NpyFile.readSample(one, 0).data());

        Path stack = dir.resolve("stack.npy");
        Files.write(stack, t);
        assertEquals(stack + ": the samples stacked along the first dimension are stored in Fortran order"
                + " (fortran_order: True), each spread over the whole file; save the stack in C order, e.g."
                + " numpy.save(path, numpy.ascontiguousarray(a))", assertThrows(QuantbridgeException.class,
                () -> NpyFile.readSample(stack, 1)).getMessage());
    }

    @Test
    void corruptFilesNameTheFile() throws IOException {
        String f = dir.resolve("bad.npy").toString();
        assertEquals(f + ": not a .npy file (the magic string \\x93NUMPY is missing)",
                error("hello, world".getBytes(StandardCharsets.UTF_8)));
        assertEquals(f + ": not a .npy file (the magic string \\x93NUMPY is missing)", error(new byte[3]));
        byte[] good = NpyBytes.f4("(2, 3)", 1, 2, 3, 4, 5, 6);
        assertEquals(f + ": truncated .npy header (118 bytes announced, 40 present)", error(Arrays.copyOf(good, 50)));
        assertEquals(f + ": truncated .npy data: shape [2, 3] of <f4 needs 24 bytes, the file has 10",
                error(Arrays.copyOf(good, 138)));
        assertEquals(f + ": corrupt .npy file: 2 unexpected bytes after the data of shape [2, 3] <f4",
                error(Arrays.copyOf(good, 154)));
        byte[] v9 = good.clone();
        v9[6] = 9;
        assertEquals(f + ": unsupported .npy format version 9.0 (1.0, 2.0 and 3.0 are supported)", error(v9));
        assertTrue(error(npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3}", new byte[24]))
                .startsWith(f + ": corrupt .npy header: "));
        assertTrue(error(npy(1, "{'descr': '<f4', 'shape': (2,), }", new byte[8]))
                .startsWith(f + ": corrupt .npy header: it needs 'descr', 'fortran_order' and 'shape'"));
        assertEquals(f + ": unsupported dtype '<c8' (supported: float16/32/64, int8/16/32/64, uint8/16/32/64, bool)",
                error(npy("<c8", "(1,)", new byte[8])));
        assertEquals(f + ": unsupported dtype '|f4' (supported: float16/32/64, int8/16/32/64, uint8/16/32/64, bool)",
                error(npy("|f4", "(1,)", new byte[4])));
        assertTrue(error(npy(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", new byte[4]))
                .startsWith(f + ": structured dtype"));
        assertTrue(error(npy("<f4", "(-1,)", new byte[4])).startsWith(f + ": corrupt .npy header: bad dimension -1"));
        Path missing = dir.resolve("none.npy");
        assertEquals(missing + ": no such file",
                assertThrows(QuantbridgeException.class, () -> NpyFile.read(missing)).getMessage());
    }
}
