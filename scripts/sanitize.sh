#!/usr/bin/env bash
# The native ctest suite under AddressSanitizer + LeakSanitizer + UndefinedBehaviorSanitizer (native/CMakePresets.json,
# preset "asan", build in build-asan/). With no argument: every native test (slow: the golden DiT and GEMM sweeps
# run 5-20x slower under ASan). With test names: only those targets are built and run, which is what CI does
# (.ci/run; the list and its timings are in docs/reliability.md, "Sanitizers").
#   scripts/sanitize.sh                                  # the whole suite
#   scripts/sanitize.sh test_memory test_json            # a subset
set -euo pipefail
cd "$(dirname "$0")/../native"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"
cmake --preset asan >/dev/null
if [ "$#" -eq 0 ]; then
  cmake --build --preset asan
  ctest --preset asan
else
  cmake --build --preset asan --target "$@"
  regex="^($(IFS='|'; echo "$*"))\$"
  ctest --preset asan -R "$regex"
fi
