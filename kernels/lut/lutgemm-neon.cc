// Lookup-table GEMM / IGEMM on AArch64 NEON (kernels/lut/lut.h). Two generations:
//
// 4 x 32 pair tiles (A2 / A3 / A4, the first NEON kernels, kept as the baseline of
// benchmarks/lut_results.md): register tile of 4 output pixels x 32 output channels (half a
// 64-channel block, two q registers of 16 byte lanes); a tile runs both halves of a block before
// its epilogue. Per step and pixel, the two activation pairs name two table rows (the first 16
// bytes of each 64-byte row); tbl looks each up with the lanes' 4-bit weight-pair codes
// (lo = w & 15, hi = w >> 4: 2 lookups, 4 MACs per lane). Byte sums over the table's group of
// steps (<= 255, lutgemm-avx512.h) are widened as 16-bit lanes w: accw += w, acco += w >> 8
// (usra), flushed to int32 every 256 groups; even bytes of half h are channels 16h .. 16h + 15,
// odd bytes 32 + 16h .. 32 + 16h + 15.
//
// Super-tile kernels (below the first ones): A2 on weight-triple tables in 2 x 128 tiles (3 MACs
// per lane and lookup), A3 / A4 on pair tables in 2 x 64 tiles, both over weight indices that a
// group of 32 pixels shares, with inner loops in inline assembly. See "super-tile kernels".
//
// The epilogue is the scalar rule step by step: fmul and fadd (never fused), the clamp as
// compare-and-select (the scalar `if (v < lo) v = lo` also for -0.0), fcvtns (round to nearest,
// ties to even), + z.
#include <arm_neon.h>
#include <string.h>

#include "kernels/common/requant.h"
#include "kernels/lut/lut.h"

#ifndef CRUMB_LUT_NEON_MR
#define CRUMB_LUT_NEON_MR 4
#endif

