// crumb-bench --graph=MODEL.crumb [--num_threads=1] [--num_runs=50] [--warmup_runs=1]
//             [--input_shape=N,C,H,W] [--enable_op_profiling=true] [--isa=scalar]
//             [--kernel_family=auto|scalar|lut|bitserial|dot]
//             [--tune=OUT.crumb [--tune_rounds=5]]
// Output follows TFLite's benchmark_model: init time, first / warmup / average inference in
// microseconds with std, the kernel chosen per op, and with op profiling the per-op table by
// node and the summary by op type and by kernel family; each Conv / FullyConnected op's family
// and why it was chosen (table row, tuned, forced).
// --tune=OUT.crumb times every family each Conv / FullyConnected layer can run on this device and
// writes a copy of the model with the fastest recorded per layer (tools/tune.h); the input file is
// left untouched.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "crumb/crumb.hpp"
#include "tool_util.h"
#include "tune.h"

namespace {

using Clock = std::chrono::steady_clock;

double Us(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::micro>(b - a).count();
}

int Fail(const std::string& message) {
  fprintf(stderr, "crumb-bench: %s\n", message.c_str());
  return 1;
}

struct Stats {
  std::vector<double> v;
  double Avg() const {
    double s = 0;
    for (double x : v) s += x;
    return v.empty() ? 0 : s / (double)v.size();
  }
  double Std() const {
    if (v.size() < 2) return 0;
    const double m = Avg();
    double s = 0;
    for (double x : v) s += (x - m) * (x - m);
    return sqrt(s / (double)v.size());
  }
  void Print() const {
    if (v.empty()) return;
    printf("count=%zu first=%.0f curr=%.0f min=%.0f max=%.0f avg=%g std=%.0f\n", v.size(), v[0],
           v.back(), *std::min_element(v.begin(), v.end()), *std::max_element(v.begin(), v.end()),
           Avg(), Std());
  }
};

}  // namespace

