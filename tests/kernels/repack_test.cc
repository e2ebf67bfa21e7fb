// crumb_repack_weights (kernels/common/repack.h): for every weight kind and every layout its
// family can hold, ROWS_LSB -> X gives exactly the family's own packer's bytes (per group; lut with
// the whole tensor's value map), X -> ROWS_LSB gives back the original rows, X -> Y -> ROWS_LSB
// too for every pair; nothing is written past crumb_weights_size(); corrupted lut / bitserial
// checksums are refused.
#include <gtest/gtest.h>

#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/bitserial/bitserial.h"
#include "kernels/common/family.h"
#include "kernels/common/pack.h"
#include "kernels/common/repack.h"
#include "kernels/dot/dot.h"
#include "kernels/lut/lut.h"

namespace {

constexpr size_t kGuard = 64;
constexpr uint8_t kFill = 0xA5;

struct Kind {
  const char* name;
  unsigned bits;
  unsigned encoding;
  int zp;  // 0: zero points 0; 1: all 1; -1: random per channel in the code range
};

const Kind kKinds[] = {
    {"w1_bipolar", 1, CRUMB_ENC_BIPOLAR, 0},         {"w1_signed", 1, CRUMB_ENC_SIGNED, 0},
    {"w1_unsigned_zp", 1, CRUMB_ENC_UNSIGNED, -1},   {"w2_signed", 2, CRUMB_ENC_SIGNED, 0},
    {"w2_ternary", 2, CRUMB_ENC_TERNARY, 0},         {"w2_unsigned_zp1", 2, CRUMB_ENC_UNSIGNED, 1},
    {"w2_unsigned_pczp", 2, CRUMB_ENC_UNSIGNED, -1}, {"w4_signed", 4, CRUMB_ENC_SIGNED, 0},
    {"w8_signed", 8, CRUMB_ENC_SIGNED, 0},
};

const int kLayouts[] = {CRUMB_LAYOUT_ROWS_LSB, CRUMB_LAYOUT_DOT_N16K4, CRUMB_LAYOUT_LUT_W2_N64,
                        CRUMB_LAYOUT_BITSERIAL_N64};

const char* LayoutName(int layout) {
  switch (layout) {
    case CRUMB_LAYOUT_ROWS_LSB:
      return "rows_lsb";
    case CRUMB_LAYOUT_DOT_N16K4:
      return "dot";
    case CRUMB_LAYOUT_LUT_W2_N64:
      return "lut";
    case CRUMB_LAYOUT_BITSERIAL_N64:
      return "bitserial";
    default:
      return "?";
  }
}

// ROWS_LSB code range of an encoding (bipolar: codes 0 / 1).
void CodeRange(unsigned bits, unsigned encoding, int32_t* lo, int32_t* hi) {
  if (encoding == CRUMB_ENC_TERNARY) {
    *lo = -1, *hi = 1;
  } else if (encoding == CRUMB_ENC_SIGNED) {
    *lo = -(1 << (bits - 1)), *hi = (1 << (bits - 1)) - 1;
  } else {
    *lo = 0, *hi = (1 << bits) - 1;
  }
}

// One weight tensor: codes, its ROWS_LSB bytes and its description.
struct Weights {
  crumb_weights_desc desc;
  std::vector<int32_t> codes;  // [n][ks * kc]
  std::vector<int32_t> zp;     // [n]
  std::vector<uint8_t> rows;   // ROWS_LSB
  std::string what;
};

Weights Make(const Kind& kind, size_t n, size_t groups, size_t ks, size_t kc, std::mt19937& rng) {
  Weights w;
  int32_t lo, hi;
  CodeRange(kind.bits, kind.encoding, &lo, &hi);
  const size_t k = ks * kc;
  w.codes.resize(n * k);
  std::uniform_int_distribution<int32_t> d(lo, hi);
  for (auto& c : w.codes) c = d(rng);
  // The extremes somewhere.
  w.codes[0] = lo;
  w.codes.back() = hi;
  w.zp.assign(n, 0);
  if (kind.zp == 1) w.zp.assign(n, 1);
  if (kind.zp < 0) {
    for (auto& z : w.zp) z = d(rng);
  }
  w.rows.resize(crumb_rows_lsb_size(n, k, kind.bits));
  crumb_pack_rows_lsb(w.codes.data(), n, k, kind.bits, w.rows.data());
  w.desc = {kind.bits, kind.encoding, w.zp.data(), n, groups, ks, kc};
  std::ostringstream s;
  s << kind.name << " n=" << n << " groups=" << groups << " ks=" << ks << " kc=" << kc;
  w.what = s.str();
  return w;
}

// Whether the family packer of `layout` accepts the weights.
bool CanHold(const Weights& w, int layout) {
  const crumb_weights_desc& d = w.desc;
  switch (layout) {
    case CRUMB_LAYOUT_ROWS_LSB:
      return true;
    case CRUMB_LAYOUT_DOT_N16K4:
      return d.bits >= 1 && d.bits <= 8;
    case CRUMB_LAYOUT_LUT_W2_N64: {
      int8_t vmap[4];
      return crumb_lut_value_map(d.bits, d.encoding, d.zero_points, d.n, vmap) != 0;
    }
    case CRUMB_LAYOUT_BITSERIAL_N64: {
      if (!crumb_bitserial_supports(d.bits, d.encoding)) return false;
      if (d.encoding != CRUMB_ENC_UNSIGNED) {
        for (size_t i = 0; i < d.n; i++) {
          if (d.zero_points[i] != 0) return false;
        }
      }
      return true;
    }
  }
  return false;
}

// The family's own packer, group by group, into a zero-filled buffer of the tensor's size.
std::vector<uint8_t> FamilyPack(const Weights& w, int layout) {
  const crumb_weights_desc& d = w.desc;
  const size_t ng = d.n / d.groups, k = d.ks * d.kc;
  const size_t row_bytes = crumb_rows_lsb_row_bytes(k, d.bits);
  std::vector<uint8_t> out(crumb_weights_size(&d, layout), 0);
  if (layout == CRUMB_LAYOUT_ROWS_LSB) return w.rows;
  int8_t vmap[4];
  if (layout == CRUMB_LAYOUT_LUT_W2_N64) {
    EXPECT_EQ(crumb_lut_value_map(d.bits, d.encoding, d.zero_points, d.n, vmap), 1);
  }
  for (size_t g = 0; g < d.groups; g++) {
    const uint8_t* rg = w.rows.data() + g * ng * row_bytes;
    const int32_t* zg = w.zp.data() + g * ng;
    if (layout == CRUMB_LAYOUT_DOT_N16K4) {
      const size_t gb = crumb_dot_packed_size(ng, d.ks, d.kc, d.bits);
      EXPECT_EQ(out.size(), d.groups * gb);
      crumb_dot_pack_rows_lsb(rg, row_bytes, ng, d.ks, d.kc, d.bits, d.encoding,
                              out.data() + g * gb);
    } else if (layout == CRUMB_LAYOUT_LUT_W2_N64) {
      const size_t gb = crumb_lut_packed_size(ng, d.ks, d.kc);
      EXPECT_EQ(out.size(), d.groups * gb);
      // Values qw - zw (bipolar 2c - 1 - zw) from the codes themselves.
      std::vector<int32_t> values(ng * k);
      for (size_t o = 0; o < ng; o++) {
        for (size_t i = 0; i < k; i++) {
          const int32_t c = w.codes[(g * ng + o) * k + i];
          values[o * k + i] = (d.encoding == CRUMB_ENC_BIPOLAR ? 2 * c - 1 : c) - zg[o];
        }
      }
      EXPECT_EQ(crumb_lut_pack_values(values.data(), vmap, ng, d.ks, d.kc, out.data() + g * gb), 1);
      if (d.groups == 1) {
        // crumb_lut_pack builds the same value map from the rows' zero points.
        std::vector<uint8_t> direct(gb, 0);
        EXPECT_EQ(crumb_lut_pack(rg, d.bits, d.encoding, zg, ng, d.ks, d.kc, direct.data()), 1);
        EXPECT_EQ(direct, out) << "crumb_lut_pack and crumb_lut_pack_values differ";
      }
    } else if (layout == CRUMB_LAYOUT_BITSERIAL_N64) {
      const size_t gb = crumb_bitserial_packed_size(ng, d.ks, d.kc, d.bits);
      EXPECT_EQ(out.size(), d.groups * gb);
      EXPECT_EQ(
          crumb_bitserial_pack(rg, d.bits, d.encoding, zg, ng, d.ks, d.kc, out.data() + g * gb), 1);
    }
  }
  return out;
}

// Repacks into a kFill-filled buffer with kGuard bytes after the tensor; checks the guard.
bool Repack(const Weights& w, const std::vector<uint8_t>& src, int from, int to,
            std::vector<uint8_t>* dst) {
  const size_t size = crumb_weights_size(&w.desc, to);
  dst->assign(size + kGuard, kFill);
  const int ok = crumb_repack_weights(&w.desc, src.data(), from, dst->data(), to);
  for (size_t i = size; i < dst->size(); i++) {
    EXPECT_EQ((*dst)[i], kFill) << LayoutName(from) << " -> " << LayoutName(to)
                                << ": wrote past the tensor at byte " << i - size;
  }
  dst->resize(size);
  return ok == 1;
}

size_t FirstDiff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) i++;
  return i;
}

