#!/usr/bin/env python3
"""Python peers of quantbridge, one quantizer per sub-command, plus the shared evaluator.

Every quantizer reads the same pre-processed .npy tensors (written by DumpInputs.java with quantbridge's own loader)
so that no peer gets different pixels. Each sub-command is run as its own process by run.sh (under /usr/bin/time -v
and a virtual-memory cap) and prints one JSON line on success.

  peers.py ort      --model M --calib DIR --method minmax|entropy|percentile --out DIR
  peers.py nncf     --model M --calib DIR --out DIR [--format ov|onnx]
  peers.py modelopt --model M --calib DIR --method max|entropy --out DIR
  peers.py aieq     --model M --calib DIR --out DIR [--recipe static_wi8_ai8|dynamic_wi8_afp32]
                                                               (ai-edge-quantizer: full integer, or dynamic range)
  peers.py eval     --runtime ort|ov|tflite --ref M --cand A --eval DIR [--mask T | --top1 | --ctc KEYS] --out FILE
"""
import argparse
import glob
import json
import os
import sys
import time

import numpy as np


def npy_files(d):
    files = sorted(glob.glob(os.path.join(d, "*.npy")))
    if not files:
        sys.exit(f"no .npy files in {d}")
    return files


def load(f, batch=True):
    a = np.load(f).astype(np.float32)
    return a


def emit(d):
    print("RESULT " + json.dumps(d), flush=True)


# --------------------------------------------------------------------------------------------------------------- ORT
def cmd_ort(a):
    import onnx
    import onnxruntime
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    os.makedirs(a.out, exist_ok=True)
    t0 = time.time()
    pre = os.path.join(a.out, "model.pre.onnx")
    files = npy_files(a.calib)
    notes = []
    # Dynamic H/W defeat ORT's symbolic shape inference: pin the input to the calibration shape first (what
    # onnxruntime.tools.make_dynamic_shape_fixed does), then the documented pre-processing (symbolic shape inference
    # + ORT graph optimisation).
    m = onnx.load(a.model)
    shape = load(files[0]).shape
    dims = m.graph.input[0].type.tensor_type.shape.dim
    if any(d.dim_param or d.dim_value <= 0 for d in dims):
        for d, v in zip(dims, shape):
            d.Clear()
            d.dim_value = v
        notes.append(f"input shape fixed to {list(shape)} before quant_pre_process")
    opset = next(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))
    if opset < 13:
        # Per-channel DequantizeLinear needs opset 13; left at 12, ORT's quantizer writes an axis attribute that
        # ORT itself then refuses to load ("Unrecognized attribute: axis for operator DequantizeLinear").
        from onnx import version_converter
        m = version_converter.convert_version(m, 13)
        notes.append(f"opset {opset} converted to 13 with onnx.version_converter (per-channel Q/DQ needs 13)")
    fixed = os.path.join(a.out, "model.fixed.onnx")
    onnx.save(m, fixed)
    try:
        quant_pre_process(fixed, pre)
    except Exception as e:  # recorded, then the documented fallback
        notes.append(f"quant_pre_process failed ({type(e).__name__}: {e}); retried with skip_symbolic_shape=True")
        quant_pre_process(fixed, pre, skip_symbolic_shape=True)
    name = onnx.load(pre).graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(files)

        def get_next(self):
            f = next(self.it, None)
            return None if f is None else {name: load(f)}

        def rewind(self):
            self.it = iter(files)

    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[a.method]
    extra = {}
    if a.method == "percentile":
        extra["CalibPercentile"] = a.percentile
    if a.max_intermediate:
        # ORT's documented remedy for calibration memory: flush the collected outputs into the histograms every N
        # samples instead of holding every intermediate tensor of every sample.
        extra["CalibMaxIntermediateOutputs"] = a.max_intermediate
    out = os.path.join(a.out, "model.int8.onnx")
    # ORT's documented first choice: QDQ, S8S8 (int8 activations and weights), per-channel weights for CNNs.
    quantize_static(pre, out, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, calibrate_method=method,
                    extra_options=extra)
    emit({"artifact": out, "seconds": time.time() - t0, "onnxruntime": onnxruntime.__version__,
          "config": {"format": "QDQ", "activation": "QInt8", "weight": "QInt8", "per_channel": True,
                     "calibrate_method": a.method, **extra}, "notes": notes})


