"""Reduced precision on the engine beside ONNX Runtime (not a timed test).

For each exported model in models/ (tests/models/export_models.py: ResNet-50,
MobileNetV2, BERT-base, random weights), in one run:
  * Nereid FP32, BF16 and INT8 (and INT8 without the chain pass, to show
    what keeping tensors quantized between layers buys):
    build/bench/precision_bench (-DNEREID_BUILD_BENCH=ON) compiles each
    precision (compile ms: passes, calibration, kernels), loads its plan file
    back (load ms), times batch 1 (p50) and batch B (throughput; B = 32 for
    the image models, 8 for BERT) and compares the first output with FP32 on
    inputs the calibration never saw;
  * ONNX Runtime FP32 (onnxruntime-node, tools/ortref/run.js) on the same
    inputs (precision_bench --dump), same thread count;
  * ONNX Runtime INT8 on a QDQ model of ours: `nereid compile --precision
    int8 --write-calibration-table` on the same calibration samples, then
    tools/make_qdq.py; ONNX Runtime fuses it into QLinearConv / MatMulInteger
    where its QDQ rules allow.
Agreement columns are against Nereid FP32 (which matches ONNX Runtime FP32 to
the numbers in the ORT FP32 row): relative L2 error, cosine similarity and
top-1 agreement (argmax over the output's last dimension: per image for the
classifiers, per token over the 768 hidden units for BERT).

Run: /usr/bin/python3 bench/precision_results.py [--calibrator minmax]
         [--only resnet50,mobilenet_v2,bert_base] [--threads 2] [--write]
"""
import argparse
import datetime
import glob
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
import results_md  # noqa: E402

MODELS = ["resnet50", "mobilenet_v2", "bert_base"]
BATCH = {"resnet50": 32, "mobilenet_v2": 32, "bert_base": 8}
SECTION = "## Reduced precision: Nereid FP32 / BF16 / INT8 beside ONNX Runtime"


def nereid(exe, model, path, args, dump):
    extra = ["--threads", str(args.threads), "--batch", str(BATCH[model]),
             "--calibrator", args.calibrator, "--dump", dump,
             "--precisions", "bf16,int8,int8-nochain"]
    if model == "bert_base":
        extra += ["--seq", "128", "--calibration", "8", "--eval", "4", "--iterations", "10"]
    else:
        extra += ["--calibration", "32", "--iterations", "20"]
    out = subprocess.run([exe, path] + extra, check=True, capture_output=True, text=True,
                         timeout=3600).stdout
    return json.loads(out.strip().splitlines()[-1])


def ort(model_path, inputs_dir, threads, iterations, out_dir=None):
    cmd = ["node", os.path.join(ROOT, "tools", "ortref", "run.js"), model_path,
           "--threads", str(threads), "--warmup", "2", "--iterations", str(iterations)]
    for f in sorted(glob.glob(os.path.join(inputs_dir, "*.npy"))):
        cmd += ["--input", f"{os.path.basename(f)[:-4]}={f}"]
    if out_dir:
        cmd += ["--out", out_dir]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=3600).stdout
    return json.loads(out.strip().splitlines()[-1])


def agreement(y, ref):
    y, ref = y.astype(np.float64), ref.astype(np.float64)
    rel = float(np.linalg.norm(y - ref) / np.linalg.norm(ref))
    cos = float((y.ravel() @ ref.ravel()) / (np.linalg.norm(y) * np.linalg.norm(ref)))
    k = ref.shape[-1]
    top1 = float(np.mean(y.reshape(-1, k).argmax(1) == ref.reshape(-1, k).argmax(1)))
    return rel, cos, top1


def ort_row(name, model_path, dump, model, args, reference):
    """ONNX Runtime on the dumped inputs: batch-1 p50, batch-B throughput, agreement."""
    with tempfile.TemporaryDirectory() as out_dir:
        ort(model_path, os.path.join(dump, "eval"), args.threads, 1, out_dir)
        ys = {os.path.basename(f)[:-4]: np.load(f)
              for f in sorted(glob.glob(os.path.join(out_dir, "*.npy")))}
    one = ort(model_path, os.path.join(dump, "one"), args.threads,
              10 if model == "bert_base" else 20)
    many = ort(model_path, os.path.join(dump, "many"), args.threads, 3)
    # The output that matches FP32's first output in shape.
    y = next((v for v in ys.values() if v.shape == reference.shape), None)
    rel, cos, top1 = agreement(y, reference) if y is not None else (float("nan"),) * 3
    return {"precision": name, "build_ms": None, "load_ms": None,
            "p50_ms": one["latency_ms"]["p50"],
            "throughput": BATCH[model] / (many["latency_ms"]["mean"] / 1000.0),
            "rel_err": rel, "cosine": cos, "top1": top1}