void CheckAllLayouts(const Weights& w) {
  SCOPED_TRACE(w.what);
  std::vector<int> held;
  for (int layout : kLayouts) {
    if (CanHold(w, layout)) held.push_back(layout);
  }
  // ROWS_LSB -> X equals the family's packer; X -> ROWS_LSB gives the original rows.
  std::vector<std::vector<uint8_t>> packed(6);
  for (int x : held) {
    std::vector<uint8_t> got;
    ASSERT_TRUE(Repack(w, w.rows, CRUMB_LAYOUT_ROWS_LSB, x, &got))
        << "rows_lsb -> " << LayoutName(x);
    const std::vector<uint8_t> want = FamilyPack(w, x);
    ASSERT_EQ(got.size(), want.size()) << LayoutName(x);
    ASSERT_TRUE(got == want) << "rows_lsb -> " << LayoutName(x)
                             << " differs from the family's packer at byte " << FirstDiff(got, want)
                             << " of " << got.size();
    std::vector<uint8_t> back;
    ASSERT_TRUE(Repack(w, got, x, CRUMB_LAYOUT_ROWS_LSB, &back)) << LayoutName(x) << " -> rows_lsb";
    ASSERT_TRUE(back == w.rows) << LayoutName(x) << " -> rows_lsb differs at byte "
                                << FirstDiff(back, w.rows);
    packed[x] = got;
  }
  // X -> Y equals the family packer's Y; Y -> ROWS_LSB the original rows.
  for (int x : held) {
    for (int y : held) {
      std::vector<uint8_t> xy, back;
      ASSERT_TRUE(Repack(w, packed[x], x, y, &xy)) << LayoutName(x) << " -> " << LayoutName(y);
      ASSERT_TRUE(xy == packed[y]) << LayoutName(x) << " -> " << LayoutName(y)
                                   << " differs at byte " << FirstDiff(xy, packed[y]);
      ASSERT_TRUE(Repack(w, xy, y, CRUMB_LAYOUT_ROWS_LSB, &back));
      ASSERT_TRUE(back == w.rows) << LayoutName(x) << " -> " << LayoutName(y) << " -> rows_lsb";
    }
  }
  // The layouts the family cannot hold are refused, not written wrong.
  for (int x : kLayouts) {
    if (CanHold(w, x) || x == CRUMB_LAYOUT_BITSERIAL_N64) continue;  // bitserial: see below
    std::vector<uint8_t> got;
    EXPECT_FALSE(Repack(w, w.rows, CRUMB_LAYOUT_ROWS_LSB, x, &got))
        << "rows_lsb -> " << LayoutName(x);
  }
}

