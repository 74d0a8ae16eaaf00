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
# The two front ends share src/server/kserve, never each other.
check src/server/grpc "server/http/"
check src/server/http "server/grpc/"
check src/server/kserve "server/http/|server/grpc/"
# `nereid perf` is a client of the protocol: it speaks to a server over the wire only.
check src/tools/perf "core/|engine/|backends/|server/"
# gRPC stays inside src/server/grpc and perf's gRPC client: grpcpp and the
# generated service code are included only there, and never by grpc_server.h
# or grpc_client.h (which main.cc and perf_command.cc include).
grpc_hits=$(grep -rnE '#include [<"](grpcpp/|grpc/|grpc_service\.|health\.)' src \
              --include='*.h' --include='*.cc' |
            grep -vE '^src/server/grpc/[a-z_]+\.cc:|^src/server/grpc/infer_codec\.h:|^src/tools/perf/grpc_client\.cc:' || true)
if [ -n "$grpc_hits" ]; then
  echo "layering violation: gRPC headers outside src/server/grpc/*.cc and src/tools/perf/grpc_client.cc:"
  echo "$grpc_hits"; fail=1
fi
# libtorch costs ~20 s and 750 MB per translation unit and lives in its own
# plugin: only the pytorch plugin's two libtorch files include it, directly
# or through torch_instance.h.
torch_hits=$(grep -rnE '#include [<"](torch/|ATen/|c10/|backends/torch/torch_instance\.h)' src \
               --include='*.h' --include='*.cc' |
             grep -vE '^src/backends/torch/torch_(backend\.cc|instance\.cc|instance\.h):' || true)
if [ -n "$torch_hits" ]; then
  echo "layering violation: libtorch headers outside the pytorch plugin's libtorch files:"
  echo "$torch_hits"; fail=1
fi
[ $fail -eq 0 ] && echo "layering: ok"
exit $fail
