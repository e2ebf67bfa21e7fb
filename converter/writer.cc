#include "converter/writer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <limits>

#include "flatbuffers/flatbuffers.h"
#include "schema/crumb_generated.h"

namespace crumb {
namespace cv {

namespace {

namespace fb = crumb::fb;

size_t AlignUp(size_t v) {
  return (v + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment;
}

bool FitsInt32(int64_t v) {
  return v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max();
}

// Builds the FlatBuffer with the given buffer table. Called twice: the first build fixes the
// size (which does not depend on the offsets' values), the second stores the real offsets.
bool Build(const CModel& m, const std::vector<fb::Buffer>& buffers,
           const std::vector<uint32_t>& buffer_of, flatbuffers::FlatBufferBuilder* b,
           std::string* error) {
  std::vector<flatbuffers::Offset<fb::Tensor>> tensors;
  for (size_t t = 0; t < m.tensors.size(); t++) {
    const CTensor& x = m.tensors[t];
    std::vector<int32_t> shape;
    for (int64_t d : x.shape) {
      if (!FitsInt32(d)) {
        *error = "tensor '" + x.name + "': dimension " + std::to_string(d) + " does not fit int32";
        return false;
      }
      shape.push_back(int32_t(d));
    }
    flatbuffers::Offset<fb::Quantization> q = 0;
    if (x.has_quant) {
      std::vector<int32_t> zp;
      for (int64_t z : x.zero_point) zp.push_back(int32_t(z));
      q = fb::CreateQuantization(*b, b->CreateVector(x.scale), b->CreateVector(zp), x.axis,
                                 int32_t(x.qmin), int32_t(x.qmax), 0);
    }
    const auto name = b->CreateString(x.name);
    const auto shp = b->CreateVector(shape);
    const auto mask = x.spatial_mask.empty() ? 0 : b->CreateVector(x.spatial_mask);
    tensors.push_back(fb::CreateTensor(
        *b, name, shp,
        x.type == ElemType::kFloat32 ? fb::ElementType::FLOAT32 : fb::ElementType::QUANT,
        uint8_t(x.bits), static_cast<fb::Encoding>(int(x.encoding)), q, buffer_of[t],
        static_cast<fb::Layout>(int(x.layout)), mask));
  }

  std::vector<flatbuffers::Offset<fb::Operator>> ops;
  for (const COp& op : m.ops) {
    auto clamp = [&]() {
      return fb::CreateClamp(*b, int32_t(op.clamp.qmin), int32_t(op.clamp.qmax), op.clamp.fmin,
                             op.clamp.fmax);
    };
    fb::OpOptions type = fb::OpOptions::NONE;
    flatbuffers::Offset<void> options = 0;
    switch (op.opcode) {
      case OpCode::kConv2D: {
        const auto c = clamp();
        type = fb::OpOptions::Conv2DOptions;
        options = fb::CreateConv2DOptions(*b, op.kernel_h, op.kernel_w, op.stride_h, op.stride_w,
                                          op.dilation_h, op.dilation_w, op.pad_top, op.pad_left,
                                          op.pad_bottom, op.pad_right, op.groups, c)
                      .Union();
        break;
      }
      case OpCode::kFullyConnected: {
        const auto c = clamp();
        type = fb::OpOptions::FullyConnectedOptions;
        options = fb::CreateFullyConnectedOptions(*b, c).Union();
        break;
      }
      case OpCode::kAdd: {
        const auto c = clamp();
        type = fb::OpOptions::AddOptions;
        options = fb::CreateAddOptions(*b, c).Union();
        break;
      }
      case OpCode::kMaxPool2D:
      case OpCode::kAveragePool2D:
      case OpCode::kGlobalAveragePool: {
        // GLOBAL_AVERAGE_POOL carries Pool2DOptions for its clamp; its window fields stay 0.
        const auto c = clamp();
        type = fb::OpOptions::Pool2DOptions;
        options = fb::CreatePool2DOptions(*b, op.kernel_h, op.kernel_w, op.stride_h, op.stride_w,
                                          op.dilation_h, op.dilation_w, op.pad_top, op.pad_left,
                                          op.pad_bottom, op.pad_right, op.ceil_mode,
                                          op.count_include_pad, c)
                      .Union();
        break;
      }
      case OpCode::kReshape: {
        const auto c = clamp();
        type = fb::OpOptions::ReshapeOptions;
        options = fb::CreateReshapeOptions(*b, c).Union();
        break;
      }
      case OpCode::kConcat: {
        const auto c = clamp();
        type = fb::OpOptions::ConcatOptions;
        options = fb::CreateConcatOptions(*b, op.axis, c).Union();
        break;
      }
      case OpCode::kRequantize: {
        const auto c = clamp();
        type = fb::OpOptions::RequantizeOptions;
        options = fb::CreateRequantizeOptions(*b, c).Union();
        break;
      }
      case OpCode::kResize: {
        const auto c = clamp();
        type = fb::OpOptions::ResizeOptions;
        options = fb::CreateResizeOptions(*b, static_cast<fb::ResizeMode>(op.resize_mode),
                                          static_cast<fb::ResizeCoordinates>(op.resize_coordinates),
                                          static_cast<fb::ResizeNearest>(op.resize_nearest),
                                          op.scale_h, op.scale_w, c)
                      .Union();
        break;
      }
      case OpCode::kSlice: {
        const auto c = clamp();
        const auto starts = b->CreateVector(op.slice_starts);
        const auto steps = b->CreateVector(op.slice_steps);
        type = fb::OpOptions::SliceOptions;
        options = fb::CreateSliceOptions(*b, starts, steps, c).Union();
        break;
      }
      case OpCode::kSoftmax: {
        const auto c = clamp();
        type = fb::OpOptions::SoftmaxOptions;
        options = fb::CreateSoftmaxOptions(*b, op.axis, c).Union();
        break;
      }
      case OpCode::kLayerNorm: {
        const auto c = clamp();
        type = fb::OpOptions::LayerNormOptions;
        options = fb::CreateLayerNormOptions(*b, op.epsilon, c).Union();
        break;
      }
      case OpCode::kBatchMatMul: {
        const auto c = clamp();
        type = fb::OpOptions::BatchMatMulOptions;
        options = fb::CreateBatchMatMulOptions(*b, op.multiplier, c).Union();
        break;
      }
      case OpCode::kMul: {
        const auto c = clamp();
        type = fb::OpOptions::MulOptions;
        options = fb::CreateMulOptions(*b, op.multiplier, c).Union();
        break;
      }
      case OpCode::kTranspose: {
        const auto c = clamp();
        const auto perm = b->CreateVector(op.perm);
        type = fb::OpOptions::TransposeOptions;
        options = fb::CreateTransposeOptions(*b, perm, c).Union();
        break;
      }
      case OpCode::kQuantize:
      case OpCode::kDequantize:
        break;
    }
    const auto name = b->CreateString(op.name);
    const auto ins = b->CreateVector(std::vector<int32_t>(op.inputs.begin(), op.inputs.end()));
    const auto outs = b->CreateVector(std::vector<int32_t>(op.outputs.begin(), op.outputs.end()));
    ops.push_back(fb::CreateOperator(*b, static_cast<fb::OpCode>(int(op.opcode)), op.version, name,
                                     ins, outs, type, options,
                                     static_cast<fb::KernelFamily>(int(op.family)), 0,
                                     static_cast<fb::FamilySource>(int(op.family_source))));
  }

  std::vector<flatbuffers::Offset<fb::Metadata>> meta;
  for (const auto& kv : m.metadata)
    meta.push_back(fb::CreateMetadata(*b, b->CreateString(kv.first), b->CreateString(kv.second)));

  const auto desc = b->CreateString(m.description);
  const auto tv = b->CreateVector(tensors);
  const auto bv = b->CreateVectorOfStructs(buffers);
  const auto ov = b->CreateVector(ops);
  const auto iv = b->CreateVector(std::vector<int32_t>(m.inputs.begin(), m.inputs.end()));
  const auto outv = b->CreateVector(std::vector<int32_t>(m.outputs.begin(), m.outputs.end()));
  const auto mv = b->CreateVector(meta);
  fb::FinishModelBuffer(*b, fb::CreateModel(*b, kFormatVersion, desc, tv, bv, ov, iv, outv, mv));
  return true;
}

}  // namespace

bool SerializeModel(const CModel& m, std::vector<uint8_t>* out, std::string* error) {
  // buffers[0] is the empty buffer; every constant tensor gets its own.
  std::vector<uint32_t> buffer_of(m.tensors.size(), 0);
  std::vector<const CTensor*> data;
  for (size_t t = 0; t < m.tensors.size(); t++) {
    if (!m.tensors[t].is_const) continue;
    data.push_back(&m.tensors[t]);
    buffer_of[t] = uint32_t(data.size());
  }
  std::vector<fb::Buffer> buffers(data.size() + 1, fb::Buffer(0, 0));
  flatbuffers::FlatBufferBuilder probe;
  if (!Build(m, buffers, buffer_of, &probe, error)) return false;
  const size_t fb_size = probe.GetSize();

  size_t offset = AlignUp(fb_size);
  for (size_t k = 0; k < data.size(); k++) {
    buffers[k + 1] = fb::Buffer(offset, data[k]->bytes.size());
    offset = AlignUp(offset + data[k]->bytes.size());
  }
  flatbuffers::FlatBufferBuilder b;
  if (!Build(m, buffers, buffer_of, &b, error)) return false;
  if (b.GetSize() != fb_size) {
    *error = "internal error: the FlatBuffer size changed between builds";
    return false;
  }
  size_t total = AlignUp(fb_size);
  if (!data.empty()) total = buffers.back().offset() + buffers.back().size();
  out->assign(total, 0);
  memcpy(out->data(), b.GetBufferPointer(), fb_size);
  for (size_t k = 0; k < data.size(); k++)
    if (!data[k]->bytes.empty())
      memcpy(out->data() + buffers[k + 1].offset(), data[k]->bytes.data(), data[k]->bytes.size());
  return true;
}

bool WriteFileAtomically(const std::string& path, const std::vector<uint8_t>& bytes,
                         std::string* error) {
  std::string tmpl = path + ".tmp.XXXXXX";
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  const int fd = mkstemp(name.data());
  if (fd < 0) {
    *error = "cannot create a temporary file next to '" + path + "': " + strerror(errno);
    return false;
  }
  auto fail = [&](const std::string& what) {
    *error = what + " '" + std::string(name.data()) + "': " + strerror(errno);
    close(fd);
    unlink(name.data());
    return false;
  };
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t w = write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      return fail("cannot write");
    }
    done += size_t(w);
  }
  // mkstemp creates 0600; a model file is ordinary data.
  const mode_t mask = umask(0);
  umask(mask);
  if (fchmod(fd, 0666 & ~mask) != 0) return fail("cannot set the mode of");
  if (fsync(fd) != 0) return fail("cannot flush");
  if (close(fd) != 0) {
    *error = "cannot close '" + std::string(name.data()) + "': " + strerror(errno);
    unlink(name.data());
    return false;
  }
  if (rename(name.data(), path.c_str()) != 0) {
    *error =
        "cannot rename '" + std::string(name.data()) + "' to '" + path + "': " + strerror(errno);
    unlink(name.data());
    return false;
  }
  return true;
}

}  // namespace cv
}  // namespace crumb
