#include "cpu/gemm_kernels.h"
namespace ditto::cpu::gemm {
const MicroKernel* avx2_kernel(DType) { return nullptr; }
}
