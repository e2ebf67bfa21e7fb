#include "kernels/reference/lut_reference.h"

namespace crumb {
namespace ref {

std::vector<uint8_t> PackCodesLsb(const std::vector<int32_t>& codes, int rows, int channels,
                                  int bits, int row_bytes) {
  std::vector<uint8_t> out((size_t)rows * row_bytes, 0);
  for (int r = 0; r < rows; r++) {
    for (int c = 0; c < channels; c++) {
      const uint32_t code = (uint32_t)codes[(size_t)r * channels + c];
      for (int b = 0; b < bits; b++) {
        const int bit = c * bits + b;
        if ((code >> b) & 1) out[(size_t)r * row_bytes + bit / 8] |= (uint8_t)(1u << (bit % 8));
      }
    }
  }
  return out;
}

int32_t PackedCode(const uint8_t* row, int c, int bits) {
  int32_t code = 0;
  for (int b = 0; b < bits; b++) {
    const int bit = c * bits + b;
    code |= ((row[bit / 8] >> (bit % 8)) & 1) << b;
  }
  return code;
}

}  // namespace ref
}  // namespace crumb
