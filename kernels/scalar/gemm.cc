// Scalar GEMM and indirect GEMM over ROWS_LSB weights of any bit width. The weights are read in
// place: each call unpacks one row at a time into `scratch` and reuses it for a block of rows.
#include <stdint.h>

#include "kernels/common/requant.h"
#include "kernels/scalar/scalar.h"

namespace {

// Rows of `a` sharing one unpacked weight row before the next row is unpacked: large enough to
// amortise the unpacking, small enough that the block's activations stay in L1.
constexpr size_t kRowBlock = 32;

inline size_t OutputElementSize(const crumb_output_params& out) {
  return out.type == CRUMB_ELEM_F32 ? sizeof(float) : 1;
}

inline void StoreAccumulator(uint32_t acc, size_t n, const crumb_gemm_params* params, void* c_row) {
  // int32 accumulation wraps like every SIMD kernel's does (accumulated as uint32: no UB).
  const float y = (float)(int32_t)acc * params->mul[n] + params->add[n];
  crumb_store_output(y, &params->out, c_row, n);
}

template <typename TA>
void Gemm(size_t mr, size_t nc, size_t kc, const void* a, size_t a_stride, const uint8_t* w,
          void* c, size_t c_stride, const crumb_gemm_params* params, int32_t* scratch) {
  const int32_t za = params->a_zero_point;
  for (size_t m0 = 0; m0 < mr; m0 += kRowBlock) {
    const size_t m1 = m0 + kRowBlock < mr ? m0 + kRowBlock : mr;
    for (size_t n = 0; n < nc; n++) {
      crumb_decode_weight_row(w + n * params->w_row_bytes, kc, params->w_bits, params->w_encoding,
                              params->w_zero_point[n], scratch);
      for (size_t m = m0; m < m1; m++) {
        const TA* ar = reinterpret_cast<const TA*>(static_cast<const uint8_t*>(a) + m * a_stride);
        uint32_t acc = 0;
        for (size_t k = 0; k < kc; k++) {
          acc += (uint32_t)(((int32_t)ar[k] - za) * scratch[k]);
        }
        StoreAccumulator(acc, n, params, static_cast<uint8_t*>(c) + m * c_stride);
      }
    }
  }
}

template <typename TA>
void IGemm(size_t mr, size_t nc, size_t kc, size_t ks, const void** a, size_t a_offset,
           const void* zero, const uint8_t* w, void* c, size_t c_stride,
           const crumb_gemm_params* params, int32_t* scratch) {
  const int32_t za = params->a_zero_point;
  for (size_t m0 = 0; m0 < mr; m0 += kRowBlock) {
    const size_t m1 = m0 + kRowBlock < mr ? m0 + kRowBlock : mr;
    for (size_t n = 0; n < nc; n++) {
      crumb_decode_weight_row(w + n * params->w_row_bytes, ks * kc, params->w_bits,
                              params->w_encoding, params->w_zero_point[n], scratch);
      for (size_t m = m0; m < m1; m++) {
        uint32_t acc = 0;
        for (size_t t = 0; t < ks; t++) {
          const uint8_t* p = static_cast<const uint8_t*>(a[m * ks + t]);
          if (p != zero) p += a_offset;
          const TA* ar = reinterpret_cast<const TA*>(p);
          const int32_t* wt = scratch + t * kc;
          for (size_t k = 0; k < kc; k++) {
            acc += (uint32_t)(((int32_t)ar[k] - za) * wt[k]);
          }
        }
        StoreAccumulator(acc, n, params, static_cast<uint8_t*>(c) + m * c_stride);
      }
    }
  }
}

}  // namespace

extern "C" void crumb_q8_qb_gemm_ukernel_1x1__scalar(size_t mr, size_t nc, size_t kc, const void* a,
                                                     size_t a_stride, const uint8_t* w, void* c,
                                                     size_t c_stride,
                                                     const crumb_gemm_params* params,
                                                     int32_t* scratch) {
  if (params->a_type == CRUMB_ELEM_U8) {
    Gemm<uint8_t>(mr, nc, kc, a, a_stride, w, c, c_stride, params, scratch);
  } else {
    Gemm<int8_t>(mr, nc, kc, a, a_stride, w, c, c_stride, params, scratch);
  }
}

extern "C" void crumb_q8_qb_igemm_ukernel_1x1__scalar(
    size_t mr, size_t nc, size_t kc, size_t ks, const void** a, size_t a_offset, const void* zero,
    const uint8_t* w, void* c, size_t c_stride, const crumb_gemm_params* params, int32_t* scratch) {
  if (params->a_type == CRUMB_ELEM_U8) {
    IGemm<uint8_t>(mr, nc, kc, ks, a, a_offset, zero, w, c, c_stride, params, scratch);
  } else {
    IGemm<int8_t>(mr, nc, kc, ks, a, a_offset, zero, w, c, c_stride, params, scratch);
  }
}
