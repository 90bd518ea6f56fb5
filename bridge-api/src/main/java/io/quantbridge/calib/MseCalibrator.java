package io.quantbridge.calib;

/**
 * Chooses the {@code amax} that minimises the histogram-weighted squared error of symmetric int8 fake quantization.
 *
 * <p>Candidates are the centres of bins {@code i = startBin .. binCount-1} ({@link CalibratorSpec#startBin()}, default
 * 128): {@code amax_i = (i + 0.5) * w}. For each, every non-empty bin's centre {@code x_j = (j + 0.5) * w} is
 * fake-quantized with {@code scale = amax_i / 127}:
 * {@code q_j = clamp(roundHalfEven(x_j / scale), -127, 127) * scale}, and the error is
 * {@code sum_j count_j * (q_j - x_j)^2}. The smallest error wins; on ties the first (smallest) candidate.
 *
 * <p>If the histogram has no more than {@code startBin} bins (no candidate), the result is {@code absMax}; it is 0
 * for an empty or all-zero histogram.
 *
 * <p>Evaluation, equivalent to the definition: bins above the candidate all quantize to {@code 127 * scale = amax_i}
 * (error {@code (j - i) * w}), so their error {@code w^2 * sum_{j>i} count_j (j - i)^2} comes from a suffix recurrence
 * in O(1) per candidate; the bins at or below it are summed directly from bin 0 upward, stopping as soon as the sum
 * reaches the best error so far (all terms are non-negative, so this pruning never changes the winner), and a
 * candidate whose clipped part alone is no better is skipped. {@code x / scale} is computed as
 * {@code x * (127 / amax)}: {@code x_j / scale = (2j+1) * 127 / (2i+1)} is never closer than {@code 1/(4i+2)} to a
 * rounding tie, far more than the rounding error, so every {@code q_j} is the same.
 *
 * <p>Cost: O(candidates x non-empty bins) at worst, i.e. O(bins^2): about 2 ms for a dense 2048-bin histogram; a
 * histogram that grew to its 16x cap (32768 dense bins) takes about 0.5 s.
 * Stateless and thread-safe.
 */
public final class MseCalibrator extends SpecCalibrator {
    public MseCalibrator(CalibratorSpec spec) {
        super(spec);
    }

    @Override
    public double amax(Histogram histogram) {
        double absMax = histogram.absMax();
        if (absMax == 0) return 0;
        int n = histogram.binCount();
        int start = spec.startBin();
        if (n <= start) return absMax;
        double w = histogram.binWidth();
        long[] counts = histogram.counts();

        int nonEmpty = 0;
        for (long c : counts) if (c != 0) nonEmpty++;
        double[] x = new double[nonEmpty];
        double[] weight = new double[nonEmpty];
        for (int j = 0, t = 0; j < n; j++) {
            if (counts[j] != 0) {
                x[t] = (j + 0.5) * w;
                weight[t] = counts[j];
                t++;
            }
        }

        // clip[i] = sum over j > i of count_j * (j - i)^2: the error of the bins beyond candidate i, which all
        // quantize to 127 * scale = amax_i, in units of w^2. Built from the top with non-negative sums only.
        double[] clip = new double[n];
        double v = 0; // sum over j > i of count_j
        double u = 0; // sum over j > i of count_j * (j - i)
        for (int i = n - 1; i > 0; i--) {
            double c = counts[i];
            clip[i - 1] = clip[i] + 2 * u + v + c;
            u += v + c;
            v += c;
        }

        double bestError = Double.POSITIVE_INFINITY;
        int best = -1;
        int inRange = 0; // non-empty bins j <= i are x[0 .. inRange)
        for (int i = start; i < n; i++) {
            double amax = (i + 0.5) * w;
            while (inRange < nonEmpty && x[inRange] <= amax) inRange++;
            double error = clip[i] * w * w;
            if (error >= bestError) continue;
            double scale = amax / 127.0;
            double inverse = 127.0 / amax;
            for (int t = 0; t < inRange; t++) {
                double d = Math.rint(x[t] * inverse) * scale - x[t];
                error += weight[t] * d * d;
                if (error >= bestError) break;
            }
            if (error < bestError) {
                bestError = error;
                best = i;
            }
        }
        return (best + 0.5) * w;
    }
}
