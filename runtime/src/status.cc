#include "status.h"

#include <stdio.h>

namespace crumb::rt {

std::string StrFormat(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  va_list copy;
  va_copy(copy, args);
  const int n = vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  std::string out;
  if (n > 0) {
    out.resize((size_t)n + 1);
    vsnprintf(&out[0], out.size(), fmt, args);
    out.resize((size_t)n);
  }
  va_end(args);
  return out;
}

}  // namespace crumb::rt
