// cuBLASLt bf16 GEMM behind ops.h's gemm_bf16 contract, with cuBLASLt loaded at run time (dlopen), never linked:
// libditto_cuda.so keeps loading on machines without cuBLAS, where have_cublaslt() is false and the dispatch
// (gemm_dispatch.cpp) uses the WMMA kernel. Reference: NVIDIA cuBLAS documentation, "Using the cuBLASLt API"
// (cublasLtMatmul, epilogues, heuristics, alignment preferences); PyTorch's at::cuda::blas::gemm_and_bias is the same
// row-major -> column-major mapping and uses CUBLASLT_EPILOGUE_GELU(_BIAS) for gelu(approximate='tanh')
// (test_linalg.py `_test_addmm_addmv` checks use_gelu on CUDA against approximate="tanh"); the op suite checks the
// flavour here too.
//
// Row-major y[M,N] = x[M,K] · W[N,K]ᵀ is column-major yᵀ[N,M] = op_T(W as column-major [K,N]) · (x as column-major
// [K,M]): A = W (ld ldw, transposed), B = x (ld lda), D column-major [N,M] with ld = the row stride. Bias is indexed
// by D's rows = our columns j, as the Epilogue's bias.
//
// Plans, tried in order, the first cuBLASLt finds an algorithm for is cached per (device, shape, strides, epilogue
// kind, alignment):
//   direct  : no gate, no SiLU, exactly one of y / y_bf16: cuBLASLt writes D there (f32 or bf16) with bias / GELU
//             fused (v is rounded once to bf16 from the f32 epilogue value, as the contract says);
//   staged  : cuBLASLt writes the f32 product (bias / GELU fused when it can) into a per-stream workspace, then
//             gemm_epilogue_apply does the rest of the Epilogue (gate ⊙ v residual, SiLU, y and the bf16 copy);
//   plain   : as staged with nothing fused (every epilogue step by gemm_epilogue_apply).
// Operands must be 16-byte aligned with leading dimensions a multiple of 8 elements (what cuBLASLt's tensor-core
// kernels need; the preference says 16 bytes so an algorithm never assumes more): otherwise kUnsupportedModel.
#include <string>

#include "ops.h"

#ifdef DITTO_HAVE_CUBLASLT_HEADER
#include <cublasLt.h>
#include <dlfcn.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#endif

