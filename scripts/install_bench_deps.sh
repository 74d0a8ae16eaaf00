#!/usr/bin/env bash
# Installs what the whole-model checks and the engine benchmark need on top of
# scripts/install_deps.sh: Debian's PyTorch (model export, the PyTorch column),
# OpenBLAS (Debian's torch is built with BLAS_INFO=generic: without an
# optimized libblas.so.3 its nn.Linear runs on reference BLAS, ~1.8 GFLOP/s,
# and BERT takes seconds), Node.js + npm for onnxruntime-node (tools/ortref).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends \
  python3-torch python3-torchvision libopenblas0-openmp nodejs npm
if [ ! -d tools/ortref/node_modules/onnxruntime-node ]; then
  (cd tools/ortref && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund)
fi
