// The reference executor of crumb-convert --validate on a tiny graph worked by hand: QuantizeLinear
// rounds half to even and saturates, DequantizeLinear, Conv with a bias, broadcast Mul, Relu,
// GlobalAveragePool, Flatten, Gemm; and MaxPool with ceil_mode.
#include <gtest/gtest.h>

#include "converter/reference_executor.h"

namespace crumb {
namespace cv {
namespace {

Const F(std::vector<int64_t> dims, std::vector<float> v) {
  Const c;
  c.type = kFloat;
  c.dims = std::move(dims);
  c.f = std::move(v);
  return c;
}

Const I(int type, std::vector<int64_t> dims, std::vector<int64_t> v) {
  Const c;
  c.type = type;
  c.dims = std::move(dims);
  c.i = std::move(v);
  return c;
}

Node N(const std::string& op, std::vector<std::string> in, const std::string& out) {
  Node n;
  n.name = op + "_" + out;
  n.op_type = op;
  n.inputs = std::move(in);
  n.outputs = {out};
  return n;
}

TEST(ReferenceExecutor, TinyGraphByHand) {
  Graph g;
  g.inputs.push_back(ValueInfo{"x", kFloat, {1, 1, 3, 3}, true, {}});
  g.initializers["s"] = F({}, {0.5f});
  g.initializers["z"] = I(kUint8, {}, {0});
  g.initializers["w"] = F({1, 1, 2, 2}, {1, 0, 0, -1});
  g.initializers["b"] = F({1}, {0.5f});
  g.initializers["m"] = F({1, 1, 1, 1}, {-1});
  g.initializers["one"] = F({}, {1});
  g.initializers["z8"] = I(kInt8, {}, {0});
  g.initializers["B"] = F({1, 2}, {1, 2});
  g.initializers["C"] = F({2}, {0.5f, -0.5f});
  g.nodes.push_back(N("QuantizeLinear", {"x", "s", "z"}, "xq"));
  g.nodes.push_back(N("DequantizeLinear", {"xq", "s", "z"}, "xd"));
  g.nodes.push_back(N("Conv", {"xd", "w", "b"}, "c"));
  g.nodes.push_back(N("Mul", {"c", "m"}, "cm"));
  g.nodes.push_back(N("Relu", {"cm"}, "r"));
  g.nodes.push_back(N("GlobalAveragePool", {"r"}, "p"));
  g.nodes.push_back(N("QuantizeLinear", {"p", "one", "z8"}, "pq"));
  g.nodes.push_back(N("DequantizeLinear", {"pq", "one", "z8"}, "pd"));
  g.nodes.push_back(N("Flatten", {"pd"}, "f"));
  g.nodes.push_back(N("Gemm", {"f", "B", "C"}, "y"));
  const RefTensor x{{1, 1, 3, 3}, {0.25f, 0.75f, 1.25f, -1.f, 2.6f, 3.f, 0.5f, 1.f, 200.f}};
  std::map<std::string, RefTensor> v;
  std::string err;
  ASSERT_TRUE(RunReference(g, {{"x", x}}, &v, &err)) << err;
  // x / 0.5 = 0.5 1.5 2.5 -2 5.2 6 1 2 400: half to even, then saturated to uint8.
  EXPECT_EQ(v["xq"].data, (std::vector<float>{0, 2, 2, 0, 5, 6, 1, 2, 255}));
  EXPECT_EQ(v["c"].dims, (std::vector<int64_t>{1, 1, 2, 2}));
  EXPECT_EQ(v["c"].data, (std::vector<float>{-2.f, -1.5f, -0.5f, -124.5f}));
  EXPECT_EQ(v["r"].data, (std::vector<float>{2.f, 1.5f, 0.5f, 124.5f}));
  EXPECT_EQ(v["p"].data, (std::vector<float>{32.125f}));
  EXPECT_EQ(v["pq"].data, (std::vector<float>{32}));
  EXPECT_EQ(v["f"].dims, (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(v["y"].data, (std::vector<float>{32.5f, 63.5f}));

  bool codes = false;
  float scale = 0;
  int64_t zp = -1;
  ASSERT_TRUE(QuantizerStep(g, "xq", &codes, &scale, &zp));
  EXPECT_TRUE(codes);
  EXPECT_EQ(scale, 0.5f);
  EXPECT_EQ(zp, 0);
  ASSERT_TRUE(QuantizerStep(g, "pd", &codes, &scale, &zp));
  EXPECT_FALSE(codes);
  EXPECT_FALSE(QuantizerStep(g, "c", &codes, &scale, &zp));

  // The test hook negates the Conv weights only, not activations.
  ReferenceOptions o;
  o.negate_weights = true;
  ASSERT_TRUE(RunReference(g, {{"x", x}}, &v, &err, o)) << err;
  EXPECT_EQ(v["xd"].data[4], 2.5f);
  EXPECT_EQ(v["c"].data, (std::vector<float>{3.f, 2.5f, 1.5f, 125.5f}));
}

TEST(ReferenceExecutor, MaxPoolCeilModeAndUnknownOps) {
  Graph g;
  g.inputs.push_back(ValueInfo{"x", kFloat, {1, 1, 3, 3}, true, {}});
  Node p = N("MaxPool", {"x"}, "y");
  Attr k;
  k.kind = Attr::kInts;
  k.ints = {2, 2};
  p.attrs["kernel_shape"] = k;
  p.attrs["strides"] = k;
  Attr c;
  c.kind = Attr::kInt;
  c.i = 1;
  p.attrs["ceil_mode"] = c;
  g.nodes.push_back(p);
  std::map<std::string, RefTensor> v;
  std::string err;
  RefTensor x{{1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9}};
  ASSERT_TRUE(RunReference(g, {{"x", x}}, &v, &err)) << err;
  EXPECT_EQ(v["y"].dims, (std::vector<int64_t>{1, 1, 2, 2}));
  EXPECT_EQ(v["y"].data, (std::vector<float>{5, 6, 8, 9}));
  g.nodes.push_back(N("TopK", {"y"}, "s"));
  EXPECT_FALSE(RunReference(g, {{"x", x}}, &v, &err));
  EXPECT_NE(err.find("does not evaluate"), std::string::npos) << err;
}

}  // namespace
}  // namespace cv
}  // namespace crumb