namespace ditto::cuda {

#ifdef DITTO_HAVE_CUBLASLT_HEADER
namespace {

// The entry points resolved from the library (types from the header this file is compiled against).
struct LtApi {
  decltype(&cublasLtCreate) create = nullptr;
  decltype(&cublasLtMatmulDescCreate) desc_create = nullptr;
  decltype(&cublasLtMatmulDescSetAttribute) desc_set = nullptr;
  decltype(&cublasLtMatmulDescDestroy) desc_destroy = nullptr;
  decltype(&cublasLtMatrixLayoutCreate) layout_create = nullptr;
  decltype(&cublasLtMatrixLayoutDestroy) layout_destroy = nullptr;
  decltype(&cublasLtMatmulPreferenceCreate) pref_create = nullptr;
  decltype(&cublasLtMatmulPreferenceSetAttribute) pref_set = nullptr;
  decltype(&cublasLtMatmulPreferenceDestroy) pref_destroy = nullptr;
  decltype(&cublasLtMatmulAlgoGetHeuristic) heuristic = nullptr;
  decltype(&cublasLtMatmul) matmul = nullptr;
  decltype(&cublasLtGetVersion) version = nullptr;
  void* lib = nullptr;
  std::string path;  // the file that loaded
  std::string why;   // why none did
};

template <class F>
bool resolve(void* lib, const char* name, F& fn, std::string& why) {
  fn = reinterpret_cast<F>(dlsym(lib, name));
  if (!fn) why = std::string("missing symbol ") + name;
  return fn != nullptr;
}

LtApi load_api() {
  LtApi api;
  std::string candidates[3];
  int count = 0;
  if (const char* env = std::getenv("DITTO_CUBLASLT_LIB"); env && *env) candidates[count++] = env;
  candidates[count++] = "libcublasLt.so.13";
  candidates[count++] = "libcublasLt.so.12";
  for (int c = 0; c < count; ++c) {
    void* lib = dlopen(candidates[c].c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      const char* err = dlerror();
      api.why += (api.why.empty() ? "" : "; ") + (err ? std::string(err) : candidates[c] + ": not found");
      continue;
    }
    std::string why;
    bool ok = resolve(lib, "cublasLtCreate", api.create, why) &&
              resolve(lib, "cublasLtMatmulDescCreate", api.desc_create, why) &&
              resolve(lib, "cublasLtMatmulDescSetAttribute", api.desc_set, why) &&
              resolve(lib, "cublasLtMatmulDescDestroy", api.desc_destroy, why) &&
              resolve(lib, "cublasLtMatrixLayoutCreate", api.layout_create, why) &&
              resolve(lib, "cublasLtMatrixLayoutDestroy", api.layout_destroy, why) &&
              resolve(lib, "cublasLtMatmulPreferenceCreate", api.pref_create, why) &&
              resolve(lib, "cublasLtMatmulPreferenceSetAttribute", api.pref_set, why) &&
              resolve(lib, "cublasLtMatmulPreferenceDestroy", api.pref_destroy, why) &&
              resolve(lib, "cublasLtMatmulAlgoGetHeuristic", api.heuristic, why) &&
              resolve(lib, "cublasLtMatmul", api.matmul, why) && resolve(lib, "cublasLtGetVersion", api.version, why);
    if (ok) {
      api.lib = lib;
      api.path = candidates[c];
      api.why.clear();
      return api;
    }
    api.why += (api.why.empty() ? "" : "; ") + candidates[c] + ": " + why;
    dlclose(lib);
  }
  return api;
}

const LtApi& api() {
  static const LtApi instance = load_api();
  return instance;
}

Status lt_status(cublasStatus_t s, const char* what) {
  if (s == CUBLAS_STATUS_SUCCESS) return Status::Ok();
  return Status(StatusCode::kCuda, std::string("cuBLASLt ") + what + " failed with status " + std::to_string(int(s)));
}
#define LT_RETURN(expr, what) DITTO_RETURN_IF_ERROR(lt_status((expr), (what)))

constexpr size_t kLtWorkspaceBytes = size_t(32) << 20;  // NVIDIA's recommendation for Hopper

enum class Plan { Direct = 0, Staged = 1, Plain = 2, None = 3 };

// What cuBLASLt computes for one plan: D type, ld, which epilogue steps it fuses.
struct LtOp {
  cudaDataType_t d_type = CUDA_R_32F;
  int64_t ldd = 0;
  bool bias = false, gelu = false;
};

// Everything the plan choice depends on (pointer values are not part of it, only their alignment).
using Key = std::tuple<int, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int, int>;

// Per stream (and device): cuBLASLt's workspace and the f32 staging buffer, grown on demand.
struct StreamBuffers {
  void* lt_workspace = nullptr;
  float* staging = nullptr;
  size_t staging_bytes = 0;
};

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }
int64_t round_up4(int64_t v) { return (v + 3) / 4 * 4; }

// Descriptor set for one call; destroyed by the destructor.
struct LtDescs {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  ~LtDescs() {
    const LtApi& L = api();
    if (pref) L.pref_destroy(pref);
    if (d) L.layout_destroy(d);
    if (b) L.layout_destroy(b);
    if (a) L.layout_destroy(a);
    if (op) L.desc_destroy(op);
  }
};

// The plan of one GEMM kind with its algorithm and descriptors (reused; only the bias pointer changes per call).
struct Choice {
  Plan plan = Plan::None;
  cublasLtMatmulAlgo_t algo{};
  std::shared_ptr<LtDescs> descs;
};

struct LtState {
  std::mutex mu;
  std::map<int, cublasLtHandle_t> handles;                          // per device
  std::map<std::pair<int, cudaStream_t>, StreamBuffers> buffers;  // per (device, stream)
  std::map<Key, Choice> choices;
};
LtState& state() {
  static LtState* s = new LtState();  // never destroyed: cuBLASLt / CUDA may already be gone at exit
  return *s;
}

Status make_descs(LtDescs& ds, int64_t m, int64_t k, int64_t lda, int64_t n, int64_t ldw, const LtOp& o,
                  const float* bias) {
  const LtApi& L = api();
  LT_RETURN(L.desc_create(&ds.op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "matmul desc");
  cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  LT_RETURN(L.desc_set(ds.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta), "transa");
  LT_RETURN(L.desc_set(ds.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb), "transb");
  cublasLtEpilogue_t epi = o.bias ? (o.gelu ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_BIAS)
                                  : (o.gelu ? CUBLASLT_EPILOGUE_GELU : CUBLASLT_EPILOGUE_DEFAULT);
  LT_RETURN(L.desc_set(ds.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi), "epilogue");
  if (o.bias) {
    LT_RETURN(L.desc_set(ds.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias), "bias pointer");
    cudaDataType_t bt = CUDA_R_32F;
    LT_RETURN(L.desc_set(ds.op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof bt), "bias type");
  }
  LT_RETURN(L.layout_create(&ds.a, CUDA_R_16BF, uint64_t(k), uint64_t(n), ldw), "layout A");
  LT_RETURN(L.layout_create(&ds.b, CUDA_R_16BF, uint64_t(k), uint64_t(m), lda), "layout B");
  LT_RETURN(L.layout_create(&ds.d, o.d_type, uint64_t(n), uint64_t(m), o.ldd), "layout D");
  LT_RETURN(L.pref_create(&ds.pref), "preference");
  size_t ws = kLtWorkspaceBytes;
  LT_RETURN(L.pref_set(ds.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws), "workspace preference");
  uint32_t align = 16;  // what we check for; the default (256) would let an algorithm assume more
  for (auto attr : {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES}) {
    LT_RETURN(L.pref_set(ds.pref, attr, &align, sizeof align), "alignment preference");
  }
  return Status::Ok();
}

// The cuBLASLt op of a plan for this call (the caller checked the plan is eligible).
LtOp plan_op(Plan plan, int64_t n, float* y, int64_t ldy, const Epilogue& ep) {
  LtOp o;
  const bool bias_ok = ep.bias != nullptr && aligned16(ep.bias);
  if (plan == Plan::Direct) {
    o.d_type = y ? CUDA_R_32F : CUDA_R_16BF;
    o.ldd = y ? ldy : ep.ldy_bf16;
    o.bias = ep.bias != nullptr;
    o.gelu = ep.activation == Activation::GeluTanh;
  } else {
    o.d_type = CUDA_R_32F;
    o.ldd = round_up4(n);
    // bias then GELU in cuBLASLt only when both can be fused there (the order is the Epilogue's).
    o.bias = plan == Plan::Staged && bias_ok;
    o.gelu = plan == Plan::Staged && ep.activation == Activation::GeluTanh && (ep.bias == nullptr || bias_ok);
  }
  return o;
}

bool direct_eligible(float* y, int64_t ldy, const Epilogue& ep) {
  if (ep.gate != nullptr || ep.activation == Activation::Silu) return false;
  if ((y != nullptr) == (ep.y_bf16 != nullptr)) return false;  // exactly one destination
  if (ep.bias != nullptr && !aligned16(ep.bias)) return false;
  return y ? (aligned16(y) && ldy % 4 == 0) : (aligned16(ep.y_bf16) && ep.ldy_bf16 % 8 == 0);
}

Status handle_for(LtState& s, int device, cublasLtHandle_t* out) {
  auto it = s.handles.find(device);
  if (it == s.handles.end()) {
    cublasLtHandle_t h = nullptr;
    LT_RETURN(api().create(&h), "create");
    it = s.handles.emplace(device, h).first;
  }
  *out = it->second;
  return Status::Ok();
}

Status buffers_for(LtState& s, int device, cudaStream_t stream, size_t staging_bytes, StreamBuffers** out) {
  StreamBuffers& b = s.buffers[{device, stream}];
  if (!b.lt_workspace) DITTO_CUDA_RETURN(cudaMalloc(&b.lt_workspace, kLtWorkspaceBytes), "cuBLASLt workspace");
  if (staging_bytes > b.staging_bytes) {
    if (b.staging) {  // earlier GEMMs on this stream may still read it
      DITTO_CUDA_RETURN(cudaStreamSynchronize(stream), "cuBLASLt staging resize");
      DITTO_CUDA_RETURN(cudaFree(b.staging), "cuBLASLt staging free");
      b.staging = nullptr;
      b.staging_bytes = 0;
    }
    const size_t bytes = staging_bytes + staging_bytes / 4;  // some headroom for the next, larger shape
    DITTO_CUDA_RETURN(cudaMalloc(&b.staging, bytes), "cuBLASLt staging buffer");
    b.staging_bytes = bytes;
  }
  *out = &b;
  return Status::Ok();
}

}  // namespace

bool have_cublaslt() { return api().lib != nullptr; }

std::string cublaslt_describe() {
  const LtApi& L = api();
  if (!L.lib) return "cuBLASLt not loaded: " + L.why;
  return "cuBLASLt " + L.path + ", version " + std::to_string(L.version());
}

std::string cublaslt_plans() {
  static const char* const kNames[] = {"direct", "staged", "plain", "none"};
  LtState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  std::string out;
  for (const auto& [key, choice] : s.choices) {
    const int act = std::get<8>(key), flags = std::get<9>(key);
    out += (out.empty() ? "" : "; ") + ("m=" + std::to_string(std::get<1>(key)) + " k=" + std::to_string(std::get<3>(key)) +
                                        " n=" + std::to_string(std::get<2>(key))) +
           (flags & 1 ? "+bias" : "") + (act == 1 ? "+gelu" : act == 2 ? "+silu" : "") + (flags & 4 ? "+gate" : "") +
           (flags & 8 ? " y" : "") + (flags & 16 ? " y_bf16" : "") + ": " + kNames[int(choice.plan)];
  }
  return out;
}

Status gemm_bf16_cublaslt(const bf16* x, int64_t m, int64_t k, int64_t lda, const bf16* w, int64_t n, int64_t ldw,
                          float* y, int64_t ldy, const Epilogue& ep, cudaStream_t stream) {
  DITTO_RETURN_IF_ERROR(gemm_check_args(m, k, n, lda, ldw, y, ldy, ep));
  if (!have_cublaslt()) return unsupported_model("gemm_cublaslt: " + cublaslt_describe());
  if (lda % 8 != 0 || ldw % 8 != 0 || !aligned16(x) || !aligned16(w)) {
    return unsupported_model("gemm_cublaslt: x and W need 16-byte aligned rows (lda=" + std::to_string(lda) +
                             ", ldw=" + std::to_string(ldw) + ")");
  }
  if (m == 0 || n == 0) return Status::Ok();
  int device = 0;
  DITTO_CUDA_RETURN(cudaGetDevice(&device), "cudaGetDevice");

  LtState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);  // host-side enqueue only; guards the caches and the stream buffers
  cublasLtHandle_t handle = nullptr;
  DITTO_RETURN_IF_ERROR(handle_for(s, device, &handle));