TEST(Repack, EveryKindShapeAndLayoutPair) {
  std::mt19937 rng(7);
  size_t cases = 0;
  for (const Kind& kind : kKinds) {
    for (size_t groups : {1, 2}) {
      const std::vector<size_t> ns = groups == 1 ? std::vector<size_t>{1, 16, 63, 64, 65, 130}
                                                 : std::vector<size_t>{2, 32, 126, 128, 130};
      for (size_t n : ns) {
        for (size_t ks : {1, 9}) {
          for (size_t kc : {1, 3, 31, 32, 33, 64, 65}) {
            const Weights w = Make(kind, n, groups, ks, kc, rng);
            CheckAllLayouts(w);
            if (HasFatalFailure()) return;
            cases++;
          }
        }
      }
    }
  }
  EXPECT_EQ(cases, std::size(kKinds) * 11 * 2 * 7);
}

// The layouts each kind can hold, as the families document them.
TEST(Repack, LayoutsEachKindCanHold) {
  std::mt19937 rng(3);
  const std::pair<const char*, std::vector<int>> want[] = {
      {"w1_bipolar", {2, 3, 4, 5}},
      {"w1_signed", {2, 3, 4, 5}},
      {"w1_unsigned_zp", {2, 3, 4, 5}},
      {"w2_signed", {2, 3, 4, 5}},
      {"w2_ternary", {2, 3, 4, 5}},
      {"w2_unsigned_zp1", {2, 3, 4, 5}},
      {"w2_unsigned_pczp", {2, 3, 5}},
      {"w4_signed", {2, 3}},
      {"w8_signed", {2, 3}},
  };
  for (size_t i = 0; i < std::size(kKinds); i++) {
    // Enough channels that random per-channel zero points use every value.
    const Weights w = Make(kKinds[i], 64, 1, 1, 8, rng);
    std::vector<int> held;
    for (int layout : kLayouts) {
      if (CanHold(w, layout)) held.push_back(layout);
    }
    EXPECT_STREQ(want[i].first, kKinds[i].name);
    EXPECT_EQ(held, want[i].second) << kKinds[i].name;
  }
}