namespace {

constexpr int kMR = CRUMB_LUT_NEON_MR;
constexpr size_t kFlushGroups = 256;

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

// E(y) of 4 channels as int32 codes.
inline int32x4_t Requantize(float32x4_t y, float32x4_t lo, float32x4_t hi, int32x4_t z) {
  float32x4_t v = vbslq_f32(vcltq_f32(y, lo), lo, y);
  v = vbslq_f32(vcgtq_f32(v, hi), hi, v);
  return vaddq_s32(vcvtnq_s32_f32(v), z);
}

// acc[64]: the int32 accumulators of channels n .. n + 63 ([0, count) valid); E(y) into the row.
// Codes go through a byte array (16 per narrowing step) and are packed with shifts and adds in
// 16-bit lanes: c0 + (c1 << 8) + its >> 4 (or >> 6) has c0 | c1 << 4 (c1 << 2) in its low byte.
void StoreBlock(const int32_t* acc, size_t n, size_t count, const crumb_lut_params* p,
                uint8_t* row) {
  const crumb_output_params& o = p->out;
  const bool is_float = o.type == CRUMB_ELEM_F32 && p->out_bits == 8;
  const float32x4_t lo = vdupq_n_f32(is_float ? o.fmin : (float)(o.qmin - o.zero_point));
  const float32x4_t hi = vdupq_n_f32(is_float ? o.fmax : (float)(o.qmax - o.zero_point));
  const int32x4_t z = vdupq_n_s32(o.zero_point);
  alignas(16) uint8_t codes[CRUMB_LUT_NR];
  size_t j = 0;
  if (is_float) {
    for (; j + 4 <= count; j += 4) {
      const float32x4_t y =
          vaddq_f32(vmulq_f32(vcvtq_f32_s32(vld1q_s32(acc + j)), vld1q_f32(p->mul + n + j)),
                    vld1q_f32(p->add + n + j));
      float32x4_t v = vbslq_f32(vcltq_f32(y, lo), lo, y);
      v = vbslq_f32(vcgtq_f32(v, hi), hi, v);
      vst1q_f32((float*)row + n + j, v);
    }
    for (; j < count; j++) {
      const float y = (float)acc[j] * p->mul[n + j] + p->add[n + j];
      ((float*)row)[n + j] = crumb_clamp_float(y, o.fmin, o.fmax);
    }
    return;
  }
  auto code4 = [&](size_t i) __attribute__((always_inline)) {
    const float32x4_t y =
        vaddq_f32(vmulq_f32(vcvtq_f32_s32(vld1q_s32(acc + i)), vld1q_f32(p->mul + n + i)),
                  vld1q_f32(p->add + n + i));
    return vmovn_s32(Requantize(y, lo, hi, z));
  };
  // Codes lie in [qmin, qmax] within the type's range: truncating narrows are exact.
  for (; j + 16 <= count; j += 16) {
    const int16x8_t a = vcombine_s16(code4(j), code4(j + 4));
    const int16x8_t b = vcombine_s16(code4(j + 8), code4(j + 12));
    vst1q_u8(codes + j, vreinterpretq_u8_s8(vcombine_s8(vmovn_s16(a), vmovn_s16(b))));
  }
  for (; j < count; j++) {  // tail: the scalar rule itself
    const float y = (float)acc[j] * p->mul[n + j] + p->add[n + j];
    codes[j] = (uint8_t)crumb_requantize_value(y, o.zero_point, o.qmin, o.qmax);
  }
  for (; j < CRUMB_LUT_NR; j++) codes[j] = 0;  // unused code slots of a packed last byte
  if (p->out_bits == 2 || p->out_bits == 4) {
    const unsigned ob = p->out_bits;
    const size_t nbytes = (count * ob + 7) / 8;
    uint8_t* out = row + n * ob / 8;
    alignas(16) uint8_t packed[CRUMB_LUT_NR / 2];
    uint8x8_t pairs[4];  // bytes c0 | c1 << ob of codes 16i .. 16i + 15
    for (int i = 0; i < 4; i++) {
      const uint16x8_t c = vreinterpretq_u16_u8(vld1q_u8(codes + 16 * i));
      pairs[i] = vmovn_u16(ob == 4 ? vsraq_n_u16(c, c, 4) : vsraq_n_u16(c, c, 6));
    }
    if (ob == 4) {
      vst1q_u8(packed, vcombine_u8(pairs[0], pairs[1]));
      vst1q_u8(packed + 16, vcombine_u8(pairs[2], pairs[3]));
    } else {
      const uint16x8_t q0 = vreinterpretq_u16_u8(vcombine_u8(pairs[0], pairs[1]));
      const uint16x8_t q1 = vreinterpretq_u16_u8(vcombine_u8(pairs[2], pairs[3]));
      vst1q_u8(packed,
               vcombine_u8(vmovn_u16(vsraq_n_u16(q0, q0, 4)), vmovn_u16(vsraq_n_u16(q1, q1, 4))));
    }
    if (nbytes == CRUMB_LUT_NR * ob / 8) {
      memcpy(out, packed, CRUMB_LUT_NR * ob / 8);
    } else {
      for (size_t i = 0; i < nbytes; i++) out[i] = packed[i];
    }
  } else if (count == CRUMB_LUT_NR) {
    memcpy(row + n, codes, CRUMB_LUT_NR);
  } else {
    for (size_t i = 0; i < count; i++) row[n + i] = codes[i];
  }
}

template <unsigned ABITS, class Rows>
void Tile(size_t m0, size_t mvalid, size_t n0, size_t nc, size_t kc, size_t ks, const Rows& rows,
          const uint8_t* w, uint8_t* c, size_t c_stride, const crumb_lut_params* p) {
  const uint8_t* table = p->table;
  const crumb_lut_table_info* info = crumb_lut_table_trailer(table, ABITS);
  const size_t spg = (size_t)info->steps_per_group;
  const size_t steps = crumb_lut_steps(kc);
  const size_t tap_groups = (steps + spg - 1) / spg;
  const uint8x16_t nib = vdupq_n_u8(15);
  // Every pixel's int32 sums start at -(bias * pairs + za * ksum[n]).
  alignas(16) int32_t acc32[kMR][CRUMB_LUT_NR];
  const uint32_t bias_total = (uint32_t)info->bias * (uint32_t)(2 * steps * ks);
  for (int j = 0; j < CRUMB_LUT_NR; j++) {
    int32_t ksum;
    memcpy(&ksum, w + 4 * j, 4);
    const int32_t init = (int32_t)(0u - bias_total - (uint32_t)p->a_zero_point * (uint32_t)ksum);
    for (int m = 0; m < kMR; m++) acc32[m][j] = init;
  }
  for (int h = 0; h < 2; h++) {
    uint16x8_t accw[kMR][2], acco[kMR][2];
    for (int m = 0; m < kMR; m++) {
      for (int q = 0; q < 2; q++) accw[m][q] = acco[m][q] = vdupq_n_u16(0);
    }
    auto flush = [&]() __attribute__((always_inline)) {
      for (int m = 0; m < kMR; m++) {
        for (int q = 0; q < 2; q++) {
          // q holds lanes 16q .. 16q + 15 of the half: even -> channels 16h + 8q + i,
          // odd -> 32 + 16h + 8q + i.
          const uint16x8_t ev = vsubq_u16(accw[m][q], vshlq_n_u16(acco[m][q], 8));
          int32_t* de = acc32[m] + 16 * h + 8 * q;
          int32_t* dodd = acc32[m] + 32 + 16 * h + 8 * q;
          vst1q_s32(de,
                    vaddq_s32(vld1q_s32(de), vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(ev)))));
          vst1q_s32(de + 4,
                    vaddq_s32(vld1q_s32(de + 4), vreinterpretq_s32_u32(vmovl_high_u16(ev))));
          vst1q_s32(dodd, vaddq_s32(vld1q_s32(dodd),
                                    vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(acco[m][q])))));
          vst1q_s32(dodd + 4, vaddq_s32(vld1q_s32(dodd + 4),
                                        vreinterpretq_s32_u32(vmovl_high_u16(acco[m][q]))));
          accw[m][q] = acco[m][q] = vdupq_n_u16(0);
        }
      }
    };
    size_t groups = 0;
    for (size_t t = 0; t < ks; t++) {
      const uint8_t* ap[kMR];
      for (int m = 0; m < kMR; m++) {
        ap[m] = rows(m0 + ((size_t)m < mvalid ? (size_t)m : mvalid - 1), t);
      }
      const uint8_t* wt = w + CRUMB_LUT_BLOCK_HEADER + t * steps * CRUMB_LUT_NR + 32 * h;
      auto step = [&](uint8x16_t(&g)[kMR][2], size_t s, bool first) __attribute__((always_inline)) {
        uint8x16_t lo[2], hi[2];
        for (int q = 0; q < 2; q++) {
          const uint8x16_t wv = vld1q_u8(wt + s * CRUMB_LUT_NR + 16 * q);
          lo[q] = vandq_u8(wv, nib);
          hi[q] = vshrq_n_u8(wv, 4);
        }
        for (int m = 0; m < kMR; m++) {
          const uint8_t *r0, *r1;
          if (ABITS == 2) {
            const uint32_t code = ap[m][s];
            r0 = table + (code & 15) * CRUMB_LUT_ROW;
            r1 = table + (code >> 4) * CRUMB_LUT_ROW;
          } else {
            r0 = table + (uint32_t)ap[m][2 * s] * CRUMB_LUT_ROW;
            r1 = table + (uint32_t)ap[m][2 * s + 1] * CRUMB_LUT_ROW;
          }
          const uint8x16_t t0 = vld1q_u8(r0), t1 = vld1q_u8(r1);
          for (int q = 0; q < 2; q++) {
            const uint8x16_t x = vaddq_u8(vqtbl1q_u8(t0, lo[q]), vqtbl1q_u8(t1, hi[q]));
            g[m][q] = first ? x : vaddq_u8(g[m][q], x);
          }
        }
      };
      size_t s = 0;
      for (size_t done = 0; done < tap_groups;) {
        const size_t left = tap_groups - done;
        const size_t n = left < kFlushGroups - groups ? left : kFlushGroups - groups;
        done += n;
        for (size_t i = 0; i < n; i++) {
          const size_t send = s + spg < steps ? s + spg : steps;
          uint8x16_t g[kMR][2];
          step(g, s, true);
          for (s++; s < send; s++) step(g, s, false);
          for (int m = 0; m < kMR; m++) {
            for (int q = 0; q < 2; q++) {
              const uint16x8_t g16 = vreinterpretq_u16_u8(g[m][q]);
              accw[m][q] = vaddq_u16(accw[m][q], g16);
              acco[m][q] = vsraq_n_u16(acco[m][q], g16, 8);
            }
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
  for (size_t m = 0; m < mvalid; m++) StoreBlock(acc32[m], n0, count, p, c + (m0 + m) * c_stride);
}

template <unsigned ABITS, class Rows>
void LutGemm(size_t mr, size_t nc, size_t kc, size_t ks, const Rows& rows, const uint8_t* w,
             void* c, size_t c_stride, const crumb_lut_params* p) {
  const size_t block_bytes = crumb_lut_block_bytes(ks, kc);
  const size_t blocks = crumb_lut_blocks(nc);
  uint8_t* out = static_cast<uint8_t*>(c);
  for (size_t b = 0; b < blocks; b++) {
    for (size_t m0 = 0; m0 < mr; m0 += kMR) {
      const size_t mvalid = mr - m0 < (size_t)kMR ? mr - m0 : (size_t)kMR;
      Tile<ABITS>(m0, mvalid, b * CRUMB_LUT_NR, nc, kc, ks, rows, w + b * block_bytes, out,
                  c_stride, p);
    }
  }
}

// ------------------------------------------------------------------ super-tile kernels
// One frame (SuperTile) for A2 (weight triples, 2 x 128 register tiles and 4 x 64 for an odd
// last block) and A3 / A4 (pairs, 2 x 64). Instructions per MAC are the measure here (qemu's
// counter, benchmarks/lut_results.md), so the frame takes every step that is not a lookup out
// of the inner loop where it can:
// - K is one stream of ks * steps steps (tap after tap, as the weights store them), cut into
//   chunks (A2: 3 steps, A3 / A4: 4) and pieces of kPieceChunks chunks; only the stream's last
//   chunk is short (its missing steps read weight code 0 and activation bytes 0).
// - Pixels go in super-tiles of kSuperPixels. Per piece, the lookup indices of the weights (A2:
//   6-bit triple codes; A3 / A4: the 4-bit nibbles) are extracted once into a buffer, and every
//   register tile of the super-tile reads them with plain loads.
// - A tile reads a piece's activation bytes in place when they lie in one tap's row, else from a
//   copy assembled from the rows of the taps the piece spans.
// - Each tile's 16-bit sums (accw, acco per q register, lutgemm-avx512.h) live in acc16 between
//   pieces, flushed to int32 (acc32) at most every kFlushGroups groups and at the end.
// Inner loops are inline assembly: GCC 12 keeps 16 vector sums next to the 4-register operands
// of tbl / ld1 poorly (it spills the sums and moves the tuples through the stack).
// Stack: about 40 KB (int32 sums 16 KB, 16-bit sums 8 KB, a piece's indices 8 KB, A2's triple
// table 4 KB, activation copies).
constexpr size_t kSuperPixels = 32;  // pixels sharing one extraction of the weights' indices
constexpr size_t kPieceChunks = 16;  // chunks per piece (one extraction of indices)
constexpr size_t kTripleRow = 64;    // bytes of a triple-table row: 64 entries

// ------------------------------------------------------------------ A2: weight triples
// Three codes per lookup: tbl over 4 registers takes a 6-bit index, the 64-entry table of an
// activation triple (a0, a1, a2) over the weight-code triples (c0, c1, c2). One tbl + add is
// 48 MACs (16 lanes x 3) instead of 32 with pairs. The kernel builds that table (4 KB, on the
// stack) from the A2 pair table it is given. A chunk is 3 steps = 12 codes = 4 triples (codes
// 3j .. 3j + 2, j < 4, straddling the steps' bytes); codes past the stream's end are code 0
// (value 0: the lookup is the bias, counted like the others). Triple entries lie in
// [0, width3], width3 = 3 width / 2 <= 36 (lut.h: width = 2 amax (max vmap - min vmap), amax 3):
// a group of cpg chunks sums 4 cpg entries per lane, 4 cpg width3 <= 255 (signed 2-bit weights:
// width3 27, cpg 2, 216; ternary 18, 3, 216), then widens.
// tt[64 * 64]: row a0 | a1 << 2 | a2 << 4, entry c0 | c1 << 2 | c2 << 4 =
// vmap[c0] a0 + vmap[c1] a1 + vmap[c2] a2 + bias3, bias3 = 3 bias / 2, from the A2 pair table:
// T'[p][c] + T'[a2][c2] - bias / 2 (row a2 of the pair table has a1 = 0).
void BuildTripleTable(const uint8_t* table, uint8_t* tt) {
  const crumb_lut_table_info* info = crumb_lut_table_trailer(table, 2);
  const int half = info->bias / 2;
  uint8x16_t pr[16];
  for (int p = 0; p < 16; p++) pr[p] = vld1q_u8(table + p * CRUMB_LUT_ROW);
  for (int a2 = 0; a2 < 4; a2++) {
    for (int c2 = 0; c2 < 4; c2++) {
      const uint8x16_t d = vdupq_n_u8((uint8_t)(table[a2 * CRUMB_LUT_ROW + c2] - half));
      for (int p = 0; p < 16; p++) {
        vst1q_u8(tt + (a2 * 16 + p) * kTripleRow + 16 * c2, vaddq_u8(pr[p], d));
      }
    }
  }
}

// Triple indices of one block's chunk (3 steps of 64 bytes at src) for the 4 triples, each 64
// bytes, stride bytes apart from dst.
inline void ChunkIndices(const uint8_t* src, uint8_t* dst, size_t stride) {
  __asm__ volatile(
      "ld1 {v0.16b-v3.16b}, [%[src]], #64\n\t"
      "ld1 {v4.16b-v7.16b}, [%[src]], #64\n\t"
      "ld1 {v16.16b-v19.16b}, [%[src]]\n\t"
      "movi v24.16b, #63\n\t"
      // codes 0-2: b0 & 63
      "and v20.16b, v0.16b, v24.16b\n\tand v21.16b, v1.16b, v24.16b\n\t"
      "and v22.16b, v2.16b, v24.16b\n\tand v23.16b, v3.16b, v24.16b\n\t"
      "st1 {v20.16b-v23.16b}, [%[dst]], %[stride]\n\t"
      // codes 3-5: (b0 >> 6 | b1 << 2) & 63
      "ushr v0.16b, v0.16b, #6\n\tushr v1.16b, v1.16b, #6\n\t"
      "ushr v2.16b, v2.16b, #6\n\tushr v3.16b, v3.16b, #6\n\t"
      "sli v0.16b, v4.16b, #2\n\tsli v1.16b, v5.16b, #2\n\t"
      "sli v2.16b, v6.16b, #2\n\tsli v3.16b, v7.16b, #2\n\t"
      "and v0.16b, v0.16b, v24.16b\n\tand v1.16b, v1.16b, v24.16b\n\t"
      "and v2.16b, v2.16b, v24.16b\n\tand v3.16b, v3.16b, v24.16b\n\t"
      "st1 {v0.16b-v3.16b}, [%[dst]], %[stride]\n\t"
      // codes 6-8: (b1 >> 4 | b2 << 4) & 63
      "ushr v4.16b, v4.16b, #4\n\tushr v5.16b, v5.16b, #4\n\t"
      "ushr v6.16b, v6.16b, #4\n\tushr v7.16b, v7.16b, #4\n\t"
      "sli v4.16b, v16.16b, #4\n\tsli v5.16b, v17.16b, #4\n\t"
      "sli v6.16b, v18.16b, #4\n\tsli v7.16b, v19.16b, #4\n\t"
      "and v4.16b, v4.16b, v24.16b\n\tand v5.16b, v5.16b, v24.16b\n\t"
      "and v6.16b, v6.16b, v24.16b\n\tand v7.16b, v7.16b, v24.16b\n\t"
      "st1 {v4.16b-v7.16b}, [%[dst]], %[stride]\n\t"
      // codes 9-11: b2 >> 2
      "ushr v16.16b, v16.16b, #2\n\tushr v17.16b, v17.16b, #2\n\t"
      "ushr v18.16b, v18.16b, #2\n\tushr v19.16b, v19.16b, #2\n\t"
      "st1 {v16.16b-v19.16b}, [%[dst]]\n\t"
      : [src] "+r"(src), [dst] "+r"(dst)
      : [stride] "r"(stride)
      : "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v16", "v17", "v18", "v19", "v20", "v21",
        "v22", "v23", "v24", "memory");
}

// idx[c][j][q][16] for chunks ch0 .. ch0 + nch - 1 of the steps at ws (all taps' steps, in
// order: `steps` of them): triple j of lanes 16q .. 16q + 15 (q < 4: block 0, else block 1).
template <int NB>
void BuildTripleIndices(const uint8_t* ws, size_t block_bytes, size_t steps, size_t ch0, size_t nch,
                        uint8_t* idx) {
  for (size_t c = 0; c < nch; c++) {
    const size_t s = 3 * (ch0 + c);
    for (int bb = 0; bb < NB; bb++) {
      const uint8_t* src = ws + bb * block_bytes + s * CRUMB_LUT_NR;
      alignas(16) uint8_t pad[3 * CRUMB_LUT_NR];
      if (s + 3 > steps) {  // the last chunk, short: code 0 for the missing steps
        memset(pad, 0, sizeof(pad));
        memcpy(pad, src, (steps - s) * CRUMB_LUT_NR);
        src = pad;
      }
      ChunkIndices(src, idx + (c * 4 * NB + bb) * 64, NB * 64);
    }
  }
}

// One chunk (4 triples) of a tile of 16 byte sums (2 pixels x 8 q registers, or 4 x 4), in
// inline assembly: GCC 12 keeps 16 sums next to the 4-register tables of tbl poorly (it spills
// sums and copies index registers). The sums are 4 operands of 4 registers each (%S .. %V name
// them): g0 .. g3 = (pixel 0, q 0-3), (pixel 0, q 4-7), (pixel 1, q 0-3), (pixel 1, q 4-7) for
// 2 x 8, pixel m's q 0-3 for 4 x 4. Per chunk and pixel: the 24 activation bits (ldr w,
// post-increment by the chunk's 3 bytes; the fourth byte is not used). Per triple: the Q index
// vectors (ld1, post-increment), then per pixel the table row of its activation triple (ubfx,
// add, ld1 of 4 registers) and per q a tbl and an add into the sum (in the group's first chunk
// the first triple's tbl writes the sum). v0-v3: the row; v4-v11: indices; v12-v15: lookups.
// clang-format off
#define CRUMB_TT_ACT(m) "ldr %w[w" #m "], [%[p" #m "]], #3\n\t"
#define CRUMB_TT_ROW(m, lsb)                   \
  "ubfx w16, %w[w" #m "], #" #lsb ", #6\n\t"   \
  "add x16, %[tt], x16, lsl #6\n\t"            \
  "ld1 {v0.16b-v3.16b}, [x16]\n\t"
#define CRUMB_TT_ADD(g, ix, tmp)                       \
  "tbl " tmp ".16b, {v0.16b-v3.16b}, " ix ".16b\n\t"   \
  "add " g ".16b, " g ".16b, " tmp ".16b\n\t"
#define CRUMB_TT_SET(g, ix, tmp) "tbl " g ".16b, {v0.16b-v3.16b}, " ix ".16b\n\t"
#define CRUMB_TT_Q4(g, i0, i1, i2, i3, OP)                                          \
  OP("%S[" g "]", i0, "v12") OP("%T[" g "]", i1, "v13")                             \
  OP("%U[" g "]", i2, "v14") OP("%V[" g "]", i3, "v15")
#define CRUMB_TT_2X8(lsb, OP)                                                       \
  "ld1 {v4.16b-v7.16b}, [%[idx]], #64\n\t"                                          \
  "ld1 {v8.16b-v11.16b}, [%[idx]], #64\n\t"                                         \
  CRUMB_TT_ROW(0, lsb)                                                              \
  CRUMB_TT_Q4("g0", "v4", "v5", "v6", "v7", OP)                                     \
  CRUMB_TT_Q4("g1", "v8", "v9", "v10", "v11", OP)                                   \
  CRUMB_TT_ROW(1, lsb)                                                              \
  CRUMB_TT_Q4("g2", "v4", "v5", "v6", "v7", OP)                                     \
  CRUMB_TT_Q4("g3", "v8", "v9", "v10", "v11", OP)
#define CRUMB_TT_4X4(lsb, OP)                                                       \
  "ld1 {v4.16b-v7.16b}, [%[idx]], #64\n\t"                                          \
  CRUMB_TT_ROW(0, lsb) CRUMB_TT_Q4("g0", "v4", "v5", "v6", "v7", OP)                \
  CRUMB_TT_ROW(1, lsb) CRUMB_TT_Q4("g1", "v4", "v5", "v6", "v7", OP)                \
  CRUMB_TT_ROW(2, lsb) CRUMB_TT_Q4("g2", "v4", "v5", "v6", "v7", OP)                \
  CRUMB_TT_ROW(3, lsb) CRUMB_TT_Q4("g3", "v4", "v5", "v6", "v7", OP)
#define CRUMB_TT_CHUNK(TILE, FIRST_OP) \
  TILE(0, FIRST_OP) TILE(6, CRUMB_TT_ADD) TILE(12, CRUMB_TT_ADD) TILE(18, CRUMB_TT_ADD)
// FIRST writes the sums before it reads any input: early-clobber outputs.
#define CRUMB_TT_GOPS \
  [g0] "+w"(g0), [g1] "+w"(g1), [g2] "+w"(g2), [g3] "+w"(g3), [idx] "+r"(idx)
#define CRUMB_TT_GOPS_FIRST \
  [g0] "=&w"(g0), [g1] "=&w"(g1), [g2] "=&w"(g2), [g3] "=&w"(g3), [idx] "+r"(idx)
#define CRUMB_TT_CLOBBERS                                                               \
  "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v12", "v13", \
  "v14", "v15", "x16", "memory"
#define CRUMB_TT_OPS_2X8(GOPS)                                                  \
  : GOPS, [p0] "+r"(a[0]), [p1] "+r"(a[1]), [w0] "=&r"(w0), [w1] "=&r"(w1)      \
  : [tt] "r"(tt)                                                                \
  : CRUMB_TT_CLOBBERS
#define CRUMB_TT_OPS_4X4(GOPS)                                                      \
  : GOPS, [p0] "+r"(a[0]), [p1] "+r"(a[1]), [p2] "+r"(a[2]), [p3] "+r"(a[3]),       \
    [w0] "=&r"(w0), [w1] "=&r"(w1), [w2] "=&r"(w2), [w3] "=&r"(w3)                  \
  : [tt] "r"(tt)                                                                    \
  : CRUMB_TT_CLOBBERS
// clang-format on

template <int MR, bool FIRST>
inline __attribute__((always_inline)) void TripleChunk(uint8x16x4_t& g0, uint8x16x4_t& g1,
                                                       uint8x16x4_t& g2, uint8x16x4_t& g3,
                                                       const uint8_t* (&a)[MR], const uint8_t*& idx,
                                                       const uint8_t* tt) {
  static_assert(MR == 2 || MR == 4, "tiles: 2 x 8 or 4 x 4");
  if constexpr (MR == 2) {
    uint32_t w0, w1;
    if (FIRST) {
      __asm__(CRUMB_TT_ACT(0) CRUMB_TT_ACT(1) CRUMB_TT_CHUNK(CRUMB_TT_2X8, CRUMB_TT_SET)
                  CRUMB_TT_OPS_2X8(CRUMB_TT_GOPS_FIRST));
    } else {
      __asm__(CRUMB_TT_ACT(0) CRUMB_TT_ACT(1) CRUMB_TT_CHUNK(CRUMB_TT_2X8, CRUMB_TT_ADD)
                  CRUMB_TT_OPS_2X8(CRUMB_TT_GOPS));
    }
  } else {
    uint32_t w0, w1, w2, w3;
    if (FIRST) {
      __asm__(CRUMB_TT_ACT(0) CRUMB_TT_ACT(1) CRUMB_TT_ACT(2) CRUMB_TT_ACT(3)
                  CRUMB_TT_CHUNK(CRUMB_TT_4X4, CRUMB_TT_SET) CRUMB_TT_OPS_4X4(CRUMB_TT_GOPS_FIRST));
    } else {
      __asm__(CRUMB_TT_ACT(0) CRUMB_TT_ACT(1) CRUMB_TT_ACT(2) CRUMB_TT_ACT(3)
                  CRUMB_TT_CHUNK(CRUMB_TT_4X4, CRUMB_TT_ADD) CRUMB_TT_OPS_4X4(CRUMB_TT_GOPS));
    }
  }
}

// Widening at the end of a group (lutgemm-avx512.h): accw += g as 16-bit lanes, acco += g >> 8,
// acc16 holding (accw, acco) of each of the tile's 16 sums in the order of g's registers, two
// sums' 64 bytes per ld1 / st1.
// clang-format off
#define CRUMB_TT_WIDEN2(ga, gb)              \
  "ld1 {v0.8h-v3.8h}, [%[acc]]\n\t"          \
  "add v0.8h, v0.8h, " ga ".8h\n\t"          \
  "usra v1.8h, " ga ".8h, #8\n\t"            \
  "add v2.8h, v2.8h, " gb ".8h\n\t"          \
  "usra v3.8h, " gb ".8h, #8\n\t"            \
  "st1 {v0.8h-v3.8h}, [%[acc]], #64\n\t"
#define CRUMB_TT_WIDEN4(g) \
  CRUMB_TT_WIDEN2("%S[" g "]", "%T[" g "]") CRUMB_TT_WIDEN2("%U[" g "]", "%V[" g "]")
// clang-format on
inline __attribute__((always_inline)) void TripleWiden(const uint8x16x4_t& g0,
                                                       const uint8x16x4_t& g1,
                                                       const uint8x16x4_t& g2,
                                                       const uint8x16x4_t& g3, uint16_t* acc) {
  __asm__ volatile(CRUMB_TT_WIDEN4("g0") CRUMB_TT_WIDEN4("g1") CRUMB_TT_WIDEN4("g2")
                       CRUMB_TT_WIDEN4("g3")
                   : [acc] "+r"(acc)
                   : [g0] "w"(g0), [g1] "w"(g1), [g2] "w"(g2), [g3] "w"(g3)
                   : "v0", "v1", "v2", "v3", "memory");
}

// The A2 kernel's part of the frame (see SuperTile): chunks of 3 steps (1 activation byte each).
struct TripleKind {
  static constexpr size_t kChunkSteps = 3;
  static constexpr size_t kStepBytes = 1;  // activation bytes per step
  static constexpr size_t kActRead = 4;    // bytes the asm reads per chunk
  template <int Q>
  static constexpr size_t kIdxBytes = 4 * Q * 16;  // per chunk
  size_t cpg;                                      // chunks per byte-sum group
  const uint8_t* tt;
  explicit TripleKind(const crumb_lut_table_info* info, const uint8_t* triple_table)
      : tt(triple_table) {
    const size_t width3 = 3 * (size_t)info->width / 2;
    cpg = width3 ? 255 / (4 * width3) : kPieceChunks;
    cpg = cpg < 1 ? 1 : cpg > kPieceChunks ? kPieceChunks : cpg;
  }
  size_t Piece() const { return kPieceChunks / cpg * cpg; }
  size_t Groups(size_t nch) const { return (nch + cpg - 1) / cpg; }
  static uint32_t BiasPerChunk(const crumb_lut_table_info* info) {
    return (uint32_t)(4 * (3 * info->bias / 2));
  }
  template <int NB>
  static void Build(const uint8_t* ws, size_t block_bytes, size_t steps, size_t ch0, size_t nch,
                    uint8_t* idx) {
    BuildTripleIndices<NB>(ws, block_bytes, steps, ch0, nch, idx);
  }
  // One tile over nch chunks in groups of cpg, widened after each.
  template <int MR>
  void Run(const uint8_t* const (&rows)[MR], size_t nch, const uint8_t* ix, uint16_t* acc16) const {
    const uint8_t* a[MR];  // a local copy stays in registers
    for (int m = 0; m < MR; m++) a[m] = rows[m];
    uint8x16x4_t g0, g1, g2, g3;
    for (size_t c = 0; c < nch;) {
      const size_t end = c + cpg < nch ? c + cpg : nch;
      TripleChunk<MR, true>(g0, g1, g2, g3, a, ix, tt);
      for (c++; c < end; c++) TripleChunk<MR, false>(g0, g1, g2, g3, a, ix, tt);
      TripleWiden(g0, g1, g2, g3, acc16);
    }
  }
};

// ------------------------------------------------------------------ A3 / A4: pairs, 2 x 64
// The pair-table scheme of lutgemm-avx512.h with every step its own group (2 lookups <= 2 width
// <= 240): tile of 2 pixels x 64 channels whose 16-bit sums stay in registers through a piece.
// A chunk is 4 steps; the extracted indices per step are the low nibbles (pair (4s, 4s + 1)) and
// the high nibbles (pair (4s + 2, 4s + 3)) of the step's 64 weight bytes.
// Per step: the 8 index vectors (two ld1); per pixel its two pair rows (A3 / A4: activation
// bytes 2s and 2s + 1 name them; and-with-shift of the chunk's 8 activation bytes, ldr q with
// register offset); per pixel and q: tbl, tbl, add, then accw += x, acco += x >> 8 (usra).
// v0-v3: rows; v4-v11: indices; v12-v15: lookups; v16-v31: the sums, 4 operands of 4 registers
// (pixel m, q 2h .. 2h + 1: accw, acco, accw, acco, as acc16 stores them).
// clang-format off
#define CRUMB_PT_ROW(w, k, r0, r1)                                  \
  CRUMB_PT_OFF0_##k(w)                                              \
  "ldr " r0 ", [%[table], x16]\n\t"                                 \
  "and x17, %[mask], %[" w "], lsr #" CRUMB_PT_SH1_##k "\n\t"       \
  "ldr " r1 ", [%[table], x17]\n\t"
// Row offsets (byte << 6) of activation bytes 2k (bits 16k .. 16k + 7) and 2k + 1.
#define CRUMB_PT_OFF0_0(w) "ubfiz x16, %[" w "], #6, #8\n\t"
#define CRUMB_PT_OFF0_1(w) "and x16, %[mask], %[" w "], lsr #10\n\t"
#define CRUMB_PT_OFF0_2(w) "and x16, %[mask], %[" w "], lsr #26\n\t"
#define CRUMB_PT_OFF0_3(w) "and x16, %[mask], %[" w "], lsr #42\n\t"
#define CRUMB_PT_SH1_0 "2"
#define CRUMB_PT_SH1_1 "18"
#define CRUMB_PT_SH1_2 "34"
#define CRUMB_PT_SH1_3 "50"
#define CRUMB_PT_LK(r0, r1, lo, hi, t0, t1, W, O)   \
  "tbl " t0 ".16b, {" r0 ".16b}, " lo ".16b\n\t"    \
  "tbl " t1 ".16b, {" r1 ".16b}, " hi ".16b\n\t"    \
  "add " t0 ".16b, " t0 ".16b, " t1 ".16b\n\t"      \
  "add " W ".8h, " W ".8h, " t0 ".8h\n\t"           \
  "usra " O ".8h, " t0 ".8h, #8\n\t"
#define CRUMB_PT_PIXEL(r0, r1, A, B)                                          \
  CRUMB_PT_LK(r0, r1, "v4", "v8", "v12", "v13", "%S[" A "]", "%T[" A "]")     \
  CRUMB_PT_LK(r0, r1, "v5", "v9", "v14", "v15", "%U[" A "]", "%V[" A "]")     \
  CRUMB_PT_LK(r0, r1, "v6", "v10", "v12", "v13", "%S[" B "]", "%T[" B "]")    \
  CRUMB_PT_LK(r0, r1, "v7", "v11", "v14", "v15", "%U[" B "]", "%V[" B "]")
#define CRUMB_PT_STEP(k)                                                      \
  "ld1 {v4.16b-v7.16b}, [%[idx]], #64\n\t"                                    \
  "ld1 {v8.16b-v11.16b}, [%[idx]], #64\n\t"                                   \
  CRUMB_PT_ROW("w0", k, "q0", "q1") CRUMB_PT_ROW("w1", k, "q2", "q3")         \
  CRUMB_PT_PIXEL("v0", "v1", "s00", "s01") CRUMB_PT_PIXEL("v2", "v3", "s10", "s11")
// clang-format on

inline __attribute__((always_inline)) void PairChunk(uint8x16x4_t& s00, uint8x16x4_t& s01,
                                                     uint8x16x4_t& s10, uint8x16x4_t& s11,
                                                     const uint8_t* (&a)[2], const uint8_t*& idx,
                                                     const uint8_t* table) {
  uint64_t w0, w1;
  __asm__(
      "ldr %[w0], [%[p0]], #8\n\t"
      "ldr %[w1], [%[p1]], #8\n\t"  //
      CRUMB_PT_STEP(0) CRUMB_PT_STEP(1) CRUMB_PT_STEP(2) CRUMB_PT_STEP(3)
      : [s00] "+w"(s00), [s01] "+w"(s01), [s10] "+w"(s10), [s11] "+w"(s11), [idx] "+r"(idx),
        [p0] "+r"(a[0]), [p1] "+r"(a[1]), [w0] "=&r"(w0), [w1] "=&r"(w1)
      : [table] "r"(table), [mask] "r"((uint64_t)0x3FC0)
      : "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v12", "v13",
        "v14", "v15", "x16", "x17", "memory");
}

// Pair indices of one block's step (64 bytes at src): low nibbles, then high nibbles, at dst.
inline void StepIndices(const uint8_t* src, uint8_t* dst) {
  __asm__ volatile(
      "ld1 {v0.16b-v3.16b}, [%[src]]\n\t"
      "movi v16.16b, #15\n\t"
      "and v4.16b, v0.16b, v16.16b\n\tand v5.16b, v1.16b, v16.16b\n\t"
      "and v6.16b, v2.16b, v16.16b\n\tand v7.16b, v3.16b, v16.16b\n\t"
      "ushr v0.16b, v0.16b, #4\n\tushr v1.16b, v1.16b, #4\n\t"
      "ushr v2.16b, v2.16b, #4\n\tushr v3.16b, v3.16b, #4\n\t"
      "st1 {v4.16b-v7.16b}, [%[dst]], #64\n\t"
      "st1 {v0.16b-v3.16b}, [%[dst]]\n\t"
      : [dst] "+r"(dst)
      : [src] "r"(src)
      : "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v16", "memory");
}

// The A3 / A4 kernel's part of the frame: chunks of 4 steps (2 activation bytes each), every
// step its own group, the tile's sums in registers through a piece.
struct PairKind {
  static constexpr size_t kChunkSteps = 4;
  static constexpr size_t kStepBytes = 2;
  static constexpr size_t kActRead = 8;
  template <int Q>
  static constexpr size_t kIdxBytes = 4 * 2 * Q * 16;  // per chunk: 4 steps x (lo, hi)
  const uint8_t* table;
  size_t Piece() const { return kPieceChunks; }
  size_t Groups(size_t nch) const { return 4 * nch; }
  static uint32_t BiasPerChunk(const crumb_lut_table_info* info) {
    return (uint32_t)(8 * info->bias);
  }
  template <int NB>
  static void Build(const uint8_t* ws, size_t, size_t steps, size_t ch0, size_t nch, uint8_t* idx) {
    static_assert(NB == 1, "pair tiles are 64 channels");
    for (size_t s = 4 * ch0; s < 4 * (ch0 + nch); s++, idx += 2 * CRUMB_LUT_NR) {
      if (s < steps) {
        StepIndices(ws + s * CRUMB_LUT_NR, idx);
      } else {  // past the end: code 0
        memset(idx, 0, 2 * CRUMB_LUT_NR);
      }
    }
  }
  // One tile over nch chunks: its acc16 sums into registers and back.
  template <int MR>
  void Run(const uint8_t* const (&rows)[MR], size_t nch, const uint8_t* ix, uint16_t* acc16) const {
    static_assert(MR == 2, "pair tiles are 2 pixels");
    const uint8_t* a[MR] = {rows[0], rows[1]};
    uint8x16x4_t s00, s01, s10, s11;
    const uint16_t* from = acc16;
    __asm__(
        "ld1 {%S[s00].16b-%V[s00].16b}, [%[acc]], #64\n\t"
        "ld1 {%S[s01].16b-%V[s01].16b}, [%[acc]], #64\n\t"
        "ld1 {%S[s10].16b-%V[s10].16b}, [%[acc]], #64\n\t"
        "ld1 {%S[s11].16b-%V[s11].16b}, [%[acc]]\n\t"
        : [s00] "=w"(s00), [s01] "=w"(s01), [s10] "=w"(s10), [s11] "=w"(s11), [acc] "+r"(from)
        :
        : "memory");
    for (size_t c = 0; c < nch; c++) PairChunk(s00, s01, s10, s11, a, ix, table);
    __asm__ volatile(
        "st1 {%S[s00].16b-%V[s00].16b}, [%[acc]], #64\n\t"
        "st1 {%S[s01].16b-%V[s01].16b}, [%[acc]], #64\n\t"
        "st1 {%S[s10].16b-%V[s10].16b}, [%[acc]], #64\n\t"
        "st1 {%S[s11].16b-%V[s11].16b}, [%[acc]]\n\t"
        : [acc] "+r"(acc16)
        : [s00] "w"(s00), [s01] "w"(s01), [s10] "w"(s10), [s11] "w"(s11)
        : "memory");
  }
};

// ------------------------------------------------------------------ the frame
// n bytes from src to dst with a few wide moves (the last ones overlapping), reading and writing
// only [0, n).
inline void CopySmall(uint8_t* dst, const uint8_t* src, size_t n) {
  if (n >= 16) {
    size_t i = 0;
    for (; i + 16 < n; i += 16) vst1q_u8(dst + i, vld1q_u8(src + i));
    vst1q_u8(dst + n - 16, vld1q_u8(src + n - 16));
  } else if (n >= 8) {
    uint64_t x, y;
    memcpy(&x, src, 8), memcpy(&y, src + n - 8, 8);
    memcpy(dst, &x, 8), memcpy(dst + n - 8, &y, 8);
  } else if (n >= 4) {
    uint32_t x, y;
    memcpy(&x, src, 4), memcpy(&y, src + n - 4, 4);
    memcpy(dst, &x, 4), memcpy(dst + n - 4, &y, 4);
  } else if (n > 0) {
    dst[0] = src[0], dst[n / 2] = src[n / 2], dst[n - 1] = src[n - 1];
  }
}

// Pixels [m0, m0 + mvalid) (mvalid <= kSuperPixels) x NB blocks at w (tiles of MR pixels x
// Q = 4 NB q registers): int32 accumulators in acc32[m][NB * 64], channel order, every pixel's
// starting at -(bias * lookups + za * ksum[n]) (every lookup adds its table's bias).
template <class Kind, int MR, int NB, class Rows>
void SuperTile(const Kind& kind, size_t m0, size_t mvalid, size_t kc, size_t ks, Rows rows,
               const uint8_t* w, size_t block_bytes, const crumb_lut_params* p, unsigned a_bits,
               int32_t (*acc32)[2 * CRUMB_LUT_NR]) {
  constexpr int Q = 4 * NB;
  constexpr size_t kIdxBytes = Kind::template kIdxBytes<Q>;
  constexpr size_t kChunkBytes = Kind::kChunkSteps * Kind::kStepBytes;
  const crumb_lut_table_info* info = crumb_lut_table_trailer(p->table, a_bits);
  const size_t steps = crumb_lut_steps(kc), stream = ks * steps;
  const size_t chunks = (stream + Kind::kChunkSteps - 1) / Kind::kChunkSteps;
  const size_t row_bytes = steps * Kind::kStepBytes;
  const size_t piece = kind.Piece();
  const uint32_t bias_total = Kind::BiasPerChunk(info) * (uint32_t)chunks;
  alignas(16) int32_t init[2 * CRUMB_LUT_NR];
  for (int bb = 0; bb < NB; bb++) {
    for (int j = 0; j < CRUMB_LUT_NR; j++) {
      int32_t ksum;
      memcpy(&ksum, w + bb * block_bytes + 4 * j, 4);
      init[bb * CRUMB_LUT_NR + j] =
          (int32_t)(0u - bias_total - (uint32_t)p->a_zero_point * (uint32_t)ksum);
    }
  }
  alignas(16) uint16_t acc16[kSuperPixels][Q][2][8];
  memset(acc16, 0, sizeof(acc16));
  bool flushed = false;
  // acc32 = (earlier flushes, or init) + the 16-bit sums: even bytes = accw - (acco << 8)
  // (channels 8q' .. 8q' + 7 of block q / 4, q' = q % 4), odd bytes = acco (32 + 8q' ..).
  auto flush = [&]() {
    for (size_t m = 0; m < mvalid; m++) {
      for (int q = 0; q < Q; q++) {
        const uint16x8_t aw = vld1q_u16(acc16[m][q][0]), ao = vld1q_u16(acc16[m][q][1]);
        const uint16x8_t ev = vsubq_u16(aw, vshlq_n_u16(ao, 8));
        const size_t j = (q / 4) * CRUMB_LUT_NR + 8 * (q % 4);
        const int32_t* src = flushed ? acc32[m] : init;
        int32_t* d = acc32[m];
        const int32x4_t parts[4] = {vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(ev))),
                                    vreinterpretq_s32_u32(vmovl_high_u16(ev)),
                                    vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(ao))),
                                    vreinterpretq_s32_u32(vmovl_high_u16(ao))};
        const size_t at[4] = {j, j + 4, j + 32, j + 36};
        for (int i = 0; i < 4; i++) {
          vst1q_s32(d + at[i], vaddq_s32(vld1q_s32(src + at[i]), parts[i]));
        }
      }
    }
    memset(acc16, 0, sizeof(acc16));
    flushed = true;
  };
  const uint8_t* ws = w + CRUMB_LUT_BLOCK_HEADER;  // step u of the stream at ws + 64 u
  alignas(16) uint8_t idx[kPieceChunks * kIdxBytes];
  constexpr size_t kCopyBytes = kPieceChunks * kChunkBytes + Kind::kActRead;
  uint8_t copy[MR][kCopyBytes];
  size_t groups = 0;
  // Taps of whole chunks (A3 / A4 at K % 16 == 0): pieces end at tap ends, where they read in
  // place but for the triples' unused fourth byte at a row's end.
  const bool tap_pieces = steps % Kind::kChunkSteps == 0;
  for (size_t ch0 = 0, nch; ch0 < chunks; ch0 += nch) {
    nch = chunks - ch0 < piece ? chunks - ch0 : piece;
    if (tap_pieces) {
      const size_t tap_end = (ch0 * Kind::kChunkSteps / steps + 1) * (steps / Kind::kChunkSteps);
      nch = tap_end - ch0 < nch ? tap_end - ch0 : nch;
    }
    const size_t ngroups = kind.Groups(nch);
    if (groups + ngroups > kFlushGroups) {
      flush();
      groups = 0;
    }
    groups += ngroups;
    Kind::template Build<NB>(ws, block_bytes, stream, ch0, nch, idx);
    // The piece reads `len` activation bytes from byte `off` of tap t0's row on: in place, or
    // copied by segments (a tap's part of the piece; zeros past the stream's end).
    const size_t t0 = ch0 * Kind::kChunkSteps / steps;
    const size_t off = (ch0 * Kind::kChunkSteps - t0 * steps) * Kind::kStepBytes;
    const size_t len = (nch - 1) * kChunkBytes + Kind::kActRead;
    const bool in_place = off + len <= row_bytes;
    struct Segment {
      size_t t, from, n, to;
    } seg[kCopyBytes];
    size_t nseg = 0;
    for (size_t t = t0, o = off, done = 0; !in_place && done < len; t++, o = 0) {
      const size_t n =
          t < ks ? (row_bytes - o < len - done ? row_bytes - o : len - done) : len - done;
      seg[nseg++] = Segment{t, o, n, done};
      done += n;
    }
    for (size_t mt = 0; mt < mvalid; mt += MR) {
      const uint8_t* a[MR];
      for (int m = 0; m < MR; m++) {
        const size_t pm = m0 + (mt + m < mvalid ? mt + m : mvalid - 1);
        if (in_place) {
          a[m] = rows(pm, t0) + off;
          continue;
        }
        for (size_t i = 0; i < nseg; i++) {
          if (seg[i].t < ks) {
            CopySmall(copy[m] + seg[i].to, rows(pm, seg[i].t) + seg[i].from, seg[i].n);
          } else {
            memset(copy[m] + seg[i].to, 0, seg[i].n);
          }
        }
        a[m] = copy[m];
      }
      kind.template Run<MR>(a, nch, idx, acc16[mt][0][0]);
    }
  }
  flush();
}

