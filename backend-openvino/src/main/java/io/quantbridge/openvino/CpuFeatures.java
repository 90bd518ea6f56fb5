package io.quantbridge.openvino;

import io.quantbridge.util.CpuInfo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The CPU a compiled model was built on, from {@code /proc/cpuinfo}: its model name and the instruction-set flags
 * that decide OpenVINO's kernels (int8 through AVX-512 VNNI, AVX-VNNI or AMX; bf16/fp16 through AVX-512 and AMX).
 * A compiled model uses the kernels of the CPU it was compiled on.
 */
final class CpuFeatures {
    /** The flags that matter to OpenVINO's CPU kernels, in the order reported. */
    static final List<String> RELEVANT = List.of("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl",
            "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_int8", "amx_bf16", "amx_fp16",
            "asimd", "asimddp", "sve");

    private CpuFeatures() { }

    /** {@code model_name}, {@code flags} (the relevant ones present), {@code int8_acceleration} (what runs int8). */
    static Map<String, Object> describe() {
        return describe(Path.of("/proc/cpuinfo"));
    }

    /**
     * Whether this is an x86 CPU whose int8 dot products go through 16-bit pair sums (no AVX-512 VNNI, AVX-VNNI or
     * AMX): there OpenVINO's CPU plugin needs uint8 activations and 7-bit weights ({@code OpenVinoQuantization}).
     */
    static boolean x86WithoutInt8Dot() {
        return CpuInfo.x86WithoutInt8Dot();
    }

    static boolean x86WithoutInt8Dot(Path cpuinfo) {
        return CpuInfo.x86WithoutInt8Dot(cpuinfo);
    }

    static Map<String, Object> describe(Path cpuinfo) {
        String model = null;
        Set<String> flags = CpuInfo.flags(cpuinfo);
        try {
            for (String line : Files.readAllLines(cpuinfo)) {
                int colon = line.indexOf(':');
                if (colon >= 0 && line.substring(0, colon).strip().equals("model name")) {
                    model = line.substring(colon + 1).strip();
                    break;
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux, or /proc unreadable: report what is known
        }
        List<String> present = new ArrayList<>();
        for (String f : RELEVANT) if (flags.contains(f)) present.add(f);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model_name", model);
        m.put("flags", present);
        m.put("int8_acceleration", flags.contains("amx_int8") ? "AMX"
                : flags.contains("avx512_vnni") ? "AVX-512 VNNI"
                : flags.contains("avx_vnni") ? "AVX-VNNI"
                : flags.contains("asimddp") ? "Arm dot product"
                : "none (int8 runs without VNNI: expect little speed-up)");
        return m;
    }
}
