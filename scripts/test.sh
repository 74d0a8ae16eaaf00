#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test:
#   1. layering check (include arrows of DESIGN.md)
#   2. release build: unit, conformance and end-to-end tests (ctest)
#   3. ASan+UBSan build: the same tests again
#   4. TSan build of the scheduler and response cache tests (the
#      protobuf-free threaded core; Debian's libprotobuf is not
#      TSan-instrumented)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh

echo "== layering check"
tools/check_layering.sh

echo "== release build + tests"
scripts/build.sh release
(cd build && ctest --output-on-failure --timeout 900)

echo "== ASan+UBSan build + tests"
scripts/build.sh asan
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$PWD/tools/lsan.supp"
(cd build-asan && ctest --output-on-failure --timeout 1800)

echo "== TSan build + scheduler and response cache tests"
scripts/build.sh tsan scheduler_test response_cache_test
TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1" timeout 900 build-tsan/src/core/scheduler_test
TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1" timeout 900 build-tsan/src/core/response_cache_test
echo "== all tests passed"
