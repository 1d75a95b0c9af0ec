// Warp-level tensor-core tiles (mma.sync, sm_80 and newer) shared by the
// kernels that drive them directly: decode attention and few-row products.
#pragma once
#include <cstdint>
#include <type_traits>

#include "cuda_common.cuh"

namespace gems::nvidia {

// c += a b for one m16n8k16 tile of 16-bit inputs (half or bf16), float
// accumulators. A lane's fragments (PTX ISA, "mma.m16n8k16"), with g = lane / 4
// and t = lane % 4: a[0] holds A[g][2t, 2t+1], a[1] A[g+8][2t, 2t+1], a[2]
// A[g][2t+8, 2t+9], a[3] A[g+8][2t+8, 2t+9]; b0 holds B[2t, 2t+1][g], b1
// B[2t+8, 2t+9][g]; c[0..1] C[g][2t, 2t+1], c[2..3] C[g+8][2t, 2t+1].
template <typename T>
__device__ __forceinline__ void mma_16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  if constexpr (std::is_same_v<T, bf16>)
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  else
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

}  // namespace gems::nvidia