template <class Kind, int MR, int NB, class Rows>
void RunFrame(const Kind& kind, unsigned a_bits, size_t mr, size_t nc, size_t kc, size_t ks,
              const Rows& rows, const uint8_t* w, void* c, size_t c_stride,
              const crumb_lut_params* p) {
  const size_t block_bytes = crumb_lut_block_bytes(ks, kc);
  const size_t blocks = crumb_lut_blocks(nc);
  uint8_t* out = static_cast<uint8_t*>(c);
  alignas(16) int32_t acc32[kSuperPixels][2 * CRUMB_LUT_NR];
  for (size_t b = 0; b < blocks; b += NB) {
    const int nb = b + NB <= blocks ? NB : 1;
    for (size_t m0 = 0; m0 < mr; m0 += kSuperPixels) {
      const size_t mvalid = mr - m0 < kSuperPixels ? mr - m0 : kSuperPixels;
      if constexpr (NB == 2) {
        if (nb == 1) {  // an odd last block: 4 x 4 tiles
          SuperTile<Kind, 4, 1>(kind, m0, mvalid, kc, ks, rows, w + b * block_bytes, block_bytes, p,
                                a_bits, acc32);
        } else {
          SuperTile<Kind, MR, 2>(kind, m0, mvalid, kc, ks, rows, w + b * block_bytes, block_bytes,
                                 p, a_bits, acc32);
        }
      } else {
        SuperTile<Kind, MR, NB>(kind, m0, mvalid, kc, ks, rows, w + b * block_bytes, block_bytes, p,
                                a_bits, acc32);
      }
      for (int bb = 0; bb < nb; bb++) {
        const size_t n0 = (b + bb) * CRUMB_LUT_NR;
        const size_t count = nc - n0 < CRUMB_LUT_NR ? nc - n0 : CRUMB_LUT_NR;
        for (size_t m = 0; m < mvalid; m++) {
          StoreBlock(acc32[m] + bb * CRUMB_LUT_NR, n0, count, p, out + (m0 + m) * c_stride);
        }
      }
    }
  }
}

