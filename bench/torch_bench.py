#!/usr/bin/python3
"""The pytorch backend's overhead: ResNet-18 through nereid vs libtorch alone.

  /usr/bin/python3 bench/torch_bench.py [--rounds 3] [--seconds 15] [--iterations 150] [--write]

Needs build/nereid with the pytorch plugin and build/bench/torch_bench
(cmake -DNEREID_BUILD_BENCH=ON). Writes the TorchScript ResNet-18 of
tests/models/export_torch_models.py (torchvision, random weights, seed 0) into
a temporary directory. Then, --rounds times, for 1 and 2 intra-op threads:
  1. direct: build/bench/torch_bench, forward() on one 1x3x224x224 input in a
     loop, p50 of --iterations runs after 10 warm-up runs;
  2. served: the same file in nereid (one instance, INTRA_OP_THREAD_COUNT =
     the same threads) under `nereid perf` at concurrency 1, batch 1, random
     input, over HTTP (binary tensors) and gRPC: client p50 and mean, and the
     server's own mean compute_infer (forward() alone) per request.
A VM's speed drifts by 10 % within minutes, so the rounds interleave direct
and served runs and the table gives each round's value and their median.
overhead = median served p50 - median direct p50 (also in % of the latter);
outside forward() = client mean latency - server mean forward(), the median
over rounds: what a request costs besides the model (transfer, parsing, the
input copy, scheduling, the response).
Run it on a quiet machine (nothing compiling): client, server and libtorch
share the cores. --write puts the table into bench/RESULTS.md.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "models"))
import results_md  # noqa: E402
from perf_runner import run_perf  # noqa: E402
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from server_fixture import Server  # noqa: E402

DIRECT = os.path.join(ROOT, "build", "bench", "torch_bench")
THREADS = [1, 2]
PROTOCOLS = ["http", "grpc"]


def config(threads):
    return f"""platform: "pytorch_libtorch"
max_batch_size: 8
input [ {{ name: "INPUT__0" data_type: TYPE_FP32 dims: [ 3, 224, 224 ] }} ]
output [ {{ name: "OUTPUT__0" data_type: TYPE_FP32 dims: [ 1000 ] }} ]
instance_group [ {{ count: 1 kind: KIND_CPU }} ]
parameters {{ key: "INTRA_OP_THREAD_COUNT" value {{ string_value: "{threads}" }} }}
"""


def direct(model, threads, iterations):
    out = subprocess.run([DIRECT, model, "--threads", str(threads), "--iterations",
                          str(iterations)], check=True, capture_output=True, text=True,
                         timeout=3600).stdout
    return json.loads(out.strip().splitlines()[-1])


def served(model, threads, seconds):
    rows = {}
    repo = tempfile.mkdtemp(prefix="nereid_torch_bench_")
    try:
        os.makedirs(os.path.join(repo, "resnet18", "1"))
        os.symlink(model, os.path.join(repo, "resnet18", "1", "model.pt"))
        with open(os.path.join(repo, "resnet18", "config.pbtxt"), "w") as f:
            f.write(config(threads))
        with Server(repos=[repo]) as srv:
            for protocol, target in (("http", srv.url.replace("http://", "")),
                                     ("grpc", srv.grpc_target)):
                rows[protocol] = run_perf("resnet18", protocol, target, [1], seconds, 3000,
                                          extra=("--input-data", "random"),
                                          request_timeout_s=60)[0]
    finally:
        shutil.rmtree(repo, ignore_errors=True)
    return rows


def machine():
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu}, {os.cpu_count()} vCPUs, {platform.system()} {platform.release()}"


def fmt(values):
    return f"{statistics.median(values):.2f} ({' / '.join(f'{v:.1f}' for v in values)})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--iterations", type=int, default=150)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    if not os.path.exists(DIRECT):
        sys.exit(f"{DIRECT} is missing: configure with -DNEREID_BUILD_BENCH=ON and build "
                 "torch_bench")
    import torch
    import export_torch_models
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    # (threads) -> [direct p50]; (threads, protocol) -> [served p50], [outside forward()]
    direct_p50 = {t: [] for t in THREADS}
    served_p50 = {(t, p): [] for t in THREADS for p in PROTOCOLS}
    outside = {(t, p): [] for t in THREADS for p in PROTOCOLS}
    work = tempfile.mkdtemp(prefix="nereid_torch_model_")
    try:
        export_torch_models.export(work, ["resnet18"])
        model = os.path.join(work, "resnet18", "1", "model.pt")
        for _ in range(args.rounds):
            for threads in THREADS:
                direct_p50[threads].append(direct(model, threads, args.iterations)["p50_ms"])
                for protocol, level in served(model, threads, args.seconds).items():
                    served_p50[threads, protocol].append(level["latency_p50_us"] / 1000.0)
                    outside[threads, protocol].append(
                        (level["latency_avg_us"] - level["server"]["compute_infer_us"]) / 1000.0)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    date = datetime.date.today().isoformat()
    lines = [
        f"pytorch backend overhead, {date}, commit {commit}, {machine()}; libtorch "
        f"{torch.__version__} (Debian). ResNet-18 TorchScript (traced torchvision model, random "
        "weights, seed 0), batch 1, FP32. `direct` is `build/bench/torch_bench` (forward() in a "
        f"loop, p50 of {args.iterations} runs after 10 warm-up runs); `served` is one nereid "
        "instance with `INTRA_OP_THREAD_COUNT` = the same threads under `nereid perf` at "
        f"concurrency 1 (random input, p50 of {args.seconds:g} s after 3 s warm-up), client and "
        f"server sharing the machine. {args.rounds} rounds interleave direct and served runs: "
        "each cell is the median, then every round's value. overhead = served p50 - direct p50 "
        "(medians); outside forward() = client mean latency - the server's mean compute_infer "
        "(forward() alone): what a request costs besides the model.",
        "",
        f"Command: `/usr/bin/python3 bench/torch_bench.py --rounds {args.rounds} --seconds "
        f"{args.seconds:g} --iterations {args.iterations} --write`",
        "",
        "| intra-op threads | protocol | direct p50 ms | served p50 ms | overhead ms | overhead % "
        "| outside forward() ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for threads in THREADS:
        base = statistics.median(direct_p50[threads])
        for protocol in PROTOCOLS:
            over = statistics.median(served_p50[threads, protocol]) - base
            lines.append(f"| {threads} | {protocol} | {fmt(direct_p50[threads])} | "
                         f"{fmt(served_p50[threads, protocol])} | {over:.2f} | "
                         f"{100.0 * over / base:.1f} | {fmt(outside[threads, protocol])} |")
    table = "\n".join(lines)
    print(table)
    if args.write:
        results_md.write_section("## pytorch backend: served vs libtorch alone", table)


if __name__ == "__main__":
    main()
