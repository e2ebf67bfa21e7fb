#include "kernels/common/repack.h"

#include <string.h>

#include <vector>

#include "kernels/bitserial/bitserial.h"
#include "kernels/common/family.h"
#include "kernels/common/pack.h"
#include "kernels/dot/dot.h"
#include "kernels/dwconv/dwconv.h"
#include "kernels/lut/lut.h"
#include "kernels/sparse/sparse.h"

namespace {

size_t GroupBytes(const crumb_weights_desc* w, int layout) {
  const size_t ng = w->n / w->groups;
  switch (layout) {
    case CRUMB_LAYOUT_DOT_N16K4:
      return crumb_dot_packed_size(ng, w->ks, w->kc, w->bits);
    case CRUMB_LAYOUT_LUT_W2_N64:
      return crumb_lut_packed_size(ng, w->ks, w->kc);
    case CRUMB_LAYOUT_BITSERIAL_N64:
      return crumb_bitserial_packed_size(ng, w->ks, w->kc, w->bits);
    case CRUMB_LAYOUT_DWCONV_C64:  // one block run over all channels: bytes per group unused
    case CRUMB_LAYOUT_SPARSE_B4:   // depends on the values
      return 0;
    default:
      return ng * crumb_rows_lsb_row_bytes(w->ks * w->kc, w->bits);
  }
}

bool IsSigned(unsigned encoding) {
  return encoding == CRUMB_ENC_SIGNED || encoding == CRUMB_ENC_TERNARY;
}

// Packed -> ROWS_LSB rows of all groups.
bool ToRows(const crumb_weights_desc* w, const uint8_t* src, int layout, uint8_t* rows) {
  const size_t ng = w->n / w->groups, k = w->ks * w->kc;
  const size_t row_bytes = crumb_rows_lsb_row_bytes(k, w->bits);
  if (layout == CRUMB_LAYOUT_DWCONV_C64 || layout == CRUMB_LAYOUT_SPARSE_B4) {
    std::vector<int32_t> codes(w->n * k);
    if (layout == CRUMB_LAYOUT_DWCONV_C64) {
      if (!crumb_dwconv_unpack(src, w->n, w->ks, codes.data())) return false;
    } else {
      const crumb_sparse_header* h = reinterpret_cast<const crumb_sparse_header*>(src);
      if (h->n != w->n || h->k != k) return false;
      if (crumb_sparse_unpack(src, crumb_sparse_packed_size(h->n, h->blocks), codes.data()) != 0) {
        return false;
      }
    }
    for (size_t o = 0; o < w->n; o++) {
      for (size_t i = 0; i < k; i++) {
        int32_t& v = codes[o * k + i];
        const int32_t z = w->zero_points[o];
        v = w->encoding == CRUMB_ENC_BIPOLAR ? (v + z + 1) / 2 : v + z;
      }
    }
    crumb_pack_rows_lsb(codes.data(), w->n, k, w->bits, rows);
    return true;
  }
  const size_t gb = GroupBytes(w, layout);
  int8_t vmap[4];
  if (layout == CRUMB_LAYOUT_LUT_W2_N64 &&
      !crumb_lut_value_map(w->bits, w->encoding, w->zero_points, w->n, vmap)) {
    return false;
  }
  std::vector<int32_t> codes(ng * k);
  for (size_t g = 0; g < w->groups; g++) {
    const uint8_t* sg = src + g * gb;
    const int32_t* zg = w->zero_points + g * ng;
    if (layout == CRUMB_LAYOUT_DOT_N16K4) {
      crumb_dot_unpack(sg, ng, w->ks, w->kc, w->bits, IsSigned(w->encoding), codes.data());
    } else {
      // lut and bitserial hold values (code - zero point; bipolar -1 / +1): back to codes.
      const int ok = layout == CRUMB_LAYOUT_LUT_W2_N64
                         ? crumb_lut_unpack(sg, vmap, ng, w->ks, w->kc, codes.data())
                         : crumb_bitserial_unpack(sg, w->bits, ng, w->ks, w->kc, codes.data());
      if (!ok) return false;
      for (size_t o = 0; o < ng; o++) {
        for (size_t i = 0; i < k; i++) {
          int32_t& v = codes[o * k + i];
          v = w->encoding == CRUMB_ENC_BIPOLAR ? (v + zg[o] + 1) / 2 : v + zg[o];
        }
      }
    }
    crumb_pack_rows_lsb(codes.data(), ng, k, w->bits, rows + g * ng * row_bytes);
  }
  return true;
}

// ROWS_LSB rows of all groups -> a family's layout.
bool FromRows(const crumb_weights_desc* w, const uint8_t* rows, int layout, uint8_t* dst) {
  const size_t ng = w->n / w->groups, k = w->ks * w->kc;
  const size_t row_bytes = crumb_rows_lsb_row_bytes(k, w->bits);
  const size_t gb = GroupBytes(w, layout);
  if (layout == CRUMB_LAYOUT_SPARSE_B4) {
    std::vector<int32_t> zw(w->zero_points, w->zero_points + w->n);
    return crumb_sparse_pack_rows_lsb(rows, row_bytes, w->n, k, w->bits, w->encoding, zw.data(),
                                      dst) == 0;
  }
  if (layout == CRUMB_LAYOUT_DWCONV_C64) {
    uint32_t max_abs_v;
    return crumb_dwconv_pack(rows, w->bits, w->encoding, w->zero_points, w->n, w->ks, dst,
                             &max_abs_v) != 0;
  }
  if (layout == CRUMB_LAYOUT_LUT_W2_N64) {
    // One value map for the whole tensor (the runtime builds its tables from it).
    int8_t vmap[4];
    if (!crumb_lut_value_map(w->bits, w->encoding, w->zero_points, w->n, vmap)) return false;
    std::vector<int32_t> values(w->n * k);
    crumb_unpack_rows_lsb(rows, w->n, k, w->bits, IsSigned(w->encoding), values.data());
    for (size_t o = 0; o < w->n; o++) {
      for (size_t i = 0; i < k; i++) {
        int32_t& v = values[o * k + i];
        v = w->encoding == CRUMB_ENC_BIPOLAR ? 2 * v - 1 - w->zero_points[o]
                                             : v - w->zero_points[o];
      }
    }
    for (size_t g = 0; g < w->groups; g++) {
      if (!crumb_lut_pack_values(values.data() + g * ng * k, vmap, ng, w->ks, w->kc,
                                 dst + g * gb)) {
        return false;
      }
    }
    return true;
  }
  for (size_t g = 0; g < w->groups; g++) {
    const uint8_t* rg = rows + g * ng * row_bytes;
    if (layout == CRUMB_LAYOUT_DOT_N16K4) {
      crumb_dot_pack_rows_lsb(rg, row_bytes, ng, w->ks, w->kc, w->bits, w->encoding, dst + g * gb);
    } else if (layout == CRUMB_LAYOUT_BITSERIAL_N64) {
      // The packer folds zero points into beta for UNSIGNED weights only and ignores the others':
      // refuse them rather than drop them.
      if (w->encoding != CRUMB_ENC_UNSIGNED) {
        for (size_t o = 0; o < ng; o++) {
          if (w->zero_points[g * ng + o] != 0) return false;
        }
      }
      if (!crumb_bitserial_pack(rg, w->bits, w->encoding, w->zero_points + g * ng, ng, w->ks, w->kc,
                                dst + g * gb)) {
        return false;
      }
    } else {
      memcpy(dst + g * gb, rg, gb);
    }
  }
  return true;
}

}  // namespace

