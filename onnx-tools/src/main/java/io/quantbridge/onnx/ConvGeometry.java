package io.quantbridge.onnx;

import io.quantbridge.onnx.proto.Onnx.NodeProto;
import java.util.Arrays;

/**
 * The geometry of a 2-D Conv (groups, kernel, strides, pads, dilations) and its input patches, in the weight's order:
 * channel, then kernel row, then kernel column. Shared by the statistics that sample conv input patches ({@link Gptq},
 * {@link ConvRefit}).
 */
final class ConvGeometry {
    final int group;
    final int cinPerGroup;
    final int kh;
    final int kw;
    /** Values in one group's patch: {@code cinPerGroup * kh * kw}. */
    final int patch;
    private final int[] strides;
    private final int[] pads;
    private final int[] dilations;

    private ConvGeometry(NodeProto n, long[] weightDims) {
        this.group = (int) Attributes.getInt(n, "group", 1);
        this.cinPerGroup = (int) weightDims[1];
        this.kh = (int) weightDims[2];
        this.kw = (int) weightDims[3];
        this.patch = cinPerGroup * kh * kw;
        this.strides = ints(n, "strides", 2, 1);
        this.dilations = ints(n, "dilations", 2, 1);
        int[] p = ints(n, "pads", 4, 0);
        this.pads = Attributes.getString(n, "auto_pad", "NOTSET").equals("VALID") ? new int[4] : p;
    }

    /** The geometry of conv {@code n} with weights of dimensions [O, C/g, kh, kw]. */
    static ConvGeometry of(NodeProto n, long[] weightDims) {
        return new ConvGeometry(n, weightDims);
    }

    private static int[] ints(NodeProto n, String name, int len, int dflt) {
        long[] v = Attributes.getInts(n, name).orElse(null);
        int[] r = new int[len];
        Arrays.fill(r, dflt);
        if (v != null) for (int i = 0; i < Math.min(len, v.length); i++) r[i] = (int) v[i];
        return r;
    }

    /** Input channels in all: {@code group * cinPerGroup}. */
    int inputChannels() {
        return group * cinPerGroup;
    }

    /** Output rows for {@code h} input rows (0 or less: none). */
    int outHeight(int h) {
        return (h + pads[0] + pads[2] - dilations[0] * (kh - 1) - 1) / strides[0] + 1;
    }

    /** Output columns for {@code w} input columns (0 or less: none). */
    int outWidth(int w) {
        return (w + pads[1] + pads[3] - dilations[1] * (kw - 1) - 1) / strides[1] + 1;
    }

    /**
     * Writes into {@code out[0 .. patch)} the patch of group {@code g} read by output position {@code (oy, ox)} from
     * batch entry {@code b} of the NCHW tensor {@code data} of {@code c x h x w} per entry (padding reads 0).
     */
    void patch(float[] data, int b, int c, int h, int w, int g, int oy, int ox, double[] out) {
        int i = 0;
        for (int ci = 0; ci < cinPerGroup; ci++) {
            int base = (b * c + g * cinPerGroup + ci) * h * w;
            for (int ky = 0; ky < kh; ky++) {
                int y = oy * strides[0] - pads[0] + ky * dilations[0];
                boolean rowIn = y >= 0 && y < h;
                for (int kx = 0; kx < kw; kx++) {
                    int x = ox * strides[1] - pads[1] + kx * dilations[1];
                    out[i++] = rowIn && x >= 0 && x < w ? data[base + y * w + x] : 0.0;
                }
            }
        }
    }
}
