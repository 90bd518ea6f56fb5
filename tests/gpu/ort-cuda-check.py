# ONNX Runtime CUDA check of quantbridge's artifacts on a GPU machine: fidelity against the FP32 model (pooled cosine
# over all outputs; det: text-mask IoU at 0.3) and median latency of one input, for the FP16 model and the int8 Q/DQ
# models, on the CUDA provider and, for comparison, the CPU provider of the same ONNX Runtime.
# Layout of the folder this script sits in (see tests/gpu/README.md for how it was filled and carried):
#   det.fp32.onnx det.fp16.onnx det.int8.onnx det.int8.ort.onnx bf.fp32.onnx bf.fp16.onnx bf.int8.onnx
#   npy/det/*.npy npy/bf/*.npy (inputs as tests/bench/compare writes them)
# Writes $OUT/gpucheck.json.
import glob, json, time, os
import numpy as np, onnxruntime as ort
here = os.path.dirname(os.path.abspath(__file__))
tasks = {
    'ppocr-det 640x640': ('det', {'fp32': 'det.fp32.onnx', 'fp16': 'det.fp16.onnx',
                                  'int8 (TensorRT layout)': 'det.int8.onnx',
                                  'int8 (--target onnxruntime)': 'det.int8.ort.onnx'}),
    'blazeface-onnx 128x128': ('bf', {'fp32': 'bf.fp32.onnx', 'fp16': 'bf.fp16.onnx', 'int8 (TensorRT layout)': 'bf.int8.onnx'}),
}
print('onnxruntime', ort.__version__, ort.get_available_providers(), flush=True)
res = {'onnxruntime': ort.__version__}
for task, (d, models) in tasks.items():
    xs = [np.load(f) for f in sorted(glob.glob(os.path.join(here, 'npy', d, '*.npy')))]
    for prov in ['CUDAExecutionProvider', 'CPUExecutionProvider']:
        if prov not in ort.get_available_providers():
            continue
        ref = None
        for name, f in models.items():
            so = ort.SessionOptions(); so.log_severity_level = 3
            key = f'{task} | {prov} | {name}'
            try:
                s = ort.InferenceSession(os.path.join(here, f), so, providers=[prov])
                inp = s.get_inputs()[0].name
                o = [np.concatenate([v.ravel() for v in s.run(None, {inp: x})]) for x in xs]
                for _ in range(5): s.run(None, {inp: xs[0]})
                t = []
                for _ in range(30):
                    t0 = time.perf_counter(); s.run(None, {inp: xs[0]}); t.append(time.perf_counter() - t0)
            except Exception as e:
                res[key] = {'error': str(e)[:400]}; print(key, res[key], flush=True); continue
            r = {'provider': s.get_providers()[0], 'median_ms': round(1000 * float(np.median(t)), 3), 'inputs': len(xs)}
            if name == 'fp32':
                ref = o
            elif ref is not None:
                a = np.concatenate(ref).astype(np.float64); b = np.concatenate(o).astype(np.float64)
                r['cosine'] = round(float(a @ b / np.sqrt((a @ a) * (b @ b))), 5)
                if d == 'det':
                    ma, mb = a > 0.3, b > 0.3
                    r['mask_iou'] = round(float((ma & mb).sum() / max(1, (ma | mb).sum())), 4)
            res[key] = r
            print(key, r, flush=True)
out = os.environ.get('OUT', os.path.join(here, 'out'))
os.makedirs(out, exist_ok=True)
json.dump(res, open(os.path.join(out, 'gpucheck.json'), 'w'), indent=1)
