// Problems found while converting. Passes add every problem they find and keep going where they
// can, so that one run reports all of them in one message.
#pragma once

#include <string>
#include <vector>

#include "converter/ir.h"

namespace crumb {
namespace cv {

class Diagnostics {
 public:
  void Add(std::string message) {
    for (const auto& p : problems_)
      if (p == message) return;  // the same problem reached twice is listed once
    problems_.push_back(std::move(message));
  }
  void AddNode(const Node& n, const std::string& message) { Add(Describe(n) + ": " + message); }
  bool ok() const { return problems_.empty(); }
  const std::vector<std::string>& problems() const { return problems_; }

  static std::string OpName(const Node& n) {
    if (n.domain.empty() || n.domain == "ai.onnx") return n.op_type;
    return n.domain + "." + n.op_type;
  }
  static std::string Describe(const Node& n) {
    return "node '" + n.name + "' (op " + OpName(n) + ")";
  }

 private:
  std::vector<std::string> problems_;
};

}  // namespace cv
}  // namespace crumb
