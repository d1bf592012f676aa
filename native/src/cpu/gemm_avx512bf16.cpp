#include "cpu/gemm_kernels.h"
namespace ditto::cpu::gemm {
const MicroKernel* avx512bf16_kernel() { return nullptr; }
}
