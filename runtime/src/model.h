// A loaded, fully verified crumb model: the FlatBuffer read once into plain structs. Read-only
// after loading, so one model serves many interpreters on many threads.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <string>
#include <utility>
#include <vector>

#include "status.h"

namespace crumb::rt {

// Values of schema/crumb.fbs enums, mirrored so that the rest of the runtime does not need the
// generated header.
enum OpCode : int32_t {
  kOpQuantize = 0,
  kOpDequantize = 1,
  kOpConv2D = 2,
  kOpFullyConnected = 3,
  kOpAdd = 4,
  kOpMaxPool2D = 5,
  kOpAveragePool2D = 6,
  kOpGlobalAveragePool = 7,
  kOpReshape = 8,
  kOpConcat = 9,
  kOpRequantize = 10,
  kOpResize = 11,
  kOpSlice = 12,
  kOpSoftmax = 13,
  kOpLayerNorm = 14,
  kOpBatchMatMul = 15,
  kOpTranspose = 16,
  kOpMul = 17,
  kOpCustom = 1000,
};
// schema ResizeMode / ResizeCoordinates / ResizeNearest.
enum ResizeModeId : int32_t { kResizeNearest = 0, kResizeLinear = 1 };
enum ResizeCoordinatesId : int32_t {
  kResizeHalfPixel = 0,
  kResizeAsymmetric = 1,
  kResizeAlignCorners = 2,
  kResizePytorchHalfPixel = 3
};
enum ResizeNearestId : int32_t {
  kResizeRoundPreferFloor = 0,
  kResizeRoundPreferCeil = 1,
  kResizeFloor = 2,
  kResizeCeil = 3
};
enum Encoding : int32_t { kSigned = 0, kUnsigned = 1, kBipolar = 2, kTernary = 3 };
enum FamilySourceId : int32_t {
  kFamilySourceTable = 0,
  kFamilySourceForced = 1,
  kFamilySourceTuned = 2
};
enum LayoutId : int32_t {
  kLayoutRuntime = 0,
  kLayoutDense = 1,
  kLayoutRowsLsb = 2,
  kLayoutDotN16K4 = 3,
  kLayoutLutW2N64 = 4,
  kLayoutBitserialN64 = 5,
  kLayoutDwconvC64 = 6,
  kLayoutSparseB4 = 7,
};
// Weights packed for a kernel family: their size depends on the op's groups, so the op checks it.
inline bool IsFamilyLayout(int layout) {
  return layout == kLayoutDotN16K4 || layout == kLayoutLutW2N64 || layout == kLayoutBitserialN64 ||
         layout == kLayoutDwconvC64 || layout == kLayoutSparseB4;
}

const char* OpCodeName(int32_t opcode);
const char* EncodingName(int32_t encoding);
const char* LayoutName(int32_t layout);
const char* KernelFamilyName(int32_t family);

struct TensorDesc {
  std::string name;
  std::vector<int64_t> shape;  // logical (ONNX) shape; -1 only in dim 0 of activations
  bool is_float = true;        // FLOAT32, else QUANT
  int bits = 32;
  int encoding = kSigned;
  std::vector<float> scales;         // QUANT only
  std::vector<int32_t> zero_points;  // QUANT only, same length as scales
  int axis = -1;
  int32_t qmin = 0, qmax = 0;
  int layout = kLayoutRuntime;
  uint32_t buffer = 0;
  const uint8_t* data = nullptr;  // constant bytes (inside the model's memory), or null
  uint64_t data_size = 0;
  // schema Tensor.spatial_mask: H * W bytes of 0 / 1 inside the model's memory, or null. Where
  // 0, every channel holds the zero point (the producing op ensures it).
  const uint8_t* spatial_mask = nullptr;
  bool is_constant() const { return buffer != 0; }
};

struct ClampDesc {
  int32_t qmin = 0, qmax = 0;  // effective code clamp for QUANT outputs
  float fmin = -__builtin_inff(), fmax = __builtin_inff();
};

struct OpDesc {
  int32_t opcode = 0;
  int32_t version = 1;
  std::string name;
  std::vector<int32_t> inputs, outputs;
  int32_t family = 0;
  int32_t family_source = 0;  // schema FamilySource: 0 TABLE, 1 FORCED, 2 TUNED
  // Conv2D / Pool2D options.
  int32_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  int32_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0, groups = 1;
  bool ceil_mode = false, count_include_pad = false;
  int32_t axis = 0;  // Concat, Softmax (a logical axis)
  // Resize (schema ResizeOptions).
  int32_t resize_mode = kResizeNearest, resize_coordinates = kResizeHalfPixel;
  int32_t resize_nearest = kResizeRoundPreferFloor;
  float scale_h = 0.f, scale_w = 0.f;
  // Slice (schema SliceOptions): one start and one step per logical axis of the input.
  std::vector<int64_t> slice_starts, slice_steps;
  // LayerNorm (schema LayerNormOptions).
  float epsilon = 0.f;
  // BatchMatMul (schema BatchMatMulOptions): y = float(acc) * multiplier.
  float multiplier = 0.f;
  // Transpose (schema TransposeOptions): y's logical axis d is x's axis perm[d].
  std::vector<int32_t> perm;
  ClampDesc clamp;
};

class Model {
 public:
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // Maps the file read-only.
  static Status FromFile(const char* path, Model** out);
  // Uses caller memory in place when 64-byte aligned, else an aligned copy.
  static Status FromBuffer(const void* data, size_t size, Model** out);

  uint32_t version = 0;
  std::string description;
  std::vector<TensorDesc> tensors;
  std::vector<OpDesc> ops;
  std::vector<int32_t> inputs, outputs;
  std::vector<std::pair<std::string, std::string>> metadata;
  // The value of a metadata key, or null.
  const char* Metadata(const char* key) const {
    for (const auto& kv : metadata) {
      if (kv.first == key) return kv.second.c_str();
    }
    return nullptr;
  }

  // Names a tensor in messages: "tensor 3 ('conv1.weight')".
  std::string TensorLabel(int32_t index) const;
  std::string OpLabel(size_t index) const;
  const uint8_t* bytes() const { return bytes_; }
  size_t size() const { return size_; }

 private:
  Model() = default;
  Status Parse();

  const uint8_t* bytes_ = nullptr;
  size_t size_ = 0;
  void* mapping_ = nullptr;  // mmap'ed file
  size_t mapping_size_ = 0;
  void* owned_ = nullptr;  // aligned copy of an unaligned caller buffer
};

// Checks op i's input / output counts, types, constness and static shapes against
// schema/README.md's table (op_check.cc).
Status CheckOpSignature(const Model& m, size_t op_index);

// Parameter value range of an encoding at `bits` bits.
void EncodingRange(int encoding, int bits, int32_t* lo, int32_t* hi);

}  // namespace crumb::rt
