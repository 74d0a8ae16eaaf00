#!/usr/bin/env bash
# Regenerates docs/onnx_support.md and the conformance regression list
# (tests/engine_conformance/expected_pass.txt) from a release build.
#   tools/update_onnx_support.sh   (after scripts/build.sh release onnx_conformance)
set -euo pipefail
cd "$(dirname "$0")/.."
build/tests/engine_conformance/onnx_conformance \
  --report docs/onnx_support.md \
  --write-expected tests/engine_conformance/expected_pass.txt