# -------------------------------------------------------------------------------------------------------------- NNCF
def cmd_nncf(a):
    import nncf
    os.makedirs(a.out, exist_ok=True)
    files = npy_files(a.calib)
    t0 = time.time()
    if a.format == "ov":
        import openvino as ov
        model = ov.Core().read_model(a.model)
        ds = nncf.Dataset(files, lambda f: load(f))
        q = nncf.quantize(model, ds, subset_size=len(files))
        out = os.path.join(a.out, "model.int8.xml")
        ov.save_model(q, out)  # default: remaining float constants compressed to fp16, as the docs show
        size = os.path.getsize(out) + os.path.getsize(out[:-4] + ".bin")
    else:
        import onnx
        model = onnx.load(a.model)
        name = model.graph.input[0].name
        ds = nncf.Dataset(files, lambda f: {name: load(f)})
        q = nncf.quantize(model, ds, subset_size=len(files))
        out = os.path.join(a.out, "model.int8.onnx")
        onnx.save(q, out)
        size = os.path.getsize(out)
    emit({"artifact": out, "bytes": size, "seconds": time.time() - t0, "nncf": nncf.__version__,
          "config": {"preset": "default (performance: symmetric)", "subset_size": len(files),
                     "fast_bias_correction": True, "format": a.format}})


# ---------------------------------------------------------------------------------------------------------- ModelOpt
def cmd_modelopt(a):
    import onnx
    from modelopt.onnx.quantization import quantize
    import modelopt
    os.makedirs(a.out, exist_ok=True)
    files = npy_files(a.calib)
    name = onnx.load(a.model).graph.input[0].name
    t0 = time.time()
    data = np.concatenate([load(f) for f in files], axis=0)
    out = os.path.join(a.out, "model.int8.onnx")
    # high_precision_dtype: the nodes left unquantized; modelopt's default fp16 is TensorRT's habit, fp32 keeps them
    # in float32 as quantbridge does.
    quantize(a.model, quantize_mode="int8", calibration_data={name: data}, calibration_method=a.method,
             calibration_eps=["cpu"], output_path=out, high_precision_dtype=a.hp)
    emit({"artifact": out, "seconds": time.time() - t0, "modelopt": modelopt.__version__,
          "config": {"quantize_mode": "int8", "calibration_method": a.method, "calibration_eps": ["cpu"],
                     "high_precision_dtype": a.hp}})


# ---------------------------------------------------------------------------------------------- ai-edge-quantizer
def prepare_tflite(src, dst):
    """A copy of a MediaPipe model that ai-edge-quantizer can take: each float16 constant behind a DEQUANTIZE becomes
    the float32 constant that DEQUANTIZE computes (exact: every float16 is a float32), the DEQUANTIZE goes, and a
    SignatureDef "serving_default" names the subgraph's inputs and outputs as they are. The float function is the
    same (checked on a random input: outputs equal to the last bit). Returns how many constants were converted."""
    from ai_edge_litert import schema_py_generated as fb
    from ai_edge_litert.tools import flatbuffer_utils
    m = flatbuffer_utils.read_model(src)
    deq = {i for i, oc in enumerate(m.operatorCodes)
           if max(oc.builtinCode, oc.deprecatedBuiltinCode) == fb.BuiltinOperator.DEQUANTIZE}
    converted = 0
    for sg in m.subgraphs:
        keep = []
        for op in sg.operators:
            if op.opcodeIndex in deq:
                t = sg.tensors[op.inputs[0]]
                data = m.buffers[t.buffer].data
                if t.type == fb.TensorType.FLOAT16 and data is not None and len(data) > 0:
                    f32 = np.frombuffer(np.asarray(data, dtype=np.uint8).tobytes(), dtype=np.float16).astype(np.float32)
                    b = fb.BufferT()
                    b.data = np.frombuffer(f32.tobytes(), dtype=np.uint8)
                    m.buffers.append(b)
                    sg.tensors[op.outputs[0]].buffer = len(m.buffers) - 1
                    converted += 1
                    continue
            keep.append(op)
        sg.operators = keep
        # the float16 tensors no op reads any more go, with their data: the written size is that of the float32 model
        used = set(sg.inputs) | set(sg.outputs)
        for op in sg.operators:
            used.update(i for i in op.inputs if i >= 0)
            used.update(i for i in op.outputs if i >= 0)
            used.update(i for i in (op.intermediates if op.intermediates is not None else []) if i >= 0)
        order = [i for i in range(len(sg.tensors)) if i in used]
        new_index = {old: new for new, old in enumerate(order)}
        for i in range(len(sg.tensors)):
            if i not in used and sg.tensors[i].buffer > 0:
                m.buffers[sg.tensors[i].buffer].data = None
        sg.tensors = [sg.tensors[i] for i in order]
        sg.inputs = [new_index[i] for i in sg.inputs]
        sg.outputs = [new_index[i] for i in sg.outputs]
        for op in sg.operators:
            op.inputs = [new_index[i] if i >= 0 else i for i in op.inputs]
            op.outputs = [new_index[i] if i >= 0 else i for i in op.outputs]
            if op.intermediates is not None:
                op.intermediates = [new_index[i] if i >= 0 else i for i in op.intermediates]
    if not m.signatureDefs:
        sg = m.subgraphs[0]

        def maps(indices):
            out = []
            for i in indices:
                tm = fb.TensorMapT()
                tm.name, tm.tensorIndex = sg.tensors[i].name, i
                out.append(tm)
            return out
        s = fb.SignatureDefT()
        s.signatureKey, s.subgraphIndex, s.inputs, s.outputs = "serving_default", 0, maps(sg.inputs), maps(sg.outputs)
        m.signatureDefs = [s]
    flatbuffer_utils.write_model(m, dst)
    return converted


