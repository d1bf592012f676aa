// Optional cuBLASLt path for bf16 GEMMs (bias / GELU epilogues fused by cuBLASLt itself), compiled in when
// CMake finds cuBLASLt (on the GPU machine: the nvidia-cublas Python wheel, see scripts/gpu-check.sh). Used by
// the benchmark as the vendor yardstick next to our WMMA kernel; without it have_cublaslt() is false and the
// call reports that the backend was built without cuBLASLt.
#include "ops.h"

#ifdef DITTO_HAVE_CUBLASLT
#include <cublasLt.h>

#include <mutex>
#endif

namespace ditto::cuda {

#ifdef DITTO_HAVE_CUBLASLT
namespace {

Status lt_status(cublasStatus_t s, const char* what) {
  if (s == CUBLAS_STATUS_SUCCESS) return Status::Ok();
  return Status(StatusCode::kCuda, std::string("cuBLASLt ") + what + " failed with status " + std::to_string(int(s)));
}
#define LT_RETURN(expr, what) DITTO_RETURN_IF_ERROR(lt_status((expr), (what)))

struct LtContext {
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
  size_t workspace_bytes = 32u << 20;
  Status init;
};

LtContext& context() {
  static LtContext ctx;
  static std::once_flag once;
  std::call_once(once, [] {
    ctx.init = lt_status(cublasLtCreate(&ctx.handle), "create");
    if (ctx.init.ok()) ctx.init = cuda_status(cudaMalloc(&ctx.workspace, ctx.workspace_bytes), "cuBLASLt workspace");
  });
  return ctx;
}

}  // namespace

bool have_cublaslt() { return true; }

// Row-major y[M,N] = x[M,K] · W[N,K]ᵀ is column-major yᵀ[N,M] = W(col-major [K,N])ᵀ · xᵀ: A = W with op T,
// B = x with op N, both column-major views of the row-major buffers.
Status gemm_bf16_cublaslt(const bf16* x, int64_t m, int64_t k, const bf16* w, int64_t n, float* y,
                          const float* bias, Activation act, cudaStream_t stream) {
  LtContext& ctx = context();
  DITTO_RETURN_IF_ERROR(ctx.init);
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, lc = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  Status st = [&]() -> Status {
    LT_RETURN(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "desc");
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    LT_RETURN(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta), "transa");
    LT_RETURN(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb), "transb");
    cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_DEFAULT;
    if (bias && act == Activation::GeluTanh) epi = CUBLASLT_EPILOGUE_GELU_BIAS;
    else if (bias) epi = CUBLASLT_EPILOGUE_BIAS;
    else if (act == Activation::GeluTanh) epi = CUBLASLT_EPILOGUE_GELU;
    else if (act != Activation::None) return invalid_argument("cuBLASLt path supports bias and GELU only");
    LT_RETURN(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi), "epilogue");
    if (bias) {
      LT_RETURN(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias), "bias");
      cudaDataType_t bt = CUDA_R_32F;
      LT_RETURN(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof bt), "bias type");
    }
    LT_RETURN(cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, k, n, k), "layout a");
    LT_RETURN(cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, k, m, k), "layout b");
    LT_RETURN(cublasLtMatrixLayoutCreate(&lc, CUDA_R_32F, n, m, n), "layout c");
    LT_RETURN(cublasLtMatmulPreferenceCreate(&pref), "preference");
    LT_RETURN(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                   &ctx.workspace_bytes, sizeof ctx.workspace_bytes),
              "workspace");
    cublasLtMatmulHeuristicResult_t heur{};
    int found = 0;
    LT_RETURN(cublasLtMatmulAlgoGetHeuristic(ctx.handle, op, la, lb, lc, lc, pref, 1, &heur, &found), "heuristic");
    if (found == 0) return Status(StatusCode::kCuda, "cuBLASLt found no algorithm for this GEMM");
    const float alpha = 1.f, beta = 0.f;
    LT_RETURN(cublasLtMatmul(ctx.handle, op, &alpha, w, la, x, lb, &beta, y, lc, y, lc, &heur.algo, ctx.workspace,
                             ctx.workspace_bytes, stream),
              "matmul");
    return Status::Ok();
  }();
  if (pref) cublasLtMatmulPreferenceDestroy(pref);
  if (lc) cublasLtMatrixLayoutDestroy(lc);
  if (lb) cublasLtMatrixLayoutDestroy(lb);
  if (la) cublasLtMatrixLayoutDestroy(la);
  if (op) cublasLtMatmulDescDestroy(op);
  return st;
}

#else

bool have_cublaslt() { return false; }

Status gemm_bf16_cublaslt(const bf16*, int64_t, int64_t, const bf16*, int64_t, float*, const float*, Activation,
                          cudaStream_t) {
  return Status(StatusCode::kCuda, "this CUDA backend was built without cuBLASLt");
}

#endif

}  // namespace ditto::cuda
