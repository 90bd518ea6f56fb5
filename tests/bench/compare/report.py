#!/usr/bin/env python3
"""Turns the cases run.sh recorded into results.json and a Markdown table (README.md) with the machine and versions."""
import argparse
import datetime
import json
import os
import platform
import re
import subprocess

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))

MODELS = {
    "det": "ppocr-det (ch_PP-OCRv4_det_infer.onnx, 640x640, 64 calibration / 27 held-out photos, task metric: pooled "
           "text-mask IoU at 0.3)",
    "cls": "ppocr-cls (ch_ppocr_mobile_v2.0_cls_infer.onnx, 48x192 photo strips, upright and rotated 180 degrees, "
           "task metric: top-1 agreement with FP32)",
    "rec": "ppocr-rec (ch_PP-OCRv4_rec_infer.onnx, [1,3,48,1344] text lines that the float detector finds, cut and "
           "padded as issue 3's acceptance test does: 56 lines of 9 photos calibrate, the 13 lines of imageTextN.png "
           "evaluate; task metric: greedy-CTC character agreement with FP32, 1 - edits / FP32 characters)",
    "wakeword": "wakeword-embed (embedding_model.tflite, true FP32, [1,76,32,1] mel windows of espeak-ng speech: "
                "every 8th calibration window, every 4th held-out window; no task metric: cosine/SQNR of the "
                "96-d embedding)",
    "blazeface": "blazeface (face_detection_short_range.tflite, 128x128 NHWC in [-1, 1], 64 / 27 photos; no task "
                 "metric: cosine/SQNR per output, classificators / regressors)",
    "selfie": "selfie-seg (selfie_segmentation.tflite, float16 weights, custom op Convolution2DTransposeBias, 256x256 "
              "NHWC in [0, 1], 64 / 27 photos; task metric: pooled person-mask IoU at 0.5 against FP32)",
    "pose": "pose-lite (pose_landmark_lite.tflite, float16 weights, 256x256 NHWC in [0, 1], 64 / 27 photos; no task "
            "metric: cosine/SQNR per output, Identity (landmarks) / _1 (pose flag) / _2 (segmentation) / _3 (heatmap) "
            "/ _4 (world landmarks))",
}


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, cwd=ROOT, timeout=120).stdout.strip()
    except Exception as e:  # noqa: BLE001
        return f"unavailable ({e})"


def parse_time(path):
    d = {}
    if not os.path.exists(path):
        return d
    for line in open(path, errors="replace"):
        line = line.strip()
        if line.startswith("Maximum resident set size"):
            d["peak_rss_mib"] = int(line.split(":")[-1]) / 1024
        elif line.startswith("Elapsed (wall clock)"):
            v = line.split("):")[-1].strip().split(":")
            s = 0.0
            for part in v:
                s = s * 60 + float(part)
            d["wall_s"] = s
        elif line.startswith("Command terminated by signal"):
            d["signal"] = int(line.split()[-1])
        elif line.startswith("Exit status"):
            d["exit_status"] = int(line.split(":")[-1])
    return d


def result_line(log):
    if not os.path.exists(log):
        return None
    for line in reversed(open(log, errors="replace").read().splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return None


def failure(log, rc, cap):
    text = open(log, errors="replace").read() if os.path.exists(log) else ""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("\t")]
    last = lines[-1] if lines else ""
    for ln in reversed(lines):
        if re.search(r"Error|error|Exception|bad_alloc|Killed|failed", ln):
            last = ln
            break
    oom = re.search(r"MemoryError|bad_alloc|Cannot allocate memory|OutOfMemoryError|Failed to allocate|"
                    r"std::bad_alloc|out of memory", text) or rc in (137, 9)
    kind = f"out of memory under the {cap} GiB address-space cap" if oom else f"failed (exit {rc})"
    return kind, last[:400]


