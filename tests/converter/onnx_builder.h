// Builds small ONNX models in C++ (protobuf API) for the converter's golden tests.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "onnx/onnx_pb.h"

namespace crumb {
namespace testing {

class OnnxBuilder {
 public:
  explicit OnnxBuilder(int opset = 13) {
    model_.set_ir_version(opset >= 25 ? 13 : (opset >= 21 ? 10 : 7));
    auto* op = model_.add_opset_import();
    op->set_domain("");
    op->set_version(opset);
    model_.mutable_graph()->set_name("test");
  }

  onnx::ModelProto& model() { return model_; }
  onnx::GraphProto* graph() { return model_.mutable_graph(); }
  std::string Bytes() const { return model_.SerializeAsString(); }

  // dims: -1 becomes the dim_param "N".
  void Input(const std::string& name, const std::vector<int64_t>& dims, int type = 1) {
    auto* v = graph()->add_input();
    v->set_name(name);
    auto* tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(type);
    auto* shape = tt->mutable_shape();
    for (int64_t d : dims) {
      auto* dim = shape->add_dim();
      if (d < 0)
        dim->set_dim_param("N");
      else
        dim->set_dim_value(d);
    }
  }
  void Output(const std::string& name, int type = 1) {
    auto* v = graph()->add_output();
    v->set_name(name);
    v->mutable_type()->mutable_tensor_type()->set_elem_type(type);
  }

  static void FillFloat(onnx::TensorProto* t, const std::vector<int64_t>& dims,
                        const std::vector<float>& values) {
    t->set_data_type(1);
    for (int64_t d : dims) t->add_dims(d);
    t->set_raw_data(
        std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
  }
  // Integer tensors as raw_data; the sub-byte types packed LSB first.
  static void FillInt(onnx::TensorProto* t, int type, const std::vector<int64_t>& dims,
                      const std::vector<int64_t>& values) {
    t->set_data_type(type);
    for (int64_t d : dims) t->add_dims(d);
    std::string raw;
    const int bits = (type == 21 || type == 22) ? 4 : (type == 25 || type == 26) ? 2 : 0;
    if (bits) {
      const size_t per = 8 / size_t(bits);
      raw.assign((values.size() + per - 1) / per, '\0');
      for (size_t k = 0; k < values.size(); k++)
        raw[k / per] = char(uint8_t(raw[k / per]) |
                            ((uint64_t(values[k]) & ((1u << bits) - 1)) << ((k % per) * bits)));
    } else {
      const size_t w = (type == 2 || type == 3)   ? 1
                       : (type == 4 || type == 5) ? 2
                                                  : (type == 6 ? 4 : 8);
      for (int64_t v : values) raw.append(reinterpret_cast<const char*>(&v), w);
    }
    t->set_raw_data(raw);
  }

  void InitF(const std::string& name, const std::vector<int64_t>& dims,
             const std::vector<float>& values) {
    auto* t = graph()->add_initializer();
    t->set_name(name);
    FillFloat(t, dims, values);
  }
  void InitI(const std::string& name, int type, const std::vector<int64_t>& dims,
             const std::vector<int64_t>& values) {
    auto* t = graph()->add_initializer();
    t->set_name(name);
    FillInt(t, type, dims, values);
  }

  onnx::NodeProto* Node(const std::string& op, const std::string& name,
                        const std::vector<std::string>& inputs,
                        const std::vector<std::string>& outputs, const std::string& domain = "") {
    auto* n = graph()->add_node();
    n->set_op_type(op);
    n->set_name(name);
    if (!domain.empty()) n->set_domain(domain);
    for (const auto& i : inputs) n->add_input(i);
    for (const auto& o : outputs) n->add_output(o);
    return n;
  }

  static void AttrI(onnx::NodeProto* n, const std::string& name, int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void AttrF(onnx::NodeProto* n, const std::string& name, float v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }
  static void AttrInts(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  static void AttrS(onnx::NodeProto* n, const std::string& name, const std::string& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(v);
  }
  static onnx::TensorProto* AttrT(onnx::NodeProto* n, const std::string& name) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::TENSOR);
    return a->mutable_t();
  }

 private:
  onnx::ModelProto model_;
};

}  // namespace testing
}  // namespace crumb
