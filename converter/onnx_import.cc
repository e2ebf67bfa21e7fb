#include "converter/onnx_import.h"

#include <cstring>

#include "onnx/onnx_pb.h"

namespace crumb {
namespace cv {

namespace {

// Element count of a tensor, or -1 when a dimension is negative or the product overflows.
int64_t CountElements(const onnx::TensorProto& t) {
  int64_t n = 1;
  for (int64_t d : t.dims()) {
    if (d < 0) return -1;
    if (d != 0 && n > (int64_t(1) << 40) / d) return -1;
    n *= d;
  }
  return n;
}

template <typename T>
T ReadLE(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));  // the converter is host-only, and hosts are little-endian
  return v;
}

// Sub-byte codes: `per_byte` elements per byte, first element in the least-significant bits.
bool UnpackSubByte(const std::string& bytes, int64_t n, int bits, bool is_signed,
                   std::vector<int64_t>* out, std::string* error) {
  const int per_byte = 8 / bits;
  const int64_t need = (n + per_byte - 1) / per_byte;
  if (int64_t(bytes.size()) != need) {
    *error = "holds " + std::to_string(bytes.size()) + " bytes, expected " + std::to_string(need) +
             " for " + std::to_string(n) + " packed " + std::to_string(bits) + "-bit elements";
    return false;
  }
  out->resize(size_t(n));
  const unsigned mask = (1u << bits) - 1u;
  for (int64_t k = 0; k < n; k++) {
    unsigned code = (uint8_t(bytes[size_t(k / per_byte)]) >> ((k % per_byte) * bits)) & mask;
    int64_t v = code;
    if (is_signed && (code >> (bits - 1))) v -= int64_t(1) << bits;
    (*out)[size_t(k)] = v;
  }
  return true;
}

}  // namespace

bool ExternalPathIsSafe(const std::string& location) {
  if (location.empty() || location[0] == '/' || location[0] == '\\') return false;
  if (location.size() > 1 && location[1] == ':') return false;  // a Windows drive
  size_t start = 0;
  while (start <= location.size()) {
    size_t end = location.find_first_of("/\\", start);
    if (end == std::string::npos) end = location.size();
    if (location.compare(start, end - start, "..") == 0) return false;
    start = end + 1;
  }
  return true;
}

bool DecodeTensor(const onnx::TensorProto& t, Const* out, std::string* error) {
  out->type = t.data_type();
  out->dims.assign(t.dims().begin(), t.dims().end());
  out->f.clear();
  out->i.clear();
  if ((t.has_data_location() && t.data_location() == onnx::TensorProto::EXTERNAL) ||
      t.external_data_size() > 0) {
    std::string location;
    for (const auto& kv : t.external_data())
      if (kv.key() == "location") location = kv.value();
    if (!ExternalPathIsSafe(location)) {
      *error = "refers to external data at '" + location +
               "': an absolute path or one with '..' leaves the model's folder and is refused";
    } else {
      *error = "uses external data ('" + location +
               "'), which is not supported (save the model with its data inside)";
    }
    return false;
  }
  const int64_t n = CountElements(t);
  if (n < 0) {
    *error = "has an invalid shape";
    return false;
  }
  const bool raw = t.has_raw_data();
  const std::string& rd = t.raw_data();
  auto size_error = [&](size_t have) {
    *error = "holds " + std::to_string(have) + " values, expected " + std::to_string(n);
    return false;
  };
  switch (t.data_type()) {
    case kFloat:
      if (raw) {
        if (int64_t(rd.size()) != n * 4) return size_error(rd.size() / 4);
        out->f.resize(size_t(n));
        for (int64_t k = 0; k < n; k++) out->f[size_t(k)] = ReadLE<float>(rd.data() + 4 * k);
      } else {
        if (t.float_data_size() != n) return size_error(size_t(t.float_data_size()));
        out->f.assign(t.float_data().begin(), t.float_data().end());
      }
      return true;
    case kUint8:
    case kInt8:
    case kUint16:
    case kInt16:
    case kInt32: {
      const int width = t.data_type() == kInt32 ? 4 : (t.data_type() <= kInt8 ? 1 : 2);
      // Sizes first: the declared shape alone must not decide an allocation (found by
      // fuzz_onnx_import: a 4 GB vector for a shape its data did not have).
      if (raw && int64_t(rd.size()) != n * width) return size_error(rd.size() / size_t(width));
      if (!raw && t.int32_data_size() != n) return size_error(size_t(t.int32_data_size()));
      out->i.resize(size_t(n));
      if (raw) {
        for (int64_t k = 0; k < n; k++) {
          const char* p = rd.data() + width * k;
          int64_t v = 0;
          switch (t.data_type()) {
            case kUint8:
              v = uint8_t(*p);
              break;
            case kInt8:
              v = int8_t(*p);
              break;
            case kUint16:
              v = ReadLE<uint16_t>(p);
              break;
            case kInt16:
              v = ReadLE<int16_t>(p);
              break;
            default:
              v = ReadLE<int32_t>(p);
              break;
          }
          out->i[size_t(k)] = v;
        }
      } else {
        for (int64_t k = 0; k < n; k++) {
          int64_t v = t.int32_data(int(k));
          // int32_data holds the bit pattern widened to int32; narrow it back.
          switch (t.data_type()) {
            case kUint8:
              v = uint8_t(v);
              break;
            case kInt8:
              v = int8_t(v);
              break;
            case kUint16:
              v = uint16_t(v);
              break;
            case kInt16:
              v = int16_t(v);
              break;
            default:
              break;
          }
          out->i[size_t(k)] = v;
        }
      }
      return true;
    }
    case kInt64:
      if (raw) {
        if (int64_t(rd.size()) != n * 8) return size_error(rd.size() / 8);
        out->i.resize(size_t(n));
        for (int64_t k = 0; k < n; k++) out->i[size_t(k)] = ReadLE<int64_t>(rd.data() + 8 * k);
      } else {
        if (t.int64_data_size() != n) return size_error(size_t(t.int64_data_size()));
        out->i.assign(t.int64_data().begin(), t.int64_data().end());
      }
      return true;
    case kUint4:
    case kInt4:
    case kUint2:
    case kInt2: {
      const int bits = (t.data_type() == kUint4 || t.data_type() == kInt4) ? 4 : 2;
      const bool is_signed = t.data_type() == kInt4 || t.data_type() == kInt2;
      std::string bytes;
      if (raw) {
        bytes = rd;
      } else {
        // Without raw_data ONNX stores one packed byte per int32_data entry.
        for (int32_t v : t.int32_data()) bytes.push_back(char(uint8_t(v)));
      }
      return UnpackSubByte(bytes, n, bits, is_signed, &out->i, error);
    }
    default:
      *error = std::string("has unsupported data type ") + OnnxTypeName(t.data_type());
      return false;
  }
}

