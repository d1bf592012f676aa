#!/usr/bin/env bash
# One-call GPU proof (run on a lent GPU machine: nvcc, CMake, ninja, PyTorch; no Node, no network).
# Builds the engine with the CUDA backend, then runs, each part time-boxed and continuing past failures:
#   1. the ctests that need the GPU (device choice with DITTO_TEST_EXPECT_CUDA=1, the GPU op suite, the CUDA DiT;
#      the CPU suite is CI's)
#   2. the CUDA DiT forward vs the golden DiT cases and the glyph fixture (test_cuda_dit_golden, own log)
#   3. the GPU op suite under compute-sanitizer (memcheck, racecheck), the DiT test under memcheck
#   4. bench_cuda (Ditto) and examples/bench/cuda_torch.py (PyTorch eager+SDPA, torch.compile), joined into a table
#      with the MFU of the DiT-XL/2-shaped forward against the bf16 GEMM peak measured in the same run
#   5. api: the model through the public API (scripts/gpu-api-check.mjs: device 'cuda' forward / Pipeline.generate
#      equal to the CPU within the f32 / bf16 bounds, one upload and one download per generation) and the 200-sample
#      sets; fidelity: their FD / ACC within 1 point (scripts/fidelity_check.py)
#   6. bench_generate: 50-step generation images/s through the API (examples/bench/gpu_generate.mjs) vs PyTorch eager
#      and torch.compile on the same model, batch, noise and grid (examples/bench/generate_torch.py, which also fails
#      when its latents differ from Ditto's)
# Everything lands in $OUT (default ./gpu-out): gpu-check.log (set -x trace), per-part logs, bench.md, SUMMARY.txt.
# Exit status: 1 when any part that ran failed, timed out or was skipped for want of a GPU (a mismatch anywhere is
# loud), else 0. `--parts a,b,…` runs a subset (the parts above by name: configure build ctest op_suite dit_golden
# bench_ditto sanitizer bench_torch api fidelity bench_generate), e.g. to split the proof over two device calls.
#
# Staging (here, before the device call): `scripts/gpu-check.sh --stage` copies the DiT golden cases and the glyph
# fixture (~22 MB) into .gpu-shared/ (git-excluded), and for the API parts builds libditto_cuda.so here (the addon
# and the backend must come from the same compiler: ABI v2's core_abi check) and stores it with a compressed Node
# binary in .gpu-stage/ (the lent machine has no Node). Carry [".gpu-shared", ".gpu-stage", "dist", "prebuilds"].
# $DITTO_SHARED overrides the reference-data lookup.
#
# `scripts/gpu-check.sh --dry-run` (no GPU needed, ~1 minute): parses this script, compiles the Python parts, runs
# the API part and the generate benchmark against the host emulation of the backend (build/libditto_cuda_emulated.so,
# tiny sizes) and prints the commands of the GPU-only parts instead of running them.
set -uo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == "--stage" ]]; then
  src="${DITTO_SHARED:-../shared}"
  rm -rf .gpu-shared && mkdir -p .gpu-shared/golden .gpu-shared/fixtures/glyphs || exit 1
  cp -r "$src/golden/dit-official" "$src/golden/dit-diffusers" .gpu-shared/golden/ || exit 1
  # The glyph weights travel once, in examples/models/glyphs (tracked); the run puts them back (below). A device call
  # carries at most 64 MiB: the repository (~19 MiB), .gpu-shared (~5 MiB), .gpu-stage (~27 MiB: Node xz 23 MiB +
  # the backend), dist and prebuilds (~3.5 MiB).
  cp "$src"/fixtures/glyphs/{dit.json,reference-io.safetensors} .gpu-shared/fixtures/glyphs/ || exit 1
  cmp -s "$src/fixtures/glyphs/dit.safetensors" examples/models/glyphs/dit.safetensors ||
    cp "$src/fixtures/glyphs/dit.safetensors" .gpu-shared/fixtures/glyphs/ || exit 1
  chmod -R u+w .gpu-shared
  exclude="$(git rev-parse --git-path info/exclude)" && mkdir -p "$(dirname "$exclude")" &&
    { grep -qx '/.gpu-shared/' "$exclude" 2>/dev/null || echo '/.gpu-shared/' >> "$exclude"; } &&
    { grep -qx '/.gpu-stage/' "$exclude" 2>/dev/null || echo '/.gpu-stage/' >> "$exclude"; }
  # The API parts: the addon (prebuilds/) and dist/ as built here, the backend built here by the same compiler, Node.
  [[ -f prebuilds/linux-x64/ditto-dit.napi.node && -f dist/index.js ]] || { echo "gpu-check: run npm run build first"; exit 1; }
  rm -rf .gpu-stage && mkdir -p .gpu-stage || exit 1
  # cuBLASLt's header (the nvidia-cublas wheel's nvidia/cu13/include: `python3 -m pip download nvidia-cublas`), when
  # given as DITTO_CUBLASLT_INCLUDE, compiles the run-time cuBLASLt dispatch in; without it the backend is WMMA-only.
  DITTO_CUDA_ARCHS="${DITTO_CUDA_ARCHS:-90a}" \
    DITTO_CUDA_CMAKE_ARGS="${DITTO_CUDA_CMAKE_ARGS:-}${DITTO_CUBLASLT_INCLUDE:+ -DDITTO_CUBLASLT_INCLUDE=$DITTO_CUBLASLT_INCLUDE}" \
    scripts/build-cuda.sh build-cuda || exit 1
  [[ -f build-cuda/libditto_cuda.so ]] || { echo "gpu-check: no nvcc here, so no libditto_cuda.so to stage"; exit 1; }
  cp build-cuda/libditto_cuda.so .gpu-stage/ || exit 1
  # The GPU test and benchmark binaries, built here too (same compiler, cudart static), so the device call spends
  # no minutes compiling: extracted there into build-cuda/ with this checkout's path rewritten in the ctest files.
  if [[ -f build-cuda/test_cuda_ops && -f build-cuda/test_device && -f build-cuda/CTestTestfile.cmake ]]; then
    tar -C build-cuda -cJf .gpu-stage/build-cuda.tar.xz libditto_cuda.so test_cuda_ops test_cuda_dit_golden bench_cuda \
      test_device CTestTestfile.cmake src/cuda/CTestTestfile.cmake || exit 1
    echo "$PWD" > .gpu-stage/root.txt
  fi
  xz -T2 -6 -c "$(command -v node)" > .gpu-stage/node.xz || exit 1
  echo "gpu-check: staged $(du -sh .gpu-shared | cut -f1) in .gpu-shared, $(du -sh .gpu-stage | cut -f1) in .gpu-stage;" \
    "carry [\".gpu-shared\", \".gpu-stage\", \"dist\", \"prebuilds\"] in the device call"
  exit 0
