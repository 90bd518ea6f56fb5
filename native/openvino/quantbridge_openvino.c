/*
 * JNI bridge from io.quantbridge.openvino.OvNative to OpenVINO's C API (openvino/c/openvino.h).
 *
 * libopenvino_c.so is not linked: Java finds it (system property, OPENVINO_HOME, the fetched copy, the system path)
 * and passes its absolute path to load(), which dlopen()s it and resolves every function used here. The bridge
 * therefore builds with the headers alone and works with whichever compatible runtime the user points at.
 *
 * Rules kept by every entry point:
 *  - nothing is called before load() succeeded (IllegalStateException otherwise);
 *  - null handles, non-direct or too small buffers and bad indexes are refused before OpenVINO sees them;
 *  - every status other than OK becomes an io.quantbridge.openvino.OpenVinoException carrying the name of the C call,
 *    the status and ov_get_last_err_msg(); every object OpenVINO allocated is freed on every path.
 */
#include <dlfcn.h>
#include <jni.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openvino/c/openvino.h"

/* ---- the C API functions used, resolved with dlsym ------------------------------------------------------------ */

#define OV_FUNCTIONS(X)                          \
    X(ov_get_openvino_version)                   \
    X(ov_version_free)                           \
    X(ov_get_last_err_msg)                       \
    X(ov_get_error_info)                         \
    X(ov_free)                                   \
    X(ov_core_create)                            \
    X(ov_core_free)                              \
    X(ov_core_read_model)                        \
    X(ov_core_read_model_from_memory_buffer)     \
    X(ov_core_compile_model_props)               \
    X(ov_core_import_model)                      \
    X(ov_core_get_property)                      \
    X(ov_core_set_properties)                    \
    X(ov_model_free)                             \
    X(ov_model_inputs_size)                      \
    X(ov_model_outputs_size)                     \
    X(ov_model_const_input_by_index)             \
    X(ov_model_const_output_by_index)            \
    X(ov_model_reshape_single_input)             \
    X(ov_model_get_friendly_name)                \
    X(ov_compiled_model_free)                    \
    X(ov_compiled_model_export_model)            \
    X(ov_compiled_model_get_property)            \
    X(ov_compiled_model_get_runtime_model)       \
    X(ov_compiled_model_inputs_size)             \
    X(ov_compiled_model_outputs_size)            \
    X(ov_compiled_model_input_by_index)          \
    X(ov_compiled_model_output_by_index)         \
    X(ov_compiled_model_input_by_name)           \
    X(ov_compiled_model_output_by_name)          \
    X(ov_compiled_model_create_infer_request)    \
    X(ov_port_get_any_name)                      \
    X(ov_port_get_element_type)                  \
    X(ov_port_get_partial_shape)                 \
    X(ov_output_const_port_free)                 \
    X(ov_partial_shape_create_static)            \
    X(ov_partial_shape_free)                     \
    X(ov_tensor_create_from_host_ptr)            \
    X(ov_tensor_get_byte_size)                   \
    X(ov_tensor_free)                            \
    X(ov_tensor_get_shape)                       \
    X(ov_tensor_get_element_type)                \
    X(ov_tensor_get_size)                        \
    X(ov_tensor_data)                            \
    X(ov_shape_free)                             \
    X(ov_infer_request_free)                     \
    X(ov_infer_request_set_input_tensor_by_index) \
    X(ov_infer_request_infer)                    \
    X(ov_infer_request_get_output_tensor_by_index) \
    X(ov_infer_request_get_profiling_info)       \
    X(ov_profiling_info_list_free)

/* one pointer per function, typed from the header's own declaration */
#define DECLARE_POINTER(name) static __typeof__(&name) p_##name;
OV_FUNCTIONS(DECLARE_POINTER)
#undef DECLARE_POINTER

static void* library;     /* the dlopen() handle of libopenvino_c.so */
static int loaded;        /* every pointer above is set */

static jclass exception_class;        /* io.quantbridge.openvino.OpenVinoException */
static jmethodID exception_ctor;      /* (String call, int status, String detail) */
static jclass illegal_argument_class;
static jclass illegal_state_class;
static jclass string_class;

#define MAX_RANK 16

/* ---- errors ---------------------------------------------------------------------------------------------------- */

static void throw_illegal_argument(JNIEnv* env, const char* message) {
    (*env)->ThrowNew(env, illegal_argument_class, message);
}

static void throw_illegal_state(JNIEnv* env, const char* message) {
    (*env)->ThrowNew(env, illegal_state_class, message);
}

/* Throws OpenVinoException(call, status, detail); detail is OpenVINO's last message, else the status's text. */
static void throw_status(JNIEnv* env, const char* call, ov_status_e status) {
    if ((*env)->ExceptionCheck(env)) return;
    const char* last = NULL;
    /* INVALID_C_PARAM is returned by the wrapper without setting a message: a message then would be a stale one */
    if (status != INVALID_C_PARAM) last = p_ov_get_last_err_msg();
    const char* detail = last != NULL && last[0] != '\0' ? last : p_ov_get_error_info(status);
    jstring jcall = (*env)->NewStringUTF(env, call);
    jstring jdetail = (*env)->NewStringUTF(env, detail != NULL ? detail : "unknown error");
    if (last != NULL) p_ov_free(last);
    if (jcall == NULL || jdetail == NULL) return; /* OutOfMemoryError pending */
    jobject e = (*env)->NewObject(env, exception_class, exception_ctor, jcall, (jint)status, jdetail);
    if (e != NULL) (*env)->Throw(env, (jthrowable)e);
}

#define REQUIRE_LOADED(ret)                                                             \
    do {                                                                                \
        if (!loaded) {                                                                  \
            throw_illegal_state(env, "the OpenVINO C library is not loaded");           \
            return ret;                                                                 \
        }                                                                               \
    } while (0)

