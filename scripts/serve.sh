#!/usr/bin/env bash
# Installs dependencies, builds nereid and serves examples/model_repository
# and, with the pytorch plugin built, examples/torch_repository (HTTP on port
# 8000). Extra arguments go to `nereid serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh release nereid
repos=(--model-repository examples/model_repository)
# The TorchScript example too, when this build has the pytorch backend plugin.
if [ -f build/backends/libnereid_backend_pytorch.so ]; then
  repos+=(--model-repository examples/torch_repository)
fi
exec build/nereid serve "${repos[@]}" "$@"
