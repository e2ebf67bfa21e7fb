// Static per-op checks at load: the signature of schema/README.md's table, options in range, and
// the shapes that do not depend on the batch. Shape inference at allocate re-checks the rest.
#include <cmath>
#include <cstring>

#include "kernels/common/family.h"
#include "kernels/dot/dot.h"
#include "kernels/dwconv/dwconv.h"
#include "kernels/lut/lut.h"
#include "kernels/sparse/sparse.h"
#include "model.h"

namespace crumb::rt {

namespace {

class Checker {
 public:
  Checker(const Model& m, size_t i) : m_(m), op_(m.ops[i]) {
    label_ = StrFormat("Op %zu (%s '%s')", i, OpCodeName(op_.opcode), op_.name.c_str());
  }

  Status Fail(const std::string& what) const { return InvalidModel(label_ + " " + what); }

  Status Counts(size_t nin_min, size_t nin_max, size_t nout) const {
    if (op_.inputs.size() < nin_min || op_.inputs.size() > nin_max) {
      if (nin_min == nin_max) {
        return Fail(StrFormat("has %zu inputs; it takes %zu.", op_.inputs.size(), nin_min));
      }
      return Fail(StrFormat("has %zu inputs; it takes at least %zu.", op_.inputs.size(), nin_min));
    }
    if (op_.outputs.size() != nout) {
      return Fail(StrFormat("has %zu outputs; it has %zu.", op_.outputs.size(), nout));
    }
    return Status::Ok();
  }

  const TensorDesc& In(size_t k) const { return m_.tensors[op_.inputs[k]]; }
  const TensorDesc& Out() const { return m_.tensors[op_.outputs[0]]; }

  // An activation input: non-constant, of the given type, rank (or -1 = any rank).
  Status Activation(size_t k, bool want_float, int rank) const {
    const TensorDesc& t = In(k);
    const std::string what = StrFormat("input %zu, %s,", k, m_.TensorLabel(op_.inputs[k]).c_str());
    if (t.is_constant()) {
      return Unsupported(label_ + " " + what +
                         " is a constant; this runtime takes only computed "
                         "values there.");
    }
    if (t.is_float != want_float) {
      return Fail(what + (want_float ? " must be FLOAT32." : " must be QUANT."));
    }
    if (rank >= 0 && (int)t.shape.size() != rank) {
      return Fail(
          StrFormat("%s has rank %zu; it must have rank %d.", what.c_str(), t.shape.size(), rank));
    }
    return Status::Ok();
  }

  Status Output(bool allow_quant, bool allow_float, int rank) const {
    const TensorDesc& t = Out();
    const std::string what = StrFormat("output %s", m_.TensorLabel(op_.outputs[0]).c_str());
    if (t.is_float ? !allow_float : !allow_quant) {
      return Fail(what + (t.is_float ? " must be QUANT, not FLOAT32." : " must be FLOAT32."));
    }
    if (rank >= 0 && (int)t.shape.size() != rank) {
      return Fail(
          StrFormat("%s has rank %zu; it must have rank %d.", what.c_str(), t.shape.size(), rank));
    }
    return Status::Ok();
  }

  // Weights: constant QUANT ROWS_LSB (or packed for a family) of the given rank, per-axis 0 or
  // per-tensor; mul / add: constant FLOAT32 [rows].
  Status Weights(int rank) const {
    const TensorDesc& w = In(1);
    const std::string what = StrFormat("weights %s", m_.TensorLabel(op_.inputs[1]).c_str());
    if (!w.is_constant() || w.is_float ||
        (w.layout != kLayoutRowsLsb && !IsFamilyLayout(w.layout))) {
      return Fail(what +
                  " must be constant QUANT data with layout ROWS_LSB, DOT_N16K4 or "
                  "LUT_W2_N64.");
    }
    if ((int)w.shape.size() != rank) {
      return Fail(StrFormat("%s have rank %zu; they must have rank %d.", what.c_str(),
                            w.shape.size(), rank));
    }
    if (w.axis != -1 && w.axis != 0) {
      return Fail(what + " must be quantized per tensor or per output channel (axis 0).");
    }
    for (size_t k = 2; k < 4; k++) {
      const TensorDesc& t = In(k);
      const char* role = k == 2 ? "multiplier" : "bias";
      if (!t.is_constant() || !t.is_float || t.shape.size() != 1 || t.shape[0] != w.shape[0]) {
        return Fail(
            StrFormat("%s %s must be a constant FLOAT32 vector of %lld values (one per "
                      "output channel).",
                      role, m_.TensorLabel(op_.inputs[k]).c_str(), (long long)w.shape[0]));
      }
    }
    return Status::Ok();
  }