#define REQUIRE_HANDLE(h, what, ret)                                                    \
    do {                                                                                \
        if ((h) == 0) {                                                                 \
            throw_illegal_state(env, what " handle is null (closed or never opened)"); \
            return ret;                                                                 \
        }                                                                               \
    } while (0)

#define REQUIRE_NOT_NULL(o, what, ret)                      \
    do {                                                    \
        if ((o) == NULL) {                                  \
            throw_illegal_argument(env, what " is null");  \
            return ret;                                     \
        }                                                   \
    } while (0)

/* Calls an OpenVINO function; on failure throws and returns ret from the enclosing function. */
#define OV_CALL(ret, fn, ...)                            \
    do {                                                 \
        ov_status_e st_ = p_##fn(__VA_ARGS__);           \
        if (st_ != OK) {                                 \
            throw_status(env, #fn, st_);                 \
            return ret;                                  \
        }                                                \
    } while (0)

#define H(type, handle) ((type*)(intptr_t)(handle))

/* ---- life cycle ------------------------------------------------------------------------------------------------ */

static jclass global_class(JNIEnv* env, const char* name) {
    jclass local = (*env)->FindClass(env, name);
    if (local == NULL) return NULL;
    jclass global = (jclass)(*env)->NewGlobalRef(env, local);
    (*env)->DeleteLocalRef(env, local);
    return global;
}

JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM* vm, void* reserved) {
    (void)reserved;
    JNIEnv* env;
    if ((*vm)->GetEnv(vm, (void**)&env, JNI_VERSION_1_8) != JNI_OK) return JNI_ERR;
    exception_class = global_class(env, "io/quantbridge/openvino/OpenVinoException");
    illegal_argument_class = global_class(env, "java/lang/IllegalArgumentException");
    illegal_state_class = global_class(env, "java/lang/IllegalStateException");
    string_class = global_class(env, "java/lang/String");
    if (!exception_class || !illegal_argument_class || !illegal_state_class || !string_class) return JNI_ERR;
    exception_ctor = (*env)->GetMethodID(env, exception_class, "<init>", "(Ljava/lang/String;ILjava/lang/String;)V");
    if (exception_ctor == NULL) return JNI_ERR;
    return JNI_VERSION_1_8;
}

