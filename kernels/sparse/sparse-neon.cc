// crumb_q8_qs8_spmm_ukernel_16x4__neon: the sparse contract on AArch64 Advanced SIMD without dot
// products. A block of 4 pixels: smull / smull2 of the s8 activations by the broadcast block
// (exact int16 products, |a_s v| <= 128 * 128), sadalp into int32 pair sums (channels 0+1, 2+3
// per pixel), one addp per channel at the end. See sparse-neon.h.
#include "kernels/sparse/sparse-neon.h"

namespace {

struct SmullDot {
  struct Acc {
    int32x4_t lo, hi;  // pixels 0, 1 / 2, 3 as (c01, c23) pairs
  };
  static inline void Init(Acc* s) { s->lo = s->hi = vdupq_n_s32(0); }
  static inline void Step(Acc* s, int8x16_t x, int8x16_t w) {
    s->lo = vpadalq_s16(s->lo, vmull_s8(vget_low_s8(x), vget_low_s8(w)));
    s->hi = vpadalq_s16(s->hi, vmull_high_s8(x, w));
  }
  static inline int32x4_t Finish(const Acc& s) { return vpaddq_s32(s.lo, s.hi); }
};

}  // namespace

extern "C" void crumb_q8_qs8_spmm_ukernel_16x4__neon(size_t mc, size_t n0, size_t nc, const void* a,
                                                     size_t a_group_stride, const void* w,
                                                     void* out, size_t out_pixel_stride,
                                                     size_t out_group_stride,
                                                     const crumb_spmm_params* params) {
  crumb_sparse_neon::Kernel<SmullDot>(mc, n0, nc, a, a_group_stride, w, out, out_pixel_stride,
                                      out_group_stride, params);
}
