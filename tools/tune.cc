// crumb-bench --tune: see tune.h. The procedure:
//  1. One interpreter per candidate: the file as it is ("auto": the table's or the file's choice
//     for this CPU) and each family forced (lut, bitserial, dot; scalar never wins). A forced
//     family a layer cannot run falls back, so per layer the candidates are the families it
//     actually ran (crumb_interpreter_op_family).
//  2. R rounds, interleaved across the candidates (drift and turbo hit them alike): --num_runs
//     invokes each, the per-op average of the round recorded; per op the median over rounds.
//  3. Per Conv / FullyConnected op the fastest family wins, but only when it beats the file's own
//     choice by more than kMargin (noise would otherwise flip ties and break chains, below).
//  4. The tuned copy is built in memory and checked: its outputs must equal the original's byte
//     for byte (all families are bit-exact), else nothing is written and the exit code is 1.
//  5. lut / bitserial layers hand packed activations to a consumer of the same family, which then
//     skips packing its input: under a uniformly forced family that saving is credited to the
//     consumer, and a mixed choice can lose it. So the tuned copy is timed against the original
//     (interleaved, R rounds, per op): a layer slower in the tuned copy than in the original is
//     set back to the original's family (still recorded as tuned) and the copy rebuilt, once.
//  6. The final verification prints both medians and the ratio, says plainly when the tuned copy
//     is slower overall (the file is written anyway; the user decides), and writes the file
//     atomically.
// Weights shared by several ops (one tensor as input 1 of two layers) take the family of the
// first such op; a later op sharing them whose winner differs is left untuned (the runtime then
// repacks for it at prepare, as for any file).
#include "tune.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "flatbuffers/flatbuffers.h"
#include "kernels/common/repack.h"
#include "schema/crumb_generated.h"
#include "tool_util.h"

