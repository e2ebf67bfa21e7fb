#include "converter/ir.h"

#include <algorithm>
#include <cstdio>
#include <set>
#include <sstream>

namespace crumb {
namespace cv {

const char* OnnxTypeName(int type) {
  switch (type) {
    case kUndefined:
      return "UNDEFINED";
    case kFloat:
      return "FLOAT";
    case kUint8:
      return "UINT8";
    case kInt8:
      return "INT8";
    case kUint16:
      return "UINT16";
    case kInt16:
      return "INT16";
    case kInt32:
      return "INT32";
    case kInt64:
      return "INT64";
    case kString:
      return "STRING";
    case kBool:
      return "BOOL";
    case kFloat16:
      return "FLOAT16";
    case kDouble:
      return "DOUBLE";
    case kUint32:
      return "UINT32";
    case kUint64:
      return "UINT64";
    case kBfloat16:
      return "BFLOAT16";
    case 17:
      return "FLOAT8E4M3FN";
    case 18:
      return "FLOAT8E4M3FNUZ";
    case 19:
      return "FLOAT8E5M2";
    case 20:
      return "FLOAT8E5M2FNUZ";
    case kUint4:
      return "UINT4";
    case kInt4:
      return "INT4";
    case 23:
      return "FLOAT4E2M1";
    case 24:
      return "FLOAT8E8M0";
    case kUint2:
      return "UINT2";
    case kInt2:
      return "INT2";
    default:
      return "UNKNOWN";
  }
}

bool IsIntegerType(int type) {
  switch (type) {
    case kUint8:
    case kInt8:
    case kUint16:
    case kInt16:
    case kInt32:
    case kInt64:
    case kUint32:
    case kUint64:
    case kUint4:
    case kInt4:
    case kUint2:
    case kInt2:
      return true;
    default:
      return false;
  }
}

bool QuantTypeRange(int type, int64_t* lo, int64_t* hi, int* bits, bool* is_signed) {
  int b = 0;
  bool s = false;
  switch (type) {
    case kUint8:
      b = 8;
      break;
    case kInt8:
      b = 8;
      s = true;
      break;
    case kUint4:
      b = 4;
      break;
    case kInt4:
      b = 4;
      s = true;
      break;
    case kUint2:
      b = 2;
      break;
    case kInt2:
      b = 2;
      s = true;
      break;
    default:
      return false;
  }
  if (bits) *bits = b;
  if (is_signed) *is_signed = s;
  if (lo) *lo = s ? -(int64_t(1) << (b - 1)) : 0;
  if (hi) *hi = s ? (int64_t(1) << (b - 1)) - 1 : (int64_t(1) << b) - 1;
  return true;
}

int64_t Const::NumElements() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

int64_t Node::AttrInt(const std::string& a, int64_t def) const {
  auto it = attrs.find(a);
  return it == attrs.end() ? def : it->second.i;
}
float Node::AttrFloat(const std::string& a, float def) const {
  auto it = attrs.find(a);
  return it == attrs.end() ? def : it->second.f;
}
std::vector<int64_t> Node::AttrInts(const std::string& a) const {
  auto it = attrs.find(a);
  return it == attrs.end() ? std::vector<int64_t>() : it->second.ints;
}
std::string Node::AttrString(const std::string& a, const std::string& def) const {
  auto it = attrs.find(a);
  return it == attrs.end() ? def : it->second.s;
}

const Const* Graph::FindConst(const std::string& v) const {
  auto it = initializers.find(v);
  return it == initializers.end() ? nullptr : &it->second;
}
bool Graph::IsGraphOutput(const std::string& v) const {
  for (const auto& o : outputs)
    if (o.name == v) return true;
  return false;
}
bool Graph::IsGraphInput(const std::string& v) const {
  for (const auto& o : inputs)
    if (o.name == v) return true;
  return false;
}
int Graph::Producer(const std::string& v) const {
  if (v.empty()) return -1;
  for (size_t n = 0; n < nodes.size(); n++)
    for (const auto& o : nodes[n].outputs)
      if (o == v) return int(n);
  return -1;
}
std::vector<int> Graph::Consumers(const std::string& v) const {
  std::vector<int> r;
  if (v.empty()) return r;
  for (size_t n = 0; n < nodes.size(); n++)
    for (const auto& i : nodes[n].inputs)
      if (i == v) {
        r.push_back(int(n));
        break;
      }
  return r;
}
void Graph::ReplaceUses(const std::string& from, const std::string& to) {
  for (auto& n : nodes)
    for (auto& i : n.inputs)
      if (i == from) i = to;
  for (auto& o : outputs)
    if (o.name == from) o.name = to;
}
void Graph::EraseNodes(const std::vector<int>& dead) {
  std::set<int> d(dead.begin(), dead.end());
  std::vector<Node> kept;
  kept.reserve(nodes.size());
  for (size_t n = 0; n < nodes.size(); n++)
    if (!d.count(int(n))) kept.push_back(std::move(nodes[n]));
  nodes = std::move(kept);
}
void Graph::DropUnusedInitializers() {
  std::set<std::string> used;
  for (const auto& n : nodes)
    for (const auto& i : n.inputs) used.insert(i);
  for (const auto& o : outputs) used.insert(o.name);
  for (auto it = initializers.begin(); it != initializers.end();) {
    if (!used.count(it->first))
      it = initializers.erase(it);
    else
      ++it;
  }
}

namespace {
std::string Floats(const std::vector<float>& v, size_t limit = 4) {
  std::ostringstream s;
  s << "[";
  for (size_t k = 0; k < v.size() && k < limit; k++) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.9g", double(v[k]));
    s << (k ? "," : "") << buf;
  }
  if (v.size() > limit) s << ",...(" << v.size() << ")";
  s << "]";
  return s.str();
}
std::string Ints(const std::vector<int64_t>& v, size_t limit = 16) {
  std::ostringstream s;
  s << "[";
  for (size_t k = 0; k < v.size() && k < limit; k++) s << (k ? "," : "") << v[k];
  if (v.size() > limit) s << ",...(" << v.size() << ")";
  s << "]";
  return s.str();
}
const char* EncName(Encoding e) {
  switch (e) {
    case Encoding::kSigned:
      return "SIGNED";
    case Encoding::kUnsigned:
      return "UNSIGNED";
    case Encoding::kBipolar:
      return "BIPOLAR";
    case Encoding::kTernary:
      return "TERNARY";
  }
  return "?";
}
}  // namespace

std::string DumpGraph(const Graph& g) {
  std::ostringstream s;
  for (const auto& in : g.inputs) s << "input " << in.name << " " << Ints(in.shape) << "\n";
  for (const auto& n : g.nodes) {
    s << n.op_type << " '" << n.name << "' (";
    for (size_t k = 0; k < n.inputs.size(); k++) s << (k ? ", " : "") << n.inputs[k];
    s << ") -> (";
    for (size_t k = 0; k < n.outputs.size(); k++) s << (k ? ", " : "") << n.outputs[k];
    s << ")";
    if (n.quant) {
      const QuantInfo& q = *n.quant;
      s << " q{" << q.tensor_name << " bits=" << q.bits << " " << EncName(q.encoding) << " ["
        << q.qmin << "," << q.qmax << "] scale=" << Floats(q.scale) << " zp=" << Ints(q.zero_point)
        << " axis=" << q.axis;
      if (q.is_const) s << " dims=" << Ints(q.dims) << " codes=" << Ints(q.codes);
      s << "}";
    }
    if (!n.post_mul.empty()) s << " bn{" << n.post_mul.size() << "}";
    if (n.clamp_lo != -std::numeric_limits<float>::infinity() ||
        n.clamp_hi != std::numeric_limits<float>::infinity())
      s << " clamp[" << n.clamp_lo << "," << n.clamp_hi << "]";
    s << "\n";
  }
  for (const auto& o : g.outputs) s << "output " << o.name << "\n";
  return s.str();
}

const char* OpCodeName(OpCode op) {
  switch (op) {
    case OpCode::kQuantize:
      return "QUANTIZE";
    case OpCode::kDequantize:
      return "DEQUANTIZE";
    case OpCode::kConv2D:
      return "CONV_2D";
    case OpCode::kFullyConnected:
      return "FULLY_CONNECTED";
    case OpCode::kAdd:
      return "ADD";
    case OpCode::kMaxPool2D:
      return "MAX_POOL_2D";
    case OpCode::kAveragePool2D:
      return "AVERAGE_POOL_2D";
    case OpCode::kGlobalAveragePool:
      return "GLOBAL_AVERAGE_POOL";
    case OpCode::kReshape:
      return "RESHAPE";
    case OpCode::kConcat:
      return "CONCAT";
    case OpCode::kRequantize:
      return "REQUANTIZE";
    case OpCode::kResize:
      return "RESIZE";
    case OpCode::kSlice:
      return "SLICE";
    case OpCode::kSoftmax:
      return "SOFTMAX";
    case OpCode::kLayerNorm:
      return "LAYER_NORM";
    case OpCode::kBatchMatMul:
      return "BATCH_MATMUL";
    case OpCode::kTranspose:
      return "TRANSPOSE";
    case OpCode::kMul:
      return "MUL";
  }
  return "?";
}

int CModel::FindTensor(const std::string& name) const {
  for (size_t t = 0; t < tensors.size(); t++)
    if (tensors[t].name == name) return int(t);
  return -1;
}

std::string DumpModel(const CModel& m) {
  std::ostringstream s;
  for (size_t t = 0; t < m.tensors.size(); t++) {
    const CTensor& x = m.tensors[t];
    s << "t" << t << " " << x.name << " " << Ints(x.shape) << " "
      << (x.type == ElemType::kFloat32 ? "FLOAT32" : "QUANT") << " bits=" << x.bits;
    if (x.type == ElemType::kQuant)
      s << " " << EncName(x.encoding) << " [" << x.qmin << "," << x.qmax
        << "] scale=" << Floats(x.scale) << " zp=" << Ints(x.zero_point) << " axis=" << x.axis;
    if (x.is_const) {
      if (x.type == ElemType::kQuant)
        s << " codes=" << Ints(x.codes);
      else
        s << " data=" << Floats(x.fdata);
    }
    if (!x.bytes.empty()) s << " bytes=" << x.bytes.size() << " layout=" << int(x.layout);
    s << "\n";
  }
  for (const auto& op : m.ops) {
    s << OpCodeName(op.opcode) << " '" << op.name << "' in=[";
    for (size_t k = 0; k < op.inputs.size(); k++) s << (k ? "," : "") << op.inputs[k];
    s << "] out=[";
    for (size_t k = 0; k < op.outputs.size(); k++) s << (k ? "," : "") << op.outputs[k];
    s << "]";
    if (op.opcode == OpCode::kConv2D || op.opcode == OpCode::kMaxPool2D ||
        op.opcode == OpCode::kAveragePool2D)
      s << " k=" << op.kernel_h << "x" << op.kernel_w << " s=" << op.stride_h << "x" << op.stride_w
        << " d=" << op.dilation_h << "x" << op.dilation_w << " pad=" << op.pad_top << ","
        << op.pad_left << "," << op.pad_bottom << "," << op.pad_right << " g=" << op.groups;
    if (op.opcode == OpCode::kConcat || op.opcode == OpCode::kSoftmax) s << " axis=" << op.axis;
    if (op.opcode == OpCode::kLayerNorm) s << " epsilon=" << op.epsilon;
    if (op.opcode == OpCode::kBatchMatMul || op.opcode == OpCode::kMul)
      s << " multiplier=" << op.multiplier;
    if (op.opcode == OpCode::kTranspose)
      s << " perm=" << Ints(std::vector<int64_t>(op.perm.begin(), op.perm.end()));
    if (op.opcode == OpCode::kResize)
      s << " mode=" << op.resize_mode << " coord=" << op.resize_coordinates
        << " nearest=" << op.resize_nearest << " scales=" << op.scale_h << "x" << op.scale_w;
    if (op.opcode == OpCode::kSlice)
      s << " starts=" << Ints(op.slice_starts) << " steps=" << Ints(op.slice_steps);
    if (op.has_clamp)
      s << " clamp=[" << op.clamp.qmin << "," << op.clamp.qmax << "|" << op.clamp.fmin << ","
        << op.clamp.fmax << "]";
    s << " family=" << int(op.family) << "\n";
  }
  s << "inputs " << Ints(std::vector<int64_t>(m.inputs.begin(), m.inputs.end())) << " outputs "
    << Ints(std::vector<int64_t>(m.outputs.begin(), m.outputs.end())) << "\n";
  return s.str();
}

FreshNames::FreshNames(const Graph& g) {
  for (const auto& kv : g.initializers) used_.insert(kv.first);
  for (const auto& in : g.inputs) used_.insert(in.name);
  for (const auto& out : g.outputs) used_.insert(out.name);
  for (const auto& n : g.nodes) {
    used_.insert(n.name);
    for (const auto& v : n.inputs) used_.insert(v);
    for (const auto& v : n.outputs) used_.insert(v);
  }
}

std::string FreshNames::Make(const std::string& base) {
  std::string name = base;
  for (int k = 1; used_.count(name); k++) name = base + "_" + std::to_string(k);
  used_.insert(name);
  return name;
}

std::string NumberText(double v) {
  std::ostringstream s;
  s.precision(9);
  s << v;
  return s.str();
}

}  // namespace cv
}  // namespace crumb
