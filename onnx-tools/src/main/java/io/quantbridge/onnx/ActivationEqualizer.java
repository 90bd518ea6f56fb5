package io.quantbridge.onnx;

import io.quantbridge.onnx.proto.Onnx.GraphProto;
import io.quantbridge.onnx.proto.Onnx.NodeProto;
import io.quantbridge.onnx.proto.Onnx.TensorProto;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Per-channel activation equalization: rescales the channels of an activation tensor so that one per-tensor int8
 * scale suits all of them, without changing what the float model computes.
 *
 * <p>A tensor {@code t} with channels {@code c} is divided by {@code s[c]} where it is produced and the conv that
 * reads it multiplies its weights by {@code s[c]} on the matching input channel, so the product is unchanged.
 * The producer must be linear per channel:
 * <ul>
 *   <li>BatchNormalization: scale and bias are divided by {@code s};</li>
 *   <li>Conv (with or without bias): output channel {@code c} of the weights and the bias are divided by
 *       {@code s[c]}; the same for a ConvTranspose with {@code group = 1}, whose output channels are the weights'
 *       second axis;</li>
 *   <li>an affine pair {@code Add(Mul(y, a), b)} with constant {@code a} and {@code b} that broadcast per channel
 *       (PP-LCNet's learnable affine block): {@code a} and {@code b} become per-channel constants divided by
 *       {@code s}.</li>
 * </ul>
 * A Relu between that producer and {@code t} is passed through ({@code Relu(x/s) = Relu(x)/s}). When only depthwise
 * convs read {@code t} and its producer is none of these (a hard swish, a sigmoid gate), a {@code Mul} by
 * {@code 1 / s} is put after the producer instead ({@link #SCALE}): an elementwise op that TensorRT fuses into the
 * producer's kernel, and the depthwise weights, quantized per channel, take {@code s} without loss. PP-LCNet with its
 * BatchNormalization left unfolded (RapidAI's document orientation classifier) feeds its first depthwise conv channels
 * whose ranges span 0.37 to 16, which a per-tensor scale cannot serve. Every reader of
 * {@code t} must be a Conv reading it as its data input, either a full conv ({@code group = 1}: weights
 * {@code W[:, c]} are multiplied) or a depthwise conv ({@code group} = channels: {@code W[c]} are multiplied), or a
 * ConvTranspose with {@code group = 1} (weights {@code W[c, :]} are multiplied).
 * Graph outputs and tensors that share a scale with others (Concat) are left alone.
 *
 * <p>Scales: when only depthwise convs read the tensor (their weights are quantized per output channel anyway),
 * every channel is brought to the same range: {@code s[c] = r[c] / max(r)}. When a full conv reads it, the rescaling
 * also moves range into that conv's weights, so the migration is partial (SmoothQuant):
 * {@code s[c] = r[c]^alpha / w[c]^(1-alpha)} with {@code w[c]} the largest |weight| on input channel {@code c} over
 * the full-conv readers, normalised so that {@code max(s) = 1}. {@code r[c]} is the channel's range (its max |x|, or a
 * calibrated clip of it). Scales are clamped to at least {@link #MIN_SCALE}; channels never seen non-zero keep 1.
 */
public final class ActivationEqualizer {
    /** The smallest per-channel scale: a channel is never amplified more than 1/MIN_SCALE times. */
    public static final double MIN_SCALE = 1e-3;

    /**
     * Where a tensor can be rescaled. {@code rescaled} lists every tensor whose channels the rescaling divides by the
     * scales: the tensor itself first, then the producer's output when a Relu was passed through, and the Mul output
     * of an affine pair (observers that take statistics before equalization derive these tensors' statistics
     * afterwards).
     */
    public record Site(String tensor, String producer, String producerKind, List<Reader> readers, int channels,
                       List<String> rescaled, boolean centerable) {
        public Site {
            readers = List.copyOf(readers);
            rescaled = List.copyOf(rescaled);
        }

        /**
         * Whether the tensor can also be shifted per channel ({@link #apply(OnnxModel, List, Map, double, Map)}):
         * the producer writes it directly (no Relu between) and every reader is a Conv without padding, whose bias
         * then takes the shift back exactly.
         */
        public boolean centerable() {
            return centerable;
        }

        /** Whether every reader is a depthwise conv (the weights then absorb any scale without loss). */
        public boolean depthwise() {
            return readers.stream().allMatch(Reader::depthwise);
        }
    }

    /**
     * A conv that reads the tensor as its data input: depthwise (weights [C, 1, ...]), transposed (ConvTranspose,
     * weights [Cin, Cout, ...]) or a full conv (weights [Cout, Cin, ...]).
     */
    public record Reader(String node, boolean depthwise, boolean transposed) { }

    private ActivationEqualizer() { }

    /**
     * The tensors among {@code activations} (tensors the placement quantizes) that can be rescaled in this prepared
     * model (constant-folded, see {@link QdqQuantizer#plan}).
     */
    public static List<Site> sites(OnnxModel prepared, Set<String> activations, List<Set<String>> sharedScaleGroups) {
        GraphProto g = prepared.graph();
        Map<String, TensorProto> inits = prepared.initializers();
        Map<String, NodeProto> producer = new HashMap<>();
        Map<String, List<NodeProto>> consumers = new HashMap<>();
        for (NodeProto n : g.getNodeList()) {
            for (String o : n.getOutputList()) producer.put(o, n);
            for (String i : n.getInputList()) consumers.computeIfAbsent(i, k -> new ArrayList<>()).add(n);
        }
        Set<String> outputs = new HashSet<>();
        g.getOutputList().forEach(o -> outputs.add(o.getName()));
        Set<String> shared = new HashSet<>();
        for (Set<String> grp : sharedScaleGroups) if (grp.size() > 1) shared.addAll(grp);
        Set<String> subgraphUse = prepared.tensorsUsedBySubgraphs();

        List<Site> out = new ArrayList<>();
        for (String t : activations) {
            if (outputs.contains(t) || shared.contains(t) || subgraphUse.contains(t)) continue;
            List<NodeProto> cs = consumers.getOrDefault(t, List.of());
            if (cs.isEmpty()) continue;
            List<Reader> readers = new ArrayList<>();
            int channels = -1;
            for (NodeProto c : cs) {
                int ch = convChannels(c, t, inits);
                if (ch <= 0 || (channels > 0 && ch != channels)) {
                    readers = null;
                    break;
                }
                channels = ch;
                readers.add(new Reader(c.getName(), Attributes.getInt(c, "group", 1) > 1,
                        c.getOpType().equals("ConvTranspose")));
            }
            if (readers == null) continue;
            NodeProto p = producer.get(t);
            if (p == null) continue;
            Site linear = linearSite(t, p, readers, channels, cs, inits, producer, consumers, outputs);
            if (linear != null) {
                out.add(linear);
            } else if (readers.stream().allMatch(r -> r.depthwise() && !r.transposed())
                    && !subgraphUse.contains(t) && p.getDomain().isEmpty()) {
                // a producer that is not linear per channel (a hard swish, say) keeps its output: a Mul by the
                // inverse scales is put after it, and the depthwise weights absorb the scales without loss
                out.add(new Site(t, p.getName(), SCALE, readers, channels, List.of(t), false));
            }
        }
        return out;
    }

    /**
     * Producer kind of a site whose producer is not linear per channel: {@link #apply} inserts
     * {@code Mul(x, 1 / s)} between it and the depthwise convs that read it.
     */
    public static final String SCALE = "scale";

    /** The site of {@code t} when its producer (through a Relu) is linear per channel, else null. */
    private static Site linearSite(String t, NodeProto p, List<Reader> readers, int channels, List<NodeProto> cs,
                                   Map<String, TensorProto> inits, Map<String, NodeProto> producer,
                                   Map<String, List<NodeProto>> consumers, Set<String> outputs) {
        List<String> rescaled = new ArrayList<>(List.of(t));
        boolean centerable = !p.getOpType().equals("Relu");
        for (NodeProto c : cs) centerable &= c.getOpType().equals("Conv") && padFree(c);
        if (p.getOpType().equals("Relu")) {
            // Relu(x / s) = Relu(x) / s for s > 0: the scale goes to the node before it, if only the Relu reads it
            String in = p.getInput(0);
            if (consumers.getOrDefault(in, List.of()).size() != 1 || outputs.contains(in)) return null;
            p = producer.get(in);
            if (p == null) return null;
            rescaled.add(in);
        }
        String kind = producerKind(p, channels, inits, producer, consumers);
        if (kind == null) return null;
        if (kind.equals("affine")) rescaled.add(affine(p, inits, producer, consumers, channels).mul().getOutput(0));
        return new Site(t, p.getName(), kind, readers, channels, rescaled, centerable);
    }

    /** A conv that pads nothing: a shift of its input is then a constant change of its output. */
    private static boolean padFree(NodeProto c) {
        String autoPad = Attributes.getString(c, "auto_pad", "NOTSET");
        if (autoPad.equals("VALID")) return true;
        if (!autoPad.equals("NOTSET")) return false;
        for (long v : Attributes.getInts(c, "pads").orElse(new long[0])) if (v != 0) return false;
        return true;
    }

    /** Input channels of a conv reading {@code t} as data, full (group 1) or depthwise; -1 for anything else. */
    private static int convChannels(NodeProto c, String t, Map<String, TensorProto> inits) {
        boolean transposed = c.getOpType().equals("ConvTranspose");
        if (!(c.getOpType().equals("Conv") || transposed) || c.getInputCount() < 2 || !c.getInput(0).equals(t)) {
            return -1;
        }
        if (c.getInputList().subList(1, c.getInputCount()).contains(t)) return -1;
        TensorProto w = inits.get(c.getInput(1));
        if (w == null || !isFloat(w) || Tensors.dims(w).length < 3 || w.getDims(0) == 0) return -1;
        long group = Attributes.getInt(c, "group", 1);
        long[] wd = Tensors.dims(w);
        if (transposed) return group == 1 ? (int) wd[0] : -1;
        if (group == 1) return (int) wd[1];
        if (wd[1] == 1 && wd[0] == group) return (int) group;
        return -1;
    }

    private static String producerKind(NodeProto p, int channels, Map<String, TensorProto> inits,
                                       Map<String, NodeProto> producer, Map<String, List<NodeProto>> consumers) {
        switch (p.getOpType()) {
            case "BatchNormalization" -> {
                for (int i = 1; i < p.getOutputCount(); i++) if (!p.getOutput(i).isEmpty()) return null;
                return isFloatVector(inits.get(p.getInput(1)), channels)
                        && isFloatVector(inits.get(p.getInput(2)), channels) ? "BatchNormalization" : null;
            }
            case "Conv" -> {
                TensorProto w = inits.get(p.getInput(1));
                if (w == null || !isFloat(w) || w.getDimsCount() < 3 || w.getDims(0) != channels) return null;
                if (p.getInputCount() > 2 && !p.getInput(2).isEmpty()
                        && !isFloatVector(inits.get(p.getInput(2)), channels)) {
                    return null;
                }
                return "Conv";
            }
            case "ConvTranspose" -> {
                TensorProto w = inits.get(p.getInput(1));
                if (w == null || !isFloat(w) || w.getDimsCount() < 3 || w.getDims(1) != channels
                        || Attributes.getInt(p, "group", 1) != 1) {
                    return null;
                }
                if (p.getInputCount() > 2 && !p.getInput(2).isEmpty()
                        && !isFloatVector(inits.get(p.getInput(2)), channels)) {
                    return null;
                }
                return "ConvTranspose";
            }
            case "Add" -> {
                return affine(p, inits, producer, consumers, channels) != null ? "affine" : null;
            }
            default -> {
                return null;
            }
        }
    }

    /** The pieces of Add(Mul(y, a), b) with constant per-channel-broadcastable a and b. */
    private record Affine(NodeProto mul, int aIndex, int bIndex) { }

    private static Affine affine(NodeProto add, Map<String, TensorProto> inits, Map<String, NodeProto> producer,
                                 Map<String, List<NodeProto>> consumers, int channels) {
        if (add.getInputCount() != 2) return null;
        for (int bi = 0; bi < 2; bi++) {
            TensorProto b = inits.get(add.getInput(bi));
            String mulOut = add.getInput(1 - bi);
            if (b == null || !perChannel(b, channels) || inits.containsKey(mulOut)) continue;
            if (consumers.getOrDefault(mulOut, List.of()).size() != 1) continue;
            NodeProto mul = producer.get(mulOut);
            if (mul == null || !mul.getOpType().equals("Mul") || mul.getInputCount() != 2) continue;
            for (int ai = 0; ai < 2; ai++) {
                TensorProto a = inits.get(mul.getInput(ai));
                if (a != null && perChannel(a, channels) && !inits.containsKey(mul.getInput(1 - ai))) {
                    return new Affine(mul, ai, bi);
                }
            }
        }
        return null;
    }

    /** A scalar, or a float constant of C values shaped [C, 1, ...] or [1, C, 1, ...] (NCHW broadcast). */
    private static boolean perChannel(TensorProto t, int channels) {
        if (!isFloat(t)) return false;
        long n = Tensors.elementCount(t);
        if (n == 1) return true;
        if (n != channels) return false;
        long[] d = Tensors.dims(t);
        int lead = 0;
        while (lead < d.length && d[lead] == 1) lead++;
        if (lead == d.length || d[lead] != channels) return false;
        // [C, 1, 1] broadcasts against [N, C, H, W] only with the trailing ones; [1, C, 1, 1] likewise
        return d.length - lead >= 2 || d.length == 4;
    }

    private static boolean isFloat(TensorProto t) {
        return t.getDataType() == DataTypes.FLOAT;
    }

    private static boolean isFloatVector(TensorProto t, int channels) {
        return t != null && isFloat(t) && Tensors.elementCount(t) == channels && Tensors.dims(t).length == 1;
    }

    // ------------------------------------------------------------------------------------------------------ apply

    /** The rescaled model, the scale applied to each tensor's channels and the shifts applied before them. */
    public record Result(OnnxModel model, Map<String, float[]> scales, Map<String, float[]> shifts) {
        public Result(OnnxModel model, Map<String, float[]> scales) {
            this(model, scales, Map.of());
        }
    }

    /**
     * Rescales the channels of every site that has a range per channel in {@code channelAbsMax}.
     *
     * @param alpha migration strength for full-conv consumers, in [0, 1]
     */
    public static Result apply(OnnxModel prepared, List<Site> sites, Map<String, float[]> channelAbsMax, double alpha) {
        return apply(prepared, sites, channelAbsMax, alpha, Map.of());
    }

    /**
     * Rescales as {@link #apply(OnnxModel, List, Map, double)} does, and first shifts the channels of the
     * {@link Site#centerable() centerable} sites in {@code shifts}: channel {@code c} becomes
     * {@code (x[c] - t[c]) / s[c]}. The producer's additive term takes {@code -t} and each reader's bias takes
     * {@code sum over its weights of W[o, c, ...] * t[c]} back, so the float model computes what it did. Symmetric
     * int8 (TensorRT's activations) spends half its codes on negative values that a one-sided tensor never takes, such
     * as a hard swish output (at least -0.375) scaled by PP-LCNet's affine block: centred, the same range takes half
     * the step. {@code channelAbsMax} then holds the ranges of the shifted channels (their half-widths).
     */
    public static Result apply(OnnxModel prepared, List<Site> sites, Map<String, float[]> channelAbsMax, double alpha,
                               Map<String, float[]> shifts) {
        if (!(alpha >= 0 && alpha <= 1)) throw new IllegalArgumentException("alpha must be in [0, 1]: " + alpha);
        GraphProto g = prepared.graph();
        Map<String, NodeProto> byName = new HashMap<>();
        Map<String, NodeProto> producer = new HashMap<>();
        Map<String, List<NodeProto>> consumers = new HashMap<>();
        Map<String, Integer> uses = new HashMap<>();
        for (NodeProto n : g.getNodeList()) {
            byName.put(n.getName(), n);
            for (String o : n.getOutputList()) producer.put(o, n);
            for (String i : n.getInputList()) {
                consumers.computeIfAbsent(i, k -> new ArrayList<>()).add(n);
                uses.merge(i, 1, Integer::sum);
            }
        }
        Weights w = new Weights(prepared.initializers(), uses);
        Map<String, NodeProto> renamed = new HashMap<>(); // node name -> node with new initializer inputs
        Map<String, float[]> applied = new LinkedHashMap<>();
        Map<String, float[]> shifted = new LinkedHashMap<>();
        Map<String, List<NodeProto>> inserted = new HashMap<>(); // producer name -> Mul nodes to put after it
        Set<String> names = new HashSet<>(prepared.initializers().keySet());
        g.getInputList().forEach(i -> names.add(i.getName()));
        for (NodeProto n : g.getNodeList()) {
            names.add(n.getName());
            names.addAll(n.getOutputList());
        }
            for (Site site : sites) {
                float[] r = channelAbsMax.get(site.tensor());
                if (r == null || r.length != site.channels()) continue;
                NodeProto p = renamed.getOrDefault(site.producer(), byName.get(site.producer()));
                List<NodeProto> readers = new ArrayList<>();
                for (Reader rd : site.readers()) readers.add(renamed.getOrDefault(rd.node(), byName.get(rd.node())));
                double[] wmax = new double[site.channels()];
                for (int i = 0; i < readers.size(); i++) {
                    Reader rd = site.readers().get(i);
                    if (!rd.depthwise()) {
                        inputChannelMax(w.values(readers.get(i).getInput(1)), w.dims(readers.get(i).getInput(1)),
                                rd.transposed(), wmax);
                    }
                }
                float[] s = scales(r, site.depthwise() ? null : wmax, alpha);
                if (s == null) continue;
                float[] t = site.centerable() ? shifts.get(site.tensor()) : null;
                if (t != null && t.length != site.channels()) t = null;
                // readers: multiply input channel c of the weights (and take a shift back in the bias)
                for (int i = 0; i < readers.size(); i++) {
                    NodeProto c = readers.get(i);
                    if (t != null) {
                        c = takeShiftBack(c, site.readers().get(i).depthwise(), t, w, site.tensor());
                        readers.set(i, c);
                    }
                    String wName = c.getInput(1);
                    float[] ncw = w.values(wName).clone();
                    long[] cd = w.dims(wName);
                    int per = (int) (ncw.length / cd[0]);
                    if (site.readers().get(i).depthwise() || site.readers().get(i).transposed()) {
                        // channel c is the block W[c] (depthwise: its one filter; transposed: all it feeds)
                        for (int o = 0; o < cd[0]; o++) for (int k = 0; k < per; k++) ncw[o * per + k] *= s[o];
                    } else {
                        int spatial = per / (int) cd[1];
                        for (int o = 0; o < cd[0]; o++) {
                            for (int ch = 0; ch < cd[1]; ch++) {
                                int base = o * per + ch * spatial;
                                for (int k = 0; k < spatial; k++) ncw[base + k] *= s[ch];
                            }
                        }
                    }
                    renamed.put(c.getName(), w.replaceInput(c, 1, ncw, cd, site.tensor()));
                }
                if (site.producerKind().equals(SCALE)) {
                    renamed.put(p.getName(), insertScale(p, site, s, w, names, inserted,
                            w.dims(readers.get(0).getInput(1)).length));
                } else {
                    renamed.put(p.getName(), rescaleProducer(p, site, s, t, w, producer, consumers, renamed));
                }
                applied.put(site.tensor(), s);
                if (t != null) shifted.put(site.tensor(), t);
            }
        GraphProto.Builder gb = g.toBuilder();
        gb.clearNode();
        for (NodeProto n : g.getNodeList()) {
            gb.addNode(renamed.getOrDefault(n.getName(), n));
            gb.addAllNode(inserted.getOrDefault(n.getName(), List.of()));
        }
        gb.clearInitializer();
        gb.addAllInitializer(w.all());
        return new Result(prepared.withProto(prepared.proto().toBuilder().setGraph(gb).build()), applied, shifted);
    }

    /**
     * For a {@link #SCALE} site: the producer writing to a fresh tensor, and {@code Mul(fresh, 1 / s)} (shaped
     * {@code [1, C, 1, ...]} for readers of data rank {@code rank}) writing the site's tensor, to be put after it.
     */
    private static NodeProto insertScale(NodeProto p, Site site, float[] s, Weights w, Set<String> names,
                                         Map<String, List<NodeProto>> inserted, int rank) {
        String t = site.tensor();
        String before = fresh(t + "_unscaled", names);
        String factor = fresh(t + "_eq_scale", names);
        String node = fresh(t + "_eq_mul", names);
        float[] inv = new float[s.length];
        for (int c = 0; c < s.length; c++) inv[c] = 1 / s[c];
        long[] shape = new long[rank];
        java.util.Arrays.fill(shape, 1);
        shape[1] = s.length;
        w.add(factor, inv, shape);
        inserted.computeIfAbsent(p.getName(), k -> new ArrayList<>()).add(NodeProto.newBuilder().setOpType("Mul")
                .setName(node).addInput(before).addInput(factor).addOutput(t).build());
        NodeProto.Builder b = p.toBuilder();
        for (int i = 0; i < b.getOutputCount(); i++) if (b.getOutput(i).equals(t)) b.setOutput(i, before);
        return b.build();
    }

    /** {@code base}, or {@code base_2}, {@code base_3} ..., whichever no node or tensor is named yet; taken. */
    private static String fresh(String base, Set<String> names) {
        String n = base;
        for (int k = 2; names.contains(n); k++) n = base + "_" + k;
        names.add(n);
        return n;
    }

    /**
     * A reader of a shifted tensor with {@code sum over k of W[o, c, k] * t[c]} added to the bias of output
     * {@code o} (full conv), or {@code sum over k of W[c, k] * t[c]} to that of channel {@code c} (depthwise); a
     * reader without a bias gets one.
     */
    private static NodeProto takeShiftBack(NodeProto c, boolean depthwise, float[] t, Weights w, String site) {
        float[] wv = w.values(c.getInput(1));
        long[] wd = w.dims(c.getInput(1));
        int out = (int) wd[0];
        int per = wv.length / out;
        double[] add = new double[out];
        if (depthwise) {
            for (int o = 0; o < out; o++) for (int k = 0; k < per; k++) add[o] += (double) wv[o * per + k] * t[o];
        } else {
            int spatial = per / (int) wd[1];
            for (int o = 0; o < out; o++) {
                for (int ch = 0; ch < wd[1]; ch++) {
                    double sum = 0;
                    for (int k = 0; k < spatial; k++) sum += wv[o * per + ch * spatial + k];
                    add[o] += sum * t[ch];
                }
            }
        }
        boolean hasBias = c.getInputCount() > 2 && !c.getInput(2).isEmpty();
        float[] b = hasBias ? w.values(c.getInput(2)).clone() : new float[out];
        for (int o = 0; o < out; o++) b[o] = (float) (b[o] + add[o]);
        if (hasBias) return w.replaceInput(c, 2, b, new long[] {out}, site);
        return w.addBias(c, c.getName() + "_bias", b, new long[] {out});
    }

    private static NodeProto rescaleProducer(NodeProto p, Site site, float[] s, float[] t, Weights w,
                                             Map<String, NodeProto> producer, Map<String, List<NodeProto>> consumers,
                                             Map<String, NodeProto> renamed) {
        int ch = s.length;
        float[] shift = t == null ? new float[ch] : t;
        switch (site.producerKind()) {
            case "BatchNormalization" -> {
                float[] scale = w.values(p.getInput(1)).clone();
                float[] bias = w.values(p.getInput(2)).clone();
                for (int c = 0; c < ch; c++) {
                    scale[c] /= s[c];
                    bias[c] = (bias[c] - shift[c]) / s[c];
                }
                NodeProto q = w.replaceInput(p, 1, scale, new long[] {ch}, site.tensor());
                return w.replaceInput(q, 2, bias, new long[] {ch}, site.tensor());
            }
            case "Conv", "ConvTranspose" -> {
                float[] pw = w.values(p.getInput(1)).clone();
                long[] pd = w.dims(p.getInput(1));
                // output channel c: W[c, ...] for Conv, W[:, c, ...] for ConvTranspose (group 1)
                int outer = site.producerKind().equals("Conv") ? 1 : (int) pd[0];
                int per = pw.length / ch / outer;
                for (int o = 0; o < outer; o++) {
                    for (int c = 0; c < ch; c++) for (int k = 0; k < per; k++) pw[(o * ch + c) * per + k] /= s[c];
                }
                NodeProto q = w.replaceInput(p, 1, pw, pd, site.tensor());
                if (q.getInputCount() > 2 && !q.getInput(2).isEmpty()) {
                    float[] b = w.values(q.getInput(2)).clone();
                    for (int c = 0; c < ch; c++) b[c] = (b[c] - shift[c]) / s[c];
                    q = w.replaceInput(q, 2, b, new long[] {ch}, site.tensor());
                } else if (t != null) {
                    float[] b = new float[ch];
                    for (int c = 0; c < ch; c++) b[c] = -shift[c] / s[c];
                    q = w.addBias(q, q.getName() + "_bias", b, new long[] {ch});
                }
                return q;
            }
            case "affine" -> {
                Affine af = affine(p, w.protos(), producer, consumers, ch);
                if (af == null) throw new IllegalStateException("affine pattern vanished at " + p.getName());
                NodeProto mul = renamed.getOrDefault(af.mul().getName(), af.mul());
                long[] shape = new long[] {ch, 1, 1};
                float[] a = perChannelValues(w.values(mul.getInput(af.aIndex())), ch);
                float[] b = perChannelValues(w.values(p.getInput(af.bIndex())), ch);
                for (int c = 0; c < ch; c++) {
                    a[c] /= s[c];
                    b[c] = (b[c] - shift[c]) / s[c];
                }
                renamed.put(mul.getName(), w.replaceInput(mul, af.aIndex(), a, shape, site.tensor()));
                return w.replaceInput(p, af.bIndex(), b, shape, site.tensor());
            }
            default -> throw new IllegalStateException("unknown producer kind " + site.producerKind());
        }
    }

    private static float[] perChannelValues(float[] v, int ch) {
        float[] out = new float[ch];
        for (int c = 0; c < ch; c++) out[c] = v.length == 1 ? v[0] : v[c];
        return out;
    }

    /**
     * Adds the largest |w| of each input channel into {@code wmax}: weights [Cout, Cin, ...] of a conv, or
     * [Cin, Cout, ...] of a transposed conv.
     */
    private static void inputChannelMax(float[] weights, long[] wd, boolean transposed, double[] wmax) {
        int per = (int) (weights.length / wd[0]);
        if (transposed) {
            for (int c = 0; c < wmax.length; c++) {
                for (int k = 0; k < per; k++) wmax[c] = Math.max(wmax[c], Math.abs(weights[c * per + k]));
            }
            return;
        }
        int spatial = per / (int) wd[1];
        for (int o = 0; o < wd[0]; o++) {
            for (int c = 0; c < wmax.length; c++) {
                int base = o * per + c * spatial;
                for (int k = 0; k < spatial; k++) wmax[c] = Math.max(wmax[c], Math.abs(weights[base + k]));
            }
        }
    }

    /**
     * The per-channel scales for one site: {@code r / max(r)} when only depthwise convs read it ({@code wmax} null),
     * else {@code r^alpha / wmax^(1-alpha)} normalised to a largest scale of 1. Null when the statistics say nothing.
     */
    static float[] scales(float[] r, double[] wmax, double alpha) {
        int ch = r.length;
        double rmax = 0;
        for (float v : r) rmax = Math.max(rmax, v);
        if (!(rmax > 0) || !Double.isFinite(rmax)) return null;
        double[] s = new double[ch];
        if (wmax == null) {
            for (int c = 0; c < ch; c++) s[c] = r[c] > 0 ? r[c] / rmax : 1;
        } else {
            double smax = 0;
            for (int c = 0; c < ch; c++) {
                s[c] = r[c] > 0 && wmax[c] > 0 ? Math.pow(r[c], alpha) / Math.pow(wmax[c], 1 - alpha) : 0;
                smax = Math.max(smax, s[c]);
            }
            if (!(smax > 0)) return null;
            for (int c = 0; c < ch; c++) s[c] = s[c] > 0 ? s[c] / smax : 1;
        }
        float[] out = new float[ch];
        for (int c = 0; c < ch; c++) out[c] = (float) Math.max(MIN_SCALE, s[c]);
        return out;
    }

    /** Initializers being rewritten: values by name, and fresh names for initializers other nodes also read. */
    private static final class Weights {
        private final Map<String, TensorProto> protos;
        private final Map<String, Integer> uses;

        Weights(Map<String, TensorProto> initial, Map<String, Integer> uses) {
            this.protos = new LinkedHashMap<>(initial);
            this.uses = new HashMap<>(uses);
        }

        Map<String, TensorProto> protos() {
            return protos;
        }

        float[] values(String name) {
            return Tensors.toFloats(protos.get(name));
        }

        long[] dims(String name) {
            return Tensors.dims(protos.get(name));
        }

        /** The node with input {@code index} replaced by these values, in place when no other node reads it. */
        NodeProto replaceInput(NodeProto n, int index, float[] values, long[] dims, String site) {
            String old = n.getInput(index);
            if (uses.getOrDefault(old, 0) <= 1) {
                protos.put(old, Tensors.floatTensor(old, dims, values));
                return n;
            }
            String fresh = old + "_eq_" + site;
            int k = 1;
            while (protos.containsKey(fresh)) fresh = old + "_eq_" + site + "_" + (++k);
            protos.put(fresh, Tensors.floatTensor(fresh, dims, values));
            uses.merge(old, -1, Integer::sum);
            uses.put(fresh, 1);
            return n.toBuilder().setInput(index, fresh).build();
        }

        /** A new initializer named {@code name}, read by one node. */
        void add(String name, float[] values, long[] dims) {
            protos.put(name, Tensors.floatTensor(name, dims, values));
            uses.put(name, 1);
        }

        /** A conv without a bias given a new initializer (a fresh name from {@code base}) as its bias, input 2. */
        NodeProto addBias(NodeProto n, String base, float[] values, long[] dims) {
            String fresh = base;
            int k = 1;
            while (protos.containsKey(fresh)) fresh = base + "_" + (++k);
            protos.put(fresh, Tensors.floatTensor(fresh, dims, values));
            uses.put(fresh, 1);
            return n.getInputCount() > 2 ? n.toBuilder().setInput(2, fresh).build()
                    : n.toBuilder().addInput(fresh).build();
        }

        List<TensorProto> all() {
            return new ArrayList<>(protos.values());
        }
    }
}