namespace crumb_tools {

namespace fb = crumb::fb;

namespace {

using Clock = std::chrono::steady_clock;

constexpr double kMargin = 0.03;  // a family must be >3% faster than the file's choice to win
constexpr size_t kAlign = 64;     // data section alignment (schema: Buffer.offset)

const char* const kCandidates[] = {"auto", "lut", "bitserial", "dot"};

int Fail(const std::string& message) {
  fprintf(stderr, "crumb-bench: --tune: %s\n", message.c_str());
  return 1;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int FamilyFromName(const std::string& name) {
  if (name == "scalar") return (int)fb::KernelFamily::SCALAR;
  if (name == "lut") return (int)fb::KernelFamily::LUT;
  if (name == "bitserial") return (int)fb::KernelFamily::BITSERIAL;
  if (name == "dot") return (int)fb::KernelFamily::DOT;
  if (name == "dwconv") return (int)fb::KernelFamily::DWCONV;
  if (name == "sparse") return (int)fb::KernelFamily::SPARSE;
  return -1;
}

const char* FamilyName(int family) {
  switch ((fb::KernelFamily)family) {
    case fb::KernelFamily::SCALAR:
      return "scalar";
    case fb::KernelFamily::LUT:
      return "lut";
    case fb::KernelFamily::BITSERIAL:
      return "bitserial";
    case fb::KernelFamily::DOT:
      return "dot";
    case fb::KernelFamily::DWCONV:
      return "dwconv";
    case fb::KernelFamily::SPARSE:
      return "sparse";
    default:
      return "auto";
  }
}

// One interpreter being timed: a candidate family over the original file, or the tuned copy.
struct Runner {
  std::string label;
  crumb::Model model;
  crumb::Interpreter interp;
  std::vector<std::string> op_family;          // per op, "" for single-kernel ops
  std::vector<std::vector<double>> op_rounds;  // [op][round] average us per invoke
  std::vector<double> total_rounds;            // [round] average wall us per invoke
  double OpMedian(size_t op) const { return Median(op_rounds[op]); }
  double TotalMedian() const { return Median(total_rounds); }
};

bool MakeRunner(const TuneConfig& c, const crumb::Model& model, const std::string& label,
                const char* force, Runner* r, std::string* error) {
  r->label = label;
  r->model = model;
  crumb::Options options;
  options.SetNumThreads(c.num_threads).SetProfiling(true);
  if (c.has_isa) options.SetIsa(c.isa);
  if (!options.SetKernelFamily(force)) {
    *error = crumb_last_error();
    return false;
  }
  r->interp = crumb::Interpreter(model, options);
  if (!r->interp) {
    *error = crumb_last_error();
    return false;
  }
  if (!c.input_shape.empty() && r->interp.ResizeInput(0, c.input_shape) != CRUMB_OK) {
    *error = r->interp.LastError();
    return false;
  }
  if (r->interp.Allocate() != CRUMB_OK || !FillBenchInputs(r->interp, error)) {
    if (error->empty()) *error = r->interp.LastError();
    return false;
  }
  const int32_t n = r->interp.OpCount();
  r->op_family.assign(n, "");
  for (int32_t i = 0; i < n; i++) r->op_family[i] = r->interp.Op(i).family;
  r->op_rounds.assign(n, {});
  r->total_rounds.clear();
  for (int64_t i = 0; i < std::max<int64_t>(c.warmup_runs, 1); i++) {
    if (r->interp.Invoke() != CRUMB_OK) {
      *error = r->interp.LastError();
      return false;
    }
  }
  return true;
}

// R rounds; in each, every runner does num_runs invokes (in turn).
bool Measure(const TuneConfig& c, std::vector<Runner*> runners, std::string* error) {
  for (int64_t round = 0; round < c.rounds; round++) {
    for (Runner* r : runners) {
      const int32_t n = r->interp.OpCount();
      std::vector<double> before(n);
      for (int32_t i = 0; i < n; i++) before[i] = r->interp.Op(i).total_us;
      const auto t0 = Clock::now();
      for (int64_t k = 0; k < c.num_runs; k++) {
        if (r->interp.Invoke() != CRUMB_OK) {
          *error = r->label + ": " + r->interp.LastError();
          return false;
        }
      }
      const double wall = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
      r->total_rounds.push_back(wall / (double)c.num_runs);
      for (int32_t i = 0; i < n; i++) {
        r->op_rounds[i].push_back((r->interp.Op(i).total_us - before[i]) / (double)c.num_runs);
      }
    }
  }
  return true;
}

bool Outputs(const crumb::Interpreter& interp, std::string* bytes, std::string* error) {
  bytes->clear();
  for (int32_t i = 0; i < interp.OutputCount(); i++) {
    const crumb_tensor* t = interp.Output(i);
    std::string b(crumb_tensor_byte_size(t), '\0');
    if (crumb_tensor_copy_to_buffer(t, &b[0], b.size()) != CRUMB_OK) {
      *error = interp.LastError();
      return false;
    }
    *bytes += b;
  }
  return true;
}

size_t AlignUp(size_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

// The original file with `family[op]` (fb::KernelFamily, -1 = leave the op as it is) recorded as
// TUNED and the op's weights packed for it; `applied[op]` says which ops were tuned (a later op
// sharing weights with another choice is not). Metadata crumb.tuned_isa / crumb.tuned_by added.
bool BuildTuned(const std::string& original, const std::vector<int>& family,
                const std::string& isa_name, std::vector<uint8_t>* out, std::vector<bool>* applied,
                std::string* error) {
  flatbuffers::Verifier verifier(reinterpret_cast<const uint8_t*>(original.data()),
                                 original.size());
  if (!fb::ModelBufferHasIdentifier(original.data()) || !fb::VerifyModelBuffer(verifier)) {
    *error = "the model file is not a valid crumb model.";
    return false;
  }
  std::unique_ptr<fb::ModelT> m = fb::UnPackModel(original.data());
  if (m->buffers.empty()) m->buffers.emplace_back(0, 0);
  std::vector<std::string> data(m->buffers.size());
  for (size_t k = 1; k < m->buffers.size(); k++) {
    const uint64_t off = m->buffers[k].offset(), size = m->buffers[k].size();
    if (off > original.size() || size > original.size() - off) {
      *error = "buffer " + std::to_string(k) + " lies outside the file.";
      return false;
    }
    data[k] = original.substr(off, size);
  }
  std::vector<int> buffer_refs(m->buffers.size(), 0);
  for (const auto& t : m->tensors) {
    if (t->buffer < buffer_refs.size()) buffer_refs[t->buffer]++;
  }

  if (family.size() != m->operators.size()) {
    *error = "internal error: op count mismatch.";
    return false;
  }
  applied->assign(family.size(), false);
  std::map<int32_t, int> tensor_family;  // weight tensor -> family it was packed for here
  for (size_t i = 0; i < m->operators.size(); i++) {
    if (family[i] < 0) continue;
    fb::OperatorT& op = *m->operators[i];
    const bool conv = op.opcode == fb::OpCode::CONV_2D;
    if ((!conv && op.opcode != fb::OpCode::FULLY_CONNECTED) || op.inputs.size() < 2) continue;
    const int32_t w = op.inputs[1];
    if (w < 0 || (size_t)w >= m->tensors.size()) continue;
    auto seen = tensor_family.find(w);
    if (seen != tensor_family.end()) {
      if (seen->second == family[i]) {
        op.family = (fb::KernelFamily)family[i];
        op.family_source = fb::FamilySource::TUNED;
        (*applied)[i] = true;
      }
      continue;  // weights already packed for the first op that uses them
    }
    fb::TensorT& t = *m->tensors[w];
    if (t.type != fb::ElementType::QUANT || t.buffer == 0 || t.buffer >= data.size() ||
        t.shape.size() < 2) {
      continue;
    }
    crumb_weights_desc d;
    d.bits = t.bits;
    d.encoding = (unsigned)t.encoding;
    d.n = (size_t)t.shape[0];
    d.groups = 1;
    d.ks = 1;
    d.kc = (size_t)t.shape[1];
    if (conv) {
      const fb::Conv2DOptionsT* o = op.options.AsConv2DOptions();
      if (o) {
        d.groups = (size_t)std::max(o->groups, 1);
        d.ks = (size_t)o->kernel_h * (size_t)o->kernel_w;
      } else if (t.shape.size() == 4) {
        d.ks = (size_t)t.shape[2] * (size_t)t.shape[3];
      }
    }
    std::vector<int32_t> zp(d.n, 0);
    if (t.quantization && !t.quantization->zero_point.empty()) {
      const auto& z = t.quantization->zero_point;
      for (size_t o = 0; o < d.n; o++) zp[o] = z.size() == d.n ? z[o] : z[0];
    }
    d.zero_points = zp.data();
    const int src_layout = (int)t.layout;
    const int dst_layout = crumb_family_layout(family[i]);
    if (src_layout != dst_layout) {
      const std::string& src = data[t.buffer];
      if (src.size() != crumb_weights_size(&d, src_layout)) {
        *error = "op '" + op.name + "': its weights have " + std::to_string(src.size()) +
                 " bytes, not the " + std::to_string(crumb_weights_size(&d, src_layout)) +
                 " their layout needs.";
        return false;
      }
      std::string dst(crumb_weights_size(&d, dst_layout), '\0');
      if (!crumb_repack_weights(&d, reinterpret_cast<const uint8_t*>(src.data()), src_layout,
                                reinterpret_cast<uint8_t*>(&dst[0]), dst_layout)) {
        *error =
            "op '" + op.name + "': the " + FamilyName(family[i]) + " packer refuses its weights.";
        return false;
      }
      if (buffer_refs[t.buffer] > 1) {  // another tensor reads the old bytes: a new buffer
        buffer_refs[t.buffer]--;
        t.buffer = (uint32_t)m->buffers.size();
        m->buffers.emplace_back(0, 0);
        data.push_back(std::move(dst));
        buffer_refs.push_back(1);
      } else {
        data[t.buffer] = std::move(dst);
      }
      t.layout = (fb::Layout)dst_layout;
    }
    tensor_family[w] = family[i];
    op.family = (fb::KernelFamily)family[i];
    op.family_source = fb::FamilySource::TUNED;
    (*applied)[i] = true;
  }

  auto set_meta = [&](const std::string& key, const std::string& value) {
    for (auto& kv : m->metadata) {
      if (kv->key == key) {
        kv->value = value;
        return;
      }
    }
    auto kv = std::make_unique<fb::MetadataT>();
    kv->key = key;
    kv->value = value;
    m->metadata.push_back(std::move(kv));
  };
  set_meta("crumb.tuned_isa", isa_name);
  set_meta("crumb.tuned_by", "crumb-bench --tune");

  // Probe build (offsets zero) for the FlatBuffer's size, then the real offsets: Buffer is a
  // fixed-size struct, so the second build has the same size.
  for (size_t k = 1; k < m->buffers.size(); k++) m->buffers[k] = fb::Buffer(0, data[k].size());
  flatbuffers::FlatBufferBuilder probe;
  fb::FinishModelBuffer(probe, fb::Model::Pack(probe, m.get()));
  const size_t fb_size = probe.GetSize();
  size_t offset = AlignUp(fb_size);
  for (size_t k = 1; k < m->buffers.size(); k++) {
    m->buffers[k] = fb::Buffer(offset, data[k].size());
    offset = AlignUp(offset + data[k].size());
  }
  flatbuffers::FlatBufferBuilder b;
  fb::FinishModelBuffer(b, fb::Model::Pack(b, m.get()));
  if (b.GetSize() != fb_size) {
    *error = "internal error: the FlatBuffer size changed between builds.";
    return false;
  }
  size_t total = AlignUp(fb_size);
  if (m->buffers.size() > 1) total = m->buffers.back().offset() + m->buffers.back().size();
  out->assign(total, 0);
  memcpy(out->data(), b.GetBufferPointer(), fb_size);
  for (size_t k = 1; k < m->buffers.size(); k++) {
    if (!data[k].empty())
      memcpy(out->data() + m->buffers[k].offset(), data[k].data(), data[k].size());
  }
  return true;
}

bool SameFile(const std::string& a, const std::string& b) {
  struct stat sa, sb;
  if (stat(a.c_str(), &sa) != 0 || stat(b.c_str(), &sb) != 0) return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

std::string Us(double us) {
  char buf[32];
  snprintf(buf, sizeof buf, us >= 100 ? "%.0f" : "%.1f", us);
  return buf;
}

}  // namespace

bool FillBenchInputs(crumb::Interpreter& interp, std::string* error) {
  std::mt19937 rng(1234);
  for (int32_t i = 0; i < interp.InputCount(); i++) {
    crumb_tensor* t = interp.Input(i);
    const size_t bytes = crumb_tensor_byte_size(t);
    std::vector<uint8_t> data(bytes);
    if (crumb_tensor_type(t) == CRUMB_TYPE_FLOAT32) {
      std::uniform_real_distribution<float> u(0.0f, 1.0f);
      for (size_t k = 0; k + 4 <= bytes; k += 4) {
        const float f = u(rng);
        memcpy(&data[k], &f, 4);
      }
    }
    if (crumb_tensor_copy_from_buffer(t, data.data(), bytes) != CRUMB_OK) {
      *error = interp.LastError();
      return false;
    }
  }
  return true;
}

int Tune(const TuneConfig& c) {
  if (c.rounds < 1) return Fail("--tune_rounds must be >= 1.");
  if (c.output.empty() || c.output == "true")
    return Fail("--tune needs an output file (--tune=OUT.crumb).");
  if (c.output == c.graph || SameFile(c.output, c.graph)) {
    return Fail("the output file '" + c.output + "' is the input model; choose another name.");
  }
  std::string original, error;
  if (!ReadFile(c.graph, &original, &error)) return Fail(error);
  crumb::Model model = crumb::Model::FromBuffer(original.data(), original.size());
  if (!model) return Fail(crumb_last_error());

  // 1. The candidates.
  std::vector<std::unique_ptr<Runner>> runners;
  for (const char* label : kCandidates) {
    auto r = std::make_unique<Runner>();
    if (!MakeRunner(c, model, label, label, r.get(), &error)) {
      return Fail(std::string(label) + ": " + error);
    }
    if (!runners.empty()) {
      // A forced family no layer can run is the auto candidate again: not worth timing.
      const bool used =
          std::find(r->op_family.begin(), r->op_family.end(), label) != r->op_family.end();
      if (!used) {
        printf("Tune: no layer can run %s; not timed.\n", label);
        continue;
      }
    }
    runners.push_back(std::move(r));
  }
  Runner& base = *runners[0];
  const int32_t n = base.interp.OpCount();
  {
    // Interpreter ops are the file's operators in order: check, to map one to the other.
    const fb::Model* fm = fb::GetModel(original.data());
    if (!fm->operators() || (int32_t)fm->operators()->size() != n) {
      return Fail("the interpreter's ops do not match the file's operators one to one.");
    }
  }
  const std::string isa_name = crumb_isa_name(base.interp.Isa());
  printf("Tune: %zu candidates (", runners.size());
  for (size_t k = 0; k < runners.size(); k++)
    printf("%s%s", k ? ", " : "", runners[k]->label.c_str());
  printf("), %lld rounds x %lld runs, %d thread(s), isa %s\n", (long long)c.rounds,
         (long long)c.num_runs, c.num_threads, isa_name.c_str());
  fflush(stdout);

  std::string expected;
  if (!Outputs(base.interp, &expected, &error)) return Fail(error);
  for (size_t k = 1; k < runners.size(); k++) {
    std::string got;
    if (!Outputs(runners[k]->interp, &got, &error)) return Fail(error);
    if (got != expected) {
      fprintf(stderr,
              "crumb-bench: --tune: warning: with %s forced the outputs differ from the file's "
              "(families should be bit-exact).\n",
              runners[k]->label.c_str());
    }
  }

  // 2. Timing.
  {
    std::vector<Runner*> all;
    for (auto& r : runners) all.push_back(r.get());
    if (!Measure(c, all, &error)) return Fail(error);
  }

  // 3. Choice per op, and the table.
  std::vector<int> choice(n, -1), base_family(n, -1);
  std::vector<double> best_us(n, 0), base_us(n, 0);
  printf(
      "\nTune: per-layer median us over %lld rounds (family run in brackets when a forced one "
      "fell back)\n",
      (long long)c.rounds);
  printf("  %3s %-24s", "op", "name");
  for (auto& r : runners) printf(" %16s", r->label.c_str());
  printf("  %-10s %8s\n", "winner", "speedup");
  for (int32_t i = 0; i < n; i++) {
    if (base.op_family[i].empty()) continue;
    base_family[i] = FamilyFromName(base.op_family[i]);
    base_us[i] = base.OpMedian(i);
    int best = base_family[i];
    double best_time = base_us[i];
    std::string name = base.interp.Op(i).name;
    if (name.size() > 24) name = "..." + name.substr(name.size() - 21);
    printf("  %3d %-24s", i, name.c_str());
    for (size_t k = 0; k < runners.size(); k++) {
      const Runner& r = *runners[k];
      const double us = r.OpMedian(i);
      const bool ran_own = k == 0 || r.op_family[i] == r.label;
      std::string cell = Us(us);
      if (!ran_own)
        cell = "(" + r.op_family[i] + ")";
      else if (k == 0)
        cell = base.op_family[i] + " " + cell;
      printf(" %16s", cell.c_str());
      if (k > 0 && ran_own && us < best_time) {
        best_time = us;
        best = FamilyFromName(r.op_family[i]);
      }
    }
    if (best == base_family[i] || best_time > base_us[i] * (1.0 - kMargin)) {
      best = base_family[i];  // the file's choice, or within noise of it: keep it
      best_time = base_us[i];
    }
    choice[i] = best;
    best_us[i] = best_time;
    printf("  %-10s %7.2fx\n", FamilyName(best), best_time > 0 ? base_us[i] / best_time : 1.0);
  }
  fflush(stdout);

  // 4.-5. Build, check, time against the original; set back layers that got slower, once.
  std::vector<uint8_t> tuned;
  std::vector<bool> applied;
  std::unique_ptr<Runner> tr;
  for (int pass = 0; pass < 2; pass++) {
    tr.reset();  // its model may point into `tuned`
    if (!BuildTuned(original, choice, isa_name, &tuned, &applied, &error)) return Fail(error);
    crumb::Model tm = crumb::Model::FromBuffer(tuned.data(), tuned.size());
    if (!tm) return Fail(std::string("the tuned model does not load: ") + crumb_last_error());
    tr = std::make_unique<Runner>();
    if (!MakeRunner(c, tm, "tuned", "auto", tr.get(), &error)) return Fail("tuned: " + error);
    std::string got;
    if (!Outputs(tr->interp, &got, &error)) return Fail(error);
    if (got != expected) {
      return Fail(
          "the tuned model's outputs differ from the original's on the same input (families "
          "must be bit-exact); nothing written.");
    }
    for (int32_t i = 0; i < n; i++) {
      const int ran = FamilyFromName(tr->op_family[i]);
      if (choice[i] >= 0 && applied[i] && ran != choice[i]) {
        return Fail("op " + std::to_string(i) + " runs " + tr->op_family[i] +
                    " in the tuned model, not the tuned " + FamilyName(choice[i]) + ".");
      }
    }
    base.op_rounds.assign(n, {});
    base.total_rounds.clear();
    if (!Measure(c, {&base, tr.get()}, &error)) return Fail(error);
    if (pass == 1) break;
    std::vector<int32_t> revert;
    for (int32_t i = 0; i < n; i++) {
      if (choice[i] < 0 || choice[i] == base_family[i]) continue;
      if (tr->OpMedian(i) > base.OpMedian(i) * (1.0 + kMargin)) revert.push_back(i);
    }
    if (revert.empty()) break;
    for (int32_t i : revert) {
      printf(
          "Tune: op %d: %s took %s us in the tuned model vs %s us for %s in the original (its "
          "neighbours changed family); set back to %s.\n",
          i, FamilyName(choice[i]), Us(tr->OpMedian(i)).c_str(), Us(base.OpMedian(i)).c_str(),
          FamilyName(base_family[i]), FamilyName(base_family[i]));
      choice[i] = base_family[i];
    }
  }
  for (int32_t i = 0; i < n; i++) {
    if (choice[i] >= 0 && !applied[i]) {
      printf(
          "Tune: op %d shares its weights with an earlier op tuned to another family; left "
          "untuned.\n",
          i);
    }
  }

  // 6. Verification and the file.
  const double t_orig = base.TotalMedian(), t_tuned = tr->TotalMedian();
  const double ratio = t_orig > 0 ? t_tuned / t_orig : 1.0;
  auto range = [](const std::vector<double>& v) {
    return Us(*std::min_element(v.begin(), v.end())) + "-" +
           Us(*std::max_element(v.begin(), v.end()));
  };
  printf(
      "\nTune: verification, %lld rounds x %lld runs interleaved: original %s us (rounds %s), "
      "tuned %s us (rounds %s) per inference (median), tuned/original %.3f\n",
      (long long)c.rounds, (long long)c.num_runs, Us(t_orig).c_str(),
      range(base.total_rounds).c_str(), Us(t_tuned).c_str(), range(tr->total_rounds).c_str(),
      ratio);
  printf("Tune: outputs of the tuned model equal the original's (%zu bytes).\n", expected.size());
  if (ratio > 1.0) {
    printf(
        "Tune: WARNING: the tuned model is SLOWER than the original on this device (%.1f%%); "
        "written anyway, keep the original if this holds up.\n",
        (ratio - 1.0) * 100.0);
  } else {
    printf("Tune: the tuned model is %.1f%% faster than the original.\n", (1.0 - ratio) * 100.0);
  }
  if (!WriteFileAtomic(c.output, tuned.data(), tuned.size(), &error)) return Fail(error);
  int count = 0;
  for (int32_t i = 0; i < n; i++) count += choice[i] >= 0 && applied[i];
  printf("Tune: wrote %s (%d layers tuned on %s).\n", c.output.c_str(), count, isa_name.c_str());
  return 0;
}

}  // namespace crumb_tools
