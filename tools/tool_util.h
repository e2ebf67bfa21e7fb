// Helpers shared by crumb-run, crumb-bench and crumb-inspect: flags, raw files, shapes.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <map>
#include <string>
#include <vector>

#include "crumb/crumb.hpp"

namespace crumb_tools {

// Command-line flags: `--name=value`, `--name value`, or `--name` alone (value "true").
// Arguments not starting with "--" are positional. Repeated flags keep every value.
class Args {
 public:
  // `known` lists the flags the tool takes; `boolean` those that take no separate value.
  Args(int argc, char** argv, const std::vector<std::string>& known,
       const std::vector<std::string>& boolean = {});
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  bool Has(const std::string& name) const { return values_.count(name) != 0; }
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  std::vector<std::string> GetAll(const std::string& name) const;
  // Integer flag; false (with error()) when the value is not an integer.
  bool GetInt(const std::string& name, int64_t fallback, int64_t* out);
  bool GetBool(const std::string& name, bool fallback, bool* out);
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
  std::string error_;
};

// Parses "360,1,8,8" (also with 'x' separators); false on anything else.
bool ParseShape(const std::string& text, std::vector<int32_t>* dims);
std::string ShapeString(const std::vector<int32_t>& dims);
// benchmark_model's --input_layer_shape: one shape per input, separated by ':' ("1,3,8,8:1,10").
bool ParseShapes(const std::string& text, std::vector<std::vector<int32_t>>* shapes);

bool ReadFile(const std::string& path, std::string* bytes, std::string* error);
// Writes to a temporary file next to `path`, then renames it: never a partial output.
bool WriteFileAtomic(const std::string& path, const void* data, size_t size, std::string* error);

// Peak resident memory of this process in bytes (VmHWM), 0 when unknown.
size_t PeakMemoryBytes();
// getrusage's ru_maxrss in bytes, 0 when unknown: the same high-water mark where /proc is missing
// (e.g. some sandboxes), and what benchmark_model reports.
size_t MaxRssBytes();

// Creates the interpreter the tools share: --num_threads, --isa and --kernel_family from the
// command line (default one thread, ISA auto, family auto), profiling as asked. Returns false with
// a message when a flag is bad or the interpreter cannot be created.
bool MakeInterpreter(Args& args, const crumb::Model& model, bool profiling,
                     crumb::Interpreter* interpreter, std::string* error);

}  // namespace crumb_tools