def size_of(artifact):
    if not os.path.exists(artifact):
        return None
    n = os.path.getsize(artifact)
    if artifact.endswith(".xml"):
        b = artifact[:-4] + ".bin"
        if os.path.exists(b):
            n += os.path.getsize(b)
    return n


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cases", required=True, nargs="+")
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--out", required=True)
    p.add_argument("--pins", default="")
    p.add_argument("--modelopt-python")
    a = p.parse_args()
    cases = [json.loads(ln) for f in a.cases for ln in open(f) if ln.strip()]
    # a re-run case (COMPARE_PEERS) replaces the earlier one, in the earlier one's place
    latest = {(c["model"], c["peer"]): c for c in cases}
    seen = set()
    ordered = []
    for c in cases:
        k = (c["model"], c["peer"])
        if k not in seen:
            seen.add(k)
            ordered.append(latest[k])
    cases = ordered
    if a.smoke:
        MODELS["det"] = "ppocr-det smoke: 8 calibration / 4 held-out photos, 3 timed runs"
    by_key = {}
    rows = []
    for c in cases:
        base = c["base"]
        t = parse_time(base + ".time")
        r = {"model": c["model"], "peer": c["peer"], "runtime": c["runtime"],
             "artifact": os.path.relpath(c["artifact"], ROOT), "memory_cap_gib": c["cap_gb"],
             "load_average_before": c.get("load_before"), "quantbridge_jar_built": c.get("quantbridge_jar_built"),
             "git_head": c.get("git_head")}
        if c["peer"].endswith("(Q/DQ in OpenVINO)"):
            src = by_key.get((c["model"], c["peer"].replace(" (Q/DQ in OpenVINO)", "")))
            if src and not src["status"].startswith("ok"):
                r["status"] = "not judged: the row that writes this Q/DQ ONNX failed"
                r["calibration_wall_s"] = r["peak_rss_mib"] = None
                c = dict(c, rc=1, eval_rc="skipped")
                base = c["base"] + ".not-judged"  # its evaluation (of a stale artifact) is not read
            elif src:
                for k in ("calibration_wall_s", "peak_rss_mib", "quantizer_seconds", "artifact_bytes", "config"):
                    if k in src:
                        r[k] = src[k]
                r["note"] = "the same Q/DQ ONNX as the ONNX Runtime row, compiled by OpenVINO"
        elif c["rc"] == 0:
            r["status"] = "ok"
            r["calibration_wall_s"] = t.get("wall_s")
            r["peak_rss_mib"] = t.get("peak_rss_mib")
            res = result_line(base + ".log")
            if res:
                r["quantizer_seconds"] = res.get("seconds")
                r["config"] = res.get("config")
                if res.get("notes"):
                    r["notes"] = res["notes"]
                if res.get("int8_tensors") == 0:
                    r["status"] = "wrote an unquantized model"
                    r["tensor_types"] = res.get("tensor_types")
            rep = os.path.join(os.path.dirname(c["artifact"]), "report.json")
            if c["peer"].startswith("quantbridge") and os.path.exists(rep):
                q = json.load(open(rep))
                r["quantizer_seconds"] = q.get("calibration", {}).get("seconds")
                r["config"] = {"calibrator": q.get("calibrator"), "backend": q.get("backend")}
                r["quantbridge_own_fidelity"] = q.get("fidelity")
        else:
            kind, msg = failure(base + ".log", c["rc"], c["cap_gb"])
            r["status"] = kind
            r["error"] = msg
            r["calibration_wall_s"] = t.get("wall_s")
            r["peak_rss_mib"] = t.get("peak_rss_mib")
        r.setdefault("status", "ok")
        if c["rc"] == 0:  # a failed quantizer's folder may still hold an earlier run's artifact
            r["artifact_bytes"] = r.get("artifact_bytes") or size_of(c["artifact"])
        if str(c["eval_rc"]) == "0" and os.path.exists(base + ".eval.json"):  # not one left by an earlier run
            e = json.load(open(base + ".eval.json"))
            r["outputs"] = e["outputs"]
            r["latency_fp32_ms"] = e["latency_fp32"]["median_ms"]
            r["latency_int8_ms"] = e["latency_int8"]["median_ms"]
            r["int8_speedup"] = e["int8_speedup"]
            if r["status"] == "ok" and e["outputs"] and min(x["cosine"] for x in e["outputs"]) < 0.5:
                meds = [x.get("cosine_median") for x in e["outputs"]]
                if all(m is not None and m > 0.9 for m in meds):
                    r["status"] = ("ok per sample, but the pooled metrics are dominated by an outlier sample "
                                   "(see cosine_min / median)")
                else:
                    r["status"] = "runs, but the output collapsed"
        elif c["rc"] == 0 and c["eval_rc"] != "skipped":
            kind, msg = failure(base + ".eval.log", 1, c["cap_gb"])
            r["status"] = "artifact does not run in " + c["runtime"]
            r["error"] = msg
        by_key[(c["model"], c["peer"])] = r
        rows.append(r)

    lscpu = sh("lscpu")
    cpu = re.search(r"Model name:\s*(.*)", lscpu)
    flags = re.search(r"Flags:\s*(.*)", lscpu)
    fl = flags.group(1).split() if flags else []
    versions = {
        "java": sh("java -version 2>&1 | head -1"),
        "quantbridge": sh("QUANTBRIDGE_NO_BUILD=1 bin/quantbridge --version"),
        "quantbridge_commit": sh("git rev-parse HEAD"),
        "quantbridge_tree": ("uncommitted changes in " + sh("git status --porcelain | wc -l") + " paths (other "
                             "engineers' work in progress; the CLI jar as built at "
                             + datetime.datetime.fromtimestamp(os.path.getmtime(
                                 os.path.join(ROOT, "quantbridge-cli/target/quantbridge-cli.jar"))).isoformat(
                                     timespec="seconds") + ")"),
        "quantbridge_backends": sh("QUANTBRIDGE_NO_BUILD=1 bin/quantbridge backends 2>&1 | grep -E 'usable|unusable'"
                                   " | grep -v precisions"),
        "python": platform.python_version(),
        "pins": a.pins.split(),
        "pip_main": sh(f"{os.path.join(ROOT, '.cache/compare-venv/bin/pip')} freeze 2>/dev/null").splitlines(),
    }
    if a.modelopt_python and os.path.exists(a.modelopt_python):
        versions["pip_modelopt"] = [ln for ln in sh(f"{a.modelopt_python} -m pip freeze 2>/dev/null").splitlines()
                                    if re.match(r"(nvidia-modelopt|onnx|onnxruntime|torch|numpy)[=-]", ln, re.I)
                                    or ln.lower().startswith(("onnx", "onnxruntime"))]
    machine = {"cpu": cpu.group(1) if cpu else platform.processor(), "cores": os.cpu_count(),
               "isa": [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8") if f in fl],
               "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
               "load_average_at_report": os.getloadavg(),
               "shared": "2 cores shared with other engineers' builds and tests: latencies and wall times are noisy"}
    out = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "machine": machine,
           "versions": versions, "models": MODELS, "results": rows}
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(out, f, indent=1, default=str)
    with open(os.path.join(a.out, "README.md"), "w") as f:
        f.write(markdown(out))
    print(f"report: {len(rows)} cases -> {a.out}/results.json, README.md")


