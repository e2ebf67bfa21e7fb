// A test-only builder of .crumb models: tensors and ops as plain structs (tests may corrupt any
// field before Finish), written with FlatBufferBuilder plus a 64-byte aligned data section, as
// schema/README.md describes.
#pragma once

#include <stdint.h>

#include <string>
#include <vector>

namespace crumb_test {

enum { kFloat32 = 0, kQuant = 1 };
enum { kSigned = 0, kUnsigned = 1, kBipolar = 2, kTernary = 3 };
enum { kRuntime = 0, kDense = 1, kRowsLsb = 2, kDotN16K4 = 3, kLutW2N64 = 4, kBitserialN64 = 5 };
// schema/crumb.fbs KernelFamily and FamilySource.
enum { kFamilyAuto = 0, kFamilyScalar = 1, kFamilyLut = 2, kFamilyBitserial = 3, kFamilyDot = 4 };
enum { kSourceTable = 0, kSourceForced = 1, kSourceTuned = 2 };

struct TensorSpec {
  std::string name;
  std::vector<int32_t> shape;
  int type = kFloat32;
  int bits = 32;
  int encoding = kSigned;
  bool has_quantization = false;
  std::vector<float> scales;
  std::vector<int32_t> zero_points;
  int axis = -1;
  int32_t qmin = 0, qmax = 0;
  int layout = kRuntime;
  std::string data;          // constant bytes (non-empty => a buffer is created)
  int64_t size_delta = 0;    // added to the declared buffer size (corruption tests)
  int64_t offset_delta = 0;  // added to the buffer offset (corruption tests)
  int buffer_override = -1;  // >= 0: use this buffer index instead
  std::string spatial_mask;  // Tensor.spatial_mask bytes (empty: none)
};

struct OpSpec {
  int opcode = 0;
  int version = 1;
  std::string name;
  std::vector<int32_t> inputs, outputs;
  // Conv / pool window.
  int kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0, groups = 1;
  bool ceil_mode = false, count_include_pad = false;
  int axis = 0;
  // RESIZE (schema ResizeOptions).
  int resize_mode = 0, resize_coordinates = 0, resize_nearest = 0;
  float scale_h = 1.f, scale_w = 1.f;
  // SLICE (schema SliceOptions): one start and one step per logical axis.
  std::vector<int64_t> slice_starts, slice_steps;
  // BATCH_MATMUL (schema BatchMatMulOptions) and TRANSPOSE (schema TransposeOptions).
  float multiplier = 1.f;
  std::vector<int32_t> perm;
  // LAYER_NORM (schema LayerNormOptions); SOFTMAX uses `axis`.
  float epsilon = 0.f;
  bool has_clamp = false;
  int32_t clamp_qmin = 0, clamp_qmax = 0;
  float clamp_fmin = -__builtin_inff(), clamp_fmax = __builtin_inff();
  bool no_options = false;           // omit the options table
  bool options_type_only = false;    // keep the union's type, omit its table
  int family = kFamilyAuto;          // Operator.family
  int family_source = kSourceTable;  // Operator.family_source
};

class ModelBuilder {
 public:
  uint32_t version = 1;
  std::vector<TensorSpec> tensors;
  std::vector<OpSpec> ops;
  std::vector<int32_t> inputs, outputs;
  std::vector<std::pair<std::string, std::string>> metadata;

  int32_t Add(const TensorSpec& t) {
    tensors.push_back(t);
    return (int32_t)tensors.size() - 1;
  }
  int32_t AddFloat(const std::string& name, const std::vector<int32_t>& shape);
  // A per-tensor quantized activation with the encoding's full range.
  int32_t AddQuant(const std::string& name, const std::vector<int32_t>& shape, int bits,
                   int encoding, float scale, int32_t zero_point);
  // Conv / FC weights from codes in the logical ONNX order [cout, cin/groups, kh, kw] (or
  // [n, k]), packed ROWS_LSB (rows in (kh, kw, ci) order). Per-channel when scales.size() > 1.
  int32_t AddWeights(const std::string& name, const std::vector<int32_t>& shape, int bits,
                     int encoding, const std::vector<float>& scales,
                     const std::vector<int32_t>& zero_points, const std::vector<int32_t>& codes);
  // Repacks the ROWS_LSB weights of tensor `t` (from AddWeights) into `layout` (kRowsLsb,
  // kDotN16K4, kLutW2N64, kBitserialN64) with crumb_repack_weights, `groups` groups, and sets the
  // tensor's layout. Returns false when the packer refuses the weights.
  bool PackWeights(int32_t t, int layout, int groups = 1);
  int32_t AddFloatConst(const std::string& name, const std::vector<float>& values);
  OpSpec& AddOp(int opcode, const std::string& name, const std::vector<int32_t>& in,
                const std::vector<int32_t>& out);
  // SOFTMAX of x along logical `axis` with the converter's exp table,
  // exp_table[d] = expf(float(-d) * sx) (a constant FLOAT32 [256] added here).
  OpSpec& AddSoftmax(const std::string& name, int32_t x, int32_t y, int axis);
  // LAYER_NORM of x over its last axis; `bias` empty: absent (input -1).
  OpSpec& AddLayerNorm(const std::string& name, int32_t x, int32_t y,
                       const std::vector<float>& scale, const std::vector<float>& bias,
                       float epsilon);

  // The file bytes.
  std::string Finish() const;
};

// Encoding range at `bits`.
void CodeRange(int encoding, int bits, int32_t* lo, int32_t* hi);

// The loader tests' model: input [-1,2,4,4] f32 -> QUANTIZE x u4 -> CONV_2D 3x3 pad 1 (w 2-bit
// signed, per channel) -> y u8 -> DEQUANTIZE -> output. Tensors: 0 input, 1 x, 2 conv.weight,
// 3 conv.mul, 4 conv.add, 5 y, 6 output; ops: 0 quant, 1 conv, 2 dequant.
ModelBuilder SmallConvModel();

}  // namespace crumb_test
