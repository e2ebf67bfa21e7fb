// Loading and verification. Every byte string either loads into a model whose every index,
// shape, size and parameter the interpreter can trust, or fails with a message naming the
// tensor or op at fault. Nothing here may crash on hostile input.
#include "model.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <limits>
#include <new>

#include "flatbuffers/flatbuffers.h"
#include "kernels/common/pack.h"
#include "schema/crumb_generated.h"

namespace crumb::rt {

namespace {

constexpr uint32_t kFormatVersion = 1;
constexpr size_t kMaxRank = 8;
constexpr size_t kAlignment = 64;

std::string Quote(const flatbuffers::String* s) {
  return s ? std::string(s->c_str(), s->size()) : "";
}

bool MulOverflows(int64_t a, int64_t b, int64_t* out) { return __builtin_mul_overflow(a, b, out); }

}  // namespace

const char* OpCodeName(int32_t opcode) {
  switch (opcode) {
    case kOpQuantize:
      return "QUANTIZE";
    case kOpDequantize:
      return "DEQUANTIZE";
    case kOpConv2D:
      return "CONV_2D";
    case kOpFullyConnected:
      return "FULLY_CONNECTED";
    case kOpAdd:
      return "ADD";
    case kOpMaxPool2D:
      return "MAX_POOL_2D";
    case kOpAveragePool2D:
      return "AVERAGE_POOL_2D";
    case kOpGlobalAveragePool:
      return "GLOBAL_AVERAGE_POOL";
    case kOpReshape:
      return "RESHAPE";
    case kOpConcat:
      return "CONCAT";
    case kOpRequantize:
      return "REQUANTIZE";
    case kOpResize:
      return "RESIZE";
    case kOpSlice:
      return "SLICE";
    case kOpSoftmax:
      return "SOFTMAX";
    case kOpLayerNorm:
      return "LAYER_NORM";
    case kOpBatchMatMul:
      return "BATCH_MATMUL";
    case kOpTranspose:
      return "TRANSPOSE";
    case kOpMul:
      return "MUL";
    case kOpCustom:
      return "CUSTOM";
    default:
      return "UNKNOWN";
  }
}

const char* EncodingName(int32_t encoding) {
  switch (encoding) {
    case kSigned:
      return "SIGNED";
    case kUnsigned:
      return "UNSIGNED";
    case kBipolar:
      return "BIPOLAR";
    case kTernary:
      return "TERNARY";
    default:
      return "UNKNOWN";
  }
}

const char* LayoutName(int32_t layout) {
  switch (layout) {
    case kLayoutRuntime:
      return "RUNTIME";
    case kLayoutDense:
      return "DENSE";
    case kLayoutRowsLsb:
      return "ROWS_LSB";
    case kLayoutDotN16K4:
      return "DOT_N16K4";
    case kLayoutLutW2N64:
      return "LUT_W2_N64";
    case kLayoutBitserialN64:
      return "BITSERIAL_N64";
    case kLayoutDwconvC64:
      return "DWCONV_C64";
    case kLayoutSparseB4:
      return "SPARSE_B4";
    default:
      return "UNKNOWN";
  }
}

const char* KernelFamilyName(int32_t family) {
  static const char* const kNames[] = {"AUTO", "SCALAR", "LUT",    "BITSERIAL",
                                       "DOT",  "DWCONV", "SPARSE", "XNNPACK"};
  return family >= 0 && family < 8 ? kNames[family] : "UNKNOWN";
}

void EncodingRange(int encoding, int bits, int32_t* lo, int32_t* hi) {
  switch (encoding) {
    case kUnsigned:
      *lo = 0;
      *hi = (int32_t)((1u << bits) - 1u);
      break;
    case kBipolar:
    case kTernary:
      *lo = -1;
      *hi = 1;
      break;
    default:
      *lo = -(int32_t)(1u << (bits - 1));
      *hi = (int32_t)(1u << (bits - 1)) - 1;
      break;
  }
}

Model::~Model() {
  if (mapping_) munmap(mapping_, mapping_size_);
  free(owned_);
}

Status Model::FromFile(const char* path, Model** out) {
  *out = nullptr;
  if (!path) return InvalidArgument("The model path is NULL.");
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Status(CRUMB_ERROR_IO,
                  StrFormat("Cannot open model file '%s': %s.", path, strerror(errno)));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int e = errno;
    close(fd);
    return Status(CRUMB_ERROR_IO, StrFormat("Cannot stat model file '%s': %s.", path, strerror(e)));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return Status(CRUMB_ERROR_IO, StrFormat("Model file '%s' is not a regular file.", path));
  }
  const size_t size = (size_t)st.st_size;
  if (size == 0) {
    close(fd);
    return InvalidModel(StrFormat("Model file '%s' is empty: not a crumb model.", path));
  }
  void* addr = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int e = errno;
  close(fd);
  if (addr == MAP_FAILED) {
    return Status(CRUMB_ERROR_IO, StrFormat("Cannot map model file '%s': %s.", path, strerror(e)));
  }
  Model* m = new (std::nothrow) Model();
  if (!m) {
    munmap(addr, size);
    return Status(CRUMB_ERROR_OUT_OF_MEMORY, "Out of memory creating the model.");
  }
  m->mapping_ = addr;
  m->mapping_size_ = size;
  m->bytes_ = static_cast<const uint8_t*>(addr);
  m->size_ = size;
  Status s = m->Parse();
  if (!s.ok()) {
    delete m;
    return Status(s.code(), StrFormat("Model file '%s': %s", path, s.message().c_str()));
  }
  *out = m;
  return Status::Ok();
}

