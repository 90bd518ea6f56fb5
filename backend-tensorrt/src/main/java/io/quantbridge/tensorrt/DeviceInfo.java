package io.quantbridge.tensorrt;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The GPU an engine is built on or run on, and the TensorRT release there. Built from CUDA's device properties on a
 * real machine; a plain value in tests.
 *
 * <p>Fast int8 and fp16 follow the compute capability, as TensorRT's deprecated {@code platformHasFastInt8} /
 * {@code platformHasFastFp16} did (NVIDIA now says to ask CUDA): int8 dot products from 6.1 on; fp16 at full rate on
 * 5.3, 6.0, 6.2 and from 7.0 on (6.1, the consumer Pascal parts, runs fp16 at 1/64 rate).
 */
public record DeviceInfo(String gpuName, int ccMajor, int ccMinor, int dlaCores, TensorRtVersion tensorrt) {
    public DeviceInfo {
        if (gpuName == null || gpuName.isBlank()) throw new IllegalArgumentException("gpu name missing");
        if (tensorrt == null) throw new IllegalArgumentException("TensorRT version missing");
    }

    /** {@code "8.9"}. */
    public String computeCapability() {
        return ccMajor + "." + ccMinor;
    }

    public boolean fastInt8() {
        return ccMajor > 6 || ccMajor == 6 && ccMinor >= 1;
    }

    public boolean fastFp16() {
        return ccMajor >= 7 || ccMajor == 5 && ccMinor == 3 || ccMajor == 6 && (ccMinor == 0 || ccMinor == 2);
    }

    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("gpu_name", gpuName);
        m.put("compute_capability", computeCapability());
        m.put("dla_cores", dlaCores);
        m.put("tensorrt_version", tensorrt.toString());
        return m;
    }

    @Override
    public String toString() {
        return gpuName + " (compute capability " + computeCapability() + ", TensorRT " + tensorrt + ")";
    }
}
