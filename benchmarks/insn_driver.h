// What every *_insn_driver shares: the two marker functions the qemu instruction counter
// (tools/qemu-insn-count, benchmarks/arm-insn-per-mac.sh) watches, and argument helpers. Include
// from the one source file of a driver executable (the markers are defined here).
#pragma once

#include <stdio.h>
#include <stdlib.h>

#include <string>

// noinline + an empty asm keep each a real, separate function that every call enters.
extern "C" __attribute__((noinline, used)) void crumb_insn_region_begin(void) {
  __asm__ volatile("" ::: "memory");
}
extern "C" __attribute__((noinline, used)) void crumb_insn_region_end(void) {
  __asm__ volatile("" ::: "memory");
}

namespace crumb_insn {

// Prints "<program>: <message>" and returns the exit code 1.
inline int Fail(const char* program, const std::string& message) {
  fprintf(stderr, "%s: %s\n", program, message.c_str());
  return 1;
}

// A decimal count in [1, max].
inline bool ParseSize(const char* s, size_t max, size_t* v) {
  char* end;
  const unsigned long long x = strtoull(s, &end, 10);
  if (*s == '\0' || *end != '\0' || x == 0 || x > max) return false;
  *v = (size_t)x;
  return true;
}

}  // namespace crumb_insn
