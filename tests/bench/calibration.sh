#!/usr/bin/env bash
# Calibration benchmark on the real PaddleOCR detector (not a test; CI does not run it):
# calibration time / pure forward time per calibrator, peak heap, int8 vs FP32 latency in ONNX Runtime.
# Usage: tests/bench/calibration.sh [SIZE=640] [SAMPLES=64] [OUT=docs/benchmarks/calibration.json]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
scripts/fetch-models.sh
./mvnw -q -B -DskipTests install
./mvnw -q -B -o -pl tests test-compile
mkdir -p docs/benchmarks
export ORT_DISABLE_TELEMETRY="${ORT_DISABLE_TELEMETRY:-1}"  # ONNX Runtime 1.29 uploads telemetry from Linux otherwise
exec java -Xmx8g -cp "tests/target/test-classes:quantbridge-cli/target/quantbridge-cli.jar:quantbridge-cli/target/lib/*" \
  io.quantbridge.bench.CalibrationBench "${1:-640}" "${2:-64}" "${3:-docs/benchmarks/calibration.json}"
