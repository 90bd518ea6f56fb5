#!/usr/bin/env bash
# Compiles the OpenVINO JNI bridge (native/openvino/*.c) into a shared library. Run by the Maven build of
# backend-openvino in its `compile` phase; usable by hand too:
#
#   native/build.sh OUT_DIR [CLASSES_DIR] [JAVA_HOME]
#
# OUT_DIR receives libquantbridge_openvino.so; CLASSES_DIR (optional) receives a copy under
# io/quantbridge/openvino/native/linux-x86_64/ so that it is packaged into the jar.
# Headers: $OPENVINO_INCLUDE, else $OPENVINO_HOME/{include,runtime/include}, else .cache/openvino/include (what
# scripts/fetch-openvino.sh writes). Without headers or a C compiler the build is skipped with a warning (exit 0):
# the backend then reports itself unusable and names the fix.
# libopenvino_c.so is not linked: the bridge dlopen()s the copy that Java found at run time.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="${1:?usage: native/build.sh OUT_DIR [CLASSES_DIR] [JAVA_HOME]}"
classes="${2:-}"
jhome="${3:-${JAVA_HOME:-}}"
lib="libquantbridge_openvino.so"
src="$here/openvino/quantbridge_openvino.c"

warn() { echo "[WARNING] native/build.sh: $*; the openvino backend will report itself unusable" >&2; }

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) platform=linux-x86_64 ;;
  Linux-aarch64) platform=linux-arm64 ;;
  *) warn "unsupported platform $(uname -s)-$(uname -m), skipping the JNI build"; exit 0 ;;
esac

include=""
for c in "${OPENVINO_INCLUDE:-}" "${OPENVINO_HOME:+$OPENVINO_HOME/include}" \
         "${OPENVINO_HOME:+$OPENVINO_HOME/runtime/include}" "$root/.cache/openvino/include"; do
  if [ -n "$c" ] && [ -f "$c/openvino/c/openvino.h" ]; then include="$c"; break; fi
done
if [ -z "$include" ]; then
  warn "OpenVINO C headers not found (.cache/openvino/include is missing: run scripts/fetch-openvino.sh)"
  exit 0
fi

if [ -z "$jhome" ] || [ ! -f "$jhome/include/jni.h" ]; then
  # Maven passes java.home, which is the JDK itself since Java 9; fall back to the javac on the PATH
  if command -v javac >/dev/null 2>&1; then jhome="$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")"; fi
fi
if [ ! -f "$jhome/include/jni.h" ]; then
  warn "jni.h not found (JAVA_HOME=$jhome is not a JDK)"
  exit 0
fi
cc="${CC:-cc}"
if ! command -v "$cc" >/dev/null 2>&1; then
  warn "no C compiler ($cc) on the PATH"
  exit 0
fi

mkdir -p "$out"
target="$out/$lib"
if [ ! -f "$target" ] || [ "$src" -nt "$target" ] || [ "$0" -nt "$target" ] \
   || [ "$include/openvino/c/openvino.h" -nt "$target" ]; then
  "$cc" -std=c11 -O2 -fPIC -shared -Wall -Wextra -Werror -Wno-unused-parameter \
    -fvisibility=hidden -D_GNU_SOURCE \
    -I"$include" -I"$jhome/include" -I"$jhome/include/linux" \
    -o "$target.tmp" "$src" -ldl -Wl,--no-undefined
  mv "$target.tmp" "$target"
  echo "native/build.sh: built $target (headers from $include)"
fi
if [ -n "$classes" ]; then
  dest="$classes/io/quantbridge/openvino/native/$platform"
  mkdir -p "$dest"
  cp -p "$target" "$dest/$lib"
fi
