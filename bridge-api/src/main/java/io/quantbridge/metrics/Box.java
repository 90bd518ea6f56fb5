package io.quantbridge.metrics;

/**
 * An axis-aligned box that a detector's output describes: corners {@code (x1, y1)} (inclusive) and {@code (x2, y2)}
 * (exclusive) in the output's own units (pixels of a probability map, or input pixels for a box regressor), the batch
 * item it belongs to, its class and its score.
 */
public record Box(int image, int cls, float x1, float y1, float x2, float y2, float score) {
    public Box {
        if (!(x2 >= x1) || !(y2 >= y1)) {
            throw new IllegalArgumentException("box corners out of order: (" + x1 + ", " + y1 + ") - (" + x2 + ", "
                    + y2 + ")");
        }
    }

    public double area() {
        return (double) (x2 - x1) * (y2 - y1);
    }

    /** Intersection over union; 0 when both are empty. */
    public static double iou(Box a, Box b) {
        double w = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
        double h = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
        if (w <= 0 || h <= 0) return 0;
        double inter = w * h;
        double union = a.area() + b.area() - inter;
        return union <= 0 ? 0 : inter / union;
    }
}
