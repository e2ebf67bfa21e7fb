#include "model_builder.h"

#include <math.h>
#include <string.h>

#include "flatbuffers/flatbuffers.h"
#include "kernels/common/pack.h"
#include "kernels/common/repack.h"
#include "schema/crumb_generated.h"

namespace crumb_test {

namespace fb = crumb::fb;

void CodeRange(int encoding, int bits, int32_t* lo, int32_t* hi) {
  if (encoding == kUnsigned) {
    *lo = 0;
    *hi = (1 << bits) - 1;
  } else if (encoding == kBipolar || encoding == kTernary) {
    *lo = -1;
    *hi = 1;
  } else {
    *lo = -(1 << (bits - 1));
    *hi = (1 << (bits - 1)) - 1;
  }
}

int32_t ModelBuilder::AddFloat(const std::string& name, const std::vector<int32_t>& shape) {
  TensorSpec t;
  t.name = name;
  t.shape = shape;
  return Add(t);
}

int32_t ModelBuilder::AddQuant(const std::string& name, const std::vector<int32_t>& shape, int bits,
                               int encoding, float scale, int32_t zero_point) {
  TensorSpec t;
  t.name = name;
  t.shape = shape;
  t.type = kQuant;
  t.bits = bits;
  t.encoding = encoding;
  t.has_quantization = true;
  t.scales = {scale};
  t.zero_points = {zero_point};
  CodeRange(encoding, bits, &t.qmin, &t.qmax);
  return Add(t);
}

int32_t ModelBuilder::AddWeights(const std::string& name, const std::vector<int32_t>& shape,
                                 int bits, int encoding, const std::vector<float>& scales,
                                 const std::vector<int32_t>& zero_points,
                                 const std::vector<int32_t>& codes) {
  TensorSpec t;
  t.name = name;
  t.shape = shape;
  t.type = kQuant;
  t.bits = bits;
  t.encoding = encoding;
  t.has_quantization = true;
  t.scales = scales;
  t.zero_points = zero_points;
  t.axis = scales.size() > 1 ? 0 : -1;
  CodeRange(encoding, bits, &t.qmin, &t.qmax);
  t.layout = kRowsLsb;
  const size_t rows = (size_t)shape[0];
  size_t k = 1;
  for (size_t i = 1; i < shape.size(); i++) k *= (size_t)shape[i];
  // Reorder [o][ci][kh][kw] -> [o][kh][kw][ci] for 4-D weights.
  std::vector<int32_t> ordered(codes.size());
  if (shape.size() == 4) {
    const int ci = shape[1], kh = shape[2], kw = shape[3];
    for (size_t o = 0; o < rows; o++)
      for (int c = 0; c < ci; c++)
        for (int y = 0; y < kh; y++)
          for (int x = 0; x < kw; x++)
            ordered[o * k + ((size_t)y * kw + x) * ci + c] =
                codes[o * k + ((size_t)c * kh + y) * kw + x];
  } else {
    ordered = codes;
  }
  // BIPOLAR stores code (v + 1) / 2.
  if (encoding == kBipolar) {
    for (int32_t& v : ordered) v = (v + 1) / 2;
  }
  t.data.resize(crumb_rows_lsb_size(rows, k, (unsigned)bits));
  crumb_pack_rows_lsb(ordered.data(), rows, k, (unsigned)bits,
                      reinterpret_cast<uint8_t*>(&t.data[0]));
  return Add(t);
}

bool ModelBuilder::PackWeights(int32_t t, int layout, int groups) {
  TensorSpec& w = tensors[(size_t)t];
  if (w.layout == layout) return true;
  const size_t n = (size_t)w.shape[0];
  const size_t ks = w.shape.size() == 4 ? (size_t)w.shape[2] * (size_t)w.shape[3] : 1;
  const size_t kc = (size_t)w.shape[1];
  std::vector<int32_t> zps(n, w.zero_points.empty() ? 0 : w.zero_points[0]);
  if (w.zero_points.size() == n) zps = w.zero_points;
  const crumb_weights_desc d = {
      (unsigned)w.bits, (unsigned)w.encoding, zps.data(), n, (size_t)groups, ks, kc};
  std::string packed(crumb_weights_size(&d, layout), '\0');
  if (!crumb_repack_weights(&d, reinterpret_cast<const uint8_t*>(w.data.data()), w.layout,
                            reinterpret_cast<uint8_t*>(&packed[0]), layout)) {
    return false;
  }
  w.data = packed;
  w.layout = layout;
  return true;
}

int32_t ModelBuilder::AddFloatConst(const std::string& name, const std::vector<float>& values) {
  TensorSpec t;
  t.name = name;
  t.shape = {(int32_t)values.size()};
  t.layout = kDense;
  t.data.assign(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  return Add(t);
}

OpSpec& ModelBuilder::AddOp(int opcode, const std::string& name, const std::vector<int32_t>& in,
                            const std::vector<int32_t>& out) {
  OpSpec op;
  op.opcode = opcode;
  op.name = name;
  op.inputs = in;
  op.outputs = out;
  ops.push_back(op);
  return ops.back();
}

OpSpec& ModelBuilder::AddSoftmax(const std::string& name, int32_t x, int32_t y, int axis) {
  std::vector<float> table(256);
  const float sx = tensors[x].scales.empty() ? 1.f : tensors[x].scales[0];
  for (int d = 0; d < 256; d++) table[d] = expf((float)-d * sx);
  const int32_t t = AddFloatConst(name + ".exp_table", table);
  OpSpec& op = AddOp((int)fb::OpCode::SOFTMAX, name, {x, t}, {y});
  op.axis = axis;
  return op;
}

OpSpec& ModelBuilder::AddLayerNorm(const std::string& name, int32_t x, int32_t y,
                                   const std::vector<float>& scale, const std::vector<float>& bias,
                                   float epsilon) {
  const int32_t s = AddFloatConst(name + ".scale", scale);
  const int32_t b = bias.empty() ? -1 : AddFloatConst(name + ".bias", bias);
  OpSpec& op = AddOp((int)fb::OpCode::LAYER_NORM, name, {x, s, b}, {y});
  op.epsilon = epsilon;
  return op;
}

namespace {

std::string Build(const ModelBuilder& m, uint64_t data_start, std::vector<uint64_t>* offsets) {
  flatbuffers::FlatBufferBuilder b;
  // Buffers: 0 is empty, then one per tensor with data.
  std::vector<fb::Buffer> buffers{fb::Buffer(0, 0)};
  std::vector<uint32_t> tensor_buffer(m.tensors.size(), 0);
  offsets->clear();
  uint64_t at = data_start;
  for (size_t i = 0; i < m.tensors.size(); i++) {
    const TensorSpec& t = m.tensors[i];
    if (t.data.empty()) continue;
    offsets->push_back(at);
    buffers.emplace_back((uint64_t)((int64_t)at + t.offset_delta),
                         (uint64_t)((int64_t)t.data.size() + t.size_delta));
    tensor_buffer[i] = (uint32_t)buffers.size() - 1;
    at += (t.data.size() + 63) / 64 * 64;
  }
  std::vector<flatbuffers::Offset<fb::Tensor>> tensors;
  for (size_t i = 0; i < m.tensors.size(); i++) {
    const TensorSpec& t = m.tensors[i];
    flatbuffers::Offset<fb::Quantization> q = 0;
    if (t.has_quantization) {
      q = fb::CreateQuantization(b, b.CreateVector(t.scales), b.CreateVector(t.zero_points), t.axis,
                                 t.qmin, t.qmax);
    }
    const uint32_t buf = t.buffer_override >= 0 ? (uint32_t)t.buffer_override : tensor_buffer[i];
    const auto mask = t.spatial_mask.empty()
                          ? 0
                          : b.CreateVector(reinterpret_cast<const uint8_t*>(t.spatial_mask.data()),
                                           t.spatial_mask.size());
    tensors.push_back(fb::CreateTensor(
        b, b.CreateString(t.name), b.CreateVector(t.shape), (fb::ElementType)t.type,
        (uint8_t)t.bits, (fb::Encoding)t.encoding, q, buf, (fb::Layout)t.layout, mask));
  }
  std::vector<flatbuffers::Offset<fb::Operator>> ops;
  for (const OpSpec& o : m.ops) {
    flatbuffers::Offset<fb::Clamp> clamp = 0;
    if (o.has_clamp)
      clamp = fb::CreateClamp(b, o.clamp_qmin, o.clamp_qmax, o.clamp_fmin, o.clamp_fmax);
    fb::OpOptions type = fb::OpOptions::NONE;
    flatbuffers::Offset<void> options = 0;
    switch ((fb::OpCode)o.opcode) {
      case fb::OpCode::CONV_2D:
        type = fb::OpOptions::Conv2DOptions;
        options = fb::CreateConv2DOptions(b, o.kernel_h, o.kernel_w, o.stride_h, o.stride_w,
                                          o.dilation_h, o.dilation_w, o.pad_top, o.pad_left,
                                          o.pad_bottom, o.pad_right, o.groups, clamp)
                      .Union();
        break;
      case fb::OpCode::MAX_POOL_2D:
      case fb::OpCode::AVERAGE_POOL_2D:
      case fb::OpCode::GLOBAL_AVERAGE_POOL:
        type = fb::OpOptions::Pool2DOptions;
        options =
            fb::CreatePool2DOptions(b, o.kernel_h, o.kernel_w, o.stride_h, o.stride_w, o.dilation_h,
                                    o.dilation_w, o.pad_top, o.pad_left, o.pad_bottom, o.pad_right,
                                    o.ceil_mode, o.count_include_pad, clamp)
                .Union();
        break;
      case fb::OpCode::FULLY_CONNECTED:
        type = fb::OpOptions::FullyConnectedOptions;
        options = fb::CreateFullyConnectedOptions(b, clamp).Union();
        break;
      case fb::OpCode::ADD:
        type = fb::OpOptions::AddOptions;
        options = fb::CreateAddOptions(b, clamp).Union();
        break;
      case fb::OpCode::RESHAPE:
        type = fb::OpOptions::ReshapeOptions;
        options = fb::CreateReshapeOptions(b, clamp).Union();
        break;
      case fb::OpCode::CONCAT:
        type = fb::OpOptions::ConcatOptions;
        options = fb::CreateConcatOptions(b, o.axis, clamp).Union();
        break;
      case fb::OpCode::RESIZE:
        type = fb::OpOptions::ResizeOptions;
        options = fb::CreateResizeOptions(b, static_cast<fb::ResizeMode>(o.resize_mode),
                                          static_cast<fb::ResizeCoordinates>(o.resize_coordinates),
                                          static_cast<fb::ResizeNearest>(o.resize_nearest),
                                          o.scale_h, o.scale_w, clamp)
                      .Union();
        break;
      case fb::OpCode::SLICE:
        type = fb::OpOptions::SliceOptions;
        options = fb::CreateSliceOptions(b, b.CreateVector(o.slice_starts),
                                         b.CreateVector(o.slice_steps), clamp)
                      .Union();
        break;
      case fb::OpCode::SOFTMAX:
        type = fb::OpOptions::SoftmaxOptions;
        options = fb::CreateSoftmaxOptions(b, o.axis, clamp).Union();
        break;
      case fb::OpCode::LAYER_NORM:
        type = fb::OpOptions::LayerNormOptions;
        options = fb::CreateLayerNormOptions(b, o.epsilon, clamp).Union();
        break;
      case fb::OpCode::BATCH_MATMUL:
        type = fb::OpOptions::BatchMatMulOptions;
        options = fb::CreateBatchMatMulOptions(b, o.multiplier, clamp).Union();
        break;
      case fb::OpCode::MUL:
        type = fb::OpOptions::MulOptions;
        options = fb::CreateMulOptions(b, o.multiplier, clamp).Union();
        break;
      case fb::OpCode::TRANSPOSE:
        type = fb::OpOptions::TransposeOptions;
        options = fb::CreateTransposeOptions(b, b.CreateVector(o.perm), clamp).Union();
        break;
      case fb::OpCode::REQUANTIZE:
        type = fb::OpOptions::RequantizeOptions;
        options = fb::CreateRequantizeOptions(b, clamp).Union();
        break;
      default:
        break;
    }
    if (o.no_options) {
      type = fb::OpOptions::NONE;
      options = 0;
    }
    if (o.options_type_only) options = 0;
    ops.push_back(fb::CreateOperator(b, (fb::OpCode)o.opcode, o.version, b.CreateString(o.name),
                                     b.CreateVector(o.inputs), b.CreateVector(o.outputs), type,
                                     options, (fb::KernelFamily)o.family, 0,
                                     (fb::FamilySource)o.family_source));
  }
  std::vector<flatbuffers::Offset<fb::Metadata>> md;
  for (const auto& kv : m.metadata) {
    md.push_back(fb::CreateMetadata(b, b.CreateString(kv.first), b.CreateString(kv.second)));
  }
  auto model =
      fb::CreateModel(b, m.version, b.CreateString("test model"), b.CreateVector(tensors),
                      b.CreateVectorOfStructs(buffers), b.CreateVector(ops),
                      b.CreateVector(m.inputs), b.CreateVector(m.outputs), b.CreateVector(md));
  fb::FinishModelBuffer(b, model);
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

}  // namespace

std::string ModelBuilder::Finish() const {
  std::vector<uint64_t> offsets;
  // The FlatBuffer's size does not depend on the offsets' values; build once to learn it.
  std::string head = Build(*this, 0, &offsets);
  uint64_t start = (head.size() + 63) / 64 * 64;
  head = Build(*this, start, &offsets);
  std::string out = head;
  out.resize(start, '\0');
  size_t k = 0;
  for (const TensorSpec& t : tensors) {
    if (t.data.empty()) continue;
    out.resize(offsets[k++], '\0');
    out += t.data;
  }
  return out;
}

ModelBuilder SmallConvModel() {
  ModelBuilder mb;
  const int32_t in = mb.AddFloat("input", {-1, 2, 4, 4});
  const int32_t x = mb.AddQuant("x", {-1, 2, 4, 4}, 4, kUnsigned, 0.1f, 2);
  std::vector<int32_t> codes(3 * 2 * 3 * 3);
  for (size_t i = 0; i < codes.size(); i++) codes[i] = (int32_t)(i % 4) - 2;
  const int32_t w = mb.AddWeights("conv.weight", {3, 2, 3, 3}, 2, kSigned, {0.5f, 0.25f, 0.125f},
                                  {0, 0, 0}, codes);
  const int32_t mul = mb.AddFloatConst("conv.mul", {0.1f, 0.2f, 0.3f});
  const int32_t add = mb.AddFloatConst("conv.add", {0.5f, -0.5f, 1.0f});
  const int32_t y = mb.AddQuant("y", {-1, 3, 4, 4}, 8, kUnsigned, 0.05f, 10);
  const int32_t z = mb.AddFloat("output", {-1, 3, 4, 4});
  mb.AddOp(0, "quant", {in}, {x});
  OpSpec& conv = mb.AddOp(2, "conv", {x, w, mul, add}, {y});
  conv.kernel_h = conv.kernel_w = 3;
  conv.pad_top = conv.pad_left = conv.pad_bottom = conv.pad_right = 1;
  mb.AddOp(1, "dequant", {y}, {z});
  mb.inputs = {in};
  mb.outputs = {z};
  mb.metadata = {{"converter", "test"}};
  return mb;
}

}  // namespace crumb_test
