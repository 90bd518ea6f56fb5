package io.quantbridge.tflite;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.backend.Progress;
import io.quantbridge.request.IoType;
import io.quantbridge.request.Precision;
import io.quantbridge.request.QuantizationRequest;
import io.quantbridge.request.QuantizationResult;
import io.quantbridge.tensor.FloatTensor;
import com.google.flatbuffers.FlatBufferBuilder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.tensorflow.lite.schema.ActivationFunctionType;
import org.tensorflow.lite.schema.AddOptionsT;
import org.tensorflow.lite.schema.BufferT;
import org.tensorflow.lite.schema.BuiltinOperator;
import org.tensorflow.lite.schema.BuiltinOptions;
import org.tensorflow.lite.schema.BuiltinOptionsUnion;
import org.tensorflow.lite.schema.ConcatenationOptionsT;
import org.tensorflow.lite.schema.Conv2DOptionsT;
import org.tensorflow.lite.schema.DepthwiseConv2DOptionsT;
import org.tensorflow.lite.schema.FullyConnectedOptionsT;
import org.tensorflow.lite.schema.GatherOptionsT;
import org.tensorflow.lite.schema.Model;
import org.tensorflow.lite.schema.ModelT;
import org.tensorflow.lite.schema.MulOptionsT;
import org.tensorflow.lite.schema.OperatorCodeT;
import org.tensorflow.lite.schema.OperatorT;
import org.tensorflow.lite.schema.Padding;
import org.tensorflow.lite.schema.Pool2DOptionsT;
import org.tensorflow.lite.schema.ReducerOptionsT;
import org.tensorflow.lite.schema.ResizeBilinearOptionsT;
import org.tensorflow.lite.schema.ResizeNearestNeighborOptionsT;
import org.tensorflow.lite.schema.SoftmaxOptionsT;
import org.tensorflow.lite.schema.StridedSliceOptionsT;
import org.tensorflow.lite.schema.SubGraphT;
import org.tensorflow.lite.schema.SubOptionsT;
import org.tensorflow.lite.schema.TensorType;
import org.tensorflow.lite.schema.TransposeConvOptionsT;

/**
 * One operator of each kind the full-integer rewrite quantizes, in the option variants the TFLite schema allows
 * (padding, strides, dilations, depth multipliers, fused activations, biases present or not, broadcasting, constant
 * and repeated operands, axes), and small graphs whose shape a rewrite can trip on (graph inputs that are outputs, an
 * output listed twice, an output that feeds another operator, an operator nothing reads), operators with int8 kernels
 * between quantized ones (several outputs, shared parameters), operators the rewrite leaves float between quantized
 * ones (int32 outputs, float graph outputs), random weights and inputs. Each int8 operator must come out int8 at the
 * version TFLite gives its int8 kernel, with the parameters that kernel needs.
 * Each quantized model must stay within cosine 0.999 of the float one on held-out inputs in the interpreter's own
 * kernels and in XNNPACK: per channel, per tensor, for the Edge TPU, with int8 inputs and outputs, dynamic range and
 * FP16. A single int8 operator gives 0.9995 and more when nothing is wrong. Found this way: a convolution without a
 * bias (refused by TFLite, or the JVM crashed), an int8 TANH nothing reads (XNNPACK aborted the JVM), a tensor listed
 * as two outputs (both came out int8-named).
 */
class TfliteOperatorVariantsTest {
    @TempDir
    Path tmp;

    /** An operator input: a graph input (activation), a float constant, an int32 constant, or none. */
    sealed interface In permits Act, FloatConst, Scalar, IntConst, None, Again, Out { }

    record Act(int... shape) implements In { }

    record FloatConst(int... shape) implements In { }

    record IntConst(int[] shape, int[] values) implements In { }

    /** A float constant of shape [1] holding {@code value}. */
    record Scalar(float value) implements In { }

    record None() implements In { }

    /** Graph input {@code index} (an earlier {@link Act}), again. */
    record Again(int index) implements In { }

    /** Output {@code index} of operator {@code node} of a {@link Graph}. */
    record Out(int node, int index) implements In {
        Out(int node) {
            this(node, 0);
        }
    }

    /** Operators in order (inputs may be earlier operators' outputs) and the graph's outputs. */
    record Graph(String name, List<Layer> nodes, List<In> outputs) {
        static Graph of(Layer layer) {
            return new Graph(layer.name(), List.of(layer), List.of(new Out(0)));
        }

        /** The name of operator {@code node}'s (first) output tensor. */
        String output(int node) {
            return output(node, 0);
        }

        /** The name of output {@code index} of operator {@code node}: y, y1, y1_2 ... */
        String output(int node, int index) {
            String base = nodes.size() == 1 ? "y" : "y" + node;
            return index == 0 ? base : base + "_" + index;
        }

        List<Act> acts() {
            List<Act> l = new ArrayList<>();
            for (Layer n : nodes) for (In in : n.inputs()) if (in instanceof Act a) l.add(a);
            return l;
        }

        @Override
        public String toString() {
            return name;
        }
    }

    record Layer(String name, int code, byte optionsType, Object options, List<In> inputs, int outputs) {
        Layer(String name, int code, byte optionsType, Object options, List<In> inputs) {
            this(name, code, optionsType, options, inputs, 1);
        }

        /** This operator with {@code count} outputs. */
        Layer outputs(int count) {
            return new Layer(name, code, optionsType, options, inputs, count);
        }

        @Override
        public String toString() {
            return name;
        }
    }

    private static Act act(int... shape) {
        return new Act(shape);
    }

    private static FloatConst w(int... shape) {
        return new FloatConst(shape);
    }

    private static IntConst ints(int... values) {
        return new IntConst(new int[] {values.length}, values);
    }

    private static Layer layer(String name, int code, byte optionsType, Object options, In... inputs) {
        return new Layer(name, code, optionsType, options, List.of(inputs));
    }

    /** Sets a width and a height option to the same value. */
    private static void square(java.util.function.IntConsumer width, java.util.function.IntConsumer height, int v) {
        width.accept(v);
        height.accept(v);
    }

    /**
     * Sets what a sliding window's options have in common (padding, a square stride, the fused activation) through
     * the setters of {@code options}: the generated schema classes share no interface.
     */
    private static <T> T window(T options, java.util.function.BiConsumer<T, Byte> padding, byte paddingValue,
                                java.util.function.ObjIntConsumer<T> strideW,
                                java.util.function.ObjIntConsumer<T> strideH, int stride,
                                java.util.function.BiConsumer<T, Byte> activation, byte act) {
        padding.accept(options, paddingValue);
        square(v -> strideW.accept(options, v), v -> strideH.accept(options, v), stride);
        activation.accept(options, act);
        return options;
    }

    private static Conv2DOptionsT conv(byte padding, int stride, int dilation, byte act) {
        return window(with(new Conv2DOptionsT(), o -> square(o::setDilationWFactor, o::setDilationHFactor, dilation)),
                Conv2DOptionsT::setPadding, padding, Conv2DOptionsT::setStrideW, Conv2DOptionsT::setStrideH, stride,
                Conv2DOptionsT::setFusedActivationFunction, act);
    }

    private static DepthwiseConv2DOptionsT dw(byte padding, int stride, int dilation, int multiplier, byte act) {
        DepthwiseConv2DOptionsT o = new DepthwiseConv2DOptionsT();
        o.setPadding(padding);
        square(o::setStrideW, o::setStrideH, stride);
        square(o::setDilationWFactor, o::setDilationHFactor, dilation);
        o.setDepthMultiplier(multiplier);
        o.setFusedActivationFunction(act);
        return o;
    }

    private static FullyConnectedOptionsT fc(boolean keepNumDims, byte act) {
        FullyConnectedOptionsT o = new FullyConnectedOptionsT();
        o.setKeepNumDims(keepNumDims);
        o.setFusedActivationFunction(act);
        return o;
    }

    private static Layer transposeConv(String name, byte padding, int stride, In... inputs) {
        return layer(name, BuiltinOperator.TRANSPOSE_CONV, BuiltinOptions.TransposeConvOptions,
                tconv(padding, stride), inputs);
    }

    private static TransposeConvOptionsT tconv(byte padding, int stride) {
        TransposeConvOptionsT o = new TransposeConvOptionsT();
        o.setPadding(padding);
        square(o::setStrideW, o::setStrideH, stride);
        return o;
    }

    private static Pool2DOptionsT pool(byte padding, int stride, int filter, byte act) {
        return window(with(new Pool2DOptionsT(), o -> square(o::setFilterWidth, o::setFilterHeight, filter)),
                Pool2DOptionsT::setPadding, padding, Pool2DOptionsT::setStrideW, Pool2DOptionsT::setStrideH, stride,
                Pool2DOptionsT::setFusedActivationFunction, act);
    }

    /** {@code options} once {@code set} has set them. */
    private static <T> T with(T options, java.util.function.Consumer<T> set) {
        set.accept(options);
        return options;
    }

    private static AddOptionsT add(byte act) {
        return with(new AddOptionsT(), o -> o.setFusedActivationFunction(act));
    }

    private static MulOptionsT mul(byte act) {
        return with(new MulOptionsT(), o -> o.setFusedActivationFunction(act));
    }

    private static SubOptionsT sub(byte act) {
        return with(new SubOptionsT(), o -> o.setFusedActivationFunction(act));
    }

    private static ConcatenationOptionsT concat(int axis) {
        return with(new ConcatenationOptionsT(), o -> o.setAxis(axis));
    }

    private static ReducerOptionsT reducer(boolean keepDims) {
        return with(new ReducerOptionsT(), o -> o.setKeepDims(keepDims));
    }

    private static final byte SAME = Padding.SAME;
    private static final byte VALID = Padding.VALID;
    private static final byte NO_ACT = ActivationFunctionType.NONE;
    private static final byte RELU = ActivationFunctionType.RELU;
    private static final byte RELU6 = ActivationFunctionType.RELU6;

