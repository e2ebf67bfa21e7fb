#include "tool_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

namespace crumb_tools {

Args::Args(int argc, char** argv, const std::vector<std::string>& known,
           const std::vector<std::string>& boolean) {
  auto is = [](const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a.size() < 2 || a.compare(0, 2, "--") != 0) {
      positional_.push_back(a);
      continue;
    }
    std::string name = a.substr(2), value;
    const size_t eq = name.find('=');
    const bool has_value = eq != std::string::npos;
    if (has_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (!is(known, name)) {
      if (error_.empty()) error_ = "Unknown flag --" + name + ".";
      continue;
    }
    if (!has_value) {
      if (is(boolean, name)) {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        if (error_.empty()) error_ = "Flag --" + name + " needs a value.";
        continue;
      }
    }
    values_[name].push_back(value);
  }
}

std::string Args::Get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second.back();
}

std::vector<std::string> Args::GetAll(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>() : it->second;
}

bool Args::GetInt(const std::string& name, int64_t fallback, int64_t* out) {
  if (!Has(name)) {
    *out = fallback;
    return true;
  }
  const std::string v = Get(name);
  char* end = nullptr;
  errno = 0;
  const long long x = strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno != 0) {
    error_ = "Flag --" + name + " needs an integer, not '" + v + "'.";
    return false;
  }
  *out = x;
  return true;
}

bool Args::GetBool(const std::string& name, bool fallback, bool* out) {
  if (!Has(name)) {
    *out = fallback;
    return true;
  }
  const std::string v = Get(name);
  if (v == "true" || v == "1" || v == "yes") {
    *out = true;
  } else if (v == "false" || v == "0" || v == "no") {
    *out = false;
  } else {
    error_ = "Flag --" + name + " needs true or false, not '" + v + "'.";
    return false;
  }
  return true;
}

bool ParseShape(const std::string& text, std::vector<int32_t>* dims) {
  dims->clear();
  size_t i = 0;
  while (i < text.size()) {
    size_t j = i;
    while (j < text.size() && text[j] >= '0' && text[j] <= '9') j++;
    if (j == i || j - i > 9) return false;
    dims->push_back((int32_t)atoi(text.substr(i, j - i).c_str()));
    if (j == text.size()) break;
    if (text[j] != ',' && text[j] != 'x') return false;
    i = j + 1;
    if (i == text.size()) return false;
  }
  return !dims->empty();
}

std::string ShapeString(const std::vector<int32_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); i++) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

bool ParseShapes(const std::string& text, std::vector<std::vector<int32_t>>* shapes) {
  shapes->clear();
  size_t i = 0;
  for (;;) {
    const size_t j = text.find(':', i);
    std::vector<int32_t> dims;
    if (!ParseShape(text.substr(i, j == std::string::npos ? std::string::npos : j - i), &dims)) {
      return false;
    }
    shapes->push_back(dims);
    if (j == std::string::npos) return true;
    i = j + 1;
  }
}

bool ReadFile(const std::string& path, std::string* bytes, std::string* error) {
  FILE* f = fopen(path.c_str(), "rb");
  if (!f) {
    *error = "Cannot open '" + path + "': " + strerror(errno) + ".";
    return false;
  }
  bytes->clear();
  char buf[1 << 16];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) bytes->append(buf, n);
  const bool failed = ferror(f) != 0;
  fclose(f);
  if (failed) {
    *error = "Cannot read '" + path + "'.";
    return false;
  }
  return true;
}

