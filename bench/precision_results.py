"""FP32 vs BF16 vs INT8 on the engine (not a timed test): runs
build/bench/precision_bench (-DNEREID_BUILD_BENCH=ON) on each exported image
model in models/ (tests/models/export_models.py) and writes the tables to
bench/RESULTS.md with --write.

Run: /usr/bin/python3 bench/precision_results.py [--calibrator minmax] [--write]
"""
import argparse
import datetime
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, HERE)
import results_md  # noqa: E402

MODELS = ["resnet50", "mobilenet_v2"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calibrator", default="minmax")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    exe = os.path.join(ROOT, "build", "bench", "precision_bench")
    if not os.path.exists(exe):
        sys.exit("build/bench/precision_bench is missing: configure with -DNEREID_BUILD_BENCH=ON")
    date = datetime.date.today().isoformat()
    lines = [
        f"Reduced precision, {date}, this 2-vCPU VM (AVX-512 VNNI, no AVX512_BF16), 2 threads, "
        f"nothing else running. `build/bench/precision_bench MODEL --batch {args.batch} "
        f"--calibration 32 --calibrator {args.calibrator}`: random weights (exported by "
        "tests/models/export_models.py), INT8 calibrated on 32 random-normal images; agreement "
        "with FP32 on 16 other random images. Accuracy on real data is the Fashion-MNIST test "
        "(engine_precision_test): FP32 90.70 %, BF16 90.70 %, INT8 90.72 / 90.70 / 90.11 % "
        "(min-max / percentile / entropy).",
        "",
        f"Command: `/usr/bin/python3 bench/precision_results.py --calibrator {args.calibrator} "
        "--write`",
        "",
        f"| model | precision | build ms | batch 1 p50 ms | batch {args.batch} images/s | "
        "x FP32 | rel. L2 error | cosine | top-1 agreement |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for model in MODELS:
        path = os.path.join(ROOT, "models", model, "model.onnx")
        if not os.path.exists(path):
            print(f"skipping {model}: {path} missing", file=sys.stderr)
            continue
        out = subprocess.run([exe, path, "--batch", str(args.batch), "--calibration", "32",
                              "--calibrator", args.calibrator, "--iterations", "20"],
                             check=True, capture_output=True, text=True, timeout=1800).stdout
        result = json.loads(out.strip().splitlines()[-1])
        fp32 = result["rows"][0]["throughput"]
        for r in result["rows"]:
            lines.append(f"| {model} | {r['precision']} | {r['build_ms']:.0f} | "
                         f"{r['p50_ms']:.2f} | {r['throughput']:.1f} | "
                         f"{r['throughput'] / fp32:.2f} | {r['rel_err']:.2e} | "
                         f"{r['cosine']:.6f} | {r['top1'] * 100:.0f} % |")
    lines += [
        "",
        "Reading: INT8 convolutions run on VNNI but each one quantizes its FP32 input and "
        "writes FP32, so the conversions eat much of the gain (ResNet-50) or more than all of it "
        "(MobileNetV2's depthwise layers); the issue's 2.5x aim needs INT8 tensors between layers "
        "(next). BF16 is emulated by oneDNN on this CPU (no AVX512_BF16), hence slower than FP32; "
        "the build time of INT8 includes calibration (one FP32 pass over the samples; two for "
        "the histogram calibrators). ONNX Runtime columns and BERT (INT8 matrix products) are "
        "not in this table yet.",
    ]
    table = "\n".join(lines)
    print(table)
    if args.write:
        results_md.write_section("## Reduced precision: FP32 vs BF16 vs INT8", table)


if __name__ == "__main__":
    main()