// A flipped checksum byte (lut ksum, bitserial vsum) of a real or a padding channel, or a non-zero
// padding code, is refused on the way to every layout.
TEST(Repack, CorruptedPackedInputIsRefused) {
  std::mt19937 rng(11);
  for (const Kind& kind : kKinds) {
    for (size_t n : {1, 63, 64, 130}) {
      for (size_t groups : {1, 2}) {
        if (n % groups) continue;
        const Weights w = Make(kind, n, groups, 9, 33, rng);
        SCOPED_TRACE(w.what);
        for (int x : {CRUMB_LAYOUT_LUT_W2_N64, CRUMB_LAYOUT_BITSERIAL_N64}) {
          if (!CanHold(w, x)) continue;
          std::vector<uint8_t> good;
          ASSERT_TRUE(Repack(w, w.rows, CRUMB_LAYOUT_ROWS_LSB, x, &good));
          const size_t ng = n / groups;
          const size_t gb = good.size() / groups;
          // Byte 0: channel 0's sum; byte 4 * 63: channel 63's (padding unless ng == 64 * k).
          std::vector<size_t> spots = {0, 4 * 63, (groups - 1) * gb + 1};
          if (ng % 64 != 0) spots.push_back(4 * (ng % 64));
          for (size_t at : spots) {
            std::vector<uint8_t> bad = good;
            bad[at] ^= 0x10;
            for (int y : kLayouts) {
              if (!CanHold(w, y)) continue;
              std::vector<uint8_t> out;
              EXPECT_FALSE(Repack(w, bad, x, y, &out))
                  << LayoutName(x) << " with byte " << at << " flipped -> " << LayoutName(y);
            }
          }
          // A code of non-zero value in the padding of the last block's last row (k >= kc in the
          // last step / word): lut lane 63's code of k = 4s + 3 (bits 6-7 of the last byte),
          // bitserial lane 63's bit 31 of the last plane. (The lut unpacker checks the padding's
          // values: a code that means 0, such as ternary code 2, passes.)
          std::vector<uint8_t> bad = good;
          if (x == CRUMB_LAYOUT_LUT_W2_N64) {
            int8_t vmap[4];
            ASSERT_EQ(crumb_lut_value_map(kind.bits, kind.encoding, w.zp.data(), n, vmap), 1);
            uint8_t c = 1;
            while (c < 4 && vmap[c] == 0) c++;
            ASSERT_LT(c, 4);
            bad[gb - 1] = (uint8_t)((bad[gb - 1] & 0x3F) | c << 6);
          } else {
            bad[gb - 1] ^= 0x80;
          }
          std::vector<uint8_t> out;
          EXPECT_FALSE(Repack(w, bad, x, CRUMB_LAYOUT_ROWS_LSB, &out))
              << LayoutName(x) << " with a padding bit set";
        }
      }
    }
  }
}

