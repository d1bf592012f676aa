#include "cpu/gemm_kernels.h"
namespace ditto::cpu::gemm {
const MicroKernel* avx512_kernel(DType) { return nullptr; }
}
