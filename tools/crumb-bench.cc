// crumb-bench --graph=MODEL.crumb: TFLite benchmark_model's flags and output lines for crumb
// models (crumb-bench --help lists every flag). Output follows benchmark_model: init time, first /
// warmup / average inference in microseconds with std, the kernel chosen per op, and with op
// profiling the per-op table by node, the top ops by time and the summaries by op type and by
// kernel family (each Conv / FullyConnected op's family and why it was chosen: table row, tuned,
// forced). Reports for scripts: --profiling_output_csv_file, --profiling_output_svg and
// --output_json (tools/bench_report.h).
// --tune=OUT.crumb times every family each Conv / FullyConnected layer can run on this device and
// writes a copy of the model with the fastest recorded per layer (tools/tune.h); the input file is
// left untouched.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "bench_report.h"
#include "crumb/crumb.hpp"
#include "tool_util.h"
#include "tune.h"

namespace {

using Clock = std::chrono::steady_clock;

double Us(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::micro>(b - a).count();
}

double Secs(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

int Fail(const std::string& message) {
  fprintf(stderr, "crumb-bench: %s\n", message.c_str());
  return 1;
}

void PrintStat(const crumb_tools::TimingSummary& t) {
  if (t.count == 0) return;
  printf("count=%lld first=%.0f curr=%.0f min=%.0f max=%.0f avg=%g std=%.0f\n", (long long)t.count,
         t.first, t.curr, t.min, t.max, t.avg, t.std);
}

bool GetSeconds(const crumb_tools::Args& args, const char* name, double fallback, double* out,
                std::string* error) {
  *out = fallback;
  if (!args.Has(name)) return true;
  const std::string v = args.Get(name);
  char* end = nullptr;
  const double x = strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || !std::isfinite(x) || x < 0) {
    *error = std::string("--") + name + " needs a number of seconds >= 0, not '" + v + "'.";
    return false;
  }
  *out = x;
  return true;
}

// Progress on stderr so that stdout stays benchmark_model's lines: every 2 s when a person
// watches (stderr is a terminal), else only on long runs (every 10 s once 10 s have passed), so
// logs of short runs stay clean.
class Progress {
 public:
  explicit Progress(const char* what) : what_(what), tty_(isatty(STDERR_FILENO) != 0) {
    start_ = Clock::now();
    next_ = tty_ ? 2.0 : 10.0;
  }
  void Update(int64_t done, int64_t target, double sum_us) {
    const double t = Secs(start_, Clock::now());
    if (t < next_) return;
    next_ = t + (tty_ ? 2.0 : 10.0);
    fprintf(stderr, "crumb-bench: %s %lld/%lld, avg %.3f ms, %.1f s\n", what_, (long long)done,
            (long long)target, sum_us / 1000.0 / (double)std::max<int64_t>(done, 1), t);
  }

