// The DOT_N16K4 packer (kernels/dot/dot.h describes the layout). Runs offline in the converter
// and in tests; clarity over speed.
#include <string.h>

#include <vector>

#include "kernels/common/pack.h"
#include "kernels/dot/dot.h"

namespace {

// Visits every (block, tap, super-block) of the layout with the byte offset of the super-block.
template <typename F>
void ForEachSuperBlock(size_t n, size_t ks, size_t kc, unsigned bits, F&& f) {
  const size_t blocks = (n + CRUMB_DOT_NR - 1) / CRUMB_DOT_NR;
  const size_t block_bytes = crumb_dot_block_bytes(ks, kc, bits);
  const size_t tap_bytes = crumb_dot_tap_bytes(kc, bits);
  const size_t groups = (kc + CRUMB_DOT_KG - 1) / CRUMB_DOT_KG;
  for (size_t b = 0; b < blocks; b++) {
    for (size_t t = 0; t < ks; t++) {
      size_t offset = b * block_bytes + CRUMB_DOT_HEADER + t * tap_bytes;
      for (size_t g0 = 0; g0 < groups; g0 += CRUMB_DOT_SB) {
        const unsigned nv = (unsigned)(groups - g0 < CRUMB_DOT_SB ? groups - g0 : CRUMB_DOT_SB);
        f(b, t, g0, nv, offset);
        offset += crumb_dot_sb_bytes(nv, bits);
      }
    }
  }
}

}  // namespace

extern "C" void crumb_dot_pack(const int32_t* codes, size_t n, size_t ks, size_t kc, unsigned bits,
                               uint32_t encoding, uint8_t* dst) {
  memset(dst, 0, crumb_dot_packed_size(n, ks, kc, bits));
  const size_t k_total = ks * kc;
  const size_t block_bytes = crumb_dot_block_bytes(ks, kc, bits);
  const uint32_t mask = (1u << bits) - 1u;
  unsigned widths[3];
  const unsigned planes = crumb_dot_planes(bits, widths);
  ForEachSuperBlock(n, ks, kc, bits, [&](size_t b, size_t t, size_t g0, unsigned nv, size_t off) {
    uint8_t* sb = dst + off;
    for (unsigned v = 0; v < nv; v++) {
      for (unsigned lane = 0; lane < 64; lane++) {
        const size_t ch = b * CRUMB_DOT_NR + lane / 4;
        const size_t k = (g0 + v) * CRUMB_DOT_KG + lane % 4;
        if (ch >= n || k >= kc) continue;  // padding: code 0
        const uint32_t code = (uint32_t)codes[ch * k_total + t * kc + k] & mask;
        uint8_t* plane = sb;
        unsigned shift = 0;
        for (unsigned q = 0; q < planes; q++) {
          const unsigned p = widths[q], per = 8 / p;
          const uint32_t field = (code >> shift) & ((1u << p) - 1u);
          plane[CRUMB_DOT_CHUNK * (v / per) + lane] |= (uint8_t)(field << (p * (v % per)));
          shift += p;
          plane += CRUMB_DOT_CHUNK * ((nv * p + 7) / 8);
        }
      }
    }
  });
  // Per-channel sums of w' over the real lanes.
  const size_t blocks = (n + CRUMB_DOT_NR - 1) / CRUMB_DOT_NR;
  for (size_t b = 0; b < blocks; b++) {
    int32_t wsum[CRUMB_DOT_NR] = {0};
    for (size_t c = 0; c < CRUMB_DOT_NR && b * CRUMB_DOT_NR + c < n; c++) {
      uint32_t sum = 0;
      for (size_t k = 0; k < k_total; k++) {
        const uint32_t code = (uint32_t)codes[(b * CRUMB_DOT_NR + c) * k_total + k] & mask;
        sum += (uint32_t)crumb_dot_code_value(code, bits, encoding);
      }
      wsum[c] = (int32_t)sum;
    }
    memcpy(dst + b * block_bytes, wsum, sizeof(wsum));  // little-endian int32, like all of crumb
  }
}

extern "C" void crumb_dot_pack_rows_lsb(const uint8_t* rows, size_t row_bytes, size_t n, size_t ks,
                                        size_t kc, unsigned bits, uint32_t encoding, uint8_t* dst) {
  const size_t k_total = ks * kc;
  std::vector<int32_t> codes(n * k_total);
  for (size_t r = 0; r < n; r++) {
    for (size_t k = 0; k < k_total; k++) {
      codes[r * k_total + k] = crumb_rows_lsb_get(rows + r * row_bytes, k, bits, 0);
    }
  }
  crumb_dot_pack(codes.data(), n, ks, kc, bits, encoding, dst);
}

extern "C" void crumb_dot_unpack(const uint8_t* packed, size_t n, size_t ks, size_t kc,
                                 unsigned bits, int is_signed, int32_t* codes) {
  const size_t k_total = ks * kc;
  ForEachSuperBlock(n, ks, kc, bits, [&](size_t b, size_t t, size_t g0, unsigned nv, size_t off) {
    for (unsigned v = 0; v < nv; v++) {
      for (unsigned lane = 0; lane < 64; lane++) {
        const size_t ch = b * CRUMB_DOT_NR + lane / 4;
        const size_t k = (g0 + v) * CRUMB_DOT_KG + lane % 4;
        if (ch >= n || k >= kc) continue;
        int32_t code = (int32_t)crumb_dot_sb_code(packed + off, nv, bits, v, lane);
        if (is_signed && (code >> (bits - 1))) code -= (int32_t)(1u << bits);
        codes[ch * k_total + t * kc + k] = code;
      }
    }
  });
}
