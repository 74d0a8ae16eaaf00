#!/usr/bin/python3
"""Whole-model agreement: Nereid and ONNX Runtime against PyTorch.

  /usr/bin/python3 tests/models/compare_models.py [--models models] [--nereid build/nereid]
                                                  [--only resnet50,...] [--tolerance 1e-4]

Needs the models from tests/models/export_models.py and onnxruntime-node in
tools/ortref (ONNXRUNTIME_NODE_INSTALL=skip npm install). For each model it
runs both engines on the exported input, computes the relative L2 error
||got - torch|| / ||torch|| per output and prints a markdown table. Exit 1 if
any engine that ran is above the tolerance; a model Nereid cannot load yet is
reported (with the engine's message), not counted as agreement.
"""
import argparse
import glob
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def rel_l2(got, want):
    got = got.astype(np.float64).ravel()
    want = want.astype(np.float64).ravel()
    return float(np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-30))


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    return p.returncode, (p.stdout + p.stderr).strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=os.path.join(ROOT, "models"))
    ap.add_argument("--nereid", default=os.path.join(ROOT, "build", "nereid"))
    ap.add_argument("--only", default="")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    args = ap.parse_args()
    names = sorted(os.listdir(args.models)) if not args.only else args.only.split(",")
    rows, bad = [], False
    for name in names:
        d = os.path.join(args.models, name)
        model = os.path.join(d, "model.onnx")
        inputs = sorted(glob.glob(os.path.join(d, "inputs", "*.npy")))
        feeds = []
        for f in inputs:
            feeds += ["--input", f"{os.path.splitext(os.path.basename(f))[0]}={f}"]
        want = {os.path.splitext(os.path.basename(f))[0]: np.load(f)
                for f in glob.glob(os.path.join(d, "torch", "*.npy"))}
        engines = {
            "onnxruntime": ["node", os.path.join(ROOT, "tools", "ortref", "run.js"), model] + feeds
                           + ["--out", os.path.join(d, "onnxruntime")],
            "nereid": [args.nereid, "run", model] + feeds
                      + ["--save-outputs", os.path.join(d, "nereid")],
        }
        for engine, cmd in engines.items():
            code, out = run(cmd)
            if code != 0:
                rows.append((name, engine, "-", "did not run: " + out.splitlines()[-1][:160]))
                if engine == "onnxruntime":
                    bad = True
                continue
            for out_name, ref in sorted(want.items()):
                path = os.path.join(d, engine, out_name + ".npy")
                if not os.path.exists(path):
                    rows.append((name, engine, out_name, "missing output"))
                    bad = True
                    continue
                err = rel_l2(np.load(path), ref)
                ok = err <= args.tolerance
                bad |= not ok
                rows.append((name, engine, out_name, f"{err:.2e} {'ok' if ok else 'ABOVE TOLERANCE'}"))
    print(f"| model | engine | output | relative L2 error vs PyTorch (tolerance {args.tolerance:g}) |")
    print("|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
