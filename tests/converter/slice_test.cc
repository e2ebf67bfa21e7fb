// ONNX Slice and Split through the converter: lowering to SLICE (golden starts / steps / shapes,
// ONNX's index clamping), the problems it names, and the reference executor's Slice / Split.
#include <gtest/gtest.h>

#include <map>

#include "converter/converter.h"
#include "converter/passes/passes.h"
#include "converter/reference_executor.h"
#include "tests/converter/convert_test_util.h"
#include "tests/converter/onnx_builder.h"

namespace crumb {
namespace {

using cv::ConvertModel;
using cv::ConvertResult;
using testing::Convert;
using testing::FindOp;
using testing::Joined;
using testing::OnnxBuilder;

// x [batch, 6, 5, 8] -> Q/DQ -> `body` -> each output through Q/DQ (scale 0.1: the input's, or
// `out_scale`) -> graph outputs.
OnnxBuilder Model(int64_t batch, const std::function<std::vector<std::string>(OnnxBuilder&)>& body,
                  float out_scale = 0.1f) {
  OnnxBuilder b(13);
  b.Input("x", {batch, 6, 5, 8});
  b.InitF("s", {}, {0.1f});
  b.InitF("so", {}, {out_scale});
  b.InitI("z", 2, {}, {128});
  b.Node("QuantizeLinear", "qx", {"x", "s", "z"}, {"xq"});
  b.Node("DequantizeLinear", "dqx", {"xq", "s", "z"}, {"xd"});
  const std::vector<std::string> outs = body(b);
  for (size_t k = 0; k < outs.size(); k++) {
    const std::string o = "y" + std::to_string(k);
    b.Node("QuantizeLinear", "q" + o, {outs[k], "so", "z"}, {o + "q"});
    b.Node("DequantizeLinear", "dq" + o, {o + "q", "so", "z"}, {o});
    b.Output(o);
  }
  return b;
}

void SliceNode(OnnxBuilder& b, const std::string& name, const std::vector<int64_t>& starts,
               const std::vector<int64_t>& ends, const std::vector<int64_t>& axes,
               const std::vector<int64_t>& steps) {
  const int64_t n = int64_t(starts.size());
  b.InitI(name + "/starts", 7, {n}, starts);
  b.InitI(name + "/ends", 7, {n}, ends);
  b.InitI(name + "/axes", 7, {n}, axes);
  b.InitI(name + "/steps", 7, {n}, steps);
  b.Node("Slice", name, {"xd", name + "/starts", name + "/ends", name + "/axes", name + "/steps"},
         {name + "/out"});
}

TEST(LowerToCrumb, SliceResolvesOnnxIndices) {
  // Negative axes and starts, ends past either side, a negative step, an untouched axis.
  OnnxBuilder b = Model(1, [](OnnxBuilder& b) {
    SliceNode(b, "sl", {-2, 100, 1}, {1000, -100, 7}, {1, -2, -1}, {1, -2, 3});
    return std::vector<std::string>{"sl/out"};
  });
  ConvertResult r = Convert(b);
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  const cv::COp* op = FindOp(r.model, "sl");
  ASSERT_NE(op, nullptr);
  EXPECT_EQ(op->opcode, cv::OpCode::kSlice);
  // channels 4, 5; rows 4, 2, 0; columns 1, 4.
  EXPECT_EQ(op->slice_starts, (std::vector<int64_t>{0, 4, 4, 1}));
  EXPECT_EQ(op->slice_steps, (std::vector<int64_t>{1, 1, -2, 3}));
  EXPECT_EQ(r.model.tensors[size_t(op->outputs[0])].shape, (std::vector<int64_t>{1, 2, 3, 2}));
}

TEST(LowerToCrumb, SplitBecomesOneSlicePerOutput) {
  // Sizes as an input, the dynamic batch kept, a requantizing quantizer after each part.
  OnnxBuilder b = Model(
      -1,
      [](OnnxBuilder& b) {
        b.InitI("sizes", 7, {3}, {1, 2, 3});
        b.Node("Split", "sp", {"xd", "sizes"}, {"p0", "p1", "p2"});
        return std::vector<std::string>{"p0", "p1", "p2"};
      },
      0.05f);
  // ONNX's default axis is 0; split the channels.
  for (auto& n : *b.model().mutable_graph()->mutable_node())
    if (n.op_type() == "Split") OnnxBuilder::AttrI(&n, "axis", 1);
  ConvertResult r = Convert(b);
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  const int64_t starts[] = {0, 1, 3}, sizes[] = {1, 2, 3};
  for (int k = 0; k < 3; k++) {
    const cv::COp* op = FindOp(r.model, "sp:" + std::to_string(k));
    ASSERT_NE(op, nullptr) << k;
    EXPECT_EQ(op->opcode, cv::OpCode::kSlice);
    EXPECT_EQ(op->slice_starts, (std::vector<int64_t>{0, starts[k], 0, 0}));
    EXPECT_EQ(op->slice_steps, (std::vector<int64_t>{1, 1, 1, 1}));
    const cv::CTensor& t = r.model.tensors[size_t(op->outputs[0])];
    EXPECT_EQ(t.shape, (std::vector<int64_t>{-1, sizes[k], 5, 8}));
    EXPECT_EQ(t.scale, std::vector<float>{0.05f});
  }
}

TEST(LowerToCrumb, SliceAndSplitProblemsNameTheNode) {
  struct Case {
    const char* what;
    std::function<std::vector<std::string>(OnnxBuilder&)> body;
    const char* problem;
  };
  const Case cases[] = {
      {"zero step",
       [](OnnxBuilder& b) {
         SliceNode(b, "sl", {0}, {4}, {1}, {0});
         return std::vector<std::string>{"sl/out"};
       },
       "a step is 0"},
      {"empty",
       [](OnnxBuilder& b) {
         SliceNode(b, "sl", {4}, {2}, {1}, {1});
         return std::vector<std::string>{"sl/out"};
       },
       "empty along axis 1"},
      {"repeated axis",
       [](OnnxBuilder& b) {
         SliceNode(b, "sl", {0, 1}, {4, 3}, {1, -3}, {1, 1});
         return std::vector<std::string>{"sl/out"};
       },
       "appears twice"},
      {"computed starts",
       [](OnnxBuilder& b) {
         b.InitI("ends", 7, {1}, {3});
         b.Node("Slice", "sl", {"xd", "xd", "ends"}, {"sl/out"});
         return std::vector<std::string>{"sl/out"};
       },
       "must be an INT64 or INT32 constant or computed from the shapes"},
      {"uneven split",
       [](OnnxBuilder& b) {
         auto* n = b.Node("Split", "sp", {"xd"}, {"p0", "p1", "p2", "p3"});
         OnnxBuilder::AttrI(n, "axis", 1);
         return std::vector<std::string>{"p0", "p1", "p2", "p3"};
       },
       "does not split into 4 equal parts"},
      {"sizes not adding up",
       [](OnnxBuilder& b) {
         b.InitI("sizes", 7, {2}, {2, 3});
         auto* n = b.Node("Split", "sp", {"xd", "sizes"}, {"p0", "p1"});
         OnnxBuilder::AttrI(n, "axis", 1);
         return std::vector<std::string>{"p0", "p1"};
       },
       "add up to 5"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    OnnxBuilder b = Model(1, c.body);
    ConvertResult r = Convert(b);
    ASSERT_FALSE(r.ok);
    const std::string all = Joined(r.problems);
    EXPECT_NE(all.find(c.problem), std::string::npos) << all;
    EXPECT_TRUE(all.find("'sl'") != std::string::npos || all.find("'sp'") != std::string::npos)
        << all;
  }
}

// torch.chunk(x, 2, 1) and x.view(x.size(0), -1) as torch.onnx.export writes them: arithmetic on
// shapes feeding Slice and Reshape, evaluated on the inferred shapes (the batch dynamic).
TEST(LowerToCrumb, ArithmeticOnShapesFeedsSliceAndReshape) {
  OnnxBuilder b = Model(-1, [](OnnxBuilder& b) {
    b.Node("Shape", "shape", {"xd"}, {"shp"});
    b.InitI("one", 7, {1}, {1});
    b.InitI("zero", 7, {1}, {0});
    b.InitI("two", 7, {1}, {2});
    b.Node("Gather", "gather_c", {"shp", "one"}, {"c"});  // [6]
    b.Node("Add", "add", {"c", "one"}, {"c1"});           // 7
    b.Node("Div", "div", {"c1", "two"}, {"half"});        // 3 (truncated)
    b.Node("Slice", "lo", {"xd", "zero", "half", "one"}, {"lo/out"});
    b.Node("Mul", "mul", {"half", "two"}, {"end"});  // 6
    b.Node("Slice", "hi", {"xd", "half", "end", "one"}, {"hi/out"});
    b.InitI("i0", 7, {}, {0});
    b.InitI("minus1", 7, {1}, {-1});
    b.Node("Gather", "gather_n", {"shp", "i0"}, {"n"});  // the dynamic batch
    b.Node("Unsqueeze", "unsq", {"n", "zero"}, {"n1"});
    b.Node("Concat", "cat", {"n1", "minus1"}, {"target"});
    b.Node("Reshape", "view", {"xd", "target"}, {"flat"});
    return std::vector<std::string>{"lo/out", "hi/out", "flat"};
  });
  for (auto& n : *b.model().mutable_graph()->mutable_node())
    if (n.op_type() == "Concat") OnnxBuilder::AttrI(&n, "axis", 0);
  ConvertResult r = Convert(b);
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  const cv::COp* lo = FindOp(r.model, "lo");
  const cv::COp* hi = FindOp(r.model, "hi");
  const cv::COp* view = FindOp(r.model, "view");
  ASSERT_TRUE(lo && hi && view);
  EXPECT_EQ(lo->slice_starts, (std::vector<int64_t>{0, 0, 0, 0}));
  EXPECT_EQ(r.model.tensors[size_t(lo->outputs[0])].shape, (std::vector<int64_t>{-1, 3, 5, 8}));
  EXPECT_EQ(hi->slice_starts, (std::vector<int64_t>{0, 3, 0, 0}));
  EXPECT_EQ(r.model.tensors[size_t(hi->outputs[0])].shape, (std::vector<int64_t>{-1, 3, 5, 8}));
  EXPECT_EQ(view->opcode, cv::OpCode::kReshape);
  EXPECT_EQ(r.model.tensors[size_t(view->outputs[0])].shape, (std::vector<int64_t>{-1, 240}));
  // No op is left of the arithmetic.
  for (const auto& op : r.model.ops) EXPECT_EQ(op.name.find("gather"), std::string::npos);

  // Slicing by the dynamic batch size itself cannot be resolved: named.
  OnnxBuilder bad = Model(-1, [](OnnxBuilder& b) {
    b.Node("Shape", "shape", {"xd"}, {"shp"});
    b.InitI("zero", 7, {1}, {0});
    b.Node("Gather", "gather_n", {"shp", "zero"}, {"n"});
    b.Node("Slice", "sl", {"xd", "zero", "n", "zero"}, {"sl/out"});
    return std::vector<std::string>{"sl/out"};
  });
  ConvertResult rb = Convert(bad);
  ASSERT_FALSE(rb.ok);
  EXPECT_NE(Joined(rb.problems).find("'sl'"), std::string::npos) << Joined(rb.problems);
  EXPECT_NE(Joined(rb.problems).find("depends on the dynamic batch size"), std::string::npos)
      << Joined(rb.problems);
}

TEST(ReferenceExecutor, SliceAndSplitByHand) {
  cv::Graph g;
  g.inputs.push_back(cv::ValueInfo{"x", cv::kFloat, {2, 3}, true, {}});
  auto ints = [&](const std::string& name, std::vector<int64_t> v) {
    cv::Const c;
    c.type = cv::kInt64;
    c.dims = {int64_t(v.size())};
    c.i = std::move(v);
    g.initializers[name] = c;
  };
  ints("starts", {-1, 2});
  ints("ends", {-100, -100});
  ints("axes", {0, 1});
  ints("steps", {-1, -2});
  ints("sizes", {1, 2});
  cv::Node slice;
  slice.name = "sl";
  slice.op_type = "Slice";
  slice.inputs = {"x", "starts", "ends", "axes", "steps"};
  slice.outputs = {"s"};
  cv::Node split;
  split.name = "sp";
  split.op_type = "Split";
  split.inputs = {"x", "sizes"};
  split.outputs = {"a", "b"};
  cv::Attr axis;
  axis.kind = cv::Attr::kInt;
  axis.i = 1;
  split.attrs["axis"] = axis;
  g.nodes = {slice, split};
  std::map<std::string, cv::RefTensor> v;
  std::string error;
  // x = [[1, 2, 3], [4, 5, 6]]
  ASSERT_TRUE(cv::RunReference(g, {{"x", cv::RefTensor{{2, 3}, {1, 2, 3, 4, 5, 6}}}}, &v, &error))
      << error;
  EXPECT_EQ(v["s"].dims, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(v["s"].data, (std::vector<float>{6, 4, 3, 1}));
  EXPECT_EQ(v["a"].dims, (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(v["a"].data, (std::vector<float>{1, 4}));
  EXPECT_EQ(v["b"].dims, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(v["b"].data, (std::vector<float>{2, 3, 5, 6}));
}

}  // namespace
}  // namespace crumb