  // RESIZE: x QUANT [N, C, H, W] -> y QUANT [N, C, OH, OW]; options in range, scales finite > 0.
  Status Resize() const {
    CRUMB_RETURN_IF_ERROR(Counts(1, 1, 1));
    CRUMB_RETURN_IF_ERROR(Activation(0, false, 4));
    CRUMB_RETURN_IF_ERROR(Output(true, false, 4));
    if (op_.resize_mode != kResizeNearest && op_.resize_mode != kResizeLinear) {
      return Fail(
          StrFormat("has unknown mode %d (NEAREST 0 and LINEAR 1 exist).", op_.resize_mode));
    }
    if (op_.resize_coordinates < kResizeHalfPixel ||
        op_.resize_coordinates > kResizePytorchHalfPixel) {
      return Fail(StrFormat("has unknown coordinate transformation %d (0 to 3 exist).",
                            op_.resize_coordinates));
    }
    if (op_.resize_nearest < kResizeRoundPreferFloor || op_.resize_nearest > kResizeCeil) {
      return Fail(StrFormat("has unknown nearest rounding %d (0 to 3 exist).", op_.resize_nearest));
    }
    // Tiny scales make (x + 0.5) / scale overflow to infinity; huge ones are no resize anyone
    // means. Both refused rather than computed.
    const float lo = 1.f / 65536.f, hi = 65536.f;
    if (!(op_.scale_h >= lo && op_.scale_h <= hi && op_.scale_w >= lo && op_.scale_w <= hi)) {
      return Fail(StrFormat("has scales %g x %g; each must be a finite number in [2^-16, 2^16].",
                            (double)op_.scale_h, (double)op_.scale_w));
    }
    const TensorDesc& x = In(0);
    const TensorDesc& y = Out();
    if (y.shape[0] != x.shape[0] || y.shape[1] != x.shape[1]) {
      return Fail(
          StrFormat("resizes batch and channels (%lld x %lld to %lld x %lld); it resizes "
                    "only height and width.",
                    (long long)x.shape[0], (long long)x.shape[1], (long long)y.shape[0],
                    (long long)y.shape[1]));
    }
    if (y.shape[2] < 1 || y.shape[3] < 1 || y.shape[2] > (1 << 24) || y.shape[3] > (1 << 24)) {
      return Fail(
          StrFormat("has an output of %lld x %lld pixels; height and width must be in "
                    "[1, 2^24].",
                    (long long)y.shape[2], (long long)y.shape[3]));
    }
    if (x.encoding == kBipolar || y.encoding == kBipolar) {
      return Fail(
          "reads or writes a BIPOLAR tensor; it resizes SIGNED, UNSIGNED and TERNARY "
          "codes.");
    }
    return Status::Ok();
  }

  // SLICE: x QUANT of any rank -> y QUANT of the same rank; output element i is input element
  // starts[d] + i_d * steps[d] on every logical axis d, each index inside the input. A dynamic
  // batch (-1 in x or y) follows the input's and needs start 0, step 1 there.
  Status Slice() const {
    CRUMB_RETURN_IF_ERROR(Counts(1, 1, 1));
    CRUMB_RETURN_IF_ERROR(Activation(0, false, -1));
    const TensorDesc& x = In(0);
    const size_t rank = x.shape.size();
    CRUMB_RETURN_IF_ERROR(Output(true, false, (int)rank));
    const TensorDesc& y = Out();
    if (op_.slice_starts.size() != rank || op_.slice_steps.size() != rank) {
      return Fail(
          StrFormat("has %zu starts and %zu steps; it needs one of each per axis of its "
                    "rank-%zu input.",
                    op_.slice_starts.size(), op_.slice_steps.size(), rank));
    }
    for (size_t d = 0; d < rank; d++) {
      const int64_t start = op_.slice_starts[d], step = op_.slice_steps[d];
      if (step == 0) return Fail(StrFormat("has step 0 on axis %zu; steps must be non-zero.", d));
      if (x.shape[d] == -1 || y.shape[d] == -1) {
        // Only axis 0 can be dynamic (the loader allows -1 nowhere else).
        if (start != 0 || step != 1) {
          return Fail(StrFormat(
              "has start %lld and step %lld on its dynamic batch axis %zu; the output follows "
              "the input's batch there, which needs start 0 and step 1.",
              (long long)start, (long long)step, d));
        }
        continue;
      }
      const int64_t dim = x.shape[d], n = y.shape[d];
      if (start < 0 || start >= dim) {
        return Fail(StrFormat("has start %lld on axis %zu, outside the input's [0, %lld).",
                              (long long)start, d, (long long)dim));
      }
      // The last index read, start + (n - 1) * step, without overflow.
      int64_t span = 0, last = 0;
      if (__builtin_mul_overflow(n - 1, step, &span) ||
          __builtin_add_overflow(start, span, &last) || last < 0 || last >= dim) {
        return Fail(StrFormat(
            "reads %lld elements from start %lld with step %lld on axis %zu; the last one "
            "falls outside the input's [0, %lld).",
            (long long)n, (long long)start, (long long)step, d, (long long)dim));
      }
    }
    return Status::Ok();
  }

  // A QUANT activation or output quantized per tensor, not BIPOLAR (SOFTMAX / LAYER_NORM read
  // q - z and write E(y)).
  Status PerTensorCodes(const TensorDesc& t, const std::string& what) const {
    if (t.axis != -1 || t.scales.size() != 1) {
      return Fail(what + " must be quantized per tensor (axis -1).");
    }
    if (t.encoding == kBipolar) {
      return Fail(what + " is BIPOLAR; this op takes SIGNED, UNSIGNED and TERNARY codes.");
    }
    return Status::Ok();
  }

