// SPARSE_B4 weight packer and the C4HW activation layout changes (kernels/sparse/sparse.h).
#include <string.h>

#include <vector>

#include "kernels/common/requant.h"
#include "kernels/sparse/sparse.h"

namespace {

bool BlockNonZero(const int32_t* row, size_t k, size_t g) {
  for (size_t j = 0; j < CRUMB_SPARSE_KB; j++) {
    const size_t c = CRUMB_SPARSE_KB * g + j;
    if (c < k && row[c] != 0) return true;
  }
  return false;
}

}  // namespace

extern "C" {

int crumb_sparse_decode_rows_lsb(const uint8_t* rows, size_t row_bytes, size_t n, size_t k,
                                 unsigned bits, uint32_t encoding, const int32_t* zw, int32_t* v) {
  int ok = 0;
  for (size_t o = 0; o < n; o++) {
    crumb_decode_weight_row(rows + o * row_bytes, k, bits, encoding, zw[o], v + o * k);
    for (size_t c = 0; c < k; c++) {
      if (v[o * k + c] < -128 || v[o * k + c] > 127) ok = -1;
    }
  }
  return ok;
}

size_t crumb_sparse_count_blocks(const int32_t* v, size_t n, size_t k) {
  const size_t groups = crumb_sparse_groups(k);
  size_t blocks = 0;
  for (size_t o = 0; o < n; o++) {
    for (size_t g = 0; g < groups; g++) blocks += BlockNonZero(v + o * k, k, g);
  }
  return blocks;
}

double crumb_sparse_block_sparsity(const uint8_t* rows, size_t row_bytes, size_t n, size_t k,
                                   unsigned bits, uint32_t encoding, const int32_t* zw) {
  if (n == 0 || k == 0) return 0.0;
  std::vector<int32_t> v(n * k);
  if (crumb_sparse_decode_rows_lsb(rows, row_bytes, n, k, bits, encoding, zw, v.data()) != 0) {
    return -1.0;
  }
  const double total = (double)n * (double)crumb_sparse_groups(k);
  return 1.0 - (double)crumb_sparse_count_blocks(v.data(), n, k) / total;
}

int crumb_sparse_pack(const int32_t* v, size_t n, size_t k, void* dst) {
  for (size_t i = 0; i < n * k; i++) {
    if (v[i] < -128 || v[i] > 127) return -1;
  }
  const size_t groups = crumb_sparse_groups(k);
  const size_t blocks = crumb_sparse_count_blocks(v, n, k);
  uint8_t* base = (uint8_t*)dst;
  memset(base, 0, crumb_sparse_packed_size(n, blocks));
  crumb_sparse_header h;
  h.n = (uint32_t)n;
  h.k = (uint32_t)k;
  h.blocks = (uint32_t)blocks;
  h.flags = 0;
  int32_t* vsum = (int32_t*)(base + crumb_sparse_vsum_offset());
  uint32_t* start = (uint32_t*)(base + crumb_sparse_start_offset(n));
  crumb_sparse_block* out = (crumb_sparse_block*)(base + crumb_sparse_blocks_offset(n));
  size_t b = 0;
  for (size_t o = 0; o < n; o++) {
    const int32_t* row = v + o * k;
    start[o] = (uint32_t)b;
    int32_t sum = 0;
    size_t prev = 0;
    for (size_t g = 0; g < groups; g++) {
      if (!BlockNonZero(row, k, g)) continue;
      crumb_sparse_block blk;
      blk.delta = (int32_t)(g - prev);
      prev = g;
      for (size_t j = 0; j < CRUMB_SPARSE_KB; j++) {
        const size_t c = CRUMB_SPARSE_KB * g + j;
        const int32_t x = c < k ? row[c] : 0;
        blk.v[j] = (int8_t)x;
        sum += x;
        if (x > CRUMB_SPARSE_NARROW_MAX || x < -CRUMB_SPARSE_NARROW_MAX)
          h.flags |= CRUMB_SPARSE_WIDE;
      }
      memcpy(out + b, &blk, sizeof blk);
      b++;
    }
    vsum[o] = sum;
  }
  start[n] = (uint32_t)b;
  memcpy(base, &h, sizeof h);
  return 0;
}

size_t crumb_sparse_packed_size_rows_lsb(const uint8_t* rows, size_t row_bytes, size_t n, size_t k,
                                         unsigned bits, uint32_t encoding, const int32_t* zw) {
  std::vector<int32_t> v(n * k);
  if (crumb_sparse_decode_rows_lsb(rows, row_bytes, n, k, bits, encoding, zw, v.data()) != 0) {
    return 0;
  }
  return crumb_sparse_packed_size(n, crumb_sparse_count_blocks(v.data(), n, k));
}

int crumb_sparse_pack_rows_lsb(const uint8_t* rows, size_t row_bytes, size_t n, size_t k,
                               unsigned bits, uint32_t encoding, const int32_t* zw, void* dst) {
  std::vector<int32_t> v(n * k);
  if (crumb_sparse_decode_rows_lsb(rows, row_bytes, n, k, bits, encoding, zw, v.data()) != 0) {
    return -1;
  }
  return crumb_sparse_pack(v.data(), n, k, dst);
}

int crumb_sparse_unpack(const void* w, size_t size, int32_t* v) {
  if (size < crumb_sparse_blocks_offset(0)) return -1;
  crumb_sparse_header h;
  memcpy(&h, w, sizeof h);
  const size_t n = h.n, k = h.k, groups = crumb_sparse_groups(k);
  if (size < crumb_sparse_packed_size(n, h.blocks)) return -1;
  const uint8_t* base = (const uint8_t*)w;
  memset(v, 0, n * k * sizeof(int32_t));
  uint32_t flags = 0;
  for (size_t o = 0; o < n; o++) {
    uint32_t s0, s1;
    int32_t vsum;
    memcpy(&s0, base + crumb_sparse_start_offset(n) + 4 * o, 4);
    memcpy(&s1, base + crumb_sparse_start_offset(n) + 4 * o + 4, 4);
    memcpy(&vsum, base + crumb_sparse_vsum_offset() + 4 * o, 4);
    if (s0 > s1 || s1 > h.blocks || (o == 0 && s0 != 0)) return -1;
    int64_t g = 0;
    int32_t sum = 0;
    for (uint32_t b = s0; b < s1; b++) {
      crumb_sparse_block blk;
      memcpy(&blk, base + crumb_sparse_blocks_offset(n) + sizeof blk * b, sizeof blk);
      if ((b > s0 && blk.delta <= 0) || blk.delta < 0) return -1;
      g += blk.delta;
      if (g >= (int64_t)groups) return -1;
      for (size_t j = 0; j < CRUMB_SPARSE_KB; j++) {
        const size_t c = CRUMB_SPARSE_KB * (size_t)g + j;
        if (c >= k) {
          if (blk.v[j] != 0) return -1;
          continue;
        }
        v[o * k + c] = blk.v[j];
        sum += blk.v[j];
        if (blk.v[j] > CRUMB_SPARSE_NARROW_MAX || blk.v[j] < -CRUMB_SPARSE_NARROW_MAX) {
          flags |= CRUMB_SPARSE_WIDE;
        }
      }
    }
    if (sum != vsum || (o + 1 == n && s1 != h.blocks)) return -1;
  }
  if (flags != h.flags) return -1;
  return 0;
}

void crumb_sparse_nhwc_to_c4hw(const uint8_t* src, size_t pixels, size_t channels,
                               size_t src_pixel_stride, uint8_t* dst, size_t dst_group_stride,
                               uint8_t pad) {
  const size_t groups = crumb_sparse_groups(channels);
  for (size_t g = 0; g < groups; g++) {
    uint8_t* d = dst + g * dst_group_stride;
    const size_t c0 = CRUMB_SPARSE_KB * g;
    if (c0 + CRUMB_SPARSE_KB <= channels) {
      for (size_t p = 0; p < pixels; p++) memcpy(d + 4 * p, src + p * src_pixel_stride + c0, 4);
    } else {
      for (size_t p = 0; p < pixels; p++) {
        for (size_t j = 0; j < CRUMB_SPARSE_KB; j++) {
          d[4 * p + j] = c0 + j < channels ? src[p * src_pixel_stride + c0 + j] : pad;
        }
      }
    }
  }
}

void crumb_sparse_c4hw_to_nhwc(const uint8_t* src, size_t pixels, size_t channels,
                               size_t src_group_stride, uint8_t* dst, size_t dst_pixel_stride) {
  const size_t groups = crumb_sparse_groups(channels);
  for (size_t g = 0; g < groups; g++) {
    const uint8_t* s = src + g * src_group_stride;
    const size_t c0 = CRUMB_SPARSE_KB * g;
    const size_t count = channels - c0 < CRUMB_SPARSE_KB ? channels - c0 : CRUMB_SPARSE_KB;
    for (size_t p = 0; p < pixels; p++) memcpy(dst + p * dst_pixel_stride + c0, s + 4 * p, count);
  }
}

}  // extern "C"

