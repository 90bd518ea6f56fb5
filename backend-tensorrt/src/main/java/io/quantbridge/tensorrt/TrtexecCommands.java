package io.quantbridge.tensorrt;

import io.quantbridge.request.Precision;
import java.util.List;
import java.util.OptionalInt;

/**
 * The {@code trtexec} command lines that build engines from the files {@code quantize --backend tensorrt} writes,
 * for users who build on the device (Jetson, a GPU server): TensorRT 10 implicit (FP32 ONNX + calibration cache),
 * TensorRT 10 explicit (Q/DQ ONNX with {@code --int8}), TensorRT 11 explicit (Q/DQ ONNX; TensorRT 11 removed
 * {@code --int8}, {@code --fp16} and {@code --calib}: networks are always strongly typed).
 */
public final class TrtexecCommands {
    public static final String FILE = "trtexec.txt";

    /**
     * @param cacheVersion the calibration cache header's version ({@code 100900}), null without a cache
     * @param sourceModel  the user's float model, as the fp16 TensorRT 10 line names it
     * @param fp16KeepsFloat32 fp16: the FP16 model keeps layers float32, so TensorRT 10 builds it strongly typed
     *                         ({@link BuildPlan#select(EngineBuildConfig, DeviceInfo, boolean)})
     */
    public record Inputs(Precision precision, String qdqModel, String floatModel, String fp16Model, String cache,
                         String cacheVersion, String sourceModel, List<ShapeProfile> profiles, OptionalInt dlaCore,
                         boolean fp16KeepsFloat32) {
        public Inputs {
            profiles = List.copyOf(profiles);
        }
    }

    private TrtexecCommands() { }

    public static String text(Inputs in) {
        StringBuilder sb = new StringBuilder();
        sb.append("# TensorRT engines from the files next to this one, built on the target device: an engine only\n");
        sb.append("# runs on the GPU model and TensorRT release that built it. Run in this folder.\n");
        String shapes = shapes(in.profiles());
        String dla = in.dlaCore().isPresent() ? " --useDLACore=" + in.dlaCore().getAsInt() + " --allowGPUFallback"
                : "";
        if (in.precision() == Precision.INT8) {
            if (in.cache() != null) {
                sb.append("#\n# The cache header says TensorRT ").append(release(in.cacheVersion()))
                        .append(" (TRT-").append(in.cacheVersion()).append("). TensorRT ignores a cache written for\n")
                        .append("# another release and then calibrates on random data: for another release run\n")
                        .append("# quantize again with --trt-cache-version <release, e.g. 10.3.0 for JetPack 6>.\n");
                sb.append("\n# TensorRT 10 (x86 GPUs; Jetson with JetPack 6), implicit quantization: the FP32 model "
                        + "and this tool's\n# calibration cache (the ranges this tool computed, not TensorRT's)\n");
                sb.append("trtexec --onnx=").append(quote(in.floatModel())).append(" --int8 --calib=")
                        .append(quote(in.cache())).append(shapes).append(dla)
                        .append(" --saveEngine=model.implicit.plan\n");
            }
            sb.append("\n# TensorRT 10, explicit quantization (Q/DQ model; --int8 lets TensorRT use int8 kernels)\n");
            sb.append("trtexec --onnx=").append(quote(in.qdqModel())).append(" --int8").append(shapes).append(dla)
                    .append(" --saveEngine=model.int8.plan\n");
            sb.append("\n# TensorRT 11, explicit quantization (always strongly typed: no --int8, no --calib)\n");
            sb.append("trtexec --onnx=").append(quote(in.qdqModel())).append(shapes)
                    .append(" --saveEngine=model.int8.plan\n");
        } else {
            if (in.fp16KeepsFloat32() && in.dlaCore().isEmpty()) {
                sb.append("\n# TensorRT 10: the FP16 model, strongly typed: it keeps float32 the layers whose values go "
                        + "beyond\n# float16 on the calibration data, which --fp16 on the float model would let "
                        + "TensorRT run in fp16\n");
                sb.append("trtexec --onnx=").append(quote(in.fp16Model())).append(" --stronglyTyped").append(shapes)
                        .append(" --saveEngine=model.fp16.plan\n");
            } else {
                sb.append("\n# TensorRT 10: the float model with fp16 kernels allowed\n");
                if (in.fp16KeepsFloat32()) {
                    sb.append("# (values go beyond float16 on the calibration data; DLA needs --fp16, so those layers "
                            + "may overflow)\n");
                }
                sb.append("trtexec --onnx=").append(quote(in.sourceModel())).append(" --fp16").append(shapes)
                        .append(dla).append(" --saveEngine=model.fp16.plan\n");
            }
            sb.append("\n# TensorRT 11: the FP16 model (always strongly typed: no --fp16)\n");
            sb.append("trtexec --onnx=").append(quote(in.fp16Model())).append(shapes)
                    .append(" --saveEngine=model.fp16.plan\n");
        }
        return sb.toString();
    }

    /** {@code --minShapes=.. --optShapes=.. --maxShapes=..} for the profiled inputs, or nothing. */
    static String shapes(List<ShapeProfile> profiles) {
        if (profiles.isEmpty()) return "";
        StringBuilder min = new StringBuilder();
        StringBuilder opt = new StringBuilder();
        StringBuilder max = new StringBuilder();
        for (ShapeProfile p : profiles) {
            String sep = min.length() == 0 ? "" : ",";
            min.append(sep).append(p.input()).append(':').append(ShapeProfile.dims(p.min()));
            opt.append(sep).append(p.input()).append(':').append(ShapeProfile.dims(p.opt()));
            max.append(sep).append(p.input()).append(':').append(ShapeProfile.dims(p.max()));
        }
        return " --minShapes=" + quote(min.toString()) + " --optShapes=" + quote(opt.toString()) + " --maxShapes="
                + quote(max.toString());
    }

    /** {@code 100900} -> {@code 10.9.0}; four-digit TensorRT 7/8 versions -> {@code 8.6.1}. */
    static String release(String version) {
        if (version == null || !version.matches("[0-9]+")) return String.valueOf(version);
        int v = Integer.parseInt(version);
        return v >= 100000 ? v / 10000 + "." + v / 100 % 100 + "." + v % 100
                : v / 1000 + "." + v / 100 % 10 + "." + v % 100;
    }

    /** Single-quotes a word for a POSIX shell when it holds anything beyond a safe set. */
    static String quote(String s) {
        if (s.matches("[A-Za-z0-9_./:,=+@%-]+")) return s;
        return "'" + s.replace("'", "'\\''") + "'";
    }
}
