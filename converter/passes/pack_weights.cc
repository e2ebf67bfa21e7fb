// Weights go into the file in the layout of the kernel family ChooseKernelFamily picked, so the
// runtime maps them and runs them in place: DOT_N16K4 for `dot`, LUT_W2_N64 for `lut`,
// BITSERIAL_N64 for `bitserial`, ROWS_LSB otherwise. Every layout is written by its one packer
// (kernels/<family>/pack.cc), from the ROWS_LSB rows, so the converter and the runtime's
// prepare-time packing give the same bytes.
#include <cstring>
#include <string>
#include <vector>

#include "converter/passes/passes.h"
#include "kernels/bitserial/bitserial.h"
#include "kernels/common/pack.h"
#include "kernels/common/requant.h"
#include "kernels/dot/dot.h"
#include "kernels/lut/lut.h"

namespace crumb {
namespace cv {
namespace {

bool IsGemm(const COp& op) {
  return op.opcode == OpCode::kConv2D || op.opcode == OpCode::kFullyConnected;
}

size_t GroupsOf(const COp& op) {
  return op.opcode == OpCode::kConv2D && op.groups > 1 ? size_t(op.groups) : 1;
}

// A group of a Conv / FC weight: `rows` output channels, each ks taps of kc input channels.
struct GroupShape {
  size_t groups = 1, rows = 0, ks = 1, kc = 0;
};

void PackDot(const CTensor& t, const std::vector<uint8_t>& rows_lsb, const GroupShape& s,
             std::vector<uint8_t>* out) {
  const unsigned bits = unsigned(t.bits);
  const size_t row_bytes = crumb_rows_lsb_row_bytes(s.ks * s.kc, bits);
  const size_t group_bytes = crumb_dot_packed_size(s.rows, s.ks, s.kc, bits);
  out->assign(s.groups * group_bytes, 0);
  for (size_t g = 0; g < s.groups; g++)
    crumb_dot_pack_rows_lsb(rows_lsb.data() + g * s.rows * row_bytes, row_bytes, s.rows, s.ks, s.kc,
                            bits, uint32_t(t.encoding), out->data() + g * group_bytes);
}

bool PackLut(const CTensor& t, const std::vector<uint8_t>& rows_lsb, const GroupShape& s,
             std::vector<uint8_t>* out) {
  const unsigned bits = unsigned(t.bits);
  const size_t n = s.groups * s.rows, k = s.ks * s.kc;
  std::vector<int32_t> zw(n, 0);
  for (size_t o = 0; o < n && !t.zero_point.empty(); o++)
    zw[o] = int32_t(t.zero_point.size() == n ? t.zero_point[o] : t.zero_point[0]);
  // One map for the whole tensor, not per group: the runtime builds one table per layer from it.
  int8_t vmap[4];
  if (!crumb_lut_value_map(bits, unsigned(t.encoding), zw.data(), n, vmap)) return false;
  const size_t row_bytes = crumb_rows_lsb_row_bytes(k, bits);
  std::vector<int32_t> values(n * k);
  for (size_t o = 0; o < n; o++)
    crumb_decode_weight_row(rows_lsb.data() + o * row_bytes, k, bits, uint32_t(t.encoding), zw[o],
                            values.data() + o * k);
  const size_t group_bytes = crumb_lut_packed_size(s.rows, s.ks, s.kc);
  out->assign(s.groups * group_bytes, 0);
  for (size_t g = 0; g < s.groups; g++)
    if (!crumb_lut_pack_values(values.data() + g * s.rows * k, vmap, s.rows, s.ks, s.kc,
                               out->data() + g * group_bytes))
      return false;
  return true;
}

bool PackBitserial(const CTensor& t, const std::vector<uint8_t>& rows_lsb, const GroupShape& s,
                   std::vector<uint8_t>* out) {
  const unsigned bits = unsigned(t.bits);
  const size_t n = s.groups * s.rows;
  std::vector<int32_t> zw(n, 0);
  for (size_t o = 0; o < n && !t.zero_point.empty(); o++)
    zw[o] = int32_t(t.zero_point.size() == n ? t.zero_point[o] : t.zero_point[0]);
  const size_t row_bytes = crumb_rows_lsb_row_bytes(s.ks * s.kc, bits);
  const size_t group_bytes = crumb_bitserial_packed_size(s.rows, s.ks, s.kc, bits);
  out->assign(s.groups * group_bytes, 0);
  for (size_t g = 0; g < s.groups; g++)
    if (!crumb_bitserial_pack(rows_lsb.data() + g * s.rows * row_bytes, bits, unsigned(t.encoding),
                              zw.data() + g * s.rows, s.rows, s.ks, s.kc,
                              out->data() + g * group_bytes))
      return false;
  return true;
}

}  // namespace

void PackWeights(CModel* m, Diagnostics* diag) {
  // The Conv / FC ops reading each tensor as their weight: a packed layout depends on the op's
  // family and groups, and a tensor has one layout.
  std::vector<std::vector<size_t>> readers(m->tensors.size());
  for (size_t i = 0; i < m->ops.size(); i++) {
    const COp& op = m->ops[i];
    if (IsGemm(op) && op.inputs.size() > 1 && op.inputs[1] >= 0 &&
        size_t(op.inputs[1]) < m->tensors.size())
      readers[size_t(op.inputs[1])].push_back(i);
  }
  for (size_t ti = 0; ti < m->tensors.size(); ti++) {
    CTensor& t = m->tensors[ti];
    if (!t.is_const) continue;
    if (t.type == ElemType::kFloat32) {
      t.bytes.resize(t.fdata.size() * sizeof(float));
      if (!t.fdata.empty()) std::memcpy(t.bytes.data(), t.fdata.data(), t.bytes.size());
      t.layout = Layout::kDense;
      continue;
    }
    // ROWS_LSB: output channel major, each row of K codes in (kh, kw, ci) order.
    const size_t rows = size_t(t.shape[0]);
    size_t k = 1;
    for (size_t d = 1; d < t.shape.size(); d++) k *= size_t(t.shape[d]);
    std::vector<int32_t> v(rows * k);
    if (v.size() != t.codes.size()) {
      diag->Add("tensor '" + t.name + "': code count does not match its shape");
      continue;
    }
    bool in_range = true;
    for (int64_t c : t.codes)
      if (c < t.qmin || c > t.qmax) in_range = false;
    if (!in_range) {
      diag->Add("tensor '" + t.name + "': codes outside [" + std::to_string(t.qmin) + ", " +
                std::to_string(t.qmax) + "]");
      continue;
    }
    if (t.shape.size() == 4) {
      const size_t ci = size_t(t.shape[1]), kh = size_t(t.shape[2]), kw = size_t(t.shape[3]);
      for (size_t o = 0; o < rows; o++)
        for (size_t c = 0; c < ci; c++)
          for (size_t y = 0; y < kh; y++)
            for (size_t x = 0; x < kw; x++)
              v[o * k + (y * kw + x) * ci + c] = int32_t(t.codes[((o * ci + c) * kh + y) * kw + x]);
    } else {
      for (size_t e = 0; e < v.size(); e++) v[e] = int32_t(t.codes[e]);
    }
    t.bytes.resize(crumb_rows_lsb_size(rows, k, unsigned(t.bits)));
    crumb_pack_rows_lsb(v.data(), rows, k, unsigned(t.bits), t.bytes.data());
    t.layout = Layout::kRowsLsb;

    const std::vector<size_t>& ops = readers[ti];
    if (ops.empty()) continue;
    const KernelFamily family = m->ops[ops[0]].family;
    GroupShape s;
    s.groups = GroupsOf(m->ops[ops[0]]);
    bool agree = true;
    for (size_t i : ops)
      if (m->ops[i].family != family || GroupsOf(m->ops[i]) != s.groups) agree = false;
    if (!agree) {
      // One tensor, one layout: ROWS_LSB, and the runtime chooses and packs per op at prepare.
      for (size_t i : ops) m->ops[i].family = KernelFamily::kAuto;
      continue;
    }
    if (family != KernelFamily::kDot && family != KernelFamily::kLut &&
        family != KernelFamily::kBitserial)
      continue;
    const COp& op = m->ops[ops[0]];
    if (t.shape.size() < 2 || t.shape[1] <= 0 || rows % s.groups != 0) {
      diag->Add("Internal converter error: the weight tensor '" + t.name + "' of op '" + op.name +
                "' has a shape that does not split into " + std::to_string(s.groups) +
                " groups of output channel rows; please report this bug.");
      continue;
    }
    s.rows = rows / s.groups;
    s.kc = size_t(t.shape[1]);
    s.ks = k / s.kc;
    std::vector<uint8_t> packed;
    if (family == KernelFamily::kDot) {
      PackDot(t, t.bytes, s, &packed);
      t.layout = Layout::kDotN16K4;
    } else if (family == KernelFamily::kBitserial) {
      if (!PackBitserial(t, t.bytes, s, &packed)) {
        diag->Add("Internal converter error: the weight tensor '" + t.name + "' of op '" + op.name +
                  "' was given the bitserial kernel family, but its packer refuses the codes; "
                  "please report this bug.");
        continue;
      }
      t.layout = Layout::kBitserialN64;
    } else {
      if (!PackLut(t, t.bytes, s, &packed)) {
        diag->Add("Internal converter error: the weight tensor '" + t.name + "' of op '" + op.name +
                  "' was given the lut kernel family, but its values do not fit one lut value "
                  "map; please report this bug.");
        continue;
      }
      t.layout = Layout::kLutW2N64;
    }
    t.bytes = std::move(packed);
  }
}

}  // namespace cv
}  // namespace crumb