    static Stream<Layer> layers() {
        List<Layer> l = new ArrayList<>();
        int cv = BuiltinOperator.CONV_2D;
        byte cvo = BuiltinOptions.Conv2DOptions;
        l.add(layer("conv 3x3 same", cv, cvo, conv(SAME, 1, 1, NO_ACT), act(1, 9, 9, 4), w(8, 3, 3, 4), w(8)));
        l.add(layer("conv 3x3 valid stride 2", cv, cvo, conv(VALID, 2, 1, NO_ACT), act(1, 11, 11, 4), w(8, 3, 3, 4),
                w(8)));
        l.add(layer("conv same stride 2 even input", cv, cvo, conv(SAME, 2, 1, NO_ACT), act(1, 10, 10, 3),
                w(6, 3, 3, 3), w(6)));
        l.add(layer("conv dilation 2", cv, cvo, conv(SAME, 1, 2, NO_ACT), act(1, 12, 12, 4), w(8, 3, 3, 4), w(8)));
        l.add(layer("conv relu", cv, cvo, conv(SAME, 1, 1, RELU), act(1, 8, 8, 4), w(8, 3, 3, 4), w(8)));
        l.add(layer("conv relu6", cv, cvo, conv(SAME, 1, 1, RELU6), act(1, 8, 8, 4), w(8, 3, 3, 4), w(8)));
        l.add(layer("conv no bias", cv, cvo, conv(SAME, 1, 1, NO_ACT), act(1, 8, 8, 4), w(8, 3, 3, 4)));
        l.add(layer("conv bias -1", cv, cvo, conv(SAME, 1, 1, NO_ACT), act(1, 8, 8, 4), w(8, 3, 3, 4), new None()));
        l.add(layer("conv 1x1", cv, cvo, conv(VALID, 1, 1, NO_ACT), act(1, 6, 6, 16), w(5, 1, 1, 16), w(5)));
        l.add(layer("conv 1x5 kernel", cv, cvo, conv(SAME, 1, 1, NO_ACT), act(1, 7, 9, 4), w(6, 1, 5, 4), w(6)));
        l.add(layer("conv batch 2", cv, cvo, conv(SAME, 1, 1, NO_ACT), act(2, 6, 6, 3), w(4, 3, 3, 3), w(4)));

        int dc = BuiltinOperator.DEPTHWISE_CONV_2D;
        byte dco = BuiltinOptions.DepthwiseConv2DOptions;
        l.add(layer("depthwise 3x3 same", dc, dco, dw(SAME, 1, 1, 1, NO_ACT), act(1, 9, 9, 8), w(1, 3, 3, 8),
                w(8)));
        l.add(layer("depthwise stride 2 valid", dc, dco, dw(VALID, 2, 1, 1, NO_ACT), act(1, 11, 11, 8),
                w(1, 3, 3, 8), w(8)));
        l.add(layer("depthwise multiplier 2", dc, dco, dw(SAME, 1, 1, 2, NO_ACT), act(1, 8, 8, 4), w(1, 3, 3, 8),
                w(8)));
        l.add(layer("depthwise multiplier 3 one channel", dc, dco, dw(SAME, 1, 1, 3, NO_ACT), act(1, 8, 8, 1),
                w(1, 3, 3, 3), w(3)));
        l.add(layer("depthwise dilation 2 relu6", dc, dco, dw(SAME, 1, 2, 1, RELU6), act(1, 10, 10, 8),
                w(1, 3, 3, 8), w(8)));
        l.add(layer("depthwise 5x5 no bias", dc, dco, dw(SAME, 1, 1, 1, NO_ACT), act(1, 9, 9, 8), w(1, 5, 5, 8)));
        l.add(layer("depthwise bias -1", dc, dco, dw(SAME, 1, 1, 1, NO_ACT), act(1, 9, 9, 8), w(1, 3, 3, 8),
                new None()));

        int f = BuiltinOperator.FULLY_CONNECTED;
        byte fo = BuiltinOptions.FullyConnectedOptions;
        l.add(layer("fc 2-d", f, fo, fc(false, NO_ACT), act(1, 32), w(10, 32), w(10)));
        l.add(layer("fc batch 4", f, fo, fc(false, NO_ACT), act(4, 32), w(10, 32), w(10)));
        l.add(layer("fc relu no bias", f, fo, fc(false, RELU), act(1, 32), w(10, 32), new None()));
        l.add(layer("fc two inputs", f, fo, fc(false, NO_ACT), act(1, 32), w(10, 32)));
        l.add(layer("fc 3-d keep_num_dims", f, fo, fc(true, NO_ACT), act(1, 5, 24), w(12, 24), w(12)));
        l.add(layer("fc 3-d flattened", f, fo, fc(false, NO_ACT), act(1, 5, 24), w(12, 24), w(12)));
        l.add(layer("fc 4-d input", f, fo, fc(false, NO_ACT), act(1, 2, 3, 16), w(8, 48), w(8)));

        // inputs: output shape, weights OHWI, input [, bias]
        l.add(transposeConv("transpose conv stride 2 same", SAME, 2, ints(1, 12, 12, 6), w(6, 3, 3, 4),
                act(1, 6, 6, 4)));
        l.add(transposeConv("transpose conv stride 2 valid", VALID, 2, ints(1, 13, 13, 6), w(6, 3, 3, 4),
                act(1, 6, 6, 4)));
        l.add(transposeConv("transpose conv bias", SAME, 2, ints(1, 12, 12, 6), w(6, 4, 4, 4), act(1, 6, 6, 4), w(6)));
        l.add(transposeConv("transpose conv stride 1", SAME, 1, ints(1, 6, 6, 5), w(5, 3, 3, 4), act(1, 6, 6, 4)));
        // kernel = stride: written as CONV_2D and DEPTH_TO_SPACE on the CPU target (TransposeConvRewrites)
        l.add(transposeConv("transpose conv kernel 2 stride 2", SAME, 2, ints(1, 12, 12, 6), w(6, 2, 2, 4),
                act(1, 6, 6, 4)));
        l.add(transposeConv("transpose conv kernel 2 stride 2 valid bias", VALID, 2, ints(1, 12, 12, 6),
                w(6, 2, 2, 4), act(1, 6, 6, 4), w(6)));
        l.add(transposeConv("transpose conv kernel 3 stride 3 bias", SAME, 3, ints(1, 15, 15, 3), w(3, 3, 3, 8),
                act(1, 5, 5, 8), w(3)));
        l.add(transposeConv("transpose conv kernel 2 stride 2 one channel", SAME, 2, ints(1, 16, 16, 1),
                w(1, 2, 2, 16), act(1, 8, 8, 16), w(1)));

        byte ao = BuiltinOptions.AddOptions;
        l.add(layer("add two inputs", BuiltinOperator.ADD, ao, add(NO_ACT), act(1, 6, 6, 4), act(1, 6, 6, 4)));
        l.add(layer("add broadcast channel", BuiltinOperator.ADD, ao, add(NO_ACT), act(1, 6, 6, 4), act(1, 1, 1, 4)));
        l.add(layer("add constant", BuiltinOperator.ADD, ao, add(NO_ACT), act(1, 6, 6, 4), w(4)));
        l.add(layer("add constant first", BuiltinOperator.ADD, ao, add(NO_ACT), w(1, 6, 6, 4), act(1, 6, 6, 4)));
        l.add(layer("add relu", BuiltinOperator.ADD, ao, add(RELU), act(1, 6, 6, 4), act(1, 6, 6, 4)));
        l.add(layer("sub two inputs", BuiltinOperator.SUB, BuiltinOptions.SubOptions, sub(NO_ACT), act(1, 6, 6, 4),
                act(1, 6, 6, 4)));
        l.add(layer("sub constant", BuiltinOperator.SUB, BuiltinOptions.SubOptions, sub(NO_ACT), act(1, 6, 6, 4),
                w(1, 1, 1, 4)));
        l.add(layer("mul two inputs", BuiltinOperator.MUL, BuiltinOptions.MulOptions, mul(NO_ACT), act(1, 6, 6, 4),
                act(1, 6, 6, 4)));
        l.add(layer("mul constant", BuiltinOperator.MUL, BuiltinOptions.MulOptions, mul(NO_ACT), act(1, 6, 6, 4),
                w(4)));
        l.add(layer("mul broadcast spatial", BuiltinOperator.MUL, BuiltinOptions.MulOptions, mul(RELU6),
                act(1, 6, 6, 4), act(1, 6, 6, 1)));

        l.add(layer("add x + x", BuiltinOperator.ADD, ao, add(NO_ACT), act(1, 6, 6, 4), new Again(0)));
        l.add(layer("sub x - x", BuiltinOperator.SUB, BuiltinOptions.SubOptions, sub(NO_ACT), act(1, 6, 6, 4),
                new Again(0)));
        l.add(layer("mul x * x", BuiltinOperator.MUL, BuiltinOptions.MulOptions, mul(NO_ACT), act(1, 6, 6, 4),
                new Again(0)));

        byte co = BuiltinOptions.ConcatenationOptions;
        l.add(layer("concat channels", BuiltinOperator.CONCATENATION, co, concat(3), act(1, 5, 5, 3),
                act(1, 5, 5, 2)));
        l.add(layer("concat axis -1", BuiltinOperator.CONCATENATION, co, concat(-1), act(1, 5, 5, 3),
                act(1, 5, 5, 2)));
        l.add(layer("concat height", BuiltinOperator.CONCATENATION, co, concat(1), act(1, 4, 5, 3), act(1, 2, 5, 3)));
        l.add(layer("concat with constant", BuiltinOperator.CONCATENATION, co, concat(3), act(1, 5, 5, 3),
                w(1, 5, 5, 2)));
        l.add(layer("concat x with x", BuiltinOperator.CONCATENATION, co, concat(3), act(1, 5, 5, 3), new Again(0)));
        l.add(layer("concat three", BuiltinOperator.CONCATENATION, co, concat(3), act(1, 5, 5, 3), act(1, 5, 5, 2),
                act(1, 5, 5, 1)));

        byte po = BuiltinOptions.Pool2DOptions;
        l.add(layer("average pool 2x2", BuiltinOperator.AVERAGE_POOL_2D, po, pool(VALID, 2, 2, NO_ACT),
                act(1, 8, 8, 4)));
        l.add(layer("average pool 3x3 same", BuiltinOperator.AVERAGE_POOL_2D, po, pool(SAME, 1, 3, NO_ACT),
                act(1, 7, 7, 4)));
        l.add(layer("max pool 3x3 stride 2 same", BuiltinOperator.MAX_POOL_2D, po, pool(SAME, 2, 3, NO_ACT),
                act(1, 9, 9, 4)));
        l.add(layer("max pool relu", BuiltinOperator.MAX_POOL_2D, po, pool(VALID, 2, 2, RELU), act(1, 8, 8, 4)));

        byte ro = BuiltinOptions.ReducerOptions;
        l.add(layer("mean spatial keep", BuiltinOperator.MEAN, ro, reducer(true), act(1, 6, 6, 8), ints(1, 2)));
        l.add(layer("mean spatial", BuiltinOperator.MEAN, ro, reducer(false), act(1, 6, 6, 8), ints(1, 2)));
        l.add(layer("mean last axis", BuiltinOperator.MEAN, ro, reducer(false), act(1, 6, 6, 8), ints(-1)));

        SoftmaxOptionsT sm = new SoftmaxOptionsT();
        sm.setBeta(1);
        SoftmaxOptionsT sm2 = new SoftmaxOptionsT();
        sm2.setBeta(0.5f);
        l.add(layer("softmax", BuiltinOperator.SOFTMAX, BuiltinOptions.SoftmaxOptions, sm, act(1, 10)));
        l.add(layer("softmax beta 0.5 4-d", BuiltinOperator.SOFTMAX, BuiltinOptions.SoftmaxOptions, sm2,
                act(1, 4, 4, 6)));
        l.add(layer("logistic", BuiltinOperator.LOGISTIC, BuiltinOptions.NONE, null, act(1, 6, 6, 4)));
        l.add(layer("tanh", BuiltinOperator.TANH, BuiltinOptions.NONE, null, act(1, 6, 6, 4)));
        l.add(layer("relu", BuiltinOperator.RELU, BuiltinOptions.NONE, null, act(1, 6, 6, 4)));
        l.add(layer("relu6", BuiltinOperator.RELU6, BuiltinOptions.NONE, null, act(1, 6, 6, 4)));
        l.add(layer("hard swish", BuiltinOperator.HARD_SWISH, BuiltinOptions.NONE, null, act(1, 6, 6, 4)));
        org.tensorflow.lite.schema.LeakyReluOptionsT lr = new org.tensorflow.lite.schema.LeakyReluOptionsT();
        lr.setAlpha(0.1f);
        l.add(layer("leaky relu", BuiltinOperator.LEAKY_RELU, BuiltinOptions.LeakyReluOptions, lr, act(1, 6, 6, 4)));
        l.add(layer("prelu channel alpha", BuiltinOperator.PRELU, BuiltinOptions.NONE, null, act(1, 6, 6, 4),
                w(1, 1, 4)));
        l.add(layer("maximum constant", BuiltinOperator.MAXIMUM, BuiltinOptions.MaximumMinimumOptions,
                new org.tensorflow.lite.schema.MaximumMinimumOptionsT(), act(1, 6, 6, 4), w(4)));
        l.add(layer("minimum two inputs", BuiltinOperator.MINIMUM, BuiltinOptions.MaximumMinimumOptions,
                new org.tensorflow.lite.schema.MaximumMinimumOptionsT(), act(1, 6, 6, 4), act(1, 6, 6, 4)));

        l.add(layer("reshape", BuiltinOperator.RESHAPE, BuiltinOptions.NONE, null, act(1, 6, 6, 4), ints(1, 36, 4)));
        l.add(layer("transpose", BuiltinOperator.TRANSPOSE, BuiltinOptions.NONE, null, act(1, 6, 5, 4),
                ints(0, 3, 1, 2)));
        l.add(layer("pad", BuiltinOperator.PAD, BuiltinOptions.NONE, null, act(1, 6, 6, 4),
                new IntConst(new int[] {4, 2}, new int[] {0, 0, 1, 2, 2, 1, 0, 0})));
        l.add(layer("padv2 value 0.5", BuiltinOperator.PADV2, BuiltinOptions.NONE, null, act(1, 6, 6, 4),
                new IntConst(new int[] {4, 2}, new int[] {0, 0, 1, 1, 1, 1, 0, 0}), w()));
        ResizeBilinearOptionsT rb = new ResizeBilinearOptionsT();
        ResizeBilinearOptionsT rbh = new ResizeBilinearOptionsT();
        rbh.setHalfPixelCenters(true);
        ResizeBilinearOptionsT rba = new ResizeBilinearOptionsT();
        rba.setAlignCorners(true);
        byte rbo = BuiltinOptions.ResizeBilinearOptions;
        l.add(layer("resize bilinear x2", BuiltinOperator.RESIZE_BILINEAR, rbo, rb, act(1, 5, 5, 4), ints(10, 10)));
        l.add(layer("resize bilinear half pixel", BuiltinOperator.RESIZE_BILINEAR, rbo, rbh, act(1, 5, 5, 4),
                ints(9, 7)));
        l.add(layer("resize bilinear align corners", BuiltinOperator.RESIZE_BILINEAR, rbo, rba, act(1, 5, 5, 4),
                ints(9, 9)));
        l.add(layer("resize nearest", BuiltinOperator.RESIZE_NEAREST_NEIGHBOR,
                BuiltinOptions.ResizeNearestNeighborOptions, new ResizeNearestNeighborOptionsT(), act(1, 5, 5, 4),
                ints(10, 10)));
        l.add(layer("slice", BuiltinOperator.SLICE, BuiltinOptions.NONE, null, act(1, 6, 6, 4), ints(0, 1, 2, 0),
                ints(1, 4, 3, 3)));
        StridedSliceOptionsT ss = new StridedSliceOptionsT();
        l.add(layer("strided slice step 2", BuiltinOperator.STRIDED_SLICE, BuiltinOptions.StridedSliceOptions, ss,
                act(1, 8, 8, 4), ints(0, 0, 1, 0), ints(1, 8, 8, 4), ints(1, 2, 2, 1)));
        GatherOptionsT ga = new GatherOptionsT();
        ga.setAxis(3);
        l.add(layer("gather channels", BuiltinOperator.GATHER, BuiltinOptions.GatherOptions, ga, act(1, 4, 4, 6),
                ints(5, 0, 2)));
        org.tensorflow.lite.schema.SpaceToDepthOptionsT s2d = new org.tensorflow.lite.schema.SpaceToDepthOptionsT();
        s2d.setBlockSize(2);
        l.add(layer("space to depth", BuiltinOperator.SPACE_TO_DEPTH, BuiltinOptions.SpaceToDepthOptions, s2d,
                act(1, 6, 6, 4)));
        org.tensorflow.lite.schema.DepthToSpaceOptionsT d2s = new org.tensorflow.lite.schema.DepthToSpaceOptionsT();
        d2s.setBlockSize(2);
        l.add(layer("depth to space", BuiltinOperator.DEPTH_TO_SPACE, BuiltinOptions.DepthToSpaceOptions, d2s,
                act(1, 4, 4, 8)));
        org.tensorflow.lite.schema.SqueezeOptionsT sq = new org.tensorflow.lite.schema.SqueezeOptionsT();
        sq.setSqueezeDims(new int[] {2});
        l.add(layer("squeeze", BuiltinOperator.SQUEEZE, BuiltinOptions.SqueezeOptions, sq, act(1, 6, 1, 4)));
        l.add(layer("expand dims", BuiltinOperator.EXPAND_DIMS, BuiltinOptions.ExpandDimsOptions,
                new org.tensorflow.lite.schema.ExpandDimsOptionsT(), act(1, 6, 4), ints(1)));
        l.add(layer("log softmax", BuiltinOperator.LOG_SOFTMAX, BuiltinOptions.LogSoftmaxOptions,
                new org.tensorflow.lite.schema.LogSoftmaxOptionsT(), act(1, 10)));
        l.add(layer("space to batch", BuiltinOperator.SPACE_TO_BATCH_ND, BuiltinOptions.SpaceToBatchNDOptions,
                new org.tensorflow.lite.schema.SpaceToBatchNDOptionsT(), act(1, 6, 6, 4), ints(2, 2),
                new IntConst(new int[] {2, 2}, new int[] {0, 0, 1, 1})));
        l.add(layer("batch to space", BuiltinOperator.BATCH_TO_SPACE_ND, BuiltinOptions.BatchToSpaceNDOptions,
                new org.tensorflow.lite.schema.BatchToSpaceNDOptionsT(), act(4, 3, 3, 4), ints(2, 2),
                new IntConst(new int[] {2, 2}, new int[] {0, 0, 0, 1})));

        // TFLite kernels that copy int8 values (same parameters in and out) ...
        l.add(layer("tile", BuiltinOperator.TILE, BuiltinOptions.TileOptions,
                new org.tensorflow.lite.schema.TileOptionsT(), act(1, 4, 4, 3), ints(1, 2, 1, 2)));
        for (int mode : new int[] {org.tensorflow.lite.schema.MirrorPadMode.REFLECT,
                org.tensorflow.lite.schema.MirrorPadMode.SYMMETRIC}) {
            l.add(layer("mirror pad " + org.tensorflow.lite.schema.MirrorPadMode.name(mode).toLowerCase(),
                    BuiltinOperator.MIRROR_PAD, BuiltinOptions.MirrorPadOptions,
                    with(new org.tensorflow.lite.schema.MirrorPadOptionsT(), o -> o.setMode((byte) mode)),
                    act(1, 6, 6, 4), new IntConst(new int[] {4, 2}, new int[] {0, 0, 1, 2, 2, 1, 0, 0})));
        }
        l.add(layer("split channels", BuiltinOperator.SPLIT, BuiltinOptions.SplitOptions,
                with(new org.tensorflow.lite.schema.SplitOptionsT(), o -> o.setNumSplits(2)), ints(3),
                act(1, 6, 6, 8)).outputs(2));
        l.add(layer("split v height", BuiltinOperator.SPLIT_V, BuiltinOptions.SplitVOptions,
                with(new org.tensorflow.lite.schema.SplitVOptionsT(), o -> o.setNumSplits(2)), act(1, 6, 6, 4),
                ints(2, 4), ints(1)).outputs(2));
        l.add(layer("unpack channels", BuiltinOperator.UNPACK, BuiltinOptions.UnpackOptions,
                with(new org.tensorflow.lite.schema.UnpackOptionsT(), o -> {
                    o.setNum(2);
                    o.setAxis(3);
                }), act(1, 6, 6, 2)).outputs(2));
        l.add(layer("reduce max spatial", BuiltinOperator.REDUCE_MAX, ro, reducer(false), act(1, 6, 6, 8),
                ints(1, 2)));
        l.add(layer("reduce min last axis keep", BuiltinOperator.REDUCE_MIN, ro, reducer(true), act(1, 6, 6, 8),
                ints(-1)));
        l.add(layer("broadcast to", BuiltinOperator.BROADCAST_TO, BuiltinOptions.BroadcastToOptions,
                new org.tensorflow.lite.schema.BroadcastToOptionsT(), act(1, 1, 4, 6), ints(1, 3, 4, 6)));
        l.add(layer("gather nd", BuiltinOperator.GATHER_ND, BuiltinOptions.GatherNdOptions,
                new org.tensorflow.lite.schema.GatherNdOptionsT(), act(1, 4, 4, 6),
                new IntConst(new int[] {2, 3}, new int[] {0, 1, 2, 0, 3, 0})));
        l.add(layer("reverse width", BuiltinOperator.REVERSE_V2, BuiltinOptions.ReverseV2Options,
                new org.tensorflow.lite.schema.ReverseV2OptionsT(), act(1, 6, 6, 4), ints(2)));
        // ... one whose inputs share the output's parameters ...
        l.add(layer("pack", BuiltinOperator.PACK, BuiltinOptions.PackOptions,
                with(new org.tensorflow.lite.schema.PackOptionsT(), o -> {
                    o.setValuesCount(2);
                    o.setAxis(3);
                }), act(1, 6, 6), act(1, 6, 6)));
        // ... fixed output parameters ...
        l.add(layer("l2 normalization", BuiltinOperator.L2_NORMALIZATION, BuiltinOptions.L2NormOptions,
                new org.tensorflow.lite.schema.L2NormOptionsT(), act(1, 6, 6, 8)));
        // ... and kernels that rescale to their own output parameters
        l.add(layer("sum spatial", BuiltinOperator.SUM, ro, reducer(true), act(1, 6, 6, 8), ints(1, 2)));
        l.add(layer("squared difference", BuiltinOperator.SQUARED_DIFFERENCE,
                BuiltinOptions.SquaredDifferenceOptions, new org.tensorflow.lite.schema.SquaredDifferenceOptionsT(),
                act(1, 6, 6, 4), act(1, 6, 6, 4)));
        l.add(layer("abs", BuiltinOperator.ABS, BuiltinOptions.NONE, null, act(1, 6, 6, 4)));
        l.add(layer("exp", BuiltinOperator.EXP, BuiltinOptions.ExpOptions, new org.tensorflow.lite.schema.ExpOptionsT(),
                act(1, 6, 6, 4)));
        l.add(layer("elu", BuiltinOperator.ELU, BuiltinOptions.NONE, null, act(1, 6, 6, 4)));
        l.add(layer("gelu", BuiltinOperator.GELU, BuiltinOptions.GeluOptions,
                new org.tensorflow.lite.schema.GeluOptionsT(), act(1, 6, 6, 4)));
        l.add(layer("gelu tanh approximation", BuiltinOperator.GELU, BuiltinOptions.GeluOptions,
                with(new org.tensorflow.lite.schema.GeluOptionsT(), o -> o.setApproximate(true)), act(1, 6, 6, 4)));
        byte bo = BuiltinOptions.BatchMatMulOptions;
        l.add(layer("batch matmul two inputs", BuiltinOperator.BATCH_MATMUL, bo,
                new org.tensorflow.lite.schema.BatchMatMulOptionsT(), act(1, 4, 6, 8), act(1, 4, 8, 5)));
        l.add(layer("batch matmul adj y broadcast", BuiltinOperator.BATCH_MATMUL, bo,
                with(new org.tensorflow.lite.schema.BatchMatMulOptionsT(), o -> o.setAdjY(true)), act(1, 3, 6, 8),
                act(1, 1, 5, 8)));
        l.add(layer("batch matmul constant rhs", BuiltinOperator.BATCH_MATMUL, bo,
                new org.tensorflow.lite.schema.BatchMatMulOptionsT(), act(1, 6, 8), w(1, 8, 5)));
        return l.stream();
    }

