// The converter's graph IR: an ONNX-shaped graph (nodes, named values, constant initializers) that
// the passes rewrite in place, plus the crumb-level model the lowering pass produces.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace crumb {
namespace cv {

// ONNX TensorProto element types the converter knows. Debian's ONNX 1.12 does not name the
// sub-byte types, so they are spelled here by number (onnx.proto of ONNX >= 1.20).
enum OnnxType : int {
  kUndefined = 0,
  kFloat = 1,
  kUint8 = 2,
  kInt8 = 3,
  kUint16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,
  kBool = 9,
  kFloat16 = 10,
  kDouble = 11,
  kUint32 = 12,
  kUint64 = 13,
  kBfloat16 = 16,
  kUint4 = 21,
  kInt4 = 22,
  kUint2 = 25,
  kInt2 = 26,
};

const char* OnnxTypeName(int type);
bool IsIntegerType(int type);
// Storage range and width of the ONNX integer types used as quantized codes.
bool QuantTypeRange(int type, int64_t* lo, int64_t* hi, int* bits, bool* is_signed);

// A constant tensor. Floats keep their float32 bits; integer types (including the unpacked
// sub-byte types) are widened to int64.
struct Const {
  int type = kUndefined;
  std::vector<int64_t> dims;
  std::vector<float> f;
  std::vector<int64_t> i;
  int64_t NumElements() const;
  size_t size() const { return type == kFloat ? f.size() : i.size(); }
  double at(size_t k) const { return type == kFloat ? double(f[k]) : double(i[k]); }
};

struct Attr {
  enum Kind { kInt, kFloat, kInts, kFloats, kString, kTensor, kOther } kind = kOther;
  int64_t i = 0;
  float f = 0;
  std::vector<int64_t> ints;
  std::vector<float> floats;
  std::string s;
  std::shared_ptr<Const> t;
};

// Elements of crumb.fbs that the IR needs without pulling in the generated header.
enum class Encoding { kSigned = 0, kUnsigned = 1, kBipolar = 2, kTernary = 3 };

// Quantization of one value, as recognised from QuantizeLinear / Clip / DequantizeLinear.
struct QuantInfo {
  std::vector<float> scale;  // one, or one per index of `axis`
  std::vector<int64_t> zero_point;
  int axis = -1;  // axis of per-axis parameters in the value's ONNX shape
  int bits = 8;
  Encoding encoding = Encoding::kUnsigned;
  int64_t qmin = 0, qmax = 255;  // code range the tensor may hold
  // Constant (weight) values only: the integer codes, in the ONNX order of `dims`.
  bool is_const = false;
  std::vector<int64_t> dims;
  std::vector<int64_t> codes;
  // Name of the quantized crumb tensor (the QuantizeLinear output for activations, the
  // DequantizeLinear output for weights) and of the node that produced it.
  std::string tensor_name;
  std::string q_node;   // QuantizeLinear node (activations)
  std::string dq_node;  // DequantizeLinear node
};

// Op types the recognise-quantizers pass introduces in place of ONNX quantizer chains.
constexpr const char* kFakeQuantOp = "crumb.FakeQuant";  // input: float value; output: DQ(Q(x))
constexpr const char* kQConstOp = "crumb.QConst";        // no input; output: a dequantized weight
// input: an NCHW activation; attrs mask (H * W of 0 / 1) and mask_hw {H, W}: x times the mask.
constexpr const char* kSpatialMaskOp = "crumb.SpatialMask";
// input: a per-tensor quantized activation; attr table (256 output codes, by stored input byte):
// an element-wise function of the activation, tabulated (FuseElementwiseTables).
constexpr const char* kTableOp = "crumb.Table";

struct Node {
  std::string name;
  std::string op_type;
  std::string domain;               // "" for ai.onnx
  std::vector<std::string> inputs;  // "" = absent optional input
  std::vector<std::string> outputs;
  std::map<std::string, Attr> attrs;

  // Set by the passes.
  std::shared_ptr<QuantInfo> quant;  // FakeQuant / QConst
  // Folded BatchNormalization: y = conv(x) * post_mul[o] + post_add[o] (applied after the bias).
  std::vector<double> post_mul, post_add;
  // Fused Relu / Clip on the float result.
  float clamp_lo = -std::numeric_limits<float>::infinity();
  float clamp_hi = std::numeric_limits<float>::infinity();
  std::vector<std::string> fused;  // names of nodes folded into this one

  bool HasAttr(const std::string& a) const { return attrs.count(a) != 0; }
  int64_t AttrInt(const std::string& a, int64_t def) const;
  float AttrFloat(const std::string& a, float def) const;
  std::vector<int64_t> AttrInts(const std::string& a) const;
  std::string AttrString(const std::string& a, const std::string& def) const;
  std::string Input(size_t k) const { return k < inputs.size() ? inputs[k] : std::string(); }
};

struct ValueInfo {
  std::string name;
  int type = kUndefined;
  std::vector<int64_t> shape;  // -1 = dynamic (dim_param or unknown)
  bool has_shape = false;
  std::vector<std::string> dim_params;  // "" where the dim is a value
};

struct Graph {
  std::string name;
  int64_t opset = 0;  // ai.onnx opset
  std::vector<Node> nodes;
  std::map<std::string, Const> initializers;
  std::vector<ValueInfo> inputs;  // graph inputs that are not initializers
  std::vector<ValueInfo> outputs;
  std::set<std::string> undecodable;  // initializers the import refused (already reported)

