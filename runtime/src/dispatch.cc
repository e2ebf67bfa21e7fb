#include "dispatch.h"

#include <stdlib.h>
#include <strings.h>

#include <mutex>

#include "cpuinfo.h"

namespace crumb::rt {

namespace {

bool CpuInfoReady() {
  static std::once_flag once;
  static bool ready = false;
  std::call_once(once, [] { ready = cpuinfo_initialize(); });
  return ready;
}

void FillScalar(KernelTable* t) {
#define CRUMB_UKERNEL(kind, name) \
  t->kind = name;                 \
  t->kind##_name = #name;
#include "kernels/scalar/scalar.inc"
}

}  // namespace

const char* IsaName(crumb_isa isa) {
  switch (isa) {
    case CRUMB_ISA_AUTO:
      return "auto";
    case CRUMB_ISA_SCALAR:
      return "scalar";
    case CRUMB_ISA_AVX2:
      return "avx2";
    case CRUMB_ISA_AVX512:
      return "avx512";
    case CRUMB_ISA_NEON:
      return "neon";
    case CRUMB_ISA_NEONDOT:
      return "neondot";
  }
  return "unknown";
}

bool ParseIsa(const char* text, crumb_isa* isa) {
  static const crumb_isa kAll[] = {CRUMB_ISA_AUTO,   CRUMB_ISA_SCALAR, CRUMB_ISA_AVX2,
                                   CRUMB_ISA_AVX512, CRUMB_ISA_NEON,   CRUMB_ISA_NEONDOT};
  if (!text) return false;
  for (crumb_isa i : kAll) {
    if (strcasecmp(text, IsaName(i)) == 0) {
      *isa = i;
      return true;
    }
  }
  return false;
}

bool CpuHasIsa(crumb_isa isa) {
  if (isa == CRUMB_ISA_SCALAR || isa == CRUMB_ISA_AUTO) return true;
  if (!CpuInfoReady()) return false;
  switch (isa) {
    case CRUMB_ISA_AVX2:
      return cpuinfo_has_x86_avx2() && cpuinfo_has_x86_fma3();
    case CRUMB_ISA_AVX512:
      return cpuinfo_has_x86_avx512f() && cpuinfo_has_x86_avx512bw() &&
             cpuinfo_has_x86_avx512vl() && cpuinfo_has_x86_avx512dq();
    case CRUMB_ISA_NEON:
      return cpuinfo_has_arm_neon();
    case CRUMB_ISA_NEONDOT:
      return cpuinfo_has_arm_neon_dot();
    default:
      return false;
  }
}

crumb_isa BestIsa() {
  static const crumb_isa kOrder[] = {CRUMB_ISA_AVX512, CRUMB_ISA_AVX2, CRUMB_ISA_NEONDOT,
                                     CRUMB_ISA_NEON};
  for (crumb_isa i : kOrder) {
    if (CpuHasIsa(i)) return i;
  }
  return CRUMB_ISA_SCALAR;
}

Status SelectKernels(crumb_isa requested, KernelTable* table) {
  crumb_isa isa = requested;
  const char* source = "the options";
  if (isa == CRUMB_ISA_AUTO) {
    const char* env = getenv("CRUMB_ISA");
    if (env && *env) {
      if (!ParseIsa(env, &isa)) {
        return InvalidArgument(
            StrFormat("CRUMB_ISA='%s' is not an instruction set; use one of "
                      "scalar, avx2, avx512, neon, neondot (or auto).",
                      env));
      }
      source = "CRUMB_ISA";
    }
  }
  if (isa == CRUMB_ISA_AUTO) {
    isa = BestIsa();
  } else if ((int)isa < CRUMB_ISA_AUTO || (int)isa > CRUMB_ISA_NEONDOT) {
    return InvalidArgument(StrFormat("Instruction set %d is unknown.", (int)isa));
  } else if (!CpuHasIsa(isa)) {
    return Unsupported(
        StrFormat("The %s path was requested (by %s) but this CPU lacks the %s "
                  "instructions.",
                  IsaName(isa), source, IsaName(isa)));
  }
  // Only the portable scalar kernels exist so far: every ISA runs them, and the kernel names
  // (reported per op) say so.
  table->isa = isa;
  FillScalar(table);
  return Status::Ok();
}

}  // namespace crumb::rt
