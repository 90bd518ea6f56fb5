package io.quantbridge.onnx;

import io.quantbridge.onnx.proto.Onnx.NodeProto;
import java.util.Arrays;

/**
 * The geometry of a 2-D Conv or ConvTranspose (groups, kernel, strides, pads, dilations) and the input patch that
 * each output position reads, in the order of a Conv's weight: input channel, then kernel row, then kernel column.
 * Shared by the statistics that sample conv input patches ({@link Gptq}, {@link ConvRefit}).
 *
 * <p>For a ConvTranspose (weights [C, O/g, kh, kw]) output {@code (oy, ox)} reads input row {@code iy} through kernel
 * row {@code ky} where {@code iy * stride - pad + ky * dilation = oy}; its patch holds that input value at
 * {@code (c, ky, kx)} and 0 where no input row or column meets the kernel position, so that output channel {@code o}
 * is {@code bias[o] + sum W[c, o, ky, kx] * patch[c, ky, kx]}, the same dot product as a Conv's.
 */
final class ConvGeometry {
    final boolean transposed;
    final int group;
    final int cinPerGroup;
    final int kh;
    final int kw;
    /** Values in one group's patch: {@code cinPerGroup * kh * kw}. */
    final int patch;
    private final int[] strides;
    private final int[] pads;
    private final int[] dilations;
    private final int[] outputPadding;

    private ConvGeometry(NodeProto n, long[] weightDims) {
        this.transposed = n.getOpType().equals("ConvTranspose");
        this.group = (int) Attributes.getInt(n, "group", 1);
        this.cinPerGroup = (int) (transposed ? weightDims[0] / group : weightDims[1]);
        this.kh = (int) weightDims[2];
        this.kw = (int) weightDims[3];
        this.patch = cinPerGroup * kh * kw;
        this.strides = ints(n, "strides", 2, 1);
        this.dilations = ints(n, "dilations", 2, 1);
        this.outputPadding = ints(n, "output_padding", 2, 0);
        int[] p = ints(n, "pads", 4, 0);
        this.pads = Attributes.getString(n, "auto_pad", "NOTSET").equals("VALID") ? new int[4] : p;
    }

    /** The geometry of conv {@code n} with weights [O, C/g, kh, kw] (Conv) or [C, O/g, kh, kw] (ConvTranspose). */
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
        return outSize(h, 0);
    }

    /** Output columns for {@code w} input columns (0 or less: none). */
    int outWidth(int w) {
        return outSize(w, 1);
    }

    private int outSize(int in, int axis) {
        int k = axis == 0 ? kh : kw;
        int span = dilations[axis] * (k - 1) + 1;
        int padding = pads[axis] + pads[axis + 2];
        if (transposed) return strides[axis] * (in - 1) + outputPadding[axis] + span - padding;
        return (in + padding - span) / strides[axis] + 1;
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
                int y = source(oy, ky, 0, h);
                for (int kx = 0; kx < kw; kx++) {
                    int x = y < 0 ? -1 : source(ox, kx, 1, w);
                    out[i++] = x >= 0 ? data[base + y * w + x] : 0.0;
                }
            }
        }
    }

    /** The input row (axis 0) or column (axis 1) that output {@code o} reads through kernel tap {@code k}; -1: none. */
    private int source(int o, int k, int axis, int size) {
        if (!transposed) {
            int i = o * strides[axis] - pads[axis] + k * dilations[axis];
            return i < size ? i : -1;
        }
        int t = o + pads[axis] - k * dilations[axis];
        if (t < 0 || t % strides[axis] != 0) return -1;
        int i = t / strides[axis];
        return i < size ? i : -1;
    }
}