// Weights a packer cannot hold are refused, whatever the source layout.
TEST(Repack, RefusesWhatTheFamilyCannotHold) {
  std::mt19937 rng(5);
  // Unsigned 2-bit with zero point 0: values 0..3, 3 does not fit the lut's [-2, 2].
  Kind k0 = {"w2_unsigned_zp0", 2, CRUMB_ENC_UNSIGNED, 0};
  Weights w = Make(k0, 64, 1, 1, 16, rng);
  std::vector<uint8_t> out;
  EXPECT_FALSE(Repack(w, w.rows, CRUMB_LAYOUT_ROWS_LSB, CRUMB_LAYOUT_LUT_W2_N64, &out));
  // 4-bit weights have no lut or bitserial form.
  Kind k4 = {"w4_signed", 4, CRUMB_ENC_SIGNED, 0};
  w = Make(k4, 64, 1, 1, 16, rng);
  EXPECT_FALSE(Repack(w, w.rows, CRUMB_LAYOUT_ROWS_LSB, CRUMB_LAYOUT_LUT_W2_N64, &out));
  EXPECT_FALSE(Repack(w, w.rows, CRUMB_LAYOUT_ROWS_LSB, CRUMB_LAYOUT_BITSERIAL_N64, &out));
  // A ternary code -2 (not an encoding value) is refused by bitserial.
  Kind kt = {"w2_ternary", 2, CRUMB_ENC_TERNARY, 0};
  w = Make(kt, 64, 1, 1, 16, rng);
  w.codes[5] = -2;
  crumb_pack_rows_lsb(w.codes.data(), 64, 16, 2, w.rows.data());
  EXPECT_FALSE(Repack(w, w.rows, CRUMB_LAYOUT_ROWS_LSB, CRUMB_LAYOUT_BITSERIAL_N64, &out));
  // Groups that do not divide n.
  Kind k2 = {"w2_signed", 2, CRUMB_ENC_SIGNED, 0};
  w = Make(k2, 65, 2, 1, 16, rng);
  EXPECT_FALSE(Repack(w, w.rows, CRUMB_LAYOUT_ROWS_LSB, CRUMB_LAYOUT_DOT_N16K4, &out));
}

// Bitserial folds a zero point into its offsets for UNSIGNED weights only; the packer ignores
// the zero points of other encodings. Repacking signed weights with non-zero zero points to
// bitserial must not lose them: either it is refused, or the round trip gives the rows back.
TEST(Repack, BitserialSignedWithZeroPointsIsNotLossy) {
  std::mt19937 rng(9);
  Kind k = {"w2_signed_pczp", 2, CRUMB_ENC_SIGNED, -1};
  const Weights w = Make(k, 64, 1, 1, 16, rng);
  std::vector<uint8_t> bs, back;
  if (!Repack(w, w.rows, CRUMB_LAYOUT_ROWS_LSB, CRUMB_LAYOUT_BITSERIAL_N64, &bs)) return;
  ASSERT_TRUE(Repack(w, bs, CRUMB_LAYOUT_BITSERIAL_N64, CRUMB_LAYOUT_ROWS_LSB, &back));
  EXPECT_TRUE(back == w.rows) << "rows_lsb -> bitserial -> rows_lsb changed signed weights with "
                                 "non-zero zero points (the zero points were dropped)";
}

// Family <-> layout mapping.
TEST(Repack, FamilyLayoutMapping) {
  EXPECT_EQ(crumb_family_layout(CRUMB_FAMILY_AUTO), CRUMB_LAYOUT_ROWS_LSB);
  EXPECT_EQ(crumb_family_layout(CRUMB_FAMILY_SCALAR), CRUMB_LAYOUT_ROWS_LSB);
  for (int f : {CRUMB_FAMILY_LUT, CRUMB_FAMILY_BITSERIAL, CRUMB_FAMILY_DOT}) {
    EXPECT_EQ(crumb_layout_family(crumb_family_layout(f)), f);
  }
  EXPECT_EQ(crumb_layout_family(CRUMB_LAYOUT_ROWS_LSB), CRUMB_FAMILY_AUTO);
}

}  // namespace
