#!/usr/bin/python3
"""Compiled plans: compile time, plan size and load time of ResNet-50.

  /usr/bin/python3 bench/plan_bench.py [--rounds 3] [--write]

Needs models/resnet50/model.onnx (tests/models/export_models.py --only
resnet50) and build/nereid. Each round, interleaved:
  1. `nereid compile` (fixed shape 1x3x224x224): the time of every phase and
     the plan's size;
  2. `nereid run` of the plan and of the ONNX model (3 runs, no warm-up):
     load time, first run (primitives and weight packing) and later runs;
  3. a server start with the ONNX model and --cache-directory, cold (the plan
     is compiled and cached) and warm (loaded from the cache), and one with
     the plan file as model.plan: the load times the server logs.
Each cell is the median over rounds, then every round's value. --write puts
the table into bench/RESULTS.md.
"""
import argparse
import datetime
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import results_md  # noqa: E402
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from server_fixture import Server, make_repo, nereid_binary  # noqa: E402

MODEL = os.path.join(ROOT, "models", "resnet50", "model.onnx")
SHAPES = "input:1x3x224x224"


def run(*args):
    p = subprocess.run([nereid_binary()] + list(args), capture_output=True, text=True,
                       timeout=600)
    if p.returncode != 0:
        raise RuntimeError(f"nereid {' '.join(args)} failed:\n{p.stdout}\n{p.stderr}")
    return p.stdout


def number(pattern, text):
    m = re.search(pattern, text)
    if not m:
        raise RuntimeError(f"no {pattern!r} in:\n{text}")
    return float(m.group(1))


def compile_round(plan):
    out = run("compile", MODEL, "-o", plan, "--shapes", SHAPES)
    row = {name: number(rf"{name} (\d+) ms", out)
           for name in ("read", "import", "passes", "kernels", "first run", "write")}
    row["total"] = number(r"total ([\d.]+) s", out) * 1000
    return row


def run_round(path):
    out = run("run", path, "--iterations", "3")
    return {"load": number(r"loaded \S+ in ([\d.]+) ms", out),
            "first run": number(r"first run ([\d.]+) ms", out),
            "p50": number(r"p50 ([\d.]+) ms", out)}


def server_round(tmp, plan):
    cache = os.path.join(tmp, "cache")
    shutil.rmtree(cache, ignore_errors=True)
    config = ('backend: "onnxruntime"\n'
              f'parameters {{ key: "shapes" value {{ string_value: "{SHAPES}" }} }}')
    repo = make_repo({"resnet50/config.pbtxt": config, "resnet50/1": None})
    os.symlink(MODEL, os.path.join(repo, "resnet50", "1", "model.onnx"))
    plans = make_repo({"resnet50/1": None})
    shutil.copy(plan, os.path.join(plans, "resnet50", "1", "model.plan"))
    row = {}
    try:
        for key in ("cold cache", "warm cache"):
            start = time.time()
            with Server("--cache-directory", cache, repos=[repo]) as s:
                row[key + " start"] = (time.time() - start) * 1000
                log = s.stderr()
            pattern = (r"compiled and cached the plan as \S+ in ([\d.]+) ms" if key == "cold cache"
                       else r"loaded cached plan \S+ in ([\d.]+) ms")
            row[key] = float(re.findall(pattern, log)[-1])
        start = time.time()
        with Server(repos=[plans]) as s:
            row["model.plan start"] = (time.time() - start) * 1000
            log = s.stderr()
        row["model.plan"] = float(re.findall(r"loaded plan file \S+ in ([\d.]+) ms", log)[-1])
    finally:
        shutil.rmtree(repo, ignore_errors=True)
        shutil.rmtree(plans, ignore_errors=True)
    return row


def cell(values):
    return f"{statistics.median(values):.0f} ({' / '.join(f'{v:.0f}' for v in values)})"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    if not os.path.exists(MODEL):
        sys.exit(f"{MODEL} is missing: /usr/bin/python3 tests/models/export_models.py "
                 "--only resnet50")
    tmp = tempfile.mkdtemp(prefix="nereid_plan_bench_")
    plan = os.path.join(tmp, "resnet50.plan")
    rounds = []
    try:
        for _ in range(args.rounds):
            r = {"compile": compile_round(plan), "run plan": run_round(plan),
                 "run onnx": run_round(MODEL), "server": server_round(tmp, plan)}
            rounds.append(r)
        plan_mib = os.path.getsize(plan) / (1 << 20)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    col = lambda group, key: cell([r[group][key] for r in rounds])  # noqa: E731
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "unknown CPU")
    lines = [
        f"Compiled plans, {datetime.date.today()}, commit {commit}, {cpu}, {os.cpu_count()} "
        f"vCPUs. ResNet-50 ({os.path.getsize(MODEL) / (1 << 20):.1f} MiB ONNX, FP32, "
        f"{SHAPES}), plan {plan_mib:.1f} MiB; 1 intra-op thread for `nereid run`. Each cell: "
        f"median of {args.rounds} rounds (each round's value). Times in ms.",
        "",
        f"Command: `/usr/bin/python3 bench/plan_bench.py --rounds {args.rounds} --write`",
        "",
        "| nereid compile | read | import | passes | kernels | first run | write | total |",
        "|---|---|---|---|---|---|---|---|",
        "| ms | " + " | ".join(col("compile", k) for k in
                              ("read", "import", "passes", "kernels", "first run", "write",
                               "total")) + " |",
        "",
        "| nereid run | load | first run | p50 of later runs |",
        "|---|---|---|---|",
        "| plan file | " + " | ".join(col("run plan", k) for k in ("load", "first run", "p50"))
        + " |",
        "| ONNX model | " + " | ".join(col("run onnx", k) for k in ("load", "first run", "p50"))
        + " |",
        "",
        "| nereid serve | ONNX, cold plan cache | ONNX, warm plan cache | model.plan |",
        "|---|---|---|---|",
        "| getting the plan (log: compile + store / hash the model + load / load) | " +
        " | ".join(col("server", k) for k in ("cold cache", "warm cache", "model.plan")) + " |",
        "| start until serving HTTP | " +
        " | ".join(col("server", k + " start") for k in ("cold cache", "warm cache",
                                                          "model.plan")) + " |",
    ]
    table = "\n".join(lines)
    print(table)
    if args.write:
        results_md.write_section("## Compiled plans: ResNet-50 compile and load", table)


if __name__ == "__main__":
    main()
