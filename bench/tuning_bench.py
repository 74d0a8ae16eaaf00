"""Kernel auto-tuning (issue 7): compile time and batch-1 latency of plans
compiled with several --tuning-budget-ms values, for the ONNX models given.

  /usr/bin/python3 bench/tuning_bench.py --nereid build/nereid \
      models/resnet50/model.onnx models/mobilenet_v2/model.onnx

Each model is compiled once per budget (the compile time is `nereid
compile`'s own total); then the plans run in interleaved rounds (`nereid run
--iterations N`, after a warm-up), so a change of load on the machine hits
every plan alike; the reported latency is the median over rounds of each
round's p50. Run it on a quiet machine: tuning measures the machine too.
"""
import argparse
import os
import re
import statistics
import subprocess
import tempfile


def compile_plan(nereid, model, out, budget, threads):
    p = subprocess.run([nereid, "compile", model, "-o", out, "--shapes", "input:1x3x224x224",
                        "--tuning-budget-ms", str(budget), "--threads", str(threads)],
                       capture_output=True, text=True, check=True)
    total = float(re.search(r"total ([\d.]+) s", p.stdout).group(1))
    summary = re.search(r"  tuning: .*", p.stdout)
    return total, summary.group(0).strip() if summary else "no tuning"


def p50(nereid, plan, iterations, threads):
    p = subprocess.run([nereid, "run", plan, "--iterations", str(iterations), "--warmup", "5",
                        "--threads", str(threads)], capture_output=True, text=True, check=True)
    return float(re.search(r"p50 ([\d.]+) ms", p.stdout).group(1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="+")
    parser.add_argument("--nereid", default="build/nereid")
    parser.add_argument("--budgets", default="0,2000,10000")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=20)
    args = parser.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    tmp = tempfile.mkdtemp(prefix="nereid_tuning_bench_")
    for model in args.models:
        name = os.path.basename(os.path.dirname(model)) or model
        plans = {}
        print(f"{name}, {args.threads} thread(s):")
        for budget in budgets:
            out = os.path.join(tmp, f"{name}_{budget}.plan")
            total, summary = compile_plan(args.nereid, model, out, budget, args.threads)
            plans[budget] = out
            print(f"  budget {budget:>6} ms: compile {total:6.2f} s; {summary}")
        times = {b: [] for b in budgets}
        for _ in range(args.rounds):
            for budget in budgets:
                times[budget].append(p50(args.nereid, plans[budget], args.iterations,
                                         args.threads))
        base = statistics.median(times[budgets[0]])
        for budget in budgets:
            t = statistics.median(times[budget])
            print(f"  budget {budget:>6} ms: batch-1 latency p50 {t:7.2f} ms "
                  f"({base / t:.2f}x the first) rounds {['%.2f' % x for x in times[budget]]}")


if __name__ == "__main__":
    main()