  // A constant FLOAT32 vector of exactly n finite values.
  Status FloatVector(size_t k, const char* role, int64_t n) const {
    const TensorDesc& t = In(k);
    const std::string what = StrFormat("%s %s", role, m_.TensorLabel(op_.inputs[k]).c_str());
    if (!t.is_constant() || !t.is_float || t.shape != std::vector<int64_t>{n} || !t.data ||
        t.data_size < (uint64_t)n * sizeof(float)) {
      return Fail(StrFormat("%s must be a constant FLOAT32 vector of shape [%lld].", what.c_str(),
                            (long long)n));
    }
    for (int64_t i = 0; i < n; i++) {
      float v;
      memcpy(&v, t.data + i * sizeof(float), sizeof v);
      if (!__builtin_isfinite(v)) {
        return Fail(StrFormat("%s holds %g at index %lld; every value must be finite.",
                              what.c_str(), (double)v, (long long)i));
      }
    }
    return Status::Ok();
  }

  // SOFTMAX: x QUANT (per tensor) of any rank, exp_table constant FLOAT32 [256] -> y QUANT (per
  // tensor) of the same rank, along logical axis `axis`.
  Status Softmax() const {
    if (op_.version == 2) {  // float in, float out (a softmax on float logits)
      CRUMB_RETURN_IF_ERROR(Counts(1, 1, 1));
      CRUMB_RETURN_IF_ERROR(Activation(0, true, -1));
      const int rank = (int)In(0).shape.size();
      CRUMB_RETURN_IF_ERROR(Output(false, true, rank));
      if (op_.axis < 0 || op_.axis >= rank) {
        return Fail(StrFormat("has axis %d outside its input's rank %d.", op_.axis, rank));
      }
      return Status::Ok();
    }
    CRUMB_RETURN_IF_ERROR(Counts(2, 2, 1));
    CRUMB_RETURN_IF_ERROR(Activation(0, false, -1));
    const TensorDesc& x = In(0);
    const int rank = (int)x.shape.size();
    CRUMB_RETURN_IF_ERROR(Output(true, false, rank));
    CRUMB_RETURN_IF_ERROR(
        PerTensorCodes(x, StrFormat("input 0, %s,", m_.TensorLabel(op_.inputs[0]).c_str())));
    CRUMB_RETURN_IF_ERROR(
        PerTensorCodes(Out(), StrFormat("output %s", m_.TensorLabel(op_.outputs[0]).c_str())));
    if (op_.axis < 0 || op_.axis >= rank) {
      return Fail(StrFormat("has axis %d outside its input's rank %d.", op_.axis, rank));
    }
    return FloatVector(1, "exp table", 256);
  }

  // LAYER_NORM: x QUANT [..., C] (per tensor), scale constant FLOAT32 [C], bias constant FLOAT32
  // [C] or absent (the loader drops an absent one) -> y QUANT (per tensor) of the same rank;
  // epsilon finite and >= 0.
  Status LayerNorm() const {
    CRUMB_RETURN_IF_ERROR(Counts(2, 3, 1));
    CRUMB_RETURN_IF_ERROR(Activation(0, false, -1));
    const TensorDesc& x = In(0);
    CRUMB_RETURN_IF_ERROR(Output(true, false, (int)x.shape.size()));
    CRUMB_RETURN_IF_ERROR(
        PerTensorCodes(x, StrFormat("input 0, %s,", m_.TensorLabel(op_.inputs[0]).c_str())));
    CRUMB_RETURN_IF_ERROR(
        PerTensorCodes(Out(), StrFormat("output %s", m_.TensorLabel(op_.outputs[0]).c_str())));
    // Sums S2 * C and S1 * S1 stay within int64 for C <= 2^22 (|d| <= 255).
    const int64_t c = x.shape.empty() ? -1 : x.shape.back();
    if (c < 1 || c > (int64_t(1) << 22)) {
      return Fail(
          StrFormat("normalizes a last axis of %lld values; it must be static, in "
                    "[1, 2^22].",
                    (long long)c));
    }
    if (!(op_.epsilon >= 0.f) || !__builtin_isfinite(op_.epsilon)) {
      return Fail(StrFormat("has epsilon %g; it must be finite and >= 0.", (double)op_.epsilon));
    }
    CRUMB_RETURN_IF_ERROR(FloatVector(1, "scale", c));
    if (op_.inputs.size() == 3) return FloatVector(2, "bias", c);
    return Status::Ok();
  }

