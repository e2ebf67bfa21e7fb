// crumb-convert IN.onnx -o OUT.crumb: fake-quantized ONNX -> .crumb (see converter/converter.h).
#include <sys/stat.h>
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "converter/converter.h"
#include "converter/reference_executor.h"
#include "crumb/crumb.h"
#include "onnx/onnx_pb.h"

namespace {

// Exit codes: 1 conversion failed (nothing written), 2 --validate found the final output beyond
// the tolerance (or a usage error), 3 --validate could not run (the model is written either way).
constexpr int kExitDisagree = 2, kExitNoValidation = 3;

struct ValidateOptions {
  std::string inputs;  // a directory of <input name>.bin, or one .bin file for a one-input model
  uint32_t seed = 1;
  int64_t max_samples = 32;
};

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream b;
  b << in.rdbuf();
  *out = b.str();
  return !in.bad();
}

// File name of a graph input inside --inputs DIR: characters outside [A-Za-z0-9._-] become '_'.
std::string InputFileName(const std::string& name) {
  std::string s = name;
  for (char& c : s) {
    if (!(std::isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-')) c = '_';
  }
  return s + ".bin";
}

// The real range a QuantizeLinear reading graph input `v` can represent (random inputs cover it),
// else [-1, 1].
void InputRange(const crumb::cv::Graph& g, const std::string& v, float* lo, float* hi) {
  *lo = -1.f, *hi = 1.f;
  for (int c : g.Consumers(v)) {
    const crumb::cv::Node& n = g.nodes[size_t(c)];
    if (n.op_type != "QuantizeLinear") continue;
    const crumb::cv::Const* s = g.FindConst(n.Input(1));
    const crumb::cv::Const* z = n.Input(2).empty() ? nullptr : g.FindConst(n.Input(2));
    int64_t qlo = 0, qhi = 255;
    int bits;
    bool sgn;
    if (!s || s->f.size() != 1) continue;
    if (z && !crumb::cv::QuantTypeRange(z->type, &qlo, &qhi, &bits, &sgn)) continue;
    const double zp = z && z->size() ? z->at(0) : 0;
    *lo = float(s->f[0] * (qlo - zp));
    *hi = float(s->f[0] * (qhi - zp));
    return;
  }
}

struct Compared {
  std::string name;
  int64_t elements = 0, within = 0;
  double max_steps = 0;
  std::string note;  // why it was not compared
};

Compared Compare(const std::string& name, const std::vector<double>& got,
                 const std::vector<double>& want, double step) {
  Compared c;
  c.name = name;
  c.elements = int64_t(got.size());
  for (size_t k = 0; k < got.size(); k++) {
    const double d = std::fabs(got[k] - want[k]) / step;
    // A relative slack for float rounding of scale * (q - z) on either side.
    if (d <= 1.0 + 1e-3) c.within++;
    c.max_steps = std::max(c.max_steps, d);
  }
  return c;
}

double Correlation(const std::vector<double>& a, const std::vector<double>& b) {
  double ma = 0, mb = 0;
  for (size_t k = 0; k < a.size(); k++) ma += a[k], mb += b[k];
  ma /= double(a.size()), mb /= double(a.size());
  double sab = 0, saa = 0, sbb = 0;
  for (size_t k = 0; k < a.size(); k++) {
    sab += (a[k] - ma) * (b[k] - mb);
    saa += (a[k] - ma) * (a[k] - ma);
    sbb += (b[k] - mb) * (b[k] - mb);
  }
  if (saa == 0 || sbb == 0) return saa == sbb ? 1.0 : 0.0;
  return sab / std::sqrt(saa * sbb);
}

// Runs the written model with every tensor preserved and the source graph's reference executor
// on the same inputs, prints the per-layer table and the verdict. Returns the exit code.
int Validate(const std::string& onnx_path, const std::string& crumb_path,
             const ValidateOptions& vo) {
  auto cannot = [&](const std::string& why) {
    std::fprintf(stderr,
                 "crumb-convert: cannot validate: %s (%s was written; the conversion itself "
                 "succeeded).\n",
                 why.c_str(), crumb_path.c_str());
    return kExitNoValidation;
  };
  std::string bytes;
  if (!ReadFile(onnx_path, &bytes)) return cannot("cannot read '" + onnx_path + "'");
  onnx::ModelProto proto;
  if (!proto.ParseFromString(bytes)) return cannot("the ONNX file does not parse");
  crumb::cv::Graph g;
  std::vector<std::string> problems;
  if (!crumb::cv::PrepareReferenceGraph(proto, &g, &problems))
    return cannot(problems.empty() ? "the source graph did not import" : problems[0]);

  crumb_model* model = crumb_model_create_from_file(crumb_path.c_str());
  if (!model) return cannot(crumb_last_error());
  crumb_options* opts = crumb_options_create();
  crumb_options_set_preserve_all_tensors(opts, 1);
  crumb_interpreter* it = crumb_interpreter_create(model, opts);
  crumb_options_delete(opts);
  struct Cleanup {
    crumb_model* m;
    crumb_interpreter** it;
    ~Cleanup() {
      crumb_interpreter_delete(*it);
      crumb_model_delete(m);
    }
  } cleanup{model, &it};
  if (!it) return cannot(crumb_last_error());

  // Inputs: from --inputs, else seeded random values over each input quantizer's range.
  struct stat st {};
  const bool dir = !vo.inputs.empty() && stat(vo.inputs.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  if (!vo.inputs.empty() && !dir && g.inputs.size() != 1)
    return cannot("--inputs names a file, but the model has " + std::to_string(g.inputs.size()) +
                  " inputs (give a directory of <input name>.bin files)");
  std::map<std::string, crumb::cv::RefTensor> ref_in;
  std::mt19937 rng(vo.seed);
  int64_t batch = -1;
  for (const crumb::cv::ValueInfo& vi : g.inputs) {
    if (vi.type != crumb::cv::kFloat) return cannot("graph input '" + vi.name + "' is not float");
    int64_t per = 1;
    for (size_t i = 1; i < vi.shape.size(); i++) {
      if (vi.shape[i] < 0) return cannot("graph input '" + vi.name + "' has a dynamic inner dim");
      per *= vi.shape[i];
    }
    const int64_t fixed = vi.shape.empty() ? 1 : vi.shape[0];
    crumb::cv::RefTensor t;
    if (!vo.inputs.empty()) {
      const std::string path = dir ? vo.inputs + "/" + InputFileName(vi.name) : vo.inputs;
      std::string raw;
      if (!ReadFile(path, &raw)) return cannot("cannot read '" + path + "'");
      if (raw.size() % (4 * size_t(per)) != 0 || raw.empty())
        return cannot("'" + path + "' holds " + std::to_string(raw.size()) +
                      " bytes, not a whole number of float32 samples of " + std::to_string(per) +
                      " elements");
      int64_t n = int64_t(raw.size() / (4 * size_t(per)));
      if (fixed > 0) {
        if (n < fixed) return cannot("'" + path + "' holds fewer samples than the fixed batch");
        n = fixed;
      } else {
        n = std::min(n, vo.max_samples);
      }
      t.data.resize(size_t(n * per));
      std::memcpy(t.data.data(), raw.data(), t.data.size() * 4);  // little-endian hosts
      batch = n;
    } else {
      const int64_t n = fixed > 0 ? fixed : std::min<int64_t>(8, vo.max_samples);
      float lo, hi;
      InputRange(g, vi.name, &lo, &hi);
      std::uniform_real_distribution<float> u(lo, hi);
      t.data.resize(size_t(n * per));
      for (float& v : t.data) v = u(rng);
      batch = n;
    }
    t.dims = vi.shape;
    if (t.dims.empty()) t.dims = {1};
    t.dims[0] = int64_t(t.data.size()) / per;
    crumb_tensor* ct = crumb_interpreter_tensor_by_name(it, vi.name.c_str());
    if (!ct) return cannot("the crumb model has no input named '" + vi.name + "'");
    if (crumb_tensor_type(ct) != CRUMB_TYPE_FLOAT32)
      return cannot("crumb input '" + vi.name + "' is not float");
    int32_t idx = -1;
    for (int32_t i = 0; i < crumb_interpreter_input_count(it); i++) {
      if (vi.name == crumb_tensor_name(crumb_interpreter_input(it, i))) idx = i;
    }
    std::vector<int32_t> dims(t.dims.begin(), t.dims.end());
    if (fixed < 0 &&
        crumb_interpreter_resize_input(it, idx, dims.data(), int32_t(dims.size())) != CRUMB_OK)
      return cannot(crumb_last_error());
    ref_in[vi.name] = std::move(t);
  }
  if (crumb_interpreter_allocate(it) != CRUMB_OK) return cannot(crumb_last_error());
  for (const auto& kv : ref_in) {
    crumb_tensor* ct = crumb_interpreter_tensor_by_name(it, kv.first.c_str());
    if (crumb_tensor_copy_from_buffer(ct, kv.second.data.data(), kv.second.data.size() * 4) !=
        CRUMB_OK)
      return cannot(crumb_last_error());
  }
  if (crumb_interpreter_invoke(it) != CRUMB_OK) return cannot(crumb_last_error());

  crumb::cv::ReferenceOptions ro;
  const char* hook = std::getenv("CRUMB_VALIDATE_TEST_HOOK");
  ro.negate_weights = hook && std::string(hook) == "negate-weights";
  std::map<std::string, crumb::cv::RefTensor> ref;
  std::string err;
  if (!crumb::cv::RunReference(g, ref_in, &ref, &err, ro))
    return cannot("the reference executor failed: " + err);

  // Per crumb tensor with an ONNX value of the same name: both as real values, the difference in
  // the crumb tensor's quantization steps.
  std::vector<Compared> rows;
  std::map<int32_t, size_t> output_row;
  std::map<int32_t, std::pair<std::vector<double>, std::vector<double>>> output_values;
  int unmatched = 0;
  for (int32_t i = 0; i < crumb_interpreter_tensor_count(it); i++) {
    const crumb_tensor* t = crumb_interpreter_tensor(it, i);
    const std::string name = crumb_tensor_name(t);
    if (ref_in.count(name)) continue;
    std::vector<uint8_t> raw(crumb_tensor_byte_size(t));
    if (crumb_tensor_copy_to_buffer(t, raw.data(), raw.size()) != CRUMB_OK) continue;  // constants
    auto r = ref.find(name);
    if (r == ref.end()) {
      unmatched++;
      continue;
    }
    Compared c;
    c.name = name;
    if (int64_t(r->second.data.size()) !=
        int64_t(raw.size()) / (crumb_tensor_type(t) == CRUMB_TYPE_FLOAT32 ? 4 : 1)) {
      c.note = "element counts differ";
      rows.push_back(c);
      continue;
    }
    std::vector<double> got(r->second.data.size()), want(got.size());
    double step = 0;
    if (crumb_tensor_type(t) == CRUMB_TYPE_QUANT) {
      const float* sc;
      const int32_t* zp;
      int32_t axis;
      if (crumb_tensor_quantization(t, &sc, &zp, &axis) != 1) {
        c.note = "per-axis activation quantization: not compared";
        rows.push_back(c);
        continue;
      }
      const bool sgn = crumb_tensor_is_signed(t) != 0;
      for (size_t k = 0; k < got.size(); k++) {
        const int q = sgn ? int(int8_t(raw[k])) : int(raw[k]);
        got[k] = double(sc[0]) * (q - zp[0]);
      }
      step = sc[0];
    } else {
      for (size_t k = 0; k < got.size(); k++) {
        float f;
        std::memcpy(&f, &raw[4 * k], 4);
        got[k] = f;
      }
    }
    bool codes = false;
    float rs = 1;
    int64_t rz = 0;
    const bool has_step = crumb::cv::QuantizerStep(g, name, &codes, &rs, &rz);
    // QCDQ: the crumb tensor holds the codes after the Clip that narrows the QuantizeLinear's.
    const std::vector<int> readers = g.Consumers(name);
    if (codes && readers.size() == 1 && g.nodes[size_t(readers[0])].op_type == "Clip") {
      auto clipped = ref.find(g.nodes[size_t(readers[0])].outputs[0]);
      if (clipped != ref.end() && clipped->second.data.size() == want.size()) r = clipped;
    }
    for (size_t k = 0; k < want.size(); k++) {
      want[k] = codes ? double(rs) * (r->second.data[k] - rz) : r->second.data[k];
    }
    if (step == 0 && has_step) step = rs;
    if (step == 0) {
      // A float tensor no quantizer wrote: an 8-bit step of its range.
      double m = 0;
      for (double v : want) m = std::max(m, std::fabs(v));
      step = m > 0 ? m / 127 : 1;
      c.note = "float: steps of max|x|/127";
    }
    Compared k = Compare(name, got, want, step);
    k.note = c.note;
    for (int32_t o = 0; o < crumb_interpreter_output_count(it); o++) {
      // Output handles are distinct from crumb_interpreter_tensor's: match by name.
      if (name == crumb_tensor_name(crumb_interpreter_output(it, o))) {
        output_row[o] = rows.size();
        output_values[o] = {got, want};
      }
    }
    rows.push_back(k);
  }

  size_t width = 5;
  for (const Compared& c : rows) width = std::max(width, c.name.size());
  std::printf(
      "validation: crumb (%s) against the ONNX graph's float fake-quant reference, %lld "
      "sample(s) of %s\n",
      crumb_isa_name(crumb_interpreter_isa(it)), (long long)batch,
      vo.inputs.empty() ? ("seeded random inputs (seed " + std::to_string(vo.seed) + ")").c_str()
                        : vo.inputs.c_str());
  std::printf("  %-*s %10s %9s %9s\n", int(width), "layer", "elements", "<=1 step", "max steps");
  const Compared* first = nullptr;
  for (const Compared& c : rows) {
    if (c.elements == 0) {
      std::printf("  %-*s %10s  skipped: %s\n", int(width), c.name.c_str(), "-", c.note.c_str());
      continue;
    }
    std::printf("  %-*s %10lld %8.2f%% %9.2f%s%s\n", int(width), c.name.c_str(),
                (long long)c.elements, 100.0 * double(c.within) / double(c.elements), c.max_steps,
                c.note.empty() ? "" : "  ", c.note.c_str());
    if (!first && c.max_steps > 1.0 + 1e-3) first = &c;
  }
  if (unmatched)
    std::printf("  (%d tensors without an ONNX value of the same name were not compared)\n",
                unmatched);
  std::printf("first layer beyond one step: %s\n", first ? first->name.c_str() : "none");

  // The verdict on the final outputs, by the numeric contract against float fake-quant graphs
  // (converter/README.md): correlation >= 0.98 and top-1 agreement >= 98 % (at most one sample
  // off under 50 samples) for [N, classes] outputs.
  bool pass = true;
  for (int32_t o = 0; o < crumb_interpreter_output_count(it); o++) {
    const crumb_tensor* t = crumb_interpreter_output(it, o);
    auto v = output_values.find(o);
    if (v == output_values.end()) {
      std::printf("output %s: no reference value of the same name\n", crumb_tensor_name(t));
      pass = false;
      continue;
    }
    const Compared& c = rows[output_row[o]];
    const double corr = Correlation(v->second.first, v->second.second);
    bool ok = corr >= 0.98;
    std::printf("output %s: %.2f%% within one step, max %.2f steps, correlation %.4f",
                c.name.c_str(), 100.0 * double(c.within) / double(std::max<int64_t>(c.elements, 1)),
                c.max_steps, corr);
    if (crumb_tensor_num_dims(t) == 2 && crumb_tensor_dim(t, 1) > 1) {
      const int64_t n = crumb_tensor_dim(t, 0), k = crumb_tensor_dim(t, 1);
      int64_t agree = 0;
      for (int64_t s = 0; s < n; s++) {
        const auto* a = v->second.first.data() + s * k;
        const auto* b = v->second.second.data() + s * k;
        agree += std::max_element(a, a + k) - a == std::max_element(b, b + k) - b;
      }
      std::printf(", top-1 agreement %lld/%lld", (long long)agree, (long long)n);
      ok = ok && (n < 50 ? n - agree <= 1 : double(agree) >= 0.98 * double(n));
    }
    std::printf("\n");
    pass = pass && ok;
  }
  std::printf("verdict: %s\n", pass ? "PASS (final outputs within the tolerance)"
                                    : "FAIL (final outputs beyond the tolerance)");
  if (!pass) {
    std::fprintf(stderr,
                 "crumb-convert: --validate: the converted model disagrees with the source graph "
                 "beyond the tolerance (%s was written; the conversion itself succeeded).\n",
                 crumb_path.c_str());
    return kExitDisagree;
  }
  return 0;
}

void Usage(FILE* f) {
  std::fprintf(
      f,
      "usage: crumb-convert IN.onnx -o OUT.crumb [--kernel-family auto|scalar|dot|lut|bitserial]\n"
      "                     [--target portable|x86-avx2|x86-avx512|arm64|arm64-dotprod|armv7]\n"
      "                     [--sparse auto|on|off] [--strict] [--config FILE.json]\n"
      "                     [--quiet] [--validate [--inputs DIR|FILE.bin] [--validate-seed N]\n"
      "                     [--validate-samples N]]\n"
      "\n"
      "Converts a fake-quantized ONNX model (QuantizeLinear->Clip->DequantizeLinear,\n"
      "folded integer weights, or native INT4/INT2 tensors) into a .crumb model with\n"
      "weights packed at their bit width, in the layout of the kernel family chosen per\n"
      "Conv / FC layer (auto: lut for <=2-bit weights x unsigned <=4-bit activations,\n"
      "dot for other quantized layers, scalar for grouped convs with <16 channels per\n"
      "group). dot / lut are preferences, used where the layer can run on them;\n"
      "scalar forces the portable kernels. With --target portable (the default) the\n"
      "choice does not depend on the CPU; a named target picks each layer's family\n"
      "from that CPU class's measured table (kernels/common/family_table.h), so the\n"
      "runtime there uses the weights in place. A runtime on another CPU class re-\n"
      "chooses from its own table row and repacks at load; a forced family is kept.\n"
      "1x1 convolutions and fully-connected layers whose weights are mostly zero 1x4\n"
      "blocks (>= 2/3; >= 0.85 under 196 output rows) are stored sparse (SPARSE_B4);\n"
      "--sparse on stores every such layer sparse, --sparse off none.\n"
      "--config FILE.json overrides both per layer: {\"layers\": [{\"match\": \"/layer1/*\",\n"
      "\"family\": \"dot\", \"sparse\": \"off\"}]} (shell globs over the ONNX node names the\n"
      "layer table prints; the last matching entry wins per key); \"float\": true keeps\n"
      "a Conv / Gemm / MatMul float (float32 weights, XNNPACK), as layers whose weights\n"
      "are plain float initializers are.\n"
      "It prints a table of the Conv / FC layers it wrote (bit widths of weights,\n"
      "activations and output, kernel family, packed weight bytes) and warns about\n"
      "layers that would run on portable scalar kernels on the target (grouped convs\n"
      "with few channels per group, a forced scalar family, every GEMM on armv7);\n"
      "--strict makes those problems instead (no output).\n"
      "The output is written atomically; on any problem nothing is written and every\n"
      "problem is listed (exit 1).\n"
      "--validate then runs the written model (every tensor preserved) and the ONNX\n"
      "graph's own float fake-quant semantics on the same inputs and prints, per\n"
      "quantized tensor named after an ONNX value, the elements within one\n"
      "quantization step and the largest difference in steps. Inputs: --inputs DIR\n"
      "holds <graph input name>.bin (raw little-endian float32, N samples; other\n"
      "characters than [A-Za-z0-9._-] in the name become '_'), or --inputs FILE.bin\n"
      "for a one-input model; the first --validate-samples (32) samples of a dynamic\n"
      "batch are used. Without --inputs: 8 samples, uniform over each input\n"
      "quantizer's range, seed --validate-seed (1). Exit 2 when a final output is\n"
      "beyond the tolerance (correlation < 0.98, or top-1 agreement < 98 %%), 3 when\n"
      "validation cannot run; the model is written in both cases.\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::string in, out;
  bool quiet = false, validate = false;
  ValidateOptions vo;
  crumb::cv::ConvertOptions options;
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      Usage(stdout);
      return 0;
    } else if (a == "--version") {
      std::printf("crumb-convert %s\n", crumb::cv::kConverterVersion);
      return 0;
    } else if ((a == "-o" || a == "--output") && i + 1 < argc) {
      out = argv[++i];
    } else if (a.rfind("--output=", 0) == 0) {
      out = a.substr(9);
    } else if (a == "--quiet" || a == "-q") {
      quiet = true;
    } else if (a == "--validate") {
      validate = true;
    } else if (a == "--inputs" && i + 1 < argc) {
      vo.inputs = argv[++i];
    } else if (a == "--validate-seed" && i + 1 < argc) {
      vo.seed = uint32_t(std::strtoul(argv[++i], nullptr, 10));
    } else if (a == "--validate-samples" && i + 1 < argc) {
      vo.max_samples = std::max<int64_t>(1, std::strtoll(argv[++i], nullptr, 10));
    } else if (a == "--strict") {
      options.strict = true;
    } else if ((a == "--config" && i + 1 < argc) || a.rfind("--config=", 0) == 0) {
      const std::string path = a == "--config" ? argv[++i] : a.substr(9);
      std::string text;
      std::vector<std::string> problems;
      if (!ReadFile(path, &text)) {
        std::fprintf(stderr, "crumb-convert: cannot read the config '%s'\n", path.c_str());
        return 2;
      }
      if (!crumb::cv::ParseLayerConfig(text, path, &options.layers, &problems)) {
        std::fprintf(stderr, "crumb-convert: %zu problem%s in the config:\n", problems.size(),
                     problems.size() == 1 ? "" : "s");
        for (const std::string& p : problems) std::fprintf(stderr, "  %s\n", p.c_str());
        return 2;
      }
    } else if (a == "--kernel-family" && i + 1 < argc) {
      const std::string f = argv[++i];
      if (f == "auto") {
        options.family = crumb::cv::KernelFamily::kAuto;
      } else if (f == "scalar") {
        options.family = crumb::cv::KernelFamily::kScalar;
      } else if (f == "dot") {
        options.family = crumb::cv::KernelFamily::kDot;
      } else if (f == "lut") {
        options.family = crumb::cv::KernelFamily::kLut;
      } else if (f == "bitserial") {
        options.family = crumb::cv::KernelFamily::kBitserial;
      } else {
        std::fprintf(stderr,
                     "crumb-convert: unknown kernel family '%s' (auto, scalar, dot, lut or "
                     "bitserial)\n",
                     f.c_str());
        return 2;
      }
    } else if ((a == "--sparse" && i + 1 < argc) || a.rfind("--sparse=", 0) == 0) {
      const std::string v = a == "--sparse" ? argv[++i] : a.substr(9);
      if (v == "auto") {
        options.sparse = crumb::cv::SparseMode::kAuto;
      } else if (v == "on") {
        options.sparse = crumb::cv::SparseMode::kOn;
      } else if (v == "off") {
        options.sparse = crumb::cv::SparseMode::kOff;
      } else {
        std::fprintf(stderr, "crumb-convert: --sparse takes auto, on or off, not '%s'\n",
                     v.c_str());
        return 2;
      }
    } else if ((a == "--target" && i + 1 < argc) || a.rfind("--target=", 0) == 0) {
      const std::string t = a == "--target" ? argv[++i] : a.substr(9);
      if (!crumb::cv::ParseTarget(t, &options.target)) {
        std::fprintf(stderr,
                     "crumb-convert: unknown target '%s' (portable, x86-avx2, x86-avx512, arm64, "
                     "arm64-dotprod or armv7)\n",
                     t.c_str());
        return 2;
      }
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "crumb-convert: unknown option '%s'\n", a.c_str());
      Usage(stderr);
      return 2;
    } else if (in.empty()) {
      in = a;
    } else {
      std::fprintf(stderr, "crumb-convert: more than one input model ('%s', '%s')\n", in.c_str(),
                   a.c_str());
      return 2;
    }
  }
  if (in.empty() || out.empty()) {
    Usage(stderr);
    return 2;
  }
  std::string message, summary;
  if (!crumb::cv::ConvertFile(in, out, options, &message, &summary)) {
    std::fprintf(stderr, "crumb-convert: %s\n", message.c_str());
    return 1;
  }
  if (!quiet) std::printf("%s\n", summary.c_str());
  if (validate) {
    std::fflush(stdout);
    return Validate(in, out, vo);
  }
  return 0;
}
