// Pair-table GEMM / IGEMM on AVX2 (kernels/lut/lut.h): register tile of 4 output pixels x 32
// output channels (one half of a 64-channel block, a ymm of 32 byte lanes); a tile runs both
// halves of a block before its epilogue.
//
// The scheme and the accumulation bound are lutgemm-avx512.h's, on ymm: per step and pixel two
// table rows are loaded and looked up with vpshufb by the 32 lanes' nibble
// codes; byte sums of 2 * steps_per_group lookups (<= 255, the table's trailer), widened as
// 16-bit lanes w: accw += w, acco += w >> 8; flushed to int32 every 256 groups (255 * 257 <
// 2^16). Even bytes of half h of a block hold channels 16h .. 16h + 15, odd bytes 32 + 16h ..
// 32 + 16h + 15, so the flushed sums land in channel order with no shuffle.
#include <immintrin.h>
#include <string.h>

#include "kernels/common/epilogue-avx2.h"
#include "kernels/lut/lut.h"

namespace {

constexpr int kMR = 4;
constexpr size_t kFlushGroups = 256;

// acc += x in 16-bit lanes, in place (GCC 12 otherwise adds copies to the hot loop).
inline void AddInPlace16(__m256i& acc, __m256i x) {
  __asm__("vpaddw %1, %0, %0" : "+x"(acc) : "x"(x));
}

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

// codes[64] (bytes, channel order, zero past count) -> packed out_bits codes at channel n.
inline void StorePacked(const uint8_t* codes, unsigned ob, size_t count, uint8_t* row, size_t n) {
  const __m256i b0 = _mm256_loadu_si256((const __m256i*)codes);
  const __m256i b1 = _mm256_loadu_si256((const __m256i*)(codes + 32));
  alignas(32) uint8_t packed[32];
  size_t nbytes;
  if (ob == 4) {
    const __m256i w0 = _mm256_maddubs_epi16(b0, _mm256_set1_epi16(0x1001));
    const __m256i w1 = _mm256_maddubs_epi16(b1, _mm256_set1_epi16(0x1001));
    _mm256_store_si256((__m256i*)packed,
                       _mm256_permute4x64_epi64(_mm256_packus_epi16(w0, w1), 0xD8));
    nbytes = (count * 4 + 7) / 8;
    memcpy(row + n / 2, packed, nbytes);
  } else {
    const __m256i pair = _mm256_set1_epi16(0x0401), quad = _mm256_set1_epi32(0x00100001);
    const __m256i d0 = _mm256_madd_epi16(_mm256_maddubs_epi16(b0, pair), quad);
    const __m256i d1 = _mm256_madd_epi16(_mm256_maddubs_epi16(b1, pair), quad);
    const __m256i w = _mm256_permute4x64_epi64(_mm256_packus_epi32(d0, d1), 0xD8);
    _mm256_store_si256((__m256i*)packed, _mm256_permute4x64_epi64(_mm256_packus_epi16(w, w), 0xD8));
    nbytes = (count * 2 + 7) / 8;
    memcpy(row + n / 4, packed, nbytes);
  }
}

// acc[64]: the int32 accumulators of channels n .. n + 63 ([0, count) valid); E(y) into the row.
inline void StoreBlock(const int32_t* acc, size_t n, size_t count, const crumb_lut_params* p,
                       const crumb_epilogue_avx2* e, uint8_t* row) {
  const bool packed = p->out_bits == 2 || p->out_bits == 4;
  alignas(32) uint8_t codes[CRUMB_LUT_NR];
  if (packed) memset(codes, 0, sizeof(codes));
  for (size_t j = 0; j < count; j += 8) {
    const __m256i v = _mm256_load_si256((const __m256i*)(acc + j));
    const size_t cj = count - j < 8 ? count - j : 8;
    if (packed) {
      const __m256 y = crumb_avx2_scale(v, crumb_avx2_load_partial_ps(p->mul + n + j, cj),
                                        crumb_avx2_load_partial_ps(p->add + n + j, cj));
      const __m128i q = crumb_avx2_pack8_u8(crumb_avx2_requantize(y, e));
      uint64_t bytes = (uint64_t)_mm_cvtsi128_si64(q);
      memcpy(codes + j, &bytes, cj);
    } else if (cj == 8) {
      crumb_avx2_output8(v, _mm256_loadu_ps(p->mul + n + j), _mm256_loadu_ps(p->add + n + j), e,
                         row, n + j, 8);
    } else {
      crumb_avx2_output_partial(v, p->mul, p->add, e, row, n + j, cj);
    }
  }
  if (packed) StorePacked(codes, p->out_bits, count, row, n);
}

template <unsigned ABITS, class Rows>
inline void Tile(size_t m0, size_t mvalid, size_t n0, size_t nc, size_t kc, size_t ks,
                 const Rows& rows, const uint8_t* w, uint8_t* c, size_t c_stride,
                 const crumb_lut_params* p, const crumb_epilogue_avx2* e) {
  const uint8_t* table = p->table;
  const crumb_lut_table_info* info = crumb_lut_table_trailer(table, ABITS);
  const size_t spg = (size_t)info->steps_per_group;
  const size_t steps = crumb_lut_steps(kc);
  const size_t tap_groups = (steps + spg - 1) / spg;  // the last one may be short
  const __m256i nib = _mm256_set1_epi8(15);
  // Every pixel's int32 sums start at -(bias * pairs + za * ksum[n]) (lutgemm-avx512.h).
  alignas(32) int32_t acc32[kMR][CRUMB_LUT_NR];
  {
    const __m256i bias_total = _mm256_set1_epi32((int32_t)((uint32_t)info->bias * 2 * steps * ks));
    const __m256i za = _mm256_set1_epi32(p->a_zero_point);
    for (int j = 0; j < CRUMB_LUT_NR; j += 8) {
      const __m256i ksum = _mm256_loadu_si256((const __m256i*)(w + 4 * j));
      const __m256i init = _mm256_sub_epi32(
          _mm256_setzero_si256(), _mm256_add_epi32(bias_total, _mm256_mullo_epi32(za, ksum)));
      for (int m = 0; m < kMR; m++) _mm256_store_si256((__m256i*)(acc32[m] + j), init);
    }
  }
  for (int h = 0; h < 2; h++) {
    __m256i accw[kMR], acco[kMR];
#pragma GCC unroll 4
    for (int m = 0; m < kMR; m++) accw[m] = acco[m] = _mm256_setzero_si256();
    auto flush = [&]() __attribute__((always_inline)) {
#pragma GCC unroll 4
      for (int m = 0; m < kMR; m++) {
        const __m256i ev = _mm256_sub_epi16(accw[m], _mm256_slli_epi16(acco[m], 8));
        int32_t* d[4] = {acc32[m] + 16 * h, acc32[m] + 16 * h + 8, acc32[m] + 32 + 16 * h,
                         acc32[m] + 40 + 16 * h};
        const __m256i parts[4] = {_mm256_cvtepu16_epi32(_mm256_castsi256_si128(ev)),
                                  _mm256_cvtepu16_epi32(_mm256_extracti128_si256(ev, 1)),
                                  _mm256_cvtepu16_epi32(_mm256_castsi256_si128(acco[m])),
                                  _mm256_cvtepu16_epi32(_mm256_extracti128_si256(acco[m], 1))};
        for (int j = 0; j < 4; j++) {
          _mm256_store_si256((__m256i*)d[j],
                             _mm256_add_epi32(_mm256_load_si256((const __m256i*)d[j]), parts[j]));
        }
        accw[m] = acco[m] = _mm256_setzero_si256();
      }
    };
    size_t groups = 0;  // since the last flush
    for (size_t t = 0; t < ks; t++) {
      const uint8_t* ap[kMR];
#pragma GCC unroll 4
      for (int m = 0; m < kMR; m++) {
        ap[m] = rows(m0 + ((size_t)m < mvalid ? (size_t)m : mvalid - 1), t);
      }
      const uint8_t* wt = w + CRUMB_LUT_BLOCK_HEADER + t * steps * CRUMB_LUT_NR + 32 * h;
      auto step = [&](__m256i(&g)[kMR], size_t s, bool first) __attribute__((always_inline)) {
        const __m256i wv = _mm256_loadu_si256((const __m256i*)(wt + s * CRUMB_LUT_NR));
        const __m256i lo = _mm256_and_si256(wv, nib);
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(wv, 4), nib);
#pragma GCC unroll 4
        for (int m = 0; m < kMR; m++) {
          const uint8_t *r0, *r1;
          if (ABITS == 2) {
            const uint32_t code = ap[m][s];
            r0 = table + ((code << 6) & 0x3C0);
            r1 = table + ((code << 2) & 0x3C0);
          } else {
            r0 = table + ((uint32_t)ap[m][2 * s] << 6);
            r1 = table + ((uint32_t)ap[m][2 * s + 1] << 6);
          }
          const __m256i t0 = _mm256_load_si256((const __m256i*)r0);
          const __m256i t1 = _mm256_load_si256((const __m256i*)r1);
          const __m256i x =
              _mm256_add_epi8(_mm256_shuffle_epi8(t0, lo), _mm256_shuffle_epi8(t1, hi));
          g[m] = first ? x : _mm256_add_epi8(g[m], x);
        }
      };
      size_t s = 0;
      for (size_t done = 0; done < tap_groups;) {
        // Whole groups up to the next flush, without a branch inside.
        const size_t left = tap_groups - done;
        const size_t n = left < kFlushGroups - groups ? left : kFlushGroups - groups;
        done += n;
        for (size_t i = 0; i < n; i++) {
          const size_t send = s + spg < steps ? s + spg : steps;
          __m256i g[kMR];
          step(g, s, true);
          for (s++; s < send; s++) step(g, s, false);
#pragma GCC unroll 4
          for (int m = 0; m < kMR; m++) {
            AddInPlace16(accw[m], g[m]);
            AddInPlace16(acco[m], _mm256_srli_epi16(g[m], 8));
          }
        }
        groups += n;
        if (groups == kFlushGroups) {
          flush();
          groups = 0;
        }
      }
    }
    flush();
  }
  const size_t count = nc - n0 < CRUMB_LUT_NR ? nc - n0 : CRUMB_LUT_NR;
  for (size_t m = 0; m < mvalid; m++) {
    StoreBlock(acc32[m], n0, count, p, e, c + (m0 + m) * c_stride);
  }
}

