#!/usr/bin/env bash
# Installs dependencies, builds nereid and serves examples/model_repository
# (HTTP on port 8000). Extra arguments go to `nereid serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh release nereid
exec build/nereid serve --model-repository examples/model_repository "$@"
