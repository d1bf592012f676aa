#!/usr/bin/env bash
# One-call GPU proof (run on a lent GPU machine: nvcc, CMake, ninja, PyTorch; no Node, no network).
# Builds the engine with the CUDA backend, then runs, each part time-boxed and continuing past failures:
#   1. every ctest (CPU engine + device choice with DITTO_TEST_EXPECT_CUDA=1 + the GPU op suite)
#   2. the CUDA DiT forward vs the golden DiT cases and the glyph fixture (test_cuda_dit_golden, own log)
#   3. the GPU op suite under compute-sanitizer (memcheck, racecheck), the DiT test under memcheck
#   4. bench_cuda (Ditto) and examples/bench/cuda_torch.py (PyTorch eager+SDPA, torch.compile), joined into a table
# Everything lands in $OUT (default ./gpu-out): gpu-check.log (set -x trace), per-part logs, bench.md, SUMMARY.txt.
# The reference data (../shared) does not travel to a lent machine: run `scripts/gpu-check.sh --stage` here
# first; it copies the DiT golden cases and the glyph fixture (~22 MB) into .gpu-shared/ (git-excluded) and
# the device call carries it (carry: [".gpu-shared"]). $DITTO_SHARED overrides the lookup.
set -uo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == "--stage" ]]; then
  src="${DITTO_SHARED:-../shared}"
  rm -rf .gpu-shared && mkdir -p .gpu-shared/golden .gpu-shared/fixtures/glyphs || exit 1
  cp -r "$src/golden/dit-official" "$src/golden/dit-diffusers" .gpu-shared/golden/ || exit 1
  cp "$src"/fixtures/glyphs/{dit.json,dit.safetensors,reference-io.safetensors} .gpu-shared/fixtures/glyphs/ || exit 1
  chmod -R u+w .gpu-shared
  exclude="$(git rev-parse --git-path info/exclude)" && mkdir -p "$(dirname "$exclude")" &&
    { grep -qx '/.gpu-shared/' "$exclude" 2>/dev/null || echo '/.gpu-shared/' >> "$exclude"; }
  echo "gpu-check: staged $(du -sh .gpu-shared | cut -f1) in .gpu-shared; carry \".gpu-shared\" in the device call"
  exit 0
fi
SHARED="${DITTO_SHARED:-}"
for cand in ../shared .gpu-shared; do
  [[ -z "$SHARED" && -d "$cand/golden" ]] && SHARED="$(cd "$cand" && pwd)"
done
export DITTO_SHARED="${SHARED:-../shared}"
OUT="${OUT:-$PWD/gpu-out}"
mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu-check.log") 2>&1
set -x
START=$(date +%s)
BUDGET="${GPU_CHECK_BUDGET_S:-570}"
BUILD="${GPU_BUILD_DIR:-build-gpu}"
JOBS="$(nproc)"
declare -A RESULT
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
part() {  # part <name> <timeout-s> <cmd...>: runs, logs to $OUT/<name>.log, records the exit code
  local name="$1" limit="$2"; shift 2
  local remaining; remaining=$(left)
  if (( remaining < 15 )); then RESULT[$name]="SKIPPED (out of time)"; return; fi
  (( limit > remaining - 5 )) && limit=$(( remaining - 5 ))
  timeout --kill-after=5 "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  if (( rc == 0 )); then RESULT[$name]="OK"; elif (( rc == 77 )); then RESULT[$name]="SKIPPED (no GPU)"; elif (( rc == 124 || rc == 137 )); then RESULT[$name]="TIMEOUT (${limit}s)"; else RESULT[$name]="FAIL (rc=$rc)"; fi
  tail -n 40 "$OUT/$name.log"
}

nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true
nvcc --version > "$OUT/nvcc.txt" 2>&1 || true
CAP=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '. ')
ARCHS="80;90a"
[[ -n "$CAP" && "$CAP" != "80" && "$CAP" != "90" ]] && ARCHS="80;90a;${CAP}"
CUBLAS_ROOT=$(python3 -c "import nvidia.cublas as m; print(list(m.__path__)[0])" 2>/dev/null || true)
TORCH_LIB=$(python3 -c "import torch, os; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))" 2>/dev/null || true)
export LD_LIBRARY_PATH="${CUBLAS_ROOT:+$CUBLAS_ROOT/lib:}${LD_LIBRARY_PATH:-}"
# Wheels ship libcublasLt.so.N without the unversioned dev symlink; give CMake one to find.
if [[ -n "$CUBLAS_ROOT" && ! -e "$CUBLAS_ROOT/lib/libcublasLt.so" ]]; then
  mkdir -p "$OUT/.cublas-link" && ln -sf "$(ls "$CUBLAS_ROOT"/lib/libcublasLt.so.* | head -1)" "$OUT/.cublas-link/libcublasLt.so" || true
  CUBLAS_LINK_DIR="$OUT/.cublas-link"
fi
GEN=(); command -v ninja >/dev/null && GEN=(-G Ninja)
[[ -f "$BUILD/CMakeCache.txt" ]] && GEN=()  # keep the generator of an existing build dir