extern "C" {

int crumb_family_layout(int family) {
  switch (family) {
    case CRUMB_FAMILY_DOT:
      return CRUMB_LAYOUT_DOT_N16K4;
    case CRUMB_FAMILY_LUT:
      return CRUMB_LAYOUT_LUT_W2_N64;
    case CRUMB_FAMILY_BITSERIAL:
      return CRUMB_LAYOUT_BITSERIAL_N64;
    case CRUMB_FAMILY_DWCONV:
      return CRUMB_LAYOUT_DWCONV_C64;
    case CRUMB_FAMILY_SPARSE:
      return CRUMB_LAYOUT_SPARSE_B4;
    default:
      return CRUMB_LAYOUT_ROWS_LSB;
  }
}

int crumb_layout_family(int layout) {
  switch (layout) {
    case CRUMB_LAYOUT_DOT_N16K4:
      return CRUMB_FAMILY_DOT;
    case CRUMB_LAYOUT_LUT_W2_N64:
      return CRUMB_FAMILY_LUT;
    case CRUMB_LAYOUT_BITSERIAL_N64:
      return CRUMB_FAMILY_BITSERIAL;
    case CRUMB_LAYOUT_DWCONV_C64:
      return CRUMB_FAMILY_DWCONV;
    case CRUMB_LAYOUT_SPARSE_B4:
      return CRUMB_FAMILY_SPARSE;
    default:
      return CRUMB_FAMILY_AUTO;
  }
}

size_t crumb_weights_size(const crumb_weights_desc* w, int layout) {
  if (layout == CRUMB_LAYOUT_DWCONV_C64) return crumb_dwconv_packed_size(w->n, w->ks);
  return w->groups * GroupBytes(w, layout);
}

size_t crumb_repack_size(const crumb_weights_desc* w, const uint8_t* src, int src_layout,
                         int dst_layout) {
  if (dst_layout != CRUMB_LAYOUT_SPARSE_B4) return crumb_weights_size(w, dst_layout);
  if (w->groups != 1 || w->ks != 1) return 0;
  const size_t k = w->kc, row_bytes = crumb_rows_lsb_row_bytes(k, w->bits);
  std::vector<uint8_t> rows;
  if (src_layout != CRUMB_LAYOUT_ROWS_LSB) {
    rows.resize(w->n * row_bytes);
    if (!ToRows(w, src, src_layout, rows.data())) return 0;
    src = rows.data();
  }
  std::vector<int32_t> zw(w->zero_points, w->zero_points + w->n);
  return crumb_sparse_packed_size_rows_lsb(src, row_bytes, w->n, k, w->bits, w->encoding,
                                           zw.data());
}

int crumb_repack_weights(const crumb_weights_desc* w, const uint8_t* src, int src_layout,
                         uint8_t* dst, int dst_layout) {
  if (w->groups == 0 || w->n % w->groups != 0) return 0;
  if ((src_layout == CRUMB_LAYOUT_DWCONV_C64 || dst_layout == CRUMB_LAYOUT_DWCONV_C64) &&
      (w->groups != w->n || w->kc != 1)) {
    return 0;
  }
  if ((src_layout == CRUMB_LAYOUT_SPARSE_B4 || dst_layout == CRUMB_LAYOUT_SPARSE_B4) &&
      (w->groups != 1 || w->ks != 1)) {
    return 0;
  }
  if (src_layout == CRUMB_LAYOUT_ROWS_LSB) return FromRows(w, src, dst_layout, dst) ? 1 : 0;
  if (dst_layout == CRUMB_LAYOUT_ROWS_LSB) return ToRows(w, src, src_layout, dst) ? 1 : 0;
  std::vector<uint8_t> rows(crumb_weights_size(w, CRUMB_LAYOUT_ROWS_LSB));
  return ToRows(w, src, src_layout, rows.data()) && FromRows(w, rows.data(), dst_layout, dst) ? 1
                                                                                              : 0;
}

}  // extern "C"