Status Model::FromBuffer(const void* data, size_t size, Model** out) {
  *out = nullptr;
  if (!data) return InvalidArgument("The model buffer is NULL.");
  if (size == 0) return InvalidModel("The model buffer is empty: not a crumb model.");
  Model* m = new (std::nothrow) Model();
  if (!m) return Status(CRUMB_ERROR_OUT_OF_MEMORY, "Out of memory creating the model.");
  if (reinterpret_cast<uintptr_t>(data) % kAlignment == 0) {
    m->bytes_ = static_cast<const uint8_t*>(data);
  } else {
    // Weights are used in place and must be 64-byte aligned in memory: copy once.
    void* copy = nullptr;
    if (posix_memalign(&copy, kAlignment, size) != 0) {
      delete m;
      return Status(CRUMB_ERROR_OUT_OF_MEMORY,
                    StrFormat("Out of memory copying the %zu-byte model buffer.", size));
    }
    memcpy(copy, data, size);
    m->owned_ = copy;
    m->bytes_ = static_cast<const uint8_t*>(copy);
  }
  m->size_ = size;
  Status s = m->Parse();
  if (!s.ok()) {
    delete m;
    return s;
  }
  *out = m;
  return Status::Ok();
}

std::string Model::TensorLabel(int32_t index) const {
  if (index >= 0 && (size_t)index < tensors.size()) {
    return StrFormat("tensor %d ('%s')", index, tensors[index].name.c_str());
  }
  return StrFormat("tensor %d", index);
}

std::string Model::OpLabel(size_t index) const {
  if (index < ops.size()) {
    return StrFormat("op %zu (%s '%s')", index, OpCodeName(ops[index].opcode),
                     ops[index].name.c_str());
  }
  return StrFormat("op %zu", index);
}

