// The portable sparse kernel (kernels/sparse/sparse.h): one pixel at a time, every block of a
// channel accumulated in int32 (wrapping, as the contract defines), the scalar epilogue.
#include <string.h>

#include "kernels/common/requant.h"
#include "kernels/sparse/sparse.h"

extern "C" void crumb_q8_qs8_spmm_ukernel_1x4__scalar(
    size_t mc, size_t n0, size_t nc, const void* a, size_t a_group_stride, const void* w, void* out,
    size_t out_pixel_stride, size_t out_group_stride, const crumb_spmm_params* params) {
  const uint8_t* act = (const uint8_t*)a;
  const int32_t* vsum = crumb_sparse_vsum(w);
  const uint32_t* start = crumb_sparse_start(w);
  const crumb_sparse_block* blocks = crumb_sparse_blocks(w);
  const uint8_t flip = params->a_type == CRUMB_ELEM_S8 ? 0x80 : 0;
  const uint32_t za_u = (uint32_t)params->a_zero_point + (flip ? 128u : 0u);
  for (size_t p = 0; p < mc; p++) {
    for (size_t i = 0; i < nc; i++) {
      const size_t o = n0 + i;
      uint32_t acc = 0;  // wrapping int32
      const uint8_t* ap = act + 4 * p;
      for (uint32_t b = start[o]; b < start[o + 1]; b++) {
        crumb_sparse_block blk;
        memcpy(&blk, blocks + b, sizeof blk);
        ap += (ptrdiff_t)blk.delta * (ptrdiff_t)a_group_stride;
        for (int j = 0; j < 4; j++) acc += (uint32_t)(ap[j] ^ flip) * (uint32_t)(int32_t)blk.v[j];
      }
      acc -= za_u * (uint32_t)vsum[o];
      const float y = (float)(int32_t)acc * params->mul[i] + params->add[i];
      crumb_store_output(y, &params->out, out,
                         p * out_pixel_stride + (i / 4) * out_group_stride + i % 4);
    }
  }
}