/* load(String path): dlopen the C library and resolve every function; idempotent once it succeeded. */
JNIEXPORT void JNICALL Java_io_quantbridge_openvino_OvNative_load(JNIEnv* env, jclass cls, jstring jpath) {
    (void)cls;
    if (loaded) return;
    REQUIRE_NOT_NULL(jpath, "library path", );
    const char* path = (*env)->GetStringUTFChars(env, jpath, NULL);
    if (path == NULL) return;
    dlerror();
    void* handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    char message[2048];
    if (handle == NULL) {
        const char* err = dlerror();
        snprintf(message, sizeof message, "cannot load %s: %s", path, err != NULL ? err : "unknown dlopen error");
        (*env)->ReleaseStringUTFChars(env, jpath, path);
        throw_illegal_state(env, message);
        return;
    }
    (*env)->ReleaseStringUTFChars(env, jpath, path);
#define RESOLVE(name)                                                                                      \
    p_##name = (__typeof__(&name))dlsym(handle, #name);                                                    \
    if (p_##name == NULL) {                                                                                \
        snprintf(message, sizeof message, "the OpenVINO C library lacks %s (too old a version?)", #name); \
        dlclose(handle);                                                                                   \
        throw_illegal_state(env, message);                                                                 \
        return;                                                                                            \
    }
    OV_FUNCTIONS(RESOLVE)
#undef RESOLVE
    library = handle;
    loaded = 1;
}

/* version(): {buildNumber, description} */
JNIEXPORT jobjectArray JNICALL Java_io_quantbridge_openvino_OvNative_version(JNIEnv* env, jclass cls) {
    (void)cls;
    REQUIRE_LOADED(NULL);
    ov_version_t v;
    memset(&v, 0, sizeof v);
    OV_CALL(NULL, ov_get_openvino_version, &v);
    jobjectArray out = (*env)->NewObjectArray(env, 2, string_class, NULL);
    if (out != NULL) {
        (*env)->SetObjectArrayElement(env, out, 0, (*env)->NewStringUTF(env, v.buildNumber ? v.buildNumber : ""));
        (*env)->SetObjectArrayElement(env, out, 1, (*env)->NewStringUTF(env, v.description ? v.description : ""));
    }
    p_ov_version_free(&v);
    return out;
}

/* ---- core ------------------------------------------------------------------------------------------------------ */

JNIEXPORT jlong JNICALL Java_io_quantbridge_openvino_OvNative_coreCreate(JNIEnv* env, jclass cls) {
    (void)cls;
    REQUIRE_LOADED(0);
    ov_core_t* core = NULL;
    OV_CALL(0, ov_core_create, &core);
    return (jlong)(intptr_t)core;
}

JNIEXPORT void JNICALL Java_io_quantbridge_openvino_OvNative_coreFree(JNIEnv* env, jclass cls, jlong core) {
    (void)cls;
    REQUIRE_LOADED();
    if (core != 0) p_ov_core_free(H(ov_core_t, core));
}

JNIEXPORT jstring JNICALL Java_io_quantbridge_openvino_OvNative_coreProperty(JNIEnv* env, jclass cls, jlong core,
                                                                            jstring jdevice, jstring jkey) {
    (void)cls;
    REQUIRE_LOADED(NULL);
    REQUIRE_HANDLE(core, "core", NULL);
    REQUIRE_NOT_NULL(jdevice, "device", NULL);
    REQUIRE_NOT_NULL(jkey, "property key", NULL);
    const char* device = (*env)->GetStringUTFChars(env, jdevice, NULL);
    if (device == NULL) return NULL;
    const char* key = (*env)->GetStringUTFChars(env, jkey, NULL);
    if (key == NULL) {
        (*env)->ReleaseStringUTFChars(env, jdevice, device);
        return NULL;
    }
    char* value = NULL;
    ov_status_e st = p_ov_core_get_property(H(ov_core_t, core), device, key, &value);
    (*env)->ReleaseStringUTFChars(env, jkey, key);
    (*env)->ReleaseStringUTFChars(env, jdevice, device);
    if (st != OK) {
        throw_status(env, "ov_core_get_property", st);
        return NULL;
    }
    jstring out = (*env)->NewStringUTF(env, value != NULL ? value : "");
    if (value != NULL) p_ov_free(value);
    return out;
}

/* ---- models ---------------------------------------------------------------------------------------------------- */

JNIEXPORT jlong JNICALL Java_io_quantbridge_openvino_OvNative_readModel(JNIEnv* env, jclass cls, jlong core,
                                                                       jstring jpath) {
    (void)cls;
    REQUIRE_LOADED(0);
    REQUIRE_HANDLE(core, "core", 0);
    REQUIRE_NOT_NULL(jpath, "model path", 0);
    const char* path = (*env)->GetStringUTFChars(env, jpath, NULL);
    if (path == NULL) return 0;
    ov_model_t* model = NULL;
    ov_status_e st = p_ov_core_read_model(H(ov_core_t, core), path, NULL, &model);
    (*env)->ReleaseStringUTFChars(env, jpath, path);
    if (st != OK) {
        throw_status(env, "ov_core_read_model", st);
        return 0;
    }
    return (jlong)(intptr_t)model;
}

/*
 * readModelFromMemory(core, ByteBuffer direct): an ONNX model held in memory. OpenVINO may keep pointing into the
 * buffer (constants are not always copied), so the caller keeps it alive as long as the model and whatever was
 * compiled from it.
 */
JNIEXPORT jlong JNICALL Java_io_quantbridge_openvino_OvNative_readModelFromMemory(JNIEnv* env, jclass cls, jlong core,
                                                                                 jobject jcontent) {
    (void)cls;
    REQUIRE_LOADED(0);
    REQUIRE_HANDLE(core, "core", 0);
    REQUIRE_NOT_NULL(jcontent, "model content", 0);
    const char* bytes = (const char*)(*env)->GetDirectBufferAddress(env, jcontent);
    jlong n = (*env)->GetDirectBufferCapacity(env, jcontent);
    if (bytes == NULL || n < 0) {
        throw_illegal_argument(env, "model content is not a direct buffer");
        return 0;
    }
    if (n == 0) {
        throw_illegal_argument(env, "model content is empty");
        return 0;
    }
    ov_model_t* model = NULL;
    OV_CALL(0, ov_core_read_model_from_memory_buffer, H(ov_core_t, core), bytes, (size_t)n, NULL, &model);
    return (jlong)(intptr_t)model;
}

JNIEXPORT void JNICALL Java_io_quantbridge_openvino_OvNative_modelFree(JNIEnv* env, jclass cls, jlong model) {
    (void)cls;
    REQUIRE_LOADED();
    if (model != 0) p_ov_model_free(H(ov_model_t, model));
}

/* reshapeSingleInput(model, long[] shape): makes the only input static */
JNIEXPORT void JNICALL Java_io_quantbridge_openvino_OvNative_reshapeSingleInput(JNIEnv* env, jclass cls, jlong model,
                                                                               jlongArray jshape) {
    (void)cls;
    REQUIRE_LOADED();
    REQUIRE_HANDLE(model, "model", );
    REQUIRE_NOT_NULL(jshape, "shape", );
    jsize rank = (*env)->GetArrayLength(env, jshape);
    if (rank < 1 || rank > MAX_RANK) {
        throw_illegal_argument(env, "shape rank must be between 1 and 16");
        return;
    }
    int64_t dims[MAX_RANK];
    jlong tmp[MAX_RANK];
    (*env)->GetLongArrayRegion(env, jshape, 0, rank, tmp);
    for (jsize i = 0; i < rank; i++) {
        if (tmp[i] < 1) {
            throw_illegal_argument(env, "shape dimensions must be positive");
            return;
        }
        dims[i] = (int64_t)tmp[i];
    }
    ov_partial_shape_t ps;
    memset(&ps, 0, sizeof ps);
    OV_CALL(, ov_partial_shape_create_static, (int64_t)rank, dims, &ps);
    ov_status_e st = p_ov_model_reshape_single_input(H(ov_model_t, model), ps);
    p_ov_partial_shape_free(&ps);
    if (st != OK) throw_status(env, "ov_model_reshape_single_input", st);
}

/* ---- ports: one String per port, "name \t element-type-code \t d0,d1,... (-1 dynamic; '?' dynamic rank)" --------- */

static jstring describe_port(JNIEnv* env, const ov_output_const_port_t* port) {
    char* name = NULL;
    ov_element_type_e type = DYNAMIC;
    ov_partial_shape_t ps;
    memset(&ps, 0, sizeof ps);
    ov_status_e st = p_ov_port_get_any_name(port, &name);
    if (st != OK) {
        /* a port without tensor names is legal; describe it without one */
        name = NULL;
    }
    st = p_ov_port_get_element_type(port, &type);
    if (st != OK) {
        if (name) p_ov_free(name);
        throw_status(env, "ov_port_get_element_type", st);
        return NULL;
    }
    st = p_ov_port_get_partial_shape(port, &ps);
    if (st != OK) {
        if (name) p_ov_free(name);
        throw_status(env, "ov_port_get_partial_shape", st);
        return NULL;
    }
    size_t cap = (name ? strlen(name) : 0) + 64 + 24 * MAX_RANK;
    char* buf = malloc(cap);
    if (buf == NULL) {
        if (name) p_ov_free(name);
        p_ov_partial_shape_free(&ps);
        throw_illegal_state(env, "out of native memory");
        return NULL;
    }
    int off = snprintf(buf, cap, "%s\t%d\t", name ? name : "", (int)type);
    if (ps.rank.min != ps.rank.max || ps.rank.max < 0) {
        snprintf(buf + off, cap - off, "?");
    } else {
        for (int64_t i = 0; i < ps.rank.max && i < MAX_RANK; i++) {
            ov_dimension_t d = ps.dims[i];
            long long v = (d.min == d.max && d.max >= 0) ? (long long)d.max : -1LL;
            off += snprintf(buf + off, cap - off, i == 0 ? "%lld" : ",%lld", v);
        }
    }
    if (name) p_ov_free(name);
    p_ov_partial_shape_free(&ps);
    jstring out = (*env)->NewStringUTF(env, buf);
    free(buf);
    return out;
}

typedef ov_status_e (*port_getter)(const void* owner, size_t index, ov_output_const_port_t** port);

static jobjectArray describe_ports(JNIEnv* env, const void* owner, size_t n, port_getter get, const char* call) {
    jobjectArray out = (*env)->NewObjectArray(env, (jsize)n, string_class, NULL);
    if (out == NULL) return NULL;
    for (size_t i = 0; i < n; i++) {
        ov_output_const_port_t* port = NULL;
        ov_status_e st = get(owner, i, &port);
        if (st != OK) {
            throw_status(env, call, st);
            return NULL;
        }
        jstring s = describe_port(env, port);
        p_ov_output_const_port_free(port);
        if (s == NULL) return NULL;
        (*env)->SetObjectArrayElement(env, out, (jsize)i, s);
        (*env)->DeleteLocalRef(env, s);
    }
    return out;
}

static ov_status_e compiled_input(const void* c, size_t i, ov_output_const_port_t** p) {
    return p_ov_compiled_model_input_by_index((const ov_compiled_model_t*)c, i, p);
}
static ov_status_e compiled_output(const void* c, size_t i, ov_output_const_port_t** p) {
    return p_ov_compiled_model_output_by_index((const ov_compiled_model_t*)c, i, p);
}
static ov_status_e model_input(const void* m, size_t i, ov_output_const_port_t** p) {
    return p_ov_model_const_input_by_index((const ov_model_t*)m, i, p);
}
static ov_status_e model_output(const void* m, size_t i, ov_output_const_port_t** p) {
    return p_ov_model_const_output_by_index((const ov_model_t*)m, i, p);
}

JNIEXPORT jobjectArray JNICALL Java_io_quantbridge_openvino_OvNative_modelPorts(JNIEnv* env, jclass cls, jlong model,
                                                                              jboolean inputs) {
    (void)cls;
    REQUIRE_LOADED(NULL);
    REQUIRE_HANDLE(model, "model", NULL);
    size_t n = 0;
    if (inputs) {
        OV_CALL(NULL, ov_model_inputs_size, H(ov_model_t, model), &n);
        return describe_ports(env, H(ov_model_t, model), n, model_input, "ov_model_const_input_by_index");
    }
    OV_CALL(NULL, ov_model_outputs_size, H(ov_model_t, model), &n);
    return describe_ports(env, H(ov_model_t, model), n, model_output, "ov_model_const_output_by_index");
}

JNIEXPORT jobjectArray JNICALL Java_io_quantbridge_openvino_OvNative_compiledPorts(JNIEnv* env, jclass cls,
                                                                                 jlong compiled, jboolean inputs) {
    (void)cls;
    REQUIRE_LOADED(NULL);
    REQUIRE_HANDLE(compiled, "compiled model", NULL);
    size_t n = 0;
    if (inputs) {
        OV_CALL(NULL, ov_compiled_model_inputs_size, H(ov_compiled_model_t, compiled), &n);
        return describe_ports(env, H(ov_compiled_model_t, compiled), n, compiled_input,
                              "ov_compiled_model_input_by_index");
    }
    OV_CALL(NULL, ov_compiled_model_outputs_size, H(ov_compiled_model_t, compiled), &n);
    return describe_ports(env, H(ov_compiled_model_t, compiled), n, compiled_output,
                          "ov_compiled_model_output_by_index");
}

/* the any-name of a port, which the caller frees with ov_free; NULL when it has none */
static char* any_name(const ov_output_const_port_t* port) {
    char* name = NULL;
    if (p_ov_port_get_any_name(port, &name) != OK) return NULL;
    return name;
}

/*
 * The index of the compiled model's input (output) port that carries the tensor called `name`, or -1 when none
 * does. A tensor has several names where OpenVINO merged tensors (an ONNX Identity after a graph input: the
 * parameter's tensor is called both) and a port describes itself by one of them, so a port is found by its any-name.
 */
JNIEXPORT jint JNICALL Java_io_quantbridge_openvino_OvNative_compiledPortIndex(JNIEnv* env, jclass cls,
                                                                             jlong compiled, jboolean inputs,
                                                                             jstring jname) {
    (void)cls;
    REQUIRE_LOADED(-1);
    REQUIRE_HANDLE(compiled, "compiled model", -1);
    if (jname == NULL) {
        throw_illegal_argument(env, "the tensor name is null");
        return -1;
    }
    const char* name = (*env)->GetStringUTFChars(env, jname, NULL);
    if (name == NULL) return -1;
    const ov_compiled_model_t* c = H(ov_compiled_model_t, compiled);
    ov_output_const_port_t* port = NULL;
    ov_status_e st = inputs ? p_ov_compiled_model_input_by_name(c, name, &port)
                            : p_ov_compiled_model_output_by_name(c, name, &port);
    (*env)->ReleaseStringUTFChars(env, jname, name);
    if (st != OK || port == NULL) return -1; /* no such tensor: not an error here */
    char* want = any_name(port);
    p_ov_output_const_port_free(port);
    if (want == NULL) return -1;
    size_t n = 0;
    st = inputs ? p_ov_compiled_model_inputs_size(c, &n) : p_ov_compiled_model_outputs_size(c, &n);
    jint found = -1;
    for (size_t i = 0; st == OK && found < 0 && i < n; i++) {
        ov_output_const_port_t* p = NULL;
        if ((inputs ? compiled_input(c, i, &p) : compiled_output(c, i, &p)) != OK || p == NULL) continue;
        char* have = any_name(p);
        p_ov_output_const_port_free(p);
        if (have != NULL && strcmp(have, want) == 0) found = (jint)i;
        if (have != NULL) p_ov_free(have);
    }
    p_ov_free(want);
    return found;
}

/* ---- compiled models ------------------------------------------------------------------------------------------- */

/* properties from a Java String[] {key0, value0, key1, value1, ...} */
typedef struct {
    jsize n; /* strings taken so far */
    jstring jstrs[64];
    const char* strs[64];
    ov_property_t props[32];
} properties_t;

static void properties_release(JNIEnv* env, properties_t* p) {
    for (jsize i = 0; i < p->n; i++) {
        (*env)->ReleaseStringUTFChars(env, p->jstrs[i], p->strs[i]);
        (*env)->DeleteLocalRef(env, p->jstrs[i]);
    }
    p->n = 0;
}

/* fills p; returns the number of pairs, or -1 with an exception pending (nothing left to release) */
static int properties_get(JNIEnv* env, jobjectArray jprops, properties_t* p) {
    p->n = 0;
    jsize total = jprops == NULL ? 0 : (*env)->GetArrayLength(env, jprops);
    if (total % 2 != 0 || total > 64) {
        throw_illegal_argument(env, "properties must be at most 32 key/value pairs");
        return -1;
    }
    for (jsize i = 0; i < total; i++) {
        jstring s = (jstring)(*env)->GetObjectArrayElement(env, jprops, i);
        if (s == NULL) {
            properties_release(env, p);
            throw_illegal_argument(env, "a property key or value is null");
            return -1;
        }
        const char* c = (*env)->GetStringUTFChars(env, s, NULL);
        if (c == NULL) {
            (*env)->DeleteLocalRef(env, s);
            properties_release(env, p);
            return -1;
        }
        p->jstrs[i] = s;
        p->strs[i] = c;
        p->n = i + 1;
    }
    for (jsize i = 0; i < total / 2; i++) {
        p->props[i].key = p->strs[2 * i];
        p->props[i].value = p->strs[2 * i + 1];
    }
    return (int)(total / 2);
}

/* compile(core, model, device, String[] keyValues): key0, value0, key1, value1, ... */
JNIEXPORT jlong JNICALL Java_io_quantbridge_openvino_OvNative_compile(JNIEnv* env, jclass cls, jlong core, jlong model,
                                                                     jstring jdevice, jobjectArray jprops) {
    (void)cls;
    REQUIRE_LOADED(0);
    REQUIRE_HANDLE(core, "core", 0);
    REQUIRE_HANDLE(model, "model", 0);
    REQUIRE_NOT_NULL(jdevice, "device", 0);
    properties_t p;
    int pairs = properties_get(env, jprops, &p);
    if (pairs < 0) return 0;
    jlong result = 0;
    const char* device = (*env)->GetStringUTFChars(env, jdevice, NULL);
    if (device != NULL) {
        ov_compiled_model_t* compiled = NULL;
        ov_status_e st = p_ov_core_compile_model_props(H(ov_core_t, core), H(ov_model_t, model), device,
                                                       (size_t)pairs, pairs ? p.props : NULL, &compiled);
        (*env)->ReleaseStringUTFChars(env, jdevice, device);
        if (st != OK) {
            throw_status(env, "ov_core_compile_model", st);
        } else {
            result = (jlong)(intptr_t)compiled;
        }
    }
    properties_release(env, &p);
    return result;
}

/* coreSetProperties(core, device, String[] keyValues) */
JNIEXPORT void JNICALL Java_io_quantbridge_openvino_OvNative_coreSetProperties(JNIEnv* env, jclass cls, jlong core,
                                                                              jstring jdevice, jobjectArray jprops) {
    (void)cls;
    REQUIRE_LOADED();
    REQUIRE_HANDLE(core, "core", );
    REQUIRE_NOT_NULL(jdevice, "device", );
    properties_t p;
    int pairs = properties_get(env, jprops, &p);
    if (pairs <= 0) return;
    const char* device = (*env)->GetStringUTFChars(env, jdevice, NULL);
    if (device != NULL) {
        ov_status_e st = p_ov_core_set_properties(H(ov_core_t, core), device, (size_t)pairs, p.props);
        (*env)->ReleaseStringUTFChars(env, jdevice, device);
        if (st != OK) throw_status(env, "ov_core_set_property", st);
    }
    properties_release(env, &p);
}

/*
 * importModel(core, ByteBuffer direct, device): a model exported with exportModel. The CPU plugin keeps pointing into
 * the buffer for the weights (no copy): the caller keeps it alive until the compiled model is freed.
 */
JNIEXPORT jlong JNICALL Java_io_quantbridge_openvino_OvNative_importModel(JNIEnv* env, jclass cls, jlong core,
                                                                         jobject jblob, jstring jdevice) {
    (void)cls;
    REQUIRE_LOADED(0);
    REQUIRE_HANDLE(core, "core", 0);
    REQUIRE_NOT_NULL(jblob, "compiled model content", 0);
    REQUIRE_NOT_NULL(jdevice, "device", 0);
    const char* bytes = (const char*)(*env)->GetDirectBufferAddress(env, jblob);
    jlong n = (*env)->GetDirectBufferCapacity(env, jblob);
    if (bytes == NULL || n < 0) {
        throw_illegal_argument(env, "compiled model content is not a direct buffer");
        return 0;
    }
    if (n == 0) {
        throw_illegal_argument(env, "compiled model content is empty");
        return 0;
    }
    const char* device = (*env)->GetStringUTFChars(env, jdevice, NULL);
    if (device == NULL) return 0;
    ov_compiled_model_t* compiled = NULL;
    ov_status_e st = p_ov_core_import_model(H(ov_core_t, core), bytes, (size_t)n, device, &compiled);
    (*env)->ReleaseStringUTFChars(env, jdevice, device);
    if (st != OK) {
        throw_status(env, "ov_core_import_model", st);
        return 0;
    }
    return (jlong)(intptr_t)compiled;
}

JNIEXPORT void JNICALL Java_io_quantbridge_openvino_OvNative_exportModel(JNIEnv* env, jclass cls, jlong compiled,
                                                                        jstring jpath) {
    (void)cls;
    REQUIRE_LOADED();
    REQUIRE_HANDLE(compiled, "compiled model", );
    REQUIRE_NOT_NULL(jpath, "export path", );
    const char* path = (*env)->GetStringUTFChars(env, jpath, NULL);
    if (path == NULL) return;
    ov_status_e st = p_ov_compiled_model_export_model(H(ov_compiled_model_t, compiled), path);
    (*env)->ReleaseStringUTFChars(env, jpath, path);
    if (st != OK) throw_status(env, "ov_compiled_model_export_model", st);
}

JNIEXPORT void JNICALL Java_io_quantbridge_openvino_OvNative_compiledFree(JNIEnv* env, jclass cls, jlong compiled) {
    (void)cls;
    REQUIRE_LOADED();
    if (compiled != 0) p_ov_compiled_model_free(H(ov_compiled_model_t, compiled));
}

JNIEXPORT jstring JNICALL Java_io_quantbridge_openvino_OvNative_compiledProperty(JNIEnv* env, jclass cls,
                                                                                jlong compiled, jstring jkey) {
    (void)cls;
    REQUIRE_LOADED(NULL);
    REQUIRE_HANDLE(compiled, "compiled model", NULL);
    REQUIRE_NOT_NULL(jkey, "property key", NULL);
    const char* key = (*env)->GetStringUTFChars(env, jkey, NULL);
    if (key == NULL) return NULL;
    char* value = NULL;
    ov_status_e st = p_ov_compiled_model_get_property(H(ov_compiled_model_t, compiled), key, &value);
    (*env)->ReleaseStringUTFChars(env, jkey, key);
    if (st != OK) {
        throw_status(env, "ov_compiled_model_get_property", st);
        return NULL;
    }
    jstring out = (*env)->NewStringUTF(env, value != NULL ? value : "");
    if (value != NULL) p_ov_free(value);
    return out;
}

/* runtimeModel(compiled): the model as the device runs it (free with modelFree) */
JNIEXPORT jlong JNICALL Java_io_quantbridge_openvino_OvNative_runtimeModel(JNIEnv* env, jclass cls, jlong compiled) {
    (void)cls;
    REQUIRE_LOADED(0);
    REQUIRE_HANDLE(compiled, "compiled model", 0);
    ov_model_t* model = NULL;
    OV_CALL(0, ov_compiled_model_get_runtime_model, H(ov_compiled_model_t, compiled), &model);
    return (jlong)(intptr_t)model;
}

JNIEXPORT jstring JNICALL Java_io_quantbridge_openvino_OvNative_modelName(JNIEnv* env, jclass cls, jlong model) {
    (void)cls;
    REQUIRE_LOADED(NULL);
    REQUIRE_HANDLE(model, "model", NULL);
    char* name = NULL;
    OV_CALL(NULL, ov_model_get_friendly_name, H(ov_model_t, model), &name);
    jstring out = (*env)->NewStringUTF(env, name != NULL ? name : "");
    if (name != NULL) p_ov_free(name);
    return out;
}

/* ---- inference ------------------------------------------------------------------------------------------------- */

JNIEXPORT jlong JNICALL Java_io_quantbridge_openvino_OvNative_createRequest(JNIEnv* env, jclass cls, jlong compiled) {
    (void)cls;
    REQUIRE_LOADED(0);
    REQUIRE_HANDLE(compiled, "compiled model", 0);
    ov_infer_request_t* request = NULL;
    OV_CALL(0, ov_compiled_model_create_infer_request, H(ov_compiled_model_t, compiled), &request);
    return (jlong)(intptr_t)request;
}

JNIEXPORT void JNICALL Java_io_quantbridge_openvino_OvNative_requestFree(JNIEnv* env, jclass cls, jlong request) {
    (void)cls;
    REQUIRE_LOADED();
    if (request != 0) p_ov_infer_request_free(H(ov_infer_request_t, request));
}

/*
 * setInput(request, index, ByteBuffer direct, long[] shape, int type): binds the buffer's memory as the input tensor
 * of element type `type` (ov_element_type_e: a whole-byte numeric type or boolean; zero copy). The request keeps
 * pointing at that memory: the caller keeps the buffer alive while the request lives or until it binds another one.
 */
static size_t element_bytes(int type) {
    switch (type) {
        case BOOLEAN: case I8: case U8: return 1;
        case BF16: case F16: case I16: case U16: return 2;
        case F32: case I32: case U32: return 4;
        case F64: case I64: case U64: return 8;
        default: return 0;
    }
}

JNIEXPORT void JNICALL Java_io_quantbridge_openvino_OvNative_setInput(JNIEnv* env, jclass cls, jlong request,
                                                                     jint index, jobject jbuffer, jlongArray jshape,
                                                                     jint type) {
    (void)cls;
    REQUIRE_LOADED();
    REQUIRE_HANDLE(request, "infer request", );
    REQUIRE_NOT_NULL(jbuffer, "input buffer", );
    REQUIRE_NOT_NULL(jshape, "input shape", );
    if (index < 0) {
        throw_illegal_argument(env, "input index is negative");
        return;
    }
    size_t size = element_bytes(type);
    if (size == 0) {
        throw_illegal_argument(env, "input element type is not a whole-byte numeric type");
        return;
    }
    void* data = (*env)->GetDirectBufferAddress(env, jbuffer);
    jlong capacity = (*env)->GetDirectBufferCapacity(env, jbuffer);
    if (data == NULL || capacity < 0) {
        throw_illegal_argument(env, "input buffer is not a direct buffer");
        return;
    }
    jsize rank = (*env)->GetArrayLength(env, jshape);
    if (rank > MAX_RANK) {
        throw_illegal_argument(env, "input rank exceeds 16");
        return;
    }
    int64_t dims[MAX_RANK];
    jlong tmp[MAX_RANK];
    (*env)->GetLongArrayRegion(env, jshape, 0, rank, tmp);
    int64_t elements = 1;
    for (jsize i = 0; i < rank; i++) {
        if (tmp[i] < 0 || (tmp[i] > 0 && elements > INT64_MAX / 8 / tmp[i])) {
            throw_illegal_argument(env, "input shape has a negative or too large dimension");
            return;
        }
        dims[i] = (int64_t)tmp[i];
        elements *= tmp[i];
    }
    if (elements * (int64_t)size > capacity) {
        throw_illegal_argument(env, "input buffer is smaller than its shape needs");
        return;
    }
    ov_shape_t shape = {(int64_t)rank, dims};
    ov_tensor_t* tensor = NULL;
    OV_CALL(, ov_tensor_create_from_host_ptr, (ov_element_type_e)type, shape, data, &tensor);
    ov_status_e st = p_ov_infer_request_set_input_tensor_by_index(H(ov_infer_request_t, request), (size_t)index, tensor);
    p_ov_tensor_free(tensor); /* the request holds its own reference */
    if (st != OK) throw_status(env, "ov_infer_request_set_input_tensor_by_index", st);
}

JNIEXPORT void JNICALL Java_io_quantbridge_openvino_OvNative_infer(JNIEnv* env, jclass cls, jlong request) {
    (void)cls;
    REQUIRE_LOADED();
    REQUIRE_HANDLE(request, "infer request", );
    OV_CALL(, ov_infer_request_infer, H(ov_infer_request_t, request));
}

/* outputShape(request, index): the shape of output index after the last inference */
JNIEXPORT jlongArray JNICALL Java_io_quantbridge_openvino_OvNative_outputShape(JNIEnv* env, jclass cls, jlong request,
                                                                             jint index) {
    (void)cls;
    REQUIRE_LOADED(NULL);
    REQUIRE_HANDLE(request, "infer request", NULL);
    if (index < 0) {
        throw_illegal_argument(env, "output index is negative");
        return NULL;
    }
    ov_tensor_t* tensor = NULL;
    OV_CALL(NULL, ov_infer_request_get_output_tensor_by_index, H(ov_infer_request_t, request), (size_t)index, &tensor);
    ov_shape_t shape;
    memset(&shape, 0, sizeof shape);
    ov_status_e st = p_ov_tensor_get_shape(tensor, &shape);
    p_ov_tensor_free(tensor);
    if (st != OK) {
        throw_status(env, "ov_tensor_get_shape", st);
        return NULL;
    }
    jlongArray out = (*env)->NewLongArray(env, (jsize)shape.rank);
    if (out != NULL) {
        for (int64_t i = 0; i < shape.rank; i++) {
            jlong d = (jlong)shape.dims[i];
            (*env)->SetLongArrayRegion(env, out, (jsize)i, 1, &d);
        }
    }
    p_ov_shape_free(&shape);
    return out;
}

/* copyOutput(request, index, float[] dst): copies output index (f32; f16 is converted) into dst, sized exactly */
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal */
            exp = 127 - 15 + 1;
            while ((mant & 0x400) == 0) {
                mant <<= 1;
                exp--;
            }
            mant &= 0x3ff;
            bits = sign | (exp << 23) | (mant << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000 | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/*
 * Output `index` of the request after the last inference, with its element count, byte size, element type and data;
 * the caller frees it. On failure throws and returns NULL (nothing to free).
 */
static ov_tensor_t* output_tensor(JNIEnv* env, jlong request, jint index, size_t* n, size_t* bytes,
                                  ov_element_type_e* type, void** data) {
    if (index < 0) {
        throw_illegal_argument(env, "output index is negative");
        return NULL;
    }
    ov_tensor_t* tensor = NULL;
    OV_CALL(NULL, ov_infer_request_get_output_tensor_by_index, H(ov_infer_request_t, request), (size_t)index, &tensor);
    const char* call = "ov_tensor_get_size";
    ov_status_e st = p_ov_tensor_get_size(tensor, n);
    if (st == OK) {
        call = "ov_tensor_get_byte_size";
        st = p_ov_tensor_get_byte_size(tensor, bytes);
    }
    if (st == OK) {
        call = "ov_tensor_get_element_type";
        st = p_ov_tensor_get_element_type(tensor, type);
    }
    if (st == OK) {
        call = "ov_tensor_data";
        st = p_ov_tensor_data(tensor, data);
    }
    if (st != OK) {
        p_ov_tensor_free(tensor);
        throw_status(env, call, st);
        return NULL;
    }
    return tensor;
}

JNIEXPORT void JNICALL Java_io_quantbridge_openvino_OvNative_copyOutput(JNIEnv* env, jclass cls, jlong request,
                                                                       jint index, jfloatArray jdst) {
    (void)cls;
    REQUIRE_LOADED();
    REQUIRE_HANDLE(request, "infer request", );
    REQUIRE_NOT_NULL(jdst, "output array", );
    size_t n = 0, bytes = 0;
    ov_element_type_e type = DYNAMIC;
    void* data = NULL;
    ov_tensor_t* tensor = output_tensor(env, request, index, &n, &bytes, &type, &data);
    if (tensor == NULL) return;
    jsize len = (*env)->GetArrayLength(env, jdst);
    if ((size_t)len != n) {
        p_ov_tensor_free(tensor);
        throw_illegal_argument(env, "output array length differs from the output's element count");
        return;
    }
    if (type == F32) {
        (*env)->SetFloatArrayRegion(env, jdst, 0, len, (const jfloat*)data);
    } else if (type == F16) {
        jfloat* dst = (*env)->GetPrimitiveArrayCritical(env, jdst, NULL);
        if (dst != NULL) {
            const uint16_t* src = (const uint16_t*)data;
            for (size_t i = 0; i < n; i++) dst[i] = half_to_float(src[i]);
            (*env)->ReleasePrimitiveArrayCritical(env, jdst, dst, 0);
        }
    } else {
        p_ov_tensor_free(tensor);
        throw_illegal_argument(env, "output element type is neither f32 nor f16");
        return;
    }
    p_ov_tensor_free(tensor);
}

/*
 * copyOutputBytes(request, index, ByteBuffer direct): copies output index's bytes (any whole-byte numeric or boolean
 * type) into the buffer, whose capacity must be the output's byte size; returns its element type (ov_element_type_e)
 */
JNIEXPORT jint JNICALL Java_io_quantbridge_openvino_OvNative_copyOutputBytes(JNIEnv* env, jclass cls, jlong request,
                                                                            jint index, jobject jbuffer) {
    (void)cls;
    REQUIRE_LOADED(-1);
    REQUIRE_HANDLE(request, "infer request", -1);
    REQUIRE_NOT_NULL(jbuffer, "output buffer", -1);
    void* dst = (*env)->GetDirectBufferAddress(env, jbuffer);
    jlong capacity = (*env)->GetDirectBufferCapacity(env, jbuffer);
    if (dst == NULL || capacity < 0) {
        throw_illegal_argument(env, "output buffer is not a direct buffer");
        return -1;
    }
    size_t n = 0, bytes = 0;
    ov_element_type_e type = DYNAMIC;
    void* data = NULL;
    ov_tensor_t* tensor = output_tensor(env, request, index, &n, &bytes, &type, &data);
    if (tensor == NULL) return -1;
    if (element_bytes((int)type) == 0) {
        p_ov_tensor_free(tensor);
        throw_illegal_argument(env, "output element type is not a whole-byte numeric type");
        return -1;
    }
    if ((jlong)bytes != capacity) {
        p_ov_tensor_free(tensor);
        throw_illegal_argument(env, "output buffer capacity differs from the output's byte size");
        return -1;
    }
    memcpy(dst, data, bytes);
    p_ov_tensor_free(tensor);
    return (jint)type;
}

/*
 * profile(request): per executed node after the last inference (needs PERF_COUNT=YES at compile time), one String
 * "node name \t node type \t exec type \t status \t real time us".
 */
JNIEXPORT jobjectArray JNICALL Java_io_quantbridge_openvino_OvNative_profile(JNIEnv* env, jclass cls, jlong request) {
    (void)cls;
    REQUIRE_LOADED(NULL);
    REQUIRE_HANDLE(request, "infer request", NULL);
    ov_profiling_info_list_t list;
    memset(&list, 0, sizeof list);
    OV_CALL(NULL, ov_infer_request_get_profiling_info, H(ov_infer_request_t, request), &list);
    jobjectArray out = (*env)->NewObjectArray(env, (jsize)list.size, string_class, NULL);
    for (size_t i = 0; out != NULL && i < list.size; i++) {
        const ov_profiling_info_t* p = &list.profiling_infos[i];
        const char* name = p->node_name ? p->node_name : "";
        const char* node_type = p->node_type ? p->node_type : "";
        const char* exec_type = p->exec_type ? p->exec_type : "";
        size_t cap = strlen(name) + strlen(node_type) + strlen(exec_type) + 64;
        char* buf = malloc(cap);
        if (buf == NULL) {
            throw_illegal_state(env, "out of native memory");
            out = NULL;
            break;
        }
        snprintf(buf, cap, "%s\t%s\t%s\t%d\t%lld", name, node_type, exec_type, (int)p->status,
                 (long long)p->real_time);
        jstring s = (*env)->NewStringUTF(env, buf);
        free(buf);
        if (s == NULL) {
            out = NULL;
            break;
        }
        (*env)->SetObjectArrayElement(env, out, (jsize)i, s);
        (*env)->DeleteLocalRef(env, s);
    }
    p_ov_profiling_info_list_free(&list);
    return out;
}
