#include "masked_conv.h"

#include <string.h>

#include <algorithm>
#include <unordered_map>

namespace crumb::rt {

namespace {

// At most this many extra weight sets per layer, together at most max(kSubsetBudget, 4x the
// layer's weights) bytes: each costs (its taps / all taps) of the layer's weights.
constexpr size_t kMaxSubsets = 64;
constexpr size_t kSubsetBudget = size_t(4) << 20;
// Rows per kernel call: whole 4-row tiles, at most kChunkBytes of them so that they stay in L1
// until they are scattered, and many (each call rebuilds the kernel's tables).
constexpr size_t kChunkBytes = 16384;
size_t ChunkRows(size_t out_stride) {
  return std::min<size_t>(128, std::max<size_t>(8, kChunkBytes / out_stride / 4 * 4));
}

}  // namespace

bool MaskedConv::Supports(const GemmLayer& layer, size_t groups, size_t ks) {
  const int f = layer.family();
  return groups == 1 && ks <= 64 &&
         (f == CRUMB_FAMILY_SCALAR || f == CRUMB_FAMILY_DOT || f == CRUMB_FAMILY_LUT ||
          f == CRUMB_FAMILY_BITSERIAL);
}

size_t MaskedConv::ChunkBytes(size_t max_out_stride) {
  // ChunkRows(s) * s for any stride s up to max_out_stride.
  return std::max(kChunkBytes, 8 * max_out_stride);
}

Status MaskedConv::Setup(const OpContext& ctx, GemmLayer* layer, const uint8_t* rows,
                         size_t row_bytes, const void* zero, size_t out_stride,
                         size_t out_row_bytes, size_t chunk_offset) {
  const OpDesc& d = ctx.desc;
  const Shape& xs = ctx.In(0).shape;
  const Shape& ys = ctx.Out().shape;
  const uint8_t* in_mask = ctx.InDesc(0).spatial_mask;
  const uint8_t* out_mask = ctx.OutDesc().spatial_mask;
  const int64_t h = xs[2], w = xs[3];
  const size_t ks = (size_t)d.kernel_h * (size_t)d.kernel_w;
  const uint64_t full = ks == 64 ? ~uint64_t(0) : (uint64_t(1) << ks) - 1;
  out_stride_ = out_stride;
  chunk_offset_ = chunk_offset;
  zero_ = zero;
  cost_ = (size_t)(ctx.OutDesc().shape[1] * ctx.In(0).shape[1]);
  out_row_bytes_ = out_row_bytes;
  zero_code_ = ctx.OutDesc().is_float ? 0 : (uint8_t)ctx.OutDesc().zero_points[0];
  groups_.clear();
  indirection_.clear();
  masked_pixels_.clear();
  zero_pixels_.clear();
  widened_ = false;

  // Which taps each output pixel needs: in bounds and not masked.
  auto pattern_of = [&](int64_t oy, int64_t ox) {
    uint64_t p = 0;
    size_t t = 0;
    for (int64_t ky = 0; ky < d.kernel_h; ky++) {
      for (int64_t kx = 0; kx < d.kernel_w; kx++, t++) {
        const int64_t iy = oy * d.stride_h - d.pad_top + ky * d.dilation_h;
        const int64_t ix = ox * d.stride_w - d.pad_left + kx * d.dilation_w;
        if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
        if (in_mask && !in_mask[iy * w + ix]) continue;
        p |= uint64_t(1) << t;
      }
    }
    return p;
  };
  std::vector<uint64_t> pattern((size_t)(ys[0] * ys[2] * ys[3]), 0);
  std::unordered_map<uint64_t, size_t> count;
  size_t live = 0;
  for (int64_t n = 0, p = 0; n < ys[0]; n++) {
    for (int64_t oy = 0; oy < ys[2]; oy++) {
      for (int64_t ox = 0; ox < ys[3]; ox++, p++) {
        if (out_mask && !out_mask[oy * ys[3] + ox]) {
          masked_pixels_.push_back((uint32_t)p);
          continue;
        }
        pattern[(size_t)p] = pattern_of(oy, ox);
        if (pattern[(size_t)p] == 0) {
          zero_pixels_.push_back((uint32_t)p);
          continue;
        }
        count[pattern[(size_t)p]]++;
        live++;
      }
    }
  }
  // Extra weight sets, greedily: each round adds the observed pattern that removes the most taps
  // from the pixels it covers (a pixel runs with the smallest chosen set holding its taps), while
  // that is at least 1 % of the layer's work. Random masks spread pixels over many patterns; the
  // sets are few, so those gain less than masks of blocks or rows.
  std::vector<std::pair<uint64_t, size_t>> patterns(count.begin(), count.end());
  std::sort(patterns.begin(), patterns.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (patterns.size() > 1024) patterns.resize(1024);
  std::vector<size_t> cost(patterns.size(), ks);
  std::vector<uint64_t> chosen;
  const double weight_bytes = (double)ctx.OutDesc().shape[1] * (double)ks *
                              (double)ctx.In(0).shape[1] * ctx.InDesc(1).bits / 8.0;
  double budget = std::max((double)kSubsetBudget, 4.0 * weight_bytes);
  // A kernel that skips zero rows needs no weight sets: every pixel runs its own taps.
  own_taps_ = layer->SkipsZeroRows();
  const size_t max_subsets = own_taps_ ? 0 : kMaxSubsets;
  while (chosen.size() < max_subsets) {
    size_t best_gain = 0, best = 0;
    for (size_t c = 0; c < patterns.size(); c++) {
      // A set seen on fewer pixels than a kernel tile (4 rows) costs more in calls than it saves.
      if (patterns[c].second < 4) continue;
      const uint64_t set = patterns[c].first;
      const size_t size = (size_t)__builtin_popcountll(set);
      size_t gain = 0;
      for (size_t p = 0; p < patterns.size(); p++) {
        if ((patterns[p].first & ~set) == 0 && cost[p] > size) {
          gain += patterns[p].second * (cost[p] - size);
        }
      }
      if (gain > best_gain) best_gain = gain, best = c;
    }
    if (best_gain == 0 || best_gain * 1000 < live * ks) break;
    const uint64_t set = patterns[best].first;
    const size_t size = (size_t)__builtin_popcountll(set);
    budget -= weight_bytes * (double)size / (double)ks;
    if (budget < 0) break;
    for (size_t p = 0; p < patterns.size(); p++) {
      if ((patterns[p].first & ~set) == 0) cost[p] = std::min(cost[p], size);
    }
    chosen.push_back(set);
  }
  std::sort(chosen.begin(), chosen.end(), [](uint64_t a, uint64_t b) {
    const int pa = __builtin_popcountll(a), pb = __builtin_popcountll(b);
    return pa != pb ? pa < pb : a < b;
  });
  // Each live pixel goes to the smallest chosen set holding all its taps, else to every tap.
  groups_.resize(chosen.size() + 1);
  for (size_t k = 0; k < chosen.size(); k++) groups_[k].taps = chosen[k];
  groups_.back().taps = full;
  for (size_t p = 0; p < pattern.size(); p++) {
    if (pattern[p] == 0) continue;
    size_t g = chosen.size();
    for (size_t k = 0; k < chosen.size(); k++) {
      if ((pattern[p] & ~chosen[k]) == 0) {
        g = k;
        break;
      }
    }
    groups_[g].pixels.push_back((uint32_t)p);
  }
  if (own_taps_) {
    // The kernel skips a tap for a half tile (2 rows) only when both rows read zeros there:
    // pixels sorted by their taps make neighbours in a tile share them (on a 30 % random mask
    // 73 % of the tile taps run for 68 % of the pixel taps, against 98 % in raster order).
    std::vector<uint32_t>& px = groups_.back().pixels;
    std::stable_sort(px.begin(), px.end(),
                     [&](uint32_t a, uint32_t b) { return pattern[a] < pattern[b]; });
  }
  // A group's last partial tile is padded to 4 rows (below); those padding rows can run the
  // leftover pixels of a group with fewer taps instead (its taps a subset), which saves that
  // group's last tile. Smallest sets first, each into the smallest superset with room.
  for (size_t k = 0; k + 1 < groups_.size(); k++) {
    std::vector<uint32_t>& from = groups_[k].pixels;
    const size_t r = from.size() % 4;
    if (r == 0) continue;
    for (size_t j = k + 1; j < groups_.size(); j++) {
      std::vector<uint32_t>& to = groups_[j].pixels;
      const size_t room = to.size() < 4 ? 0 : (4 - to.size() % 4) % 4;
      if (room < r || (groups_[k].taps & ~groups_[j].taps) != 0) continue;
      to.insert(to.end(), from.end() - (ptrdiff_t)r, from.end());
      from.resize(from.size() - r);
      break;
    }
  }
  // Weights for the sets in use; indirection per group: its taps in order, known zeros (taps of
  // the set this pixel does not need) pointing at the padding row.
  std::vector<Group> used;
  size_t work = 0;
  for (size_t k = 0; k < groups_.size(); k++) {
    Group& g = groups_[k];
    if (g.pixels.empty()) continue;
    g.ks = (size_t)__builtin_popcountll(g.taps);
    if (k < chosen.size()) {
      size_t id = 0;
      CRUMB_RETURN_IF_ERROR(layer->AddTapSubset(g.taps, &id));
      g.subset = (int)id;
    } else if (own_taps_ && layer->CanWiden() &&
               weight_bytes * 8.0 / ctx.InDesc(1).bits <= budget) {
      // Sub-byte weights cost the kernel a decode per weight vector, shared by the rows that run
      // the tap: a half tile's tap pays it for 2 rows instead of 4. Stored at 8 bits there is no
      // decode (64 -> 64 channels at 56 x 56, 3x3: W4 weights unmasked 0.63 ms, at 8 bits
      // 0.56 ms, 30 % random mask 0.40 ms).
      size_t id = 0;
      CRUMB_RETURN_IF_ERROR(layer->AddTapSubset(g.taps, &id, /*widen=*/true));
      g.subset = (int)id;
      widened_ = true;
    }
    g.first_pointer = indirection_.size();
    // Whole 4-row kernel tiles: a group's last rows would otherwise run one at a time (the
    // kernels' slow remainder path); the padding rows repeat the last pixel and are not stored.
    g.rows = g.pixels.size() < 4 ? g.pixels.size() : (g.pixels.size() + 3) / 4 * 4;
    if (own_taps_) {
      // What the kernel runs: each half tile (2 rows) runs a tap that one of its pixels needs.
      for (size_t r = 0; r < g.pixels.size(); r += 2) {
        const uint64_t taps =
            pattern[g.pixels[r]] | (r + 1 < g.pixels.size() ? pattern[g.pixels[r + 1]] : 0);
        work += std::min<size_t>(2, g.pixels.size() - r) * (size_t)__builtin_popcountll(taps);
      }
    } else {
      work += g.pixels.size() * g.ks;
    }
    const int64_t per_image = ys[2] * ys[3];
    for (uint32_t p : g.pixels) {
      const int64_t n = p / per_image, oy = p % per_image / ys[3], ox = p % ys[3];
      size_t t = 0;
      for (int64_t ky = 0; ky < d.kernel_h; ky++) {
        for (int64_t kx = 0; kx < d.kernel_w; kx++, t++) {
          if (!(g.taps >> t & 1)) continue;
          const int64_t iy = oy * d.stride_h - d.pad_top + ky * d.dilation_h;
          const int64_t ix = ox * d.stride_w - d.pad_left + kx * d.dilation_w;
          const bool known_zero = !(pattern[p] >> t & 1);
          indirection_.push_back(
              known_zero
                  ? zero
                  : static_cast<const void*>(rows + ((n * h + iy) * w + ix) * (int64_t)row_bytes));
        }
      }
    }
    for (size_t r = g.pixels.size(); r < g.rows; r++) {
      for (size_t t = 0; t < g.ks; t++)
        indirection_.push_back(indirection_[indirection_.size() - g.ks]);
    }
    used.push_back(std::move(g));
  }
  groups_ = std::move(used);
  work_fraction_ = pattern.empty() ? 1.0 : (double)work / ((double)pattern.size() * (double)ks);

  // Pixels whose every tap reads a zero all get one row: the layer's output for a zero input.
  const_row_.clear();
  if (!zero_pixels_.empty()) {
    const_row_.assign(out_stride_, 0);
    std::vector<const void*> zeros(ks, zero);
    std::vector<int32_t> scratch(layer->scratch_bytes() / sizeof(int32_t) + 1);
    layer->Igemm(0, 1, zeros.data(), 0, zero, const_row_.data(), out_stride_, scratch.data());
  }
  return Status::Ok();
}

void MaskedConv::Run(const OpContext& ctx, const GemmLayer& layer, uint8_t* y,
                     uint8_t* scratch) const {
  for (const Group& g : groups_) {
    ctx.Ranges(g.rows, 8, cost_ * g.ks, [&](size_t b, size_t e, size_t t) {
      uint8_t* slot = scratch + t * ctx.scratch_stride;
      int32_t* s = reinterpret_cast<int32_t*>(slot);
      uint8_t* c = slot + chunk_offset_;
      const size_t chunk = ChunkRows(out_stride_);
      for (size_t r = b; r < e; r += chunk) {
        const size_t mr = std::min(chunk, e - r);
        const void** a = const_cast<const void**>(indirection_.data()) + g.first_pointer + r * g.ks;
        if (g.subset < 0) {
          layer.Igemm(0, mr, a, 0, zero_, c, out_stride_, s);
        } else {
          layer.IgemmTaps((size_t)g.subset, mr, a, 0, zero_, c, out_stride_, s);
        }
        const size_t live = std::min(r + mr, g.pixels.size());
        if (out_row_bytes_ % 64 == 0) {
          for (size_t j = r; j < live; j++) {
            uint8_t* dst = y + (size_t)g.pixels[j] * out_stride_;
            const uint8_t* src = c + (j - r) * out_stride_;
            for (size_t i = 0; i < out_row_bytes_; i += 64) memcpy(dst + i, src + i, 64);
          }
        } else if (out_row_bytes_ % 16 == 0) {
          // Whole 16-byte pieces: inlined copies rather than a library call per pixel.
          for (size_t j = r; j < live; j++) {
            uint8_t* dst = y + (size_t)g.pixels[j] * out_stride_;
            const uint8_t* src = c + (j - r) * out_stride_;
            for (size_t i = 0; i < out_row_bytes_; i += 16) memcpy(dst + i, src + i, 16);
          }
        } else {
          for (size_t j = r; j < live; j++) {
            memcpy(y + (size_t)g.pixels[j] * out_stride_, c + (j - r) * out_stride_,
                   out_row_bytes_);
          }
        }
      }
    });
  }
  for (uint32_t p : masked_pixels_) memset(y + (size_t)p * out_stride_, zero_code_, out_row_bytes_);
  for (uint32_t p : zero_pixels_) {
    memcpy(y + (size_t)p * out_stride_, const_row_.data(), out_row_bytes_);
  }
}

std::string MaskedConv::Summary() const {
  size_t live = 0;
  for (const Group& g : groups_) live += g.pixels.size();
  if (own_taps_) {
    return StrFormat("%zu output pixels masked, %zu reading only zeros, %zu on their own taps%s",
                     masked_pixels_.size(), zero_pixels_.size(), live,
                     widened_ ? ", weights at 8 bits" : "");
  }
  return StrFormat("%zu output pixels masked, %zu reading only zeros, %zu in %zu tap sets",
                   masked_pixels_.size(), zero_pixels_.size(), live, groups_.size());
}

size_t MaskedConv::persistent_bytes() const {
  return indirection_.size() * sizeof(void*) + const_row_.size() +
         (masked_pixels_.size() + zero_pixels_.size()) * sizeof(uint32_t);
}

}  // namespace crumb::rt