def fmt(v, spec):
    return "—" if v is None else format(v, spec)


def markdown(o):
    m = o["machine"]
    v = o["versions"]
    s = ["# quantbridge vs the Python peers, side by side", "",
         f"Generated by `tests/bench/compare/run.sh` on {o['date']}. One machine, one run, the same inputs for every",
         "quantizer: bit-identical `.npy` tensors written with quantbridge's own split (`DataSplit`, seed 1) and",
         "loader (`ImageLoader`). Each artifact is judged against the FP32 model in its own runtime (ONNX Runtime for",
         "Q/DQ ONNX, OpenVINO for OpenVINO, the LiteRT interpreter for .tflite), on the held-out tensors only, with",
         "pooled metrics (sums over all held-out samples before the ratio, as quantbridge's `FidelityAccumulator`).",
         "Wall time and peak RSS are for the whole quantizer process (`/usr/bin/time -v`; model load, calibration,",
         "writing), each under an address-space cap (`ulimit -v`). Latency: median of 20 runs of one input after 3",
         "warm-ups, FP32 and INT8 in the same process and runtime. Rows named `dynamic` are dynamic-range models",
         "(int8 weights, float activations quantized on the fly by the kernels; no calibration data): their INT8",
         "column is that model.", "",
         f"**Machine:** {m['cpu']}, {m['cores']} cores ({', '.join(m['isa'])}), {m['memory_gib']} GiB; "
         f"{m['shared']}.  ", f"**Java:** {v['java']}; **quantbridge** {v['quantbridge']} at commit "
         f"`{v['quantbridge_commit'][:12]}`, {v['quantbridge_tree']}.  ",
         f"**Python** {v['python']}; peers pinned: `{' '.join(v['pins'])}` (full `pip freeze` in results.json).", "",
         "What the numbers say (where quantbridge leads, where it trails, and why): [ANALYSIS.md](ANALYSIS.md)."
         " Raw numbers, configurations and error messages: [results.json](results.json).", ""]
    for model, title in o["models"].items():
        rows = [r for r in o["results"] if r["model"] == model]
        if not rows:
            continue
        s += [f"## {title}", "",
              "| quantizer | runtime | cosine | median cos | SQNR dB | task | wall s | peak RSS MiB | size KiB | FP32 ms | INT8 ms "
              "| speed-up | load | status |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            outs = r.get("outputs") or []
            if outs:
                cosv = " / ".join(fmt(x["cosine"], ".4f") for x in outs)
                med = " / ".join(fmt(x.get("cosine_median"), ".4f") for x in outs)
                sq = " / ".join(fmt(x["sqnr_db"], ".2f") for x in outs)
                task = "—"
                if "mask_iou" in outs[0]:
                    task = f"IoU {outs[0]['mask_iou']:.4f}"
                elif "top1_agreement" in outs[0]:
                    task = f"top-1 {outs[0]['top1_agreement']:.4f}"
                elif "char_agreement" in outs[0]:
                    task = f"chars {outs[0]['char_agreement']:.4f}"
            else:
                cosv = med = sq = task = "—"
            status = r["status"] if r["status"].startswith("ok") else (
                f"**{r['status']}**" + (f": {r['error']}" if r.get("error") else ""))
            if r.get("notes"):
                status += " (" + "; ".join(r["notes"]) + ")"
            if r.get("note"):
                status += " (" + r["note"] + ")"
            size = r.get("artifact_bytes")
            s.append(f"| {r['peer']} | {r['runtime']} | {cosv} | {med} | {sq} | {task} | {fmt(r.get('calibration_wall_s'), '.1f')}"
                     f" | {fmt(r.get('peak_rss_mib'), '.0f')} | {fmt(size / 1024 if size else None, '.0f')}"
                     f" | {fmt(r.get('latency_fp32_ms'), '.1f')} | {fmt(r.get('latency_int8_ms'), '.1f')}"
                     f" | {fmt(r.get('int8_speedup'), '.2f')} | {fmt(r.get('load_average_before'), '.1f')}"
                     f" | {status.replace('|', '/')} |")
        s.append("")
    return "\n".join(s) + "\n"


if __name__ == "__main__":
    main()
