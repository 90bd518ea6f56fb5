#!/usr/bin/env bash
# The project's test command (README, .ci/run): fetch the pinned real models and data and the OpenVINO runtime with its
# C headers (the JNI bridge in native/ is compiled against them), then build and run every test.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
if ! scripts/fetch-models.sh; then
  if [ "${CI:-}" = true ]; then
    echo "test.sh: fetching models failed; CI must fetch them" >&2
    exit 1
  fi
  echo "test.sh: fetching models failed; tests that need them will be skipped" >&2
fi
if ! scripts/fetch-openvino.sh; then
  if [ "${CI:-}" = true ]; then
    echo "test.sh: fetching OpenVINO failed; CI must fetch it" >&2
    exit 1
  fi
  echo "test.sh: fetching OpenVINO failed; the JNI bridge is not built and the openvino tests will be skipped" >&2
fi
exec ./mvnw -B -ntp verify "$@"