    /**
     * The float model of a graph: graph inputs x0, x1 ... (the activations, in order), operator outputs y (one
     * operator) or y0, y1 ...; {@code shapes} gives each operator output's shape by name, or null for a probe whose
     * operator outputs are all graph outputs of unknown shape.
     */
    static byte[] write(Graph graph, Map<String, int[]> shapes) {
        Random r = new Random(graph.name().hashCode());
        ModelT mt = new ModelT();
        mt.setVersion(3);
        mt.setOperatorCodes(new OperatorCodeT[0]);
        mt.setBuffers(new BufferT[] {new BufferT()});
        SubGraphT g = new SubGraphT();
        g.setTensors(new org.tensorflow.lite.schema.TensorT[0]);
        g.setOperators(new OperatorT[0]);
        g.setName("main");
        mt.setSubgraphs(new SubGraphT[] {g});
        mt.setDescription(graph.name());
        FlatBufferBuilder fbb = new FlatBufferBuilder(1024);
        Model.finishModelBuffer(fbb, Model.pack(fbb, mt));
        TfliteModel m = TfliteModel.parse(fbb.sizedByteArray(), graph.name());
        List<Integer> graphInputs = new ArrayList<>();
        List<List<Integer>> outs = new ArrayList<>();
        List<OperatorT> ops = new ArrayList<>();
        int k = 0;
        for (int node = 0; node < graph.nodes().size(); node++) {
            Layer layer = graph.nodes().get(node);
            List<Integer> opInputs = new ArrayList<>();
            for (In in : layer.inputs()) {
                if (in instanceof Act a) {
                    int t = m.addTensor(TfliteModel.newTensor("x" + graphInputs.size(), TensorType.FLOAT32,
                            a.shape(), null, 0, null));
                    graphInputs.add(t);
                    opInputs.add(t);
                } else if (in instanceof FloatConst c) {
                    int n = 1;
                    for (int d : c.shape()) n *= d;
                    float[] v = new float[n];
                    for (int i = 0; i < n; i++) v[i] = (float) (r.nextGaussian() * 0.3);
                    if (n == 1) v[0] = 0.5f;
                    opInputs.add(m.addTensor(TfliteModel.newTensor("c" + k++, TensorType.FLOAT32, c.shape(), null,
                            m.addBuffer(TfliteModel.floatBytes(v)), null)));
                } else if (in instanceof Scalar c) {
                    opInputs.add(m.addTensor(TfliteModel.newTensor("c" + k++, TensorType.FLOAT32, new int[] {1},
                            null, m.addBuffer(TfliteModel.floatBytes(new float[] {c.value()})), null)));
                } else if (in instanceof IntConst c) {
                    opInputs.add(m.addTensor(TfliteModel.newTensor("c" + k++, TensorType.INT32, c.shape(), null,
                            m.addBuffer(TfliteModel.intBytes(c.values())), null)));
                } else if (in instanceof Again again) {
                    opInputs.add(graphInputs.get(again.index()));
                } else if (in instanceof Out o) {
                    opInputs.add(outs.get(o.node()).get(o.index()));
                } else {
                    opInputs.add(-1);
                }
            }
            int[] y = new int[layer.outputs()];
            for (int i = 0; i < y.length; i++) {
                y[i] = m.addTensor(TfliteModel.newTensor(graph.output(node, i), outputType(layer),
                        shapes == null ? new int[0] : shapes.get(graph.output(node, i)), null, 0, null));
            }
            outs.add(java.util.Arrays.stream(y).boxed().toList());
            OperatorT op = new OperatorT();
            // BROADCAST_TO starts at version 2 (TFLite withdrew version 1)
            op.setOpcodeIndex(m.opCodeIndex(layer.code(), layer.code() == BuiltinOperator.BROADCAST_TO ? 2 : 1));
            op.setInputs(opInputs.stream().mapToInt(Integer::intValue).toArray());
            op.setOutputs(y);
            if (layer.options() != null) {
                BuiltinOptionsUnion u = new BuiltinOptionsUnion();
                u.setType(layer.optionsType());
                u.setValue(layer.options());
                op.setBuiltinOptions(u);
            }
            ops.add(op);
        }
        List<Integer> graphOutputs = new ArrayList<>();
        if (shapes == null) {
            for (List<Integer> o : outs) graphOutputs.addAll(o);
        } else {
            for (In o : graph.outputs()) {
                graphOutputs.add(o instanceof Out out ? outs.get(out.node()).get(out.index())
                        : graphInputs.get(((Again) o).index()));
            }
        }
        m.main().setOperators(ops.toArray(new OperatorT[0]));
        m.main().setInputs(graphInputs.stream().mapToInt(Integer::intValue).toArray());
        m.main().setOutputs(graphOutputs.stream().mapToInt(Integer::intValue).toArray());
        return m.toBytes();
    }