namespace {

// Semantic checks of one tensor; fills desc.
Status ParseTensor(const fb::Tensor* t, int32_t index, const fb::Model* fm, const uint8_t* base,
                   size_t file_size, TensorDesc* desc) {
  desc->name = Quote(t->name());
  const std::string label = StrFormat("Tensor %d ('%s')", index, desc->name.c_str());
  desc->buffer = t->buffer();
  const bool constant = desc->buffer != 0;
  // Shape.
  if (!t->shape()) return InvalidModel(label + " has no shape.");
  if (t->shape()->size() > kMaxRank) {
    return InvalidModel(StrFormat("%s has rank %u; at most %zu dimensions are supported.",
                                  label.c_str(), t->shape()->size(), kMaxRank));
  }
  int64_t count = 1;
  for (flatbuffers::uoffset_t i = 0; i < t->shape()->size(); i++) {
    const int32_t d = t->shape()->Get(i);
    if (d == -1 && i == 0 && !constant) {
      desc->shape.push_back(-1);
      continue;
    }
    if (d < 1) {
      return InvalidModel(StrFormat(
          "%s has dimension %u of size %d; sizes must be >= 1 (-1 only for the batch dimension "
          "of a non-constant tensor).",
          label.c_str(), i, d));
    }
    desc->shape.push_back(d);
    if (MulOverflows(count, d, &count) || count > (int64_t(1) << 48)) {
      return InvalidModel(label + " has too many elements (the shape's product overflows).");
    }
  }
  // Type and bits.
  const int type = (int)t->type();
  desc->bits = t->bits();
  desc->encoding = (int)t->encoding();
  desc->layout = (int)t->layout();
  if (type == (int)fb::ElementType::FLOAT32) {
    desc->is_float = true;
    if (desc->bits != 32) {
      return InvalidModel(
          StrFormat("%s is FLOAT32 but declares %d bits (must be 32).", label.c_str(), desc->bits));
    }
  } else if (type == (int)fb::ElementType::QUANT) {
    desc->is_float = false;
    if (desc->bits < 1 || desc->bits > 8) {
      return InvalidModel(StrFormat("%s is QUANT with %d bits; bit widths 1..8 are supported.",
                                    label.c_str(), desc->bits));
    }
    if (desc->encoding < kSigned || desc->encoding > kTernary) {
      return InvalidModel(StrFormat("%s has unknown encoding %d.", label.c_str(), desc->encoding));
    }
    if (desc->encoding == kBipolar && desc->bits != 1) {
      return InvalidModel(
          StrFormat("%s is BIPOLAR with %d bits (must be 1).", label.c_str(), desc->bits));
    }
    if (desc->encoding == kTernary && desc->bits != 2) {
      return InvalidModel(
          StrFormat("%s is TERNARY with %d bits (must be 2).", label.c_str(), desc->bits));
    }
  } else {
    return InvalidModel(StrFormat("%s has unknown element type %d.", label.c_str(), type));
  }
  // Quantization.
  if (!desc->is_float) {
    const fb::Quantization* q = t->quantization();
    if (!q || !q->scale() || q->scale()->size() == 0) {
      return InvalidModel(label + " is QUANT but has no quantization scale.");
    }
    const size_t n = q->scale()->size();
    if (q->zero_point() && q->zero_point()->size() != n) {
      return InvalidModel(StrFormat("%s has %zu scales but %u zero points.", label.c_str(), n,
                                    q->zero_point()->size()));
    }
    desc->axis = q->axis();
    if (desc->axis == -1) {
      if (n != 1) {
        return InvalidModel(StrFormat("%s is quantized per tensor (axis -1) but has %zu scales.",
                                      label.c_str(), n));
      }
    } else {
      if (desc->axis < 0 || (size_t)desc->axis >= desc->shape.size()) {
        return InvalidModel(StrFormat("%s has quantization axis %d outside its rank %zu.",
                                      label.c_str(), desc->axis, desc->shape.size()));
      }
      if (desc->shape[desc->axis] < 0 || (size_t)desc->shape[desc->axis] != n) {
        return InvalidModel(
            StrFormat("%s has %zu per-axis quantization parameters but dimension %d has size %lld.",
                      label.c_str(), n, desc->axis, (long long)desc->shape[desc->axis]));
      }
    }
    int32_t lo, hi;
    EncodingRange(desc->encoding, desc->bits, &lo, &hi);
    for (size_t i = 0; i < n; i++) {
      const float s = q->scale()->Get((flatbuffers::uoffset_t)i);
      if (!(s > 0.0f) || !isfinite(s)) {
        return InvalidModel(
            StrFormat("%s has quantization scale %g at index %zu; scales must be "
                      "finite and > 0.",
                      label.c_str(), (double)s, i));
      }
      const int32_t z = q->zero_point() ? q->zero_point()->Get((flatbuffers::uoffset_t)i) : 0;
      if (z < lo || z > hi) {
        return InvalidModel(
            StrFormat("%s has zero point %d at index %zu outside the %d-bit %s "
                      "range [%d, %d].",
                      label.c_str(), z, i, desc->bits, EncodingName(desc->encoding), lo, hi));
      }
      desc->scales.push_back(s);
      desc->zero_points.push_back(z);
    }
    desc->qmin = q->qmin();
    desc->qmax = q->qmax();
    if (desc->qmin > desc->qmax || desc->qmin < lo || desc->qmax > hi) {
      return InvalidModel(StrFormat(
          "%s has code range [%d, %d], which is empty or outside the "
          "%d-bit %s range [%d, %d].",
          label.c_str(), desc->qmin, desc->qmax, desc->bits, EncodingName(desc->encoding), lo, hi));
    }
    if (!constant && n != 1) {
      return InvalidModel(label +
                          " is an activation quantized per axis; activations must be "
                          "quantized per tensor.");
    }
  }
  if (const auto* mask = t->spatial_mask()) {
    if (constant || desc->is_float || desc->shape.size() != 4) {
      return InvalidModel(label +
                          " has a spatial mask but is not a 4-D quantized activation; only those "
                          "may carry one.");
    }
    if ((uint64_t)mask->size() != (uint64_t)desc->shape[2] * (uint64_t)desc->shape[3]) {
      return InvalidModel(StrFormat(
          "%s has a spatial mask of %u bytes for its %lldx%lld pixels (one byte per pixel).",
          label.c_str(), mask->size(), (long long)desc->shape[2], (long long)desc->shape[3]));
    }
    for (flatbuffers::uoffset_t i = 0; i < mask->size(); i++) {
      if (mask->Get(i) > 1) {
        return InvalidModel(StrFormat("%s has spatial mask value %u at pixel %u (must be 0 or 1).",
                                      label.c_str(), mask->Get(i), i));
      }
    }
    desc->spatial_mask = mask->data();
  }
  // Layout and data.
  if (desc->layout < kLayoutRuntime || desc->layout > kLayoutSparseB4) {
    return InvalidModel(StrFormat("%s has unknown layout id %d.", label.c_str(), desc->layout));
  }
  if (!constant) {
    if (desc->layout != kLayoutRuntime && desc->layout != kLayoutDense) {
      return InvalidModel(StrFormat("%s has no data but layout %s (only for constant weights).",
                                    label.c_str(), LayoutName(desc->layout)));
    }
    return Status::Ok();
  }
  const uint32_t nbuf = fm->buffers() ? fm->buffers()->size() : 0;
  if (desc->buffer >= nbuf) {
    return InvalidModel(StrFormat("%s refers to buffer %u but the model has %u buffers.",
                                  label.c_str(), desc->buffer, nbuf));
  }
  const fb::Buffer* b = fm->buffers()->Get(desc->buffer);
  const uint64_t off = b->offset(), size = b->size();
  if (off % kAlignment != 0) {
    return InvalidModel(StrFormat("%s: buffer %u starts at offset %llu, not a multiple of 64.",
                                  label.c_str(), desc->buffer, (unsigned long long)off));
  }
  if (off > file_size || size > file_size - off) {
    return InvalidModel(StrFormat(
        "%s: buffer %u (offset %llu, %llu bytes) extends past the end "
        "of the %zu-byte file (truncated?).",
        label.c_str(), desc->buffer, (unsigned long long)off, (unsigned long long)size, file_size));
  }
  uint64_t expected = 0;
  if (desc->is_float) {
    if (desc->layout != kLayoutDense) {
      return InvalidModel(StrFormat("%s is a FLOAT32 constant with layout %s (must be DENSE).",
                                    label.c_str(), LayoutName(desc->layout)));
    }
    expected = 4ull * (uint64_t)count;
  } else if (desc->layout == kLayoutDense) {
    if (desc->bits != 8) {
      return InvalidModel(
          StrFormat("%s is a %d-bit constant with layout DENSE (DENSE holds "
                    "8-bit codes only; sub-byte weights use ROWS_LSB).",
                    label.c_str(), desc->bits));
    }
    expected = (uint64_t)count;
  } else if (desc->layout == kLayoutRowsLsb) {
    if (desc->shape.empty()) return InvalidModel(label + " is ROWS_LSB but has rank 0.");
    const uint64_t rows = (uint64_t)desc->shape[0];
    const uint64_t k = (uint64_t)count / rows;
    expected = (uint64_t)crumb_rows_lsb_size(rows, k, (unsigned)desc->bits);
  } else if (IsFamilyLayout(desc->layout)) {
    if (desc->shape.size() != 2 && desc->shape.size() != 4) {
      return InvalidModel(
          StrFormat("%s is %s but has rank %zu (Conv / FullyConnected weights "
                    "have rank 4 / 2).",
                    label.c_str(), LayoutName(desc->layout), desc->shape.size()));
    }
    if ((desc->layout == kLayoutLutW2N64 || desc->layout == kLayoutBitserialN64) &&
        desc->bits > 2) {
      return InvalidModel(
          StrFormat("%s is %s but has %d-bit codes (the layout holds 1- and 2-bit weights).",
                    label.c_str(), LayoutName(desc->layout), desc->bits));
    }
    expected = size;  // depends on the op's groups: checked with the op (op_check.cc)
  } else {
    return InvalidModel(label + " is constant but has layout RUNTIME.");
  }
  if (size != expected) {
    return InvalidModel(
        StrFormat("%s: buffer %u holds %llu bytes but %d-bit %s data of shape "
                  "needs exactly %llu bytes.",
                  label.c_str(), desc->buffer, (unsigned long long)size, desc->bits,
                  LayoutName(desc->layout), (unsigned long long)expected));
  }
  desc->data = base + off;
  desc->data_size = size;
  if (desc->is_float) {
    const float* f = reinterpret_cast<const float*>(desc->data);
    for (int64_t i = 0; i < count; i++) {
      if (!isfinite(f[i])) {
        return InvalidModel(
            StrFormat("%s holds a non-finite value at element %lld.", label.c_str(), (long long)i));
      }
    }
  }
  return Status::Ok();
}

}  // namespace

