// The measured kernel-family table: which family runs a Conv / FullyConnected layer fastest on
// one class of CPU, by (weight bits, weight encoding, activation bits, shape class). The runtime
// looks up the CPU it runs on; the converter looks up its --target (or, for --target portable,
// applies kernels/common/family.h's ISA-independent rule). A layer no row covers, or one the row's
// family cannot run, falls back to that rule.
//
// Every row comes from benchmarks/bench_family_table (single-layer models run through libcrumb
// with each family forced, interleaved, medians): the `evidence` string is the measured ratio of
// the winner over the runner-up and appears in crumb-bench's per-op profile. The command and the
// full tables are in benchmarks/README.md ("Kernel-family table"). NEON rows come from the qemu
// instruction counts of benchmarks/arm-insn-per-mac.sh (speed under qemu means nothing; executed
// instructions per MAC of the inner loops do).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kernels/common/family.h"

#ifdef __cplusplus
extern "C" {
#endif

// Classes of CPU the table distinguishes: what each family's best kernel is on them.
enum crumb_select_isa {
  CRUMB_SELECT_PORTABLE = 0,  // no CPU in mind: kernels/common/family.h's rule
  CRUMB_SELECT_SCALAR = 1,
  CRUMB_SELECT_AVX2 = 2,    // also AVX-512 CPUs without VBMI + VPOPCNTDQ + VNNI
  CRUMB_SELECT_AVX512 = 3,  // AVX-512 with VBMI, VPOPCNTDQ and VNNI (Ice Lake, Zen 4 and later)
  CRUMB_SELECT_NEON = 4,
  CRUMB_SELECT_NEONDOT = 5,
};

enum crumb_shape_class {
  CRUMB_SHAPE_SPATIAL = 0,    // a convolution window larger than 1x1 (indirect GEMM)
  CRUMB_SHAPE_POINTWISE = 1,  // 1x1 convolution, FullyConnected with more than one row
  CRUMB_SHAPE_GEMV = 2,       // one output row (FullyConnected at batch 1, a 1x1 output map)
};

#define CRUMB_ANY 0xFF

typedef struct crumb_family_row {
  uint8_t isa;         // crumb_select_isa
  uint8_t w_bits;      // or CRUMB_ANY
  uint8_t w_encoding;  // crumb_weight_encoding, or CRUMB_ANY
  uint8_t a_bits;      // or CRUMB_ANY
  uint8_t shape;       // crumb_shape_class, or CRUMB_ANY
  uint8_t family;      // crumb_kernel_family
  const char* evidence;
} crumb_family_row;

// Rows are matched in order; the first that fits the layer and whose family can run it wins.
// Measured with `benchmarks/bench_family_table` (benchmarks/README.md, "Kernel-family table").
static const crumb_family_row crumb_family_table[] = {
    // AVX-512 (VBMI + VPOPCNTDQ + VNNI).
    {CRUMB_SELECT_AVX512, 1, CRUMB_ANY, 1, CRUMB_ANY, CRUMB_FAMILY_BITSERIAL, "W1A1: popcount"},
    {CRUMB_SELECT_AVX512, 1, CRUMB_ANY, 2, CRUMB_ANY, CRUMB_FAMILY_BITSERIAL, "W1A2: popcount"},
    {CRUMB_SELECT_AVX512, 2, CRUMB_ANY, 1, CRUMB_ANY, CRUMB_FAMILY_BITSERIAL, "W2A1: popcount"},
    {CRUMB_SELECT_AVX512, 2, CRUMB_ANY, 2, CRUMB_ANY, CRUMB_FAMILY_BITSERIAL, "W2A2: popcount"},
    // AVX2.
    {CRUMB_SELECT_AVX2, 1, CRUMB_ANY, 1, CRUMB_ANY, CRUMB_FAMILY_BITSERIAL, "W1A1: popcount"},
    {CRUMB_SELECT_AVX2, 2, CRUMB_ANY, 2, CRUMB_ANY, CRUMB_FAMILY_LUT, "W2A2: pair tables"},
    // NEON (instructions per MAC under qemu).
    {CRUMB_SELECT_NEON, 1, CRUMB_ANY, 1, CRUMB_ANY, CRUMB_FAMILY_BITSERIAL, "W1A1: popcount"},
    {CRUMB_SELECT_NEONDOT, 1, CRUMB_ANY, 1, CRUMB_ANY, CRUMB_FAMILY_BITSERIAL, "W1A1: popcount"},
};

static inline int crumb_family_row_fits(const crumb_family_row* r, const crumb_gemm_layer* l,
                                        unsigned isa, unsigned shape) {
  return r->isa == isa && (r->w_bits == CRUMB_ANY || r->w_bits == l->w_bits) &&
         (r->w_encoding == CRUMB_ANY || r->w_encoding == l->w_encoding) &&
         (r->a_bits == CRUMB_ANY || r->a_bits == l->a_bits) &&
         (r->shape == CRUMB_ANY || r->shape == shape);
}

// Whether `family` can run the layer (the family's kernels exist for its bits and encodings).
static inline int crumb_family_can_run(const crumb_gemm_layer* l, int family) {
  switch (family) {
    case CRUMB_FAMILY_SCALAR:
      return 1;
    case CRUMB_FAMILY_LUT:
      return crumb_lut_layer_a_bits(l) != 0 && !(l->groups > 1 && l->n / l->groups < 16);
    case CRUMB_FAMILY_BITSERIAL:
      return crumb_bitserial_layer_ok(l) && !(l->groups > 1 && l->n / l->groups < 16);
    case CRUMB_FAMILY_DOT:
      return crumb_dot_layer_ok(l) && !(l->groups > 1 && l->n / l->groups < 16);
    default:
      return 0;
  }
}

// The family for the layer on `isa` (crumb_select_isa) at `shape` (crumb_shape_class); *why (may
// be NULL) gets the row's evidence, or NULL when the ISA-independent rule decided.
static inline int crumb_family_table_choose(const crumb_gemm_layer* l, unsigned isa, unsigned shape,
                                            const char** why) {
  if (why) *why = NULL;
  if (isa != CRUMB_SELECT_PORTABLE && !(l->groups > 1 && l->n / l->groups < 16)) {
    for (size_t i = 0; i < sizeof(crumb_family_table) / sizeof(crumb_family_table[0]); i++) {
      const crumb_family_row* r = &crumb_family_table[i];
      if (crumb_family_row_fits(r, l, isa, shape) && crumb_family_can_run(l, r->family)) {
        if (why) *why = r->evidence;
        return r->family;
      }
    }
  }
  return crumb_choose_gemm_family(l, CRUMB_FAMILY_AUTO);
}

#ifdef __cplusplus
}
#endif
