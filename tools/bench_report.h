// crumb-bench's machine-readable reports: the per-op profile as CSV and as an SVG bar chart, and
// every result as one JSON object. Kept apart from crumb-bench.cc so the tool's main stays a
// readable sequence of benchmark_model's steps.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <string>
#include <vector>

namespace crumb_tools {

// Statistics of a series of inference times in microseconds (benchmark_model's Stat line).
struct TimingSummary {
  int64_t count = 0;
  double first = 0, curr = 0, min = 0, max = 0, avg = 0, std = 0;
};
TimingSummary Summarize(const std::vector<double>& us);

struct OpRow {
  int32_t index = 0;
  std::string name, type, kernel;
  std::string family, family_reason;  // empty for ops with one kernel
  double first_ms = 0, avg_ms = 0;    // first inference; average over the regular runs
  double percent = 0, cdf = 0;        // of the summed per-op average
  int64_t times_called = 1;           // per inference
};

struct BenchReport {
  std::string graph, isa, input_shapes;
  int64_t num_threads = 1, num_runs = 0, warmup_runs = 0;
  double min_secs = 0, max_secs = 0;
  bool stopped_by_max_secs = false;  // the regular runs ended before num_runs
  double init_us = 0;
  TimingSummary warmup, inference;
  size_t model_bytes = 0;
  size_t arena_bytes = 0;  // crumb_interpreter_arena_bytes: arena + scratch + per-op persistent
  size_t peak_rss_bytes = 0, max_rss_bytes = 0;  // VmHWM, getrusage ru_maxrss (0: unknown)
  double init_mem_delta_mb = 0, overall_mem_delta_mb = 0;
  bool profiled = false;
  std::vector<OpRow> ops;  // run order; filled with or without profiling (times 0 without)
};

// The family label the summaries and the chart use for an op ("(single-kernel ops)" when none).
std::string FamilyLabel(const OpRow& op);

// Each writes atomically (no partial file on error); false with a message.
bool WriteProfileCsv(const std::string& path, const BenchReport& report, std::string* error);
bool WriteReportJson(const std::string& path, const BenchReport& report, std::string* error);
bool WriteProfileSvg(const std::string& path, const BenchReport& report, std::string* error);

}  // namespace crumb_tools