fi
DRY_RUN=0
PARTS=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --parts) PARTS=",$2,"; shift ;;
    *) echo "gpu-check: unknown argument $1 (--stage, --dry-run, --parts a,b,...)"; exit 64 ;;
  esac
  shift
done
want() { [[ -z "$PARTS" || "$PARTS" == *",$1,"* ]]; }
SHARED="${DITTO_SHARED:-}"
for cand in ../shared .gpu-shared; do
  [[ -z "$SHARED" && -d "$cand/golden" ]] && SHARED="$(cd "$cand" && pwd)"
done
export DITTO_SHARED="${SHARED:-../shared}"
if [[ -d "$DITTO_SHARED/fixtures/glyphs" && ! -f "$DITTO_SHARED/fixtures/glyphs/dit.safetensors" ]]; then
  cp examples/models/glyphs/dit.safetensors "$DITTO_SHARED/fixtures/glyphs/"  # staged without the duplicate weights
fi
OUT="${OUT:-$PWD/gpu-out}"
mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu-check.log") 2>&1
set -x
START=$(date +%s)
BUDGET="${GPU_CHECK_BUDGET_S:-570}"
BUILD="${GPU_BUILD_DIR:-build-gpu}"
JOBS="$(nproc)"
declare -A RESULT
ORDER=()
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
part() {  # part <name> <timeout-s> <cmd...>: runs, logs to $OUT/<name>.log, records the exit code
  local name="$1" limit="$2"; shift 2
  ORDER+=("$name")
  local group="$name"
  case "$name" in sanitizer_*) group=sanitizer ;; bench_generate_torch) group=bench_generate ;; esac
  if ! want "$group"; then RESULT[$name]="not selected"; return; fi
  if (( DRY_RUN )) && [[ -z "${DRY_OK:-}" ]]; then RESULT[$name]="DRY-RUN (would run: $*)"; return; fi
  local remaining; remaining=$(left)
  if (( remaining < 15 )); then RESULT[$name]="SKIPPED (out of time)"; return; fi
  (( limit > remaining - 5 )) && limit=$(( remaining - 5 ))
  timeout --kill-after=5 "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  if (( rc == 0 )); then RESULT[$name]="OK"; elif (( rc == 77 )); then RESULT[$name]="SKIPPED (no GPU)"; elif (( rc == 124 || rc == 137 )); then RESULT[$name]="TIMEOUT (${limit}s)"; else RESULT[$name]="FAIL (rc=$rc)"; fi
  tail -n 40 "$OUT/$name.log"
}

