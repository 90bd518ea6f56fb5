package io.quantbridge.tflite;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.quantbridge.QuantbridgeException;
import io.quantbridge.data.NpyFile;
import io.quantbridge.onnx.runtime.OrtModelSession;
import io.quantbridge.tensor.FloatTensor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.tensorflow.lite.schema.BuiltinOperator;
import org.tensorflow.lite.schema.OperatorT;

/**
 * The models, photos and speech that scripts/fetch-models.sh puts in .cache/ at the repository root; tests skip
 * when they are missing. Also turns the espeak-ng recordings into openWakeWord embedding-model inputs.
 */
final class RealData {
    private RealData() { }

    static Path root() {
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null && !Files.isRegularFile(dir.resolve("scripts").resolve("fetch-models.sh"))) {
            dir = dir.getParent();
        }
        if (dir == null) throw new IllegalStateException("repository root not found above " + Path.of("").toAbsolutePath());
        return dir;
    }

    static Path model(String id, String file) {
        Path p = root().resolve(".cache/models").resolve(id).resolve(file);
        assumeTrue(Files.isRegularFile(p), "model " + id + " not fetched: run scripts/fetch-models.sh");
        return p;
    }

    static Path data(String id) {
        Path p = root().resolve(".cache/data").resolve(id);
        assumeTrue(Files.isDirectory(p), "data " + id + " not fetched: run scripts/fetch-models.sh");
        return p;
    }

    /** The embedding model's input: 76 mel frames of 32 bins, hop 8 frames between windows. */
    static final int FRAMES = 76;
    static final int BINS = 32;
    static final int HOP = 8;

    /**
     * Windows of mel frames from the espeak-ng sentences, one {@code .npy} [1,76,32,1] per window, in
     * {@code .cache/data/wakeword-mel/calib} (sentences 0-7) and {@code eval} (sentences 8-11, disjoint recordings)
     * (made once): WAV 22.05 kHz resampled to 16 kHz, int16-scaled samples through
     * melspectrogram.onnx in ONNX Runtime, then {@code x / 10 + 2} as openWakeWord does.
     */
    static Path wakewordMel() {
        Path out = root().resolve(".cache/data/wakeword-mel");
        Path done = out.resolve(".done");
        if (Files.isRegularFile(done)) return out;
        Path speech = data("speech");
        Path mel = model("wakeword-embed", "melspectrogram.onnx");
        try (OrtModelSession s = OrtModelSession.open(mel, 1); Stream<Path> wavs = Files.list(speech)) {
            Files.createDirectories(out.resolve("calib"));
            Files.createDirectories(out.resolve("eval"));
            List<Path> files = wavs.filter(p -> p.toString().endsWith(".wav")).sorted().toList();
            String input = s.inputs().get(0).name();
            for (Path wav : files) {
                float[] audio = resample(readWav(wav), 22050, 16000);
                Map<String, FloatTensor> r = s.run(Map.of(input, new FloatTensor(new long[] {1, audio.length}, audio)));
                float[] m = r.values().iterator().next().data();
                int frames = m.length / BINS;
                String base = wav.getFileName().toString().replace(".wav", "");
                int sentence = Integer.parseInt(base.substring(1, 3));
                Path dir = out.resolve(sentence < 8 ? "calib" : "eval");
                for (int start = 0, k = 0; start + FRAMES <= frames; start += HOP, k++) {
                    float[] w = new float[FRAMES * BINS];
                    for (int i = 0; i < w.length; i++) w[i] = m[start * BINS + i] / 10f + 2f;
                    NpyFile.write(dir.resolve(String.format("%s_%03d.npy", base, k)),
                            new FloatTensor(new long[] {1, FRAMES, BINS, 1}, w));
                }
            }
            Files.writeString(done, "made from " + files.size() + " recordings\n");
        } catch (IOException e) {
            throw new QuantbridgeException("cannot make mel frames: " + e.getMessage(), e);
        }
        return out;
    }

    /** 16-bit PCM mono WAV as int16-scaled floats. */
    static float[] readWav(Path wav) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(wav)).order(ByteOrder.LITTLE_ENDIAN);
        int pos = 12;
        while (pos + 8 <= b.limit()) {
            int id = b.getInt(pos);
            int size = b.getInt(pos + 4);
            if (id == 0x61746164) { // "data"
                int n = Math.min(size, b.limit() - pos - 8) / 2;
                float[] v = new float[n];
                for (int i = 0; i < n; i++) v[i] = b.getShort(pos + 8 + 2 * i);
                return v;
            }
            pos += 8 + size + (size & 1);
        }
        throw new IOException(wav + ": no data chunk");
    }

    /** Windowed-sinc (Hann, 16 zero crossings) resampling with the cut-off at the lower Nyquist frequency. */
    static float[] resample(float[] x, int from, int to) {
        int n = (int) ((long) x.length * to / from);
        float[] y = new float[n];
        double ratio = (double) from / to;
        double cutoff = Math.min(1.0, (double) to / from);
        int half = 16;
        for (int i = 0; i < n; i++) {
            double c = i * ratio;
            int lo = (int) Math.floor(c - half / cutoff);
            int hi = (int) Math.ceil(c + half / cutoff);
            double s = 0;
            for (int j = Math.max(0, lo); j <= Math.min(x.length - 1, hi); j++) {
                double t = (j - c) * cutoff;
                double sinc = t == 0 ? 1 : Math.sin(Math.PI * t) / (Math.PI * t);
                double w = 0.5 + 0.5 * Math.cos(Math.PI * t / half);
                if (Math.abs(t) > half) continue;
                s += x[j] * sinc * w * cutoff;
            }
            y[i] = (float) s;
        }
        return y;
    }

    /** The CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED operators of a model, in order. */
    static List<OperatorT> weightedOps(TfliteModel m) {
        return m.operators().stream().filter(op -> {
            int code = m.builtinCode(op);
            return code == BuiltinOperator.CONV_2D
                    || code == BuiltinOperator.DEPTHWISE_CONV_2D
                    || code == BuiltinOperator.FULLY_CONNECTED;
        }).toList();
    }
}
