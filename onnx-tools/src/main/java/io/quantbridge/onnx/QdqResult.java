package io.quantbridge.onnx;

/** A quantized model and the report of what was quantized. */
public record QdqResult(OnnxModel model, QdqReport report) { }
