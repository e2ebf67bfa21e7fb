#include "gemm_layer.h"

#include <stdlib.h>
#include <string.h>

#include <algorithm>

#include "kernels/bitserial/bitserial.h"
#include "kernels/common/family_table.h"
#include "kernels/common/pack.h"
#include "kernels/common/repack.h"
#include "kernels/dot/dot.h"
#include "kernels/lut/lut.h"
#include "kernels/sparse/sparse.h"
#include "op_params.h"

namespace crumb::rt {

bool AlignedBytes::Resize(size_t n) {
  void* p = nullptr;
  if (posix_memalign(&p, 64, n ? (n + 63) / 64 * 64 : 64) != 0) return false;
  p_.reset(static_cast<uint8_t*>(p));
  n_ = n;
  return true;
}

namespace {

// The largest |qw - zw| (bipolar: |2 qw - 1 - zw|) the weights' encoding allows: the dwconv
// kernels' bound for int16 chains.
uint32_t MaxAbsValue(int bits, int encoding, const std::vector<int32_t>& zw) {
  int32_t lo, hi;
  if (encoding == kUnsigned) {
    lo = 0, hi = (1 << bits) - 1;
  } else if (encoding == kBipolar) {
    lo = -1, hi = 1;
  } else {
    lo = -(1 << (bits - 1)), hi = (1 << (bits - 1)) - 1;
  }
  uint32_t m = 0;
  for (int32_t z : zw) {
    m = std::max<uint32_t>(m, (uint32_t)std::abs(lo - z));
    m = std::max<uint32_t>(m, (uint32_t)std::abs(hi - z));
  }
  return m;
}

const char* SelectIsaName(unsigned isa) {
  static const char* const kNames[] = {"portable", "scalar", "avx2", "avx512", "neon", "neondot"};
  return isa < 6 ? kNames[isa] : "?";
}

}  // namespace

// In order: a family the options force; the file's family when a user forced it at conversion or
// crumb-bench --tune measured it; else the measured table for this CPU (which may differ from the
// family the converter packed for: the caller then repacks).
int GemmLayer::ChooseFamily(const OpContext& ctx, const crumb_gemm_layer& layer, unsigned shape,
                            int packed_for) {
  const int forced = ctx.kernels.forced_family;
  if (forced != CRUMB_FAMILY_AUTO) {
    if (crumb_family_can_run(&layer, forced)) {
      reason_ = StrFormat("forced by the options (%s)", crumb_kernel_family_name(forced));
      return forced;
    }
    reason_ = StrFormat("%s cannot run this layer; ", crumb_kernel_family_name(forced));
  }
  const int recorded = packed_for != CRUMB_FAMILY_AUTO ? packed_for : ctx.desc.family;
  const bool recorded_ok = recorded != CRUMB_FAMILY_AUTO && crumb_family_can_run(&layer, recorded);
  if (recorded_ok && ctx.desc.family_source == kFamilySourceTuned) {
    const char* isa = ctx.model.Metadata("crumb.tuned_isa");
    reason_ += StrFormat("tuned (crumb-bench --tune%s%s)", isa ? " on " : "", isa ? isa : "");
    return recorded;
  }
  // Files from before family_source recorded a forced scalar as family SCALAR on ROWS_LSB weights
  // (where the rule itself says SCALAR, that is the rule's choice, not a user's).
  const bool old_forced_scalar = packed_for == CRUMB_FAMILY_AUTO &&
                                 recorded == CRUMB_FAMILY_SCALAR &&
                                 crumb_choose_gemm_family(&layer, CRUMB_FAMILY_AUTO) != recorded;
  if (recorded_ok && (ctx.desc.family_source == kFamilySourceForced || old_forced_scalar)) {
    reason_ += recorded == CRUMB_FAMILY_SPARSE
                   ? std::string("forced at conversion (--sparse on)")
                   : StrFormat("forced at conversion (--kernel-family %s)",
                               crumb_kernel_family_name(recorded));
    return recorded;
  }
  const char* why = nullptr;
  const int family = crumb_family_table_choose(&layer, ctx.kernels.select_isa, shape, &why);
  if (why) {
    reason_ += StrFormat("table, %s row: %s", SelectIsaName(ctx.kernels.select_isa), why);
  } else {
    reason_ += StrFormat("rule, no table row: %s", crumb_gemm_family_rule_reason(&layer, family));
  }
  return family;
}

Status GemmLayer::Prepare(const OpContext& ctx, size_t groups, size_t ks, size_t kc, size_t rows,
                          bool direct) {
  if (prepared_) return Status::Ok();
  const TensorDesc& x = ctx.InDesc(0);
  const TensorDesc& w = ctx.InDesc(1);
  const size_t n = (size_t)w.shape[0];
  groups_ = groups;
  ks_ = ks;
  kc_ = kc;
  cout_g_ = n / groups;
  zero_points_.assign(n, w.zero_points[0]);
  if (w.zero_points.size() == n) zero_points_ = w.zero_points;
  mul_ = reinterpret_cast<const float*>(ctx.InDesc(2).data);
  add_ = reinterpret_cast<const float*>(ctx.InDesc(3).data);

  params_.a_type = ElemType(x);
  params_.a_zero_point = x.zero_points[0];
  params_.w_bits = (uint32_t)w.bits;
  params_.w_encoding = (uint32_t)w.encoding;
  params_.w_row_bytes = crumb_rows_lsb_row_bytes(ks * kc, (unsigned)w.bits);
  params_.out = OutputParams(ctx);

  crumb_gemm_layer layer = {(unsigned)w.bits,
                            (unsigned)w.encoding,
                            zero_points_.data(),
                            n,
                            groups,
                            (unsigned)x.bits,
                            (unsigned)x.encoding,
                            kc,
                            ks,
                            direct ? 1 : 0,
                            0.0f,
                            rows};
  // The sparse rule needs the weights' zero blocks: counted in ROWS_LSB rows, read from a
  // SPARSE_B4 header (op_check.cc validated it).
  if (w.layout == kLayoutRowsLsb && crumb_sparse_layer_ok(&layer)) {
    layer.block_sparsity =
        (float)crumb_sparse_block_sparsity(w.data, params_.w_row_bytes, n, kc, (unsigned)w.bits,
                                           (uint32_t)w.encoding, zero_points_.data());
  } else if (w.layout == kLayoutSparseB4) {
    const crumb_sparse_header* h = reinterpret_cast<const crumb_sparse_header*>(w.data);
    layer.block_sparsity =
        1.0f - (float)((double)h->blocks / ((double)n * (double)crumb_sparse_groups(kc)));
  }
  const unsigned shape = ks > 1      ? CRUMB_SHAPE_SPATIAL
                         : rows == 1 ? CRUMB_SHAPE_GEMV
                                     : CRUMB_SHAPE_POINTWISE;
  const int packed_for = crumb_layout_family(w.layout);
  family_ = ChooseFamily(ctx, layer, shape, packed_for);
  if (family_ == CRUMB_FAMILY_LUT) lut_bits_ = crumb_lut_layer_a_bits(&layer);

  const int layout = crumb_family_layout(family_);
  model_w_ = w.data;
  model_layout_ = w.layout;
  if (layout != w.layout) {
    // Weights of a ROWS_LSB file, or packed for another family: packed for this one, once.
    const crumb_weights_desc wd = {
        (unsigned)w.bits, (unsigned)w.encoding, zero_points_.data(), n, groups, ks, kc};
    const size_t bytes = crumb_repack_size(&wd, w.data, w.layout, layout);
    if (bytes == 0 || !owned_.Resize(bytes)) {
      return Status(CRUMB_ERROR_OUT_OF_MEMORY, "Out of memory packing weights.");
    }
    if (!crumb_repack_weights(&wd, w.data, w.layout, owned_.data(), layout)) {
      return InvalidModel(
          StrFormat("has weights the %s packer refuses (codes outside what the "
                    "encoding and zero points allow, or checksums that do not "
                    "match).",
                    KernelFamilyName(family_)));
    }
    if (w.layout != kLayoutRowsLsb) {
      reason_ += StrFormat("; weights repacked from %s at prepare", KernelFamilyName(packed_for));
    }
    w_ = owned_.data();
  } else {
    w_ = w.data;
  }
  switch (family_) {
    case CRUMB_FAMILY_DOT:
      group_bytes_ = crumb_dot_packed_size(cout_g_, ks, kc, (unsigned)w.bits);
      break;
    case CRUMB_FAMILY_LUT:
      group_bytes_ = crumb_lut_packed_size(cout_g_, ks, kc);
      break;
    case CRUMB_FAMILY_BITSERIAL:
      group_bytes_ = crumb_bitserial_packed_size(cout_g_, ks, kc, (unsigned)w.bits);
      break;
    case CRUMB_FAMILY_DWCONV:
    case CRUMB_FAMILY_SPARSE:
      group_bytes_ = 0;  // one call covers every channel (group)
      break;
    default:
      group_bytes_ = cout_g_ * params_.w_row_bytes;
  }

  if (family_ == CRUMB_FAMILY_LUT) {
    int8_t vmap[4];
    if (!crumb_lut_value_map((unsigned)w.bits, (unsigned)w.encoding, zero_points_.data(), n,
                             vmap)) {
      return Internal("has weights the lut value map refuses after the family check.");
    }
    if (!table_.Resize(crumb_lut_table_size(lut_bits_))) {
      return Status(CRUMB_ERROR_OUT_OF_MEMORY, "Out of memory allocating a lookup table.");
    }
    crumb_lut_init_table(vmap, lut_bits_, table_.data());
    lut_ = ctx.kernels.lut[lut_bits_];
    gemm_name_ = lut_.gemm_name;
    igemm_name_ = lut_.igemm_name;
    crumb_lut_params p{};
    p.table = table_.data();
    p.a_zero_point = x.zero_points[0];
    p.out_bits = 8;
    p.out = params_.out;
    p.a_type = CRUMB_ELEM_U8;
    lut_groups_.assign(groups, p);
    for (size_t g = 0; g < groups; g++) {
      lut_groups_[g].mul = mul_ + g * cout_g_;
      lut_groups_[g].add = add_ + g * cout_g_;
    }
  } else if (family_ == CRUMB_FAMILY_SPARSE) {
    spmm_ = ctx.kernels.spmm;
    gemm_name_ = igemm_name_ = spmm_.name;
    sp_params_.a_type = params_.a_type;
    sp_params_.a_zero_point = x.zero_points[0];
    sp_params_.mul = mul_;
    sp_params_.add = add_;
    sp_params_.out = params_.out;
    out_elem_ = ctx.OutDesc().is_float ? 4 : 1;
  } else if (family_ == CRUMB_FAMILY_DWCONV) {
    dwconv_ = ctx.kernels.dwconv;
    gemm_name_ = igemm_name_ = dwconv_.name;
    dw_params_.a_type = params_.a_type;
    dw_params_.a_zero_point = x.zero_points[0];
    dw_params_.a_bits = (uint32_t)x.bits;
    dw_params_.max_abs_v = MaxAbsValue(w.bits, w.encoding, zero_points_);
    dw_params_.mul = mul_;
    dw_params_.add = add_;
    dw_params_.out = params_.out;
  } else if (family_ == CRUMB_FAMILY_BITSERIAL) {
    a_bits_ = (unsigned)x.bits;
    bs_ = ctx.kernels.bitserial[a_bits_][w.bits];
    gemm_name_ = bs_.gemm_name;
    igemm_name_ = bs_.igemm_name;
    crumb_bitserial_params p{};
    p.a_zero_point = x.zero_points[0];
    p.out_bits = 8;
    p.out = params_.out;
    bs_groups_.assign(groups, p);
    for (size_t g = 0; g < groups; g++) {
      bs_groups_[g].mul = mul_ + g * cout_g_;
      bs_groups_[g].add = add_ + g * cout_g_;
    }
  } else {
    const bool dot = family_ == CRUMB_FAMILY_DOT;
    gemm_ = dot ? ctx.kernels.dot.gemm : ctx.kernels.gemm;
    igemm_ = dot ? ctx.kernels.dot.igemm : ctx.kernels.igemm;
    gemm_name_ = dot ? ctx.kernels.dot.gemm_name : ctx.kernels.gemm_name;
    igemm_name_ = dot ? ctx.kernels.dot.igemm_name : ctx.kernels.igemm_name;
    // Zero rows hold the zero point; in the u8 domain (s8 codes + 128) a zero one adds nothing.
    const int32_t za_u = params_.a_zero_point + (params_.a_type == CRUMB_ELEM_U8 ? 0 : 128);
    // (The igemmz kernel skips them in its 4-row x 64-channel tiles: layers of 64 channels up.)
    skips_zero_rows_ = dot && ctx.kernels.dot.igemm_skips_zero_rows && za_u == 0 && cout_g_ >= 64;
    gemm_groups_.assign(groups, params_);
    for (size_t g = 0; g < groups; g++) {
      gemm_groups_[g].w_zero_point = zero_points_.data() + g * cout_g_;
      gemm_groups_[g].mul = mul_ + g * cout_g_;
      gemm_groups_[g].add = add_ + g * cout_g_;
    }
  }
  prepared_ = true;
  return Status::Ok();
}

Status GemmLayer::Reshape(size_t ks, size_t kc, size_t pad_kc) {
  const size_t new_kc = std::max(kc, pad_kc);
  if (ks == ks_ && new_kc == kc_) return Status::Ok();  // a second Configure (input resized)
  const bool pad = new_kc > kc;
  if (groups_ != 1 || ks * kc != ks_ * kc_ ||
      (family_ != CRUMB_FAMILY_SCALAR && family_ != CRUMB_FAMILY_DOT) ||
      (pad && (ks != 1 || (params_.w_encoding != CRUMB_ENC_SIGNED &&
                           params_.w_encoding != CRUMB_ENC_UNSIGNED)))) {
    return Internal("asked to reshape weights its kernel family cannot take.");
  }
  const size_t n = cout_g_;
  const unsigned bits = params_.w_bits;
  const crumb_weights_desc from = {bits, params_.w_encoding, zero_points_.data(), n, 1, ks_, kc_};
  const crumb_weights_desc to = {bits, params_.w_encoding, zero_points_.data(), n, 1, ks, new_kc};
  std::vector<uint8_t> rows(crumb_weights_size(&from, CRUMB_LAYOUT_ROWS_LSB));
  if (model_layout_ == CRUMB_LAYOUT_ROWS_LSB) {
    memcpy(rows.data(), model_w_, rows.size());
  } else if (!crumb_repack_weights(&from, model_w_, model_layout_, rows.data(),
                                   CRUMB_LAYOUT_ROWS_LSB)) {
    return Internal("has weights its own layout's unpacker refuses after prepare.");
  }
  if (pad) {
    // Each channel's codes, then its zero point (a value in the encoding's range) up to new_kc.
    std::vector<int32_t> values(n * kc), padded(n * new_kc);
    crumb_unpack_rows_lsb(rows.data(), n, kc, bits, params_.w_encoding == CRUMB_ENC_SIGNED,
                          values.data());
    for (size_t c = 0; c < n; c++) {
      std::copy(values.begin() + (ptrdiff_t)(c * kc), values.begin() + (ptrdiff_t)((c + 1) * kc),
                padded.begin() + (ptrdiff_t)(c * new_kc));
      std::fill(padded.begin() + (ptrdiff_t)(c * new_kc + kc),
                padded.begin() + (ptrdiff_t)((c + 1) * new_kc), zero_points_[c]);
    }
    rows.assign(crumb_rows_lsb_size(n, new_kc, bits), 0);
    crumb_pack_rows_lsb(padded.data(), n, new_kc, bits, rows.data());
  }
  const int layout = crumb_family_layout(family_);
  AlignedBytes packed;
  if (!packed.Resize(crumb_weights_size(&to, layout))) {
    return Status(CRUMB_ERROR_OUT_OF_MEMORY, "Out of memory packing weights.");
  }
  if (layout == CRUMB_LAYOUT_ROWS_LSB) {
    memcpy(packed.data(), rows.data(), rows.size());
  } else if (!crumb_repack_weights(&to, rows.data(), CRUMB_LAYOUT_ROWS_LSB, packed.data(),
                                   layout)) {
    return Internal("has weights its family's packer refuses reshaped.");
  }
  owned_ = std::move(packed);
  w_ = owned_.data();
  ks_ = ks;
  kc_ = new_kc;
  group_bytes_ = family_ == CRUMB_FAMILY_DOT ? crumb_dot_packed_size(n, ks, new_kc, bits)
                                             : n * crumb_rows_lsb_row_bytes(ks * new_kc, bits);
  // The file's weights no longer describe this layer's geometry: tap subsets would misread them.
  model_w_ = owned_.data();
  model_layout_ = layout;
  return Status::Ok();
}

bool GemmLayer::CanWiden() const {
  return family_ == CRUMB_FAMILY_DOT && params_.w_bits < 8 &&
         (params_.w_encoding == CRUMB_ENC_SIGNED || params_.w_encoding == CRUMB_ENC_UNSIGNED);
}

Status GemmLayer::AddTapSubset(uint64_t taps, size_t* id, bool widen) {
  if (groups_ != 1 || ks_ > 64 || taps == 0 || (widen && !CanWiden()) ||
      (family_ != CRUMB_FAMILY_SCALAR && family_ != CRUMB_FAMILY_DOT &&
       family_ != CRUMB_FAMILY_LUT && family_ != CRUMB_FAMILY_BITSERIAL)) {
    return Internal("asked for a tap subset its kernel family cannot run.");
  }
  const size_t n = cout_g_;
  const unsigned bits = params_.w_bits;
  const crumb_weights_desc full = {bits, params_.w_encoding, zero_points_.data(), n, 1, ks_, kc_};
  // The codes as ROWS_LSB rows of (tap, channel), from whatever layout the file holds.
  std::vector<uint8_t> rows(crumb_weights_size(&full, CRUMB_LAYOUT_ROWS_LSB));
  if (model_layout_ == CRUMB_LAYOUT_ROWS_LSB) {
    memcpy(rows.data(), model_w_, rows.size());
  } else if (!crumb_repack_weights(&full, model_w_, model_layout_, rows.data(),
                                   CRUMB_LAYOUT_ROWS_LSB)) {
    return Internal("has weights its own layout's unpacker refuses after prepare.");
  }
  const int is_signed =
      params_.w_encoding == CRUMB_ENC_SIGNED || params_.w_encoding == CRUMB_ENC_TERNARY;
  std::vector<int32_t> all(n * ks_ * kc_);
  crumb_unpack_rows_lsb(rows.data(), n, ks_ * kc_, bits, is_signed, all.data());
  TapSubset s;
  s.ks = (size_t)__builtin_popcountll(taps);
  std::vector<int32_t> sub;
  sub.reserve(n * s.ks * kc_);
  for (size_t o = 0; o < n; o++) {
    for (size_t t = 0; t < ks_; t++) {
      if (!(taps >> t & 1)) continue;
      const int32_t* src = all.data() + (o * ks_ + t) * kc_;
      sub.insert(sub.end(), src, src + kc_);
    }
  }
  // Signed / unsigned codes keep their values (and zero points) at any width up to 8.
  const unsigned out_bits = widen ? 8 : bits;
  const crumb_weights_desc part = {out_bits, params_.w_encoding, zero_points_.data(), n, 1, s.ks,
                                   kc_};
  std::vector<uint8_t> sub_rows(crumb_weights_size(&part, CRUMB_LAYOUT_ROWS_LSB));
  crumb_pack_rows_lsb(sub.data(), n, s.ks * kc_, out_bits, sub_rows.data());
  const int layout = crumb_family_layout(family_);
  if (!s.w.Resize(crumb_weights_size(&part, layout))) {
    return Status(CRUMB_ERROR_OUT_OF_MEMORY, "Out of memory packing weights for a spatial mask.");
  }
  if (layout == CRUMB_LAYOUT_ROWS_LSB) {
    memcpy(s.w.data(), sub_rows.data(), sub_rows.size());
  } else if (!crumb_repack_weights(&part, sub_rows.data(), CRUMB_LAYOUT_ROWS_LSB, s.w.data(),
                                   layout)) {
    return Internal("has weights its family's packer refuses for a tap subset.");
  }
  if (!gemm_groups_.empty()) {
    s.gemm = gemm_groups_[0];
    s.gemm.w_bits = out_bits;
    s.gemm.w_row_bytes = crumb_rows_lsb_row_bytes(s.ks * kc_, out_bits);
  }
  subsets_.push_back(std::move(s));
  *id = subsets_.size() - 1;
  return Status::Ok();
}

void GemmLayer::IgemmTaps(size_t id, size_t mr, const void** a, size_t a_offset, const void* zero,
                          void* c, size_t c_stride, int32_t* scratch) const {
  const TapSubset& s = subsets_[id];
  const uint8_t* w = s.w.data();
  if (family_ == CRUMB_FAMILY_LUT) {
    lut_.igemm(mr, cout_g_, kc_, s.ks, a, a_offset, zero, w, c, c_stride, &lut_groups_[0]);
  } else if (family_ == CRUMB_FAMILY_BITSERIAL) {
    bs_.igemm(mr, cout_g_, kc_, s.ks, a, a_offset, zero, w, c, c_stride, &bs_groups_[0]);
  } else {
    igemm_(mr, cout_g_, kc_, s.ks, a, a_offset, zero, w, c, c_stride, &s.gemm, scratch);
  }
}

void GemmLayer::Spmm(size_t pixels, const void* a, size_t group_stride, void* c,
                     size_t c_stride) const {
  spmm_.fn(pixels, 0, cout_g_, a, group_stride, w_, c, c_stride / out_elem_, 4, &sp_params_);
}

void GemmLayer::SpmmC4(size_t pixels, const void* a, size_t group_stride, void* c,
                       size_t out_group_stride) const {
  spmm_.fn(pixels, 0, cout_g_, a, group_stride, w_, c, 4, out_group_stride, &sp_params_);
}

void GemmLayer::Dwconv(size_t width, const void** a, size_t a_offset, const void* zero, void* c,
                       size_t c_stride) const {
  dwconv_.fn(cout_g_ * groups_, width, ks_, a, a_offset, zero, w_, c, c_stride, &dw_params_);
}

size_t GemmLayer::scratch_bytes() const {
  if (family_ == CRUMB_FAMILY_DOT) {
    return crumb_dot_scratch_bytes(ks_, kc_, (unsigned)params_.w_bits);
  }
  if (family_ == CRUMB_FAMILY_LUT || family_ == CRUMB_FAMILY_BITSERIAL ||
      family_ == CRUMB_FAMILY_DWCONV || family_ == CRUMB_FAMILY_SPARSE) {
    return 0;
  }
  return ks_ * kc_ * sizeof(int32_t);
}

void GemmLayer::Gemm(size_t g, size_t mr, const void* a, size_t a_stride, void* c, size_t c_stride,
                     int32_t* scratch) const {
  const uint8_t* w = w_ + g * group_bytes_;
  if (family_ == CRUMB_FAMILY_LUT) {
    lut_.gemm(mr, cout_g_, kc_, a, a_stride, w, c, c_stride, &lut_groups_[g]);
  } else if (family_ == CRUMB_FAMILY_BITSERIAL) {
    bs_.gemm(mr, cout_g_, kc_, a, a_stride, w, c, c_stride, &bs_groups_[g]);
  } else {
    gemm_(mr, cout_g_, kc_, a, a_stride, w, c, c_stride, &gemm_groups_[g], scratch);
  }
}

void GemmLayer::Igemm(size_t g, size_t mr, const void** a, size_t a_offset, const void* zero,
                      void* c, size_t c_stride, int32_t* scratch) const {
  const uint8_t* w = w_ + g * group_bytes_;
  if (family_ == CRUMB_FAMILY_LUT) {
    lut_.igemm(mr, cout_g_, kc_, ks_, a, a_offset, zero, w, c, c_stride, &lut_groups_[g]);
  } else if (family_ == CRUMB_FAMILY_BITSERIAL) {
    bs_.igemm(mr, cout_g_, kc_, ks_, a, a_offset, zero, w, c, c_stride, &bs_groups_[g]);
  } else {
    igemm_(mr, cout_g_, kc_, ks_, a, a_offset, zero, w, c, c_stride, &gemm_groups_[g], scratch);
  }
}

unsigned GemmLayer::InputFormat() const {
  if (family_ == CRUMB_FAMILY_LUT) return 16 * CRUMB_FAMILY_LUT + crumb_lut_storage_bits(lut_bits_);
  if (family_ == CRUMB_FAMILY_BITSERIAL) return 16 * CRUMB_FAMILY_BITSERIAL + a_bits_;
  return 0;
}

size_t GemmLayer::InputRowBytes() const {
  if (family_ == CRUMB_FAMILY_LUT) return crumb_lut_act_row_bytes(kc_, lut_bits_);
  if (family_ == CRUMB_FAMILY_BITSERIAL) return crumb_bitserial_act_row_bytes(kc_, a_bits_);
  return kc_;
}

void GemmLayer::PackInput(const uint8_t* codes, size_t pixels, size_t in_stride, uint8_t* dst,
                          size_t dst_stride) const {
  if (family_ == CRUMB_FAMILY_LUT) {
    crumb_lut_pack_act(codes, pixels, kc_, in_stride, lut_bits_, dst, dst_stride);
  } else if (family_ == CRUMB_FAMILY_BITSERIAL) {
    crumb_bitserial_pack_act(codes, pixels, kc_, in_stride, a_bits_, dst, dst_stride);
  }
}

unsigned GemmLayer::OutputFormat(const TensorDesc& y) const {
  if (y.is_float || y.encoding != kUnsigned) return 0;
  if (family_ == CRUMB_FAMILY_LUT && y.bits <= 4) {
    return 16 * CRUMB_FAMILY_LUT + crumb_lut_storage_bits((unsigned)y.bits);
  }
  if (family_ == CRUMB_FAMILY_BITSERIAL && y.bits <= 2) {
    return 16 * CRUMB_FAMILY_BITSERIAL + (unsigned)y.bits;
  }
  return 0;
}

size_t GemmLayer::OutputRowBytes(const TensorDesc& y, size_t n) const {
  if (family_ == CRUMB_FAMILY_LUT) return crumb_lut_act_row_bytes(n, (unsigned)y.bits);
  return crumb_bitserial_act_row_bytes(n, (unsigned)y.bits);
}

void GemmLayer::UsePackedOutput(const TensorDesc& y, size_t n) {
  for (crumb_lut_params& p : lut_groups_) p.out_bits = crumb_lut_storage_bits((unsigned)y.bits);
  for (crumb_bitserial_params& p : bs_groups_) {
    p.out_bits = (uint32_t)y.bits;
    p.out_plane_bytes = crumb_bitserial_plane_bytes(n);
  }
}

}  // namespace crumb::rt
