// The kernel family of each Conv / FullyConnected op, so that PackWeights can pack its weights
// offline in that family's layout and the runtime runs them in place. The rule is
// kernels/common/family.h's, the one the runtime applies to files whose weights are still
// ROWS_LSB: keeping a single rule means a converted file and a repacked one run the same kernels.
// It looks only at the layer, never at an ISA, so the file runs in place on every CPU.
#include <cstdint>
#include <vector>

#include <algorithm>

#include "converter/passes/passes.h"
#include "kernels/common/family_table.h"

namespace crumb {
namespace cv {
namespace {

int PreferOf(KernelFamily family) {
  switch (family) {
    case KernelFamily::kScalar:
      return CRUMB_FAMILY_SCALAR;
    case KernelFamily::kLut:
      return CRUMB_FAMILY_LUT;
    case KernelFamily::kDot:
      return CRUMB_FAMILY_DOT;
    case KernelFamily::kBitserial:
      return CRUMB_FAMILY_BITSERIAL;
    case KernelFamily::kDwconv:
      return CRUMB_FAMILY_DWCONV;
    case KernelFamily::kSparse:
      return CRUMB_FAMILY_SPARSE;
    default:
      return CRUMB_FAMILY_AUTO;
  }
}

KernelFamily FamilyOf(int family) {
  switch (family) {
    case CRUMB_FAMILY_SCALAR:
      return KernelFamily::kScalar;
    case CRUMB_FAMILY_LUT:
      return KernelFamily::kLut;
    case CRUMB_FAMILY_DOT:
      return KernelFamily::kDot;
    case CRUMB_FAMILY_BITSERIAL:
      return KernelFamily::kBitserial;
    case CRUMB_FAMILY_DWCONV:
      return KernelFamily::kDwconv;
    case CRUMB_FAMILY_SPARSE:
      return KernelFamily::kSparse;
    default:
      return KernelFamily::kAuto;
  }
}

bool IsQuantizedGemm(const CModel& m, const COp& op) {
  if (op.opcode != OpCode::kConv2D && op.opcode != OpCode::kFullyConnected) return false;
  if (op.inputs.size() < 2 || op.inputs[0] < 0 || op.inputs[1] < 0) return false;
  const CTensor& x = m.tensors[size_t(op.inputs[0])];
  const CTensor& w = m.tensors[size_t(op.inputs[1])];
  return x.type == ElemType::kQuant && w.type == ElemType::kQuant && !w.shape.empty() &&
         w.shape[0] > 0;
}

// Output rows: every dimension of the output but the channels (NCHW: N * H * W; FC: all but the
// last), a dynamic batch counted as 1.
size_t Rows(const CModel& m, const COp& op) {
  const CTensor& y = m.tensors[size_t(op.outputs[0])];
  int64_t rows = 1;
  for (size_t d = 0; d < y.shape.size(); d++) {
    if (d == 1 && op.opcode == OpCode::kConv2D) continue;
    if (d + 1 == y.shape.size() && op.opcode != OpCode::kConv2D) continue;
    rows *= y.shape[d] > 0 ? y.shape[d] : 1;
  }
  return size_t(rows);
}

// The table's shape class: a window larger than 1x1, else one output row (GEMV) or many.
unsigned ShapeClass(const CModel& m, const COp& op) {
  if (op.opcode == OpCode::kConv2D && int64_t(op.kernel_h) * op.kernel_w > 1) {
    return CRUMB_SHAPE_SPATIAL;
  }
  return Rows(m, op) == 1 ? CRUMB_SHAPE_GEMV : CRUMB_SHAPE_POINTWISE;
}

// 1x1, stride 1, no padding (or FullyConnected): the sparse family reads rows as they are.
bool Direct(const COp& op) {
  return op.opcode == OpCode::kFullyConnected ||
         (op.kernel_h == 1 && op.kernel_w == 1 && op.stride_h == 1 && op.stride_w == 1 &&
          op.pad_top == 0 && op.pad_left == 0 && op.pad_bottom == 0 && op.pad_right == 0);
}

// Fraction of all-zero 1x4 blocks along the input channels of a one-tap weight (row o: the K
// codes of output channel o in ONNX order, which for 1x1 / FC is the channel order).
float BlockSparsity(const CTensor& w, const std::vector<int32_t>& zw, size_t k) {
  const size_t n = zw.size(), groups = (k + 3) / 4;
  if (n == 0 || groups == 0 || w.codes.size() != n * k || w.encoding == Encoding::kBipolar) {
    return 0.0f;  // bipolar weights have no zero
  }
  size_t zero = 0;
  for (size_t o = 0; o < n; o++) {
    for (size_t g = 0; g < groups; g++) {
      bool all = true;
      for (size_t j = 4 * g; j < std::min(k, 4 * g + 4) && all; j++)
        all = w.codes[o * k + j] == zw[o];
      zero += all;
    }
  }
  return float(double(zero) / double(n * groups));
}

}  // namespace

void ChooseKernelFamily(CModel* m, KernelFamily default_family, unsigned target,
                        SparseMode default_sparse, std::vector<LayerOverride>* layers) {
  for (auto& op : m->ops) {
    KernelFamily family = default_family;
    SparseMode sparse = default_sparse;
    if (op.version == 2 && (op.opcode == OpCode::kConv2D || op.opcode == OpCode::kFullyConnected))
      continue;  // a float layer: XNNPACK's fp32 operators, set by the lowering
    if (!IsQuantizedGemm(*m, op)) {
      // Only Conv / FC have more than one family; a forced scalar still reads as such in the file.
      op.family = family == KernelFamily::kScalar ? KernelFamily::kScalar : KernelFamily::kAuto;
      continue;
    }
    // --config: the last entry matching the layer wins for each key it sets.
    for (size_t k = 0; layers && k < layers->size(); k++) {
      LayerOverride& o = (*layers)[k];
      if (!LayerMatches(o, op.name)) continue;
      o.matched++;
      if (o.has_family) family = o.family;
      if (o.has_sparse) sparse = o.sparse;
    }
    if (family == KernelFamily::kSparse) {  // per layer: the sparse kernels where they can run
      family = KernelFamily::kAuto;
      sparse = SparseMode::kOn;
    }
    const int prefer = PreferOf(family);
    const CTensor& x = m->tensors[size_t(op.inputs[0])];
    const CTensor& w = m->tensors[size_t(op.inputs[1])];
    const size_t n = size_t(w.shape[0]);
    std::vector<int32_t> zw(n, 0);
    for (size_t o = 0; o < n && !w.zero_point.empty(); o++)
      zw[o] = int32_t(w.zero_point.size() == n ? w.zero_point[o] : w.zero_point[0]);
    crumb_gemm_layer l = {};
    l.w_bits = unsigned(w.bits);
    l.w_encoding = unsigned(w.encoding);  // Encoding values are crumb_weight_encoding's
    l.w_zero_points = zw.data();
    l.n = n;
    l.groups = op.opcode == OpCode::kConv2D && op.groups > 1 ? size_t(op.groups) : 1;
    l.a_bits = unsigned(x.bits);
    l.a_encoding = unsigned(x.encoding);
    l.kc = w.shape.size() > 1 && w.shape[1] > 0 ? size_t(w.shape[1]) : 0;
    l.ks = op.opcode == OpCode::kConv2D ? size_t(op.kernel_h) * size_t(op.kernel_w) : 1;
    l.direct = Direct(op) ? 1 : 0;
    l.rows = Rows(*m, op);
    if (sparse != SparseMode::kOff && l.ks == 1 && l.groups == 1) {
      l.block_sparsity = BlockSparsity(w, zw, l.kc);
    }
    if (sparse == SparseMode::kOn && crumb_sparse_layer_ok(&l) && family == KernelFamily::kAuto) {
      op.family = KernelFamily::kSparse;
      op.family_source = FamilySource::kForced;
      continue;
    }
    if (family == KernelFamily::kAuto) {
      op.family = FamilyOf(crumb_family_table_choose(&l, target, ShapeClass(*m, op), nullptr));
    } else {
      op.family = FamilyOf(crumb_choose_gemm_family(&l, prefer));
    }
    // A family the user asked for is honoured by every runtime; the rule's choice is a default a
    // runtime may replace with its own CPU's measured table row.
    if (family != KernelFamily::kAuto && op.family == family)
      op.family_source = FamilySource::kForced;
  }
}

}  // namespace cv
}  // namespace crumb
