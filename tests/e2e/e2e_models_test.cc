// End-to-end checks over model directories in the manifest.json format of ../shared/models:
// every ONNX form converts with crumb-convert and runs through the C API; the forms of one model
// give bit-identical outputs; against ONNX Runtime (optimizations disabled) the closeness the
// numeric contract sets (README: correlation, top-1 agreement, accuracy within one image).
//
//   e2e_models_test --convert=PATH/crumb-convert --models=project   tests/data (always)
//   e2e_models_test --convert=PATH/crumb-convert --models=extra     every dir under
//   $CRUMB_EXTRA_MODELS
//
// Cross builds add --host_run=HOST/crumb-run: this program then runs on the target (under qemu),
// converts with the host's crumb-convert, and every form's output must equal, byte for byte, what
// the host's crumb-run computes from the same .crumb file and input (tests `<model>.<form>.host`).
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "converter/json.h"
#include "crumb/crumb.h"

namespace {

std::string g_convert;
std::string g_host_run;  // empty: no comparison with the host
std::string g_tmp;

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::ostringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return true;
}

std::vector<float> ReadFloats(const std::string& path) {
  std::string bytes;
  if (!ReadFile(path, &bytes)) return {};
  std::vector<float> v(bytes.size() / 4);
  memcpy(v.data(), bytes.data(), v.size() * 4);
  return v;
}