# Node for the API parts: on PATH, else the one --stage compressed into .gpu-stage/.
NODE="$(command -v node || true)"
if [[ -z "$NODE" && -f .gpu-stage/node.xz ]]; then
  xz -dc .gpu-stage/node.xz > "$OUT/node" && chmod +x "$OUT/node" && NODE="$OUT/node"
fi
API_ENV=(env DITTO_ADDON_PATH="$PWD/prebuilds/linux-x64/ditto-dit.napi.node" DITTO_CUDA_LIB="$PWD/.gpu-stage/libditto_cuda.so")
if (( DRY_RUN )); then
  # Here there is no GPU: the host emulation stands in for the backend (the test-only switch), at tiny sizes.
  API_ENV=(env DITTO_CUDA_LIB="$PWD/build/libditto_cuda_emulated.so" DITTO_CUDA_EMULATED=1)
  DRY_OK=1 part syntax 30 bash -n "$0"
  DRY_OK=1 part python_parts 30 python3 -m py_compile scripts/fidelity_check.py examples/bench/generate_torch.py \
    examples/bench/cuda_torch.py
  DRY_OK=1 part api 600 "${API_ENV[@]}" "${NODE:-node}" scripts/gpu-api-check.mjs --out "$OUT" --quick --emulated
  if python3 -c "import onnxruntime" 2>/dev/null; then
    DRY_OK=1 part fidelity 60 python3 scripts/fidelity_check.py "$OUT"
  fi
  DRY_OK=1 part bench_generate 300 "${API_ENV[@]}" "${NODE:-node}" examples/bench/gpu_generate.mjs --batch 2 --steps 2 \
    --repeat 1 --save "$OUT/generate-run.safetensors"
fi

nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true
nvcc --version > "$OUT/nvcc.txt" 2>&1 || true
CAP=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '. ')
ARCHS="80;90a"
[[ -n "$CAP" && "$CAP" != "80" && "$CAP" != "90" ]] && ARCHS="80;90a;${CAP}"
# cuBLASLt (loaded at run time by libditto_cuda.so, docs/cuda.md "bf16 GEMM dispatch"): PyTorch's wheel, in the
# nvidia/cublas layout or, since CUDA 13 wheels, nvidia/cu13 (both hold include/ and lib/).
CUBLAS_ROOT=$(python3 -c "import nvidia.cublas as m; print(list(m.__path__)[0])" 2>/dev/null ||
  python3 -c "import nvidia.cu13 as m; print(list(m.__path__)[0])" 2>/dev/null || true)
if [[ -z "${DITTO_CUBLASLT_LIB:-}" && -n "$CUBLAS_ROOT" ]]; then
  lt=$(ls "$CUBLAS_ROOT"/lib/libcublasLt.so.* 2>/dev/null | head -1)
  [[ -n "$lt" ]] && export DITTO_CUBLASLT_LIB="$lt"
fi
TORCH_LIB=$(python3 -c "import torch, os; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))" 2>/dev/null || true)
export LD_LIBRARY_PATH="${CUBLAS_ROOT:+$CUBLAS_ROOT/lib:}${LD_LIBRARY_PATH:-}"
# Prebuilt binaries from --stage: used when this call neither configures nor builds (--parts without them).
if [[ -f .gpu-stage/build-cuda.tar.xz && -f .gpu-stage/root.txt ]] && ! want configure && ! want build && ! (( DRY_RUN )); then
  BUILD=build-cuda
  mkdir -p "$BUILD" && tar -C "$BUILD" -xJf .gpu-stage/build-cuda.tar.xz &&
    sed -i "s#$(cat .gpu-stage/root.txt)#$PWD#g" "$BUILD/CTestTestfile.cmake" "$BUILD/src/cuda/CTestTestfile.cmake"
fi
GEN=(); command -v ninja >/dev/null && GEN=(-G Ninja)
[[ -f "$BUILD/CMakeCache.txt" ]] && GEN=()  # keep the generator of an existing build dir

