// crumb-bench --tune=OUT.crumb: times each kernel family a Conv / FullyConnected layer can run on
// this device and writes a copy of the model with the fastest family per layer recorded as TUNED
// (schema/crumb.fbs FamilySource), its weights packed for that family. The input file is never
// modified.
#pragma once

#include <stdint.h>

#include <string>
#include <vector>

#include "crumb/crumb.hpp"

namespace crumb_tools {

struct TuneConfig {
  std::string graph;   // the model to tune
  std::string output;  // the tuned copy to write
  int num_threads = 1;
  bool has_isa = false;
  crumb_isa isa = CRUMB_ISA_AUTO;
  std::vector<int32_t> input_shape;  // empty: the model's
  int64_t num_runs = 50;             // invokes per candidate per round
  int64_t warmup_runs = 1;
  int64_t rounds = 5;  // rounds interleaved across the candidates
};

// Runs the whole procedure, printing the table and the verification; returns the exit code.
int Tune(const TuneConfig& config);

// The inputs crumb-bench runs on: deterministic pseudo-random values (float inputs uniform in
// [0, 1), others zero), the same on every call. Returns false with the interpreter's error.
bool FillBenchInputs(crumb::Interpreter& interp, std::string* error);

}  // namespace crumb_tools