 private:
  const char* what_;
  bool tty_;
  Clock::time_point start_;
  double next_;
};

const char kUsage[] =
    "usage: crumb-bench --graph=MODEL.crumb [flags]\n"
    "TFLite benchmark_model's flags:\n"
    "  --graph=FILE                    the .crumb model (required)\n"
    "  --num_threads=1                 threads per inference (-1: every online core, or every\n"
    "                                  CPU of --cpu_mask / --cpu_preset)\n"
    "  --cpu_mask=0x3                  pin the threads to these CPUs (bit i: CPU i)\n"
    "  --cpu_preset=all|big|little     pin them to the big (fastest) or little cores\n"
    "  --memory_limit=4G               refuse a model needing more memory (bytes, K, M, G; 0: none)\n"
    "  --warmup_runs=1                 runs before the timed ones (at least one is made: it\n"
    "                                  gives the first inference)\n"
    "  --num_runs=50                   timed runs (see --min_secs, --max_secs)\n"
    "  --min_secs=0                    keep running past --num_runs until this many seconds\n"
    "                                  (benchmark_model's default is 1; crumb's 0 runs exactly\n"
    "                                  --num_runs)\n"
    "  --max_secs=150                  stop the warmup and the timed runs after this many\n"
    "                                  seconds even if --warmup_runs / --num_runs are not reached\n"
    "                                  (a run in progress finishes; at least one run)\n"
    "  --input_layer_shape=1,3,224,224 input shapes, ':' between inputs (1,3,8,8:1,10); crumb\n"
    "                                  takes each input's logical NCHW shape, whatever the\n"
    "                                  layout stored in the model (alias: --input_shape)\n"
    "  --enable_op_profiling[=true]    per-op tables: run order, top by time, by op type, by\n"
    "                                  kernel family\n"
    "  --profiling_output_csv_file=F   the per-op profile as CSV, one row per op: index, node\n"
    "                                  type, name, kernel, family, first, avg_ms, %, cdf%, times\n"
    "                                  called (turns op profiling on)\n"
    "  --report_peak_memory_footprint  peak resident memory (VmHWM, getrusage ru_maxrss) and the\n"
    "                                  interpreter's arena + scratch + per-op persistent bytes\n"
    "crumb's own flags:\n"
    "  --output_json=F                 every result (settings, timings, memory, per-op rows and\n"
    "                                  summaries with profiling) as one JSON object in F\n"
    "  --profiling_output_svg=F        per-op time chart as a self-contained SVG: one bar per op\n"
    "                                  in run order, coloured by kernel family (turns op\n"
    "                                  profiling on)\n"
    "  --isa=auto|scalar|avx2|avx512|neon|neondot   force an instruction-set path\n"
    "  --kernel_family=auto|scalar|lut|bitserial|dot force a kernel family where it can run\n"
    "  --tune=OUT.crumb [--tune_rounds=5]\n"
    "                                  time each kernel family every Conv / FullyConnected layer\n"
    "                                  can run (--num_runs invokes per family per round,\n"
    "                                  --tune_rounds rounds interleaved), keep the fastest per\n"
    "                                  layer and write a copy of the model with those families\n"
    "                                  recorded as tuned\n"
    "  --help                          this text\n"
    "Progress (\"run 120/500, avg 3.2 ms\") goes to stderr every 2 s when stderr is a terminal,\n"
    "else every 10 s on runs longer than 10 s.\n";

}  // namespace