Status Model::Parse() {
  if (size_ < 8) {
    return InvalidModel(StrFormat("The data is %zu bytes: too short for a crumb model.", size_));
  }
  if (!flatbuffers::BufferHasIdentifier(bytes_, fb::ModelIdentifier())) {
    std::string id;
    for (int i = 4; i < 8; i++) {
      const char c = (char)bytes_[i];
      id += (c >= 32 && c < 127) ? c : '?';
    }
    return InvalidModel(
        StrFormat("Not a crumb model: the file identifier is '%s', expected "
                  "'CRMB'.",
                  id.c_str()));
  }
  {
    const size_t verify_size = size_ < (size_t)FLATBUFFERS_MAX_BUFFER_SIZE
                                   ? size_
                                   : (size_t)FLATBUFFERS_MAX_BUFFER_SIZE - 1;
    flatbuffers::Verifier verifier(bytes_, verify_size, 64, 1000000);
    if (!fb::VerifyModelBuffer(verifier)) {
      return InvalidModel(
          StrFormat("The model's FlatBuffer failed verification: the file is "
                    "truncated or corrupt (%zu bytes).",
                    size_));
    }
  }
  const fb::Model* fm = fb::GetModel(bytes_);
  // The verifier checks a vector's length word at 4 bytes but not the alignment of its 8-byte
  // struct elements; reading a misaligned Buffer is undefined (found by fuzz_load_invoke).
  if (fm->buffers() && reinterpret_cast<uintptr_t>(fm->buffers()->data()) % alignof(fb::Buffer)) {
    return InvalidModel(
        "The model's buffer table is not 8-byte aligned: the file is corrupt or was not "
        "written by crumb-convert.");
  }
  version = fm->version();
  if (version > kFormatVersion) {
    return Unsupported(
        StrFormat("The model has format version %u; this runtime reads versions "
                  "up to %u. Use a newer libcrumb.",
                  version, kFormatVersion));
  }
  if (version == 0) {
    return InvalidModel(
        "The model has format version 0, which does not exist (the first "
        "version is 1).");
  }
  description = Quote(fm->description());
  if (fm->metadata()) {
    for (const fb::Metadata* md : *fm->metadata()) {
      metadata.emplace_back(Quote(md->key()), Quote(md->value()));
    }
  }
  // Tensors.
  const uint32_t ntensors = fm->tensors() ? fm->tensors()->size() : 0;
  tensors.resize(ntensors);
  for (uint32_t i = 0; i < ntensors; i++) {
    CRUMB_RETURN_IF_ERROR(
        ParseTensor(fm->tensors()->Get(i), (int32_t)i, fm, bytes_, size_, &tensors[i]));
  }
  auto valid_index = [&](int32_t t) { return t >= 0 && (uint32_t)t < ntensors; };
  // Model inputs.
  std::vector<uint8_t> written(ntensors, 0);  // 1 once a value exists
  for (uint32_t i = 0; i < ntensors; i++) written[i] = tensors[i].is_constant();
  if (fm->inputs()) {
    for (int32_t t : *fm->inputs()) {
      if (!valid_index(t)) {
        return InvalidModel(
            StrFormat("Model input refers to tensor %d but the model has %u "
                      "tensors.",
                      t, ntensors));
      }
      if (tensors[t].is_constant()) {
        return InvalidModel("Model input " + TensorLabel(t) + " is a constant.");
      }
      if (written[t]) return InvalidModel("Model input " + TensorLabel(t) + " is listed twice.");
      if (tensors[t].spatial_mask) {
        return InvalidModel("Model input " + TensorLabel(t) +
                            " has a spatial mask; only tensors an op writes may carry one.");
      }
      written[t] = 1;
      inputs.push_back(t);
    }
  }
  // Operators.
  const uint32_t nops = fm->operators() ? fm->operators()->size() : 0;
  ops.resize(nops);
  for (uint32_t i = 0; i < nops; i++) {
    const fb::Operator* fo = fm->operators()->Get(i);
    OpDesc& op = ops[i];
    op.opcode = (int32_t)fo->opcode();
    op.version = fo->version();
    op.name = Quote(fo->name());
    op.family = (int32_t)fo->family();
    op.family_source = (int32_t)fo->family_source();
    const std::string label =
        StrFormat("Op %u (%s '%s')", i, OpCodeName(op.opcode), op.name.c_str());
    if (op.opcode == kOpCustom) {
      return Unsupported(StrFormat("%s is a custom op '%s', which this runtime does not provide.",
                                   label.c_str(), Quote(fo->custom_code()).c_str()));
    }
    if (op.opcode < kOpQuantize || op.opcode > kOpMul) {
      return Unsupported(
          StrFormat("Op %u ('%s') has unknown opcode %d: this runtime runs opcodes %d "
                    "(QUANTIZE) to %d (MUL) at version 1 (a newer model format?).",
                    i, op.name.c_str(), op.opcode, (int)kOpQuantize, (int)kOpMul));
    }
    // REQUANTIZE version 2 reads a code table as its second input; CONV_2D / FULLY_CONNECTED
    // version 2 are float layers (FLOAT32 x, w, bias); ADD version 2 subtracts; SOFTMAX version 2
    // is a float softmax; every other op is at 1.
    const bool two = op.opcode == kOpRequantize || op.opcode == kOpConv2D ||
                     op.opcode == kOpFullyConnected || op.opcode == kOpAdd ||
                     op.opcode == kOpSoftmax;
    const int32_t max_version = two ? 2 : 1;
    if (op.version < 1 || op.version > max_version) {
      return Unsupported(StrFormat("%s has version %d; this runtime knows version%s.",
                                   label.c_str(), op.version,
                                   max_version == 1 ? " 1" : "s 1 and 2"));
    }
    if (fo->inputs()) op.inputs.assign(fo->inputs()->begin(), fo->inputs()->end());
    if (fo->outputs()) op.outputs.assign(fo->outputs()->begin(), fo->outputs()->end());
    // LAYER_NORM's bias (input 2) is optional: an absent one is dropped, leaving two inputs.
    if (op.opcode == kOpLayerNorm && op.inputs.size() == 3 && op.inputs[2] == -1) {
      op.inputs.pop_back();
    }
    // So is a float layer's bias (input 2).
    if ((op.opcode == kOpConv2D || op.opcode == kOpFullyConnected) && op.version == 2 &&
        op.inputs.size() == 3 && op.inputs[2] == -1) {
      op.inputs.pop_back();
    }
    for (size_t k = 0; k < op.inputs.size(); k++) {
      const int32_t t = op.inputs[k];
      if (t == -1) {
        return InvalidModel(StrFormat("%s: input %zu is absent but required.", label.c_str(), k));
      }
      if (!valid_index(t)) {
        return InvalidModel(
            StrFormat("%s: input %zu refers to tensor %d but the model has %u "
                      "tensors.",
                      label.c_str(), k, t, ntensors));
      }
      if (!written[t]) {
        return InvalidModel(
            StrFormat("%s reads %s before any op writes it (ops must come in execution order: a "
                      "cycle, or a missing producer).",
                      label.c_str(), TensorLabel(t).c_str()));
      }
    }
    for (size_t k = 0; k < op.outputs.size(); k++) {
      const int32_t t = op.outputs[k];
      if (!valid_index(t)) {
        return InvalidModel(
            StrFormat("%s: output %zu refers to tensor %d but the model has %u "
                      "tensors.",
                      label.c_str(), k, t, ntensors));
      }
      if (tensors[t].is_constant()) {
        return InvalidModel(
            StrFormat("%s writes constant %s.", label.c_str(), TensorLabel(t).c_str()));
      }
      if (written[t]) {
        return InvalidModel(
            StrFormat("%s writes %s, which already has a value (a model input "
                      "or an earlier op's output).",
                      label.c_str(), TensorLabel(t).c_str()));
      }
      written[t] = 1;
    }
    // Options.
    const fb::Clamp* clamp = nullptr;
    const fb::OpOptions ot = fo->options_type();
    auto need_options = [&](fb::OpOptions want, const char* want_name) -> Status {
      if (ot != want) {
        return InvalidModel(StrFormat("%s needs %s.", label.c_str(), want_name));
      }
      // A union's type may be set while its table is absent; the verifier accepts that.
      if (!fo->options()) {
        return InvalidModel(
            StrFormat("%s names %s but carries no options table.", label.c_str(), want_name));
      }
      return Status::Ok();
    };
    auto allow_options = [&](fb::OpOptions want, const char* want_name) -> Status {
      if (ot != fb::OpOptions::NONE && ot != want) {
        return InvalidModel(StrFormat("%s carries options of the wrong type (expected %s).",
                                      label.c_str(), want_name));
      }
      return Status::Ok();
    };
    switch (op.opcode) {
      case kOpConv2D: {
        CRUMB_RETURN_IF_ERROR(need_options(fb::OpOptions::Conv2DOptions, "Conv2DOptions"));
        const fb::Conv2DOptions* o = fo->options_as_Conv2DOptions();
        op.kernel_h = o->kernel_h();
        op.kernel_w = o->kernel_w();
        op.stride_h = o->stride_h();
        op.stride_w = o->stride_w();
        op.dilation_h = o->dilation_h();
        op.dilation_w = o->dilation_w();
        op.pad_top = o->pad_top();
        op.pad_left = o->pad_left();
        op.pad_bottom = o->pad_bottom();
        op.pad_right = o->pad_right();
        op.groups = o->groups();
        clamp = o->clamp();
        break;
      }
      case kOpMaxPool2D:
      case kOpAveragePool2D: {
        CRUMB_RETURN_IF_ERROR(need_options(fb::OpOptions::Pool2DOptions, "Pool2DOptions"));
        const fb::Pool2DOptions* o = fo->options_as_Pool2DOptions();
        op.kernel_h = o->kernel_h();
        op.kernel_w = o->kernel_w();
        op.stride_h = o->stride_h();
        op.stride_w = o->stride_w();
        op.dilation_h = o->dilation_h();
        op.dilation_w = o->dilation_w();
        op.pad_top = o->pad_top();
        op.pad_left = o->pad_left();
        op.pad_bottom = o->pad_bottom();
        op.pad_right = o->pad_right();
        op.ceil_mode = o->ceil_mode();
        op.count_include_pad = o->count_include_pad();
        clamp = o->clamp();
        break;
      }
      case kOpFullyConnected:
        CRUMB_RETURN_IF_ERROR(
            allow_options(fb::OpOptions::FullyConnectedOptions, "FullyConnectedOptions"));
        if (fo->options_as_FullyConnectedOptions())
          clamp = fo->options_as_FullyConnectedOptions()->clamp();
        break;
      case kOpAdd:
        CRUMB_RETURN_IF_ERROR(allow_options(fb::OpOptions::AddOptions, "AddOptions"));
        if (fo->options_as_AddOptions()) clamp = fo->options_as_AddOptions()->clamp();
        break;
      case kOpReshape:
        CRUMB_RETURN_IF_ERROR(allow_options(fb::OpOptions::ReshapeOptions, "ReshapeOptions"));
        if (fo->options_as_ReshapeOptions()) clamp = fo->options_as_ReshapeOptions()->clamp();
        break;
      case kOpConcat:
        CRUMB_RETURN_IF_ERROR(need_options(fb::OpOptions::ConcatOptions, "ConcatOptions"));
        op.axis = fo->options_as_ConcatOptions()->axis();
        clamp = fo->options_as_ConcatOptions()->clamp();
        break;
      case kOpRequantize:
        CRUMB_RETURN_IF_ERROR(allow_options(fb::OpOptions::RequantizeOptions, "RequantizeOptions"));
        if (fo->options_as_RequantizeOptions()) clamp = fo->options_as_RequantizeOptions()->clamp();
        break;
      case kOpResize: {
        CRUMB_RETURN_IF_ERROR(need_options(fb::OpOptions::ResizeOptions, "ResizeOptions"));
        const fb::ResizeOptions* o = fo->options_as_ResizeOptions();
        op.resize_mode = (int32_t)o->mode();
        op.resize_coordinates = (int32_t)o->coordinates();
        op.resize_nearest = (int32_t)o->nearest();
        op.scale_h = o->scale_h();
        op.scale_w = o->scale_w();
        clamp = o->clamp();
        break;
      }
      case kOpSlice: {
        CRUMB_RETURN_IF_ERROR(need_options(fb::OpOptions::SliceOptions, "SliceOptions"));
        const fb::SliceOptions* o = fo->options_as_SliceOptions();
        // Absent vectors stay empty; op_check refuses a length other than the input's rank.
        if (o->starts()) op.slice_starts.assign(o->starts()->begin(), o->starts()->end());
        if (o->steps()) op.slice_steps.assign(o->steps()->begin(), o->steps()->end());
        clamp = o->clamp();
        break;
      }
      case kOpSoftmax: {
        CRUMB_RETURN_IF_ERROR(need_options(fb::OpOptions::SoftmaxOptions, "SoftmaxOptions"));
        const fb::SoftmaxOptions* o = fo->options_as_SoftmaxOptions();
        op.axis = o->axis();  // op_check refuses an axis outside the input's rank
        clamp = o->clamp();
        break;
      }
      case kOpLayerNorm: {
        CRUMB_RETURN_IF_ERROR(need_options(fb::OpOptions::LayerNormOptions, "LayerNormOptions"));
        const fb::LayerNormOptions* o = fo->options_as_LayerNormOptions();
        op.epsilon = o->epsilon();  // op_check refuses a negative or non-finite one
        clamp = o->clamp();
        break;
      }
      case kOpBatchMatMul: {
        CRUMB_RETURN_IF_ERROR(
            need_options(fb::OpOptions::BatchMatMulOptions, "BatchMatMulOptions"));
        const fb::BatchMatMulOptions* o = fo->options_as_BatchMatMulOptions();
        op.multiplier = o->multiplier();  // op_check refuses one not finite and > 0
        clamp = o->clamp();
        break;
      }
      case kOpMul: {
        CRUMB_RETURN_IF_ERROR(need_options(fb::OpOptions::MulOptions, "MulOptions"));
        const fb::MulOptions* o = fo->options_as_MulOptions();
        op.multiplier = o->multiplier();  // op_check refuses one not finite and > 0
        clamp = o->clamp();
        break;
      }
      case kOpTranspose: {
        CRUMB_RETURN_IF_ERROR(need_options(fb::OpOptions::TransposeOptions, "TransposeOptions"));
        const fb::TransposeOptions* o = fo->options_as_TransposeOptions();
        // Absent stays empty; op_check refuses anything but a permutation of the input's axes.
        if (o->perm()) op.perm.assign(o->perm()->begin(), o->perm()->end());
        clamp = o->clamp();
        break;
      }
      case kOpGlobalAveragePool:
        // Pool2DOptions may carry a clamp; nothing else applies.
        CRUMB_RETURN_IF_ERROR(allow_options(fb::OpOptions::Pool2DOptions, "Pool2DOptions"));
        if (fo->options_as_Pool2DOptions()) clamp = fo->options_as_Pool2DOptions()->clamp();
        break;
      default:  // QUANTIZE, DEQUANTIZE: no options
        break;
    }
    // Effective output clamp: the op's clamp within the output tensor's code range.
    if (op.outputs.size() == 1) {
      const TensorDesc& out = tensors[op.outputs[0]];
      if (!out.is_float) {
        op.clamp.qmin = out.qmin;
        op.clamp.qmax = out.qmax;
        if (clamp) {
          if (clamp->qmin() > clamp->qmax()) {
            return InvalidModel(StrFormat("%s has an empty output clamp [%d, %d].", label.c_str(),
                                          clamp->qmin(), clamp->qmax()));
          }
          op.clamp.qmin = clamp->qmin() > out.qmin ? clamp->qmin() : out.qmin;
          op.clamp.qmax = clamp->qmax() < out.qmax ? clamp->qmax() : out.qmax;
          if (op.clamp.qmin > op.clamp.qmax) {
            return InvalidModel(
                StrFormat("%s clamps its output to [%d, %d], outside the code "
                          "range [%d, %d] of %s.",
                          label.c_str(), clamp->qmin(), clamp->qmax(), out.qmin, out.qmax,
                          TensorLabel(op.outputs[0]).c_str()));
          }
        }
      } else if (clamp) {
        op.clamp.fmin = clamp->fmin();
        op.clamp.fmax = clamp->fmax();
        if (isnan(op.clamp.fmin) || isnan(op.clamp.fmax) || op.clamp.fmin > op.clamp.fmax) {
          return InvalidModel(StrFormat("%s has an invalid float output clamp [%g, %g].",
                                        label.c_str(), (double)op.clamp.fmin,
                                        (double)op.clamp.fmax));
        }
      }
    }
  }
  // Model outputs.
  if (!fm->outputs() || fm->outputs()->size() == 0) {
    return InvalidModel("The model declares no outputs.");
  }
  for (int32_t t : *fm->outputs()) {
    if (!valid_index(t)) {
      return InvalidModel(
          StrFormat("Model output refers to tensor %d but the model has %u "
                    "tensors.",
                    t, ntensors));
    }
    if (!written[t]) {
      return InvalidModel("Model output " + TensorLabel(t) + " is never written by any op.");
    }
    if (tensors[t].is_constant()) {
      return InvalidModel("Model output " + TensorLabel(t) + " is a constant.");
    }
    outputs.push_back(t);
  }
  // Per-op signatures (input/output counts and types), schema/README.md's table.
  for (size_t i = 0; i < ops.size(); i++) {
    CRUMB_RETURN_IF_ERROR(CheckOpSignature(*this, i));
  }
  return Status::Ok();
}

}  // namespace crumb::rt
