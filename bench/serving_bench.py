#!/usr/bin/python3
"""Serving benchmark: what the schedulers cost and what dynamic batching buys.

  /usr/bin/python3 bench/serving_bench.py [--seconds 10] [--write]

Needs models/resnet50/model.onnx (tests/models/export_models.py --only resnet50)
and build/nereid. One run measures:
  1. ResNet-50 (batch 1 requests, FP32, one instance with 2 intra-op threads)
     served over HTTP (binary tensors) at concurrency 1, 4, 16, 32, without
     and with dynamic_batching (max_batch_size 32, preferred_batch_size 4, 8, 16, 32, max_queue_delay 10 ms), with
     `nereid perf` (closed loop; throughput, p99, and the server's average
     batch = inference_count / execution_count). Beside each row: the engine's
     own throughput at that average batch size (`nereid run --batch N`, same
     threads), and served / raw;
  2. scheduler overhead per request with the identity backend (16 floats, one
     client): `nereid perf` over HTTP, server-side time split into queue and
     compute, against the whole request; the in-process number (a direct call
     of the instance vs the scheduler's enqueue -> instance thread -> callback)
     comes from build/bench/scheduler_overhead when it is built
     (-DNEREID_BUILD_BENCH=ON).
--write puts the tables into bench/RESULTS.md.
"""
import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import results_md  # noqa: E402
from perf_runner import run_perf  # noqa: E402
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from server_fixture import Server, make_repo, nereid_binary  # noqa: E402

MODEL = os.path.join(ROOT, "models", "resnet50", "model.onnx")
LEVELS = [1, 4, 16, 32]


def resnet_config(batching):
    return f"""
platform: "onnxruntime_onnx"
max_batch_size: 32
input [ {{ name: "input" data_type: TYPE_FP32 dims: [ 3, 224, 224 ] }} ]
output [ {{ name: "logits" data_type: TYPE_FP32 dims: [ 1000 ] }} ]
instance_group [ {{ count: 1 kind: KIND_CPU }} ]
parameters {{ key: "intra_op_thread_count" value {{ string_value: "2" }} }}
{"dynamic_batching { preferred_batch_size: [ 4, 8, 16, 32 ] max_queue_delay_microseconds: 10000 }" if batching else ""}
"""


def perf(url, model, levels, seconds, extra=(), input_data="random"):
    return run_perf(model, "http", url, levels, seconds, 5000, request_timeout_s=120,
                    extra=("--input-data", input_data, *extra))


_raw_cache = {}


def raw_throughput(batch, iterations):
    """Inferences/s of the engine alone at `batch` (mean latency of `nereid run`)."""
    if batch not in _raw_cache:
        out = subprocess.run([nereid_binary(), "run", MODEL, "--batch", str(batch), "--threads",
                              "2", "--warmup", "2", "--iterations", str(iterations)],
                             check=True, capture_output=True, text=True, timeout=1800).stdout
        mean_ms = float(re.search(r"mean ([0-9.]+) ms", out).group(1))
        _raw_cache[batch] = batch * 1000.0 / mean_ms
    return _raw_cache[batch]


def resnet_table(seconds):
    # Each variant alone in its own server, so neither shares the cores (or
    # OpenMP teams) with the other's idle instance.
    rows = []
    for batching, label in ((False, "no"), (True, "yes")):
        root = make_repo({"resnet/config.pbtxt": resnet_config(batching), "resnet/1": None})
        os.symlink(MODEL, os.path.join(root, "resnet", "1", "model.onnx"))
        try:
            with Server(repos=[root]) as srv:
                for level in perf(srv.url, "resnet", LEVELS, seconds):
                    s = level["server"]
                    avg_batch = s["inference_count"] / max(1, s["execution_count"])
                    rows.append((label, level["concurrency"], level["inferences_per_sec"],
                                 level["latency_p99_us"] / 1000.0, avg_batch))
        finally:
            shutil.rmtree(root)
    out = []
    for label, conc, served, p99, avg_batch in rows:
        b = max(1, int(round(avg_batch)))
        raw = raw_throughput(b, max(3, int(40 / b)))
        out.append((label, conc, served, p99, avg_batch, b, raw, served / raw))
    return out


def identity_overhead(seconds):
    with Server() as srv:
        level = perf(srv.url, "identity_fp32", [1], seconds,
                     extra=("--shape", "INPUT0:16"), input_data="zero")[0]
    s = level["server"]
    micro = None
    exe = os.path.join(ROOT, "build", "bench", "scheduler_overhead")
    if os.path.exists(exe):
        out = subprocess.run([exe], check=True, capture_output=True, text=True,
                             timeout=600).stdout
        micro = json.loads(out.strip().splitlines()[-1])
    return level, s, micro


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    if not os.path.exists(MODEL):
        sys.exit(f"{MODEL} is missing: /usr/bin/python3 tests/models/export_models.py "
                 "--only resnet50")
    resnet = resnet_table(args.seconds)
    level, s, micro = identity_overhead(min(args.seconds, 5.0))
    date = datetime.date.today().isoformat()
    lines = [
        f"Serving benchmark, {date}. `nereid perf` over HTTP (binary tensors, closed loop, "
        f"{args.seconds:g} s per level after 5 s warm-up) against one server on the same 2 "
        "cores; ResNet-50 FP32 with random weights, batch-1 requests, one instance with 2 "
        "intra-op threads; dynamic batching = `preferred_batch_size: [4, 8, 16, 32] "
        "max_queue_delay_microseconds: 10000`; `raw` is `nereid run --batch N --threads 2` (the engine alone) at "
        "the server's average batch N. Each variant runs in its own server; the first request of "
        "each new batch size builds that shape's kernels and memory plan, which shows in p99.",
        "",
        f"Command: `/usr/bin/python3 bench/serving_bench.py --seconds {args.seconds:g} --write`",
        "",
        "| dynamic batching | concurrency | served infer/s | p99 ms | avg batch | raw infer/s at that batch | served / raw |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, conc, served, p99, avg_batch, b, raw, ratio in resnet:
        lines.append(f"| {label} | {conc} | {served:.1f} | {p99:.1f} | {avg_batch:.2f} | "
                     f"{raw:.1f} (N={b}) | {ratio:.2f} |")
    lines += [
        "",
        "Scheduler overhead, identity backend (16 floats), one client over HTTP: "
        f"{level['requests_per_sec']:.0f} requests/s, client p50 {level['latency_p50_us']:.0f} us; "
        f"server side per request: request {s['request_us']:.1f} us = queue {s['queue_us']:.1f} "
        f"+ compute {s['compute_input_us'] + s['compute_infer_us'] + s['compute_output_us']:.1f} "
        "us (queue = enqueue until an instance thread starts the batch).",
    ]
    if micro:
        lines += [
            "",
            "| in process (build/bench/scheduler_overhead) | mean us/request | p50 us | p99 us |",
            "|---|---|---|---|",
        ]
        for row in micro["rows"]:
            lines.append(f"| {row['name']} | {row['mean_us']:.2f} | {row['p50_us']:.2f} | "
                         f"{row['p99_us']:.2f} |")
    table = "\n".join(lines)
    print(table)
    if args.write:
        results_md.write_section("## Serving: dynamic batching and scheduler overhead", table)


if __name__ == "__main__":
    main()
