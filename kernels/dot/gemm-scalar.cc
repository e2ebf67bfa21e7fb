// Portable dot-family GEMM / IGEMM over DOT_N16K4 weights: the always-available fallback and the
// layout's executable specification. Each output channel is decoded once into `scratch`
// (value - zw per k) and reused for a block of rows, as the ROWS_LSB scalar kernels do.
#include <stdint.h>

#include "kernels/common/requant.h"
#include "kernels/dot/dot.h"

namespace {

constexpr size_t kRowBlock = 32;

// out[t * kc + k] = value - zw of channel n for every tap and k < kc.
void DecodeChannel(const uint8_t* w, size_t n, size_t ks, size_t kc,
                   const crumb_gemm_params* params, int32_t* out) {
  const unsigned bits = params->w_bits;
  const size_t block = crumb_dot_block_bytes(ks, kc, bits);
  const size_t tap_bytes = crumb_dot_tap_bytes(kc, bits);
  const size_t groups = (kc + CRUMB_DOT_KG - 1) / CRUMB_DOT_KG;
  const int32_t shift = crumb_dot_weight_bias(bits, params->w_encoding) - params->w_zero_point[n];
  const unsigned lane0 = (unsigned)(n % CRUMB_DOT_NR) * CRUMB_DOT_KG;
  const uint8_t* base = w + n / CRUMB_DOT_NR * block + CRUMB_DOT_HEADER;
  for (size_t t = 0; t < ks; t++) {
    const uint8_t* sb = base + t * tap_bytes;
    for (size_t g0 = 0; g0 < groups; g0 += CRUMB_DOT_SB) {
      const unsigned nv = (unsigned)(groups - g0 < CRUMB_DOT_SB ? groups - g0 : CRUMB_DOT_SB);
      for (unsigned v = 0; v < nv; v++) {
        for (unsigned j = 0; j < CRUMB_DOT_KG; j++) {
          const size_t k = (g0 + v) * CRUMB_DOT_KG + j;
          if (k >= kc) break;
          const uint32_t code = crumb_dot_sb_code(sb, nv, bits, v, lane0 + j);
          // value - zw = w' + bias - zw, in wrapping int32.
          out[t * kc + k] =
              (int32_t)((uint32_t)crumb_dot_code_value(code, bits, params->w_encoding) +
                        (uint32_t)shift);
        }
      }
      sb += crumb_dot_sb_bytes(nv, bits);
    }
  }
}

inline void Store(uint32_t acc, size_t n, const crumb_gemm_params* params, void* c_row) {
  const float y = (float)(int32_t)acc * params->mul[n] + params->add[n];
  crumb_store_output(y, &params->out, c_row, n);
}

template <typename TA>
void IGemm(size_t mr, size_t nc, size_t kc, size_t ks, const void* const* a, size_t a_offset,
           const void* zero, const void* a_direct, size_t a_stride, const uint8_t* w, void* c,
           size_t c_stride, const crumb_gemm_params* params, int32_t* scratch) {
  const int32_t za = params->a_zero_point;
  for (size_t m0 = 0; m0 < mr; m0 += kRowBlock) {
    const size_t m1 = m0 + kRowBlock < mr ? m0 + kRowBlock : mr;
    for (size_t n = 0; n < nc; n++) {
      DecodeChannel(w, n, ks, kc, params, scratch);
      for (size_t m = m0; m < m1; m++) {
        uint32_t acc = 0;
        for (size_t t = 0; t < ks; t++) {
          const uint8_t* p;
          if (a) {
            p = static_cast<const uint8_t*>(a[m * ks + t]);
            if (p != zero) p += a_offset;
          } else {
            p = static_cast<const uint8_t*>(a_direct) + m * a_stride;
          }
          const TA* ar = reinterpret_cast<const TA*>(p);
          const int32_t* wt = scratch + t * kc;
          for (size_t k = 0; k < kc; k++) acc += (uint32_t)((int32_t)ar[k] - za) * (uint32_t)wt[k];
        }
        Store(acc, n, params, static_cast<uint8_t*>(c) + m * c_stride);
      }
    }
  }
}

}  // namespace

extern "C" void crumb_q8_qb_dotgemm_ukernel_1x16__scalar(size_t mr, size_t nc, size_t kc,
                                                         const void* a, size_t a_stride,
                                                         const uint8_t* w, void* c, size_t c_stride,
                                                         const crumb_gemm_params* params,
                                                         int32_t* scratch) {
  if (params->a_type == CRUMB_ELEM_U8) {
    IGemm<uint8_t>(mr, nc, kc, 1, nullptr, 0, nullptr, a, a_stride, w, c, c_stride, params,
                   scratch);
  } else {
    IGemm<int8_t>(mr, nc, kc, 1, nullptr, 0, nullptr, a, a_stride, w, c, c_stride, params, scratch);
  }
}

extern "C" void crumb_q8_qb_dotigemm_ukernel_1x16__scalar(
    size_t mr, size_t nc, size_t kc, size_t ks, const void** a, size_t a_offset, const void* zero,
    const uint8_t* w, void* c, size_t c_stride, const crumb_gemm_params* params, int32_t* scratch) {
  if (params->a_type == CRUMB_ELEM_U8) {
    IGemm<uint8_t>(mr, nc, kc, ks, a, a_offset, zero, nullptr, 0, w, c, c_stride, params, scratch);
  } else {
    IGemm<int8_t>(mr, nc, kc, ks, a, a_offset, zero, nullptr, 0, w, c, c_stride, params, scratch);
  }
}
