#include "cpu/gemm_kernels.h"
namespace ditto::cpu::gemm {
const MicroKernel* amx_kernel() { return nullptr; }
}