  const Const* FindConst(const std::string& v) const;
  bool IsGraphOutput(const std::string& v) const;
  bool IsGraphInput(const std::string& v) const;
  // Index of the node producing `v`, or -1.
  int Producer(const std::string& v) const;
  // Indices of the nodes reading `v`.
  std::vector<int> Consumers(const std::string& v) const;
  // Replaces every read of `from` (node inputs and graph outputs) by `to`.
  void ReplaceUses(const std::string& from, const std::string& to);
  // Drops the nodes whose index is in `dead`, keeping order.
  void EraseNodes(const std::vector<int>& dead);
  // Removes initializers no node reads.
  void DropUnusedInitializers();
};

// Names for the values and nodes a pass adds, unused by anything in the graph it was made from.
class FreshNames {
 public:
  explicit FreshNames(const Graph& g);
  // `base`, or `base_1`, `base_2`, ... : the first name not yet used.
  std::string Make(const std::string& base);

 private:
  std::set<std::string> used_;
};

// A float attribute or constant in a message, to 9 significant digits.
std::string NumberText(double v);

// Text form of a graph for golden tests and debugging: one line per node, quantizer annotations
// included, deterministic.
std::string DumpGraph(const Graph& g);

// --------------------------------------------------------------------------- crumb-level model

enum class ElemType { kFloat32 = 0, kQuant = 1 };
// Values of crumb.fbs Layout and KernelFamily (the writer casts them).
enum class Layout {
  kRuntime = 0,
  kDense = 1,
  kRowsLsb = 2,
  kDotN16K4 = 3,
  kLutW2N64 = 4,
  kBitserialN64 = 5,
  kDwconvC64 = 6,
  kSparseB4 = 7
};
enum class KernelFamily {
  kAuto = 0,
  kScalar = 1,
  kLut = 2,
  kBitserial = 3,
  kDot = 4,
  kDwconv = 5,
  kSparse = 6,
  kXnnpack = 7  // float layers (CONV_2D / FULLY_CONNECTED version 2): XNNPACK's fp32 operators
};
// crumb-convert --sparse: the block-sparsity rule (auto), every layer the sparse kernels can run
// (on), none (off).
enum class SparseMode { kAuto = 0, kOn = 1, kOff = 2 };
enum class FamilySource { kTable = 0, kForced = 1, kTuned = 2 };
// Values of crumb.fbs OpCode.
enum class OpCode : int {
  kQuantize = 0,
  kDequantize = 1,
  kConv2D = 2,
  kFullyConnected = 3,
  kAdd = 4,
  kMaxPool2D = 5,
  kAveragePool2D = 6,
  kGlobalAveragePool = 7,
  kReshape = 8,
  kConcat = 9,
  kRequantize = 10,
  kResize = 11,
  kSlice = 12,
  kSoftmax = 13,
  kLayerNorm = 14,
  kBatchMatMul = 15,
  kTranspose = 16,
  kMul = 17,
};
const char* OpCodeName(OpCode op);

struct CTensor {
  std::string name;
  std::vector<int64_t> shape;  // logical ONNX shape; -1 = dynamic batch
  ElemType type = ElemType::kFloat32;
  int bits = 32;
  Encoding encoding = Encoding::kSigned;
  bool has_quant = false;
  std::vector<float> scale;
  std::vector<int64_t> zero_point;
  int axis = -1;
  int64_t qmin = 0, qmax = 0;
  // Constant data before packing: codes (QUANT, logical ONNX order) or floats (FLOAT32).
  bool is_const = false;
  std::vector<int64_t> codes;
  std::vector<float> fdata;
  // After packing: the bytes of the tensor's buffer and their layout.
  Layout layout = Layout::kRuntime;
  std::vector<uint8_t> bytes;
  // H * W bytes of 0 / 1 (schema Tensor.spatial_mask): masked pixels hold the zero point.
  std::vector<uint8_t> spatial_mask;
};

struct CClamp {
  int64_t qmin = 0, qmax = 0;
  float fmin = -std::numeric_limits<float>::infinity();
  float fmax = std::numeric_limits<float>::infinity();
};

struct COp {
  OpCode opcode = OpCode::kQuantize;
  int version = 1;
  std::string name;
  std::vector<int> inputs, outputs;
  KernelFamily family = KernelFamily::kAuto;
  FamilySource family_source = FamilySource::kTable;
  bool has_clamp = false;
  CClamp clamp;
  // Conv / pool geometry.
  int kernel_h = 0, kernel_w = 0, stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int groups = 1;
  bool ceil_mode = false, count_include_pad = false;
  int axis = 0;  // CONCAT
  // RESIZE: schema ResizeMode / ResizeCoordinates / ResizeNearest values and ONNX's H, W scales.
  int resize_mode = 0, resize_coordinates = 0, resize_nearest = 0;
  float scale_h = 1.f, scale_w = 1.f;
  std::vector<int64_t> slice_starts, slice_steps;  // SLICE: per logical axis
  float epsilon = 0.f;                             // LAYER_NORM
  float multiplier = 1.f;                          // BATCH_MATMUL
  std::vector<int32_t> perm;                       // TRANSPOSE
  std::string bits_label;                          // "wXaY" for the metadata of Conv / FC
};

struct CModel {
  std::string description;
  std::vector<CTensor> tensors;
  std::vector<COp> ops;
  std::vector<int> inputs, outputs;
  std::vector<std::pair<std::string, std::string>> metadata;

  int FindTensor(const std::string& name) const;
};

std::string DumpModel(const CModel& m);

}  // namespace cv
}  // namespace crumb