// Runs argv, returns the exit status and the combined stdout/stderr.
int RunCommand(const std::vector<std::string>& argv, std::string* output) {
  std::string cmd;
  for (const auto& a : argv) {
    cmd += "'";
    for (char c : a) cmd += (c == '\'') ? std::string("'\\''") : std::string(1, c);
    cmd += "' ";
  }
  cmd += "2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) output->append(buf, n);
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

struct Metrics {
  double corr = 0, top1_agree = 0, accuracy = -1;
};

int Argmax(const float* row, int n) {
  return static_cast<int>(std::max_element(row, row + n) - row);
}

// `torch` (may be empty): PyTorch's output. A row's top-1 agrees when it equals ONNX Runtime's or
// PyTorch's: on random-weight nets with near-tied logits the two references themselves disagree
// (resnet18_w2a4: 238 vs 881), and no runtime can agree with both.
Metrics Compare(const std::vector<float>& out, const std::vector<float>& ref, int classes,
                const std::string& labels, const std::vector<float>& torch = {}) {
  Metrics m;
  const size_t n = ref.size();
  double mo = 0, mr = 0;
  for (size_t i = 0; i < n; i++) mo += out[i], mr += ref[i];
  mo /= n, mr /= n;
  double cov = 0, vo = 0, vr = 0;
  for (size_t i = 0; i < n; i++) {
    cov += (out[i] - mo) * (ref[i] - mr);
    vo += (out[i] - mo) * (out[i] - mo);
    vr += (ref[i] - mr) * (ref[i] - mr);
  }
  m.corr = (vo > 0 && vr > 0) ? cov / std::sqrt(vo * vr) : (out == ref ? 1.0 : 0.0);
  const size_t rows = n / classes;
  size_t agree = 0, correct = 0;
  for (size_t r = 0; r < rows; r++) {
    int a = Argmax(&out[r * classes], classes);
    agree += a == Argmax(&ref[r * classes], classes) ||
             (torch.size() == ref.size() && a == Argmax(&torch[r * classes], classes));
    if (!labels.empty()) correct += a == static_cast<unsigned char>(labels[r]);
  }
  m.top1_agree = static_cast<double>(agree) / rows;
  if (!labels.empty()) m.accuracy = static_cast<double>(correct) / rows;
  return m;
}

double Accuracy(const std::vector<float>& out, int classes, const std::string& labels) {
  size_t rows = out.size() / classes, correct = 0;
  for (size_t r = 0; r < rows; r++)
    correct += Argmax(&out[r * classes], classes) == static_cast<unsigned char>(labels[r]);
  return static_cast<double>(correct) / rows;
}

// Runs a .crumb file through the C API on one input; returns "" or an error. With `isa` other
// than AUTO, that instruction-set path (creation fails when the CPU lacks it); `kernels` receives
// the kernel of every op.
// One interpreter on a loaded model: `invokes` runs of the input, every output compared with the
// first; returns "" or an error.
std::string RunInterpreter(crumb_model* model, const std::vector<int32_t>& shape,
                           const std::vector<float>& input, int threads, int invokes,
                           std::vector<float>* output) {
  crumb_options* options = crumb_options_create();
  crumb_options_set_num_threads(options, threads);
  crumb_interpreter* it = crumb_interpreter_create(model, options);
  crumb_options_delete(options);
  if (!it) return std::string("create: ") + crumb_last_error();
  std::string err;
  if (crumb_interpreter_resize_input(it, 0, shape.data(), (int32_t)shape.size()) != CRUMB_OK ||
      crumb_interpreter_allocate(it) != CRUMB_OK) {
    err = crumb_interpreter_last_error(it);
  }
  for (int r = 0; err.empty() && r < invokes; r++) {
    std::vector<float> got;
    if (crumb_tensor_copy_from_buffer(crumb_interpreter_input(it, 0), input.data(),
                                      input.size() * 4) != CRUMB_OK ||
        crumb_interpreter_invoke(it) != CRUMB_OK) {
      err = crumb_interpreter_last_error(it);
      break;
    }
    const crumb_tensor* out = crumb_interpreter_output(it, 0);
    got.resize(crumb_tensor_byte_size(out) / 4);
    if (crumb_tensor_copy_to_buffer(out, got.data(), got.size() * 4) != CRUMB_OK) {
      err = crumb_interpreter_last_error(it);
    } else if (r == 0) {
      *output = got;
    } else if (got.size() != output->size() ||
               memcmp(got.data(), output->data(), got.size() * 4) != 0) {
      err = "invoke " + std::to_string(r) + " differs from invoke 0";
    }
  }
  crumb_interpreter_delete(it);
  return err;
}

std::string RunModel(const std::string& path, const std::vector<int32_t>& shape,
                     const std::vector<float>& input, std::vector<float>* output,
                     crumb_isa isa = CRUMB_ISA_AUTO, std::vector<std::string>* kernels = nullptr) {
  crumb_model* model = crumb_model_create_from_file(path.c_str());
  if (!model) return std::string("load: ") + crumb_last_error();
  std::string err;
  crumb_options* options = crumb_options_create();
  crumb_options_set_isa(options, isa);
  crumb_interpreter* it = crumb_interpreter_create(model, options);
  crumb_options_delete(options);
  if (!it) {
    err = std::string("create: ") + crumb_last_error();
  } else if (crumb_interpreter_resize_input(it, 0, shape.data(), (int32_t)shape.size()) !=
                 CRUMB_OK ||
             crumb_interpreter_allocate(it) != CRUMB_OK ||
             crumb_tensor_copy_from_buffer(crumb_interpreter_input(it, 0), input.data(),
                                           input.size() * 4) != CRUMB_OK ||
             crumb_interpreter_invoke(it) != CRUMB_OK) {
    err = crumb_interpreter_last_error(it);
  } else {
    const crumb_tensor* out = crumb_interpreter_output(it, 0);
    output->resize(crumb_tensor_byte_size(out) / 4);
    if (crumb_tensor_copy_to_buffer(out, output->data(), output->size() * 4) != CRUMB_OK)
      err = crumb_interpreter_last_error(it);
    for (int32_t i = 0; kernels && i < crumb_interpreter_op_count(it); i++) {
      const char *name, *type, *kernel;
      double us;
      int64_t invokes;
      if (crumb_interpreter_op_info(it, i, &name, &type, &kernel, &us, &invokes) == CRUMB_OK)
        kernels->push_back(kernel);
    }
  }
  crumb_interpreter_delete(it);
  crumb_model_delete(model);
  return err;
}

// Float layers (CONV_2D / FULLY_CONNECTED version 2) sum in XNNPACK's order, which XNNPACK
// chooses per CPU architecture: the same on every crumb ISA path of one CPU, equal to another
// CPU's only to float rounding.
bool HasFloatLayers(const std::vector<std::string>& kernels) {
  for (const auto& k : kernels)
    if (k.rfind("xnn_", 0) == 0 || k.rfind("crumb_f32_", 0) == 0) return true;
  return false;
}

struct FormResult {
  bool done = false, skipped = false;
  std::string error;  // conversion / run failure
  std::string crumb;  // the converted file
  std::vector<float> output;
};

struct ModelDir {
  std::string dir, name;
  crumb::json::Json manifest;
  std::vector<std::string> forms;
  std::map<std::string, FormResult> results;
};

// Owned here: the registered tests keep raw pointers, and LeakSanitizer checks what is left.
std::vector<std::unique_ptr<ModelDir>> g_models;

// Forms the converter does not take yet (later issues): a failed conversion is a skip, not a
// failure.
bool FormMayBeUnsupported(const std::string& form) {
  return form.rfind("qonnx", 0) == 0 || form.rfind("binary", 0) == 0;
}

FormResult& Convert(ModelDir* m, const std::string& form) {
  FormResult& r = m->results[form];
  if (r.done) return r;
  r.done = true;
  const auto& v = m->manifest["variants"][form];
  const std::string onnx = m->dir + "/" + v["file"].str;
  const std::string out = g_tmp + "/" + m->name + "." + form + ".crumb";
  r.crumb = out;
  std::string log;
  int rc = RunCommand({g_convert, onnx, "-o", out}, &log);
  if (rc != 0) {
    r.error = "crumb-convert exit " + std::to_string(rc) + ": " + log;
    r.skipped = FormMayBeUnsupported(form);
    struct stat st;
    if (stat(out.c_str(), &st) == 0)
      r.error += " (and it left an output file behind)", r.skipped = false;
    return r;
  }
  std::vector<int32_t> shape;
  for (const auto& d : m->manifest["input_shape"].arr) shape.push_back((int32_t)d.num);
  std::vector<float> input = ReadFloats(m->dir + "/" + m->manifest["input"].str);
  if (input.empty()) {
    r.error = "cannot read the input " + m->manifest["input"].str;
    return r;
  }
  r.error = RunModel(out, shape, input, &r.output);
  return r;
}

class FormTest : public testing::Test {
 public:
  FormTest(ModelDir* m, std::string form) : m_(m), form_(std::move(form)) {}
  void TestBody() override {
    FormResult& r = Convert(m_, form_);
    if (r.skipped) GTEST_SKIP() << m_->name << "/" << form_ << " skipped: " << r.error;
    ASSERT_TRUE(r.error.empty()) << m_->name << "/" << form_ << ": " << r.error;
    const auto& man = m_->manifest;
    const int classes = (int)man["output_shape"].arr.back().num;
    size_t expect = 1;
    for (const auto& d : man["output_shape"].arr) expect *= (size_t)d.num;
    ASSERT_EQ(r.output.size(), expect) << "output element count";
    // Reference: this form's ONNX Runtime output, else the folded form's, else any form's.
    std::string ref_path;
    const auto& v = man["variants"][form_];
    if (!v["ort_output"].str.empty()) ref_path = m_->dir + "/" + v["ort_output"].str;
    for (const char* alt : {"folded", "qcdq", "native", "binary_folded"}) {
      if (!ref_path.empty()) break;
      const auto& a = man["variants"][alt];
      if (!a["ort_output"].str.empty()) ref_path = m_->dir + "/" + a["ort_output"].str;
    }
    // A form ONNX Runtime cannot run (QONNX custom ops) compares with any form it ran: every form
    // carries the same numbers (forms_identical checks crumb's side).
    for (const auto& kv : man["variants"].obj) {
      if (!ref_path.empty()) break;
      if (!kv.second["ort_output"].str.empty()) {
        ref_path = m_->dir + "/" + kv.second["ort_output"].str;
      }
    }
    std::string labels;
    if (!man["labels"].str.empty()) ReadFile(m_->dir + "/" + man["labels"].str, &labels);
    ASSERT_FALSE(ref_path.empty()) << "no ONNX Runtime reference output in the manifest";
    std::vector<float> ref = ReadFloats(ref_path);
    ASSERT_EQ(ref.size(), r.output.size()) << ref_path;
    std::vector<float> torch;
    if (!man["torch_output"].str.empty())
      torch = ReadFloats(m_->dir + "/" + man["torch_output"].str);
    Metrics mt = Compare(r.output, ref, classes, labels, torch);
    const bool big = man["input_shape"].arr.back().num >= 224;
    const double need_corr = big ? 0.97 : 0.98;
    printf("[ metrics  ] %-22s %-8s corr=%.4f top1_agree=%.4f", m_->name.c_str(), form_.c_str(),
           mt.corr, mt.top1_agree);
    if (mt.accuracy >= 0) printf(" accuracy=%.4f", mt.accuracy);
    printf("\n");
    EXPECT_GE(mt.corr, need_corr);
    EXPECT_GE(mt.top1_agree, 0.98);
    if (mt.accuracy >= 0 && man["qat_acc"].kind == crumb::json::Json::kNumber) {
      // Between PyTorch's and ONNX Runtime's accuracy, one image of slack either side.
      const double ort_acc = Accuracy(ref, classes, labels);
      const double qat = man["qat_acc"].num;
      const double rows = (double)(r.output.size() / classes);
      EXPECT_GE(mt.accuracy, std::min(qat, ort_acc) - 1 / rows - 1e-9)
          << "PyTorch " << qat << ", ONNX Runtime " << ort_acc;
      EXPECT_LE(mt.accuracy, std::max(qat, ort_acc) + 1 / rows + 1e-9)
          << "PyTorch " << qat << ", ONNX Runtime " << ort_acc;
    }
  }

 private:
  ModelDir* m_;
  std::string form_;
};

// This target's output must equal the host crumb-run's on the same file and input, bit for bit:
// the numeric contract holds across ISAs, not only within one.
class HostIdenticalTest : public testing::Test {
 public:
  HostIdenticalTest(ModelDir* m, std::string form) : m_(m), form_(std::move(form)) {}
  void TestBody() override {
    FormResult& r = Convert(m_, form_);
    if (r.skipped) GTEST_SKIP() << m_->name << "/" << form_ << " skipped: " << r.error;
    ASSERT_TRUE(r.error.empty()) << m_->name << "/" << form_ << ": " << r.error;
    std::string shape;
    for (const auto& d : m_->manifest["input_shape"].arr)
      shape += (shape.empty() ? "" : ",") + std::to_string((long long)d.num);
    const std::string host_out = r.crumb + ".host.bin";
    std::string log;
    int rc = RunCommand({g_host_run, r.crumb, "--input", m_->dir + "/" + m_->manifest["input"].str,
                         "--input_shape", shape, "--output", host_out},
                        &log);
    ASSERT_EQ(rc, 0) << "host crumb-run failed: " << log;
    std::vector<float> host = ReadFloats(host_out);
    ASSERT_EQ(host.size(), r.output.size()) << "host output " << host_out;
    size_t differ = 0, first = 0;
    for (size_t i = 0; i < host.size(); i++) {
      if (memcmp(&host[i], &r.output[i], 4) != 0 && differ++ == 0) first = i;
    }
    std::vector<int32_t> dims;
    for (const auto& d : m_->manifest["input_shape"].arr) dims.push_back((int32_t)d.num);
    std::vector<float> here;
    std::vector<std::string> kernels;
    ASSERT_EQ(RunModel(r.crumb, dims, ReadFloats(m_->dir + "/" + m_->manifest["input"].str), &here,
                       CRUMB_ISA_AUTO, &kernels),
              "");
    if (HasFloatLayers(kernels)) {
      // Not bit for bit across CPUs (see HasFloatLayers): as close as two fp32 runtimes.
      const int classes = (int)m_->manifest["output_shape"].arr.back().num;
      const Metrics mt = Compare(r.output, host, classes, "");
      printf(
          "[ host     ] %-22s %-8s float layers: %zu of %zu outputs differ from the host's, "
          "corr=%.6f\n",
          m_->name.c_str(), form_.c_str(), differ, host.size(), mt.corr);
      EXPECT_GE(mt.corr, 0.999);
      return;
    }
    EXPECT_EQ(differ, 0u) << m_->name << "/" << form_ << ": " << differ << " of " << host.size()
                          << " outputs differ from the host's; first at " << first << ": "
                          << r.output[first] << " here, " << host[first] << " on the host";
    printf("[ host     ] %-22s %-8s %zu outputs identical to the host's: %s\n", m_->name.c_str(),
           form_.c_str(), host.size(), differ == 0 ? "yes" : "NO");
  }

 private:
  ModelDir* m_;
  std::string form_;
};

// The first form of the model that converts ("" when none does).
std::string FirstConvertedForm(ModelDir* m) {
  for (const auto& f : m->forms) {
    if (Convert(m, f).error.empty()) return f;
  }
  return "";
}

// Every instruction-set path this CPU has, on the kernel families the converter chose, must give
// the outputs of the portable scalar kernels on ROWS_LSB weights (`--kernel-family scalar`: no
// family packing, the reference-like scalar GEMM), bit for bit.
class IsaIdenticalTest : public testing::Test {
 public:
  explicit IsaIdenticalTest(ModelDir* m) : m_(m) {}
  void TestBody() override {
    const std::string form = FirstConvertedForm(m_);
    if (form.empty()) GTEST_SKIP() << "no form of " << m_->name << " converts";
    const auto& v = m_->manifest["variants"][form];
    const std::string scalar_file = g_tmp + "/" + m_->name + "." + form + ".scalar.crumb";
    std::string log;
    ASSERT_EQ(RunCommand({g_convert, m_->dir + "/" + v["file"].str, "-o", scalar_file,
                          "--kernel-family", "scalar"},
                         &log),
              0)
        << log;
    std::vector<int32_t> shape;
    for (const auto& d : m_->manifest["input_shape"].arr) shape.push_back((int32_t)d.num);
    const std::vector<float> input = ReadFloats(m_->dir + "/" + m_->manifest["input"].str);
    std::vector<float> want;
    std::vector<std::string> scalar_kernels;
    ASSERT_EQ(RunModel(scalar_file, shape, input, &want, CRUMB_ISA_SCALAR, &scalar_kernels), "");
    if (HasFloatLayers(scalar_kernels)) {
      // Float layers forced scalar run the runtime's loop, elsewhere XNNPACK (its order, on every
      // ISA path): the reference is the converter's file on the scalar ISA path.
      want.clear();
      ASSERT_EQ(RunModel(Convert(m_, form).crumb, shape, input, &want, CRUMB_ISA_SCALAR), "");
    }
    // The converter's choice, and every 1x1 / FC layer forced onto the sparse family (whatever
    // its zeros: the spmm kernels must equal the dense path at any sparsity).
    const std::string sparse_file = g_tmp + "/" + m_->name + "." + form + ".sparse.crumb";
    ASSERT_EQ(
        RunCommand({g_convert, m_->dir + "/" + v["file"].str, "-o", sparse_file, "--sparse", "on"},
                   &log),
        0)
        << log;
    int ran = 0;
    for (const std::string& file : {Convert(m_, form).crumb, sparse_file}) {
      for (crumb_isa isa : {CRUMB_ISA_SCALAR, CRUMB_ISA_AVX2, CRUMB_ISA_AVX512, CRUMB_ISA_NEON,
                            CRUMB_ISA_NEONDOT}) {
        std::vector<float> got;
        std::vector<std::string> kernels;
        const std::string err = RunModel(file, shape, input, &got, isa, &kernels);
        if (err.rfind("create:", 0) == 0) continue;  // this CPU lacks the ISA
        ASSERT_EQ(err, "") << crumb_isa_name(isa);
        ran++;
        ASSERT_EQ(got.size(), want.size());
        size_t differ = 0, first = 0;
        for (size_t i = 0; i < got.size(); i++) {
          if (memcmp(&got[i], &want[i], 4) != 0 && differ++ == 0) first = i;
        }
        EXPECT_EQ(differ, 0u) << m_->name << "/" << form << " on " << crumb_isa_name(isa) << ": "
                              << differ << " of " << got.size()
                              << " outputs differ from the scalar ROWS_LSB path; first at "
                              << first;
        std::string families;
        for (const auto& k : kernels) {
          const bool layer = k.find("gemm") != std::string::npos ||
                             k.find("spmm") != std::string::npos ||
                             k.find("dwconv") != std::string::npos;
          if (layer && families.find(" " + k) == std::string::npos) families += " " + k;
        }
        printf("[ isa      ] %-22s %-8s %-7s %-6s identical=%s:%s\n", m_->name.c_str(),
               form.c_str(), crumb_isa_name(isa), file == sparse_file ? "sparse" : "",
               differ == 0 ? "yes" : "NO", families.c_str());
      }
    }
    EXPECT_GE(ran, 1);
  }

 private:
  ModelDir* m_;
};

// Threads split every op's output tiles: any thread count gives the single-thread bytes, and
// several interpreters on one loaded model, each invoked from its own thread (with a pool of its
// own), give them too, invoke after invoke.
class ThreadsIdenticalTest : public testing::Test {
 public:
  explicit ThreadsIdenticalTest(ModelDir* m) : m_(m) {}
  void TestBody() override {
    const std::string form = FirstConvertedForm(m_);
    if (form.empty()) GTEST_SKIP() << "no form of " << m_->name << " converts";
    std::vector<int32_t> shape;
    for (const auto& d : m_->manifest["input_shape"].arr) shape.push_back((int32_t)d.num);
    const std::vector<float> input = ReadFloats(m_->dir + "/" + m_->manifest["input"].str);
    crumb_model* model = crumb_model_create_from_file(Convert(m_, form).crumb.c_str());
    ASSERT_TRUE(model) << crumb_last_error();
    std::vector<float> want;
    ASSERT_EQ(RunInterpreter(model, shape, input, 1, 1, &want), "");
    for (int threads : {2, 3, 5, -1}) {
      std::vector<float> got;
      ASSERT_EQ(RunInterpreter(model, shape, input, threads, 2, &got), "") << threads;
      EXPECT_TRUE(got.size() == want.size() &&
                  memcmp(got.data(), want.data(), want.size() * 4) == 0)
          << m_->name << ": " << threads << " threads differ from one";
    }
    constexpr int kInterpreters = 4;
    std::vector<std::vector<float>> outs(kInterpreters);
    std::vector<std::string> errs(kInterpreters);
    std::vector<std::thread> pool;
    for (int i = 0; i < kInterpreters; i++) {
      pool.emplace_back(
          [&, i] { errs[i] = RunInterpreter(model, shape, input, 1 + i % 2, 3, &outs[i]); });
    }
    for (auto& t : pool) t.join();
    for (int i = 0; i < kInterpreters; i++) {
      EXPECT_EQ(errs[i], "") << "interpreter " << i;
      EXPECT_TRUE(outs[i].size() == want.size() &&
                  memcmp(outs[i].data(), want.data(), want.size() * 4) == 0)
          << m_->name << ": interpreter " << i << " on its own thread differs";
    }
    crumb_model_delete(model);
  }

 private:
  ModelDir* m_;
};

// Every form of one model must give the same crumb outputs, bit for bit.
class FormsIdenticalTest : public testing::Test {
 public:
  explicit FormsIdenticalTest(ModelDir* m) : m_(m) {}
  void TestBody() override {
    const std::vector<float>* first = nullptr;
    std::string first_form;
    int compared = 0;
    for (const auto& f : m_->forms) {
      FormResult& r = Convert(m_, f);
      if (!r.error.empty()) continue;  // reported by that form's own test
      if (!first) {
        first = &r.output, first_form = f;
        continue;
      }
      compared++;
      ASSERT_EQ(r.output.size(), first->size());
      EXPECT_EQ(0, memcmp(r.output.data(), first->data(), first->size() * 4))
          << m_->name << ": form " << f << " differs from form " << first_form;
    }
    if (compared == 0) GTEST_SKIP() << "fewer than two forms ran";
  }

 private:
  ModelDir* m_;
};

void Discover(const std::string& root, const std::string& suite) {
  DIR* d = opendir(root.c_str());
  if (!d) return;
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) names.push_back(e->d_name);
  closedir(d);
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    if (name[0] == '.') continue;
    std::string dir = root + "/" + name, text, err;
    if (!ReadFile(dir + "/manifest.json", &text)) continue;
    auto owned = std::make_unique<ModelDir>(ModelDir{dir, name, {}, {}, {}});
    ModelDir* m = owned.get();
    if (!crumb::json::ParseJson(text, &m->manifest, &err)) {
      fprintf(stderr, "%s/manifest.json: %s\n", dir.c_str(), err.c_str());
      continue;
    }
    for (const auto& kv : m->manifest["variants"].obj) m->forms.push_back(kv.first);
    g_models.push_back(std::move(owned));
    for (const auto& f : m->forms) {
      testing::RegisterTest(suite.c_str(), (name + "." + f).c_str(), nullptr, nullptr, __FILE__,
                            __LINE__, [m, f]() -> testing::Test* { return new FormTest(m, f); });
      if (!g_host_run.empty()) {
        testing::RegisterTest(suite.c_str(), (name + "." + f + ".host").c_str(), nullptr, nullptr,
                              __FILE__, __LINE__,
                              [m, f]() -> testing::Test* { return new HostIdenticalTest(m, f); });
      }
    }
    testing::RegisterTest(suite.c_str(), (name + ".isa_identical").c_str(), nullptr, nullptr,
                          __FILE__, __LINE__,
                          [m]() -> testing::Test* { return new IsaIdenticalTest(m); });
    testing::RegisterTest(suite.c_str(), (name + ".threads_identical").c_str(), nullptr, nullptr,
                          __FILE__, __LINE__,
                          [m]() -> testing::Test* { return new ThreadsIdenticalTest(m); });
    testing::RegisterTest(suite.c_str(), (name + ".forms_identical").c_str(), nullptr, nullptr,
                          __FILE__, __LINE__,
                          [m]() -> testing::Test* { return new FormsIdenticalTest(m); });
  }
}