int main(int argc, char** argv) {
  crumb_tools::Args args(
      argc, argv,
      {"graph", "num_threads", "num_runs", "warmup_runs", "input_shape", "enable_op_profiling",
       "isa", "kernel_family", "tune", "tune_rounds", "help"},
      {"enable_op_profiling", "help"});
  if (args.Has("help")) {
    printf(
        "usage: crumb-bench --graph=MODEL.crumb [--num_threads=1] [--num_runs=50] "
        "[--warmup_runs=1]\n                   [--input_shape=N,C,H,W] "
        "[--enable_op_profiling=true] [--isa=scalar]\n"
        "                   [--kernel_family=auto|scalar|lut|bitserial|dot]\n"
        "                   [--tune=OUT.crumb [--tune_rounds=5]]\n"
        "--tune times each kernel family every Conv / FullyConnected layer can run (--num_runs\n"
        "invokes per family per round, --tune_rounds rounds interleaved), keeps the fastest per\n"
        "layer and writes a copy of the model with those families recorded as tuned.\n");
    return 0;
  }
  if (!args.ok()) return Fail(args.error());
  if (!args.positional().empty())
    return Fail("unexpected argument '" + args.positional()[0] + "'.");
  const std::string graph = args.Get("graph");
  if (graph.empty()) return Fail("--graph=MODEL.crumb is required.");
  int64_t threads, runs, warmups;
  bool profiling;
  if (!args.GetInt("num_threads", 1, &threads) || !args.GetInt("num_runs", 50, &runs) ||
      !args.GetInt("warmup_runs", 1, &warmups) ||
      !args.GetBool("enable_op_profiling", false, &profiling)) {
    return Fail(args.error());
  }
  if (runs < 1 || warmups < 0 || (threads < 1 && threads != -1)) {
    return Fail(
        "--num_runs must be >= 1, --num_threads >= 1 (or -1: every core) and --warmup_runs >= "
        "0.");
  }

  if (args.Has("tune")) {
    if (args.Has("kernel_family")) return Fail("--tune times every family; drop --kernel_family.");
    crumb_tools::TuneConfig config;
    config.graph = graph;
    config.output = args.Get("tune");
    config.num_threads = (int)threads;
    config.num_runs = runs;
    config.warmup_runs = warmups;
    if (!args.GetInt("tune_rounds", 5, &config.rounds)) return Fail(args.error());
    if (args.Has("isa")) {
      if (!crumb::ParseIsa(args.Get("isa").c_str(), &config.isa)) {
        return Fail("--isa=" + args.Get("isa") + " is not an instruction set.");
      }
      config.has_isa = true;
    }
    if (args.Has("input_shape") &&
        !crumb_tools::ParseShape(args.Get("input_shape"), &config.input_shape)) {
      return Fail("--input_shape=" + args.Get("input_shape") + " is not a shape like 1,1,8,8.");
    }
    return crumb_tools::Tune(config);
  }

  printf("STARTING!\n");
  printf("Log parameter values verbosely: [0]\n");
  printf("Num threads: [%lld]\n", (long long)threads);
  printf("Graph: [%s]\n", graph.c_str());
  if (args.Has("input_shape")) printf("Input shapes: [%s]\n", args.Get("input_shape").c_str());
  printf("Min num runs: [%lld]\n", (long long)runs);
  printf("Num warmup runs: [%lld]\n", (long long)warmups);
  if (profiling) printf("Enable op profiling: [1]\n");

  const size_t mem_start = crumb_tools::PeakMemoryBytes();
  const auto t_init0 = Clock::now();
  crumb::Model model = crumb::Model::FromFile(graph.c_str());
  if (!model) return Fail(crumb_last_error());
  printf("Loaded model %s\n", graph.c_str());
  crumb::Interpreter interp;
  std::string error;
  if (!crumb_tools::MakeInterpreter(args, model, profiling, &interp, &error)) return Fail(error);
  if (args.Has("input_shape")) {
    std::vector<int32_t> dims;
    if (!crumb_tools::ParseShape(args.Get("input_shape"), &dims)) {
      return Fail("--input_shape=" + args.Get("input_shape") + " is not a shape like 1,1,8,8.");
    }
    if (interp.ResizeInput(0, dims) != CRUMB_OK) return Fail(interp.LastError());
  }
  if (interp.Allocate() != CRUMB_OK) return Fail(interp.LastError());
  const auto t_init1 = Clock::now();
  const double init_us = Us(t_init0, t_init1);
  {
    std::string bytes, error;
    if (crumb_tools::ReadFile(graph, &bytes, &error)) {
      printf("The input model file size (MB): %g\n", (double)bytes.size() / 1e6);
    }
  }
  printf("Initialized session in %.3fms.\n", init_us / 1000.0);
  printf("Instruction set: [%s]\n", crumb_isa_name(interp.Isa()));
  printf("Arena (bytes): %zu\n", interp.ArenaBytes());

  // Inputs: deterministic pseudo-random values (benchmark_model fills random data too).
  if (!crumb_tools::FillBenchInputs(interp, &error)) return Fail(error);

  // Per-op totals are cumulative; differences give the first run and the regular runs.
  auto op_totals = [&]() {
    std::vector<double> v(interp.OpCount());
    for (int32_t i = 0; i < interp.OpCount(); i++) v[i] = interp.Op(i).total_us;
    return v;
  };
  Stats warm, regular;
  printf("Running benchmark for at least %lld iterations.\n",
         (long long)std::max<int64_t>(warmups, 1));
  for (int64_t i = 0; i < std::max<int64_t>(warmups, 1); i++) {
    const auto a = Clock::now();
    if (interp.Invoke() != CRUMB_OK) return Fail(interp.LastError());
    warm.v.push_back(Us(a, Clock::now()));
  }
  std::vector<double> after_warm = op_totals();
  warm.Print();
  printf("Running benchmark for at least %lld iterations.\n", (long long)runs);
  for (int64_t i = 0; i < runs; i++) {
    const auto a = Clock::now();
    if (interp.Invoke() != CRUMB_OK) return Fail(interp.LastError());
    regular.v.push_back(Us(a, Clock::now()));
  }
  std::vector<double> after_runs = op_totals();
  regular.Print();
  printf("\n");
  const double first = warm.v[0];
  printf(
      "Inference timings in us: Init: %.0f, First inference: %.0f, Warmup (avg): %g, "
      "Inference (avg): %g\n",
      init_us, first, warm.Avg(), regular.Avg());
  printf("Inference (std) in us: %g\n", regular.Std());
  const size_t peak = crumb_tools::PeakMemoryBytes();
  printf("Memory footprint delta from the start of the tool (MB): init=%g overall=%g\n",
         (double)(peak - std::min(peak, mem_start)) / 1e6,
         (double)(peak - std::min(peak, mem_start)) / 1e6);
  printf("Peak memory footprint (MB): %g\n", (double)peak / 1e6);

  printf("\nKernels chosen per op (family: why):\n");
  for (int32_t i = 0; i < interp.OpCount(); i++) {
    const crumb::OpInfo op = interp.Op(i);
    printf("  %3d %-20s %-44s %s\n", i, op.type.c_str(), op.kernel.c_str(), op.name.c_str());
    if (!op.family.empty()) {
      printf("      %-20s %s: %s\n", "", op.family.c_str(), op.family_reason.c_str());
    }
  }

  if (profiling) {
    const int32_t n = interp.OpCount();
    std::vector<double> avg_ms(n);
    double total = 0;
    for (int32_t i = 0; i < n; i++) {
      avg_ms[i] = (after_runs[i] - after_warm[i]) / (double)runs / 1000.0;
      total += avg_ms[i];
    }
    printf("\nOperator-wise Profiling Info for Regular Benchmark Runs:\n");
    printf("============================== Run Order ==============================\n");
    printf("\t%24s\t%10s\t%10s\t%10s\t%10s\t%14s\t%-44s\t[Name]\n", "[node type]", "[avg ms]",
           "[%]", "[cdf%]", "[mem KB]", "[times called]", "[kernel]");
    double cdf = 0;
    for (int32_t i = 0; i < n; i++) {
      const crumb::OpInfo op = interp.Op(i);
      const double pct = total > 0 ? 100.0 * avg_ms[i] / total : 0;
      cdf += pct;
      printf("\t%24s\t%10.3f\t%9.3f%%\t%9.3f%%\t%10.3f\t%14d\t%-44s\t[%s]\n", op.type.c_str(),
             avg_ms[i], pct, cdf, 0.0, 1, op.kernel.c_str(), op.name.c_str());
    }
    printf(
        "\n============================== Top by Computation Time "
        "==============================\n");
    std::vector<int32_t> order(n);
    for (int32_t i = 0; i < n; i++) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](int32_t a, int32_t b) { return avg_ms[a] > avg_ms[b]; });
    cdf = 0;
    for (int32_t k = 0; k < std::min<int32_t>(n, 10); k++) {
      const int32_t i = order[k];
      const crumb::OpInfo op = interp.Op(i);
      const double pct = total > 0 ? 100.0 * avg_ms[i] / total : 0;
      cdf += pct;
      printf("\t%24s\t%10.3f\t%9.3f%%\t%9.3f%%\t%10.3f\t%14d\t%-44s\t[%s]\n", op.type.c_str(),
             avg_ms[i], pct, cdf, 0.0, 1, op.kernel.c_str(), op.name.c_str());
    }
    printf(
        "\n============================== Summary by node type ==============================\n");
    printf("\t%24s\t%10s\t%10s\t%10s\t%10s\t%10s\t%14s\n", "[Node type]", "[count]", "[avg ms]",
           "[avg %]", "[cdf %]", "[mem KB]", "[times called]");
    std::map<std::string, std::pair<int, double>> by_type;
    for (int32_t i = 0; i < n; i++) {
      auto& e = by_type[interp.Op(i).type];
      e.first++;
      e.second += avg_ms[i];
    }
    std::vector<std::pair<std::string, std::pair<int, double>>> types(by_type.begin(),
                                                                      by_type.end());
    std::stable_sort(types.begin(), types.end(), [](const auto& a, const auto& b) {
      return a.second.second > b.second.second;
    });
    cdf = 0;
    for (const auto& t : types) {
      const double pct = total > 0 ? 100.0 * t.second.second / total : 0;
      cdf += pct;
      printf("\t%24s\t%10d\t%10.3f\t%9.3f%%\t%9.3f%%\t%10.3f\t%14d\n", t.first.c_str(),
             t.second.first, t.second.second, pct, cdf, 0.0, t.second.first);
    }
    printf(
        "\n============================== Summary by kernel family "
        "==============================\n");
    printf("\t%24s\t%10s\t%10s\t%10s\n", "[family]", "[count]", "[avg ms]", "[avg %]");
    std::map<std::string, std::pair<int, double>> by_family;
    for (int32_t i = 0; i < n; i++) {
      const crumb::OpInfo op = interp.Op(i);
      auto& e = by_family[op.family.empty() ? "(single-kernel ops)" : op.family];
      e.first++;
      e.second += avg_ms[i];
    }
    for (const auto& f : by_family) {
      printf("\t%24s\t%10d\t%10.3f\t%9.3f%%\n", f.first.c_str(), f.second.first, f.second.second,
             total > 0 ? 100.0 * f.second.second / total : 0);
    }
    printf("\nTimings (microseconds): ");
    regular.Print();
    printf("%d nodes observed\n", n);
  }
  return 0;
}
