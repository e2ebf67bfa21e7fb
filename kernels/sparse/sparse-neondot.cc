// crumb_q8_qs8_spmm_ukernel_16x4__neondot: the sparse contract on AArch64 with FEAT_DotProd: one
// sdot per 4 pixels and block (s8 activations x s8 block, four products into an int32 lane).
// See sparse-neon.h.
#include "kernels/sparse/sparse-neon.h"

namespace {

struct Sdot {
  typedef int32x4_t Acc;
  static inline void Init(Acc* s) { *s = vdupq_n_s32(0); }
  static inline void Step(Acc* s, int8x16_t x, int8x16_t w) { *s = vdotq_s32(*s, x, w); }
  static inline int32x4_t Finish(const Acc& s) { return s; }
};

}  // namespace

extern "C" void crumb_q8_qs8_spmm_ukernel_16x4__neondot(
    size_t mc, size_t n0, size_t nc, const void* a, size_t a_group_stride, const void* w, void* out,
    size_t out_pixel_stride, size_t out_group_stride, const crumb_spmm_params* params) {
  crumb_sparse_neon::Kernel<Sdot>(mc, n0, nc, a, a_group_stride, w, out, out_pixel_stride,
                                  out_group_stride, params);
}
