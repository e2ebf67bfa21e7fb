// SHA-256 (FIPS 180-4), for the source-model hash in the crumb metadata. No dependency beyond
// the standard library.
#pragma once

#include <cstddef>
#include <string>

namespace crumb {
namespace cv {

// Lower-case hex digest of `size` bytes at `data`.
std::string Sha256Hex(const void* data, size_t size);

}  // namespace cv
}  // namespace crumb