  const bool direct = direct_eligible(y, ldy, ep);
  const int64_t ldd_direct = y ? ldy : ep.ldy_bf16;
  const int flags = (ep.bias ? 1 : 0) | (ep.bias && aligned16(ep.bias) ? 2 : 0) | (ep.gate ? 4 : 0) |
                    (y ? 8 : 0) | (ep.y_bf16 ? 16 : 0) | (direct ? 32 : 0);
  const Key key{device, m, n, k, lda, ldw, direct ? ldd_direct : 0, 0, int(ep.activation), flags};

  // Enqueues one plan with its algorithm; *lt is cuBLASLt's verdict on the matmul call.
  auto launch = [&](Plan plan, const cublasLtMatmulAlgo_t& algo, LtDescs& ds, cublasStatus_t* lt) -> Status {
    *lt = CUBLAS_STATUS_SUCCESS;
    const LtOp o = plan_op(plan, n, y, ldy, ep);
    if (o.bias) LT_RETURN(api().desc_set(ds.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &ep.bias, sizeof ep.bias), "bias pointer");
    const size_t staging = plan == Plan::Direct ? 0 : size_t(m) * size_t(o.ldd) * sizeof(float);
    StreamBuffers* buf = nullptr;
    DITTO_RETURN_IF_ERROR(buffers_for(s, device, stream, staging, &buf));
    void* d = plan == Plan::Direct ? (y ? static_cast<void*>(y) : static_cast<void*>(ep.y_bf16))
                                   : static_cast<void*>(buf->staging);
    const float alpha = 1.f, beta = 0.f;
    *lt = api().matmul(handle, ds.op, &alpha, w, ds.a, x, ds.b, &beta, d, ds.d, d, ds.d, &algo, buf->lt_workspace,
                       kLtWorkspaceBytes, stream);
    LT_RETURN(*lt, "matmul");
    if (plan == Plan::Direct) return Status::Ok();
    Epilogue rest = ep;  // what cuBLASLt did not fuse
    if (o.bias) rest.bias = nullptr;
    if (o.gelu) rest.activation = Activation::None;
    return gemm_epilogue_apply(buf->staging, o.ldd, m, n, y, ldy, rest, stream);
  };
  auto unsupported = [&] {
    return unsupported_model("gemm_cublaslt: no cuBLASLt algorithm for m=" + std::to_string(m) +
                             " k=" + std::to_string(k) + " n=" + std::to_string(n));
  };

