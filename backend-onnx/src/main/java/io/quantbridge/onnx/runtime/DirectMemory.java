package io.quantbridge.onnx.runtime;

import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;

/**
 * How much direct buffer memory ({@code ByteBuffer.allocateDirect}) this JVM may still allocate. Calibration pins the
 * observed tensors of a sample in direct buffers (ppocr-det at 640x640: about 250 MB per worker), and the JVM caps
 * direct memory at {@code -XX:MaxDirectMemorySize}, by default the maximum heap size: a JVM started with a small
 * {@code -Xmx} would otherwise fail half-way through calibration with "Cannot reserve ... bytes of direct buffer
 * memory".
 */
final class DirectMemory {
    private DirectMemory() { }

    /** Bytes still available, or {@link Long#MAX_VALUE} when the JVM does not tell. */
    static long headroom() {
        long max = max();
        if (max == Long.MAX_VALUE) return max;
        long used = 0;
        for (BufferPoolMXBean p : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)) {
            if (p.getName().equals("direct")) used = Math.max(0, p.getMemoryUsed());
        }
        return Math.max(0, max - used);
    }

    /** The cap: {@code -XX:MaxDirectMemorySize}, or the maximum heap size when it is not set. */
    static long max() {
        try {
            com.sun.management.HotSpotDiagnosticMXBean hs =
                    ManagementFactory.getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class);
            long set = hs == null ? 0 : Long.parseLong(hs.getVMOption("MaxDirectMemorySize").getValue());
            return set > 0 ? set : Runtime.getRuntime().maxMemory();
        } catch (RuntimeException | LinkageError e) { // no jdk.management module, or another JVM
            return Long.MAX_VALUE;
        }
    }
}