template <class Rows>
void LutGemmTriple(size_t mr, size_t nc, size_t kc, size_t ks, const Rows& rows, const uint8_t* w,
                   void* c, size_t c_stride, const crumb_lut_params* p) {
  alignas(64) uint8_t tt[kTripleRow * 64];
  BuildTripleTable(p->table, tt);
  const TripleKind kind(crumb_lut_table_trailer(p->table, 2), tt);
  RunFrame<TripleKind, 2, 2>(kind, 2, mr, nc, kc, ks, rows, w, c, c_stride, p);
}

template <unsigned ABITS, class Rows>
void LutGemmPair(size_t mr, size_t nc, size_t kc, size_t ks, const Rows& rows, const uint8_t* w,
                 void* c, size_t c_stride, const crumb_lut_params* p) {
  const PairKind kind{p->table};
  RunFrame<PairKind, 2, 1>(kind, ABITS, mr, nc, kc, ks, rows, w, c, c_stride, p);
}

}  // namespace

extern "C" void crumb_qu2_qs2_lutgemm_ukernel_2x128__neon(size_t mr, size_t nc, size_t kc,
                                                          const void* a, size_t a_stride,
                                                          const uint8_t* w, void* c,
                                                          size_t c_stride,
                                                          const crumb_lut_params* params) {
  LutGemmTriple(mr, nc, kc, 1, DirectRows{static_cast<const uint8_t*>(a), a_stride}, w, c, c_stride,
                params);
}
extern "C" void crumb_qu2_qs2_lutigemm_ukernel_2x128__neon(
    size_t mr, size_t nc, size_t kc, size_t ks, const void** a, size_t a_offset, const void* zero,
    const uint8_t* w, void* c, size_t c_stride, const crumb_lut_params* params) {
  LutGemmTriple(mr, nc, kc, ks, IndirectRows{a, ks, a_offset, zero}, w, c, c_stride, params);
}
#define CRUMB_LUT_NEON_PAIR(ABITS)                                                                \
  extern "C" void crumb_qu##ABITS##_qs2_lutgemm_ukernel_2x64__neon(                               \
      size_t mr, size_t nc, size_t kc, const void* a, size_t a_stride, const uint8_t* w, void* c, \
      size_t c_stride, const crumb_lut_params* params) {                                          \
    LutGemmPair<ABITS>(mr, nc, kc, 1, DirectRows{static_cast<const uint8_t*>(a), a_stride}, w, c, \
                       c_stride, params);                                                         \
  }                                                                                               \
  extern "C" void crumb_qu##ABITS##_qs2_lutigemm_ukernel_2x64__neon(                              \
      size_t mr, size_t nc, size_t kc, size_t ks, const void** a, size_t a_offset,                \
      const void* zero, const uint8_t* w, void* c, size_t c_stride,                               \
      const crumb_lut_params* params) {                                                           \
    LutGemmPair<ABITS>(mr, nc, kc, ks, IndirectRows{a, ks, a_offset, zero}, w, c, c_stride,       \
                       params);                                                                   \
  }