  // BATCH_MATMUL: a QUANT [..., M, K] x b QUANT [..., K, N] -> y [..., M, N], QUANT or FLOAT32;
  // b has a's rank and its leading dimensions, or rank 2 (one matrix for every batch).
  Status BatchMatMul() const {
    CRUMB_RETURN_IF_ERROR(Counts(2, 2, 1));
    CRUMB_RETURN_IF_ERROR(Activation(0, false, -1));
    CRUMB_RETURN_IF_ERROR(Activation(1, false, -1));
    const TensorDesc& a = In(0);
    const TensorDesc& b = In(1);
    const size_t ra = a.shape.size(), rb = b.shape.size();
    if (ra < 2) {
      return Fail(
          StrFormat("has a rank-%zu first input; it multiplies matrices of rank 2 or more.", ra));
    }
    if (rb != 2 && rb != ra) {
      return Fail(
          StrFormat("has inputs of ranks %zu and %zu; the second must have the first's rank or "
                    "rank 2.",
                    ra, rb));
    }
    CRUMB_RETURN_IF_ERROR(Output(true, true, (int)ra));
    const TensorDesc& y = Out();
    if (a.encoding == kBipolar || b.encoding == kBipolar ||
        (!y.is_float && y.encoding == kBipolar)) {
      return Fail(
          "reads or writes a BIPOLAR tensor; it multiplies SIGNED, UNSIGNED and TERNARY codes.");
    }
    const int64_t k = a.shape[ra - 1];
    if (b.shape[rb - 2] != k) {
      return Fail(StrFormat(
          "multiplies rows of %lld values by columns of %lld; the first input's last dimension "
          "must equal the second's next to last.",
          (long long)k, (long long)b.shape[rb - 2]));
    }
    if (rb == ra) {
      for (size_t d = 0; d + 2 < ra; d++) {
        if (a.shape[d] != b.shape[d]) {
          return Fail(StrFormat(
              "has inputs of shapes %s and %s; their leading dimensions must be equal (or the "
              "second of rank 2).",
              ShapeText(a.shape).c_str(), ShapeText(b.shape).c_str()));
        }
      }
    }
    std::vector<int64_t> want(a.shape.begin(), a.shape.end() - 1);
    want.push_back(b.shape[rb - 1]);
    if (y.shape != want) {
      return Fail(StrFormat("has output shape %s; multiplying %s by %s gives %s.",
                            ShapeText(y.shape).c_str(), ShapeText(a.shape).c_str(),
                            ShapeText(b.shape).c_str(), ShapeText(want).c_str()));
    }
    if (!(op_.multiplier > 0.f) || !std::isfinite(op_.multiplier)) {
      return Fail(
          StrFormat("has multiplier %g; it must be finite and > 0.", (double)op_.multiplier));
    }
    return Status::Ok();
  }

  // MUL: a, b QUANT (per tensor), b of a's shape or [N, C, 1, 1] for a 4-D a -> y QUANT (per
  // tensor) of a's shape.
  Status Mul() const {
    CRUMB_RETURN_IF_ERROR(Counts(2, 2, 1));
    CRUMB_RETURN_IF_ERROR(Activation(0, false, -1));
    CRUMB_RETURN_IF_ERROR(Activation(1, false, -1));
    CRUMB_RETURN_IF_ERROR(Output(true, false, -1));
    for (size_t k = 0; k < 2; k++) {
      CRUMB_RETURN_IF_ERROR(PerTensorCodes(
          In(k), StrFormat("input %zu, %s,", k, m_.TensorLabel(op_.inputs[k]).c_str())));
    }
    CRUMB_RETURN_IF_ERROR(
        PerTensorCodes(Out(), StrFormat("output %s", m_.TensorLabel(op_.outputs[0]).c_str())));
    const TensorDesc& a = In(0);
    const TensorDesc& b = In(1);
    const bool gate = a.shape.size() == 4 && b.shape.size() == 4 && b.shape[0] == a.shape[0] &&
                      b.shape[1] == a.shape[1] && b.shape[2] == 1 && b.shape[3] == 1;
    if (b.shape != a.shape && !gate) {
      return Fail(StrFormat(
          "multiplies %s by %s; the second input must have the first's shape or, for a 4-D first "
          "input [N, C, H, W], the shape [N, C, 1, 1].",
          ShapeText(a.shape).c_str(), ShapeText(b.shape).c_str()));
    }
    if (Out().shape != a.shape) {
      return Fail(StrFormat("has output shape %s; it must be the first input's, %s.",
                            ShapeText(Out().shape).c_str(), ShapeText(a.shape).c_str()));
    }
    if (!(op_.multiplier > 0.f) || !std::isfinite(op_.multiplier)) {
      return Fail(
          StrFormat("has multiplier %g; it must be finite and > 0.", (double)op_.multiplier));
    }
    return Status::Ok();
  }

  // TRANSPOSE: x QUANT of any rank -> y QUANT, y's logical axis d being x's axis perm[d].
  Status Transpose() const {
    CRUMB_RETURN_IF_ERROR(Counts(1, 1, 1));
    CRUMB_RETURN_IF_ERROR(Activation(0, false, -1));
    const TensorDesc& x = In(0);
    const size_t rank = x.shape.size();
    CRUMB_RETURN_IF_ERROR(Output(true, false, (int)rank));
    const TensorDesc& y = Out();
    if (op_.perm.size() != rank) {
      return Fail(StrFormat("has a perm of %zu axes; it needs one per axis of its rank-%zu input.",
                            op_.perm.size(), rank));
    }
    std::vector<bool> seen(rank, false);
    for (size_t d = 0; d < rank; d++) {
      const int32_t p = op_.perm[d];
      if (p < 0 || (size_t)p >= rank || seen[(size_t)p]) {
        return Fail(StrFormat(
            "has perm %s, which is not a permutation of the axes 0 to %zu.",
            ShapeText(std::vector<int64_t>(op_.perm.begin(), op_.perm.end())).c_str(), rank - 1));
      }
      seen[(size_t)p] = true;
    }
    for (size_t d = 0; d < rank; d++) {
      if (y.shape[d] != x.shape[(size_t)op_.perm[d]]) {
        return Fail(StrFormat(
            "has output shape %s; its input %s transposed by its perm has dimension %lld on axis "
            "%zu, not %lld.",
            ShapeText(y.shape).c_str(), ShapeText(x.shape).c_str(),
            (long long)x.shape[(size_t)op_.perm[d]], d, (long long)y.shape[d]));
      }
    }
    return Status::Ok();
  }

