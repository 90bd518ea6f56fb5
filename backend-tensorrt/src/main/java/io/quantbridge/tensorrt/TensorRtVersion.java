package io.quantbridge.tensorrt;

import io.quantbridge.QuantbridgeException;

/**
 * A TensorRT release, {@code major.minor.patch}. Engines are tied to the exact release that built them; the
 * calibration cache header carries {@link #cacheHeaderVersion()}; what the builder offers depends on the major
 * version (TensorRT 11 removed calibrators and the precision builder flags: every network is strongly typed).
 */
public record TensorRtVersion(int major, int minor, int patch) {
    public TensorRtVersion {
        if (major < 0 || minor < 0 || minor > 99 || patch < 0 || patch > 99) {
            throw new QuantbridgeException("TensorRT version " + major + "." + minor + "." + patch + " is out of range");
        }
    }

    /** {@code "10.3"}, {@code "10.15.1"} or {@code "10.15.1.29"} (the build number is ignored). */
    public static TensorRtVersion parse(String s) {
        if (s == null || !s.strip().matches("[0-9]+\\.[0-9]+(\\.[0-9]+){0,2}")) {
            throw new QuantbridgeException("'" + s + "' is not a TensorRT version such as 10.15.1");
        }
        String[] p = s.strip().split("\\.");
        return new TensorRtVersion(Integer.parseInt(p[0]), Integer.parseInt(p[1]),
                p.length > 2 ? Integer.parseInt(p[2]) : 0);
    }

    /** From {@code getInferLibVersion()}: major*10000 + minor*100 + patch from TensorRT 10 on. */
    public static TensorRtVersion fromLibVersion(int v) {
        if (v < 100000) {
            throw new QuantbridgeException("TensorRT library version " + v + " predates TensorRT 10");
        }
        return new TensorRtVersion(v / 10000, v / 100 % 100, v % 100);
    }

    /** The version in a calibration cache header: {@code 100300} for 10.3.0. */
    public String cacheHeaderVersion() {
        return String.valueOf(major * 10000 + minor * 100 + patch);
    }

    /** TensorRT 10 and earlier: IInt8Calibrator (implicit quantization) exists. */
    public boolean hasCalibrators() {
        return major <= 10;
    }

    /** TensorRT 10 and earlier: networks are weakly typed unless asked; kINT8 / kFP16 builder flags exist. */
    public boolean hasPrecisionFlags() {
        return major <= 10;
    }

    /** Whether the JavaCPP presets this module is compiled against (TensorRT 10.x) can drive this release. */
    public boolean drivableByPresets() {
        return major == 10;
    }

    @Override
    public String toString() {
        return major + "." + minor + "." + patch;
    }
}
