// ROWS_LSB: pack -> unpack round trip for every bit width, signed and unsigned, odd K.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "kernels/common/pack.h"
#include "kernels/common/requant.h"

namespace {

TEST(RowsLsb, RoundTripAllBitsAndOddK) {
  std::mt19937 rng(1);
  for (unsigned bits = 1; bits <= 8; bits++) {
    for (int is_signed = 0; is_signed <= 1; is_signed++) {
      for (size_t k : {1, 2, 3, 5, 7, 8, 9, 13, 15, 16, 17, 31, 33, 63, 100}) {
        for (size_t rows : {1, 2, 3, 7}) {
          const int32_t lo = is_signed ? -(1 << (bits - 1)) : 0;
          const int32_t hi = is_signed ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
          std::vector<int32_t> v(rows * k);
          std::uniform_int_distribution<int32_t> d(lo, hi);
          for (auto& x : v) x = d(rng);
          v[0] = lo;
          v.back() = hi;
          const size_t size = crumb_rows_lsb_size(rows, k, bits);
          ASSERT_EQ(size, rows * ((k * bits + 7) / 8));
          std::vector<uint8_t> packed(size + 16, 0xA5);  // guard bytes after the data
          crumb_pack_rows_lsb(v.data(), rows, k, bits, packed.data());
          for (size_t i = size; i < packed.size(); i++) ASSERT_EQ(packed[i], 0xA5) << "overrun";
          // Padding bits at the end of every row are zero.
          const size_t row_bytes = crumb_rows_lsb_row_bytes(k, bits);
          const unsigned used = (unsigned)((k * bits) % 8);
          if (used != 0) {
            for (size_t r = 0; r < rows; r++) {
              ASSERT_EQ(packed[r * row_bytes + row_bytes - 1] >> used, 0) << "row " << r;
            }
          }
          std::vector<int32_t> back(rows * k, 12345);
          crumb_unpack_rows_lsb(packed.data(), rows, k, bits, is_signed, back.data());
          ASSERT_EQ(back, v) << "bits " << bits << " signed " << is_signed << " k " << k;
          // The decoder the kernels use agrees.
          std::vector<int32_t> row(k);
          for (size_t r = 0; r < rows; r++) {
            crumb_decode_weight_row(packed.data() + r * row_bytes, k, bits,
                                    is_signed ? CRUMB_ENC_SIGNED : CRUMB_ENC_UNSIGNED, 1,
                                    row.data());
            for (size_t i = 0; i < k; i++) ASSERT_EQ(row[i], v[r * k + i] - 1);
          }
        }
      }
    }
  }
}

TEST(RowsLsb, BipolarAndTernaryDecode) {
  // Bipolar: code 0 = -1, code 1 = +1.
  const int32_t codes[5] = {0, 1, 1, 0, 1};
  uint8_t packed[1];
  crumb_pack_rows_lsb(codes, 1, 5, 1, packed);
  int32_t v[5];
  crumb_decode_weight_row(packed, 5, 1, CRUMB_ENC_BIPOLAR, 0, v);
  const int32_t want[5] = {-1, 1, 1, -1, 1};
  for (int i = 0; i < 5; i++) EXPECT_EQ(v[i], want[i]);
  // Ternary: two's complement 2-bit codes.
  const int32_t t[4] = {-1, 0, 1, -1};
  crumb_pack_rows_lsb(t, 1, 4, 2, packed);
  crumb_decode_weight_row(packed, 4, 2, CRUMB_ENC_TERNARY, 0, v);
  for (int i = 0; i < 4; i++) EXPECT_EQ(v[i], t[i]);
}

}  // namespace
