// Helpers the converter's golden tests share: convert an OnnxBuilder model with the default
// options, find a crumb op by name, list the problems one per line.
#pragma once

#include <string>
#include <vector>

#include "converter/converter.h"
#include "tests/converter/onnx_builder.h"

namespace crumb {
namespace testing {

inline std::string Joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& p : v) s += p + "\n";
  return s;
}

inline const cv::COp* FindOp(const cv::CModel& m, const std::string& name) {
  for (const auto& op : m.ops)
    if (op.name == name) return &op;
  return nullptr;
}

inline cv::ConvertResult Convert(OnnxBuilder& b) {
  return cv::ConvertModel(b.model(), std::string(64, 'a'), cv::ConvertOptions());
}

}  // namespace testing
}  // namespace crumb
