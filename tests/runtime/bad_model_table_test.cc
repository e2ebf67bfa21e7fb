// Issue 8's table of bad inputs through the C API: one row per class of malformed model (built
// with ModelBuilder and broken in one place) or bad call, each asserting the status code and a
// fragment of the message. A row passes only if nothing crashes, no kernel runs on a refused
// model, and the message names what is wrong.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "crumb/crumb.h"
#include "model_builder.h"

namespace crumb_test {
namespace {

// A quantized model input: xq [1,2,4,4] u4 -> MAX_POOL_2D 2x2 stride 2 -> p u4 -> DEQUANTIZE.
ModelBuilder PoolModel() {
  ModelBuilder mb;
  const int32_t x = mb.AddQuant("xq", {1, 2, 4, 4}, 4, kUnsigned, 0.1f, 0);
  const int32_t p = mb.AddQuant("p", {1, 2, 2, 2}, 4, kUnsigned, 0.1f, 0);
  const int32_t z = mb.AddFloat("out", {1, 2, 2, 2});
  OpSpec& pool = mb.AddOp(5, "pool", {x}, {p});
  pool.kernel_h = pool.kernel_w = pool.stride_h = pool.stride_w = 2;
  mb.AddOp(1, "dequant", {p}, {z});
  mb.inputs = {x};
  mb.outputs = {z};
  return mb;
}

// input [-1,2,4,4] f32 -> QUANTIZE u8 -> DEQUANTIZE -> output: nothing but activations.
ModelBuilder QdqModel() {
  ModelBuilder mb;
  const int32_t in = mb.AddFloat("input", {-1, 2, 4, 4});
  const int32_t x = mb.AddQuant("x", {-1, 2, 4, 4}, 8, kUnsigned, 0.1f, 2);
  const int32_t z = mb.AddFloat("output", {-1, 2, 4, 4});
  mb.AddOp(0, "quant", {in}, {x});
  mb.AddOp(1, "dequant", {x}, {z});
  mb.inputs = {in};
  mb.outputs = {z};
  return mb;
}

// xq [1,2,4,4] u4 -> RESIZE nearest x2 -> r [1,2,8,8] u4 -> DEQUANTIZE.
ModelBuilder ResizeModel() {
  ModelBuilder mb;
  const int32_t x = mb.AddQuant("xq", {1, 2, 4, 4}, 4, kUnsigned, 0.1f, 0);
  const int32_t r = mb.AddQuant("r", {1, 2, 8, 8}, 4, kUnsigned, 0.1f, 0);
  const int32_t z = mb.AddFloat("out", {1, 2, 8, 8});
  OpSpec& op = mb.AddOp(11, "resize", {x}, {r});
  op.scale_h = op.scale_w = 2.f;
  mb.AddOp(1, "dequant", {r}, {z});
  mb.inputs = {x};
  mb.outputs = {z};
  return mb;
}

// xq [1,4,6,6] u4 -> SLICE starts {0,1,0,2} steps {1,2,2,1} -> s [1,2,3,4] u4 -> DEQUANTIZE.
ModelBuilder SliceModel() {
  ModelBuilder mb;
  const int32_t x = mb.AddQuant("xq", {1, 4, 6, 6}, 4, kUnsigned, 0.1f, 0);
  const int32_t s = mb.AddQuant("s", {1, 2, 3, 4}, 4, kUnsigned, 0.1f, 0);
  const int32_t z = mb.AddFloat("out", {1, 2, 3, 4});
  OpSpec& op = mb.AddOp(12, "slice", {x}, {s});
  op.slice_starts = {0, 1, 0, 2};
  op.slice_steps = {1, 2, 2, 1};
  mb.AddOp(1, "dequant", {s}, {z});
  mb.inputs = {x};
  mb.outputs = {z};
  return mb;
}

// xq [2,3,5] s8 -> SOFTMAX axis 2 (exp table: tensor 3) -> p [2,3,5] u8 -> DEQUANTIZE.
ModelBuilder SoftmaxModel() {
  ModelBuilder mb;
  const int32_t x = mb.AddQuant("xq", {2, 3, 5}, 8, kSigned, 0.1f, 0);
  const int32_t p = mb.AddQuant("p", {2, 3, 5}, 8, kUnsigned, 1.f / 256.f, 0);
  const int32_t z = mb.AddFloat("out", {2, 3, 5});
  mb.AddSoftmax("softmax", x, p, 2);
  mb.AddOp(1, "dequant", {p}, {z});
  mb.inputs = {x};
  mb.outputs = {z};
  return mb;
}

// xq [2,4] u8 -> LAYER_NORM (scale: tensor 3, bias: tensor 4) -> n [2,4] s8 -> DEQUANTIZE.
ModelBuilder LayerNormModel() {
  ModelBuilder mb;
  const int32_t x = mb.AddQuant("xq", {2, 4}, 8, kUnsigned, 0.1f, 128);
  const int32_t n = mb.AddQuant("n", {2, 4}, 8, kSigned, 0.05f, 0);
  const int32_t z = mb.AddFloat("out", {2, 4});
  mb.AddLayerNorm("ln", x, n, {1.f, 1.f, 0.5f, 2.f}, {0.f, 0.1f, 0.2f, 0.3f}, 1e-5f);
  mb.AddOp(1, "dequant", {n}, {z});
  mb.inputs = {x};
  mb.outputs = {z};
  return mb;
}

// Overwrites float `i` of constant tensor t's data.
void SetConstFloat(ModelBuilder& m, int32_t t, size_t i, float v) {
  memcpy(&m.tensors[t].data[i * sizeof(float)], &v, sizeof v);
}

// a [2,5,7] s8, b [2,7,3] u4 (model inputs) -> BATCH_MATMUL -> y [2,5,3] s8 -> DEQUANTIZE.
ModelBuilder BatchMatMulModel() {
  ModelBuilder mb;
  const int32_t a = mb.AddQuant("a", {2, 5, 7}, 8, kSigned, 0.1f, 0);
  const int32_t b = mb.AddQuant("b", {2, 7, 3}, 4, kUnsigned, 0.2f, 8);
  const int32_t y = mb.AddQuant("y", {2, 5, 3}, 8, kSigned, 0.5f, 0);
  const int32_t z = mb.AddFloat("out", {2, 5, 3});
  mb.AddOp(15, "bmm", {a, b}, {y}).multiplier = 0.04f;
  mb.AddOp(1, "dequant", {y}, {z});
  mb.inputs = {a, b};
  mb.outputs = {z};
  return mb;
}

// xq [1,2,3,4] u8 -> TRANSPOSE perm {0,2,3,1} -> t [1,3,4,2] u8 -> DEQUANTIZE.
ModelBuilder TransposeModel() {
  ModelBuilder mb;
  const int32_t x = mb.AddQuant("xq", {1, 2, 3, 4}, 8, kUnsigned, 0.1f, 128);
  const int32_t t = mb.AddQuant("t", {1, 3, 4, 2}, 8, kUnsigned, 0.1f, 128);
  const int32_t z = mb.AddFloat("out", {1, 3, 4, 2});
  mb.AddOp(16, "transpose", {x}, {t}).perm = {0, 2, 3, 1};
  mb.AddOp(1, "dequant", {t}, {z});
  mb.inputs = {x};
  mb.outputs = {z};
  return mb;
}

// a [2,4,3,3] s8 * g [2,4,1,1] u8 (model inputs) -> MUL -> y [2,4,3,3] s8 -> DEQUANTIZE.
ModelBuilder MulModel() {
  ModelBuilder mb;
  const int32_t a = mb.AddQuant("a", {2, 4, 3, 3}, 8, kSigned, 0.1f, 0);
  const int32_t g = mb.AddQuant("g", {2, 4, 1, 1}, 8, kUnsigned, 1.f / 256.f, 0);
  const int32_t y = mb.AddQuant("y", {2, 4, 3, 3}, 8, kSigned, 0.1f, 0);
  const int32_t z = mb.AddFloat("out", {2, 4, 3, 3});
  mb.AddOp(17, "mul", {a, g}, {y}).multiplier = 1.f / 256.f;
  mb.AddOp(1, "dequant", {y}, {z});
  mb.inputs = {a, g};
  mb.outputs = {z};
  return mb;
}

// A float layer: x [1,4,5,5] f32 -> CONV_2D version 2 3x3 pad 1 (w f32 [3,4,3,3], bias [3]) ->
// y [1,3,5,5] f32. Tensors: 0 x, 1 w, 2 bias, 3 y.
ModelBuilder FloatConvModel() {
  ModelBuilder mb;
  const int32_t x = mb.AddFloat("x", {1, 4, 5, 5});
  TensorSpec w;
  w.name = "w";
  w.shape = {3, 4, 3, 3};
  w.layout = kDense;
  w.data.assign(3 * 4 * 9 * sizeof(float), '\0');
  const int32_t wt = mb.Add(w);
  const int32_t b = mb.AddFloatConst("bias", {0.f, 1.f, 2.f});
  const int32_t y = mb.AddFloat("y", {1, 3, 5, 5});
  OpSpec& op = mb.AddOp(2, "fconv", {x, wt, b}, {y});
  op.version = 2;
  op.kernel_h = op.kernel_w = 3;
  op.pad_top = op.pad_left = op.pad_bottom = op.pad_right = 1;
  mb.inputs = {x};
  mb.outputs = {y};
  return mb;
}

// A per-tensor signed 8-bit tensor (scale 0.1, zero point 0), to put where a FLOAT32 one belongs.
TensorSpec Int8Spec(const std::string& name, const std::vector<int32_t>& shape) {
  TensorSpec t;
  t.name = name;
  t.shape = shape;
  t.type = kQuant;
  t.bits = 8;
  t.has_quantization = true;
  t.scales = {0.1f};
  t.zero_points = {0};
  t.qmin = -128;
  t.qmax = 127;
  return t;
}

// A float softmax: x [2,5] f32 -> SOFTMAX version 2 along axis 1 -> y [2,5] f32.
ModelBuilder FloatSoftmaxModel() {
  ModelBuilder mb;
  const int32_t x = mb.AddFloat("x", {2, 5});
  const int32_t y = mb.AddFloat("y", {2, 5});
  OpSpec& op = mb.AddOp(13, "fsoftmax", {x}, {y});
  op.version = 2;
  op.axis = 1;
  mb.inputs = {x};
  mb.outputs = {y};
  return mb;
}

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

// A model broken at load.
struct LoadRow {
  const char* what;
  std::function<ModelBuilder()> base;
  std::function<void(ModelBuilder&)> mutate;
  std::function<void(std::string&)> patch;  // on the finished bytes, or null
  crumb_status status;
  const char* fragment;
};

std::vector<LoadRow> LoadRows() {
  auto M = [](std::function<void(ModelBuilder&)> f) { return f; };
  const auto conv = SmallConvModel, pool = PoolModel, resize = ResizeModel, slice = SliceModel;
  const auto bmm = BatchMatMulModel, transpose = TransposeModel, mul = MulModel;
  const auto softmax = SoftmaxModel, layer_norm = LayerNormModel, fconv = FloatConvModel;
  const auto fsoftmax = FloatSoftmaxModel;
  const crumb_status kInvalid = CRUMB_ERROR_INVALID_MODEL, kUnsup = CRUMB_ERROR_UNSUPPORTED;
  return {
      // The container.
      {"too short", conv, nullptr, [](std::string& b) { b.resize(6); }, kInvalid, "too short"},
      {"wrong file identifier", conv, nullptr, [](std::string& b) { b.replace(4, 4, "XXXX"); },
       kInvalid, "expected 'CRMB'"},
      {"truncated FlatBuffer", conv, nullptr, [](std::string& b) { b.resize(b.size() / 3); },
       kInvalid, "failed verification"},
      {"newer format version", conv, M([](ModelBuilder& m) { m.version = 2; }), nullptr, kUnsup,
       "reads versions up to 1"},
      {"format version 0", conv, M([](ModelBuilder& m) { m.version = 0; }), nullptr, kInvalid,
       "version 0"},
      // Indices.
      {"op input index out of range", conv, M([](ModelBuilder& m) { m.ops[1].inputs[0] = 1000; }),
       nullptr, kInvalid, "Op 1 (CONV_2D 'conv'): input 0 refers to tensor 1000"},
      {"op input -1 where required", conv, M([](ModelBuilder& m) { m.ops[1].inputs[1] = -1; }),
       nullptr, kInvalid, "input 1 is absent but required"},
      {"op output index out of range", conv, M([](ModelBuilder& m) { m.ops[0].outputs[0] = 99; }),
       nullptr, kInvalid, "output 0 refers to tensor 99"},
      {"model input index out of range", conv, M([](ModelBuilder& m) { m.inputs = {-2}; }), nullptr,
       kInvalid, "Model input refers to tensor -2"},
      {"model output index out of range", conv, M([](ModelBuilder& m) { m.outputs = {7}; }),
       nullptr, kInvalid, "Model output refers to tensor 7"},
      {"buffer index out of range", conv,
       M([](ModelBuilder& m) { m.tensors[2].buffer_override = 77; }), nullptr, kInvalid,
       "'conv.weight') refers to buffer 77"},
      // Shapes.
      {"negative dimension", conv, M([](ModelBuilder& m) { m.tensors[5].shape[1] = -3; }), nullptr,
       kInvalid, "Tensor 5 ('y') has dimension 1 of size -3"},
      {"-1 outside the batch dimension", conv,
       M([](ModelBuilder& m) { m.tensors[5].shape[2] = -1; }), nullptr, kInvalid,
       "-1 only for the batch dimension"},
      {"-1 in a constant", conv, M([](ModelBuilder& m) { m.tensors[2].shape[0] = -1; }), nullptr,
       kInvalid, "'conv.weight') has dimension 0 of size -1"},
      {"zero-size dimension", conv, M([](ModelBuilder& m) { m.tensors[1].shape[3] = 0; }), nullptr,
       kInvalid, "dimension 3 of size 0"},
      {"shape product overflows", conv, M([](ModelBuilder& m) {
         m.tensors[0].shape = {1 << 30, 1 << 30, 1 << 30, 1 << 30};
         m.tensors[1].shape = m.tensors[0].shape;
       }),
       nullptr, kInvalid, "the shape's product overflows"},
      {"rank above 8", conv,
       M([](ModelBuilder& m) { m.tensors[6].shape = {1, 1, 1, 1, 1, 1, 1, 1, 1}; }), nullptr,
       kInvalid, "has rank 9; at most 8"},
      // Buffers and the data section.
      {"buffer one byte short of its bits", conv,
       M([](ModelBuilder& m) { m.tensors[2].size_delta = -1; }), nullptr, kInvalid,
       "needs exactly"},
      {"more bits declared than packed", conv, M([](ModelBuilder& m) {
         m.tensors[2].bits = 3;
         m.tensors[2].qmin = -4, m.tensors[2].qmax = 3;
       }),
       nullptr, kInvalid, "3-bit ROWS_LSB data of shape needs exactly"},
      {"buffer past the end of the file", conv,
       M([](ModelBuilder& m) { m.tensors[4].size_delta = 1 << 20; }), nullptr, kInvalid,
       "extends past the end"},
      {"unaligned data offset", conv, M([](ModelBuilder& m) { m.tensors[2].offset_delta = 8; }),
       nullptr, kInvalid, "not a multiple of 64"},
      {"unknown layout", conv, M([](ModelBuilder& m) { m.tensors[2].layout = 42; }), nullptr,
       kInvalid, "unknown layout id 42"},
      {"non-finite float constant", conv,
       M([](ModelBuilder& m) { memcpy(&m.tensors[3].data[4], &kInf, 4); }), nullptr, kInvalid,
       "'conv.mul') holds a non-finite value at element 1"},
      // Quantization parameters.
      {"QUANT without quantization", conv,
       M([](ModelBuilder& m) { m.tensors[1].has_quantization = false; }), nullptr, kInvalid,
       "'x') is QUANT but has no quantization scale"},
      {"zero scale", conv, M([](ModelBuilder& m) { m.tensors[1].scales[0] = 0.0f; }), nullptr,
       kInvalid, "scales must be finite and > 0"},
      {"negative scale", conv, M([](ModelBuilder& m) { m.tensors[2].scales[1] = -1.0f; }), nullptr,
       kInvalid, "'conv.weight') has quantization scale -1 at index 1"},
      {"NaN scale", conv, M([](ModelBuilder& m) { m.tensors[5].scales[0] = kNaN; }), nullptr,
       kInvalid, "'y') has quantization scale nan"},
      {"infinite scale", conv, M([](ModelBuilder& m) { m.tensors[2].scales[0] = kInf; }), nullptr,
       kInvalid, "scale inf at index 0"},
      {"zero point above the bit range", conv,
       M([](ModelBuilder& m) { m.tensors[1].zero_points[0] = 16; }), nullptr, kInvalid,
       "zero point 16 at index 0 outside the 4-bit UNSIGNED range [0, 15]"},
      {"zero point below the bit range", conv,
       M([](ModelBuilder& m) { m.tensors[2].zero_points[2] = -3; }), nullptr, kInvalid,
       "zero point -3 at index 2 outside the 2-bit SIGNED range [-2, 1]"},
      {"per-channel count not the channel count", conv, M([](ModelBuilder& m) {
         m.tensors[2].scales.push_back(1.0f);
         m.tensors[2].zero_points.push_back(0);
       }),
       nullptr, kInvalid, "has 4 per-axis quantization parameters but dimension 0 has size 3"},
      {"bit width 9", conv, M([](ModelBuilder& m) { m.tensors[1].bits = 9; }), nullptr, kInvalid,
       "QUANT with 9 bits; bit widths 1..8"},
      {"bipolar with 2 bits", conv, M([](ModelBuilder& m) {
         m.tensors[5].encoding = kBipolar;
         m.tensors[5].bits = 2;
       }),
       nullptr, kInvalid, "BIPOLAR with 2 bits (must be 1)"},
      {"code range outside the bits", conv, M([](ModelBuilder& m) { m.tensors[1].qmax = 16; }),
       nullptr, kInvalid, "has code range [0, 16]"},
      // Op parameters.
      {"stride 0", conv, M([](ModelBuilder& m) { m.ops[1].stride_h = 0; }), nullptr, kInvalid,
       "kernel, stride and dilation must be >= 1"},
      {"dilation 0", conv, M([](ModelBuilder& m) { m.ops[1].dilation_w = 0; }), nullptr, kInvalid,
       "dilation 1x0"},
      {"negative pad", conv, M([](ModelBuilder& m) { m.ops[1].pad_left = -1; }), nullptr, kInvalid,
       "pads >= 0"},
      {"kernel not the weights' size", conv, M([](ModelBuilder& m) { m.ops[1].kernel_h = 2; }),
       nullptr, kInvalid, "has kernel 2x3 but its weights are 3x3"},
      {"groups 0", conv, M([](ModelBuilder& m) { m.ops[1].groups = 0; }), nullptr, kInvalid,
       "has 0 groups"},
      {"groups not dividing the channels", conv, M([](ModelBuilder& m) { m.ops[1].groups = 2; }),
       nullptr, kInvalid, "has 2 groups, which do not divide its 3 output channels"},
      {"window above the limit", pool, M([](ModelBuilder& m) { m.ops[0].stride_h = 1 << 20; }),
       nullptr, kInvalid, "window options above 65536"},
      {"pool pads as large as the window", pool, M([](ModelBuilder& m) { m.ops[0].pad_top = 2; }),
       nullptr, kInvalid, "pads 2,0,0,0 that are not smaller than its 2x2 window"},
      {"missing options", conv, M([](ModelBuilder& m) { m.ops[1].no_options = true; }), nullptr,
       kInvalid, "'conv') needs Conv2DOptions"},
      {"options type without its table", conv,
       M([](ModelBuilder& m) { m.ops[1].options_type_only = true; }), nullptr, kInvalid,
       "'conv') names Conv2DOptions but carries no options table"},
      {"wrong input count", conv, M([](ModelBuilder& m) { m.ops[1].inputs.pop_back(); }), nullptr,
       kInvalid, "has 3 inputs; it takes 4"},
      {"empty output clamp", conv, M([](ModelBuilder& m) {
         m.ops[1].has_clamp = true;
         m.ops[1].clamp_qmin = 5, m.ops[1].clamp_qmax = 4;
       }),
       nullptr, kInvalid, "has an empty output clamp [5, 4]"},
      // The graph.
      {"tensor produced twice", conv, M([](ModelBuilder& m) { m.ops[2].outputs[0] = 1; }), nullptr,
       kInvalid, "writes tensor 1 ('x'), which already has a value"},
      {"model input written by an op", conv, M([](ModelBuilder& m) { m.ops[0].outputs[0] = 0; }),
       nullptr, kInvalid, "writes tensor 0 ('input'), which already has a value"},
      {"cycle", conv, M([](ModelBuilder& m) {
         // quant reads conv's output, conv reads quant's: neither can run first.
         m.ops[0].inputs[0] = 5;
       }),
       nullptr, kInvalid, "reads tensor 5 ('y') before any op writes it"},
      {"ops out of order", conv, M([](ModelBuilder& m) { std::swap(m.ops[0], m.ops[1]); }), nullptr,
       kInvalid, "before any op writes it (ops must come in execution order"},
      {"constant written", conv, M([](ModelBuilder& m) { m.ops[2].outputs[0] = 3; }), nullptr,
       kInvalid, "'dequant') writes constant tensor 3 ('conv.mul')"},
      {"constant model input", conv, M([](ModelBuilder& m) { m.inputs = {2}; }), nullptr, kInvalid,
       "Model input tensor 2 ('conv.weight') is a constant"},
      {"output never written", conv, M([](ModelBuilder& m) { m.outputs = {m.Add(m.tensors[6])}; }),
       nullptr, kInvalid, "is never written by any op"},
      {"no outputs", conv, M([](ModelBuilder& m) { m.outputs.clear(); }), nullptr, kInvalid,
       "declares no outputs"},
      // Ops this runtime does not have.
      {"unknown opcode", conv, M([](ModelBuilder& m) { m.ops[2].opcode = 77; }), nullptr, kUnsup,
       "Op 2 ('dequant') has unknown opcode 77: this runtime runs opcodes 0 (QUANTIZE) to "},
      {"unknown op version", conv, M([](ModelBuilder& m) { m.ops[2].version = 2; }), nullptr,
       kUnsup, "Op 2 (DEQUANTIZE 'dequant') has version 2; this runtime knows version 1"},
      {"custom op", conv, M([](ModelBuilder& m) { m.ops[2].opcode = 1000; }), nullptr, kUnsup,
       "is a custom op"},
      // RESIZE options and shapes.
      {"resize without options", resize, M([](ModelBuilder& m) { m.ops[0].no_options = true; }),
       nullptr, kInvalid, "Op 0 (RESIZE 'resize') needs ResizeOptions"},
      {"resize unknown mode", resize, M([](ModelBuilder& m) { m.ops[0].resize_mode = 7; }), nullptr,
       kInvalid, "Op 0 (RESIZE 'resize') has unknown mode 7"},
      {"resize unknown coordinates", resize,
       M([](ModelBuilder& m) { m.ops[0].resize_coordinates = -3; }), nullptr, kInvalid,
       "has unknown coordinate transformation -3"},
      {"resize unknown nearest", resize, M([](ModelBuilder& m) { m.ops[0].resize_nearest = 4; }),
       nullptr, kInvalid, "has unknown nearest rounding 4"},
      {"resize NaN scale", resize, M([](ModelBuilder& m) { m.ops[0].scale_h = kNaN; }), nullptr,
       kInvalid, "each must be a finite number in [2^-16, 2^16]"},
      {"resize zero scale", resize, M([](ModelBuilder& m) { m.ops[0].scale_w = 0.f; }), nullptr,
       kInvalid, "has scales 2 x 0"},
      {"resize infinite scale", resize, M([](ModelBuilder& m) { m.ops[0].scale_w = kInf; }),
       nullptr, kInvalid, "each must be a finite number"},
      {"resize changes channels", resize, M([](ModelBuilder& m) {
         m.tensors[1].shape = {1, 3, 8, 8};
         m.tensors[2].shape = {1, 3, 8, 8};
       }),
       nullptr, kInvalid, "it resizes only height and width"},
      {"resize rank 3", resize, M([](ModelBuilder& m) {
         m.tensors[1].shape = {2, 8, 8};
         m.tensors[2].shape = {2, 8, 8};
       }),
       nullptr, kInvalid, "must have rank 4"},
      {"resize float input", resize, M([](ModelBuilder& m) {
         m.tensors[0] = TensorSpec();
         m.tensors[0].name = "xq";
         m.tensors[0].shape = {1, 2, 4, 4};
       }),
       nullptr, kInvalid, "must be QUANT"},
      {"resize two inputs", resize, M([](ModelBuilder& m) {
         m.ops[0].inputs = {0, 0};
       }),
       nullptr, kInvalid, "has 2 inputs; it takes 1"},
      // SLICE options and shapes.
      {"slice without options", slice, M([](ModelBuilder& m) { m.ops[0].no_options = true; }),
       nullptr, kInvalid, "Op 0 (SLICE 'slice') needs SliceOptions"},
      {"slice start outside the input", slice,
       M([](ModelBuilder& m) { m.ops[0].slice_starts[3] = 6; }), nullptr, kInvalid,
       "Op 0 (SLICE 'slice') has start 6 on axis 3, outside the input's [0, 6)"},
      {"slice negative start", slice, M([](ModelBuilder& m) { m.ops[0].slice_starts[2] = -1; }),
       nullptr, kInvalid, "has start -1 on axis 2, outside the input's [0, 6)"},
      {"slice zero step", slice, M([](ModelBuilder& m) { m.ops[0].slice_steps[2] = 0; }), nullptr,
       kInvalid, "Op 0 (SLICE 'slice') has step 0 on axis 2; steps must be non-zero"},
      {"slice last index past the end", slice,
       M([](ModelBuilder& m) { m.ops[0].slice_steps[3] = 2; }), nullptr, kInvalid,
       "reads 4 elements from start 2 with step 2 on axis 3; the last one falls outside the "
       "input's [0, 6)"},
      {"slice last index before the start", slice,
       M([](ModelBuilder& m) { m.ops[0].slice_steps[1] = -2; }), nullptr, kInvalid,
       "reads 2 elements from start 1 with step -2 on axis 1; the last one falls outside"},
      {"slice step overflows", slice,
       M([](ModelBuilder& m) { m.ops[0].slice_steps[3] = std::numeric_limits<int64_t>::max(); }),
       nullptr, kInvalid, "on axis 3; the last one falls outside"},
      {"slice starts of the wrong length", slice, M([](ModelBuilder& m) {
         m.ops[0].slice_starts = {0, 1, 0};
       }),
       nullptr, kInvalid,
       "Op 0 (SLICE 'slice') has 3 starts and 4 steps; it needs one of each per axis of its "
       "rank-4 input"},
      {"slice steps missing", slice, M([](ModelBuilder& m) { m.ops[0].slice_steps.clear(); }),
       nullptr, kInvalid, "has 4 starts and 0 steps"},
      {"slice output rank differs", slice, M([](ModelBuilder& m) {
         m.tensors[1].shape = {2, 3, 4};
         m.tensors[2].shape = {2, 3, 4};
       }),
       nullptr, kInvalid, "must have rank 4"},
      {"slice dynamic batch sliced", slice, M([](ModelBuilder& m) {
         m.tensors[0].shape[0] = m.tensors[1].shape[0] = m.tensors[2].shape[0] = -1;
         m.ops[0].slice_steps[0] = 2;
       }),
       nullptr, kInvalid, "has start 0 and step 2 on its dynamic batch axis 0"},
      {"slice float input", slice, M([](ModelBuilder& m) {
         m.tensors[0] = TensorSpec();
         m.tensors[0].name = "xq";
         m.tensors[0].shape = {1, 4, 6, 6};
       }),
       nullptr, kInvalid, "must be QUANT"},
      // BATCH_MATMUL options and shapes.
      {"batch matmul without options", bmm, M([](ModelBuilder& m) { m.ops[0].no_options = true; }),
       nullptr, kInvalid, "Op 0 (BATCH_MATMUL 'bmm') needs BatchMatMulOptions"},
      {"batch matmul K mismatch", bmm, M([](ModelBuilder& m) {
         m.tensors[1].shape = {2, 6, 3};
       }),
       nullptr, kInvalid,
       "Op 0 (BATCH_MATMUL 'bmm') multiplies rows of 7 values by columns of 6; the first input's "
       "last dimension must equal the second's next to last"},
      {"batch matmul leading dims differ", bmm, M([](ModelBuilder& m) {
         m.tensors[1].shape = {3, 7, 3};
       }),
       nullptr, kInvalid,
       "has inputs of shapes [2, 5, 7] and [3, 7, 3]; their leading dimensions must be equal"},
      {"batch matmul rank of b", bmm, M([](ModelBuilder& m) {
         m.tensors[1].shape = {1, 2, 7, 3};
       }),
       nullptr, kInvalid,
       "has inputs of ranks 3 and 4; the second must have the first's rank or "
       "rank 2"},
      {"batch matmul output shape", bmm, M([](ModelBuilder& m) {
         m.tensors[2].shape = {2, 5, 4};
         m.tensors[3].shape = {2, 5, 4};
       }),
       nullptr, kInvalid,
       "Op 0 (BATCH_MATMUL 'bmm') has output shape [2, 5, 4]; multiplying [2, 5, 7] by [2, 7, 3] "
       "gives [2, 5, 3]"},
      {"batch matmul NaN multiplier", bmm, M([](ModelBuilder& m) { m.ops[0].multiplier = kNaN; }),
       nullptr, kInvalid,
       "Op 0 (BATCH_MATMUL 'bmm') has multiplier nan; it must be finite and > 0"},
      {"batch matmul zero multiplier", bmm, M([](ModelBuilder& m) { m.ops[0].multiplier = 0.f; }),
       nullptr, kInvalid, "has multiplier 0; it must be finite and > 0"},
      {"batch matmul infinite multiplier", bmm,
       M([](ModelBuilder& m) { m.ops[0].multiplier = kInf; }), nullptr, kInvalid,
       "has multiplier inf; it must be finite and > 0"},
      {"batch matmul one input", bmm, M([](ModelBuilder& m) { m.ops[0].inputs = {0}; }), nullptr,
       kInvalid, "Op 0 (BATCH_MATMUL 'bmm') has 1 inputs; it takes 2"},
      {"batch matmul float input", bmm, M([](ModelBuilder& m) {
         m.tensors[1] = TensorSpec();
         m.tensors[1].name = "b";
         m.tensors[1].shape = {2, 7, 3};
       }),
       nullptr, kInvalid, "input 1, tensor 1 ('b'), must be QUANT"},
      // Float layers (CONV_2D / FULLY_CONNECTED version 2).
      {"float conv version 3", fconv, M([](ModelBuilder& m) { m.ops[0].version = 3; }), nullptr,
       kUnsup, "Op 0 (CONV_2D 'fconv') has version 3; this runtime knows versions 1 and 2"},
      {"float conv quantized input", fconv, M([](ModelBuilder& m) {
         m.tensors[0] = Int8Spec("x", {1, 4, 5, 5});
       }),
       nullptr, kInvalid, "input 0, tensor 0 ('x'), must be FLOAT32"},
      {"float conv quantized weights", fconv, M([](ModelBuilder& m) {
         const std::string data(3 * 4 * 9, '\0');
         m.tensors[1] = Int8Spec("w", {3, 4, 3, 3});
         m.tensors[1].layout = kDense;
         m.tensors[1].data = data;
       }),
       nullptr, kInvalid,
       "Op 0 (CONV_2D 'fconv') (a float layer) needs weights tensor 1 ('w') to be constant FLOAT32 "
       "data of rank 4"},
      {"float conv bias of the wrong length", fconv, M([](ModelBuilder& m) {
         m.tensors[2].shape = {2};
         m.tensors[2].data.resize(2 * sizeof(float));
       }),
       nullptr, kInvalid,
       "Op 0 (CONV_2D 'fconv') bias tensor 2 ('bias') must be a constant FLOAT32 vector of 3 "
       "values"},
      {"float conv groups", fconv, M([](ModelBuilder& m) { m.ops[0].groups = 2; }), nullptr,
       kInvalid, "Op 0 (CONV_2D 'fconv') has 2 groups, which do not divide its 3 output channels"},
      {"float conv kernel", fconv, M([](ModelBuilder& m) { m.ops[0].kernel_w = 2; }), nullptr,
       kInvalid, "Op 0 (CONV_2D 'fconv') has kernel 3x2 but its weights are 3x3"},
      {"float conv family", fconv, M([](ModelBuilder& m) { m.ops[0].family = kFamilyLut; }),
       nullptr, kInvalid,
       "Op 0 (CONV_2D 'fconv') is a float layer recorded for kernel family LUT; float layers run "
       "on XNNPACK or the scalar loop"},
      {"float conv NaN weight", fconv, M([](ModelBuilder& m) {
         const float nan = kNaN;
         memcpy(&m.tensors[1].data[20], &nan, sizeof(nan));
       }),
       nullptr, kInvalid, "holds a non-finite value at element 5"},
      // The float softmax.
      {"float softmax axis", fsoftmax, M([](ModelBuilder& m) { m.ops[0].axis = 2; }), nullptr,
       kInvalid, "Op 0 (SOFTMAX 'fsoftmax') has axis 2 outside its input's rank 2"},
      {"float softmax quantized output", fsoftmax, M([](ModelBuilder& m) {
         m.tensors[1] = Int8Spec("y", {2, 5});
       }),
       nullptr, kInvalid, "Op 0 (SOFTMAX 'fsoftmax') output tensor 1 ('y') must be FLOAT32"},
      {"float softmax with an exp table", fsoftmax, M([](ModelBuilder& m) {
         m.ops[0].inputs.push_back(m.AddFloatConst("t", std::vector<float>(256, 1.f)));
       }),
       nullptr, kInvalid, "Op 0 (SOFTMAX 'fsoftmax') has 2 inputs; it takes 1"},
      // MUL options and shapes.
      {"mul without options", mul, M([](ModelBuilder& m) { m.ops[0].no_options = true; }), nullptr,
       kInvalid, "Op 0 (MUL 'mul') needs MulOptions"},
      {"mul gate of the wrong channels", mul, M([](ModelBuilder& m) {
         m.tensors[1].shape = {2, 3, 1, 1};
       }),
       nullptr, kInvalid,
       "Op 0 (MUL 'mul') multiplies [2, 4, 3, 3] by [2, 3, 1, 1]; the second input must have the "
       "first's shape or, for a 4-D first input [N, C, H, W], the shape [N, C, 1, 1]"},
      {"mul broadcast over channels", mul, M([](ModelBuilder& m) {
         m.tensors[1].shape = {2, 1, 3, 3};
       }),
       nullptr, kInvalid, "multiplies [2, 4, 3, 3] by [2, 1, 3, 3]"},
      {"mul output shape", mul, M([](ModelBuilder& m) {
         m.tensors[2].shape = {2, 4, 1, 1};
         m.tensors[3].shape = {2, 4, 1, 1};
       }),
       nullptr, kInvalid,
       "Op 0 (MUL 'mul') has output shape [2, 4, 1, 1]; it must be the first "
       "input's, [2, 4, 3, 3]"},
      {"mul NaN multiplier", mul, M([](ModelBuilder& m) { m.ops[0].multiplier = kNaN; }), nullptr,
       kInvalid, "Op 0 (MUL 'mul') has multiplier nan; it must be finite and > 0"},
      {"mul per-channel input", mul, M([](ModelBuilder& m) {
         m.tensors[0].axis = 1;
         m.tensors[0].scales = {0.1f, 0.1f, 0.1f, 0.1f};
         m.tensors[0].zero_points = {0, 0, 0, 0};
       }),
       nullptr, kInvalid,
       "Tensor 0 ('a') is an activation quantized per axis; activations must be quantized per "
       "tensor"},
      {"mul float input", mul, M([](ModelBuilder& m) {
         m.tensors[1] = TensorSpec();
         m.tensors[1].name = "g";
         m.tensors[1].shape = {2, 4, 1, 1};
       }),
       nullptr, kInvalid, "input 1, tensor 1 ('g'), must be QUANT"},
      {"mul one input", mul, M([](ModelBuilder& m) { m.ops[0].inputs = {0}; }), nullptr, kInvalid,
       "Op 0 (MUL 'mul') has 1 inputs; it takes 2"},
      // TRANSPOSE options and shapes.
      {"transpose without options", transpose,
       M([](ModelBuilder& m) { m.ops[0].no_options = true; }), nullptr, kInvalid,
       "Op 0 (TRANSPOSE 'transpose') needs TransposeOptions"},
      {"transpose perm repeats an axis", transpose, M([](ModelBuilder& m) {
         m.ops[0].perm = {0, 2, 2, 1};
       }),
       nullptr, kInvalid,
       "Op 0 (TRANSPOSE 'transpose') has perm [0, 2, 2, 1], which is not a permutation of the "
       "axes 0 to 3"},
      {"transpose perm axis out of range", transpose, M([](ModelBuilder& m) {
         m.ops[0].perm = {0, 2, 4, 1};
       }),
       nullptr, kInvalid, "has perm [0, 2, 4, 1], which is not a permutation"},
      {"transpose perm negative", transpose, M([](ModelBuilder& m) {
         m.ops[0].perm = {0, 2, -1, 1};
       }),
       nullptr, kInvalid, "which is not a permutation"},
      {"transpose perm of the wrong length", transpose, M([](ModelBuilder& m) {
         m.ops[0].perm = {0, 2, 1};
       }),
       nullptr, kInvalid,
       "Op 0 (TRANSPOSE 'transpose') has a perm of 3 axes; it needs one per axis of its rank-4 "
       "input"},
      {"transpose output not the permuted shape", transpose, M([](ModelBuilder& m) {
         m.tensors[1].shape = {1, 4, 3, 2};
         m.tensors[2].shape = {1, 4, 3, 2};
       }),
       nullptr, kInvalid,
       "Op 0 (TRANSPOSE 'transpose') has output shape [1, 4, 3, 2]; its input [1, 2, 3, 4] "
       "transposed by its perm has dimension 3 on axis 1, not 4"},
      {"transpose float output", transpose, M([](ModelBuilder& m) {
         m.tensors[1] = TensorSpec();
         m.tensors[1].name = "t";
         m.tensors[1].shape = {1, 3, 4, 2};
       }),
       nullptr, kInvalid, "must be QUANT, not FLOAT32"},
      // SOFTMAX options and tables.
      {"softmax without options", softmax, M([](ModelBuilder& m) { m.ops[0].no_options = true; }),
       nullptr, kInvalid, "Op 0 (SOFTMAX 'softmax') needs SoftmaxOptions"},
      {"softmax exp table of the wrong size", softmax, M([](ModelBuilder& m) {
         m.tensors[3].shape = {255};
         m.tensors[3].data.resize(255 * sizeof(float));
       }),
       nullptr, kInvalid,
       "Op 0 (SOFTMAX 'softmax') exp table tensor 3 ('softmax.exp_table') must be a constant "
       "FLOAT32 vector of shape [256]"},
      {"softmax NaN in the exp table", softmax,
       M([](ModelBuilder& m) { SetConstFloat(m, 3, 7, kNaN); }), nullptr, kInvalid,
       "Tensor 3 ('softmax.exp_table') holds a non-finite value at element 7"},
      {"softmax axis out of range", softmax, M([](ModelBuilder& m) { m.ops[0].axis = 3; }), nullptr,
       kInvalid, "Op 0 (SOFTMAX 'softmax') has axis 3 outside its input's rank 3"},
      {"softmax negative axis", softmax, M([](ModelBuilder& m) { m.ops[0].axis = -1; }), nullptr,
       kInvalid, "has axis -1 outside its input's rank 3"},
      {"softmax float input", softmax, M([](ModelBuilder& m) {
         m.tensors[0] = TensorSpec();
         m.tensors[0].name = "xq";
         m.tensors[0].shape = {2, 3, 5};
       }),
       nullptr, kInvalid, "must be QUANT"},
      {"softmax per-channel input", softmax, M([](ModelBuilder& m) {
         m.tensors[0].axis = 1;
         m.tensors[0].scales = {0.1f, 0.1f, 0.1f};
         m.tensors[0].zero_points = {0, 0, 0};
       }),
       nullptr, kInvalid, "must be quantized per tensor"},
      // LAYER_NORM options and vectors.
      {"layer norm without options", layer_norm,
       M([](ModelBuilder& m) { m.ops[0].no_options = true; }), nullptr, kInvalid,
       "Op 0 (LAYER_NORM 'ln') needs LayerNormOptions"},
      {"layer norm negative epsilon", layer_norm,
       M([](ModelBuilder& m) { m.ops[0].epsilon = -1e-5f; }), nullptr, kInvalid,
       "Op 0 (LAYER_NORM 'ln') has epsilon -1e-05; it must be finite and >= 0"},
      {"layer norm NaN epsilon", layer_norm, M([](ModelBuilder& m) { m.ops[0].epsilon = kNaN; }),
       nullptr, kInvalid, "it must be finite and >= 0"},
      {"layer norm NaN in the scale", layer_norm,
       M([](ModelBuilder& m) { SetConstFloat(m, 3, 2, kNaN); }), nullptr, kInvalid,
       "Tensor 3 ('ln.scale') holds a non-finite value at element 2"},
      {"layer norm infinite bias", layer_norm,
       M([](ModelBuilder& m) { SetConstFloat(m, 4, 0, kInf); }), nullptr, kInvalid,
       "Tensor 4 ('ln.bias') holds a non-finite value at element 0"},
      {"layer norm scale of the wrong size", layer_norm, M([](ModelBuilder& m) {
         m.tensors[3].shape = {3};
         m.tensors[3].data.resize(3 * sizeof(float));
       }),
       nullptr, kInvalid, "must be a constant FLOAT32 vector of shape [4]"},
      {"layer norm float input", layer_norm, M([](ModelBuilder& m) {
         m.tensors[0] = TensorSpec();
         m.tensors[0].name = "xq";
         m.tensors[0].shape = {2, 4};
       }),
       nullptr, kInvalid, "must be QUANT"},
      {"layer norm too few inputs", layer_norm, M([](ModelBuilder& m) { m.ops[0].inputs = {0}; }),
       nullptr, kInvalid, "has 1 inputs; it takes at least 2"},
  };
}

// Loads `bytes` from a buffer and from a file; both must refuse them with the row's status and
// message.
void ExpectLoadRefused(const LoadRow& row, const std::string& bytes) {
  crumb_model* m = crumb_model_create_from_buffer(bytes.data(), bytes.size());
  if (m) {
    crumb_model_delete(m);
    ADD_FAILURE() << "loaded; expected '" << row.fragment << "'";
    return;
  }
  const std::string msg = crumb_last_error();
  EXPECT_EQ(crumb_last_status(), row.status) << msg;
  EXPECT_NE(msg.find(row.fragment), std::string::npos) << "message: " << msg;
  ASSERT_FALSE(msg.empty());
  EXPECT_EQ(msg.back(), '.') << "not a sentence: " << msg;
  char path[] = "/tmp/crumb-bad-model-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, bytes.data(), bytes.size()), (ssize_t)bytes.size());
  close(fd);
  m = crumb_model_create_from_file(path);
  unlink(path);
  EXPECT_EQ(m, nullptr);
  if (m) crumb_model_delete(m);
  EXPECT_EQ(crumb_last_status(), row.status);
  EXPECT_NE(std::string(crumb_last_error()).find(row.fragment), std::string::npos)
      << crumb_last_error();
}

TEST(BadModelTable, LoadRows) {
  const std::vector<LoadRow> rows = LoadRows();
  EXPECT_GE(rows.size(), 25u);
  for (const LoadRow& row : rows) {
    SCOPED_TRACE(row.what);
    ModelBuilder mb = row.base();
    if (row.mutate) row.mutate(mb);
    std::string bytes = mb.Finish();
    if (row.patch) row.patch(bytes);
    ExpectLoadRefused(row, bytes);
  }
}

// Bad calls on a good model: shapes, byte counts, codes and the memory limit.
struct CallRow {
  const char* what;
  std::function<ModelBuilder()> base;
  uint64_t memory_limit;  // 0: the default
  std::function<crumb_status(crumb_interpreter*)> call;
  crumb_status status;
  const char* fragment;
};

crumb_status AllocateThenCopy(crumb_interpreter* it, size_t bytes, uint8_t value) {
  crumb_status s = crumb_interpreter_allocate(it);
  if (s != CRUMB_OK) return s;
  std::string data(bytes, (char)value);
  return crumb_tensor_copy_from_buffer(crumb_interpreter_input(it, 0), data.data(), data.size());
}

TEST(BadModelTable, CallRows) {
  const auto conv = SmallConvModel, pool = PoolModel;
  const CallRow rows[] = {
      {"invoke before allocate", conv, 0,
       [](crumb_interpreter* it) { return crumb_interpreter_invoke(it); }, CRUMB_ERROR_NOT_READY,
       "before crumb_interpreter_allocate"},
      {"input of the wrong rank", conv, 0,
       [](crumb_interpreter* it) {
         const int32_t dims[] = {2, 2, 4};
         return crumb_interpreter_resize_input(it, 0, dims, 3);
       },
       CRUMB_ERROR_INVALID_ARGUMENT, "Input tensor 0 ('input') has 4 dimensions, not 3."},
      {"input with a fixed dimension changed", conv, 0,
       [](crumb_interpreter* it) {
         const int32_t dims[] = {2, 3, 4, 4};
         return crumb_interpreter_resize_input(it, 0, dims, 4);
       },
       CRUMB_ERROR_INVALID_ARGUMENT, "Dimension 1 of input tensor 0 ('input') is fixed at 2"},
      {"input batch 0", conv, 0,
       [](crumb_interpreter* it) {
         const int32_t dims[] = {0, 2, 4, 4};
         return crumb_interpreter_resize_input(it, 0, dims, 4);
       },
       CRUMB_ERROR_INVALID_ARGUMENT, "must be >= 1, not 0"},
      {"input of the wrong byte count", conv, 0,
       [](crumb_interpreter* it) { return AllocateThenCopy(it, 2 * 4 * 4 * 4 - 4, 0); },
       CRUMB_ERROR_INVALID_ARGUMENT,
       "Cannot write 124 bytes into tensor 0 ('input'), which holds "
       "128 bytes."},
      {"quantized input code outside its bits", pool, 0,
       [](crumb_interpreter* it) { return AllocateThenCopy(it, 2 * 4 * 4, 16); },
       CRUMB_ERROR_INVALID_ARGUMENT,
       "Cannot write code 16 at element 0 into tensor 0 ('xq'): its 4-bit UNSIGNED codes lie in "
       "[0, 15]."},
      {"memory limit", conv, 1000,
       [](crumb_interpreter* it) {
         const int32_t dims[] = {64, 2, 4, 4};
         crumb_interpreter_resize_input(it, 0, dims, 4);
         return crumb_interpreter_allocate(it);
       },
       CRUMB_ERROR_OUT_OF_MEMORY, ", limit 1000 (activation arena"},
      {"default memory limit", QdqModel, 0,
       [](crumb_interpreter* it) {
         const int32_t dims[] = {1 << 25, 2, 4, 4};  // 4 GiB in, 4 GiB out
         crumb_interpreter_resize_input(it, 0, dims, 4);
         return crumb_interpreter_allocate(it);
       },
       CRUMB_ERROR_OUT_OF_MEMORY, "memory limit is exceeded: needed "},
  };
  for (const CallRow& row : rows) {
    SCOPED_TRACE(row.what);
    const std::string bytes = row.base().Finish();
    crumb_model* m = crumb_model_create_from_buffer(bytes.data(), bytes.size());
    ASSERT_NE(m, nullptr) << crumb_last_error();
    crumb_options* o = crumb_options_create();
    if (row.memory_limit) crumb_options_set_memory_limit(o, row.memory_limit);
    crumb_interpreter* it = crumb_interpreter_create(m, o);
    crumb_options_delete(o);
    ASSERT_NE(it, nullptr) << crumb_last_error();
    EXPECT_EQ(row.call(it), row.status);
    const std::string msg = crumb_last_error();
    EXPECT_NE(msg.find(row.fragment), std::string::npos) << "message: " << msg;
    EXPECT_EQ(msg, crumb_interpreter_last_error(it));
    crumb_interpreter_delete(it);
    crumb_model_delete(m);
  }
}

TEST(BadModelTable, MemoryLimitMessageAndLifting) {
  const std::string bytes = SmallConvModel().Finish();
  crumb_model* m = crumb_model_create_from_buffer(bytes.data(), bytes.size());
  ASSERT_NE(m, nullptr);
  const int32_t dims[] = {64, 2, 4, 4};
  // Measure, then cap one byte below what it needs.
  crumb_interpreter* it = crumb_interpreter_create(m, nullptr);
  ASSERT_EQ(crumb_interpreter_resize_input(it, 0, dims, 4), CRUMB_OK);
  ASSERT_EQ(crumb_interpreter_allocate(it), CRUMB_OK) << crumb_last_error();
  const size_t needed = crumb_interpreter_arena_bytes(it);
  crumb_interpreter_delete(it);
  crumb_options* o = crumb_options_create();
  crumb_options_set_memory_limit(o, needed - 1);
  it = crumb_interpreter_create(m, o);
  ASSERT_EQ(crumb_interpreter_resize_input(it, 0, dims, 4), CRUMB_OK);
  EXPECT_EQ(crumb_interpreter_allocate(it), CRUMB_ERROR_OUT_OF_MEMORY);
  const std::string want =
      "needed " + std::to_string(needed) + " bytes, limit " + std::to_string(needed - 1);
  EXPECT_NE(std::string(crumb_interpreter_last_error(it)).find(want), std::string::npos)
      << crumb_interpreter_last_error(it);
  EXPECT_EQ(crumb_interpreter_invoke(it), CRUMB_ERROR_NOT_READY);
  crumb_interpreter_delete(it);
  // Exactly what it needs, and no cap.
  for (uint64_t limit : {(uint64_t)needed, (uint64_t)0}) {
    crumb_options_set_memory_limit(o, limit);
    it = crumb_interpreter_create(m, o);
    ASSERT_EQ(crumb_interpreter_resize_input(it, 0, dims, 4), CRUMB_OK);
    EXPECT_EQ(crumb_interpreter_allocate(it), CRUMB_OK) << crumb_last_error();
    std::vector<float> x(64 * 2 * 4 * 4, 0.5f);
    crumb_tensor* in = crumb_interpreter_input(it, 0);
    EXPECT_EQ(crumb_tensor_copy_from_buffer(in, x.data(), x.size() * 4), CRUMB_OK);
    EXPECT_EQ(crumb_interpreter_invoke(it), CRUMB_OK) << crumb_last_error();
    crumb_interpreter_delete(it);
  }
  crumb_options_delete(o);
  crumb_model_delete(m);
}

}  // namespace
}  // namespace crumb_test
