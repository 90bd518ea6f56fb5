package io.quantbridge.util;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;

/**
 * The instruction-set flags of this machine's CPU, from {@code /proc/cpuinfo} (empty where it cannot be read), and
 * what they mean for int8 kernels.
 */
public final class CpuInfo {
    private static final Path PROC = Path.of("/proc/cpuinfo");

    private CpuInfo() { }

    /** The flags of the first CPU listed ({@code flags} on x86, {@code Features} on Arm); empty if unknown. */
    public static Set<String> flags(Path cpuinfo) {
        try {
            for (String line : Files.readAllLines(cpuinfo)) {
                int colon = line.indexOf(':');
                if (colon < 0) continue;
                String key = line.substring(0, colon).strip();
                if (key.equals("flags") || key.equals("Features")) {
                    return Set.of(line.substring(colon + 1).strip().split("\\s+"));
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux, or /proc unreadable
        }
        return Set.of();
    }

    /**
     * Whether this is an x86 CPU whose int8 dot products go through 16-bit pair sums (vpmaddubsw): no AVX-512 VNNI,
     * AVX-VNNI or AMX. There uint8 x int8 products added in pairs saturate int16 with full-range weights
     * (255 x 127 x 2 > 32767), in ONNX Runtime's integer kernels and in OpenVINO's.
     */
    public static boolean x86WithoutInt8Dot() {
        return x86WithoutInt8Dot(PROC);
    }

    public static boolean x86WithoutInt8Dot(Path cpuinfo) {
        Set<String> flags = flags(cpuinfo);
        boolean x86 = flags.contains("sse4_2") || flags.contains("avx2");
        return x86 && !flags.contains("avx512_vnni") && !flags.contains("avx_vnni") && !flags.contains("amx_int8");
    }
}