def cmd_aieq(a):
    from ai_edge_quantizer import quantizer, recipe
    from ai_edge_litert.interpreter import Interpreter
    os.makedirs(a.out, exist_ok=True)
    t0 = time.time()
    config = {"recipe": a.recipe}
    model = a.model
    if a.prepare:  # counted in the wall time: a user would have to do it too
        model = os.path.join(a.out, "prepared.tflite")
        config["prepared"] = {"float16_constants_to_float32": prepare_tflite(a.model, model),
                              "signature_def_added": "serving_default"}
    q = quantizer.Quantizer(model)
    q.load_quantization_recipe(getattr(recipe, a.recipe)())
    if a.recipe.startswith("static"):
        files = npy_files(a.calib)
        itp = Interpreter(model_path=model)
        sig = itp.get_signature_list()
        if sig:
            key = next(iter(sig))
            in_name = sig[key]["inputs"][0]
        else:  # MediaPipe models carry no SignatureDef; the quantizer's default key is all that can be tried
            key, in_name = "serving_default", itp.get_input_details()[0]["name"]
        config["signature"] = key
        calib = {key: [{in_name: load(f)} for f in files]}
        res = q.calibrate(calib, num_threads=os.cpu_count())
        qr = q.quantize(res)
        out = os.path.join(a.out, "model.int8.tflite")
    else:  # dynamic range / weight only: no calibration data, so no signature is needed
        qr = q.quantize()
        out = os.path.join(a.out, "model.dynamic.tflite")
    qr.export_model(out, overwrite=True)
    seconds = time.time() - t0
    # what was quantized: tensor types of the written model
    types = {}
    for d in Interpreter(model_path=out).get_tensor_details():
        types[d["dtype"].__name__] = types.get(d["dtype"].__name__, 0) + 1
    notes = []
    if not types.get("int8"):
        notes.append("no int8 tensor in the written model (tensor types " + json.dumps(types) + "): nothing was "
                     "quantized, it computes what the float model does"
                     + ("; its float16 weights feed the ops through DEQUANTIZE, which the recipe leaves alone"
                        if types.get("float16") else ""))
    emit({"artifact": out, "seconds": seconds, "config": config, "tensor_types": types, "int8_tensors":
          types.get("int8", 0), "notes": notes})