part configure 120 cmake -S native -B "$BUILD" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DDITTO_CUDA=ON \
  "-DDITTO_CUDA_ARCHS=$ARCHS" -DDITTO_CUDA_PTXAS_VERBOSE=ON ${CUBLAS_ROOT:+-DDITTO_CUBLAS_ROOT=$CUBLAS_ROOT} \
  ${CUBLAS_LINK_DIR:+-DDITTO_CUBLASLT_LIB=$CUBLAS_LINK_DIR/libcublasLt.so}
part build 240 cmake --build "$BUILD" -j"$JOBS"
grep -E "ptxas info|spill" "$OUT/build.log" > "$OUT/ptxas.txt" 2>/dev/null || true

export DITTO_TEST_EXPECT_CUDA=1 DITTO_CUDA_LIB="$PWD/$BUILD/libditto_cuda.so"
part ctest 150 ctest --test-dir "$BUILD" --output-on-failure --timeout 120 -j4
part op_suite 60 "$BUILD/test_cuda_ops"
# CUDA DiT forward vs golden dit-official / dit-diffusers and the glyph fixture (f32 + bf16, vs the CPU engine).
part dit_golden 120 "$BUILD/test_cuda_dit_golden" "$DITTO_SHARED/golden/dit-official" \
  "$DITTO_SHARED/golden/dit-diffusers" "$DITTO_SHARED/fixtures/glyphs"
part bench_ditto 120 "$BUILD/bench_cuda"
cp "$OUT/bench_ditto.log" "$OUT/bench_ditto.jsonl" 2>/dev/null || true
SAN=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
if [[ -n "$SAN" ]]; then
  part sanitizer_memcheck 90 "$SAN" --tool memcheck --error-exitcode 1 "$BUILD/test_cuda_ops"
  part sanitizer_racecheck 90 "$SAN" --tool racecheck --error-exitcode 1 "$BUILD/test_cuda_ops"
  part sanitizer_dit 90 "$SAN" --tool memcheck --error-exitcode 1 "$BUILD/test_cuda_dit_golden" "$DITTO_SHARED/golden/dit-official"
else
  RESULT[sanitizer_memcheck]="SKIPPED (compute-sanitizer not found)"
fi
part bench_torch 300 python3 examples/bench/cuda_torch.py
cp "$OUT/bench_torch.log" "$OUT/bench_torch.jsonl" 2>/dev/null || true

python3 - "$OUT" <<'PY' || true
import json, sys, os
out = sys.argv[1]
def rows(name):
    res = []
    try:
        for line in open(os.path.join(out, name)):
            line = line.strip()
            if line.startswith("{"):
                try: res.append(json.loads(line))
                except ValueError: pass
    except OSError: pass
    return res
ditto = {r["case"]: r for r in rows("bench_ditto.jsonl") if "case" in r}
torch = {}
for r in rows("bench_torch.jsonl"):
    if "case" in r and "ms" in r: torch[(r["case"], r["mode"])] = r["ms"]
peak = next((r["peak_bf16_tflops"] for r in rows("bench_ditto.jsonl") if "peak_bf16_tflops" in r), None)
lines = ["| case | Ditto ms | TFLOP/s | MFU | torch eager ms | torch.compile ms | eager/Ditto | compile/Ditto |",
         "|---|---|---|---|---|---|---|---|"]
for case, r in ditto.items():
    e, c = torch.get((case, "eager")), torch.get((case, "compile"))
    f = lambda v: "-" if v is None else f"{v:.3f}"
    ratio = lambda v: "-" if v is None else f"{v / r['ms']:.2f}x"
    lines.append(f"| {case} | {r['ms']:.3f} | {r['tflops']:.1f} | {100*r['mfu']:.1f}% | {f(e)} | {f(c)} | {ratio(e)} | {ratio(c)} |")
tg = torch.get(("gemm_torch 8192^3", "eager"))
lines.append(f"\nbf16 GEMM peak measured in this run: {peak} TFLOP/s" + (f"; torch 8192^3 GEMM: {tg:.3f} ms ({2*8192**3/tg/1e9:.1f} TFLOP/s)" if tg else ""))
open(os.path.join(out, "bench.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY

{
  echo "gpu-check summary ($(date -u +%FT%TZ), $(( $(date +%s) - START ))s)"
  head -1 "$OUT/nvidia-smi.txt" 2>/dev/null
  nvidia-smi --query-gpu=name,compute_cap,driver_version --format=csv,noheader 2>/dev/null
  for k in configure build ctest op_suite dit_golden bench_ditto sanitizer_memcheck sanitizer_racecheck sanitizer_dit bench_torch; do
    printf '%-22s %s\n' "$k" "${RESULT[$k]:-not run}"
  done
  grep -E "tests passed|tests failed|Failed|\*\*\*" "$OUT/ctest.log" 2>/dev/null | head -20
  grep -E "FAIL" "$OUT/op_suite.log" 2>/dev/null | head -20
  grep -E "FAIL|tensor checks" "$OUT/dit_golden.log" 2>/dev/null | head -20
  grep -E '"dit_forward ' "$OUT/dit_golden.log" 2>/dev/null
  grep -E "ERROR SUMMARY|RACECHECK SUMMARY" "$OUT"/sanitizer_*.log 2>/dev/null
} > "$OUT/SUMMARY.txt"
cat "$OUT/SUMMARY.txt"
exit 0