int main(int argc, char** argv) {
  crumb_tools::Args args(argc, argv,
                         {"graph",
                          "num_threads",
                          "cpu_mask",
                          "cpu_preset",
                          "memory_limit",
                          "num_runs",
                          "warmup_runs",
                          "min_secs",
                          "max_secs",
                          "input_layer_shape",
                          "input_shape",
                          "enable_op_profiling",
                          "profiling_output_csv_file",
                          "profiling_output_svg",
                          "report_peak_memory_footprint",
                          "output_json",
                          "isa",
                          "kernel_family",
                          "tune",
                          "tune_rounds",
                          "help"},
                         {"enable_op_profiling", "report_peak_memory_footprint", "help"});
  if (args.Has("help")) {
    fputs(kUsage, stdout);
    return 0;
  }
  if (!args.ok()) return Fail(args.error() + " See crumb-bench --help.");
  if (!args.positional().empty()) {
    return Fail("unexpected argument '" + args.positional()[0] + "' (see crumb-bench --help).");
  }
  const std::string graph = args.Get("graph");
  if (graph.empty()) return Fail("--graph=MODEL.crumb is required.");
  int64_t threads, runs, warmups;
  bool profiling, report_memory;
  if (!args.GetInt("num_threads", 1, &threads) || !args.GetInt("num_runs", 50, &runs) ||
      !args.GetInt("warmup_runs", 1, &warmups) ||
      !args.GetBool("enable_op_profiling", false, &profiling) ||
      !args.GetBool("report_peak_memory_footprint", false, &report_memory)) {
    return Fail(args.error());
  }
  if (runs < 1 || warmups < 0 || (threads < 1 && threads != -1)) {
    return Fail(
        "--num_runs must be >= 1, --num_threads >= 1 (or -1: every core) and --warmup_runs >= "
        "0.");
  }
  double min_secs, max_secs;
  std::string error;
  if (!GetSeconds(args, "min_secs", 0.0, &min_secs, &error) ||
      !GetSeconds(args, "max_secs", 150.0, &max_secs, &error)) {
    return Fail(error);
  }
  const std::string csv_path = args.Get("profiling_output_csv_file");
  const std::string svg_path = args.Get("profiling_output_svg");
  const std::string json_path = args.Get("output_json");
  // A profile file without the profile would be empty: asking for one turns profiling on.
  if (!csv_path.empty() || !svg_path.empty()) profiling = true;

  // benchmark_model spells it --input_layer_shape; --input_shape is crumb's older name.
  if (args.Has("input_layer_shape") && args.Has("input_shape") &&
      args.Get("input_layer_shape") != args.Get("input_shape")) {
    return Fail("--input_layer_shape and --input_shape are the same flag; give one.");
  }
  const std::string shape_flag =
      args.Has("input_layer_shape") ? "input_layer_shape" : "input_shape";
  const std::string shape_text = args.Get(shape_flag);
  std::vector<std::vector<int32_t>> shapes;
  if (args.Has(shape_flag) && !crumb_tools::ParseShapes(shape_text, &shapes)) {
    return Fail("--" + shape_flag + "=" + shape_text +
                " is not a shape like 1,1,8,8 (':' between inputs).");
  }

  if (args.Has("tune")) {
    if (args.Has("kernel_family")) return Fail("--tune times every family; drop --kernel_family.");
    if (!csv_path.empty() || !svg_path.empty() || !json_path.empty()) {
      return Fail("--tune writes a model, not a report; drop the report flags.");
    }
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
    if (shapes.size() > 1) return Fail("--tune takes the shape of the first input only.");
    if (!shapes.empty()) config.input_shape = shapes[0];
    return crumb_tools::Tune(config);
  }

  printf("STARTING!\n");
  printf("Log parameter values verbosely: [0]\n");
  printf("Min num runs: [%lld]\n", (long long)runs);
  printf("Min runs duration (seconds): [%g]\n", min_secs);
  printf("Max runs duration (seconds): [%g]\n", max_secs);
  printf("Num threads: [%lld]\n", (long long)threads);
  printf("Min warmup runs: [%lld]\n", (long long)warmups);
  printf("Graph: [%s]\n", graph.c_str());
  if (!shapes.empty()) printf("Input shapes: [%s]\n", shape_text.c_str());
  if (profiling) printf("Enable op profiling: [1]\n");
  if (!csv_path.empty()) printf("CSV File to export profiling data to: [%s]\n", csv_path.c_str());
  if (report_memory) printf("Report the peak memory footprint: [1]\n");

  crumb_tools::BenchReport report;
  report.graph = graph;
  report.input_shapes = shape_text;
  report.num_threads = threads;
  report.num_runs = runs;
  report.warmup_runs = warmups;
  report.min_secs = min_secs;
  report.max_secs = max_secs;
  report.profiled = profiling;

  const size_t mem_start = crumb_tools::PeakMemoryBytes();
  const auto t_init0 = Clock::now();
  crumb::Model model = crumb::Model::FromFile(graph.c_str());
  if (!model) return Fail(crumb_last_error());
  printf("Loaded model %s\n", graph.c_str());
  crumb::Interpreter interp;
  if (!crumb_tools::MakeInterpreter(args, model, profiling, &interp, &error)) return Fail(error);
  if ((int32_t)shapes.size() > interp.InputCount()) {
    return Fail("--" + shape_flag + " gives " + std::to_string(shapes.size()) +
                " shapes; the model has " + std::to_string(interp.InputCount()) + " input(s).");
  }
  for (size_t i = 0; i < shapes.size(); i++) {
    if (interp.ResizeInput((int32_t)i, shapes[i]) != CRUMB_OK) return Fail(interp.LastError());
  }
  if (interp.Allocate() != CRUMB_OK) return Fail(interp.LastError());
  const auto t_init1 = Clock::now();
  report.init_us = Us(t_init0, t_init1);
  const size_t mem_init = crumb_tools::PeakMemoryBytes();
  {
    // stat, not a read: reading the file would raise the peak memory this tool reports.
    struct stat st;
    if (stat(graph.c_str(), &st) == 0) {
      report.model_bytes = (size_t)st.st_size;
      printf("The input model file size (MB): %g\n", (double)st.st_size / 1e6);
    }
  }
  printf("Initialized session in %.3fms.\n", report.init_us / 1000.0);
  report.isa = crumb_isa_name(interp.Isa());
  report.arena_bytes = interp.ArenaBytes();
  printf("Instruction set: [%s]\n", report.isa.c_str());
  printf("Arena (bytes): %zu\n", report.arena_bytes);

  // Inputs: deterministic pseudo-random values (benchmark_model fills random data too).
  if (!crumb_tools::FillBenchInputs(interp, &error)) return Fail(error);

  // Per-op totals are cumulative; differences give the first run and the regular runs.
  auto op_totals = [&]() {
    std::vector<double> v(interp.OpCount());
    for (int32_t i = 0; i < interp.OpCount(); i++) v[i] = interp.Op(i).total_us;
    return v;
  };
  const std::vector<double> before = op_totals();
  std::vector<double> after_first;
  std::vector<double> warm, regular;

  // benchmark_model's loop: at least N runs and at least min_secs, but no run starts after
  // max_secs. crumb needs one run of each kind (first inference, the average).
  const int64_t warm_target = std::max<int64_t>(warmups, 1);
  printf(
      "Running benchmark for at least %lld iterations and at least %g seconds but terminate if "
      "exceeding %g seconds.\n",
      (long long)warm_target, 0.0, max_secs);
  {
    Progress progress("warmup");
    double sum = 0;
    const auto t0 = Clock::now();
    for (int64_t i = 0; i < warm_target; i++) {
      if (i > 0 && Secs(t0, Clock::now()) > max_secs) break;
      const auto a = Clock::now();
      if (interp.Invoke() != CRUMB_OK) return Fail(interp.LastError());
      warm.push_back(Us(a, Clock::now()));
      sum += warm.back();
      if (i == 0) after_first = op_totals();
      progress.Update(i + 1, warm_target, sum);
    }
  }
  const std::vector<double> after_warm = op_totals();
  report.warmup = crumb_tools::Summarize(warm);
  PrintStat(report.warmup);
  printf(
      "Running benchmark for at least %lld iterations and at least %g seconds but terminate if "
      "exceeding %g seconds.\n",
      (long long)runs, min_secs, max_secs);
  {
    Progress progress("run");
    double sum = 0;
    const auto t0 = Clock::now();
    for (int64_t i = 0;; i++) {
      const double t = Secs(t0, Clock::now());
      if (i > 0 && t > max_secs) {
        report.stopped_by_max_secs = i < runs;
        break;
      }
      if (i >= runs && t >= min_secs) break;
      const auto a = Clock::now();
      if (interp.Invoke() != CRUMB_OK) return Fail(interp.LastError());
      regular.push_back(Us(a, Clock::now()));
      sum += regular.back();
      progress.Update(i + 1, runs, sum);
    }
  }
  const std::vector<double> after_runs = op_totals();
  report.inference = crumb_tools::Summarize(regular);
  PrintStat(report.inference);
  if (report.stopped_by_max_secs) {
    printf("Stopped after %lld of %lld runs: --max_secs=%g reached.\n",
           (long long)report.inference.count, (long long)runs, max_secs);
  }
  printf("\n");
  printf(
      "Inference timings in us: Init: %.0f, First inference: %.0f, Warmup (avg): %g, "
      "Inference (avg): %g\n",
      report.init_us, report.warmup.first, report.warmup.avg, report.inference.avg);
  printf("Inference (std) in us: %g\n", report.inference.std);
  report.peak_rss_bytes = crumb_tools::PeakMemoryBytes();
  report.max_rss_bytes = crumb_tools::MaxRssBytes();
  report.init_mem_delta_mb = (double)(mem_init - std::min(mem_init, mem_start)) / 1e6;
  report.overall_mem_delta_mb =
      (double)(report.peak_rss_bytes - std::min(report.peak_rss_bytes, mem_start)) / 1e6;
  printf("Memory footprint delta from the start of the tool (MB): init=%g overall=%g\n",
         report.init_mem_delta_mb, report.overall_mem_delta_mb);
  printf("Peak memory footprint (MB): %g\n", (double)report.peak_rss_bytes / 1e6);
  if (report_memory) {
    // The kernel's high-water marks are exact, so no periodic sampling as benchmark_model does.
    printf("Overall peak memory footprint (MB): %g (VmHWM), %g (getrusage ru_maxrss)\n",
           (double)report.peak_rss_bytes / 1e6, (double)report.max_rss_bytes / 1e6);
    printf(
        "Interpreter memory (bytes): %zu (activation arena + op scratch + per-op persistent "
        "buffers, crumb_interpreter_arena_bytes); model file %zu\n",
        report.arena_bytes, report.model_bytes);
  }

  const int32_t n = interp.OpCount();
  double total = 0;
  for (int32_t i = 0; i < n; i++) {
    const crumb::OpInfo op = interp.Op(i);
    crumb_tools::OpRow row;
    row.index = i;
    row.name = op.name;
    row.type = op.type;
    row.kernel = op.kernel;
    row.family = op.family;
    row.family_reason = op.family_reason;
    if (profiling) {
      row.first_ms = (after_first[i] - before[i]) / 1000.0;
      row.avg_ms = (after_runs[i] - after_warm[i]) / (double)regular.size() / 1000.0;
    }
    total += row.avg_ms;
    report.ops.push_back(row);
  }
  double cdf = 0;
  for (crumb_tools::OpRow& row : report.ops) {
    row.percent = total > 0 ? 100.0 * row.avg_ms / total : 0;
    cdf += row.percent;
    row.cdf = cdf;
  }

  printf("\nKernels chosen per op (family: why):\n");
  for (const crumb_tools::OpRow& op : report.ops) {
    printf("  %3d %-20s %-44s %s\n", op.index, op.type.c_str(), op.kernel.c_str(), op.name.c_str());
    if (!op.family.empty()) {
      printf("      %-20s %s: %s\n", "", op.family.c_str(), op.family_reason.c_str());
    }
  }

  if (profiling) {
    auto print_row = [](const crumb_tools::OpRow& op, double cdf_pct) {
      printf("\t%24s\t%10.3f\t%10.3f\t%9.3f%%\t%9.3f%%\t%10.3f\t%14lld\t%-44s\t[%s]\n",
             op.type.c_str(), op.first_ms, op.avg_ms, op.percent, cdf_pct, 0.0,
             (long long)op.times_called, op.kernel.c_str(), op.name.c_str());
    };
    printf("\nOperator-wise Profiling Info for Regular Benchmark Runs:\n");
    printf("============================== Run Order ==============================\n");
    printf("\t%24s\t%10s\t%10s\t%10s\t%10s\t%10s\t%14s\t%-44s\t[Name]\n", "[node type]", "[first]",
           "[avg ms]", "[%]", "[cdf%]", "[mem KB]", "[times called]", "[kernel]");
    for (const crumb_tools::OpRow& op : report.ops) print_row(op, op.cdf);
    printf(
        "\n============================== Top by Computation Time "
        "==============================\n");
    printf("\t%24s\t%10s\t%10s\t%10s\t%10s\t%10s\t%14s\t%-44s\t[Name]\n", "[node type]", "[first]",
           "[avg ms]", "[%]", "[cdf%]", "[mem KB]", "[times called]", "[kernel]");
    std::vector<int32_t> order(n);
    for (int32_t i = 0; i < n; i++) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
      return report.ops[a].avg_ms > report.ops[b].avg_ms;
    });
    cdf = 0;
    for (int32_t k = 0; k < std::min<int32_t>(n, 10); k++) {
      const crumb_tools::OpRow& op = report.ops[order[k]];
      cdf += op.percent;
      print_row(op, cdf);
    }
    printf(
        "\n============================== Summary by node type ==============================\n");
    printf("\t%24s\t%10s\t%10s\t%10s\t%10s\t%10s\t%14s\n", "[Node type]", "[count]", "[avg ms]",
           "[avg %]", "[cdf %]", "[mem KB]", "[times called]");
    std::map<std::string, std::pair<int, double>> by_type;
    for (const crumb_tools::OpRow& op : report.ops) {
      auto& e = by_type[op.type];
      e.first++;
      e.second += op.avg_ms;
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
    for (const crumb_tools::OpRow& op : report.ops) {
      auto& e = by_family[crumb_tools::FamilyLabel(op)];
      e.first++;
      e.second += op.avg_ms;
    }
    std::vector<std::pair<std::string, std::pair<int, double>>> families(by_family.begin(),
                                                                         by_family.end());
    std::stable_sort(families.begin(), families.end(), [](const auto& a, const auto& b) {
      return a.second.second > b.second.second;
    });
    for (const auto& f : families) {
      printf("\t%24s\t%10d\t%10.3f\t%9.3f%%\n", f.first.c_str(), f.second.first, f.second.second,
             total > 0 ? 100.0 * f.second.second / total : 0);
    }
    printf("\nTimings (microseconds): ");
    PrintStat(report.inference);
    printf("%d nodes observed\n", n);
  }

  if (!csv_path.empty()) {
    if (!crumb_tools::WriteProfileCsv(csv_path, report, &error)) return Fail(error);
    printf("Wrote the per-op profile to %s\n", csv_path.c_str());
  }
  if (!svg_path.empty()) {
    if (!crumb_tools::WriteProfileSvg(svg_path, report, &error)) return Fail(error);
    printf("Wrote the per-op chart to %s\n", svg_path.c_str());
  }
  if (!json_path.empty()) {
    if (!crumb_tools::WriteReportJson(json_path, report, &error)) return Fail(error);
    printf("Wrote the results as JSON to %s\n", json_path.c_str());
  }
  return 0;
}
