#!/usr/bin/env bash
# Keeps the dependency arrows of docs/architecture.md true:
#   server -> core -> common;  backends -> core interfaces;  backends/onnx -> engine -> common
#   engine never includes core/server/backends; core never includes engine/backends/server.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
check() {  # check <dir> <forbidden include prefix regex> [exempt file]
  local dir=$1 pattern=$2 exempt=${3:-}
  local hits
  hits=$(grep -rnE "#include \"(${pattern})" "$dir" --include='*.h' --include='*.cc' |
         grep -vE "${exempt:-^$}" || true)
  if [ -n "$hits" ]; then
    echo "layering violation: $dir must not include ${pattern}:"; echo "$hits"; fail=1
  fi
}
check src/common "core/|engine/|backends/|server/"
check src/engine "core/|backends/|server/"
check src/core "engine/|backends/|server/"
check src/backends "server/"
# The front ends use core only; main.cc (and tests) alone wire the built-in backends in.
check src/server "engine/|backends/" "^src/server/main.cc:|_test.cc:"
[ $fail -eq 0 ] && echo "layering: ok"
exit $fail
