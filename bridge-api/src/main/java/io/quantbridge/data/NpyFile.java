package io.quantbridge.data;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.tensor.Float16;
import io.quantbridge.tensor.FloatTensor;
import io.quantbridge.util.AtomicFiles;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * NumPy {@code .npy} files: reading into a float32 {@link FloatTensor} and writing float32 arrays.
 *
 * <p>Reading accepts format versions 1.0, 2.0 and 3.0 and the element types {@code f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8
 * b1} in little-endian ({@code <}), big-endian ({@code >}), native ({@code =}, taken as little-endian) or
 * not-applicable ({@code |}) byte order; every value is converted to float32 (64-bit integers and doubles may lose
 * precision). An array saved in Fortran order ({@code fortran_order: True}, as {@code numpy.save} writes a transposed
 * matrix or {@code numpy.asfortranarray}) is read into C order; stacked samples in Fortran order (each sample's values
 * spread over the whole file), structured and object dtypes are refused. Every error message starts with the file.
 *
 * <p>Writing produces exactly what {@code numpy.save} (1.23 and later) writes for a C-ordered {@code float32}
 * array: a version 1.0 header (2.0 when the header would not fit), with numpy's spare room for the first dimension
 * and padded with spaces to a multiple of 64 bytes, then the little-endian data. Files are written atomically.
 */
public final class NpyFile {
    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final int ALIGN = 64;

    private NpyFile() { }

