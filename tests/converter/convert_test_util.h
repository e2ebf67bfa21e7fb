// Helpers the converter's golden tests share: convert an OnnxBuilder model with the default
// options, find a crumb op by name, list the problems one per line, read a window op's pads, set
// a string attribute on a hand-built node.
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

// A Conv / pool op's pads as {top, left, bottom, right} (ONNX's begin-then-end order).
inline std::vector<int> Pads(const cv::COp& op) {
  return {op.pad_top, op.pad_left, op.pad_bottom, op.pad_right};
}

inline void StringAttr(cv::Node* n, const std::string& name, const std::string& value) {
  cv::Attr a;
  a.kind = cv::Attr::kString;
  a.s = value;
  n->attrs[name] = a;
}

}  // namespace testing
}  // namespace crumb