namespace {

void ImportValueInfo(const onnx::ValueInfoProto& v, ValueInfo* out) {
  out->name = v.name();
  if (!v.has_type() || !v.type().has_tensor_type()) return;
  const auto& tt = v.type().tensor_type();
  out->type = tt.elem_type();
  if (!tt.has_shape()) return;
  out->has_shape = true;
  for (const auto& d : tt.shape().dim()) {
    if (d.has_dim_value()) {
      out->shape.push_back(d.dim_value());
      out->dim_params.push_back("");
    } else {
      out->shape.push_back(-1);
      out->dim_params.push_back(d.has_dim_param() ? d.dim_param() : "?");
    }
  }
}

}  // namespace

void ImportModel(const onnx::ModelProto& model, Graph* g, Diagnostics* diag) {
  const onnx::GraphProto& gp = model.graph();
  g->name = gp.name();
  for (const auto& op : model.opset_import())
    if (op.domain().empty() || op.domain() == "ai.onnx") g->opset = op.version();

  for (const auto& t : gp.initializer()) {
    Const c;
    std::string err;
    if (!DecodeTensor(t, &c, &err)) {
      diag->Add("initializer '" + t.name() + "' " + err);
      g->undecodable.insert(t.name());
      continue;
    }
    g->initializers[t.name()] = std::move(c);
  }
  for (const auto& t : gp.sparse_initializer())
    diag->Add("sparse initializer '" + t.values().name() + "' is not supported");

  for (const auto& v : gp.input()) {
    if (g->initializers.count(v.name())) continue;  // old exporters list initializers as inputs
    ValueInfo vi;
    ImportValueInfo(v, &vi);
    g->inputs.push_back(vi);
  }
  for (const auto& v : gp.output()) {
    ValueInfo vi;
    ImportValueInfo(v, &vi);
    g->outputs.push_back(vi);
  }

  for (int k = 0; k < gp.node_size(); k++) {
    const onnx::NodeProto& np = gp.node(k);
    Node n;
    n.op_type = np.op_type();
    n.domain = np.domain() == "ai.onnx" ? "" : np.domain();
    n.inputs.assign(np.input().begin(), np.input().end());
    n.outputs.assign(np.output().begin(), np.output().end());
    // Errors and the crumb op names use the node name; give unnamed nodes a stable one.
    n.name = np.name().empty()
                 ? n.op_type + "(" + (n.outputs.empty() ? std::to_string(k) : n.outputs[0]) + ")"
                 : np.name();
    for (const auto& a : np.attribute()) {
      Attr at;
      switch (a.type()) {
        case onnx::AttributeProto::INT:
          at.kind = Attr::kInt;
          at.i = a.i();
          break;
        case onnx::AttributeProto::FLOAT:
          at.kind = Attr::kFloat;
          at.f = a.f();
          break;
        case onnx::AttributeProto::INTS:
          at.kind = Attr::kInts;
          at.ints.assign(a.ints().begin(), a.ints().end());
          break;
        case onnx::AttributeProto::FLOATS:
          at.kind = Attr::kFloats;
          at.floats.assign(a.floats().begin(), a.floats().end());
          break;
        case onnx::AttributeProto::STRING:
          at.kind = Attr::kString;
          at.s = a.s();
          break;
        case onnx::AttributeProto::TENSOR: {
          at.kind = Attr::kTensor;
          at.t = std::make_shared<Const>();
          std::string err;
          if (!DecodeTensor(a.t(), at.t.get(), &err)) {
            diag->AddNode(n, "attribute '" + a.name() + "' " + err);
            at.t.reset();
          }
          break;
        }
        default:
          at.kind = Attr::kOther;
          break;
      }
      n.attrs[a.name()] = std::move(at);
    }
    // Every op the converter knows has a required first output, and the passes read it; a node
    // without one is reported here and kept out of the graph (found by fuzz_onnx_import).
    if (n.outputs.empty() || n.outputs[0].empty()) {
      diag->AddNode(n, "has no first output; every node must name the value it writes");
      continue;
    }
    g->nodes.push_back(std::move(n));
  }
}

}  // namespace cv
}  // namespace crumb