def qdq_model(model_path, dump, args, work):
    """Our INT8 calibration as a QDQ model for ONNX Runtime (None if it fails)."""
    table = os.path.join(work, "table.json")
    compiled = subprocess.run(
        [os.path.join(ROOT, "build", "nereid"), "compile", model_path, "-o",
         os.path.join(work, "int8.plan"), "--precision", "int8", "--calibration-data",
         os.path.join(dump, "calib"), "--calibrator", args.calibrator,
         "--write-calibration-table", table], capture_output=True, text=True, timeout=3600)
    if compiled.returncode != 0:
        print(f"nereid compile failed: {compiled.stderr}", file=sys.stderr)
        return None, ""
    qdq = os.path.join(work, "model_qdq.onnx")
    made = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tools", "make_qdq.py"),
                           model_path, table, "-o", qdq], capture_output=True, text=True,
                          timeout=3600)
    if made.returncode != 0:
        print(f"make_qdq failed: {made.stderr}", file=sys.stderr)
        return None, ""
    return qdq, made.stdout.strip()


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calibrator", default="minmax")
    ap.add_argument("--only", default=",".join(MODELS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    exe = os.path.join(ROOT, "build", "bench", "precision_bench")
    if not os.path.exists(exe):
        sys.exit("build/bench/precision_bench is missing: configure with -DNEREID_BUILD_BENCH=ON")
    have_ort = os.path.isdir(os.path.join(ROOT, "tools", "ortref", "node_modules",
                                          "onnxruntime-node"))
    if not have_ort:
        print("onnxruntime-node missing (scripts/install_bench_deps.sh): no ONNX Runtime rows",
              file=sys.stderr)
    date = datetime.date.today().isoformat()
    lines = [
        f"{date}, this 2-vCPU VM (AVX-512 VNNI, no AVX512_BF16), {args.threads} threads, "
        "nothing else running, one run. Random weights (tests/models/export_models.py); "
        "images: random-normal, INT8 calibrated on 32 of them (" + args.calibrator + "), "
        "agreement on 16 others; BERT-base: sequence 128, random token ids with the last "
        "quarter padding, calibrated on 8 sequences, agreement on last_hidden_state of 4 others "
        "(top-1 = argmax over the 768 hidden units per token). Throughput at batch 32 (BERT: "
        "8). Compile = passes + calibration + kernels (`nereid compile` does the same); load = "
        "reading the plan file back. Agreement is against Nereid FP32. ONNX Runtime: "
        "onnxruntime-node, same inputs and threads; its INT8 row runs a QDQ model of ours "
        "(`nereid compile --write-calibration-table` on the same calibration samples, then "
        "tools/make_qdq.py). Accuracy on real data: Fashion-MNIST (engine_precision_test, "
        "convolutions and fully connected layers reduced): FP32 90.70 %, BF16 90.71 %, INT8 "
        "90.71 / 90.71 / 90.24 % (min-max / percentile / entropy); its QDQ model 90.72 % on "
        "Nereid and on ONNX Runtime.",
        "",
        f"Command: `/usr/bin/python3 bench/precision_results.py --calibrator {args.calibrator} "
        f"--threads {args.threads} --write`",
        "",
        "| model | runtime, precision | compile ms | plan load ms | batch 1 p50 ms | "
        "batch B items/s | x Nereid FP32 | rel. L2 error | cosine | top-1 agreement |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for model in [m for m in MODELS if m in args.only.split(",")]:
        path = os.path.join(ROOT, "models", model, "model.onnx")
        if not os.path.exists(path):
            print(f"skipping {model}: {path} missing", file=sys.stderr)
            continue
        with tempfile.TemporaryDirectory() as dump:
            result = nereid(exe, model, path, args, dump)
            rows = [dict(r, precision="Nereid " + r["precision"]) for r in result["rows"]]
            reference = np.load(os.path.join(dump, "fp32_output.npy"))
            if have_ort:
                rows.append(ort_row("ONNX Runtime FP32", path, dump, model, args, reference))
                qdq, made = qdq_model(path, dump, args, dump)
                if qdq is not None:
                    rows.append(ort_row("ONNX Runtime INT8 (our QDQ)", qdq, dump, model, args,
                                        reference))
                    notes.append(f"{model}: {made.replace(dump + '/', '')}")
        fp32 = rows[0]["throughput"]
        for r in rows:
            lines.append(
                f"| {model} | {r['precision']} | {fmt(r['build_ms'], '.0f')} | "
                f"{fmt(r['load_ms'], '.0f')} | {r['p50_ms']:.2f} | {r['throughput']:.1f} | "
                f"{r['throughput'] / fp32:.2f} | {r['rel_err']:.2e} | {r['cosine']:.6f} | "
                f"{r['top1'] * 100:.1f} % |")
        print("\n".join(lines[-len(rows):]), flush=True)
    lines += ["", "QDQ models: " + "; ".join(notes) if notes else ""]
    table = "\n".join(lines).rstrip()
    print(table)
    if args.write:
        results_md.write_section(SECTION, table)


if __name__ == "__main__":
    main()
