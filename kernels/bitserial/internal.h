// Pieces every bitserial kernel shares (kernels/bitserial/bitserial.h), ISA-neutral: where a tap's
// row is, the activation sums S_a, the block header, and the scalar epilogue that SIMD kernels
// also use for their remainders. C++ only (the kernels' files); no intrinsics here.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kernels/bitserial/bitserial.h"
#include "kernels/common/requant.h"

namespace crumb_bitserial {

// Where tap t of output pixel m reads its CHANNELS_PLANES64 row.
struct DirectRows {
  const uint8_t* a;
  size_t stride;
  const uint8_t* operator()(size_t m, size_t) const { return a + m * stride; }
};
struct IndirectRows {
  const void** a;
  size_t ks, offset;
  const void* zero;
  const uint8_t* operator()(size_t m, size_t t) const {
    const uint8_t* p = static_cast<const uint8_t*>(a[m * ks + t]);
    return p == zero ? p : p + offset;
  }
};

// IndirectRows with a_offset 0 (the usual call): no compare with `zero` per tap.
struct IndirectRows0 {
  const void** a;
  size_t ks;
  const uint8_t* operator()(size_t m, size_t t) const {
    return static_cast<const uint8_t*>(a[m * ks + t]);
  }
};

inline uint32_t Load32(const uint8_t* p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}
inline uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

// Mask of the real channels of a plane's last 64-bit word.
inline uint64_t LastWordMask(size_t kc) {
  return kc % 64 ? ((uint64_t)1 << (kc % 64)) - 1 : ~(uint64_t)0;
}

// S_a of one row: sum over k < kc of its codes (padding bits of the row are ignored).
template <unsigned ABITS>
inline uint32_t RowSum(const uint8_t* row, size_t kc) {
  const size_t words = crumb_bitserial_words(kc), plane_bytes = crumb_bitserial_plane_bytes(kc);
  const uint64_t last = LastWordMask(kc);
  uint32_t s = 0;
  for (unsigned i = 0; i < ABITS; i++) {
    const uint8_t* plane = row + i * plane_bytes;
    uint32_t count = 0;
    for (size_t q = 0; q + 1 < words; q++)
      count += (uint32_t)__builtin_popcountll(Load64(plane + 8 * q));
    count += (uint32_t)__builtin_popcountll(Load64(plane + 8 * (words - 1)) & last);
    s += count << i;
  }
  return s;
}

// The int32 fields of a block's header.
inline int32_t Vsum(const uint8_t* block, size_t l) { return (int32_t)Load32(block + 4 * l); }
inline int32_t Beta(const uint8_t* block, size_t l) {
  return (int32_t)Load32(block + CRUMB_BITSERIAL_BETA_OFFSET + 4 * l);
}
inline int32_t Hsum(const uint8_t* block, size_t l) {
  return (int32_t)Load32(block + CRUMB_BITSERIAL_HSUM_OFFSET + 4 * l);
}
inline uint32_t Shift(const uint8_t* block) { return Load32(block + CRUMB_BITSERIAL_SHIFT_OFFSET); }

// acc of lane l from P and S_a (bitserial.h), wrapping.
inline int32_t Correct(uint32_t p, uint32_t sa, const uint8_t* block, size_t l, uint32_t shift,
                       int32_t za) {
  return (int32_t)((p << shift) - (uint32_t)Beta(block, l) * sa -
                   (uint32_t)za * (uint32_t)Vsum(block, l));
}

// E(y) of channels [n0, n0 + count) of one output row (n0 a multiple of 64, count <= 64), acc[j]
// holding channel n0 + j. out_bits 1 / 2 writes the whole 64-bit word of each plane.
inline void StoreBlock(const int32_t* acc, size_t n0, size_t count, const crumb_bitserial_params* p,
                       void* row) {
  if (p->out_bits == 1 || p->out_bits == 2) {
    uint64_t planes[2] = {0, 0};
    for (size_t j = 0; j < count; j++) {
      const float y = (float)acc[j] * p->mul[n0 + j] + p->add[n0 + j];
      const uint32_t q =
          (uint32_t)crumb_requantize_value(y, p->out.zero_point, p->out.qmin, p->out.qmax);
      for (unsigned b = 0; b < p->out_bits; b++) planes[b] |= (uint64_t)((q >> b) & 1u) << j;
    }
    for (unsigned b = 0; b < p->out_bits; b++) {
      memcpy(static_cast<uint8_t*>(row) + b * p->out_plane_bytes + n0 / 8, &planes[b], 8);
    }
    return;
  }
  for (size_t j = 0; j < count; j++) {
    crumb_store_output((float)acc[j] * p->mul[n0 + j] + p->add[n0 + j], &p->out, row, n0 + j);
  }
}

}  // namespace crumb_bitserial

// The extern "C" GEMM and IGEMM entry points of one SIMD kernel, from the including file's
// crumb_bitserial::BsGemm<A, W>(mr, nc, kc, ks, rows, w, c, c_stride, params) template (one per
// ISA file, in its anonymous namespace). IGEMM calls without an a_offset use the indirection
// buffer's pointers as they are (IndirectRows0: no compare with the zero row per tap).
#define CRUMB_BITSERIAL_DEFINE_UKERNELS(ABITS, WBITS, TILE, ISA)                                   \
  extern "C" void crumb_qu##ABITS##_qb##WBITS##_bsgemm_ukernel_##TILE##__##ISA(                    \
      size_t mr, size_t nc, size_t kc, const void* a, size_t a_stride, const uint8_t* w, void* c,  \
      size_t c_stride, const crumb_bitserial_params* params) {                                     \
    crumb_bitserial::BsGemm<ABITS, WBITS>(                                                         \
        mr, nc, kc, 1, crumb_bitserial::DirectRows{static_cast<const uint8_t*>(a), a_stride}, w,   \
        c, c_stride, params);                                                                      \
  }                                                                                                \
  extern "C" void crumb_qu##ABITS##_qb##WBITS##_bsigemm_ukernel_##TILE##__##ISA(                   \
      size_t mr, size_t nc, size_t kc, size_t ks, const void** a, size_t a_offset,                 \
      const void* zero, const uint8_t* w, void* c, size_t c_stride,                                \
      const crumb_bitserial_params* params) {                                                      \
    if (a_offset == 0) {                                                                           \
      crumb_bitserial::BsGemm<ABITS, WBITS>(mr, nc, kc, ks, crumb_bitserial::IndirectRows0{a, ks}, \
                                            w, c, c_stride, params);                               \
    } else {                                                                                       \
      crumb_bitserial::BsGemm<ABITS, WBITS>(mr, nc, kc, ks,                                        \
                                            crumb_bitserial::IndirectRows{a, ks, a_offset, zero},  \
                                            w, c, c_stride, params);                               \
    }                                                                                              \
  }
