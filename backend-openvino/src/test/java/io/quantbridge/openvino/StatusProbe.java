package io.quantbridge.openvino;

/** Prints the openvino backend's status line; run in a child JVM by {@link OpenVinoBackendTest}. */
public final class StatusProbe {
    private StatusProbe() { }

    public static void main(String[] args) {
        System.out.println(new OpenVinoBackend().status().describe());
    }
}