# -------------------------------------------------------------------------------------------------------- evaluation
class Acc:
    """Pooled metrics exactly as quantbridge's FidelityAccumulator defines them."""

    def __init__(self, mask=None, top1=False, keys=None):
        self.mask, self.top1, self.keys = mask, top1, keys
        self.edits = self.chars = 0
        self.dot = self.rr = self.cc = self.ee = 0.0
        self.maxabs = 0.0
        self.mincos = float("inf")
        self.inter = self.union = 0
        self.agree = self.rows = 0
        self.n = 0
        self.coss = []

    def add(self, r, c):
        r = r.astype(np.float64).ravel()
        c = c.astype(np.float64).ravel()
        d, rr, cc = float(r @ c), float(r @ r), float(c @ c)
        e = r - c
        self.dot += d
        self.rr += rr
        self.cc += cc
        self.ee += float(e @ e)
        self.maxabs = max(self.maxabs, float(np.abs(e).max()))
        self.mincos = min(self.mincos, cos(d, rr, cc))
        self.coss.append(cos(d, rr, cc))
        if self.mask is not None:
            a, b = r > self.mask, c > self.mask
            self.inter += int((a & b).sum())
            self.union += int((a | b).sum())
        self.n += 1

    def add_top1(self, r, c):
        r = r.reshape(-1, r.shape[-1])
        c = c.reshape(-1, c.shape[-1])
        self.agree += int((r.argmax(-1) == c.argmax(-1)).sum())
        self.rows += r.shape[0]

    def add_ctc(self, r, c):
        """Greedy CTC strings of FP32 and the candidate (as the acceptance test's TextCrops.ctcGreedy), and their
        Levenshtein distance over code points."""
        want, got = ctc_greedy(r, self.keys), ctc_greedy(c, self.keys)
        self.edits += levenshtein(want, got)
        self.chars += len(want)
        return want, got

    def result(self):
        d = {"samples": self.n, "cosine": cos(self.dot, self.rr, self.cc), "cosine_min": self.mincos,
             "sqnr_db": 10 * np.log10(self.rr / self.ee) if self.ee > 0 else float("inf"), "max_abs": self.maxabs,
             "cosine_median": float(np.median(self.coss)) if self.coss else float("nan")}
        if self.mask is not None:
            d["mask_iou"] = self.inter / self.union if self.union else 1.0
            d["mask_threshold"] = self.mask
        if self.top1:
            d["top1_agreement"] = self.agree / self.rows if self.rows else float("nan")
        if self.keys is not None:
            d["char_agreement"] = 1.0 - self.edits / self.chars if self.chars else float("nan")
            d["char_edits"] = self.edits
            d["chars_fp32"] = self.chars
        return d


def read_keys(path):
    """ppocr_keys_v1.txt as Java's Files.readAllLines reads it, plus PaddleOCR's space character as the last class."""
    text = open(path, encoding="utf-8").read()
    lines = [ln[:-1] if ln.endswith("\r") else ln for ln in text.split("\n")]
    if text.endswith("\n"):
        lines.pop()
    return lines + [" "]


def ctc_greedy(probs, keys):
    """Argmax per time step, repeats collapsed, blank (class 0) dropped; class i is keys[i-1]."""
    p = probs.reshape(-1, probs.shape[-1])
    best = p.argmax(-1)
    out, prev = [], -1
    for k in best:
        k = int(k)
        if k != 0 and k != prev:
            out.append(keys[k - 1] if k - 1 < len(keys) else "?")
        prev = k
    return "".join(out)


def levenshtein(a, b):
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cur[j] = min(prev[j - 1] + (a[i - 1] != b[j - 1]), prev[j] + 1, cur[j - 1] + 1)
        prev = cur
    return prev[len(b)]


def cos(d, rr, cc):
    if rr == 0 and cc == 0:
        return 1.0
    if rr == 0 or cc == 0:
        return 0.0
    return d / np.sqrt(rr * cc)


