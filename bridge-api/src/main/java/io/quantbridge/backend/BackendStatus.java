package io.quantbridge.backend;

/**
 * Whether a backend can run on this machine and, when it cannot, why ({@code "no CUDA device"}) and how to fix it
 * ({@code "set OPENVINO_HOME or run scripts/fetch-openvino.sh"}).
 */
public record BackendStatus(boolean usable, String reason, String fix) {
    public static BackendStatus ready(String detail) {
        return new BackendStatus(true, detail, null);
    }

    public static BackendStatus unusable(String reason, String fix) {
        return new BackendStatus(false, reason, fix);
    }

    /** One line: "usable (detail)" or "unusable: reason; fix". */
    public String describe() {
        if (usable) {
            return reason == null || reason.isEmpty() ? "usable" : "usable (" + reason + ")";
        }
        return "unusable: " + reason + (fix == null || fix.isEmpty() ? "" : "; " + fix);
    }
}