    /** Reads {@code file} into a float32 tensor of the array's shape. */
    public static FloatTensor read(Path file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new QuantbridgeException(file + ": no such file");
        } catch (IOException | OutOfMemoryError e) {
            throw new QuantbridgeException(file + ": cannot read: " + e.getMessage(), e);
        }
        return parse(bytes, file.toString());
    }

    /** Parses the bytes of a {@code .npy} file; {@code source} (normally the file) starts every error message. */
    public static FloatTensor parse(byte[] bytes, String source) {
        Header h;
        try {
            h = header(new ByteArrayInputStream(bytes), source);
        } catch (IOException e) { // not thrown by a byte array
            throw new UncheckedIOException(e);
        }
        h.checkWhole();
        h.checkDataBytes(bytes.length - h.dataStart);
        float[] out = new float[(int) h.count];
        ByteBuffer data = ByteBuffer.wrap(bytes, (int) h.dataStart, (int) (h.count * h.dtype.size)).slice()
                .order(h.dtype.order);
        h.dtype.decode(data, out, source);
        return new FloatTensor(h.shape, h.fortran ? cOrder(out, h.shape) : out);
    }

    /**
     * The values of an array of {@code shape} given in Fortran order (first index fastest), in C order (last index
     * fastest).
     */
    static float[] cOrder(float[] fortran, long[] shape) {
        int rank = shape.length;
        if (rank < 2 || fortran.length == 0) return fortran;
        long[] stride = new long[rank]; // C-order strides
        stride[rank - 1] = 1;
        for (int d = rank - 2; d >= 0; d--) stride[d] = stride[d + 1] * shape[d + 1];
        float[] c = new float[fortran.length];
        long[] index = new long[rank];
        long at = 0; // C position of index
        for (float v : fortran) {
            c[(int) at] = v;
            for (int d = 0; d < rank; d++) { // the next index in Fortran order: dimension 0 moves fastest
                at += stride[d];
                if (++index[d] < shape[d]) break;
                at -= stride[d] * shape[d];
                index[d] = 0;
            }
        }
        return c;
    }

    /**
     * The shape of the array in {@code file}, from its header alone (the data is not read, but its size is checked
     * against the shape).
     */
    public static long[] shape(Path file) {
        return fileHeader(file).shape.clone();
    }

    /**
     * Sample {@code index} of an array that stacks samples along its first dimension: {@code a[index]}, of shape
     * {@code shape[1:]}. Only that sample's bytes are read, so a large stacked file costs one sample's memory.
     */
    public static FloatTensor readSample(Path file, long index) {
        Header h = fileHeader(file);
        try (InputStream in = Files.newInputStream(file)) {
            in.skipNBytes(h.dataStart);
            return h.sample(in, index);
        } catch (IOException e) {
            throw new QuantbridgeException(file + ": cannot read: " + e.getMessage(), e);
        }
    }

    /** The header of {@code file}, with the file's size checked against it. */
    private static Header fileHeader(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            Header h = header(in, file.toString());
            h.checkDataBytes(Files.size(file) - h.dataStart);
            return h;
        } catch (NoSuchFileException e) {
            throw new QuantbridgeException(file + ": no such file");
        } catch (IOException e) {
            throw new QuantbridgeException(file + ": cannot read: " + e.getMessage(), e);
        }
    }

    /**
     * Reads and parses the magic string and the header of a {@code .npy} stream, leaving {@code in} at the first
     * data byte; {@code source} starts every error message.
     */
    static Header header(InputStream in, String source) throws IOException {
        byte[] pre = in.readNBytes(10);
        if (pre.length < 10 || !Arrays.equals(Arrays.copyOf(pre, 6), MAGIC)) {
            throw new QuantbridgeException(source + ": not a .npy file (the magic string \\x93NUMPY is missing)");
        }
        int major = pre[6] & 0xff;
        int minor = pre[7] & 0xff;
        long headerLen;
        int headerStart;
        if (major == 1) {
            headerLen = ByteBuffer.wrap(pre).order(ByteOrder.LITTLE_ENDIAN).getShort(8) & 0xffff;
            headerStart = 10;
        } else if (major == 2 || major == 3) {
            byte[] more = in.readNBytes(2);
            if (more.length < 2) {
                throw new QuantbridgeException(source + ": truncated .npy header");
            }
            byte[] len = {pre[8], pre[9], more[0], more[1]};
            headerLen = ByteBuffer.wrap(len).order(ByteOrder.LITTLE_ENDIAN).getInt() & 0xffffffffL;
            headerStart = 12;
        } else {
            throw new QuantbridgeException(source + ": unsupported .npy format version " + major + "." + minor
                    + " (1.0, 2.0 and 3.0 are supported)");
        }
        byte[] hb = in.readNBytes((int) Math.min(headerLen, MAX_HEADER));
        if (hb.length < headerLen) {
            if (headerLen > MAX_HEADER) {
                throw new QuantbridgeException(source + ": corrupt .npy header: " + headerLen + " bytes announced");
            }
            throw new QuantbridgeException(source + ": truncated .npy header (" + headerLen + " bytes announced, "
                    + hb.length + " present)");
        }
        String header = new String(hb, major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
        Map<String, Object> dict;
        try {
            dict = new HeaderParser(header).dict();
        } catch (IllegalArgumentException e) {
            throw new QuantbridgeException(source + ": corrupt .npy header: " + e.getMessage() + " in "
                    + header.strip());
        }
        Object descr = dict.get("descr");
        Object fortran = dict.get("fortran_order");
        Object shapeObj = dict.get("shape");
        if (descr == null || fortran == null || shapeObj == null) {
            throw new QuantbridgeException(source + ": corrupt .npy header: it needs 'descr', 'fortran_order' and "
                    + "'shape', got " + header.strip());
        }
        if (!(descr instanceof String d)) {
            throw new QuantbridgeException(source + ": structured dtype " + descr
                    + " is not supported (save a plain numeric array)");
        }
        if (!(fortran instanceof Boolean fo)) {
            throw new QuantbridgeException(source + ": corrupt .npy header: 'fortran_order' is " + fortran);
        }
        if (!(shapeObj instanceof List<?> shapeList)) {
            throw new QuantbridgeException(source + ": corrupt .npy header: 'shape' is " + shapeObj);
        }
        long[] shape = new long[shapeList.size()];
        for (int i = 0; i < shape.length; i++) {
            if (!(shapeList.get(i) instanceof Long l) || l < 0) {
                throw new QuantbridgeException(source + ": corrupt .npy header: bad dimension " + shapeList.get(i)
                        + " in 'shape'");
            }
            shape[i] = l;
        }
        Dtype dtype = Dtype.parse(d, source);
        long count;
        try {
            count = FloatTensor.elementCount(shape);
        } catch (ArithmeticException e) {
            throw new QuantbridgeException(source + ": shape " + Arrays.toString(shape) + " is too large");
        }
        return new Header(source, shape, d, dtype, count, headerStart + headerLen, fo);
    }

    /** Headers longer than this are refused as corrupt (numpy writes well under 1 KiB). */
    private static final int MAX_HEADER = 1 << 20;

    /** A parsed {@code .npy} header: what the array is and where its data starts. */
    static final class Header {
        final String source;
        final long[] shape;
        final String descr;
        final Dtype dtype;
        final long count;
        final long dataStart;
        /** Whether the data is in Fortran order (first index fastest). */
        final boolean fortran;

        Header(String source, long[] shape, String descr, Dtype dtype, long count, long dataStart, boolean fortran) {
            this.source = source;
            this.shape = shape;
            this.descr = descr;
            this.dtype = dtype;
            this.count = count;
            this.dataStart = dataStart;
            this.fortran = fortran;
        }

        /** Bytes of data the shape and type need. */
        long dataBytes() {
            return count * dtype.size;
        }

        /** Refuses data of another size than the shape needs ({@code have} bytes follow the header). */
        void checkDataBytes(long have) {
            long need = dataBytes();
            if (have < need) {
                throw new QuantbridgeException(source + ": truncated .npy data: shape " + Arrays.toString(shape)
                        + " of " + descr + " needs " + need + " bytes, the file has " + have);
            }
            if (have > need) {
                throw new QuantbridgeException(source + ": corrupt .npy file: " + (have - need)
                        + " unexpected bytes after the data of shape " + Arrays.toString(shape) + " " + descr);
            }
        }

        /** Refuses an array too large to be read whole into one tensor (a stacked one is read sample by sample). */
        void checkWhole() {
            if (count > Integer.MAX_VALUE - 8) {
                throw new QuantbridgeException(source + ": " + count
                        + " elements are more than one tensor can hold");
            }
        }

        /**
         * {@code a[index]} read from {@code in}, positioned at the first data byte: the array seen as samples
         * stacked along its first dimension.
         */
        FloatTensor sample(InputStream in, long index) throws IOException {
            if (shape.length == 0 || index < 0 || index >= shape[0]) {
                throw new IllegalArgumentException(source + ": no sample " + index + " in shape "
                        + Arrays.toString(shape));
            }
            long[] sub = Arrays.copyOfRange(shape, 1, shape.length);
            if (fortran && shape[0] > 1) {
                throw new QuantbridgeException(source + ": the samples stacked along the first dimension are stored in"
                        + " Fortran order (fortran_order: True), each spread over the whole file; save the stack in C"
                        + " order, e.g. numpy.save(path, numpy.ascontiguousarray(a))");
            }
            long n = count / shape[0];
            if (n > Integer.MAX_VALUE - 8) {
                throw new QuantbridgeException(source + ": " + n + " elements per sample are more than one tensor"
                        + " can hold");
            }
            in.skipNBytes(index * n * dtype.size);
            byte[] b = in.readNBytes((int) (n * dtype.size));
            if (b.length < n * dtype.size) {
                throw new QuantbridgeException(source + ": truncated .npy data in sample " + index);
            }
            float[] out = new float[(int) n];
            dtype.decode(ByteBuffer.wrap(b).order(dtype.order), out, source + "[" + index + "]");
            return new FloatTensor(sub, fortran ? cOrder(out, sub) : out);
        }
    }

    /** Writes a float32 {@code .npy} file (atomically) holding {@code tensor}. */
    public static void write(Path file, FloatTensor tensor) {
        AtomicFiles.write(file, toBytes(tensor));
    }

    /** The bytes {@code numpy.save} writes for {@code tensor} as a C-ordered float32 array. */
    public static byte[] toBytes(FloatTensor tensor) {
        long[] shape = tensor.shape();
        StringBuilder sh = new StringBuilder("(");
        for (int i = 0; i < shape.length; i++) {
            if (i > 0) sh.append(", ");
            sh.append(shape[i]);
        }
        if (shape.length == 1) sh.append(',');
        sh.append(')');
        String dict = "{'descr': '<f4', 'fortran_order': False, 'shape': " + sh + ", }";
        // numpy (since 1.23) leaves room for the first dimension to grow to 21 digits
        if (shape.length > 0) dict += " ".repeat(Math.max(0, 21 - Long.toString(shape[0]).length()));
        int prefix = 10;
        int pad = ALIGN - ((prefix + dict.length() + 1) % ALIGN);
        int major = 1;
        if (dict.length() + 1 + pad > 0xffff) {
            major = 2;
            prefix = 12;
            pad = ALIGN - ((prefix + dict.length() + 1) % ALIGN);
        }
        String header = dict + " ".repeat(pad) + "\n";
        byte[] h = header.getBytes(StandardCharsets.ISO_8859_1);
        float[] data = tensor.data();
        ByteBuffer bb = ByteBuffer.allocate(prefix + h.length + 4 * data.length).order(ByteOrder.LITTLE_ENDIAN);
        bb.put(MAGIC).put((byte) major).put((byte) 0);
        if (major == 1) bb.putShort((short) h.length);
        else bb.putInt(h.length);
        bb.put(h);
        bb.asFloatBuffer().put(data);
        return bb.array();
    }

    /** Element types that can be read. */
    private enum Kind { F2, F4, F8, I1, I2, I4, I8, U1, U2, U4, U8, B1 }

    private static final class Dtype {
        final Kind kind;
        final int size;
        final ByteOrder order;

        Dtype(Kind kind, int size, ByteOrder order) {
            this.kind = kind;
            this.size = size;
            this.order = order;
        }

        static Dtype parse(String descr, String source) {
            if (descr.length() >= 3) {
                char bo = descr.charAt(0);
                String t = descr.substring(1);
                Kind kind = switch (t) {
                    case "f2" -> Kind.F2;
                    case "f4" -> Kind.F4;
                    case "f8" -> Kind.F8;
                    case "i1" -> Kind.I1;
                    case "i2" -> Kind.I2;
                    case "i4" -> Kind.I4;
                    case "i8" -> Kind.I8;
                    case "u1" -> Kind.U1;
                    case "u2" -> Kind.U2;
                    case "u4" -> Kind.U4;
                    case "u8" -> Kind.U8;
                    case "b1" -> Kind.B1;
                    default -> null;
                };
                if (kind != null && (bo == '<' || bo == '>' || bo == '|' || bo == '=')) {
                    int size = Integer.parseInt(t.substring(1));
                    if (bo == '|' && size != 1) kind = null;
                    if (kind != null) {
                        return new Dtype(kind, size, bo == '>' ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN);
                    }
                }
            }
            throw new QuantbridgeException(source + ": unsupported dtype '" + descr + "' (supported: float16/32/64,"
                    + " int8/16/32/64, uint8/16/32/64, bool)");
        }

        void decode(ByteBuffer b, float[] out, Object source) {
            int n = out.length;
            switch (kind) {
                case F4 -> b.asFloatBuffer().get(out);
                case F8 -> {
                    var db = b.asDoubleBuffer();
                    for (int i = 0; i < n; i++) out[i] = (float) db.get(i);
                }
                case F2 -> {
                    var sb = b.asShortBuffer();
                    for (int i = 0; i < n; i++) out[i] = Float16.toFloat(sb.get(i));
                }
                case I1 -> {
                    for (int i = 0; i < n; i++) out[i] = b.get(i);
                }
                case U1 -> {
                    for (int i = 0; i < n; i++) out[i] = b.get(i) & 0xff;
                }
                case B1 -> {
                    for (int i = 0; i < n; i++) out[i] = b.get(i) != 0 ? 1f : 0f;
                }
                case I2 -> {
                    var sb = b.asShortBuffer();
                    for (int i = 0; i < n; i++) out[i] = sb.get(i);
                }
                case U2 -> {
                    var sb = b.asShortBuffer();
                    for (int i = 0; i < n; i++) out[i] = sb.get(i) & 0xffff;
                }
                case I4 -> {
                    var ib = b.asIntBuffer();
                    for (int i = 0; i < n; i++) out[i] = exact(ib.get(i), i, source);
                }
                case U4 -> {
                    var ib = b.asIntBuffer();
                    for (int i = 0; i < n; i++) out[i] = exact(ib.get(i) & 0xffffffffL, i, source);
                }
                case I8 -> {
                    var lb = b.asLongBuffer();
                    for (int i = 0; i < n; i++) out[i] = exact(lb.get(i), i, source);
                }
                case U8 -> {
                    var lb = b.asLongBuffer();
                    for (int i = 0; i < n; i++) {
                        long v = lb.get(i);
                        if (v >= 0) {
                            out[i] = exact(v, i, source);
                        } else if (64 - Long.numberOfTrailingZeros(v) <= 24) { // 2^63 and up: 24 significant bits
                            out[i] = (float) (v >>> 1) * 2f;
                        } else {
                            throw inexact(Long.toUnsignedString(v), i, source);
                        }
                    }
                }
                default -> throw new IllegalStateException(kind.name());
            }
        }
    }

    /**
     * An integer as a float, refused when float32 cannot hold it exactly (beyond 2^24 with low bits set): integer
     * inputs such as token ids or a sample rate travel as float32 values until the runtime converts them back.
     */
    private static float exact(long v, int index, Object source) {
        float f = v;
        if ((long) f != v) throw inexact(Long.toString(v), index, source);
        return f;
    }

    private static QuantbridgeException inexact(String v, int index, Object source) {
        return new QuantbridgeException(source + ": integer " + v + " at flat index " + index + " cannot be held"
                + " exactly as float32 (integers up to 2^24 can), in which quantbridge carries input values");
    }

    /**
     * The header is a Python dict literal, e.g. {@code {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }}.
     * Values: strings, True/False, tuples or lists (of integers, strings or nested lists for structured dtypes),
     * integers. Tuples and lists become {@link List}s, integers {@link Long}s.
     */
    private static final class HeaderParser {
        private final String s;
        private int pos;

        HeaderParser(String s) {
            this.s = s;
        }

        Map<String, Object> dict() {
            ws();
            expect('{');
            Map<String, Object> m = new LinkedHashMap<>();
            while (true) {
                ws();
                if (peek() == '}') {
                    pos++;
                    break;
                }
                Object key = value();
                if (!(key instanceof String k)) throw new IllegalArgumentException("a key is not a string");
                ws();
                expect(':');
                m.put(k, value());
                ws();
                if (peek() == ',') {
                    pos++;
                } else if (peek() != '}') {
                    throw new IllegalArgumentException("expected ',' or '}' at offset " + pos);
                }
            }
            ws();
            if (pos != s.length()) throw new IllegalArgumentException("unexpected text after the dict");
            return m;
        }

        Object value() {
            ws();
            char c = peek();
            if (c == '\'' || c == '"') {
                int end = s.indexOf(c, pos + 1);
                if (end < 0) throw new IllegalArgumentException("unterminated string");
                String v = s.substring(pos + 1, end);
                pos = end + 1;
                return v;
            }
            if (c == '(' || c == '[') {
                char close = c == '(' ? ')' : ']';
                pos++;
                List<Object> items = new ArrayList<>();
                while (true) {
                    ws();
                    if (peek() == close) {
                        pos++;
                        return items;
                    }
                    items.add(value());
                    ws();
                    if (peek() == ',') pos++;
                    else if (peek() != close) throw new IllegalArgumentException("expected ',' or '" + close + "'");
                }
            }
            if (s.startsWith("True", pos)) {
                pos += 4;
                return Boolean.TRUE;
            }
            if (s.startsWith("False", pos)) {
                pos += 5;
                return Boolean.FALSE;
            }
            int start = pos;
            if (c == '-' || c == '+') pos++;
            while (pos < s.length() && Character.isDigit(s.charAt(pos))) pos++;
            if (pos < s.length() && s.charAt(pos) == 'L') pos++; // Python 2 long suffix
            String num = s.substring(start, pos).replace("L", "");
            if (num.isEmpty() || num.equals("-") || num.equals("+")) {
                throw new IllegalArgumentException("unexpected character '" + c + "' at offset " + start);
            }
            try {
                return Long.parseLong(num);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("bad number " + num);
            }
        }

        char peek() {
            if (pos >= s.length()) throw new IllegalArgumentException("unexpected end");
            return s.charAt(pos);
        }

        void expect(char c) {
            if (peek() != c) throw new IllegalArgumentException("expected '" + c + "' at offset " + pos);
            pos++;
        }

        void ws() {
            while (pos < s.length() && Character.isWhitespace(s.charAt(pos))) pos++;
        }
    }
}
