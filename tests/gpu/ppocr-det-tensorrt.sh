#!/usr/bin/env bash
# ppocr-det INT8 on an NVIDIA GPU through both TensorRT paths (explicit Q/DQ and the implicit calibrator), plus an
# FP16 engine for reference: each engine is built, run on the held-out photos and compared with the float model
# (report.json "fidelity": pooled cosine, SQNR, mask IoU @0.3), then all are timed with `bench`.
#
# Usage: tests/gpu/ppocr-det-tensorrt.sh OUT_DIR
# Needs: an NVIDIA driver and GPU, TensorRT 10 (TENSORRT_HOME=<folder with lib/libnvinfer.so.10>), the CUDA 13
# runtime, and the fetched models (scripts/fetch-models.sh). JAVA and JAR default to `java` and the built CLI jar;
# MODEL, DATA, SAMPLES and CALIBRATOR override the detector, the photo folder, the calibration count (64) and the
# calibrator (mse).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:?usage: $0 OUT_DIR}"
java="${JAVA:-java}"
jar="${JAR:-$root/quantbridge-cli/target/quantbridge-cli.jar}"
model="${MODEL:-$root/.cache/models/ppocr/ch_PP-OCRv4_det_infer.onnx}"
data="${DATA:-$root/.cache/data/opencv}"
calibrator="${CALIBRATOR:-mse}"
mkdir -p "$out"
qb() { "$java" -Xmx16g "$@"; }
common=(--model "$model" --calib "$data" --eval "$data" --samples "${SAMPLES:-64}" --seed 1 --size 640x640
  --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 --mask-threshold 0.3)

qb -jar "$jar" backends | tee "$out/backends.txt"
for path in explicit implicit; do
  echo "== int8, $path path"
  qb -Dquantbridge.tensorrt.path="$path" -jar "$jar" quantize --backend tensorrt "${common[@]}" \
    --calibrator "$calibrator" --precision int8 --out "$out/$path" 2>&1 | tee "$out/$path.log"
done
echo "== fp16"
qb -jar "$jar" quantize --backend tensorrt "${common[@]}" --precision fp16 --out "$out/fp16" 2>&1 | tee "$out/fp16.log"

echo "== latency (one 640x640 photo, float32 in and out, copies to and from the GPU included)"
qb -jar "$jar" bench --backend tensorrt --data "$data/fruits.jpg" --size 640x640 \
  --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 --iterations 200 --warmup 20 \
  --model "$out/fp16/model.fp16.plan" --model "$out/explicit/model.int8.plan" \
  --model "$out/implicit/model.implicit.plan" --out "$out/bench.json" | tee "$out/bench.txt"
