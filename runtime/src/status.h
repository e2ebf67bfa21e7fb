// Internal status: a C API code and a full-sentence message. No exceptions cross the C API.
#pragma once

#include <stdarg.h>

#include <string>
#include <utility>

#include "crumb/crumb.h"

namespace crumb::rt {

class Status {
 public:
  Status() = default;
  Status(crumb_status code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return Status(); }
  bool ok() const { return code_ == CRUMB_OK; }
  crumb_status code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  crumb_status code_ = CRUMB_OK;
  std::string message_;
};

// printf-style formatting into a std::string.
std::string StrFormat(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

inline Status InvalidModel(std::string message) {
  return Status(CRUMB_ERROR_INVALID_MODEL, std::move(message));
}
inline Status Unsupported(std::string message) {
  return Status(CRUMB_ERROR_UNSUPPORTED, std::move(message));
}
inline Status InvalidArgument(std::string message) {
  return Status(CRUMB_ERROR_INVALID_ARGUMENT, std::move(message));
}

inline Status Internal(std::string message) {
  return Status(CRUMB_ERROR_INTERNAL, std::move(message));
}

#define CRUMB_RETURN_IF_ERROR(expr)  \
  do {                               \
    ::crumb::rt::Status _s = (expr); \
    if (!_s.ok()) return _s;         \
  } while (0)

}  // namespace crumb::rt