template <unsigned ABITS, class Rows>
void LutGemm(size_t mr, size_t nc, size_t kc, size_t ks, const Rows& rows, const uint8_t* w,
             void* c, size_t c_stride, const crumb_lut_params* p) {
  const crumb_epilogue_avx2 e = crumb_epilogue_avx2_init(&p->out);
  const size_t block_bytes = crumb_lut_block_bytes(ks, kc);
  const size_t blocks = crumb_lut_blocks(nc);
  uint8_t* out = static_cast<uint8_t*>(c);
  for (size_t m0 = 0; m0 < mr; m0 += kMR) {
    const size_t mvalid = mr - m0 < (size_t)kMR ? mr - m0 : (size_t)kMR;
    for (size_t b = 0; b < blocks; b++) {
      Tile<ABITS>(m0, mvalid, b * CRUMB_LUT_NR, nc, kc, ks, rows, w + b * block_bytes, out,
                  c_stride, p, &e);
    }
  }
}

}  // namespace

#define CRUMB_LUT_AVX2(ABITS)                                                                     \
  extern "C" void crumb_qu##ABITS##_qs2_lutgemm_ukernel_4x32__avx2(                               \
      size_t mr, size_t nc, size_t kc, const void* a, size_t a_stride, const uint8_t* w, void* c, \
      size_t c_stride, const crumb_lut_params* params) {                                          \
    LutGemm<ABITS>(mr, nc, kc, 1, DirectRows{static_cast<const uint8_t*>(a), a_stride}, w, c,     \
                   c_stride, params);                                                             \
  }                                                                                               \
  extern "C" void crumb_qu##ABITS##_qs2_lutigemm_ukernel_4x32__avx2(                              \
      size_t mr, size_t nc, size_t kc, size_t ks, const void** a, size_t a_offset,                \
      const void* zero, const uint8_t* w, void* c, size_t c_stride,                               \
      const crumb_lut_params* params) {                                                           \
    LutGemm<ABITS>(mr, nc, kc, ks, IndirectRows{a, ks, a_offset, zero}, w, c, c_stride, params);  \
  }
CRUMB_LUT_AVX2(2)
CRUMB_LUT_AVX2(3)
CRUMB_LUT_AVX2(4)
