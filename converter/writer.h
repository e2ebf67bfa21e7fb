// CModel -> .crumb bytes (schema/crumb.fbs + schema/README.md), and atomic file output.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "converter/ir.h"

namespace crumb {
namespace cv {

constexpr uint32_t kFormatVersion = 1;
constexpr size_t kBufferAlignment = 64;

// Serializes a packed model: the FlatBuffer (identifier "CRMB"), zero padding, then the data
// section with every constant tensor's bytes at a 64-byte aligned file offset (buffers[0] is the
// empty buffer). Returns false with `error` set when a value does not fit the format.
bool SerializeModel(const CModel& m, std::vector<uint8_t>* out, std::string* error);

// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so the
// path holds either its old content or the complete new file, never a partial one. On failure the
// temporary file is removed and `error` says why.
bool WriteFileAtomically(const std::string& path, const std::vector<uint8_t>& bytes,
                         std::string* error);

}  // namespace cv
}  // namespace crumb
