#!/usr/bin/env bash
# The main job on a fresh machine: fetch the PaddleOCR text detector and 91 real photos (pinned, SHA-256 checked),
# build quantbridge, and quantize the detector to INT8 with the embedded default backend (onnx, CPU): calibrate on 64
# photos, measure fidelity against FP32 on the other 27 (cosine, SQNR, text-mask IoU, and the recall of the float
# model's text boxes). Extra arguments go to `quantbridge quantize`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/fetch-models.sh
out="${QUICKSTART_OUT:-$root/out/quickstart}"
bin/quantbridge quantize --backend onnx \
  --model .cache/models/ppocr/ch_PP-OCRv4_det_infer.onnx \
  --calib .cache/data/opencv --eval .cache/data/opencv --samples 64 --seed 1 \
  --calibrator mse --precision int8 \
  --size 640x640 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 \
  --mask-threshold 0.3 --boxes mask --out "$out" "$@"
echo
echo "artifacts and report.json (fidelity against FP32 on the 27 held-out photos) are in $out"
