// ONNX Resize through the converter: lowering to RESIZE (golden ops and options), the problems
// CheckSupported lists for the forms crumb does not run, and the reference executor's Resize
// worked by hand.
#include <gtest/gtest.h>

#include <functional>
#include <map>

#include "converter/converter.h"
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
using testing::StringAttr;

// x [N, 2, 4, 4] -> Q/DQ -> Resize (configure) -> Q/DQ (scale `out_scale`) -> y
struct ResizeSpec {
  std::string mode = "nearest", coord, nearest;
  std::vector<float> scales{1, 1, 2, 2};
  std::vector<int64_t> sizes;  // instead of scales when non-empty
  float out_scale = 0.1f;
  int64_t batch = 1;
  std::function<void(OnnxBuilder&, onnx::NodeProto*)> edit;
};

OnnxBuilder ResizeModel(const ResizeSpec& s) {
  OnnxBuilder b(13);
  b.Input("x", {s.batch, 2, 4, 4});
  b.InitF("s", {}, {0.1f});
  b.InitF("so", {}, {s.out_scale});
  b.InitI("z", 2, {}, {128});
  b.Node("QuantizeLinear", "qx", {"x", "s", "z"}, {"xq"});
  b.Node("DequantizeLinear", "dqx", {"xq", "s", "z"}, {"xd"});
  std::vector<std::string> in{"xd", ""};
  if (s.sizes.empty()) {
    b.InitF("scales", {int64_t(s.scales.size())}, s.scales);
    in.push_back("scales");
  } else {
    b.InitI("sizes", 7, {int64_t(s.sizes.size())}, s.sizes);
    in.push_back("");
    in.push_back("sizes");
  }
  auto* r = b.Node("Resize", "rs", in, {"r"});
  OnnxBuilder::AttrS(r, "mode", s.mode);
  if (!s.coord.empty()) OnnxBuilder::AttrS(r, "coordinate_transformation_mode", s.coord);
  if (!s.nearest.empty()) OnnxBuilder::AttrS(r, "nearest_mode", s.nearest);
  if (s.edit) s.edit(b, r);
  b.Node("QuantizeLinear", "qy", {"r", "so", "z"}, {"yq"});
  b.Node("DequantizeLinear", "dqy", {"yq", "so", "z"}, {"y"});
  b.Output("y");
  return b;
}

TEST(LowerToCrumb, ResizeNearestByScales) {
  ResizeSpec s;
  s.coord = "asymmetric";
  s.nearest = "floor";
  s.out_scale = 0.1f;  // the input's parameters: the codes are copied
  s.batch = -1;
  OnnxBuilder b = ResizeModel(s);
  ConvertResult r = Convert(b);
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  const cv::COp* op = FindOp(r.model, "rs");
  ASSERT_NE(op, nullptr);
  EXPECT_EQ(op->opcode, cv::OpCode::kResize);
  EXPECT_EQ(op->resize_mode, 0);
  EXPECT_EQ(op->resize_coordinates, 1);
  EXPECT_EQ(op->resize_nearest, 2);
  EXPECT_EQ(op->scale_h, 2.f);
  EXPECT_EQ(op->scale_w, 2.f);
  ASSERT_EQ(op->inputs.size(), 1u);
  EXPECT_EQ(r.model.tensors[size_t(op->outputs[0])].shape, (std::vector<int64_t>{-1, 2, 8, 8}));
  EXPECT_EQ(r.model.tensors[size_t(op->outputs[0])].scale, std::vector<float>{0.1f});
  // Every mode and transform maps to its schema value.
  const char* coords[] = {"half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel"};
  const char* nearest[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
  for (int c = 0; c < 4; c++) {
    for (int k = 0; k < 4; k++) {
      ResizeSpec t;
      t.coord = coords[c];
      t.nearest = nearest[k];
      t.scales = {1, 1, 0.5f, 1.5f};
      OnnxBuilder bt = ResizeModel(t);
      ConvertResult rt = Convert(bt);
      ASSERT_TRUE(rt.ok) << Joined(rt.problems);
      const cv::COp* o = FindOp(rt.model, "rs");
      ASSERT_NE(o, nullptr);
      EXPECT_EQ(o->resize_coordinates, c);
      EXPECT_EQ(o->resize_nearest, k);
      // floor(scale * in): 4 * 0.5 = 2, 4 * 1.5 = 6.
      EXPECT_EQ(rt.model.tensors[size_t(o->outputs[0])].shape, (std::vector<int64_t>{1, 2, 2, 6}));
    }
  }
}

TEST(LowerToCrumb, ResizeLinearBySizes) {
  ResizeSpec s;
  s.mode = "linear";
  s.sizes = {1, 2, 7, 3};
  s.out_scale = 0.05f;
  OnnxBuilder b = ResizeModel(s);
  ConvertResult r = Convert(b);
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  const cv::COp* op = FindOp(r.model, "rs");
  ASSERT_NE(op, nullptr);
  EXPECT_EQ(op->opcode, cv::OpCode::kResize);
  EXPECT_EQ(op->resize_mode, 1);
  EXPECT_EQ(op->resize_coordinates, 0);  // ONNX's default, half_pixel
  EXPECT_EQ(op->scale_h, 7.f / 4.f);
  EXPECT_EQ(op->scale_w, 3.f / 4.f);
  EXPECT_EQ(r.model.tensors[size_t(op->outputs[0])].shape, (std::vector<int64_t>{1, 2, 7, 3}));
  EXPECT_EQ(r.model.tensors[size_t(op->outputs[0])].scale, std::vector<float>{0.05f});
}

TEST(CheckSupported, ResizeFormsCrumbDoesNotRunNameTheNode) {
  struct Row {
    const char* what;
    std::function<void(ResizeSpec*)> set;
    const char* fragment;
  };
  const Row rows[] = {
      {"cubic", [](ResizeSpec* s) { s->mode = "cubic"; }, "mode 'cubic' is not supported"},
      {"antialias",
       [](ResizeSpec* s) {
         s->edit = [](OnnxBuilder&, onnx::NodeProto* n) { OnnxBuilder::AttrI(n, "antialias", 1); };
       },
       "antialias=1 is not supported"},
      {"exclude_outside",
       [](ResizeSpec* s) {
         s->edit = [](OnnxBuilder&, onnx::NodeProto* n) {
           OnnxBuilder::AttrI(n, "exclude_outside", 1);
         };
       },
       "exclude_outside=1 is not supported"},
      {"tf_crop_and_resize", [](ResizeSpec* s) { s->coord = "tf_crop_and_resize"; },
       "coordinate_transformation_mode 'tf_crop_and_resize' is not supported"},
      {"keep_aspect_ratio_policy",
       [](ResizeSpec* s) {
         s->edit = [](OnnxBuilder&, onnx::NodeProto* n) {
           OnnxBuilder::AttrS(n, "keep_aspect_ratio_policy", "not_larger");
         };
       },
       "keep_aspect_ratio_policy 'not_larger' is not supported"},
      {"channel scale",
       [](ResizeSpec* s) {
         s->scales = {1, 2, 2, 2};
       },
       "1 for the batch and channel axes"},
      {"sizes change channels",
       [](ResizeSpec* s) {
         s->sizes = {1, 3, 8, 8};
       },
       "change the batch or channels"},
      {"three scales",
       [](ResizeSpec* s) {
         s->scales = {1, 2, 2};
       },
       "crumb resizes 4-D NCHW"},
      {"computed scales",
       [](ResizeSpec* s) {
         s->edit = [](OnnxBuilder& b, onnx::NodeProto* n) {
           b.Input("scales_in", {4});
           n->set_input(2, "scales_in");
         };
       },
       "must be a constant"},
      {"opset 10 form",
       [](ResizeSpec* s) {
         s->edit = [](OnnxBuilder&, onnx::NodeProto* n) {
           n->clear_input();
           n->add_input("xd");
           n->add_input("scales");
         };
       },
       "opset-10 form"},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.what);
    ResizeSpec s;
    row.set(&s);
    OnnxBuilder b = ResizeModel(s);
    ConvertResult r = Convert(b);
    EXPECT_FALSE(r.ok);
    bool found = false;
    for (const auto& p : r.problems)
      found = found || (p.find("node 'rs' (op Resize)") != std::string::npos &&
                        p.find(row.fragment) != std::string::npos);
    EXPECT_TRUE(found) << Joined(r.problems);
  }
}