  static std::string ShapeText(const std::vector<int64_t>& s) {
    std::string out = "[";
    for (size_t i = 0; i < s.size(); i++) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
  }

  // REQUANTIZE version 2: y = table[x's stored byte], the table a constant 8-bit UNSIGNED
  // ROWS_LSB [1, 256] whose every entry is a code of the output (as a byte: two's complement for
  // SIGNED outputs).
  Status TableRequantize() const {
    CRUMB_RETURN_IF_ERROR(Counts(2, 2, 1));
    CRUMB_RETURN_IF_ERROR(Activation(0, false, -1));
    CRUMB_RETURN_IF_ERROR(Output(true, false, (int)In(0).shape.size()));
    const TensorDesc& t = In(1);
    const std::string what = StrFormat("table %s", m_.TensorLabel(op_.inputs[1]).c_str());
    if (!t.is_constant() || t.is_float || t.bits != 8 || t.encoding != kUnsigned ||
        t.layout != kLayoutRowsLsb || t.shape != std::vector<int64_t>{1, 256} || !t.data ||
        t.data_size < 256) {
      return Fail(what + " must be a constant 8-bit UNSIGNED ROWS_LSB tensor of shape [1, 256].");
    }
    const TensorDesc& y = Out();
    if (y.encoding != kSigned && y.encoding != kUnsigned) {
      return Fail(StrFormat("output %s must be SIGNED or UNSIGNED for a table.",
                            m_.TensorLabel(op_.outputs[0]).c_str()));
    }
    for (int b = 0; b < 256; b++) {
      const int32_t c = y.encoding == kSigned ? (int32_t)(int8_t)t.data[b] : (int32_t)t.data[b];
      if (c < y.qmin || c > y.qmax) {
        return Fail(StrFormat("%s entry %d is code %d, outside the output's range [%d, %d].",
                              what.c_str(), b, c, y.qmin, y.qmax));
      }
    }
    return Status::Ok();
  }

