// Helpers the converter's golden tests share: convert an OnnxBuilder model with the default
// options, find a crumb op by name, list the problems one per line, read a window op's pads, set
// a string attribute on a hand-built node, check a refusal's message.
#pragma once

#include <gtest/gtest.h>

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

// A conversion that failed with a problem containing `fragment` (the problems in the message).
inline ::testing::AssertionResult Refused(const cv::ConvertResult& r, const std::string& fragment) {
  if (r.ok) return ::testing::AssertionFailure() << "converted; expected \"" << fragment << "\"";
  if (Joined(r.problems).find(fragment) == std::string::npos)
    return ::testing::AssertionFailure() << "no \"" << fragment << "\" in:\n" << Joined(r.problems);
  return ::testing::AssertionSuccess();
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