cv::Node ResizeNode(const std::string& mode, const std::string& coord, const std::string& nearest) {
  cv::Node n;
  n.name = "rs";
  n.op_type = "Resize";
  n.inputs = {"x", "", "scales"};
  n.outputs = {"y"};
  StringAttr(&n, "mode", mode);
  StringAttr(&n, "coordinate_transformation_mode", coord);
  StringAttr(&n, "nearest_mode", nearest);
  return n;
}

// ONNX's examples: nearest x2 (asymmetric, floor) repeats pixels; linear half_pixel 2x2 -> 4x4 of
// [[1, 2], [3, 4]]; linear align_corners 2x2 -> 4x4 (thirds).
TEST(ReferenceExecutor, ResizeByHand) {
  struct Case {
    const char *mode, *coord, *nearest;
    std::vector<float> want;
  };
  const Case cases[] = {
      {"nearest", "asymmetric", "floor", {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}},
      {"linear",
       "half_pixel",
       "round_prefer_floor",
       {1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f, 2.5f, 2.75f, 3.25f, 3.5f, 3, 3.25f, 3.75f,
        4}},
      {"linear",
       "align_corners",
       "round_prefer_floor",
       {1, 4 / 3.f, 5 / 3.f, 2, 5 / 3.f, 2, 7 / 3.f, 8 / 3.f, 7 / 3.f, 8 / 3.f, 3, 10 / 3.f, 3,
        10 / 3.f, 11 / 3.f, 4}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.mode) + " " + c.coord);
    cv::Graph g;
    g.inputs.push_back(cv::ValueInfo{"x", cv::kFloat, {1, 1, 2, 2}, true, {}});
    cv::Const sc;
    sc.type = cv::kFloat;
    sc.dims = {4};
    sc.f = {1, 1, 2, 2};
    g.initializers["scales"] = sc;
    g.nodes.push_back(ResizeNode(c.mode, c.coord, c.nearest));
    std::map<std::string, cv::RefTensor> v;
    std::string error;
    ASSERT_TRUE(cv::RunReference(g, {{"x", cv::RefTensor{{1, 1, 2, 2}, {1, 2, 3, 4}}}}, &v, &error))
        << error;
    EXPECT_EQ(v["y"].dims, (std::vector<int64_t>{1, 1, 4, 4}));
    ASSERT_EQ(v["y"].data.size(), c.want.size());
    for (size_t k = 0; k < c.want.size(); k++) EXPECT_NEAR(v["y"].data[k], c.want[k], 1e-6f) << k;
  }
}

}  // namespace
}  // namespace crumb