  // Weights packed for a family: exactly the packer's size for the op's groups, and a layer the
  // family's kernels can run (the activation widths the lut tables exist for).
  Status PackedWeights(size_t groups) const {
    const TensorDesc& w = In(1);
    if (!IsFamilyLayout(w.layout)) return Status::Ok();
    const std::string what = StrFormat("weights %s", m_.TensorLabel(op_.inputs[1]).c_str());
    const uint64_t n = (uint64_t)w.shape[0] / groups, kc = (uint64_t)w.shape[1];
    const uint64_t ks = w.shape.size() == 4 ? (uint64_t)(w.shape[2] * w.shape[3]) : 1;
    if (n * ks * kc > (uint64_t(1) << 40)) return Fail(what + " are too large to pack.");
    // Every packed layout stores at least one bit per output channel: refuse before sizing
    // per-channel arrays from a hostile shape.
    if ((uint64_t)w.shape[0] > w.data_size * 8 + 64) {
      return Fail(StrFormat("%s declare %lld output channels but hold only %llu bytes.",
                            what.c_str(), (long long)w.shape[0], (unsigned long long)w.data_size));
    }
    uint64_t expected = 0;
    const TensorDesc& x = In(0);
    std::vector<int32_t> zw((size_t)w.shape[0], w.zero_points[0]);
    if (w.zero_points.size() == zw.size()) zw = w.zero_points;
    const bool direct =
        w.shape.size() == 2 ||
        (op_.kernel_h == 1 && op_.kernel_w == 1 && op_.stride_h == 1 && op_.stride_w == 1 &&
         op_.pad_top == 0 && op_.pad_left == 0 && op_.pad_bottom == 0 && op_.pad_right == 0);
    const crumb_gemm_layer l = {(unsigned)w.bits,
                                (unsigned)w.encoding,
                                zw.data(),
                                zw.size(),
                                groups,
                                (unsigned)x.bits,
                                (unsigned)x.encoding,
                                (size_t)kc,
                                (size_t)ks,
                                direct ? 1 : 0,
                                0.0f,
                                0};
    if (w.layout == kLayoutSparseB4) {
      if (!crumb_sparse_layer_ok(&l)) {
        return Fail(StrFormat(
            "has SPARSE_B4 weights but is not a layer the sparse kernels can run (a 1x1 "
            "convolution with stride 1, no padding and one group, or a FullyConnected, with "
            "values weight - zero point within int8; here %zu groups, %llu taps, %d-bit %s "
            "weights).",
            groups, (unsigned long long)ks, w.bits, EncodingName(w.encoding)));
      }
      const crumb_sparse_header* h = reinterpret_cast<const crumb_sparse_header*>(w.data);
      if (w.data_size < sizeof(crumb_sparse_header) || h->n != (uint64_t)w.shape[0] || h->k != kc ||
          h->blocks > (uint64_t)h->n * ((kc + 3) / 4)) {
        return Fail(
            StrFormat("%s have a SPARSE_B4 header that does not match a %lld x %llu "
                      "weight (or more blocks than it has).",
                      what.c_str(), (long long)w.shape[0], (unsigned long long)kc));
      }
      if ((uint64_t)h->n * kc > (uint64_t(1) << 28)) {
        return Fail(
            StrFormat("%s are a %lld x %llu SPARSE_B4 weight; at most 2^28 values are "
                      "supported in that layout.",
                      what.c_str(), (long long)w.shape[0], (unsigned long long)kc));
      }
      expected = crumb_sparse_packed_size(h->n, h->blocks);
      if (w.data_size == expected) {
        std::vector<int32_t> v((size_t)h->n * kc);
        if (crumb_sparse_unpack(w.data, (size_t)expected, v.data()) != 0) {
          return Fail(what +
                      " are SPARSE_B4 weights whose block starts, groups or value sums "
                      "are inconsistent.");
        }
      }
    } else if (w.layout == kLayoutDwconvC64) {
      if (!crumb_dwconv_layer_ok(&l)) {
        return Fail(StrFormat(
            "has DWCONV_C64 weights but is not a depthwise convolution the dwconv kernels can run "
            "(one input and one output channel per group, values weight - zero point within "
            "int8; here %zu groups, %lld output and %llu input channels per group, %d-bit %s "
            "weights).",
            groups, (long long)n, (unsigned long long)kc, w.bits, EncodingName(w.encoding)));
      }
      expected = crumb_dwconv_packed_size((size_t)w.shape[0], ks);
    } else if (w.layout == kLayoutDotN16K4) {
      expected = groups * (uint64_t)crumb_dot_packed_size(n, ks, kc, (unsigned)w.bits);
    } else if (w.layout == kLayoutBitserialN64) {
      if (!crumb_bitserial_layer_ok(&l)) {
        return Fail(StrFormat(
            "has BITSERIAL_N64 weights but the bitserial kernels cannot run it: they take 1-2-bit "
            "weights times unsigned 1-2-bit activations (here %d-bit %s weights, %d-bit %s "
            "activations).",
            w.bits, EncodingName(w.encoding), x.bits, EncodingName(x.encoding)));
      }
      expected = groups * (uint64_t)crumb_bitserial_packed_size(n, ks, kc, (unsigned)w.bits);
    } else {
      if (crumb_lut_layer_a_bits(&l) == 0) {
        return Fail(StrFormat(
            "has LUT_W2_N64 weights but the lut kernels cannot run it: they take 1-2-bit weights "
            "of at most three non-zero values in [-2, 2] times unsigned activations of up to 4 "
            "bits (here %d-bit %s weights, %d-bit %s activations).",
            w.bits, EncodingName(w.encoding), x.bits, EncodingName(x.encoding)));
      }
      expected = groups * (uint64_t)crumb_lut_packed_size(n, ks, kc);
    }
    if (w.data_size != expected) {
      return Fail(
          StrFormat("%s hold %llu bytes but %s weights of shape %lld x %llu x %llu in %zu "
                    "groups need exactly %llu bytes.",
                    what.c_str(), (unsigned long long)w.data_size, LayoutName(w.layout),
                    (long long)w.shape[0], (unsigned long long)ks, (unsigned long long)kc, groups,
                    (unsigned long long)expected));
    }
    if (w.layout == kLayoutBitserialN64) return BitserialShifts(w, what, groups, n, ks, kc);
    return Status::Ok();
  }

  // The kernels shift by each block's stored `shift` (0, or 1 for bipolar weights; bitserial.h):
  // any other value would be an undefined shift, so the file's value is checked once here.
  Status BitserialShifts(const TensorDesc& w, const std::string& what, size_t groups, uint64_t n,
                         uint64_t ks, uint64_t kc) const {
    const size_t block = crumb_bitserial_block_bytes(ks, kc, (unsigned)w.bits);
    const size_t blocks = groups * crumb_bitserial_blocks((size_t)n);
    for (size_t b = 0; b < blocks; b++) {
      uint32_t shift;
      memcpy(&shift, w.data + b * block + CRUMB_BITSERIAL_SHIFT_OFFSET, sizeof shift);
      if (shift > 1) {
        return Fail(
            StrFormat("%s are BITSERIAL_N64 weights whose block %zu has shift %u; the "
                      "layout allows 0 or 1.",
                      what.c_str(), b, shift));
      }
    }
    return Status::Ok();
  }

