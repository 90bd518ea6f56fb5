package io.quantbridge.openvino;

import io.quantbridge.QuantbridgeException;

/**
 * A failure reported by OpenVINO's C API: the call that failed, its status ({@code ov_status_e}) and OpenVINO's own
 * message ({@code ov_get_last_err_msg()}), or a failure of the bridge around it. Thrown by the JNI code itself.
 */
public class OpenVinoException extends QuantbridgeException {
    private final String call;
    private final int status;
    private final String detail;

    /** Called from native code: {@code call} failed with {@code status}; {@code detail} is OpenVINO's message. */
    OpenVinoException(String call, int status, String detail) {
        super(call + " failed (" + statusName(status) + "): " + tidy(detail));
        this.call = call;
        this.status = status;
        this.detail = detail;
    }

    public OpenVinoException(String message, Throwable cause) {
        super(message, cause);
        if (cause instanceof OpenVinoException o) {
            this.call = o.call;
            this.status = o.status;
            this.detail = o.detail;
        } else {
            this.call = null;
            this.status = 0;
            this.detail = null;
        }
    }

    public OpenVinoException(String message) {
        this(message, null);
    }

    /** The C function that failed, or null. */
    public String call() {
        return call;
    }

    /** The {@code ov_status_e} value (negative), or 0 when the failure did not come from a C call. */
    public int status() {
        return status;
    }

    /** OpenVINO's message as it gave it, or null. */
    public String detail() {
        return detail;
    }

    /** The name of an {@code ov_status_e} value. */
    static String statusName(int status) {
        return switch (status) {
            case 0 -> "OK";
            case -1 -> "GENERAL_ERROR";
            case -2 -> "NOT_IMPLEMENTED";
            case -3 -> "NETWORK_NOT_LOADED";
            case -4 -> "PARAMETER_MISMATCH";
            case -5 -> "NOT_FOUND";
            case -6 -> "OUT_OF_BOUNDS";
            case -7 -> "UNEXPECTED";
            case -8 -> "REQUEST_BUSY";
            case -9 -> "RESULT_NOT_READY";
            case -10 -> "NOT_ALLOCATED";
            case -11 -> "INFER_NOT_STARTED";
            case -12 -> "NETWORK_NOT_READ";
            case -13 -> "INFER_CANCELLED";
            case -14 -> "INVALID_C_PARAM";
            case -15 -> "UNKNOWN_C_ERROR";
            case -16 -> "NOT_IMPLEMENT_C_METHOD";
            case -17 -> "UNKNOWN_EXCEPTION";
            default -> "status " + status;
        };
    }

    /**
     * OpenVINO's messages span lines and start with the C++ source location of each rethrow
     * ("Exception from src/inference/src/cpp/core.cpp:112:"); keep the text, one line.
     */
    static String tidy(String detail) {
        if (detail == null) return "no message";
        StringBuilder sb = new StringBuilder();
        for (String line : detail.split("\\R")) {
            String l = line.strip();
            if (l.isEmpty() || l.matches("Exception from \\S+:\\d+:?") || l.matches("Check '.*' failed at \\S+:\\d+:?")) {
                continue;
            }
            if (sb.length() > 0) sb.append(' ');
            sb.append(l);
        }
        return sb.length() == 0 ? detail.strip() : sb.toString();
    }
}