bool WriteFileAtomic(const std::string& path, const void* data, size_t size, std::string* error) {
  std::string tmp = path + ".tmpXXXXXX";
  const int fd = mkstemp(&tmp[0]);
  if (fd < 0) {
    *error = "Cannot create a temporary file next to '" + path + "': " + strerror(errno) + ".";
    return false;
  }
  const uint8_t* p = static_cast<const uint8_t*>(data);
  size_t left = size;
  while (left > 0) {
    const ssize_t w = write(fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      *error = "Cannot write '" + path + "': " + strerror(errno) + ".";
      close(fd);
      unlink(tmp.c_str());
      return false;
    }
    p += w;
    left -= (size_t)w;
  }
  fchmod(fd, 0644);
  if (close(fd) != 0 || rename(tmp.c_str(), path.c_str()) != 0) {
    *error = "Cannot write '" + path + "': " + strerror(errno) + ".";
    unlink(tmp.c_str());
    return false;
  }
  return true;
}

size_t PeakMemoryBytes() {
  FILE* f = fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  size_t kb = 0;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "VmHWM:", 6) == 0) {
      kb = (size_t)strtoull(line + 6, nullptr, 10);
      break;
    }
  }
  fclose(f);
  return kb * 1024;
}

size_t MaxRssBytes() {
  struct rusage usage;
  if (getrusage(RUSAGE_SELF, &usage) != 0 || usage.ru_maxrss < 0) return 0;
  return (size_t)usage.ru_maxrss * 1024;  // kilobytes on Linux
}

bool MakeInterpreter(Args& args, const crumb::Model& model, bool profiling,
                     crumb::Interpreter* interpreter, std::string* error) {
  int64_t threads = 1;
  if (!args.GetInt("num_threads", 1, &threads)) {
    *error = args.error();
    return false;
  }
  if (threads < 1 && threads != -1) {
    *error = "--num_threads must be >= 1, or -1 for one thread per core.";
    return false;
  }
  crumb::Options options;
  options.SetNumThreads(int(threads)).SetProfiling(profiling);
  if (args.Has("cpu_mask") && args.Has("cpu_preset")) {
    *error = "--cpu_mask and --cpu_preset both choose the CPUs; give one.";
    return false;
  }
  if (args.Has("cpu_mask")) {
    const std::string text = args.Get("cpu_mask");
    char* end = nullptr;
    const unsigned long long mask = strtoull(text.c_str(), &end, 0);
    if (text.empty() || *end != '\0' || mask == 0) {
      *error = "--cpu_mask=" + text + " is not a non-zero CPU mask (e.g. 0x3 for CPUs 0 and 1).";
      return false;
    }
    options.SetCpuMask(mask);
  }
  if (args.Has("cpu_preset")) {
    const uint64_t mask = crumb_cpu_preset_mask(args.Get("cpu_preset").c_str());
    if (mask == 0) {
      *error = crumb_last_error();
      return false;
    }
    options.SetCpuMask(mask);
  }
  if (args.Has("memory_limit")) {
    // Bytes, or with a K / M / G suffix (powers of 1024); 0 lifts the cap.
    const std::string text = args.Get("memory_limit");
    char* end = nullptr;
    unsigned long long bytes = strtoull(text.c_str(), &end, 10);
    const std::string suffix = end ? end : "";
    const int shift = suffix == ""    ? 0
                      : suffix == "K" ? 10
                      : suffix == "M" ? 20
                      : suffix == "G" ? 30
                                      : -1;
    if (text.empty() || end == text.c_str() || shift < 0 || bytes > (~0ull >> shift)) {
      *error = "--memory_limit=" + text + " is not a byte count (e.g. 64M, 2G or 0 for no limit).";
      return false;
    }
    options.SetMemoryLimit(bytes << shift);
  }
  if (args.Has("isa")) {
    crumb_isa isa;
    if (!crumb::ParseIsa(args.Get("isa").c_str(), &isa)) {
      *error = "--isa=" + args.Get("isa") + " is not an instruction set.";
      return false;
    }
    options.SetIsa(isa);
  }
  if (args.Has("kernel_family") && !options.SetKernelFamily(args.Get("kernel_family").c_str())) {
    *error = crumb_last_error();
    return false;
  }
  *interpreter = crumb::Interpreter(model, options);
  if (!*interpreter) {
    *error = crumb_last_error();
    return false;
  }
  return true;
}

}  // namespace crumb_tools
