#!/usr/bin/env bash
# Side-by-side comparison of quantbridge with the Python peers (issue 7), one command:
#
#   tests/bench/compare/run.sh            full run: ppocr-det, ppocr-cls, ppocr-rec (ONNX), wakeword-embed, blazeface,
#                                         selfie-seg, pose-lite (TFLite); writes docs/benchmarks/compare/results.json
#                                         and README.md
#   tests/bench/compare/run.sh --smoke    one peer (ONNX Runtime MinMax) and quantbridge on 8 det calibration photos,
#                                         evaluated on 4; writes only under .cache/compare-smoke (CI-sized, not in CI)
#   COMPARE_ONLY="det cls" ...            restrict the models (det cls rec wakeword blazeface selfie pose); with
#                                         --smoke, a tiny version of each named model (one or two peers, few inputs)
#   COMPARE_PEERS='^ort entropy' ...      re-run only the matching cases (bash regex), keeping the other results
#
# Every quantizer reads the same .npy tensors, written once by DumpInputs.java with quantbridge's own split
# (io.quantbridge.data.DataSplit, seed 1) and loader (ImageLoader), so all peers see bit-identical inputs; quantbridge is
# fed the same folders. Every quantizer runs as its own process under /usr/bin/time -v with an address-space cap
# (ulimit -v, COMPARE_MEM_CAP_GB, default 12) so that one that runs out of memory is a recorded result, not a dead
# machine. A benchmark, not a test: CI does not run it.
set -uo pipefail
# ONNX Runtime 1.29 (measured on the Java side) starts a telemetry uploader on Linux unless this is set before it
# loads; the Python peers get it too
export ORT_DISABLE_TELEMETRY="${ORT_DISABLE_TELEMETRY:-1}"
main() { # the whole script is parsed before it runs, so editing it mid-run cannot derail a run
root="$(cd "$(dirname "$0")/../../.." && pwd)"
here="$root/tests/bench/compare"
cd "$root"
# models, photos and the OpenVINO runtime as the tests use them; the CLI built once here, then never rebuilt mid-run
scripts/fetch-models.sh >&2 || { echo "compare: fetching models failed" >&2; exit 1; }
scripts/fetch-openvino.sh >&2 || echo "compare: OpenVINO runtime not fetched; the openvino rows will fail" >&2
./mvnw -q -B -DskipTests install >&2 || { echo "compare: building quantbridge failed" >&2; exit 1; }
touch "$root/quantbridge-cli/target/quantbridge-cli.jar"
export QUANTBRIDGE_NO_BUILD=1

smoke=0
[ "${1:-}" = "--smoke" ] && smoke=1
cap_gb="${COMPARE_MEM_CAP_GB:-12}"
only="${COMPARE_ONLY:-det cls rec wakeword blazeface selfie pose}"
if [ "$smoke" = 1 ]; then work="$root/.cache/compare-smoke"; only="${COMPARE_ONLY:-det}"; else work="$root/.cache/compare"; fi
mkdir -p "$work"
# one cases.jsonl per model, cleared when that model runs again: COMPARE_ONLY runs add up to one report

# ------------------------------------------------------------------------------------------------- pinned peers
# Verified to install together on Python 3.11 (x86-64 Linux). nvidia-modelopt[onnx] pulls torch and
# onnxruntime-gpu (CPU EP is used), so it lives in its own venv.
PEERS_MAIN="onnxruntime==1.31.1 onnx==1.23.2 sympy==1.14.0 nncf==3.4.0 openvino==2026.4.1 ai-edge-quantizer==0.10.0 ai-edge-litert==2.3.0 psutil==7.2.2"
PEERS_MODELOPT="nvidia-modelopt[onnx]==0.47.0"
venv="$root/.cache/compare-venv"
venv_mo="$root/.cache/compare-venv-modelopt"

ensure_venv() { # dir, requirements: create and install only when the pinned list changed
  local dir="$1" reqs="$2"
  if [ -f "$dir/.pinned" ] && [ "$(cat "$dir/.pinned")" = "$reqs" ]; then return 0; fi
  echo "compare: installing into $dir: $reqs" >&2
  [ -x "$dir/bin/python" ] || python3 -m venv "$dir" || return 1
  # shellcheck disable=SC2086
  "$dir/bin/pip" install -q $reqs || return 1
  echo "$reqs" > "$dir/.pinned"
}
ensure_venv "$venv" "$PEERS_MAIN" || { echo "compare: cannot install the peers" >&2; exit 1; }
modelopt_ok=1
if [ "$smoke" = 0 ]; then
  ensure_venv "$venv_mo" "$PEERS_MODELOPT" > "$work/modelopt-install.log" 2>&1 || modelopt_ok=0
fi
py="$venv/bin/python"
peers="$here/peers.py"

# ------------------------------------------------------------------------------------------------- data, once
# tests/target/test-classes: the text-line crops of issue 3's acceptance test (TextCrops), for ppocr-rec
cp_java="$root/quantbridge-cli/target/lib/*:$root/tests/target/test-classes"
dump() { # name mode data seed ncalib w h scale mean std layout [extra]
  local name="$1"; shift
  local out="$work/$name/data"
  if [ -f "$out/split.json" ] && [ "$(cat "$out/.args" 2>/dev/null)" = "$*" ]; then return 0; fi
  rm -rf "$out"
  java -cp "$cp_java" "$here/DumpInputs.java" "$1" "$2" "$out" "${@:3}" || return 1
  echo "$*" > "$out/.args"
}

# ------------------------------------------------------------------------------------------------- one case
# run_case MODEL PEER RUNTIME ARTIFACT EVALARGS -- COMMAND...: quantize under the cap, then evaluate the artifact
# against the float model in RUNTIME on the held-out tensors. Appends one JSON line to $cases.
run_case() {
  local model="$1" peer="$2" runtime="$3" artifact="$4" evalargs="$5"; shift 6
  if [ -n "${COMPARE_PEERS:-}" ] && ! [[ "$peer" =~ $COMPARE_PEERS ]]; then return 0; fi
  local dir="$work/$model"
  local cases="$dir/cases.jsonl"
  local tag="${peer//[^A-Za-z0-9.-]/_}"
  echo "compare: $model / $peer" >&2
  local rc=0 load jar_at head
  # an artifact left by an earlier run must not be judged as this run's: only rows that re-evaluate another row's
  # artifact (command `true`) keep it, and they evaluate it only if that row succeeded in this run
  if [ "$1" != true ]; then rm -f "$artifact"; fi
  rm -f "$dir/$tag.eval.json"
  load="$(cut -d' ' -f1 /proc/loadavg)"
  # the CLI jar is rebuilt by other engineers as they work: record which build and commit each case ran on
  jar_at="$(date -r "$root/quantbridge-cli/target/quantbridge-cli.jar" -Iseconds 2>/dev/null)"
  head="$(git -C "$root" rev-parse --short HEAD 2>/dev/null)"
  ( ulimit -v $((cap_gb * 1024 * 1024)); exec /usr/bin/time -v -o "$dir/$tag.time" "$@" ) > "$dir/$tag.log" 2>&1 || rc=$?
  local evalrc=skipped
  if [ "$rc" = 0 ] && [ -f "$artifact" ]; then
    # shellcheck disable=SC2086
    "$py" "$peers" eval --runtime "$runtime" --ref "${ref[$model]}" --cand "$artifact" --eval "$dir/data/eval" \
      $evalargs --out "$dir/$tag.eval.json" > "$dir/$tag.eval.log" 2>&1 && evalrc=0 || evalrc=$?
  fi
  "$py" - "$model" "$peer" "$runtime" "$artifact" "$rc" "$evalrc" "$dir/$tag" "$cap_gb" "$load" "$jar_at" "$head" >> "$cases" <<'EOF'
import json, sys
model, peer, runtime, artifact, rc, evalrc, base, cap, load, jar, head = sys.argv[1:]
print(json.dumps({"model": model, "peer": peer, "runtime": runtime, "artifact": artifact, "rc": int(rc),
                  "eval_rc": evalrc, "base": base, "cap_gb": int(cap), "load_before": float(load),
                  "quantbridge_jar_built": jar, "git_head": head}))
EOF
}

declare -A ref
qb() { bin/quantbridge "$@"; }
# smoke: keep the first N calibration and M evaluation tensors of a model's data (in name order)
trim() { # dir ncalib neval
  ls "$1/calib" | sort | tail -n +$(($2 + 1)) | while read -r f; do rm -f "$1/calib/$f"; done
  ls "$1/eval" | sort | tail -n +$(($3 + 1)) | while read -r f; do rm -f "$1/eval/$f"; done
}
# every quantizer reads a private copy of the model: some peers write next to (or over) the file they are given
# (a run with TensorRT Model Optimizer left the fetched ppocr models rewritten in .cache/models)
stage() { mkdir -p "$work/models"; cp -f "$1" "$work/models/"; echo "$work/models/$(basename "$1")"; }

# ------------------------------------------------------------------------------------------------- ppocr-det
if [[ " $only " == *" det "* ]]; then
  M="$(stage "$root/.cache/models/ppocr/ch_PP-OCRv4_det_infer.onnx")"
  ref[det]="$root/.cache/models/ppocr/ch_PP-OCRv4_det_infer.onnx"  # the fetched, hash-checked original: the float reference
  n=64
  data="$root/.cache/data/opencv"
  if [ "$smoke" = 1 ]; then
    n=8
    mkdir -p "$work/photos"
    # 12 photos: 8 calibrate, 4 evaluate
    ls "$data" | grep -E '\.(jpg|png)$' | head -12 | while read -r f; do cp -n "$data/$f" "$work/photos/"; done
    data="$work/photos"
  fi
  dump det images "$data" 1 "$n" 640 640 1/255 0.485,0.456,0.406 0.229,0.224,0.225 nchw || exit 1
  D="$work/det"; C="$D/data/calib"; E="$D/data/eval"; [ -n "${COMPARE_PEERS:-}" ] || : > "$D/cases.jsonl"
  ev="--mask 0.3"
  qbq=(bin/quantbridge quantize --model "$M" --calib "$C" --eval "$E" --samples "$n" --seed 1 --mask-threshold 0.3 --quiet)
  if [ "$smoke" = 1 ]; then
    run_case det "ort minmax" ort "$D/ort-minmax/model.int8.onnx" "$ev --iters 3" -- \
      "$py" "$peers" ort --model "$M" --calib "$C" --method minmax --out "$D/ort-minmax"
    run_case det "quantbridge onnx max" ort "$D/qb-onnx-max/model.int8.onnx" "$ev --iters 3" -- \
      "${qbq[@]}" --backend onnx --calibrator max --out "$D/qb-onnx-max"
  else
    for m in max entropy percentile mse; do
      run_case det "quantbridge onnx $m" ort "$D/quantbridge_onnx_$m/model.int8.onnx" "$ev" -- \
        "${qbq[@]}" --backend onnx --calibrator "$m" --out "$D/quantbridge_onnx_$m"
    done
    # ablation: quantbridge's placement and calibrator alone, without its two graph-level corrections
    run_case det "quantbridge onnx max (no equalize, no bias correction)" ort "$D/quantbridge_onnx_max_plain/model.int8.onnx" \
      "$ev" -- "${qbq[@]}" --backend onnx --calibrator max --no-equalize --no-bias-correction \
      --out "$D/quantbridge_onnx_max_plain"
    for m in minmax entropy percentile; do
      run_case det "ort $m" ort "$D/ort_$m/model.int8.onnx" "$ev" -- \
        "$py" "$peers" ort --model "$M" --calib "$C" --method "$m" --out "$D/ort_$m"
    done
    for m in entropy percentile; do
      run_case det "ort $m (flush every 8)" ort "$D/ort_${m}_flush8/model.int8.onnx" "$ev" -- \
        "$py" "$peers" ort --model "$M" --calib "$C" --method "$m" --max-intermediate 8 --out "$D/ort_${m}_flush8"
    done
    run_case det "nncf onnx" ort "$D/nncf_onnx/model.int8.onnx" "$ev" -- \
      "$py" "$peers" nncf --model "$M" --calib "$C" --format onnx --out "$D/nncf_onnx"
    if [ "$modelopt_ok" = 1 ]; then
      for m in max entropy; do
        run_case det "modelopt $m" ort "$D/modelopt_$m/model.int8.onnx" "$ev" -- \
          "$venv_mo/bin/python" "$peers" modelopt --model "$M" --calib "$C" --method "$m" --out "$D/modelopt_$m"
      done
      run_case det "modelopt entropy (default fp16 rest)" ort "$D/modelopt_entropy_fp16/model.int8.onnx" "$ev" -- \
        "$venv_mo/bin/python" "$peers" modelopt --model "$M" --calib "$C" --method entropy --hp fp16 \
        --out "$D/modelopt_entropy_fp16"
    fi
    # OpenVINO: NNCF's IR vs quantbridge's compiled blob, and quantbridge's Q/DQ ONNX compiled by OpenVINO
    run_case det "nncf ov" ov "$D/nncf_ov/model.int8.xml" "$ev" -- \
      "$py" "$peers" nncf --model "$M" --calib "$C" --format ov --out "$D/nncf_ov"
    for m in mse entropy; do
      run_case det "quantbridge openvino $m" ov "$D/quantbridge_openvino_$m/model.int8.blob" "$ev" -- \
        "${qbq[@]}" --backend openvino --calibrator "$m" --out "$D/quantbridge_openvino_$m"
    done
    run_case det "quantbridge onnx mse (Q/DQ in OpenVINO)" ov "$D/quantbridge_onnx_mse/model.int8.onnx" "$ev" -- \
      true
    # the layout ONNX Runtime's CPU kernels fuse (uint8 activations, output Q/DQ, int32 biases)
    run_case det "quantbridge onnx mse (--target onnxruntime)" ort "$D/quantbridge_onnx_mse_ort/model.int8.onnx" \
      "$ev" -- "${qbq[@]}" --backend onnx --calibrator mse --target onnxruntime --out "$D/quantbridge_onnx_mse_ort"
  fi
fi

# ------------------------------------------------------------------------------------------------- ppocr-cls
if [[ " $only " == *" cls "* ]]; then
  M="$(stage "$root/.cache/models/ppocr/ch_ppocr_mobile_v2.0_cls_infer.onnx")"
  ref[cls]="$root/.cache/models/ppocr/ch_ppocr_mobile_v2.0_cls_infer.onnx"  # the fetched, hash-checked original: the float reference
  # No labelled text-line crops ship with the data: crops of the photos with the model's 4:1 shape, upright and
  # rotated by 180 degrees (the model's two classes); top-1 agreement with the float model is the task metric.
  dump cls strips "$root/.cache/data/opencv" 1 64 192 48 1/255 0.5,0.5,0.5 0.5,0.5,0.5 nchw "$root/.cache/data/skimage" \
    || exit 1
  D="$work/cls"; C="$D/data/calib"; E="$D/data/eval"; [ -n "${COMPARE_PEERS:-}" ] || : > "$D/cases.jsonl"
  ev="--top1"
  qbq=(bin/quantbridge quantize --model "$M" --calib "$C" --eval "$E" --samples 64 --seed 1 --top1 --quiet)
  for m in max entropy percentile mse; do
    run_case cls "quantbridge onnx $m" ort "$D/quantbridge_onnx_$m/model.int8.onnx" "$ev" -- \
      "${qbq[@]}" --backend onnx --calibrator "$m" --out "$D/quantbridge_onnx_$m"
  done
  for m in minmax entropy percentile; do
    run_case cls "ort $m" ort "$D/ort_$m/model.int8.onnx" "$ev" -- \
      "$py" "$peers" ort --model "$M" --calib "$C" --method "$m" --out "$D/ort_$m"
  done
  run_case cls "nncf onnx" ort "$D/nncf_onnx/model.int8.onnx" "$ev" -- \
    "$py" "$peers" nncf --model "$M" --calib "$C" --format onnx --out "$D/nncf_onnx"
  if [ "$modelopt_ok" = 1 ]; then
    run_case cls "modelopt entropy" ort "$D/modelopt_entropy/model.int8.onnx" "$ev" -- \
      "$venv_mo/bin/python" "$peers" modelopt --model "$M" --calib "$C" --method entropy --out "$D/modelopt_entropy"
  fi
  run_case cls "nncf ov" ov "$D/nncf_ov/model.int8.xml" "$ev" -- \
    "$py" "$peers" nncf --model "$M" --calib "$C" --format ov --out "$D/nncf_ov"
  run_case cls "quantbridge openvino mse" ov "$D/quantbridge_openvino_mse/model.int8.blob" "$ev" -- \
    "${qbq[@]}" --backend openvino --calibrator mse --out "$D/quantbridge_openvino_mse"
  run_case cls "quantbridge onnx mse (--target onnxruntime)" ort "$D/quantbridge_onnx_mse_ort/model.int8.onnx" "$ev" -- \
    "${qbq[@]}" --backend onnx --calibrator mse --target onnxruntime --out "$D/quantbridge_onnx_mse_ort"
fi

# ------------------------------------------------------------------------------------------------- ppocr-rec
if [[ " $only " == *" rec "* ]]; then
  M="$(stage "$root/.cache/models/ppocr/ch_PP-OCRv4_rec_infer.onnx")"
  ref[rec]="$root/.cache/models/ppocr/ch_PP-OCRv4_rec_infer.onnx"  # the fetched, hash-checked original: the float reference
  keys="$root/.cache/models/ppocr/ppocr_keys_v1.txt"
  # Real text lines, as issue 3's acceptance test makes them: the float PaddleOCR detector finds the lines in the
  # photos, each is cut out, scaled to height 48 and padded to 1344 wide; the lines of 9 text photos calibrate, those
  # of imageTextN.png (a printed page) evaluate. Task metric: greedy-CTC strings against FP32's.
  dump rec textlines "$root/.cache/data/opencv" 1 0 1344 48 1/255 0.5,0.5,0.5 0.5,0.5,0.5 nchw \
    "$root/.cache/models/ppocr/ch_PP-OCRv4_det_infer.onnx" || exit 1
  D="$work/rec"; C="$D/data/calib"; E="$D/data/eval"
  [ "$smoke" = 1 ] && trim "$D/data" 8 3
  [ -n "${COMPARE_PEERS:-}" ] || : > "$D/cases.jsonl"
  n="$(ls "$C" | grep -c '\.npy$')"
  ev="--ctc $keys"
  qbq=(bin/quantbridge quantize --model "$M" --calib "$C" --eval "$E" --samples "$n" --seed 1 --quiet)
  if [ "$smoke" = 1 ]; then
    run_case rec "ort minmax" ort "$D/ort_minmax/model.int8.onnx" "$ev --iters 3" -- \
      "$py" "$peers" ort --model "$M" --calib "$C" --method minmax --out "$D/ort_minmax"
    run_case rec "quantbridge onnx mse" ort "$D/quantbridge_onnx_mse/model.int8.onnx" "$ev --iters 3" -- \
      "${qbq[@]}" --backend onnx --calibrator mse --out "$D/quantbridge_onnx_mse"
  else
    for m in mse entropy; do
      run_case rec "quantbridge onnx $m" ort "$D/quantbridge_onnx_$m/model.int8.onnx" "$ev" -- \
        "${qbq[@]}" --backend onnx --calibrator "$m" --out "$D/quantbridge_onnx_$m"
    done
    for m in minmax entropy percentile; do
      run_case rec "ort $m" ort "$D/ort_$m/model.int8.onnx" "$ev" -- \
        "$py" "$peers" ort --model "$M" --calib "$C" --method "$m" --out "$D/ort_$m"
    done
    run_case rec "nncf onnx" ort "$D/nncf_onnx/model.int8.onnx" "$ev" -- \
      "$py" "$peers" nncf --model "$M" --calib "$C" --format onnx --out "$D/nncf_onnx"
    if [ "$modelopt_ok" = 1 ]; then
      for m in max entropy; do
        run_case rec "modelopt $m" ort "$D/modelopt_$m/model.int8.onnx" "$ev" -- \
          "$venv_mo/bin/python" "$peers" modelopt --model "$M" --calib "$C" --method "$m" --out "$D/modelopt_$m"
      done
    fi
    run_case rec "nncf ov" ov "$D/nncf_ov/model.int8.xml" "$ev" -- \
      "$py" "$peers" nncf --model "$M" --calib "$C" --format ov --out "$D/nncf_ov"
    run_case rec "quantbridge openvino mse" ov "$D/quantbridge_openvino_mse/model.int8.blob" "$ev" -- \
      "${qbq[@]}" --backend openvino --calibrator mse --out "$D/quantbridge_openvino_mse"
    run_case rec "quantbridge onnx mse (Q/DQ in OpenVINO)" ov "$D/quantbridge_onnx_mse/model.int8.onnx" "$ev" -- \
      true
    run_case rec "quantbridge onnx mse (--target onnxruntime)" ort "$D/quantbridge_onnx_mse_ort/model.int8.onnx" \
      "$ev" -- "${qbq[@]}" --backend onnx --calibrator mse --target onnxruntime --out "$D/quantbridge_onnx_mse_ort"
  fi
fi

# ------------------------------------------------------------------------------------------------- TFLite dynamic range
# tflite_dynamic MODEL M D E EVALARGS [quantbridge options]: ai-edge-quantizer's dynamic recipe (int8 channelwise
# weights, float activations quantized on the fly) beside quantbridge's --precision dynamic; neither calibrates
# (quantbridge's `gptq 64` row reads 64 calibration samples to round the weights).
# With prepared=1 in the environment, ai-edge-quantizer also gets the prepared copy (peers.py prepare_tflite).
tflite_dynamic() {
  local model="$1" m="$2" d="$3" e="$4" ev="$5"; shift 5
  local prepared="${prepared:-0}"
  run_case "$model" "ai-edge-quantizer dynamic_wi8_afp32" tflite "$d/aieq_dynamic/model.dynamic.tflite" "$ev" -- \
    "$py" "$peers" aieq --model "$m" --calib "$d/data/calib" --recipe dynamic_wi8_afp32 --out "$d/aieq_dynamic"
  if [ "$prepared" = 1 ]; then # the float16-weight MediaPipe models, as a user would have to prepare them for it
    run_case "$model" "ai-edge-quantizer dynamic_wi8_afp32 (prepared)" tflite "$d/aieq_dynamic_prepared/model.dynamic.tflite" \
      "$ev" -- "$py" "$peers" aieq --model "$m" --calib "$d/data/calib" --recipe dynamic_wi8_afp32 --prepare \
      --out "$d/aieq_dynamic_prepared"
  fi
  run_case "$model" "quantbridge tflite dynamic" tflite "$d/quantbridge_tflite_dynamic/model.dynamic.tflite" "$ev" -- \
    bin/quantbridge quantize --backend tflite --model "$m" --eval "$e" --seed 1 --precision dynamic --quiet "$@" \
    --out "$d/quantbridge_tflite_dynamic"
  # the same with GPTQ rounding of the CONV_2D weights from 64 calibration samples (the one use of --calib here)
  run_case "$model" "quantbridge tflite dynamic gptq 64" tflite "$d/quantbridge_tflite_dynamic_gptq/model.dynamic.tflite" \
    "$ev" -- bin/quantbridge quantize --backend tflite --model "$m" --calib "$d/data/calib" --eval "$e" --seed 1 \
    --precision dynamic --gptq 64 --quiet "$@" --out "$d/quantbridge_tflite_dynamic_gptq"
  # (DEPTHWISE_CONV_2D keeps float weights: TFLite 2.20's XNNPACK has no hybrid depthwise kernel)
}

# ------------------------------------------------------------------------------------------------- blazeface (TFLite)
if [[ " $only " == *" blazeface "* ]]; then
  M="$(stage "$root/.cache/models/blazeface-tflite/face_detection_short_range.tflite")"
  ref[blazeface]="$root/.cache/models/blazeface-tflite/face_detection_short_range.tflite"  # the fetched, hash-checked original: the float reference
  dump blazeface images "$root/.cache/data/opencv" 1 64 128 128 1/255 0.5,0.5,0.5 0.5,0.5,0.5 nhwc || exit 1
  D="$work/blazeface"; C="$D/data/calib"; E="$D/data/eval"; [ -n "${COMPARE_PEERS:-}" ] || : > "$D/cases.jsonl"
  run_case blazeface "ai-edge-quantizer static_wi8_ai8" tflite "$D/aieq/model.int8.tflite" "" -- \
    "$py" "$peers" aieq --model "$M" --calib "$C" --out "$D/aieq"
  # its float16 constants made float32 and a SignatureDef added (the model as shipped has neither form it takes)
  run_case blazeface "ai-edge-quantizer static_wi8_ai8 (prepared)" tflite "$D/aieq_prepared/model.int8.tflite" "" -- \
    "$py" "$peers" aieq --model "$M" --calib "$C" --prepare --out "$D/aieq_prepared"
  for m in max mse; do
    run_case blazeface "quantbridge tflite $m" tflite "$D/quantbridge_tflite_$m/model.int8.tflite" "" -- \
      bin/quantbridge quantize --backend tflite --model "$M" --calib "$C" --eval "$E" --samples 64 --seed 1 \
      --layout nhwc --calibrator "$m" --quiet --out "$D/quantbridge_tflite_$m"
  done
  prepared=1 tflite_dynamic blazeface "$M" "$D" "$E" "" --layout nhwc
fi

# ------------------------------------------------------------------------------------------------- wakeword-embed (TFLite)
if [[ " $only " == *" wakeword "* ]]; then
  M="$(stage "$root/.cache/models/wakeword-embed/embedding_model.tflite")"
  ref[wakeword]="$root/.cache/models/wakeword-embed/embedding_model.tflite"  # the fetched, hash-checked original: the float reference
  mel="$root/.cache/data/wakeword-mel" # mel frames of espeak-ng sentences (backend-tflite's RealData): calib 0-7, eval 8-11
  D="$work/wakeword"; C="$D/data/calib"; E="$D/data/eval"
  if [ -d "$mel/calib" ] && [ ! -f "$D/data/.done" ]; then
    rm -rf "$D/data"; mkdir -p "$C" "$E"
    # every 8th calibration window (about 200), every 4th evaluation window (about 180), in name order
    ls "$mel/calib" | grep '\.npy$' | awk 'NR % 8 == 1' | while read -r f; do cp "$mel/calib/$f" "$C/"; done
    ls "$mel/eval" | grep '\.npy$' | awk 'NR % 4 == 1' | while read -r f; do cp "$mel/eval/$f" "$E/"; done
    touch "$D/data/.done"
  fi
  if [ -f "$D/data/.done" ]; then
    [ -n "${COMPARE_PEERS:-}" ] || : > "$D/cases.jsonl"
    run_case wakeword "ai-edge-quantizer static_wi8_ai8" tflite "$D/aieq/model.int8.tflite" "" -- \
      "$py" "$peers" aieq --model "$M" --calib "$C" --out "$D/aieq"
    for m in max entropy mse; do
      run_case wakeword "quantbridge tflite $m" tflite "$D/quantbridge_tflite_$m/model.int8.tflite" "" -- \
        bin/quantbridge quantize --backend tflite --model "$M" --calib "$C" --eval "$E" --seed 1 \
        --calibrator "$m" --quiet --out "$D/quantbridge_tflite_$m"
    done
    tflite_dynamic wakeword "$M" "$D" "$E" ""
  else
    echo "compare: no $mel (run backend-tflite's tests once to make it); wakeword skipped" >&2
  fi
fi

# ------------------------------------------------------------------------------------------------- selfie-seg, pose-lite (TFLite)
# MediaPipe's float16-weight models, input [1,256,256,3] RGB in [0, 1]; 64 calibration / 27 held-out photos as for the
# detector. selfie-seg carries the custom op Convolution2DTransposeBias (no int8 kernel: a quantizer must leave it float,
# or do what quantbridge does, rewrite it as the builtin TRANSPOSE_CONV and quantize that).
for mp in selfie pose; do
  [[ " $only " == *" $mp "* ]] || continue
  if [ "$mp" = selfie ]; then
    src="$root/.cache/models/selfie-seg/selfie_segmentation.tflite"; ev="--mask 0.5"; qbev=(--mask-threshold 0.5)
  else
    src="$root/.cache/models/pose-lite/pose_landmark_lite.tflite"; ev=""; qbev=()
  fi
  M="$(stage "$src")"
  ref[$mp]="$src"  # the fetched, hash-checked original: the float reference
  n=64
  data="$root/.cache/data/opencv"
  if [ "$smoke" = 1 ]; then
    n=8
    mkdir -p "$work/photos"
    ls "$data" | grep -E '\.(jpg|png)$' | head -12 | while read -r f; do cp -n "$data/$f" "$work/photos/"; done
    data="$work/photos"
    ev="$ev --iters 3"
  fi
  dump "$mp" images "$data" 1 "$n" 256 256 1/255 0,0,0 1,1,1 nhwc || exit 1
  D="$work/$mp"; C="$D/data/calib"; E="$D/data/eval"; [ -n "${COMPARE_PEERS:-}" ] || : > "$D/cases.jsonl"
  if [ "$smoke" = 0 ]; then
    run_case "$mp" "ai-edge-quantizer static_wi8_ai8" tflite "$D/aieq/model.int8.tflite" "$ev" -- \
      "$py" "$peers" aieq --model "$M" --calib "$C" --out "$D/aieq"
    run_case "$mp" "ai-edge-quantizer static_wi8_ai8 (prepared)" tflite "$D/aieq_prepared/model.int8.tflite" "$ev" -- \
      "$py" "$peers" aieq --model "$M" --calib "$C" --prepare --out "$D/aieq_prepared"
  fi
  run_case "$mp" "quantbridge tflite mse" tflite "$D/quantbridge_tflite_mse/model.int8.tflite" "$ev" -- \
    bin/quantbridge quantize --backend tflite --model "$M" --calib "$C" --eval "$E" --samples "$n" --seed 1 \
    --layout nhwc --calibrator mse "${qbev[@]}" --quiet \
    --out "$D/quantbridge_tflite_mse"
  prepared=1 tflite_dynamic "$mp" "$M" "$D" "$E" "$ev" --layout nhwc "${qbev[@]}"
done

# ------------------------------------------------------------------------------------------------- report
if [ "$smoke" = 1 ]; then
  "$py" "$here/report.py" --cases "$work"/*/cases.jsonl --out "$work/report" --smoke --pins "$PEERS_MAIN" || exit 1
  echo "compare --smoke: report in $work/report"
else
  "$py" "$here/report.py" --cases "$work"/*/cases.jsonl --out "$root/docs/benchmarks/compare" --pins "$PEERS_MAIN $PEERS_MODELOPT" \
    --modelopt-python "$venv_mo/bin/python"
fi
}
main "$@"; exit $? # on one line: bash reads past main only after it returns
