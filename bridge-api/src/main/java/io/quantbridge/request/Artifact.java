package io.quantbridge.request;

import java.nio.file.Path;

/** A file a backend wrote, with what it is ("model", "calibration table", "tensorrt cache", ...). */
public record Artifact(String kind, Path path, long bytes) { }
