// Reference helpers for the lut family's formats (kernels/lut/lut.h): obviously-correct bit loops,
// independent of the family's packers, so that tests compare the packers and the kernels' packed
// outputs against them. The test oracle; never linked into libcrumb.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <vector>

namespace crumb {
namespace ref {

// rows x channels codes (each in [0, 2^bits)) -> rows of row_bytes bytes, code c of a row at bit
// c * bits (LSB first), the rest of the row zero.
std::vector<uint8_t> PackCodesLsb(const std::vector<int32_t>& codes, int rows, int channels,
                                  int bits, int row_bytes);

// Code c of a row packed that way.
int32_t PackedCode(const uint8_t* row, int c, int bits);

}  // namespace ref
}  // namespace crumb