CRUMB_LUT_NEON_PAIR(3)
CRUMB_LUT_NEON_PAIR(4)

// The first NEON kernels: 4 x 32 pair tiles for A2 / A3 / A4, kept as the baseline the
// instruction counts compare with (benchmarks/lut_results.md).
#define CRUMB_LUT_NEON(ABITS)                                                                     \
  extern "C" void crumb_qu##ABITS##_qs2_lutgemm_ukernel_4x32__neon(                               \
      size_t mr, size_t nc, size_t kc, const void* a, size_t a_stride, const uint8_t* w, void* c, \
      size_t c_stride, const crumb_lut_params* params) {                                          \
    LutGemm<ABITS>(mr, nc, kc, 1, DirectRows{static_cast<const uint8_t*>(a), a_stride}, w, c,     \
                   c_stride, params);                                                             \
  }                                                                                               \
  extern "C" void crumb_qu##ABITS##_qs2_lutigemm_ukernel_4x32__neon(                              \
      size_t mr, size_t nc, size_t kc, size_t ks, const void** a, size_t a_offset,                \
      const void* zero, const uint8_t* w, void* c, size_t c_stride,                               \
      const crumb_lut_params* params) {                                                           \
    LutGemm<ABITS>(mr, nc, kc, ks, IndirectRows{a, ks, a_offset, zero}, w, c, c_stride, params);  \
  }
CRUMB_LUT_NEON(2)
CRUMB_LUT_NEON(3)
CRUMB_LUT_NEON(4)