    /** The files under {@code dir}, relative, sorted; none where it does not exist. */
    private static List<String> listing(Path dir) {
        if (!java.nio.file.Files.exists(dir)) return List.of();
        try (Stream<Path> files = java.nio.file.Files.walk(dir)) {
            return files.filter(java.nio.file.Files::isRegularFile).map(p -> dir.relativize(p).toString()).sorted()
                    .toList();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** The element type of an operator's outputs: float32 but for ARG_MAX and CAST, which say theirs. */
    private static byte outputType(Layer layer) {
        if (layer.options() instanceof org.tensorflow.lite.schema.ArgMaxOptionsT a) return a.getOutputType();
        if (layer.options() instanceof org.tensorflow.lite.schema.CastOptionsT c) return c.getOutDataType();
        return TensorType.FLOAT32;
    }

    static List<Map<String, FloatTensor>> samples(Graph graph, int count, long seed) {
        Random r = new Random(seed);
        List<Map<String, FloatTensor>> l = new ArrayList<>();
        for (int s = 0; s < count; s++) {
            Map<String, FloatTensor> feed = new LinkedHashMap<>();
            int i = 0;
            for (Act a : graph.acts()) {
                long[] shape = TfliteModel.longShape(a.shape());
                float[] v = new float[(int) FloatTensor.elementCount(shape)];
                for (int j = 0; j < v.length; j++) v[j] = (float) r.nextGaussian();
                feed.put("x" + i++, new FloatTensor(shape, v));
            }
            l.add(feed);
        }
        return l;
    }

    /** The float model with its operators' output shapes as the interpreter computes them. */
    Path floatModel(Graph graph) {
        Map<String, int[]> shapes = new java.util.HashMap<>();
        try (TfliteSession s = TfliteSession.open(write(graph, null), graph.name(),
                TfliteSession.Options.defaults(1))) {
            Map<String, FloatTensor> out = s.run(samples(graph, 1, 0).get(0));
            for (var e : out.entrySet()) {
                long[] shape = e.getValue().shape();
                int[] d = new int[shape.length];
                for (int i = 0; i < d.length; i++) d[i] = (int) shape[i];
                shapes.put(e.getKey(), d);
            }
        }
        Path file = tmp.resolve("layer.tflite");
        TfliteModel.parse(write(graph, shapes), graph.name()).save(file);
        return file;
    }

    /**
     * The pooled cosine of {@code candidate}'s outputs against {@code reference}'s over {@code d}; 1 where both are
     * zero everywhere (x - x).
     */
    static double cosine(TfliteSession reference, TfliteSession candidate, List<Map<String, FloatTensor>> d) {
        double xy = 0;
        double xx = 0;
        double yy = 0;
        for (Map<String, FloatTensor> feed : d) {
            Map<String, FloatTensor> want = reference.run(feed);
            // int8 inputs and outputs (--io int8) are written and read as the real values they quantize
            Map<String, FloatTensor> got = candidate.run(feed);
            assertEquals(want.keySet(), got.keySet(), "output names");
            for (var e : want.entrySet()) {
                float[] x = e.getValue().data();
                float[] y = got.get(e.getKey()).data();
                assertEquals(x.length, y.length, e.getKey() + " size");
                for (int i = 0; i < x.length; i++) {
                    xy += (double) x[i] * y[i];
                    xx += (double) x[i] * x[i];
                    yy += (double) y[i] * y[i];
                }
            }
        }
        if (xx < 1e-12 && yy < 1e-12) return 1;
        return xy / Math.sqrt(xx * yy);
    }

    private QuantizationResult quantize(Graph graph, Path model, String out,
                                        UnaryOperator<QuantizationRequest.Builder> more) {
        return new TfliteBackend().quantize(more.apply(QuantizationRequest.builder().model(model).seed(1)
                .calibrationSamples(samples(graph, 64, 1)).outputDir(tmp.resolve(out))).build(), Progress.NONE);
    }

    /** How a variant quantizes. */
    private static QuantizationRequest.Builder variant(String v, QuantizationRequest.Builder b) {
        return switch (v) {
            case "per-tensor" -> b.perChannel(false);
            case "edgetpu" -> b.target("edgetpu");
            case "io int8" -> b.io(IoType.INT8);
            case "dynamic" -> b.precision(Precision.DYNAMIC);
            case "fp16" -> b.precision(Precision.FP16);
            default -> b;
        };
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("layers")
    void oneQuantizedOperatorStaysCloseToFloatInBothKernels(Layer layer) {
        Graph graph = Graph.of(layer);
        Path model = floatModel(graph);
        List<Map<String, FloatTensor>> held = samples(graph, 6, 2);
        StringBuilder report = new StringBuilder();
        boolean ok = true;
        for (String v : List.of("per-channel", "per-tensor", "edgetpu", "io int8", "dynamic", "fp16")) {
            if (v.equals("edgetpu") && layer.name().contains("batch")) continue;
            // dynamic range changes CONV_2D and FULLY_CONNECTED only (XNNPACK has no hybrid depthwise)
            if (v.equals("dynamic") && layer.code() != BuiltinOperator.CONV_2D
                    && layer.code() != BuiltinOperator.FULLY_CONNECTED) {
                continue;
            }
            QuantizationResult result = quantize(graph, model, v, b -> variant(v, b));
            Path quantized = result.artifact("model").orElseThrow().path();
            for (boolean xnnpack : new boolean[] {false, true}) {
                try (TfliteSession fp32 = TfliteSession.open(model, new TfliteSession.Options(1, false, false));
                     TfliteSession q = TfliteSession.open(quantized, new TfliteSession.Options(1, xnnpack, false))) {
                    double c = cosine(fp32, q, held);
                    report.append(String.format(" %s/%s %.5f", v, xnnpack ? "xnnpack" : "builtin", c));
                    if (!(c > 0.999)) ok = false;
                }
            }
        }
        System.out.println("VARIANT " + layer + report);
        assertTrue(ok, layer.name() + report);
    }

    /**
     * The op version TFLite's versioning (tensorflow/lite/tools/versioning/op_version.cc) gives the int8 kernel of
     * builtins whose int8 version is not 2; an int8 op at too low a version may meet an older runtime without its
     * kernel, one at too high a version is refused by this one.
     */
    private static final Map<Integer, Integer> INT8_VERSION = versions(BuiltinOperator.TILE, 3,
            BuiltinOperator.BROADCAST_TO, 3, BuiltinOperator.REVERSE_V2, 3, BuiltinOperator.GATHER_ND, 1,
            BuiltinOperator.ELU, 1, BuiltinOperator.CONV_2D, 3, BuiltinOperator.DEPTHWISE_CONV_2D, 3,
            BuiltinOperator.RESHAPE, 1, BuiltinOperator.SQUEEZE, 1, BuiltinOperator.EXPAND_DIMS, 1,
            BuiltinOperator.LEAKY_RELU, 1);

    /** Pairs of builtin code and version. */
    private static Map<Integer, Integer> versions(int... codeThenVersion) {
        Map<Integer, Integer> m = new java.util.HashMap<>();
        for (int i = 0; i < codeThenVersion.length; i += 2) m.put(codeThenVersion[i], codeThenVersion[i + 1]);
        return Map.copyOf(m);
    }
    /** TFLite kernels that copy int8 values: every output has the parameters of the data input. */
    private static final Map<Integer, Integer> COPYING_KERNEL_DATA_INPUT = Map.of(BuiltinOperator.TILE, 0,
            BuiltinOperator.MIRROR_PAD, 0, BuiltinOperator.SPLIT, 1, BuiltinOperator.SPLIT_V, 0,
            BuiltinOperator.UNPACK, 0, BuiltinOperator.REDUCE_MAX, 0, BuiltinOperator.REDUCE_MIN, 0,
            BuiltinOperator.BROADCAST_TO, 0, BuiltinOperator.GATHER_ND, 0, BuiltinOperator.REVERSE_V2, 0);

    /**
     * Every layer quantizes to int8 in and out but PRELU (float on the CPU target, see IntegerQuantizer) and
     * HARD_SWISH (rewritten for XNNPACK into MUL and DEPTHWISE_CONV_2D, see GraphRewrites).
     */
    static Stream<Layer> int8Layers() {
        return layers().filter(l -> l.code() != BuiltinOperator.PRELU && l.code() != BuiltinOperator.HARD_SWISH
                && !kernelIsStride(l));
    }

    /** A TRANSPOSE_CONV whose kernel is its stride, which the CPU target writes as CONV_2D and DEPTH_TO_SPACE. */
    private static boolean kernelIsStride(Layer l) {
        return l.code() == BuiltinOperator.TRANSPOSE_CONV && l.inputs().get(1) instanceof FloatConst w
                && w.shape()[1] == ((TransposeConvOptionsT) l.options()).getStrideH();
    }

    static Stream<Layer> kernelIsStrideLayers() {
        return layers().filter(TfliteOperatorVariantsTest::kernelIsStride);
    }

    /** Operators XNNPACK runs in float only, which stay float on the CPU target (int8 for the Edge TPU). */
    private static boolean cpuFloat(Layer layer) {
        int code = layer.code();
        return code == BuiltinOperator.SOFTMAX || code == BuiltinOperator.GELU || code == BuiltinOperator.RSQRT
                || code == BuiltinOperator.BATCH_MATMUL && layer.inputs().stream().allMatch(in -> in instanceof Act);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("int8Layers")
    void aLayerBecomesInt8AtItsKernelsVersionWithTheParametersItsKernelNeeds(Layer layer) {
        Graph graph = Graph.of(layer);
        Path model = floatModel(graph);
        if (cpuFloat(layer)) {
            List<?> floatOps = (List<?>) ((Map<?, ?>) quantize(graph, model, "cpu", b -> b).report()
                    .get("quantization")).get("float_ops");
            assertEquals(1, floatOps.size(), layer.name() + " " + floatOps);
            assertTrue(((Map<?, ?>) floatOps.get(0)).get("reason").toString().startsWith(BuiltinOperator.name(
                    layer.code()) + " stays float on the CPU target: XNNPACK"), floatOps.toString());
        }
        QuantizationResult r = quantize(graph, model, "int8", b -> cpuFloat(layer) ? b.target("edgetpu") : b);
        Map<?, ?> report = (Map<?, ?>) r.report().get("quantization");
        assertEquals(List.of(), report.get("float_ops"), layer.name());
        TfliteModel q = TfliteModel.load(r.artifact("model").orElseThrow().path());
        String what = layer.name() + " " + BuiltinOperator.name(layer.code());
        OperatorT op = q.operators().stream().filter(o -> q.builtinCode(o) == layer.code()).findFirst()
                .orElseThrow(() -> new AssertionError(what + " is gone from the int8 model"));
        for (int t : op.getOutputs()) assertEquals(TensorType.INT8, q.tensor(t).getType(), what + " output");
        for (int t : op.getInputs()) {
            if (t < 0) continue;
            byte type = q.tensor(t).getType();
            assertTrue(type == TensorType.INT8 || type == TensorType.INT32, what + " input " + q.tensor(t).getName()
                    + " is " + TensorType.name(type));
        }
        // (FULLY_CONNECTED and TRANSPOSE_CONV versions follow their options and inputs)
        if (layer.code() != BuiltinOperator.FULLY_CONNECTED && layer.code() != BuiltinOperator.TRANSPOSE_CONV) {
            assertEquals(INT8_VERSION.getOrDefault(layer.code(), 2), q.opCode(op).getVersion(), what + " version");
        }
        Integer data = COPYING_KERNEL_DATA_INPUT.get(layer.code());
        List<Integer> shared = new ArrayList<>();
        if (data != null) shared.add(op.getInputs()[data]);
        if (layer.code() == BuiltinOperator.PACK) for (int t : op.getInputs()) shared.add(t);
        for (int t : shared) {
            for (int o : op.getOutputs()) {
                assertArrayEquals(q.tensor(t).getQuantization().getScale(), q.tensor(o).getQuantization().getScale(),
                        what + " scale");
                assertArrayEquals(q.tensor(t).getQuantization().getZeroPoint(),
                        q.tensor(o).getQuantization().getZeroPoint(), what + " zero point");
            }
        }
        if (layer.code() == BuiltinOperator.L2_NORMALIZATION) {
            var p = q.tensor(op.getOutputs()[0]).getQuantization();
            assertArrayEquals(new float[] {1f / 128}, p.getScale(), what);
            assertArrayEquals(new long[] {0}, p.getZeroPoint(), what);
        }
    }

    /**
     * A TRANSPOSE_CONV whose kernel is its stride: the rewrite alone computes the same float function; the CPU target
     * writes it as an int8 1x1 CONV_2D and an int8 DEPTH_TO_SPACE with the conv's parameters, in one XNNPACK
     * partition; the Edge TPU target keeps an int8 TRANSPOSE_CONV.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("kernelIsStrideLayers")
    void aTransposeConvWhoseKernelIsItsStrideBecomesConvAndDepthToSpace(Layer layer) {
        Graph graph = Graph.of(layer);
        Path model = floatModel(graph);
        TfliteModel rewritten = TfliteModel.load(model);
        assertEquals(1, TransposeConvRewrites.toConvDepthToSpace(rewritten, new java.util.HashMap<>(), op -> false));
        Path rewrittenFile = tmp.resolve("rewritten.tflite");
        rewritten.save(rewrittenFile);
        try (TfliteSession a = TfliteSession.open(model, new TfliteSession.Options(1, false, false));
             TfliteSession b = TfliteSession.open(rewrittenFile, new TfliteSession.Options(1, false, false))) {
            for (Map<String, FloatTensor> feed : samples(graph, 3, 2)) {
                float[] want = a.run(feed).get("y").data();
                float[] got = b.run(feed).get("y").data();
                assertEquals(want.length, got.length);
                for (int i = 0; i < want.length; i++) assertEquals(want[i], got[i], 1e-5, layer.name() + " at " + i);
            }
        }

        QuantizationResult r = quantize(graph, model, "int8", b -> b);
        Map<?, ?> report = (Map<?, ?>) r.report().get("quantization");
        assertEquals(List.of(), report.get("float_ops"), layer.name());
        assertEquals(1, ((Map<?, ?>) report.get("graph_rewrites")).get("transpose_conv_to_conv_depth_to_space"));
        Path file = r.artifact("model").orElseThrow().path();
        TfliteModel q = TfliteModel.load(file);
        assertEquals(List.of("QUANTIZE", "CONV_2D", "DEPTH_TO_SPACE", "DEQUANTIZE"),
                q.operators().stream().map(q::opName).toList(), layer.name());
        OperatorT conv = q.operators().get(1);
        OperatorT d2s = q.operators().get(2);
        assertEquals(3, q.opCode(conv).getVersion());
        assertEquals(2, q.opCode(d2s).getVersion());
        int[] convIn = conv.getInputs();
        assertEquals(List.of(TensorType.INT8, TensorType.INT8, TensorType.INT32, TensorType.INT8),
                List.of(q.tensor(convIn[0]).getType(), q.tensor(convIn[1]).getType(), q.tensor(convIn[2]).getType(),
                        q.tensor(conv.getOutputs()[0]).getType()), layer.name() + " conv types");
        var blocks = q.tensor(d2s.getInputs()[0]).getQuantization();
        var y = q.tensor(d2s.getOutputs()[0]).getQuantization();
        assertEquals(TensorType.INT8, q.tensor(d2s.getOutputs()[0]).getType());
        assertArrayEquals(blocks.getScale(), y.getScale(), "DEPTH_TO_SPACE scale");
        assertArrayEquals(blocks.getZeroPoint(), y.getZeroPoint(), "DEPTH_TO_SPACE zero point");
        assertEquals(NO_ACT, ((Conv2DOptionsT) conv.getBuiltinOptions().getValue()).getFusedActivationFunction());
        try (TfliteSession s = TfliteSession.open(file, 1)) {
            assertEquals(Map.of(), s.delegation().undelegated(), s.delegation().toString());
            assertEquals(1, s.delegation().partitions());
        }

        TfliteModel e = TfliteModel.load(quantize(graph, model, "edgetpu", b -> b.target("edgetpu"))
                .artifact("model").orElseThrow().path());
        assertEquals(List.of("QUANTIZE", "TRANSPOSE_CONV", "DEQUANTIZE"),
                e.operators().stream().map(e::opName).toList());
    }

    /**
     * After a transposed conv written as CONV_2D and DEPTH_TO_SPACE, a RELU that alone reads it goes into the conv
     * (XNNPACK has no int8 RELU), and a LOGISTIC's input range cut reaches the conv's output, whose parameters
     * DEPTH_TO_SPACE keeps.
     */
    @Test
    void aTransposeConvsReluJoinsTheConvAndALogisticsRangeCutReachesIt() {
        Layer tconv = transposeConv("", SAME, 2, ints(1, 12, 12, 2), w(2, 2, 2, 64), act(1, 6, 6, 64), w(2));
        for (int code : new int[] {BuiltinOperator.RELU, BuiltinOperator.LOGISTIC}) {
            Graph graph = graph("transpose conv then " + BuiltinOperator.name(code), List.of(out(1)), tconv,
                    node(code, BuiltinOptions.NONE, null, out(0)));
            Path model = floatModel(graph);
            QuantizationResult r = quantize(graph, model, "int8-" + code, b -> b);
            Path file = r.artifact("model").orElseThrow().path();
            TfliteModel q = TfliteModel.load(file);
            List<String> ops = q.operators().stream().map(q::opName).toList();
            OperatorT conv = q.operators().get(1);
            double step = q.tensor(conv.getOutputs()[0]).getQuantization().getScale()[0];
            if (code == BuiltinOperator.RELU) {
                assertEquals(List.of("QUANTIZE", "CONV_2D", "DEPTH_TO_SPACE", "DEQUANTIZE"), ops);
                assertEquals(RELU, ((Conv2DOptionsT) conv.getBuiltinOptions().getValue()).getFusedActivationFunction());
            } else {
                assertEquals(List.of("QUANTIZE", "CONV_2D", "DEPTH_TO_SPACE", "LOGISTIC", "DEQUANTIZE"), ops);
                double[] cut = GraphRewrites.LOGISTIC_INPUT;
                assertTrue(step <= (cut[1] - cut[0]) / 255 * 1.0001, "conv output step " + step);
            }
            try (TfliteSession fp32 = TfliteSession.open(model, new TfliteSession.Options(1, false, false));
                 TfliteSession s = TfliteSession.open(file, 1)) {
                assertEquals(1, s.delegation().partitions(), s.delegation().toString());
                double c = cosine(fp32, s, samples(graph, 6, 2));
                assertTrue(c > 0.999, graph.name() + " cosine " + c);
            }
        }
    }

    /**
     * An overlapping transposed conv (kernel 3, stride 2) stays a TRANSPOSE_CONV on the CPU target; the RELU that
     * alone reads it becomes its fused activation (op version 4: XNNPACK has no int8 RELU, which split the model in
     * three partitions), and the CONCATENATION that alone reads that gets it written on the concatenation's
     * parameters instead of requantized to them: a U-Net decoder stage in one partition. The Edge TPU target keeps
     * the RELU.
     */
    @Test
    void anOverlappingTransposeConvTakesItsReluAndWritesOnTheConcatenationsParameters() {
        Layer tconv = transposeConv("", SAME, 2, ints(1, 12, 12, 4), w(4, 3, 3, 8), act(1, 6, 6, 8), w(4));
        Graph graph = graph("decoder stage", List.of(out(2)), tconv,
                node(BuiltinOperator.RELU, BuiltinOptions.NONE, null, out(0)),
                node(BuiltinOperator.CONCATENATION, BuiltinOptions.ConcatenationOptions, concat(3), out(1),
                        act(1, 12, 12, 4)));
        Path model = floatModel(graph);
        QuantizationResult r = quantize(graph, model, "decoder", b -> b);
        Path file = r.artifact("model").orElseThrow().path();
        TfliteModel q = TfliteModel.load(file);
        OperatorT tc = null;
        OperatorT cat = null;
        for (OperatorT op : q.operators()) {
            assertTrue(!q.opName(op).equals("RELU"), q.operators().stream().map(q::opName).toList().toString());
            if (q.opName(op).equals("TRANSPOSE_CONV")) tc = op;
            if (q.opName(op).equals("CONCATENATION")) cat = op;
        }
        assertEquals(4, q.opCode(tc).getVersion());
        assertEquals(RELU, ((TransposeConvOptionsT) tc.getBuiltinOptions().getValue()).getFusedActivationFunction());
        assertEquals(tc.getOutputs()[0], cat.getInputs()[0], "the concatenation reads the transposed conv directly");
        var written = q.tensor(tc.getOutputs()[0]).getQuantization();
        var shared = q.tensor(cat.getOutputs()[0]).getQuantization();
        assertEquals(shared.getScale()[0], written.getScale()[0]);
        assertEquals(shared.getZeroPoint()[0], written.getZeroPoint()[0]);
        // the other input, a graph input, is still requantized
        assertEquals(1, ((Number) ((Map<?, ?>) r.report().get("quantization")).get("inserted_requantize")).intValue());
        try (TfliteSession fp32 = TfliteSession.open(model, new TfliteSession.Options(1, false, false));
             TfliteSession s = TfliteSession.open(file, 1);
             TfliteSession builtin = TfliteSession.open(file, new TfliteSession.Options(1, false, false))) {
            assertEquals(1, s.delegation().partitions(), s.delegation().toString());
            assertEquals(Map.of(), s.delegation().undelegated(), s.delegation().toString());
            double c = cosine(fp32, s, samples(graph, 6, 2));
            assertTrue(c > 0.999, graph.name() + " cosine " + c);
            // TFLite's own int8 kernel takes version 4 too
            c = cosine(fp32, builtin, samples(graph, 6, 2));
            assertTrue(c > 0.999, graph.name() + " cosine without XNNPACK " + c);
        }
        TfliteModel edge = TfliteModel.load(quantize(graph, model, "decoder-edgetpu", b -> b.target("edgetpu"))
                .artifact("model").orElseThrow().path());
        assertEquals(List.of("QUANTIZE", "TRANSPOSE_CONV", "RELU"), edge.operators().stream().map(edge::opName)
                .limit(3).toList());
    }

    private static Graph graph(String name, List<In> outputs, Layer... nodes) {
        return new Graph(name, List.of(nodes), outputs);
    }

    private static Layer node(int code, byte optionsType, Object options, In... inputs) {
        return new Layer("", code, optionsType, options, List.of(inputs));
    }

    private static Out out(int node) {
        return new Out(node);
    }

    static Stream<Graph> graphs() {
        Layer conv = node(BuiltinOperator.CONV_2D, BuiltinOptions.Conv2DOptions, conv(SAME, 1, 1, NO_ACT),
                act(1, 8, 8, 4), w(4, 3, 3, 4), w(4));
        In x = new Again(0);
        Layer convAgain = node(BuiltinOperator.CONV_2D, BuiltinOptions.Conv2DOptions, conv(SAME, 1, 1, NO_ACT), x,
                w(4, 3, 3, 4), w(4));
        Layer relu = node(BuiltinOperator.RELU, BuiltinOptions.NONE, null, out(0));
        List<Graph> l = new ArrayList<>();
        l.add(graph("a graph input is also a graph output", List.of(out(0), x),
                node(BuiltinOperator.RELU, BuiltinOptions.NONE, null, act(1, 6, 6, 4))));
        l.add(graph("graph inputs are graph outputs", List.of(out(0), out(1), x, new Again(1)),
                node(BuiltinOperator.RELU, BuiltinOptions.NONE, null, act(1, 6, 6, 4)),
                node(BuiltinOperator.TANH, BuiltinOptions.NONE, null, act(1, 3))));
        l.add(graph("an operator whose output nobody reads", List.of(out(0)),
                node(BuiltinOperator.RELU, BuiltinOptions.NONE, null, act(1, 6, 6, 4)),
                node(BuiltinOperator.TANH, BuiltinOptions.NONE, null, act(1, 3))));
        l.add(graph("an operator output is a graph output and feeds another", List.of(out(0), out(1)), conv, relu));
        l.add(graph("one output listed twice", List.of(out(0), out(0)), conv));
        l.add(graph("residual add", List.of(out(1)), conv,
                node(BuiltinOperator.ADD, BuiltinOptions.AddOptions, add(NO_ACT), out(0), x)));
        l.add(graph("one input into two convolutions", List.of(out(2)), conv, convAgain,
                node(BuiltinOperator.ADD, BuiltinOptions.AddOptions, add(NO_ACT), out(0), out(1))));
        l.add(graph("concat of ranges 20x apart", List.of(out(3)), conv, convAgain,
                node(BuiltinOperator.MUL, BuiltinOptions.MulOptions, mul(NO_ACT), out(1), new Scalar(20)),
                node(BuiltinOperator.CONCATENATION, BuiltinOptions.ConcatenationOptions, concat(3), out(0), out(2))));
        l.add(graph("concat of ranges 20x apart feeding a convolution", List.of(out(4)), conv, convAgain,
                node(BuiltinOperator.MUL, BuiltinOptions.MulOptions, mul(NO_ACT), out(1), new Scalar(20)),
                node(BuiltinOperator.CONCATENATION, BuiltinOptions.ConcatenationOptions, concat(3), out(0), out(2)),
                node(BuiltinOperator.CONV_2D, BuiltinOptions.Conv2DOptions, conv(SAME, 1, 1, NO_ACT), out(3),
                        w(4, 3, 3, 8), w(4))));
        l.add(graph("concat of ranges 20x apart, an output that feeds a convolution", List.of(out(3), out(4)), conv,
                convAgain,
                node(BuiltinOperator.MUL, BuiltinOptions.MulOptions, mul(NO_ACT), out(1), new Scalar(20)),
                node(BuiltinOperator.CONCATENATION, BuiltinOptions.ConcatenationOptions, concat(3), out(0), out(2)),
                node(BuiltinOperator.CONV_2D, BuiltinOptions.Conv2DOptions, conv(SAME, 1, 1, NO_ACT), out(3),
                        w(4, 3, 3, 8), w(4))));
        l.add(graph("logistic into concat with its input", List.of(out(1)),
                node(BuiltinOperator.LOGISTIC, BuiltinOptions.NONE, null, act(1, 6, 6, 4)),
                node(BuiltinOperator.CONCATENATION, BuiltinOptions.ConcatenationOptions, concat(3), out(0), x)));
        l.add(graph("max pool output into a convolution and out", List.of(out(0), out(1)),
                node(BuiltinOperator.MAX_POOL_2D, BuiltinOptions.Pool2DOptions, pool(VALID, 2, 2, NO_ACT),
                        act(1, 8, 8, 4)),
                node(BuiltinOperator.CONV_2D, BuiltinOptions.Conv2DOptions, conv(SAME, 1, 1, NO_ACT), out(0),
                        w(4, 3, 3, 4), w(4))));
        l.add(graph("reshape of an input that is also an output", List.of(out(0), x),
                node(BuiltinOperator.RESHAPE, BuiltinOptions.NONE, null, act(1, 6, 6, 4), ints(1, 144))));
        l.add(graph("maximum of a tensor and its relu", List.of(out(1)), conv,
                node(BuiltinOperator.MAXIMUM, BuiltinOptions.MaximumMinimumOptions,
                        new org.tensorflow.lite.schema.MaximumMinimumOptionsT(), relu.inputs().get(0), out(0))));
        return l.stream();
    }

    /** The cosines of a graph's variants, and whether each exceeded its floor. */
    record Outcome(String report, boolean ok) { }

    /**
     * Quantizes {@code graph} each way of {@code variants} ("exclude": the last operator kept float, by its output's
     * name, between DEQUANTIZE and QUANTIZE), checks that each output's fidelity counts the held-out samples once (an
     * output listed twice was pooled twice) and that the outputs keep their names, and measures the cosine against
     * the float model in TFLite's own kernels and in XNNPACK.
     */
    private Outcome variants(Graph graph, Path model, List<String> variants, double floor) {
        List<Map<String, FloatTensor>> held = samples(graph, 6, 2);
        StringBuilder report = new StringBuilder();
        boolean ok = true;
        String last = graph.output(graph.nodes().size() - 1);
        for (String v : variants) {
            QuantizationResult result = quantize(graph, model, v, b -> (v.equals("exclude")
                    ? b.excludes(List.of(last)) : variant(v, b)).evaluationSamples(held));
            for (var f : result.fidelity().values()) assertEquals(held.size(), f.samples(), v + " " + f.output());
            Path quantized = result.artifact("model").orElseThrow().path();
            for (boolean xnnpack : new boolean[] {false, true}) {
                try (TfliteSession fp32 = TfliteSession.open(model, new TfliteSession.Options(1, false, false));
                     TfliteSession q = TfliteSession.open(quantized, new TfliteSession.Options(1, xnnpack, false))) {
                    assertEquals(fp32.outputs().stream().map(t -> t.name()).toList(),
                            q.outputs().stream().map(t -> t.name()).toList(), v + " output names");
                    double c = cosine(fp32, q, held);
                    report.append(String.format(" %s/%s %.5f", v, xnnpack ? "xnnpack" : "builtin", c));
                    if (!(c > floor)) ok = false;
                }
            }
        }
        return new Outcome(report.toString(), ok);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("graphs")
    void aQuantizedGraphStaysCloseToFloatInBothKernels(Graph graph) {
        Path model = floatModel(graph);
        List<String> variants = new ArrayList<>(List.of("per-channel", "edgetpu", "io int8", "fp16", "exclude"));
        if (graph.nodes().size() < 2) variants.remove("exclude");
        Outcome o = variants(graph, model, variants, 0.999);
        String report = o.report();
        boolean ok = o.ok();
        System.out.println("GRAPH " + graph + report);
        assertTrue(ok, graph.name() + report);
    }

    private static Layer conv3x3(In input, int in, int out) {
        return node(BuiltinOperator.CONV_2D, BuiltinOptions.Conv2DOptions, conv(SAME, 1, 1, NO_ACT), input,
                w(out, 3, 3, in), w(out));
    }

    private static Layer unary(int code, In input) {
        return node(code, BuiltinOptions.NONE, null, input);
    }

    /**
     * Operators the full-integer rewrite leaves float, between quantized ones: DEQUANTIZE before, QUANTIZE after,
     * several float operators in a row, a float output that is a graph output and feeds a convolution.
     */
    static Stream<Graph> floatIslands() {
        Layer conv = conv3x3(act(1, 8, 8, 4), 4, 8);
        In y0 = out(0);
        List<Graph> l = new ArrayList<>();
        for (int code : new int[] {BuiltinOperator.SIN, BuiltinOperator.COS}) {
            l.add(graph(BuiltinOperator.name(code) + " between convolutions", List.of(out(2)), conv,
                    unary(code, y0), conv3x3(out(1), 8, 4)));
        }
        l.add(graph("two float operators in a row", List.of(out(3)), conv, unary(BuiltinOperator.SIN, y0),
                unary(BuiltinOperator.COS, out(1)), conv3x3(out(2), 8, 4)));
        l.add(graph("a float output is a graph output and feeds a convolution", List.of(out(1), out(2)), conv,
                unary(BuiltinOperator.SIN, y0), conv3x3(out(1), 8, 4)));
        l.add(graph("a quantized output is a graph output and feeds a float operator", List.of(out(0), out(1)),
                conv, unary(BuiltinOperator.SIN, y0)));
        l.add(graph("float operators at the graph input and output", List.of(out(2)),
                unary(BuiltinOperator.SIN, act(1, 8, 8, 4)), conv3x3(out(0), 4, 8), unary(BuiltinOperator.SIN,
                        out(1))));
        l.add(graph("one float output into two convolutions", List.of(out(4)), conv,
                unary(BuiltinOperator.SIN, y0), conv3x3(out(1), 8, 4), conv3x3(out(1), 8, 4),
                node(BuiltinOperator.CONCATENATION, BuiltinOptions.ConcatenationOptions, concat(3), out(2),
                        out(3))));
        // EXP of the convolution itself is lognormal with sigma 1.8: int8 steps lose the tail whatever the range
        l.add(graph("division by a constant and exp", List.of(out(3)), conv,
                node(BuiltinOperator.DIV, BuiltinOptions.DivOptions, new org.tensorflow.lite.schema.DivOptionsT(),
                        y0, new Scalar(4)), unary(BuiltinOperator.EXP, out(1)), conv3x3(out(2), 8, 4)));
        // an index flips where two channels lie within an int8 step of each other: 0.9976 and more
        l.add(graph("arg max of a convolution is a graph output", List.of(out(0), out(1)), conv,
                node(BuiltinOperator.ARG_MAX, BuiltinOptions.ArgMaxOptions,
                        with(new org.tensorflow.lite.schema.ArgMaxOptionsT(), o -> o.setOutputType(TensorType.INT32)),
                        y0, ints(3))));
        return l.stream();
    }

    /**
     * Operators with int8 kernels that the rewrite once left float, between quantized ones: several outputs (SPLIT,
     * UNPACK), outputs that are graph outputs, inputs that must share parameters (PACK), copying kernels (TILE) and
     * kernels with their own output parameters (SQUARED_DIFFERENCE, SUM, BATCH_MATMUL, GELU ...). TensorFlow's own
     * converter writes all of them in int8.
     */
    static Stream<Graph> int8Neighbours() {
        Layer conv = conv3x3(act(1, 8, 8, 4), 4, 8);
        In y0 = out(0);
        List<Graph> l = new ArrayList<>();
        l.add(graph("split into two convolutions", List.of(out(4)), conv,
                node(BuiltinOperator.SPLIT, BuiltinOptions.SplitOptions,
                        with(new org.tensorflow.lite.schema.SplitOptionsT(), o -> o.setNumSplits(2)), ints(3), y0)
                        .outputs(2),
                conv3x3(new Out(1, 0), 4, 4), conv3x3(new Out(1, 1), 4, 4),
                node(BuiltinOperator.ADD, BuiltinOptions.AddOptions, add(NO_ACT), out(2), out(3))));
        l.add(graph("split outputs are graph outputs", List.of(new Out(1, 1), new Out(1, 0)), conv,
                node(BuiltinOperator.SPLIT_V, BuiltinOptions.SplitVOptions,
                        with(new org.tensorflow.lite.schema.SplitVOptionsT(), o -> o.setNumSplits(2)), y0,
                        ints(3, 5), ints(3)).outputs(2)));
        l.add(graph("unpack and pack between convolutions", List.of(out(3)),
                conv3x3(act(1, 6, 6, 4), 4, 2),
                node(BuiltinOperator.UNPACK, BuiltinOptions.UnpackOptions,
                        with(new org.tensorflow.lite.schema.UnpackOptionsT(), o -> {
                            o.setNum(2);
                            o.setAxis(3);
                        }), y0).outputs(2),
                node(BuiltinOperator.PACK, BuiltinOptions.PackOptions,
                        with(new org.tensorflow.lite.schema.PackOptionsT(), o -> {
                            o.setValuesCount(2);
                            o.setAxis(3);
                        }), new Out(1, 1), new Out(1, 0)),
                conv3x3(out(2), 2, 4)));
        for (int code : new int[] {BuiltinOperator.ELU, BuiltinOperator.ABS, BuiltinOperator.GELU,
                BuiltinOperator.L2_NORMALIZATION}) {
            l.add(graph(BuiltinOperator.name(code) + " between convolutions", List.of(out(2)), conv,
                    unary(code, y0), conv3x3(out(1), 8, 4)));
        }
        l.add(layerNorm());
        l.add(graph("squared difference of two convolutions", List.of(out(3)), conv,
                conv3x3(new Again(0), 4, 8),
                node(BuiltinOperator.SQUARED_DIFFERENCE, BuiltinOptions.SquaredDifferenceOptions,
                        new org.tensorflow.lite.schema.SquaredDifferenceOptionsT(), y0, out(1)),
                conv3x3(out(2), 8, 4)));
        l.add(graph("sum and reduce max into fully connected", List.of(out(3), out(4)), conv,
                node(BuiltinOperator.SUM, BuiltinOptions.ReducerOptions, reducer(false), y0, ints(1, 2)),
                node(BuiltinOperator.REDUCE_MAX, BuiltinOptions.ReducerOptions, reducer(false), y0, ints(1, 2)),
                node(BuiltinOperator.FULLY_CONNECTED, BuiltinOptions.FullyConnectedOptions, fc(false, NO_ACT),
                        out(1), w(4, 8), w(4)),
                node(BuiltinOperator.FULLY_CONNECTED, BuiltinOptions.FullyConnectedOptions, fc(false, NO_ACT),
                        out(2), w(4, 8), w(4))));
        l.add(graph("tile between convolutions", List.of(out(2)), conv,
                node(BuiltinOperator.TILE, BuiltinOptions.TileOptions, new org.tensorflow.lite.schema.TileOptionsT(),
                        y0, ints(1, 1, 1, 2)), conv3x3(out(1), 16, 4)));
        l.add(graph("batch matmul between fully connected", List.of(out(2)),
                node(BuiltinOperator.FULLY_CONNECTED, BuiltinOptions.FullyConnectedOptions, fc(true, NO_ACT),
                        act(1, 6, 16), w(8, 16), w(8)),
                node(BuiltinOperator.BATCH_MATMUL, BuiltinOptions.BatchMatMulOptions,
                        new org.tensorflow.lite.schema.BatchMatMulOptionsT(), y0, w(1, 8, 5)),
                node(BuiltinOperator.FULLY_CONNECTED, BuiltinOptions.FullyConnectedOptions, fc(true, NO_ACT),
                        out(1), w(3, 5), w(3))));
        return l.stream();
    }

    /** A layer norm over the channels of a convolution's output, as TensorFlow writes Keras' LayerNormalization. */
    private static Graph layerNorm() {
        Layer conv = conv3x3(act(1, 8, 8, 4), 4, 8);
        In y0 = out(0);
        byte ro = BuiltinOptions.ReducerOptions;
        return graph("layer normalization over channels", List.of(out(8)), conv,
                node(BuiltinOperator.MEAN, ro, reducer(true), y0, ints(3)),
                node(BuiltinOperator.SQUARED_DIFFERENCE, BuiltinOptions.SquaredDifferenceOptions,
                        new org.tensorflow.lite.schema.SquaredDifferenceOptionsT(), y0, out(1)),
                node(BuiltinOperator.MEAN, ro, reducer(true), out(2), ints(3)),
                node(BuiltinOperator.ADD, BuiltinOptions.AddOptions, add(NO_ACT), out(3), new Scalar(1e-3f)),
                unary(BuiltinOperator.RSQRT, out(4)),
                node(BuiltinOperator.SUB, BuiltinOptions.SubOptions, sub(NO_ACT), y0, out(1)),
                node(BuiltinOperator.MUL, BuiltinOptions.MulOptions, mul(NO_ACT), out(6), out(5)),
                conv3x3(out(7), 8, 4));
    }

    /**
     * On the CPU target a layer norm's SQUARED_DIFFERENCE (broadcasting the mean) and RSQRT stay float: XNNPACK runs
     * them in float only. For the Edge TPU they are int8.
     */
    @Test
    void aLayerNormsBroadcastingSquaredDifferenceAndRsqrtStayFloatOnTheCpuTarget() {
        Graph graph = layerNorm();
        Path model = floatModel(graph);
        Map<?, ?> cpu = (Map<?, ?>) quantize(graph, model, "cpu", b -> b).report().get("quantization");
        List<?> floatOps = (List<?>) cpu.get("float_ops");
        assertEquals(List.of("SQUARED_DIFFERENCE", "RSQRT"), floatOps.stream().map(f -> ((Map<?, ?>) f).get("op"))
                .toList());
        assertTrue(((Map<?, ?>) floatOps.get(0)).get("reason").toString().startsWith("SQUARED_DIFFERENCE stays float on"
                + " the CPU target: XNNPACK (TFLite 2.20) runs it in float only, and TFLite's int8 kernel broadcasts"),
                floatOps.toString());
        Map<?, ?> edge = (Map<?, ?>) quantize(graph, model, "edgetpu", b -> b.target("edgetpu")).report()
                .get("quantization");
        assertEquals(List.of(), edge.get("float_ops"));
    }

    /**
     * A layer norm adds an epsilon (1e-3) to the variance; quantized on its own range its scale was 600x finer than
     * the output's, and XNNPACK, which needs each int8 ADD/SUB input within 2^-10 of the output's scale, left the ADD
     * to TFLite's kernel between two partitions. On the CPU target such a constant gets a coarser scale.
     */
    @Test
    void aTinyConstantAddedOrSubtractedStaysInXnnpack() {
        Layer conv = conv3x3(act(1, 8, 8, 4), 4, 8);
        Graph graph = graph("a tiny constant added and subtracted", List.of(out(3)), conv,
                node(BuiltinOperator.ADD, BuiltinOptions.AddOptions, add(NO_ACT), out(0), new Scalar(1e-3f)),
                node(BuiltinOperator.SUB, BuiltinOptions.SubOptions, sub(NO_ACT), out(1), new Scalar(2e-4f)),
                conv3x3(out(2), 8, 4));
        Path model = floatModel(graph);
        Outcome o = variants(graph, model, List.of("per-channel", "edgetpu"), 0.999);
        assertTrue(o.ok(), o.report());
        Path quantized = quantize(graph, model, "cpu", b -> b).artifact("model").orElseThrow().path();
        TfliteModel q = TfliteModel.load(quantized);
        for (OperatorT op : q.operators()) {
            int code = q.builtinCode(op);
            if (code != BuiltinOperator.ADD && code != BuiltinOperator.SUB) continue;
            float in = q.tensor(op.getInputs()[1]).getQuantization().getScale()[0];
            float out = q.tensor(op.getOutputs()[0]).getQuantization().getScale()[0];
            assertTrue(in / out >= 0x1.0p-10f && in / out < 0x1.0p8f, BuiltinOperator.name(code) + " " + in / out);
        }
        try (TfliteSession s = TfliteSession.open(quantized, new TfliteSession.Options(1, true, false))) {
            assertEquals(Map.of(), s.delegation().undelegated(), s.delegation().toString());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("int8Neighbours")
    void anOperatorWithAnInt8KernelJoinsTheQuantizedOnesAroundIt(Graph graph) {
        Path model = floatModel(graph);
        Outcome o = variants(graph, model, List.of("per-channel", "per-tensor", "edgetpu", "io int8", "exclude"),
                0.999);
        // (the Edge TPU target, where a broadcasting SQUARED_DIFFERENCE is int8 too)
        QuantizationResult r = quantize(graph, model, "int8", b -> b.target("edgetpu"));
        Map<?, ?> report = (Map<?, ?>) r.report().get("quantization");
        assertEquals(List.of(), report.get("float_ops"), graph.name());
        // one DEQUANTIZE per float graph output and none inside
        assertEquals(new java.util.HashSet<>(graph.outputs()).size(), report.get("inserted_dequantize"),
                graph.name());
        System.out.println("INT8 " + graph + o.report());
        assertTrue(o.ok(), graph.name() + o.report());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("floatIslands")
    void anOperatorLeftFloatBetweenQuantizedOnesKeepsFidelity(Graph graph) {
        Path model = floatModel(graph);
        // an index flips where two channels lie within an int8 step of each other
        Outcome o = variants(graph, model, List.of("per-channel", "per-tensor", "io int8", "dynamic", "fp16",
                "exclude"), graph.name().startsWith("arg max") ? 0.997 : 0.999);
        String report = o.report();
        boolean ok = o.ok();
        // the Edge TPU runs no float operator: --target edgetpu refuses, naming the first one
        String first = graph.nodes().stream().filter(n -> n.code() != BuiltinOperator.CONV_2D
                && n.code() != BuiltinOperator.FULLY_CONNECTED && n.code() != BuiltinOperator.ADD
                && n.code() != BuiltinOperator.CONCATENATION).map(n -> BuiltinOperator.name(n.code())).findFirst()
                .orElseThrow();
        QuantbridgeException e = assertThrows(QuantbridgeException.class,
                () -> quantize(graph, model, "edgetpu", b -> b.target("edgetpu")));
        assertTrue(e.getMessage().startsWith("--target edgetpu: the model cannot run on the Edge TPU: #"),
                e.getMessage());
        assertTrue(e.getMessage().contains(" " + first + " stays float ("), e.getMessage());
        assertEquals(List.of(), listing(tmp.resolve("edgetpu")), "files left by a refused run");
        System.out.println("ISLAND " + graph + report);
        assertTrue(ok, graph.name() + report);
    }

    /**
     * TFLite 2.20 refuses a CONV_2D without a bias and crashed the JVM in the first run of a float DEPTHWISE_CONV_2D
     * with two inputs: a convolution without one is given a zero bias when the model is read, and the int8 model
     * gets an int32 one.
     */
    @Test
    void aConvolutionWithoutBiasGetsAZeroOne() {
        Layer dw = layer("depthwise", BuiltinOperator.DEPTHWISE_CONV_2D, BuiltinOptions.DepthwiseConv2DOptions,
                dw(SAME, 1, 1, 2, NO_ACT), act(1, 5, 5, 3), w(1, 3, 3, 6));
        Layer cv = layer("conv", BuiltinOperator.CONV_2D, BuiltinOptions.Conv2DOptions, conv(SAME, 1, 1, NO_ACT),
                act(1, 5, 5, 3), w(4, 3, 3, 3), new None());
        for (Layer layer : List.of(dw, cv)) {
            TfliteModel m = TfliteModel.parse(write(Graph.of(layer), null), layer.name());
            assertEquals(1, m.zeroBiasesAdded(), layer.name());
            OperatorT op = m.operators().get(0);
            assertEquals(3, op.getInputs().length, layer.name());
            int channels = layer.name().equals("conv") ? 4 : 6;
            assertArrayEquals(new float[channels], m.floats(op.getInputs()[2]), layer.name() + " bias");
            assertEquals("c0/zero_bias", m.tensor(op.getInputs()[2]).getName());
            Path model = floatModel(Graph.of(layer));
            QuantizationResult r = quantize(Graph.of(layer), model, layer.name(), b -> b);
            TfliteModel q = TfliteModel.load(r.artifact("model").orElseThrow().path());
            OperatorT qop = q.operators().stream().filter(o -> q.builtinCode(o) == layer.code()).findFirst()
                    .orElseThrow();
            assertEquals(TensorType.INT32, q.tensor(qop.getInputs()[2]).getType(), layer.name() + " int8 bias");
            assertEquals(channels, q.tensor(qop.getInputs()[2]).getQuantization().getScale().length);
        }
    }

    /**
     * Samples given as tensors of batch 2 for a model whose batch is dynamic ({@code shape_signature} -1) calibrate
     * and evaluate as the same slices given one by one: the backend feeds such a model at batch 1, and they were
     * refused with its batch-1 shape ("shape [2, 6, 6, 4] does not match model input 'x0' [1, 6, 6, 4]").
     */
    @Test
    void samplesOfBatchTwoForADynamicBatchAreSplitIntoBatchOne() throws Exception {
        Graph graph = Graph.of(layer("conv", BuiltinOperator.CONV_2D, BuiltinOptions.Conv2DOptions,
                conv(SAME, 1, 1, NO_ACT), act(1, 6, 6, 4), w(8, 3, 3, 4), w(8)));
        TfliteModel m = TfliteModel.load(floatModel(graph));
        for (int t = 0; t < m.main().getTensors().length; t++) {
            if (m.isConstant(t)) continue;
            int[] sig = m.tensor(t).getShape().clone();
            sig[0] = -1;
            m.tensor(t).setShapeSignature(sig);
        }
        Path model = tmp.resolve("dynamic.tflite");
        m.save(model);
        List<Map<String, FloatTensor>> calib = samples(graph, 32, 1);
        List<Map<String, FloatTensor>> held = samples(graph, 6, 2);
        QuantizationResult one = new TfliteBackend().quantize(QuantizationRequest.builder().model(model).seed(1)
                .calibrationSamples(calib).evaluationSamples(held).outputDir(tmp.resolve("one")).build(),
                Progress.NONE);
        List<String> notes = new ArrayList<>();
        Progress listening = new Progress() {
            @Override
            public void begin(String task, long total) { }

            @Override
            public void advance(long steps) { }

            @Override
            public void end() { }

            @Override
            public void note(String message) {
                notes.add(message);
            }
        };
        QuantizationResult two = new TfliteBackend().quantize(QuantizationRequest.builder().model(model).seed(1)
                .calibrationSamples(pairs(calib)).evaluationSamples(pairs(held)).outputDir(tmp.resolve("two"))
                .build(), listening);
        assertTrue(notes.contains("calibration: 16 samples given as batches are 32 samples of batch 1, as the tflite"
                + " backend feeds a model with a dynamic batch"), notes.toString());
        assertTrue(notes.contains("evaluation: 3 samples given as batches are 6 samples of batch 1, as the tflite"
                + " backend feeds a model with a dynamic batch"), notes.toString());
        assertArrayEquals(java.nio.file.Files.readAllBytes(one.artifact("model").orElseThrow().path()),
                java.nio.file.Files.readAllBytes(two.artifact("model").orElseThrow().path()), "the int8 model");
        assertEquals(one.fidelity().get("y"), two.fidelity().get("y"));
        assertEquals(6, two.fidelity().get("y").samples());
        assertTrue(two.fidelity().get("y").cosine() > 0.999, two.fidelity().toString());
    }

    /** Consecutive samples, two at a time, as samples of batch 2. */
    private static List<Map<String, FloatTensor>> pairs(List<Map<String, FloatTensor>> samples) {
        List<Map<String, FloatTensor>> l = new ArrayList<>();
        for (int i = 0; i + 1 < samples.size(); i += 2) {
            Map<String, FloatTensor> pair = new LinkedHashMap<>();
            for (String name : samples.get(i).keySet()) {
                float[] a = samples.get(i).get(name).data();
                float[] b = samples.get(i + 1).get(name).data();
                float[] v = java.util.Arrays.copyOf(a, a.length * 2);
                System.arraycopy(b, 0, v, a.length, b.length);
                long[] shape = samples.get(i).get(name).shape().clone();
                shape[0] = 2;
                pair.put(name, new FloatTensor(shape, v));
            }
            l.add(pair);
        }
        return l;
    }

    /**
     * An operator whose output nothing reads is left out of the written model (report.json names it), and a session
     * with XNNPACK leaves it out of a model it is given: XNNPACK (TFLite 2.20) aborted the JVM on an int8 TANH or
     * LOGISTIC whose output nobody reads.
     */
    @Test
    void anOperatorWhoseOutputNobodyReadsIsLeftOut() {
        Graph graph = graph("unread tanh", List.of(out(0)),
                node(BuiltinOperator.RELU, BuiltinOptions.NONE, null, act(1, 6, 6, 4)),
                node(BuiltinOperator.TANH, BuiltinOptions.NONE, null, act(1, 3)));
        Path model = floatModel(graph);
        QuantizationResult r = quantize(graph, model, "out", b -> b);
        assertEquals(List.of("#1 TANH (y1)"),
                ((Map<?, ?>) r.report().get("model")).get("unread_operators_removed"));
        TfliteModel q = TfliteModel.load(r.artifact("model").orElseThrow().path());
        assertEquals(List.of("QUANTIZE", "RELU", "DEQUANTIZE"), q.operators().stream().map(q::opName).toList());
        // the int8 rewrite of the model as given, TANH and all, as another tool might write it
        TfliteModel prepared = TfliteModel.load(model);
        Map<Integer, double[]> ranges = new java.util.HashMap<>();
        for (int t = 0; t < prepared.main().getTensors().length; t++) ranges.put(t, new double[] {-3, 3});
        byte[] int8 = IntegerQuantizer.quantize(prepared, ranges, IntegerQuantizer.Options.defaults()).model()
                .toBytes();
        TfliteModel unread = TfliteModel.parse(int8, "int8");
        assertEquals(List.of("QUANTIZE", "RELU", "QUANTIZE", "TANH", "DEQUANTIZE"),
                unread.operators().stream().map(unread::opName).toList());
        try (TfliteSession f = TfliteSession.open(model, new TfliteSession.Options(1, false, false));
             TfliteSession s = TfliteSession.open(int8, "int8", TfliteSession.Options.defaults(1))) {
            double c = cosine(f, s, samples(graph, 3, 2));
            assertTrue(c > 0.999, "cosine " + c);
        }
    }
}