  Status Window() const {
    if (op_.kernel_h < 1 || op_.kernel_w < 1 || op_.stride_h < 1 || op_.stride_w < 1 ||
        op_.dilation_h < 1 || op_.dilation_w < 1 || op_.pad_top < 0 || op_.pad_left < 0 ||
        op_.pad_bottom < 0 || op_.pad_right < 0) {
      return Fail(
          StrFormat("has invalid window options (kernel %dx%d, stride %dx%d, dilation "
                    "%dx%d, pads %d,%d,%d,%d): kernel, stride and dilation must be >= 1 "
                    "and pads >= 0.",
                    op_.kernel_h, op_.kernel_w, op_.stride_h, op_.stride_w, op_.dilation_h,
                    op_.dilation_w, op_.pad_top, op_.pad_left, op_.pad_bottom, op_.pad_right));
    }
    constexpr int32_t kMax = 1 << 16;
    if (op_.kernel_h > kMax || op_.kernel_w > kMax || op_.stride_h > kMax || op_.stride_w > kMax ||
        op_.dilation_h > kMax || op_.dilation_w > kMax || op_.pad_top > kMax ||
        op_.pad_left > kMax || op_.pad_bottom > kMax || op_.pad_right > kMax) {
      return Fail(
          StrFormat("has window options above %d (kernel %dx%d, stride %dx%d, dilation "
                    "%dx%d, pads %d,%d,%d,%d).",
                    kMax, op_.kernel_h, op_.kernel_w, op_.stride_h, op_.stride_w, op_.dilation_h,
                    op_.dilation_w, op_.pad_top, op_.pad_left, op_.pad_bottom, op_.pad_right));
    }
    if (op_.opcode != kOpConv2D) {
      // As ONNX Runtime requires: no window entirely in the padding; a bounded window.
      const int64_t eh = (int64_t)op_.dilation_h * (op_.kernel_h - 1) + 1;
      const int64_t ew = (int64_t)op_.dilation_w * (op_.kernel_w - 1) + 1;
      if (op_.pad_top >= eh || op_.pad_bottom >= eh || op_.pad_left >= ew || op_.pad_right >= ew) {
        return Fail(
            StrFormat("has pads %d,%d,%d,%d that are not smaller than its %lldx%lld "
                      "window.",
                      op_.pad_top, op_.pad_left, op_.pad_bottom, op_.pad_right, (long long)eh,
                      (long long)ew));
      }
      if ((int64_t)op_.kernel_h * op_.kernel_w > kMax) {
        return Fail(StrFormat("has a %dx%d window; at most %d taps are supported.", op_.kernel_h,
                              op_.kernel_w, kMax));
      }
    }
    return Status::Ok();
  }

  // CONV_2D / FULLY_CONNECTED version 2 (float layers): x FLOAT32, w a constant FLOAT32 [Cout,
  // Cin/groups, KH, KW] / [N, K], bias a constant FLOAT32 [Cout] or absent, y FLOAT32. The loader
  // already checked that w's buffer holds exactly its elements, so every size below is bounded
  // by the file.
  Status FloatLayer(int rank) const {
    const bool conv = rank == 4;
    CRUMB_RETURN_IF_ERROR(Counts(2, 3, 1));
    CRUMB_RETURN_IF_ERROR(Activation(0, true, conv ? 4 : -1));
    CRUMB_RETURN_IF_ERROR(Output(false, true, conv ? 4 : -1));
    const TensorDesc& w = In(1);
    const std::string what = StrFormat("weights %s", m_.TensorLabel(op_.inputs[1]).c_str());
    if (!w.is_constant() || !w.is_float || (int)w.shape.size() != rank) {
      return Fail(StrFormat("(a float layer) needs %s to be constant FLOAT32 data of rank %d.",
                            what.c_str(), rank));
    }
    for (int64_t d : w.shape) {
      if (d < 1) return Fail(what + " have an empty dimension.");
    }
    if (op_.inputs.size() == 3) {
      const TensorDesc& b = In(2);
      if (!b.is_constant() || !b.is_float || b.shape.size() != 1 || b.shape[0] != w.shape[0]) {
        return Fail(StrFormat("bias %s must be a constant FLOAT32 vector of %lld values.",
                              m_.TensorLabel(op_.inputs[2]).c_str(), (long long)w.shape[0]));
      }
    }
    if (op_.family != CRUMB_FAMILY_AUTO && op_.family != CRUMB_FAMILY_XNNPACK &&
        op_.family != CRUMB_FAMILY_SCALAR) {
      return Fail(
          StrFormat("is a float layer recorded for kernel family %s; float layers run on "
                    "XNNPACK or the scalar loop (or AUTO).",
                    KernelFamilyName(op_.family)));
    }
    if (!conv) return FcShapes();
    CRUMB_RETURN_IF_ERROR(Window());
    return ConvShapes();
  }

  // Shapes of a CONV_2D (either version): the kernel, groups and channels its weights imply.
  Status ConvShapes() const {
    const TensorDesc& w = In(1);
    if (op_.kernel_h != w.shape[2] || op_.kernel_w != w.shape[3]) {
      return Fail(StrFormat("has kernel %dx%d but its weights are %lldx%lld.", op_.kernel_h,
                            op_.kernel_w, (long long)w.shape[2], (long long)w.shape[3]));
    }
    if (op_.groups < 1 || w.shape[0] % op_.groups != 0) {
      return Fail(StrFormat("has %d groups, which do not divide its %lld output channels.",
                            op_.groups, (long long)w.shape[0]));
    }
    const int64_t cin = In(0).shape[1];
    if (cin != w.shape[1] * op_.groups) {
      return Fail(StrFormat("reads %lld input channels but its weights take %lld x %d groups.",
                            (long long)cin, (long long)w.shape[1], op_.groups));
    }
    if (Out().shape[1] != w.shape[0]) {
      return Fail(StrFormat("writes %lld channels but has %lld filters.", (long long)Out().shape[1],
                            (long long)w.shape[0]));
    }
    return Status::Ok();
  }

