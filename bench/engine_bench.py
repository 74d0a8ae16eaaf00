#!/usr/bin/python3
"""Engine benchmark: Nereid vs ONNX Runtime vs PyTorch (TorchScript), one run.

  /usr/bin/python3 bench/engine_bench.py [--models models] [--threads 2] [--budget-s 60]
                                         [--only resnet50,mobilenet_v2,bert_base] [--write]

Needs: build/nereid and build/bench/fp32_peak (cmake -DNEREID_BUILD_BENCH=ON),
the models of tests/models/export_models.py, onnxruntime-node in tools/ortref,
Debian python3-torch. For each model: batch-1 latency (median and p99 over up
to 50 runs after warm-up, fewer when an engine needs more than --budget-s) and
batch-32 throughput (BERT: batch 8), plus the fraction of the FP32 peak
measured in the same run. --write puts the table into bench/RESULTS.md.
"""
import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import results_md  # noqa: E402
sys.path.insert(0, os.path.join(ROOT, "tests", "models"))

# Approximate FLOPs per batch item (multiply-add = 2 FLOPs).
GFLOPS_PER_ITEM = {"resnet50": 8.2, "mobilenet_v2": 0.6, "bert_base": 22.5}
BATCH = {"resnet50": 32, "mobilenet_v2": 32, "bert_base": 8}


def tile_inputs(model_dir, batch, out_dir):
    feeds = {}
    for f in sorted(os.listdir(os.path.join(model_dir, "inputs"))):
        x = np.load(os.path.join(model_dir, "inputs", f))
        x = np.repeat(x, batch, axis=0)
        path = os.path.join(out_dir, f"b{batch}_{f}")
        np.save(path, x)
        feeds[os.path.splitext(f)[0]] = path
    return feeds


def runs_for(first_ms, budget_s):
    # Up to 50 runs within the budget; an engine slower than the budget gets
    # one timed run (reported in the "runs" column).
    return int(max(1, min(50, budget_s * 1000 / max(first_ms, 1e-3))))


def nereid(model, feeds, threads, budget_s):
    base = [os.path.join(ROOT, "build", "nereid"), "run", model, "--threads", str(threads)]
    for k, v in feeds.items():
        base += ["--input", f"{k}={v}"]
    first = float(re.search(r"p50 ([\d.]+) ms", subprocess.check_output(base, text=True)).group(1))
    n = runs_for(first, budget_s)
    out = subprocess.check_output(base + ["--iterations", str(n), "--warmup", "2"], text=True)
    m = re.search(r"p50 ([\d.]+) ms .*p99 ([\d.]+) ms", out)
    return float(m.group(1)), float(m.group(2)), n


def onnxruntime(model, feeds, threads, budget_s):
    base = ["node", os.path.join(ROOT, "tools", "ortref", "run.js"), model, "--threads", str(threads)]
    for k, v in feeds.items():
        base += ["--input", f"{k}={v}"]
    first = json.loads(subprocess.check_output(base, text=True))["latency_ms"]["p50"]
    n = runs_for(first, budget_s)
    r = json.loads(subprocess.check_output(base + ["--iterations", str(n), "--warmup", "3"],
                                           text=True))
    return r["latency_ms"]["p50"], r["latency_ms"]["p99"], n


def torch_model(name):
    import torch
    import torchvision
    import export_models
    torch.manual_seed(0)
    if name == "resnet50":
        return torchvision.models.resnet50(weights=None)
    if name == "mobilenet_v2":
        return torchvision.models.mobilenet_v2(weights=None)
    return export_models.BertEncoder()


def pytorch(name, feeds, threads, budget_s):
    import torch
    torch.set_num_threads(threads)
    m = torch_model(name).eval()
    args = [torch.from_numpy(np.load(feeds[k])) for k in sorted(feeds, key=lambda k: (k != "input_ids", k))]
    with torch.no_grad():
        traced = torch.jit.trace(m, tuple(args), check_trace=False)
        traced = torch.jit.freeze(traced)
        t = time.perf_counter()
        traced(*args)
        first = (time.perf_counter() - t) * 1000
        n = runs_for(first, budget_s)
        for _ in range(3 if n > 1 else 0):
            traced(*args)
        times = []
        for _ in range(n):
            t = time.perf_counter()
            traced(*args)
            times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return times[len(times) // 2], times[min(len(times) - 1, int(0.99 * len(times)))], n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=os.path.join(ROOT, "models"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--budget-s", type=float, default=60)
    ap.add_argument("--only", default="resnet50,mobilenet_v2,bert_base")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    peak = json.loads(subprocess.check_output(
        [os.path.join(ROOT, "build", "bench", "fp32_peak"), str(args.threads), "1"], text=True))
    rows = []
    tmp = tempfile.mkdtemp(prefix="nereid_bench_")
    for name in args.only.split(","):
        d = os.path.join(args.models, name)
        model = os.path.join(d, "model.onnx")
        for batch in (1, BATCH[name]):
            feeds = tile_inputs(d, batch, tmp)
            results = {}
            for engine, fn in (("nereid", lambda: nereid(model, feeds, args.threads, args.budget_s)),
                               ("onnxruntime", lambda: onnxruntime(model, feeds, args.threads, args.budget_s)),
                               ("pytorch", lambda: pytorch(name, feeds, args.threads, args.budget_s))):
                try:
                    results[engine] = fn()
                except Exception as e:  # report, do not abort the whole table
                    results[engine] = None
                    print(f"{name} b{batch} {engine}: failed: {e}", file=sys.stderr)
            for engine, r in results.items():
                if r is None:
                    rows.append((name, batch, engine, "-", "-", "-", "-", "-", "-"))
                    continue
                p50, p99, n = r
                ips = batch * 1000.0 / p50
                frac = GFLOPS_PER_ITEM[name] * ips / peak["gflops"]
                ort = results.get("onnxruntime")
                ratio = f"{p50 / ort[0]:.2f}" if ort else "-"
                rows.append((name, batch, engine, f"{p50:.2f}", f"{p99:.2f}", str(n), f"{ips:.1f}",
                             f"{100 * frac:.1f}%", ratio))
            print(rows[-3:], file=sys.stderr)
    date = datetime.date.today().isoformat()
    lines = [f"Engine benchmark, {date}, {args.threads} threads each, FP32 peak measured in the same run: "
             f"{peak['gflops']:.0f} GFLOP/s ({peak['isa']}, `build/bench/fp32_peak`).",
             "",
             f"Command: `/usr/bin/python3 bench/engine_bench.py --threads {args.threads} --budget-s {args.budget_s:g} --write`",
             "",
             "| model | batch | engine | median ms | p99 ms | runs | items/s | % of FP32 peak | latency vs ORT |",
             "|---|---|---|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    table = "\n".join(lines)
    print(table)
    if args.write:
        results_md.write_section("## Engine: Nereid vs ONNX Runtime vs PyTorch", table)


if __name__ == "__main__":
    main()
