package io.quantbridge.openvino;

import java.nio.ByteBuffer;

/**
 * The JNI functions of {@code native/openvino/quantbridge_openvino.c}, one per use of OpenVINO's C API. Handles are
 * the C pointers as {@code long}s; 0 is never valid. Callers ({@link OpenVinoSession}, {@link OpenVinoRuntime})
 * validate everything first; the native side checks again and throws {@link OpenVinoException} for every status
 * other than OK, {@link IllegalArgumentException} / {@link IllegalStateException} for misuse. Nothing here may be
 * called before {@link OpenVinoRuntime#get()} succeeded.
 */
final class OvNative {
    private OvNative() { }

    /** dlopen()s libopenvino_c.so at this absolute path and resolves the functions the bridge uses. */
    static native void load(String libraryPath);

    /** {buildNumber, description} of the loaded runtime. */
    static native String[] version();

    static native long coreCreate();

    static native void coreFree(long core);

    static native String coreProperty(long core, String device, String key);

    /** keyValues: key0, value0, key1, value1, ... */
    static native void coreSetProperties(long core, String device, String[] keyValues);

    static native long readModel(long core, String path);

    /** An ONNX model in a direct buffer, which must stay alive as long as the model and what is compiled from it. */
    static native long readModelFromMemory(long core, ByteBuffer content);

    static native void modelFree(long model);

    static native void reshapeSingleInput(long model, long[] shape);

    static native String modelName(long model);

    /** One "name TAB element-type-code TAB d0,d1,..." per port; -1 is a dynamic dimension, "?" a dynamic rank. */
    static native String[] modelPorts(long model, boolean inputs);

    static native String[] compiledPorts(long compiled, boolean inputs);

    /**
     * The index of the compiled model's input (output) port whose tensor has the name {@code name} among its names,
     * or -1.
     */
    static native int compiledPortIndex(long compiled, boolean inputs, String name);

    /** keyValues: key0, value0, key1, value1, ... */
    static native long compile(long core, long model, String device, String[] keyValues);

    /** An exported model in a direct buffer, which must stay alive until the compiled model is freed. */
    static native long importModel(long core, ByteBuffer blob, String device);

    static native void exportModel(long compiled, String path);

    static native void compiledFree(long compiled);

    static native String compiledProperty(long compiled, String key);

    static native long runtimeModel(long compiled);

    static native long createRequest(long compiled);

    static native void requestFree(long request);

    /**
     * Binds the direct buffer's memory (native order, elements of {@code type}, an {@code ov_element_type_e} code)
     * as input {@code index}, without copying.
     */
    static native void setInput(long request, int index, ByteBuffer data, long[] shape, int type);

    static native void infer(long request);

    static native long[] outputShape(long request, int index);

    /** Output {@code index} (f32, or f16 converted) into {@code destination}, whose length is its element count. */
    static native void copyOutput(long request, int index, float[] destination);

    /**
     * The bytes of output {@code index} (a whole-byte numeric or boolean type) into the direct buffer, whose capacity
     * is its byte size; returns its {@code ov_element_type_e} code.
     */
    static native int copyOutputBytes(long request, int index, ByteBuffer destination);

    /** One "node name TAB node type TAB exec type TAB status TAB real time us" per executed node. */
    static native String[] profile(long request);
}
