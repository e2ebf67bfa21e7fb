// Kernel dispatch: the CPU's features are detected once (cpuinfo); a forced ISA (options or the
// CRUMB_ISA environment variable) selects a path or fails cleanly when the CPU lacks it.
#pragma once

#include "crumb/crumb.h"
#include "kernels/bitserial/bitserial.h"
#include "kernels/dot/dot.h"
#include "kernels/dwconv/dwconv.h"
#include "kernels/lut/lut.h"
#include "kernels/scalar/scalar.h"
#include "kernels/sparse/sparse.h"
#include "status.h"

namespace crumb::rt {

// The best kernels of the `dot` family (kernels/dot/dot.inc) the selected ISA can run.
struct DotKernels {
  crumb_gemm_ukernel_fn* gemm = nullptr;
  crumb_igemm_ukernel_fn* igemm = nullptr;
  const char* gemm_name = "";
  const char* igemm_name = "";
  // igemm is of kind igemmz: rows equal to `zero` cost nothing when the activations' zero point is
  // 0 in the u8 domain.
  bool igemm_skips_zero_rows = false;
};

// The best `lut` kernels (kernels/lut/lut.inc) for one activation width.
struct LutKernels {
  crumb_lutgemm_ukernel_fn* gemm = nullptr;
  crumb_lutigemm_ukernel_fn* igemm = nullptr;
  const char* gemm_name = "";
  const char* igemm_name = "";
};

// The best `bitserial` kernels (kernels/bitserial/bitserial.inc) for one (activation, weight)
// plane count.
struct BitserialKernels {
  crumb_bsgemm_ukernel_fn* gemm = nullptr;
  crumb_bsigemm_ukernel_fn* igemm = nullptr;
  const char* gemm_name = "";
  const char* igemm_name = "";
};

// The best `dwconv` kernel (kernels/dwconv/dwconv.inc).
struct DwconvKernel {
  crumb_dwconv_ukernel_fn* fn = nullptr;
  const char* name = "";
};

// The best `sparse` kernel (kernels/sparse/sparse.inc).
struct SpmmKernel {
  crumb_spmm_ukernel_fn* fn = nullptr;
  const char* name = "";
};

// One kernel per contract, with its name for profiles and tools.
struct KernelTable {
  crumb_isa isa = CRUMB_ISA_SCALAR;
  // The row of kernels/common/family_table.h this CPU and ISA path use (crumb_select_isa), and a
  // family the options force on every layer that can run it (CRUMB_FAMILY_AUTO: none).
  unsigned select_isa = 0;
  int forced_family = 0;
  DotKernels dot;
  LutKernels lut[5];                 // by activation bits 2, 3, 4 (0 and 1 unused)
  BitserialKernels bitserial[3][3];  // by activation bits, weight bits (1, 2)
  DwconvKernel dwconv;
  SpmmKernel spmm;
#define CRUMB_KERNEL_SLOT(kind)              \
  crumb_##kind##_ukernel_fn* kind = nullptr; \
  const char* kind##_name = "";
  CRUMB_KERNEL_SLOT(gemm)
  CRUMB_KERNEL_SLOT(igemm)
  CRUMB_KERNEL_SLOT(maxpool)
  CRUMB_KERNEL_SLOT(avgpool)
  CRUMB_KERNEL_SLOT(gavgpool)
  CRUMB_KERNEL_SLOT(quantize)
  CRUMB_KERNEL_SLOT(dequantize)
  CRUMB_KERNEL_SLOT(requantize)
  CRUMB_KERNEL_SLOT(vadd)
  CRUMB_KERNEL_SLOT(vmul)
  CRUMB_KERNEL_SLOT(x8lut)
#undef CRUMB_KERNEL_SLOT
};

const char* IsaName(crumb_isa isa);
// Parses "scalar", "avx2", ... (case-insensitive); false when unknown.
bool ParseIsa(const char* text, crumb_isa* isa);
// Whether this CPU can run the ISA's instructions. On Arm: NEON is Advanced SIMD, NEONDOT adds
// the int8 dot products (SDOT / UDOT, Armv8.2 dotprod).
bool CpuHasIsa(crumb_isa isa);
// Whether this Arm CPU has the int8 matrix multiply-accumulate (SMMLA / UMMLA, Armv8.6 i8mm), for
// kernels that use it within the NEONDOT path; false elsewhere.
bool CpuHasArmI8mm();
// The best ISA the CPU has.
crumb_isa BestIsa();

// Resolves the requested ISA (CRUMB_ISA_AUTO: the environment variable CRUMB_ISA, else the best
// the CPU has) and fills the kernel table. Fails when a forced ISA is missing on this CPU.
Status SelectKernels(crumb_isa requested, KernelTable* table);

}  // namespace crumb::rt