// ---- SPARSE_F32 ------------------------------------------------------------------------------

extern "C" {

size_t crumb_sparse_f32_count(const float* w, size_t n, size_t k) {
  size_t count = 0;
  for (size_t i = 0; i < n * k; i++) count += w[i] != 0.0f || w[i] != w[i];
  return count;
}

void crumb_sparse_f32_pack(const float* w, size_t n, size_t k, void* dst) {
  const size_t nonzeros = crumb_sparse_f32_count(w, n, k);
  uint8_t* base = (uint8_t*)dst;
  memset(base, 0, crumb_sparse_f32_packed_size(n, nonzeros));
  const crumb_sparse_header h = {(uint32_t)n, (uint32_t)k, (uint32_t)nonzeros, CRUMB_SPARSE_F32};
  memcpy(base, &h, sizeof h);
  uint8_t* start = base + 16;
  uint8_t* nz = base + crumb_sparse_f32_nz_offset(n);
  uint32_t b = 0;
  for (size_t o = 0; o < n; o++) {
    memcpy(start + 4 * o, &b, 4);
    size_t prev = 0;
    for (size_t c = 0; c < k; c++) {
      const float v = w[o * k + c];
      if (v == 0.0f && v == v) continue;
      const crumb_sparse_f32_nz e = {(int32_t)(c - prev), v};
      memcpy(nz + sizeof e * b, &e, sizeof e);
      prev = c;
      b++;
    }
  }
  memcpy(start + 4 * n, &b, 4);
}

int crumb_sparse_f32_unpack(const void* packed, size_t size, float* w) {
  if (size < 16) return -1;
  crumb_sparse_header h;
  memcpy(&h, packed, sizeof h);
  if (h.flags != CRUMB_SPARSE_F32 || size < crumb_sparse_f32_packed_size(h.n, h.blocks)) return -1;
  const size_t n = h.n, k = h.k;
  const uint8_t* base = (const uint8_t*)packed;
  for (size_t i = 0; i < n * k; i++) w[i] = 0.0f;
  for (size_t o = 0; o < n; o++) {
    uint32_t s0, s1;
    memcpy(&s0, base + 16 + 4 * o, 4);
    memcpy(&s1, base + 16 + 4 * o + 4, 4);
    if (s0 > s1 || s1 > h.blocks || (o == 0 && s0 != 0) || (o + 1 == n && s1 != h.blocks)) {
      return -1;
    }
    int64_t c = 0;
    for (uint32_t b = s0; b < s1; b++) {
      crumb_sparse_f32_nz e;
      memcpy(&e, base + crumb_sparse_f32_nz_offset(n) + sizeof e * b, sizeof e);
      if (e.delta < 0 || (b > s0 && e.delta == 0)) return -1;
      c += e.delta;
      if (c >= (int64_t)k || (e.v == 0.0f && e.v == e.v)) return -1;
      w[o * k + (size_t)c] = e.v;
    }
  }
  return 0;
}

}  // extern "C"