part configure 120 cmake -S native -B "$BUILD" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DDITTO_CUDA=ON \
  "-DDITTO_CUDA_ARCHS=$ARCHS" -DDITTO_CUDA_PTXAS_VERBOSE=ON ${CUBLAS_ROOT:+-DDITTO_CUBLAS_ROOT=$CUBLAS_ROOT}
part build 240 cmake --build "$BUILD" -j"$JOBS"
grep -E "ptxas info|spill" "$OUT/build.log" > "$OUT/ptxas.txt" 2>/dev/null || true

export DITTO_TEST_EXPECT_CUDA=1 DITTO_CUDA_LIB="$PWD/$BUILD/libditto_cuda.so"
part ctest 150 ctest --test-dir "$BUILD" --output-on-failure --timeout 120 -j4 -R '^test_(cuda_ops|cuda_dit_golden|device)$'
# The op suite and the kernel benchmark also exercise the opt-in cuBLASLt dispatch (DITTO_CUDA_GEMM=auto; the
# default is WMMA, docs/cuda.md "bf16 GEMM dispatch"); every other part runs the default.
part op_suite 60 env DITTO_CUDA_GEMM=auto "$BUILD/test_cuda_ops"
# CUDA DiT forward vs golden dit-official / dit-diffusers and the glyph fixture (f32 + bf16, vs the CPU engine).
part dit_golden 120 "$BUILD/test_cuda_dit_golden" "$DITTO_SHARED/golden/dit-official" \
  "$DITTO_SHARED/golden/dit-diffusers" "$DITTO_SHARED/fixtures/glyphs"
part bench_ditto 120 env DITTO_CUDA_GEMM=auto "$BUILD/bench_cuda"
cp "$OUT/bench_ditto.log" "$OUT/bench_ditto.jsonl" 2>/dev/null || true
# ---- the model through the API (needs Node, dist/, prebuilds/, .gpu-stage/libditto_cuda.so: see --stage) ----
if [[ -z "$NODE" ]] && ! (( DRY_RUN )); then
  for p in api fidelity bench_generate; do ORDER+=("$p"); want "$p" && RESULT[$p]="FAIL (no Node: run --stage here and carry .gpu-stage)"; done
elif ! (( DRY_RUN )); then
  part api 240 "${API_ENV[@]}" "$NODE" scripts/gpu-api-check.mjs --out "$OUT"
  part fidelity 60 python3 scripts/fidelity_check.py "$OUT"
  part bench_generate 150 bash -c "set -e; for dt in f32 bf16; do ${API_ENV[*]} '$NODE' examples/bench/gpu_generate.mjs \
    --device cuda --dtype \$dt --batch 64 --steps 50 --save '$OUT/generate-run-'\$dt'.safetensors'; done"
  part bench_generate_torch 240 python3 examples/bench/generate_torch.py --run "$OUT/generate-run-f32.safetensors"
fi
# Slowest last: the PyTorch kernel benchmark (torch.compile) and the sanitizers.
SAN=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
if [[ -n "$SAN" ]]; then
  part sanitizer_memcheck 60 "$SAN" --tool memcheck --error-exitcode 1 "$BUILD/test_cuda_ops"
  part sanitizer_racecheck 60 "$SAN" --tool racecheck --error-exitcode 1 "$BUILD/test_cuda_ops"
  part sanitizer_dit 60 "$SAN" --tool memcheck --error-exitcode 1 "$BUILD/test_cuda_dit_golden" "$DITTO_SHARED/golden/dit-official"
else
  ORDER+=(sanitizer_memcheck)
  if (( DRY_RUN )); then RESULT[sanitizer_memcheck]="DRY-RUN (compute-sanitizer not found here)"
  elif want sanitizer; then RESULT[sanitizer_memcheck]="SKIPPED (compute-sanitizer not found)"
  else RESULT[sanitizer_memcheck]="not selected"; fi
fi
part bench_torch 300 python3 examples/bench/cuda_torch.py
cp "$OUT/bench_torch.log" "$OUT/bench_torch.jsonl" 2>/dev/null || true

cat "$OUT/bench_generate.log" "$OUT/bench_generate_torch.log" 2>/dev/null | grep '^{' > "$OUT/bench_generate.jsonl" || true

rm -f "$OUT/mfu-missing"
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
tg = torch.get(("gemm_torch 8192^3", "eager"))
cublas_peak = 2 * 8192**3 / tg / 1e9 if tg else None  # PyTorch's (cuBLAS) bf16 GEMM in the same run: the chip's real peak
lines = ["| case | Ditto ms | TFLOP/s | MFU (vs Ditto's GEMM) | MFU (vs cuBLAS GEMM) | torch eager ms | torch.compile ms | eager/Ditto | compile/Ditto |",
         "|---|---|---|---|---|---|---|---|---|"]
