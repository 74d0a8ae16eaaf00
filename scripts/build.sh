#!/usr/bin/env bash
# Configures and builds one flavour of Nereid.
#   scripts/build.sh [release|asan|tsan] [ninja targets...]
set -euo pipefail
cd "$(dirname "$0")/.."
flavour="${1:-release}"
shift || true
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
case "$flavour" in
  release) dir=build; extra=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  # No libtorch plugin in the sanitizer flavours: libtorch is not
  # instrumented, and its two translation units would double their build.
  asan) dir=build-asan; extra=(-DCMAKE_BUILD_TYPE=Debug "-DNEREID_SANITIZE=address,undefined"
                              -DNEREID_TORCH=OFF) ;;
  tsan) dir=build-tsan; extra=(-DCMAKE_BUILD_TYPE=Debug "-DNEREID_SANITIZE=thread"
                              -DNEREID_TORCH=OFF) ;;
  *) echo "unknown flavour '$flavour' (release|asan|tsan)" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" -G Ninja "${extra[@]}" >/dev/null
cmake --build "$dir" -j "$(nproc)" ${1:+--target "$@"}
