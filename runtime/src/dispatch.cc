#include "dispatch.h"

#include <stdlib.h>
#include <strings.h>

#include <mutex>
#include <string>

#include "cpuinfo.h"
#include "kernels/common/family_table.h"
#include "kernels/elementwise/elementwise.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__linux__) && (defined(__aarch64__) || defined(__arm__))
#include <sys/auxv.h>
#define CRUMB_ARM_LINUX_HWCAPS 1
#endif

namespace crumb::rt {

namespace {

bool CpuInfoReady() {
  static std::once_flag once;
  static bool ready = false;
  std::call_once(once, [] { ready = cpuinfo_initialize(); });
  return ready;
}

#if defined(__x86_64__) || defined(__i386__)
// AVX-VNNI (CPUID leaf 7, sub-leaf 1, EAX bit 4). Asked of CPUID itself: Debian's cpuinfo has no
// query for it, and clang 14's __builtin_cpu_supports does not know the name (the fuzz build).
bool HasAvxVnni() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid_count(7, 1, &a, &b, &c, &d) && ((a >> 4) & 1) != 0;
}
#endif

#ifdef CRUMB_ARM_LINUX_HWCAPS
// The kernel's own word on the Arm CPU's features (the auxiliary vector; under qemu-user, the
// emulated CPU's). cpuinfo reads the same bits, but also needs /proc and /sys, which sandboxes
// and minimal containers may hide: then these decide alone. Bit numbers are the kernel's ABI
// (asm/hwcap.h), spelled out because old libc headers lack the newer ones.
#if defined(__aarch64__)
constexpr unsigned long kHwcapNeon = 1ul << 1;    // HWCAP_ASIMD (mandatory in AArch64)
constexpr unsigned long kHwcapDot = 1ul << 20;    // HWCAP_ASIMDDP
constexpr unsigned long kHwcap2I8mm = 1ul << 13;  // HWCAP2_I8MM
#else
constexpr unsigned long kHwcapNeon = 1ul << 12;  // HWCAP_NEON
constexpr unsigned long kHwcapDot = 1ul << 24;   // HWCAP_ASIMDDP (Armv8.2 in AArch32 state)
constexpr unsigned long kHwcap2I8mm = 0;         // no AArch32 hwcap for it
#endif
bool ArmHwcap(unsigned long bit) { return bit != 0 && (getauxval(AT_HWCAP) & bit) != 0; }
bool ArmHwcap2(unsigned long bit) { return bit != 0 && (getauxval(AT_HWCAP2) & bit) != 0; }
#endif

void FillScalar(KernelTable* t) {
#define CRUMB_UKERNEL(kind, name) \
  t->kind = name;                 \
  t->kind##_name = #name;
#include "kernels/scalar/scalar.inc"
}

// Whether a kernel tagged `tag` in a family's .inc list may run on the selected ISA. Extensions
// beyond the ISA's baseline (VNNI, VBMI) are asked of cpuinfo. A forced AVX2 path means AVX2 only
// (that is what `CRUMB_ISA=avx2` is for: the speed of AVX2-only CPUs); left to itself, an AVX2
// CPU with AVX-VNNI (Alder Lake, Zen 5 without AVX-512) runs the AVX-VNNI kernels.
bool KernelAllowed(const char* tag, crumb_isa isa, bool forced) {
  (void)forced;  // only x86 has an extension (AVX-VNNI) that a forced path excludes
  const std::string t = tag;
  if (t == "SCALAR") return true;
#if defined(__x86_64__) || defined(__i386__)
  const bool avx2 = isa == CRUMB_ISA_AVX2 || isa == CRUMB_ISA_AVX512;
  const bool avx512 = isa == CRUMB_ISA_AVX512;
  if (t == "AVX2") return avx2;
  if (t == "AVXVNNI") {
    return isa == CRUMB_ISA_AVX2 && !forced && HasAvxVnni();
  }
  if (t == "AVX512") return avx512;
  if (t == "AVX512VBMI") return avx512 && CpuInfoReady() && cpuinfo_has_x86_avx512vbmi();
  if (t == "AVX512VPOPCNT") {
    return avx512 && CpuInfoReady() && cpuinfo_has_x86_avx512vpopcntdq();
  }
  if (t == "AVX512VNNI") {
    return avx512 && CpuInfoReady() && cpuinfo_has_x86_avx512vnni() && cpuinfo_has_x86_avx512vbmi();
  }
#endif
  if (t == "NEON") return isa == CRUMB_ISA_NEON || isa == CRUMB_ISA_NEONDOT;
  if (t == "NEONDOT") return isa == CRUMB_ISA_NEONDOT;
  return false;
}

// The .inc lists order each family's kernels from portable to fastest: the last allowed wins.
void FillFamilies(KernelTable* t, bool forced) {
#define CRUMB_DOT_SET_gemm(name) \
  t->dot.gemm = name;            \
  t->dot.gemm_name = #name;
#define CRUMB_DOT_SET_igemm(name) \
  t->dot.igemm = name;            \
  t->dot.igemm_name = #name;      \
  t->dot.igemm_skips_zero_rows = false;
#define CRUMB_DOT_SET_igemmz(name) CRUMB_DOT_SET_igemm(name) t->dot.igemm_skips_zero_rows = true;
#define CRUMB_DOT_UKERNEL(kind, name, tag)   \
  if (KernelAllowed(#tag, t->isa, forced)) { \
    CRUMB_DOT_SET_##kind(name)               \
  }
#include "kernels/dot/dot.inc"
#undef CRUMB_DOT_SET_gemm
#undef CRUMB_DOT_SET_igemm
#undef CRUMB_DOT_SET_igemmz
#define CRUMB_LUT_UKERNEL(kind, name, tag, a_bits)          \
  if (a_bits <= 4 && KernelAllowed(#tag, t->isa, forced)) { \
    LutKernels& l = t->lut[a_bits <= 4 ? a_bits : 0];       \
    CRUMB_LUT_SET_##kind(l, name)                           \
  }
#define CRUMB_LUT_SET_lutgemm(l, name) \
  l.gemm = name;                       \
  l.gemm_name = #name;
#define CRUMB_LUT_SET_lutigemm(l, name) \
  l.igemm = name;                       \
  l.igemm_name = #name;
#define CRUMB_LUT_SET_lutgemv(l, name) (void)l;
#include "kernels/lut/lut.inc"
#define CRUMB_BITSERIAL_UKERNEL(kind, name, tag, a_bits, w_bits) \
  if (KernelAllowed(#tag, t->isa, forced)) {                     \
    BitserialKernels& b = t->bitserial[a_bits][w_bits];          \
    CRUMB_BS_SET_##kind(b, name)                                 \
  }
#define CRUMB_BS_SET_bsgemm(b, name) \
  b.gemm = name;                     \
  b.gemm_name = #name;
#define CRUMB_BS_SET_bsigemm(b, name) \
  b.igemm = name;                     \
  b.igemm_name = #name;
#include "kernels/bitserial/bitserial.inc"
#undef CRUMB_BS_SET_bsgemm
#undef CRUMB_BS_SET_bsigemm
#undef CRUMB_LUT_SET_lutgemm
#undef CRUMB_LUT_SET_lutigemm
#undef CRUMB_LUT_SET_lutgemv
#define CRUMB_DWCONV_UKERNEL(kname, tag)     \
  if (KernelAllowed(#tag, t->isa, forced)) { \
    t->dwconv.fn = kname;                    \
    t->dwconv.name = #kname;                 \
  }
#include "kernels/dwconv/dwconv.inc"
#define CRUMB_SPARSE_UKERNEL(kname, mr, tag) \
  if (KernelAllowed(#tag, t->isa, forced)) { \
    t->spmm.fn = kname;                      \
    t->spmm.name = #kname;                   \
  }
#include "kernels/sparse/sparse.inc"
  // The SIMD element-wise and pooling kernels replace the scalar ones of their slots.
#define CRUMB_ELEMENTWISE_UKERNEL(kind, name, tag) \
  if (KernelAllowed(#tag, t->isa, forced)) {       \
    t->kind = name;                                \
    t->kind##_name = #name;                        \
  }
#include "kernels/elementwise/elementwise.inc"
}

// The family table's CPU class: AVX-512 rows were measured with the VBMI lut, VPOPCNTDQ bitserial
// and VNNI dot kernels, so an AVX-512 CPU lacking one of them uses the AVX2 rows.
unsigned SelectIsa(crumb_isa isa, bool forced) {
  switch (isa) {
    case CRUMB_ISA_AVX512:
      return KernelAllowed("AVX512VBMI", isa, forced) &&
                     KernelAllowed("AVX512VPOPCNT", isa, forced) &&
                     KernelAllowed("AVX512VNNI", isa, forced)
                 ? CRUMB_SELECT_AVX512
                 : CRUMB_SELECT_AVX2;
    case CRUMB_ISA_AVX2:
      return CRUMB_SELECT_AVX2;
    case CRUMB_ISA_NEON:
      return CRUMB_SELECT_NEON;
    case CRUMB_ISA_NEONDOT:
      return CRUMB_SELECT_NEONDOT;
    default:
      return CRUMB_SELECT_SCALAR;
  }
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
#ifdef CRUMB_ARM_LINUX_HWCAPS
  if (!CpuInfoReady()) {
    if (isa == CRUMB_ISA_NEON) return ArmHwcap(kHwcapNeon);
    if (isa == CRUMB_ISA_NEONDOT) return ArmHwcap(kHwcapNeon) && ArmHwcap(kHwcapDot);
    return false;
  }
#else
  if (!CpuInfoReady()) return false;
#endif
  switch (isa) {
    case CRUMB_ISA_AVX2:
      return cpuinfo_has_x86_avx2() && cpuinfo_has_x86_fma3();
    case CRUMB_ISA_AVX512:
      return cpuinfo_has_x86_avx512f() && cpuinfo_has_x86_avx512bw() &&
             cpuinfo_has_x86_avx512vl() && cpuinfo_has_x86_avx512dq();
    case CRUMB_ISA_NEON:
      return cpuinfo_has_arm_neon();
    case CRUMB_ISA_NEONDOT:
      return cpuinfo_has_arm_neon() && cpuinfo_has_arm_neon_dot();
    default:
      return false;
  }
}

bool CpuHasArmI8mm() {
#ifdef CRUMB_ARM_LINUX_HWCAPS
  // Debian's cpuinfo snapshot (2022) does not know i8mm yet: ask the kernel.
  return ArmHwcap2(kHwcap2I8mm);
#else
  return false;
#endif
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
  const bool forced = isa != CRUMB_ISA_AUTO;
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
  // Element-wise and pooling ops run the best kernel of their slot (the scalar.inc default, or
  // kernels/elementwise's SIMD one: the same bits); Conv and FullyConnected pick their family's
  // best kernel per layer from the table.
  table->isa = isa;
  FillScalar(table);
  FillFamilies(table, forced);
  table->select_isa = SelectIsa(isa, forced);
  return Status::Ok();
}

}  // namespace crumb::rt