  if (auto found = s.choices.find(key); found != s.choices.end()) {
    if (found->second.plan == Plan::None) return unsupported();
    cublasStatus_t lt;
    return launch(found->second.plan, found->second.algo, *found->second.descs, &lt);
  }
  // First call of this kind: the first plan cuBLASLt has an algorithm for and accepts the call with.
  for (Plan plan : {Plan::Direct, Plan::Staged, Plan::Plain}) {
    if (plan == Plan::Direct && !direct) continue;
    const LtOp o = plan_op(plan, n, y, ldy, ep);
    auto descs = std::make_shared<LtDescs>();
    LtDescs& ds = *descs;
    DITTO_RETURN_IF_ERROR(make_descs(ds, m, k, lda, n, ldw, o, ep.bias));
    cublasLtMatmulHeuristicResult_t result{};
    int returned = 0;
    cublasStatus_t hs = api().heuristic(handle, ds.op, ds.a, ds.b, ds.d, ds.d, ds.pref, 1, &result, &returned);
    // INVALID_VALUE too means "not this plan": on the H200 (cuBLASLt 13.1) a bf16 D with an f32 bias got it from the
    // heuristic for the direct plan, which the staged plan (f32 D + gemm_epilogue_apply) then serves.
    if (hs != CUBLAS_STATUS_SUCCESS && hs != CUBLAS_STATUS_NOT_SUPPORTED && hs != CUBLAS_STATUS_INVALID_VALUE) {
      return lt_status(hs, "heuristic");
    }
    if (hs != CUBLAS_STATUS_SUCCESS || returned == 0) continue;
    cublasStatus_t lt;
    Status st = launch(plan, result.algo, ds, &lt);
    if (lt == CUBLAS_STATUS_NOT_SUPPORTED || lt == CUBLAS_STATUS_INVALID_VALUE) continue;  // refused: next plan
    if (st.ok()) s.choices.emplace(key, Choice{plan, result.algo, descs});
    return st;
  }
  s.choices.emplace(key, Choice{});
  return unsupported();
}

#else  // compiled without cublasLt.h: the WMMA kernel only

bool have_cublaslt() { return false; }
std::string cublaslt_describe() { return "cuBLASLt not compiled in (no cublasLt.h at build time)"; }
std::string cublaslt_plans() { return ""; }

Status gemm_bf16_cublaslt(const bf16*, int64_t m, int64_t k, int64_t lda, const bf16*, int64_t n, int64_t ldw,
                          float* y, int64_t ldy, const Epilogue& ep, cudaStream_t) {
  DITTO_RETURN_IF_ERROR(gemm_check_args(m, k, n, lda, ldw, y, ldy, ep));
  return unsupported_model("gemm_cublaslt: " + cublaslt_describe());
}

#endif

}  // namespace ditto::cuda