  // Shapes of a FULLY_CONNECTED (either version): rows of K values in, rows of N values out.
  Status FcShapes() const {
    const TensorDesc& x = In(0);
    const TensorDesc& w = In(1);
    if (x.shape.empty() || x.shape.back() != w.shape[1]) {
      return Fail(StrFormat("reads rows of %lld values but its weights take %lld.",
                            x.shape.empty() ? 0ll : (long long)x.shape.back(),
                            (long long)w.shape[1]));
    }
    if (Out().shape.size() != x.shape.size() || Out().shape.back() != w.shape[0]) {
      return Fail("has an output shape that is not the input's rows by the weights' outputs.");
    }
    return Status::Ok();
  }

  Status Check() const {
    switch (op_.opcode) {
      case kOpQuantize:
        CRUMB_RETURN_IF_ERROR(Counts(1, 1, 1));
        CRUMB_RETURN_IF_ERROR(Activation(0, true, -1));
        return Output(true, false, (int)In(0).shape.size());
      case kOpDequantize:
        CRUMB_RETURN_IF_ERROR(Counts(1, 1, 1));
        CRUMB_RETURN_IF_ERROR(Activation(0, false, -1));
        return Output(false, true, (int)In(0).shape.size());
      case kOpConv2D: {
        if (op_.version == 2) return FloatLayer(4);
        CRUMB_RETURN_IF_ERROR(Counts(4, 4, 1));
        CRUMB_RETURN_IF_ERROR(Activation(0, false, 4));
        CRUMB_RETURN_IF_ERROR(Weights(4));
        CRUMB_RETURN_IF_ERROR(Output(true, true, 4));
        CRUMB_RETURN_IF_ERROR(Window());
        CRUMB_RETURN_IF_ERROR(ConvShapes());
        return PackedWeights((size_t)op_.groups);
      }
      case kOpFullyConnected: {
        if (op_.version == 2) return FloatLayer(2);
        CRUMB_RETURN_IF_ERROR(Counts(4, 4, 1));
        CRUMB_RETURN_IF_ERROR(Activation(0, false, -1));
        CRUMB_RETURN_IF_ERROR(Weights(2));
        CRUMB_RETURN_IF_ERROR(Output(true, true, -1));
        CRUMB_RETURN_IF_ERROR(FcShapes());
        return PackedWeights(1);
      }
      case kOpAdd:
        CRUMB_RETURN_IF_ERROR(Counts(2, 2, 1));
        CRUMB_RETURN_IF_ERROR(Activation(0, false, -1));
        CRUMB_RETURN_IF_ERROR(Activation(1, false, (int)In(0).shape.size()));
        return Output(true, false, (int)In(0).shape.size());
      case kOpMaxPool2D:
      case kOpAveragePool2D:
        CRUMB_RETURN_IF_ERROR(Counts(1, 1, 1));
        CRUMB_RETURN_IF_ERROR(Activation(0, false, 4));
        CRUMB_RETURN_IF_ERROR(Output(true, false, 4));
        return Window();
      case kOpGlobalAveragePool:
        CRUMB_RETURN_IF_ERROR(Counts(1, 1, 1));
        CRUMB_RETURN_IF_ERROR(Activation(0, false, 4));
        return Output(true, false, 4);
      case kOpRequantize:
        if (op_.version == 2) return TableRequantize();
        CRUMB_RETURN_IF_ERROR(Counts(1, 1, 1));
        CRUMB_RETURN_IF_ERROR(Activation(0, false, -1));
        return Output(true, false, (int)In(0).shape.size());
      case kOpReshape:
        CRUMB_RETURN_IF_ERROR(Counts(1, 1, 1));
        CRUMB_RETURN_IF_ERROR(Activation(0, false, -1));
        return Output(true, false, op_.opcode == kOpReshape ? -1 : (int)In(0).shape.size());
      case kOpConcat: {
        CRUMB_RETURN_IF_ERROR(Counts(1, (size_t)-1, 1));
        const int rank = (int)In(0).shape.size();
        for (size_t k = 0; k < op_.inputs.size(); k++) {
          CRUMB_RETURN_IF_ERROR(Activation(k, false, rank));
        }
        CRUMB_RETURN_IF_ERROR(Output(true, false, rank));
        if (op_.axis < 0 || op_.axis >= rank) {
          return Fail(StrFormat("has axis %d outside the inputs' rank %d.", op_.axis, rank));
        }
        return Status::Ok();
      }
      case kOpResize:
        return Resize();
      case kOpSlice:
        return Slice();
      case kOpBatchMatMul:
        return BatchMatMul();
      case kOpTranspose:
        return Transpose();
      case kOpMul:
        return Mul();
      case kOpSoftmax:
        return Softmax();
      case kOpLayerNorm:
        return LayerNorm();
      default:
        return Unsupported(label_ + " is not supported.");
    }
  }

 private:
  const Model& m_;
  const OpDesc& op_;
  std::string label_;
};

}  // namespace

Status CheckOpSignature(const Model& m, size_t op_index) { return Checker(m, op_index).Check(); }

}  // namespace crumb::rt