class Runner:
    def __init__(self, runtime, path):
        self.runtime = runtime
        if runtime == "ort":
            import onnxruntime as ort
            so = ort.SessionOptions()
            self.s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
            self.inp = self.s.get_inputs()[0].name
            self.run = lambda x: self.s.run(None, {self.inp: x})
        elif runtime == "ov":
            import openvino as ov
            core = ov.Core()
            # f32 for every layer that is not int8: on a CPU with AMX-BF16 (this one) OpenVINO's default is bf16, also
            # for an imported blob whatever it was compiled with, which would make the "FP32" reference bf16 and run
            # every candidate's float layers in bf16 (ppocr-rec's int8 blob: 0.56 characters in bf16, 0.99 in f32)
            cfg = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
            if path.endswith(".blob"):
                with open(path, "rb") as f:
                    cm = core.import_model(f.read(), "CPU", cfg)
            else:
                cm = core.compile_model(path, "CPU", cfg)
            self.req = cm.create_infer_request()
            self.cm = cm

            def run(x):
                self.req.infer({0: x})
                return [self.req.get_output_tensor(i).data.copy() for i in range(len(cm.outputs))]
            self.run = run
        elif runtime == "tflite":
            from ai_edge_litert.interpreter import Interpreter
            self.itp = Interpreter(model_path=path, num_threads=os.cpu_count())
            self.itp.allocate_tensors()
            ind = self.itp.get_input_details()[0]
            outs = self.itp.get_output_details()

            def run(x):
                if ind["dtype"] == np.int8:
                    sc, zp = ind["quantization"]
                    x = np.clip(np.round(x / sc) + zp, -128, 127).astype(np.int8)
                self.itp.set_tensor(ind["index"], x.reshape(ind["shape"]))
                self.itp.invoke()
                res = []
                for o in sorted(outs, key=lambda o: o["name"]):
                    v = self.itp.get_tensor(o["index"])
                    if o["dtype"] == np.int8:
                        sc, zp = o["quantization"]
                        v = (v.astype(np.float32) - zp) * sc
                    res.append(v.astype(np.float32).copy())
                return res
            self.run = run
        else:
            raise ValueError(runtime)


def latency(r, x, warmup=3, iters=20):
    for _ in range(warmup):
        r.run(x)
    ts = []
    for _ in range(iters):
        t = time.perf_counter()
        r.run(x)
        ts.append((time.perf_counter() - t) * 1000)
    return {"median_ms": float(np.median(ts)), "p90_ms": float(np.percentile(ts, 90)), "iterations": iters}


def cmd_eval(a):
    files = npy_files(a.eval)
    ref = Runner(a.runtime, a.ref)
    cand = Runner(a.runtime, a.cand)
    keys = read_keys(a.ctc) if a.ctc else None
    accs = None
    strings = []
    for f in files:
        x = load(f)
        ro, co = ref.run(x), cand.run(x)
        if accs is None:
            accs = [Acc(a.mask, a.top1, keys) for _ in ro]
        for acc, r, c in zip(accs, ro, co):
            acc.add(r, c)
            if a.top1:
                acc.add_top1(r, c)
        if keys is not None:
            want, got = accs[0].add_ctc(ro[0], co[0])
            strings.append({"sample": os.path.basename(f), "fp32": want, "candidate": got})
    x = load(files[0])
    res = {"runtime": a.runtime, "outputs": [acc.result() for acc in accs],
           "latency_fp32": latency(ref, x, iters=a.iters), "latency_int8": latency(cand, x, iters=a.iters)}
    res["int8_speedup"] = res["latency_fp32"]["median_ms"] / res["latency_int8"]["median_ms"]
    if strings:
        res["strings"] = strings
    with open(a.out, "w") as fh:
        json.dump(res, fh, indent=1)
    emit(res)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    for n in ("ort", "nncf", "modelopt", "aieq"):
        s = sub.add_parser(n)
        s.add_argument("--model", required=True)
        s.add_argument("--calib", required=True)
        s.add_argument("--out", required=True)
        s.add_argument("--method", default="minmax")
        s.add_argument("--percentile", type=float, default=99.99)
        s.add_argument("--format", default="ov")
        s.add_argument("--hp", default="fp32")
        s.add_argument("--max-intermediate", type=int, default=0)
        s.add_argument("--recipe", default="static_wi8_ai8")
        s.add_argument("--prepare", action="store_true",
                       help="aieq: float16 constants to float32 and a SignatureDef added first (prepare_tflite)")
    s = sub.add_parser("eval")
    s.add_argument("--runtime", required=True)
    s.add_argument("--ref", required=True)
    s.add_argument("--cand", required=True)
    s.add_argument("--eval", required=True)
    s.add_argument("--mask", type=float)
    s.add_argument("--top1", action="store_true")
    s.add_argument("--ctc", help="CTC character list (ppocr_keys_v1.txt): greedy-decoded string agreement")
    s.add_argument("--iters", type=int, default=20)
    s.add_argument("--out", required=True)
    a = p.parse_args()
    {"ort": cmd_ort, "nncf": cmd_nncf, "modelopt": cmd_modelopt, "aieq": cmd_aieq, "eval": cmd_eval}[a.cmd](a)


if __name__ == "__main__":
    main()