for case, r in ditto.items():
    e, c = torch.get((case, "eager")), torch.get((case, "compile"))
    f = lambda v: "-" if v is None else f"{v:.3f}"
    ratio = lambda v: "-" if v is None else f"{v / r['ms']:.2f}x"
    mfu_cublas = "-" if cublas_peak is None else f"{100 * r['tflops'] / cublas_peak:.1f}%"
    lines.append(f"| {case} | {r['ms']:.3f} | {r['tflops']:.1f} | {100*r['mfu']:.1f}% | {mfu_cublas} | {f(e)} | {f(c)} | {ratio(e)} | {ratio(c)} |")
gen = {}
for r in rows("bench_generate.jsonl"):
    if "imagesPerSecond" in r:
        gen[(r.get("mode", "ditto"), r["dtype"])] = r
if gen:
    lines.append("\n| 50-step generation (glyph DiT, B=64, CFG 4) | dtype | images/s | Ditto / this |")
    lines.append("|---|---|---|---|")
    for (mode, dt), r in sorted(gen.items()):
        d = gen.get(("ditto", dt))
        ratio = "-" if d is None or mode == "ditto" else f"{d['imagesPerSecond'] / r['imagesPerSecond']:.2f}x"
        lines.append(f"| {'Ditto (API, cuda)' if mode == 'ditto' else 'PyTorch ' + mode} | {dt} | {r['imagesPerSecond']:.1f} | {ratio} |")
xl = [c for c in ditto if c.startswith("dit_xl")]
lines.append("\nDiT-XL/2-shaped forward MFU rows: " + (", ".join(f"{c} {100*ditto[c]['mfu']:.1f}%" for c in xl) if xl else "MISSING"))
if not xl or not peak:
    open(os.path.join(out, "mfu-missing"), "w").write("no DiT-XL/2 MFU row or no measured peak\n")
lines.append(f"\nbf16 GEMM peak measured in this run: {peak} TFLOP/s" + (f"; torch 8192^3 GEMM: {tg:.3f} ms ({2*8192**3/tg/1e9:.1f} TFLOP/s)" if tg else ""))
open(os.path.join(out, "bench.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY

{
  echo "gpu-check summary ($(date -u +%FT%TZ), $(( $(date +%s) - START ))s)"
  (( DRY_RUN )) || head -1 "$OUT/nvidia-smi.txt" 2>/dev/null
  nvidia-smi --query-gpu=name,compute_cap,driver_version --format=csv,noheader 2>/dev/null
  for k in "${ORDER[@]}"; do
    printf '%-22s %s\n' "$k" "${RESULT[$k]:-not run}"
  done
  grep -E "tests passed|tests failed|Failed|\*\*\*" "$OUT/ctest.log" 2>/dev/null | head -20
  grep -E "FAIL" "$OUT/op_suite.log" 2>/dev/null | head -20
  grep -E "FAIL|tensor checks" "$OUT/dit_golden.log" 2>/dev/null | head -20
  grep -E '"dit_forward ' "$OUT/dit_golden.log" 2>/dev/null
  grep -E "ERROR SUMMARY|RACECHECK SUMMARY" "$OUT"/sanitizer_*.log 2>/dev/null
  grep -hE "^(PASS|FAIL) |MISMATCH|\"dFd\"" "$OUT/api.log" "$OUT/fidelity.log" "$OUT/bench_generate_torch.log" 2>/dev/null
} > "$OUT/SUMMARY.txt"
if [[ "${RESULT[bench_ditto]:-}" == OK && -f "$OUT/mfu-missing" ]]; then
  ORDER+=(mfu); RESULT[mfu]="FAIL ($(cat "$OUT/mfu-missing"))"
fi
FAILED=()
for k in "${ORDER[@]}"; do
  case "${RESULT[$k]:-}" in OK|"not selected"|DRY-RUN*) ;; *) FAILED+=("$k: ${RESULT[$k]:-not run}") ;; esac
done
if (( ${#FAILED[@]} )); then
  { echo "GPU-CHECK FAILED:"; printf '  %s\n' "${FAILED[@]}"; } >> "$OUT/SUMMARY.txt"
else
  echo "GPU-CHECK PASSED (every part that ran)" >> "$OUT/SUMMARY.txt"
fi
cat "$OUT/SUMMARY.txt"
(( ${#FAILED[@]} == 0 ))