class NoExtraModels : public testing::Test {
  void TestBody() override { GTEST_SKIP() << "CRUMB_EXTRA_MODELS is not set"; }
};

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  std::string models = "project", data_dir = CRUMB_TEST_DATA_DIR;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a.rfind("--convert=", 0) == 0) g_convert = a.substr(10);
    if (a.rfind("--models=", 0) == 0) models = a.substr(9);
    if (a.rfind("--data=", 0) == 0) data_dir = a.substr(7);
    if (a.rfind("--host_run=", 0) == 0) g_host_run = a.substr(11);
  }
  if (g_convert.empty()) {
    fprintf(stderr,
            "usage: %s --convert=PATH/crumb-convert [--host_run=PATH/crumb-run] "
            "[--models=project|extra]\n",
            argv[0]);
    return 2;
  }
  char tmpl[] = "/tmp/crumb-e2e-XXXXXX";
  if (!mkdtemp(tmpl)) return 2;
  g_tmp = tmpl;
  if (models == "extra") {
    const char* extra = getenv("CRUMB_EXTRA_MODELS");
    if (extra && *extra) {
      Discover(extra, "extra");
    } else {
      testing::RegisterTest("extra", "not_set", nullptr, nullptr, __FILE__, __LINE__,
                            []() -> testing::Test* { return new NoExtraModels(); });
    }
  } else {
    Discover(data_dir, "project");
    if (g_models.empty()) {
      fprintf(stderr, "No model directory (with a manifest.json) found under %s.\n",
              data_dir.c_str());
      return 1;
    }
  }
  int rc = RUN_ALL_TESTS();
  std::string ignored;
  RunCommand({"rm", "-rf", g_tmp}, &ignored);
  return rc;
}
