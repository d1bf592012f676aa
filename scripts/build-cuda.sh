#!/usr/bin/env bash
# Compile check of the CUDA backend (no GPU needed, nothing is run): configures native/ with -DDITTO_CUDA=ON
# for sm_80 and sm_90a and builds libditto_cuda.so, the GPU op suite, the CUDA DiT golden test and the GPU benchmark. Called by .ci/run
# when nvcc exists; exits 0 with a note when it does not. Usage: scripts/build-cuda.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${1:-${DITTO_CUDA_BUILD_DIR:-build-cuda}}"
JOBS="${DITTO_BUILD_JOBS:-2}"
NVCC="$(command -v nvcc || true)"
if [[ -z "$NVCC" && -x /usr/local/cuda/bin/nvcc ]]; then NVCC=/usr/local/cuda/bin/nvcc; fi
if [[ -z "$NVCC" ]]; then
  echo "build-cuda: nvcc not found; CUDA backend not built (the CPU build is unaffected)"
  exit 0
fi
GEN=()
if command -v ninja >/dev/null 2>&1; then GEN=(-G Ninja); fi
if [[ -f "$BUILD_DIR/CMakeCache.txt" ]]; then GEN=(); fi  # keep the generator of an existing build dir
start=$(date +%s)
cmake -S native -B "$BUILD_DIR" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DDITTO_CUDA=ON \
  -DCMAKE_CUDA_COMPILER="$NVCC" -DDITTO_CUDA_ARCHS="${DITTO_CUDA_ARCHS:-80;90a}" ${DITTO_CUDA_CMAKE_ARGS:-}
cmake --build "$BUILD_DIR" -j"$JOBS" --target ditto_cuda test_cuda_ops test_cuda_dit_golden bench_cuda
for f in "$BUILD_DIR/libditto_cuda.so" "$BUILD_DIR/test_cuda_ops" "$BUILD_DIR/test_cuda_dit_golden" "$BUILD_DIR/bench_cuda"; do
  [[ -f "$f" ]] || { echo "build-cuda: missing $f"; exit 1; }
done
# The backend must export exactly one entry point and carry code for every requested architecture.
nm -D --defined-only "$BUILD_DIR/libditto_cuda.so" | grep -q ' ditto_cuda_backend_v1$'
if command -v cuobjdump >/dev/null 2>&1; then
  archs=$(cuobjdump --list-elf "$BUILD_DIR/test_cuda_ops" 2>/dev/null | grep -o 'sm_[0-9a-z]*' | sort -u | tr '\n' ' ')
  echo "build-cuda: cubins for: $archs"
fi
echo "build-cuda: ok in $(( $(date +%s) - start ))s ($BUILD_DIR)"
