#!/usr/bin/env bash
# Fetches the OpenVINO runtime (libopenvino_c.so, the CPU plugin, the ONNX front end and the C headers) from the
# `openvino` wheel on PyPI into .cache/openvino/, without installing it into any Python environment.
# The backend finds it there; OPENVINO_HOME or -Dquantbridge.openvino.home point elsewhere. The C headers are what
# native/build.sh compiles the JNI bridge against (the Maven build of backend-openvino runs it).
set -euo pipefail
VERSION="${OPENVINO_VERSION:-2026.4.1}"
# SHA-256 of the pinned wheel (cp311, manylinux_2_28_x86_64); another OPENVINO_VERSION is fetched unchecked
WHEEL_SHA256_2026_4_1="2d22b1da03f7caf74df30e9f6417d0ab2f637e4a38e08e1dcd294d2c37407aaf"
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/.cache/openvino"
if [ -f "$dest/VERSION" ] && [ "$(cat "$dest/VERSION")" = "$VERSION" ] && ls "$dest"/libs/libopenvino_c.so* >/dev/null 2>&1 \
   && [ -f "$dest/include/openvino/c/openvino.h" ]; then
  echo "OpenVINO $VERSION already in $dest"
  exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux_2_28_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --python-version 3.11 \
  -d "$tmp" "openvino==$VERSION"
wheel="$(ls "$tmp"/openvino-*.whl)"
if [ "$VERSION" = 2026.4.1 ]; then
  got="$(sha256sum "$wheel" | cut -d' ' -f1)"
  if [ "$got" != "$WHEEL_SHA256_2026_4_1" ]; then
    echo "fetch-openvino: SHA-256 mismatch for $(basename "$wheel"): expected $WHEEL_SHA256_2026_4_1, got $got" >&2
    exit 1
  fi
else
  echo "fetch-openvino: OPENVINO_VERSION=$VERSION is not the pinned 2026.4.1; its wheel is not checked by hash" >&2
fi
rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
python3 - "$wheel" "$dest.tmp" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for n in z.namelist():
        if n.startswith("openvino/libs/") or n.startswith("openvino/include/"):
            z.extract(n, sys.argv[2])
PY
mv "$dest.tmp/openvino/libs" "$dest.tmp/libs"
[ -d "$dest.tmp/openvino/include" ] && mv "$dest.tmp/openvino/include" "$dest.tmp/include"
rm -rf "$dest.tmp/openvino"
echo "$VERSION" > "$dest.tmp/VERSION"
rm -rf "$dest" && mv "$dest.tmp" "$dest"
echo "OpenVINO $VERSION runtime in $dest/libs"
