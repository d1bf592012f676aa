// libditto_cuda.so's only export: ditto_cuda_backend_v1(), the versioned C function table the core's loader
// (src/runtime/device.cpp) dlopen()s: ABI v2 (ditto/device.h), v1's device queries then load_model (a CudaDit,
// handed over as a ditto::Denoiser for the core's executor; the core checks core_abi first) and the copy
// counters. Every entry catches its own failures and reports them as text, so no C++ exception crosses the
// boundary. Built twice: for the GPU (nvcc kernels) and as the host emulation (emu/, DITTO_CUDA_EMULATED).
#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "ditto/device.h"
#include "dit_cuda.h"
#include "ditto/model.h"
#include "ops.h"
#include "transfers.h"

namespace {

using ditto::Status;

int fail(char* err, size_t err_len, const std::string& message) {
  if (err != nullptr && err_len > 0) std::snprintf(err, err_len, "%s", message.c_str());
  return 1;
}

int fail_cuda(char* err, size_t err_len, cudaError_t e, const char* what) {
  if (e == cudaErrorInsufficientDriver || e == cudaErrorNoDevice) {
    return fail(err, err_len, std::string(e == cudaErrorNoDevice ? "no CUDA device" : "no usable CUDA driver") +
                                  " (" + what + ": " + cudaGetErrorName(e) + ", " + cudaGetErrorString(e) + ")");
  }
  return fail(err, err_len, std::string(what) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}

int device_count(int* count, char* err, size_t err_len) {
  *count = 0;
  cudaError_t e = cudaGetDeviceCount(count);
  if (e != cudaSuccess) {
    *count = 0;
    return fail_cuda(err, err_len, e, "cudaGetDeviceCount");
  }
  return 0;
}

int device_info(int device, DittoCudaDeviceInfo* info, char* err, size_t err_len) {
  cudaDeviceProp prop{};
  cudaError_t e = cudaGetDeviceProperties(&prop, device);
  if (e != cudaSuccess) return fail_cuda(err, err_len, e, "cudaGetDeviceProperties");
  std::memset(info, 0, sizeof *info);
  std::snprintf(info->name, sizeof info->name, "%s", prop.name);
  info->major = prop.major;
  info->minor = prop.minor;
  info->multiprocessors = prop.multiProcessorCount;
  info->total_memory = prop.totalGlobalMem;
  return 0;
}

// A 67x45 · (53x45)ᵀ bf16 GEMM with bias + GELU on tensor cores vs the f32 kernel on the same bf16-exact
// inputs; proves the tensor-core code for this architecture is present and runs.
int self_test(int device, char* err, size_t err_len) {
  namespace dc = ditto::cuda;
  cudaError_t e = cudaSetDevice(device);
  if (e != cudaSuccess) return fail_cuda(err, err_len, e, "cudaSetDevice");
  const int64_t m = 67, n = 53, k = 45;
  std::vector<float> x(m * k), w(n * k), bias(n);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(int((i * 37) % 17) - 8) / 8.f;  // exact in bf16
  for (size_t i = 0; i < w.size(); ++i) w[i] = float(int((i * 11) % 13) - 6) / 8.f;
  for (size_t i = 0; i < bias.size(); ++i) bias[i] = float(int(i % 5) - 2) / 4.f;
  float *dx = nullptr, *dw = nullptr, *db = nullptr, *y_ref = nullptr, *y_tc = nullptr;
  dc::bf16 *xb = nullptr, *wb = nullptr;
  auto cleanup = [&] {
    cudaFree(dx); cudaFree(dw); cudaFree(db); cudaFree(y_ref); cudaFree(y_tc); cudaFree(xb); cudaFree(wb);
  };
  auto check = [&](const Status& s) { return s.ok() ? 0 : (cleanup(), fail(err, err_len, s.message())); };
  if (int r = check(dc::cuda_status(cudaMalloc(&dx, x.size() * 4), "cudaMalloc"))) return r;
  if (int r = check(dc::cuda_status(cudaMalloc(&dw, w.size() * 4), "cudaMalloc"))) return r;
  if (int r = check(dc::cuda_status(cudaMalloc(&db, n * 4), "cudaMalloc"))) return r;
  if (int r = check(dc::cuda_status(cudaMalloc(&y_ref, m * n * 4), "cudaMalloc"))) return r;
  if (int r = check(dc::cuda_status(cudaMalloc(&y_tc, m * n * 4), "cudaMalloc"))) return r;
  if (int r = check(dc::cuda_status(cudaMalloc(&xb, x.size() * 2), "cudaMalloc"))) return r;
  if (int r = check(dc::cuda_status(cudaMalloc(&wb, w.size() * 2), "cudaMalloc"))) return r;
  cudaMemcpy(dx, x.data(), x.size() * 4, cudaMemcpyHostToDevice);
  cudaMemcpy(dw, w.data(), w.size() * 4, cudaMemcpyHostToDevice);
  cudaMemcpy(db, bias.data(), n * 4, cudaMemcpyHostToDevice);
  dc::Epilogue ep;
  ep.bias = db;
  ep.activation = dc::Activation::GeluTanh;
  if (int r = check(dc::f32_to_bf16(dx, xb, m * k, nullptr))) return r;
  if (int r = check(dc::f32_to_bf16(dw, wb, n * k, nullptr))) return r;
  if (int r = check(dc::gemm_f32(dx, m, k, k, dw, n, k, y_ref, n, ep, nullptr))) return r;
  if (int r = check(dc::gemm_bf16(xb, m, k, k, wb, n, k, y_tc, n, ep, nullptr))) return r;
  if (int r = check(dc::cuda_status(cudaDeviceSynchronize(), "self_test"))) return r;
  std::vector<float> a(m * n), b(m * n);
  cudaMemcpy(a.data(), y_tc, a.size() * 4, cudaMemcpyDeviceToHost);
  cudaMemcpy(b.data(), y_ref, b.size() * 4, cudaMemcpyDeviceToHost);
  cleanup();
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::fmax(worst, std::fabs(double(a[i]) - double(b[i])));
  if (!(worst <= 1e-3)) return fail(err, err_len, "self_test: tensor-core GEMM differs from f32 by " + std::to_string(worst));
  return 0;
}

// "cuda" -> 0, "cuda:N" -> N (the core resolved the spec already); -1 otherwise.
int device_index(const std::string& device) {
  if (device == "cuda") return 0;
  if (device.rfind("cuda:", 0) != 0 || device.size() == 5) return -1;
  int index = 0;
  for (char ch : device.substr(5)) {
    if (ch < '0' || ch > '9') return -1;
    index = index * 10 + (ch - '0');
  }
  return index;
}

int load_model(const char* path, const void* options, void** denoiser, int* status_code, char* err, size_t err_len) {
  *denoiser = nullptr;
  *status_code = static_cast<int>(ditto::StatusCode::kCuda);
  try {
    const auto& o = *static_cast<const ditto::LoadOptions*>(options);
    ditto::cuda::CudaDitOptions cuda_options;
    cuda_options.dtype = o.dtype;
    cuda_options.device = device_index(o.device);
    if (cuda_options.device < 0) return fail(err, err_len, "Expected a CUDA device but received '" + o.device + "'");
    auto loaded = ditto::cuda::CudaDit::load(path, cuda_options);
    if (!loaded.ok()) {
      *status_code = static_cast<int>(loaded.status().code());
      return fail(err, err_len, loaded.status().message());
    }
    *denoiser = static_cast<ditto::Denoiser*>(std::move(loaded).value().release());
    *status_code = 0;
    return 0;
  } catch (const std::bad_alloc&) {
    *status_code = static_cast<int>(ditto::StatusCode::kOutOfMemory);
    return fail(err, err_len, "out of host memory loading the CUDA model");
  } catch (const std::exception& e) {
    return fail(err, err_len, std::string("CUDA model load failed: ") + e.what());
  }
}

void transfer_counts(DittoCudaTransferCounts* counts) { *counts = ditto::cuda::transfer_counts(); }

#ifdef DITTO_CUDA_EMULATED
constexpr int kEmulated = 1;
#else
constexpr int kEmulated = 0;
#endif

#ifndef DITTO_CUDA_ARCHS_STRING
#define DITTO_CUDA_ARCHS_STRING "unknown"
#endif

const std::string& build_info() {
  static const std::string info = "CUDA " + std::to_string(CUDART_VERSION / 1000) + "." +
                                  std::to_string((CUDART_VERSION % 1000) / 10) + ", archs " DITTO_CUDA_ARCHS_STRING +
                                  ", " + ditto::cuda::gemm_backend_info() +
                                  (kEmulated ? ", host emulation (tests only)" : "");
  return info;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) const DittoCudaBackendV1* ditto_cuda_backend_v1(void) {
  static const DittoCudaBackendV2 table = {
      {DITTO_CUDA_ABI_VERSION, sizeof(DittoCudaBackendV2), build_info().c_str(), &device_count, &device_info,
       &self_test},
      DITTO_CORE_ABI,
      kEmulated,
      &load_model,
      &transfer_counts,
  };
  return &table.v1;
}
