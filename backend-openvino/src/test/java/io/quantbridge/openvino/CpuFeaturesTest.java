package io.quantbridge.openvino;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CpuFeaturesTest {
    @TempDir
    Path tmp;

    private boolean withoutInt8Dot(String line) throws Exception {
        Path f = tmp.resolve("cpuinfo");
        Files.writeString(f, "processor\t: 0\nmodel name\t: test\n" + line + "\n");
        return CpuFeatures.x86WithoutInt8Dot(f);
    }

    @Test
    void x86WithoutVnniIsTheCaseThatNeedsUint8Activations() throws Exception {
        assertEquals(true, withoutInt8Dot("flags\t\t: fpu sse4_2 avx avx2 fma"));           // AMD EPYC before Zen 4
        assertEquals(true, withoutInt8Dot("flags\t\t: sse4_2 avx avx2 avx512f avx512bw"));  // Skylake-SP
        assertEquals(false, withoutInt8Dot("flags\t\t: sse4_2 avx2 avx512f avx512_vnni"));  // Cascade Lake and later
        assertEquals(false, withoutInt8Dot("flags\t\t: sse4_2 avx2 avx_vnni"));             // Alder Lake
        assertEquals(false, withoutInt8Dot("Features\t: fp asimd asimddp"));                // Arm
        assertEquals(false, CpuFeatures.x86WithoutInt8Dot(tmp.resolve("missing")));         // unknown: as written
    }
}
