// Weights go into the file in the layout of the kernel family ChooseKernelFamily picked, so the
// runtime maps them and runs them in place: DOT_N16K4 for `dot`, LUT_W2_N64 for `lut`,
// BITSERIAL_N64 for `bitserial`, DWCONV_C64 for `dwconv`, ROWS_LSB otherwise. Every layout is
// written by its one packer (kernels/<family>/pack.cc, through kernels/common/repack.h), from the
// ROWS_LSB rows, so the converter and the runtime's prepare-time packing give the same bytes.
#include <cstring>
#include <string>
#include <vector>

#include "converter/passes/passes.h"
#include "kernels/common/family.h"
#include "kernels/common/pack.h"
#include "kernels/common/repack.h"

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
    const int layout = crumb_family_layout(int(family));
    if (layout == CRUMB_LAYOUT_ROWS_LSB) continue;
    const COp& op = m->ops[ops[0]];
    if (t.shape.size() < 2 || t.shape[1] <= 0 || rows % s.groups != 0) {
      diag->Add("Internal converter error: the weight tensor '" + t.name + "' of op '" + op.name +
                "' has a shape that does not split into " + std::to_string(s.groups) +
                " groups of output channel rows; please report this bug.");
      continue;
    }
    std::vector<int32_t> zw(rows, 0);
    for (size_t o = 0; o < rows && !t.zero_point.empty(); o++)
      zw[o] = int32_t(t.zero_point.size() == rows ? t.zero_point[o] : t.zero_point[0]);
    const size_t kc = size_t(t.shape[1]);
    const crumb_weights_desc wd = {
        unsigned(t.bits), unsigned(t.encoding), zw.data(), rows, s.groups, k / kc, kc};
    std::vector<uint8_t> packed(
        crumb_repack_size(&wd, t.bytes.data(), CRUMB_LAYOUT_ROWS_LSB, layout));
    if (packed.empty() ||
        !crumb_repack_weights(&wd, t.bytes.data(), CRUMB_LAYOUT_ROWS_LSB, packed.data(), layout)) {
      diag->Add("Internal converter error: the weight tensor '" + t.name + "' of op '" + op.name +
                "' was given the " + crumb_kernel_family_name(int(family)) +
                " kernel family, but its packer refuses the codes; please report this bug.");
      continue;
    }
    t.layout = Layout(layout);
    t.bytes = std::move(packed);
  }
}

}  // namespace cv
}  // namespace crumb
