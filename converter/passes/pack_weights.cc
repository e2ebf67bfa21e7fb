#include <cstring>

#include "converter/passes/passes.h"
#include "kernels/common/pack.h"

namespace crumb {
namespace cv {

void PackWeights(CModel* m, Diagnostics* diag) {
  for (auto& t : m->tensors) {
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
  }
}

}  // namespace cv
}  // namespace crumb
