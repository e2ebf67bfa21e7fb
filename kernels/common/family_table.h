// The measured kernel-family table: which family runs a Conv / FullyConnected layer fastest on
// one class of CPU, by (weight bits, weight encoding, activation bits, shape class). The runtime
// looks up the CPU it runs on; the converter looks up its --target (or, for --target portable,
// applies kernels/common/family.h's ISA-independent rule). A layer no row covers, or one the row's
// family cannot run, falls back to that rule.
//
// Every row comes from benchmarks/bench_family_table (single-layer models run through libcrumb
// with each family forced, interleaved, medians): the `evidence` string is the measured ratio of
// the winner over the runner-up and appears in crumb-bench's per-op profile. The command and the
// full tables are in benchmarks/README.md ("Kernel-family table"). For NEON the qemu instruction
// counts of benchmarks/arm-insn-per-mac.sh stand in for speed (speed under qemu means nothing;
// executed instructions per MAC of the inner loops do).
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
  uint16_t min_n;      // fewest output channels per group the row applies to (0: any)
  uint8_t family;      // crumb_kernel_family
  const char* evidence;
  uint16_t max_k;        // most reduction terms (kc * ks) the row applies to (0: any)
  uint16_t n_unaligned;  // applies only when the output channels are not a multiple (0: any)
} crumb_family_row;

#define CRUMB_ROW(isa, wb, enc, ab, shape, min_n, fam, why) \
  { CRUMB_SELECT_##isa, wb, enc, ab, CRUMB_SHAPE_##shape, min_n, CRUMB_FAMILY_##fam, why, 0, 0 }
// A row that also bounds the reduction length and / or needs output channels off a tile multiple.
#define CRUMB_ROW_K(isa, wb, enc, ab, shape, max_k, n_unaligned, fam, why)                   \
  {                                                                                          \
    CRUMB_SELECT_##isa, wb, enc, ab, CRUMB_SHAPE_##shape, 0, CRUMB_FAMILY_##fam, why, max_k, \
        n_unaligned                                                                          \
  }
// Rows are matched in order; the first that fits the layer and whose family can run it wins.
// Ratios: winner over runner-up, medians of 3 runs of `bench_family_table` (7 interleaved rounds
// each) on the project's Zen 4 box; a row applies to every weight encoding of its bit width
// (bipolar, signed, ternary measured alike). Layers: spatial 3x3 64->64 @56 and 256->256 @14,
// pointwise 1x1 256->256 @14 and 64->256 @56, gemv FC 1024->1024 at M = 1. Where the rule of
// kernels/common/family.h already picks the winner, or families tie within 5 %, there is no row.
// AVX-512 off one output row: the rule's popcount for up to two plane pairs (W1A1 2.2-3.5x,
// W1A2 1.2-1.8x, W2A1 1.4-1.9x the runner-up) and pair tables for W2A2-W2A4 (1.03-1.2x) are what it
// measured. NEON has no rows: the rule agrees with the qemu instruction counts per MAC of the inner
// loops (benchmarks/arm-insn-per-mac.sh: popcount W1A1 0.035 vs pair tables 0.071; W2A2 pair tables
// 0.071 vs popcount 0.141).
static const crumb_family_row crumb_family_table[] = {
    // AVX-512 with VBMI (lut), VPOPCNTDQ (bitserial), VNNI (dot): one output row.
    CRUMB_ROW(AVX512, CRUMB_ANY, CRUMB_ANY, 1, GEMV, 0, BITSERIAL,
              "A1 at M=1: popcount 2.1-3.6x dot"),
    CRUMB_ROW(AVX512, CRUMB_ANY, CRUMB_ANY, 2, GEMV, 0, BITSERIAL,
              "A2 at M=1: popcount 1.75-2.9x dot"),
    CRUMB_ROW(AVX512, CRUMB_ANY, CRUMB_ANY, CRUMB_ANY, GEMV, 0, DOT,
              "A3-A8 at M=1: int8 dot products (2.0x pair tables at A3-A4)"),
    // AVX-512, 1x1 W2A4 at MobileNetV2's shapes (crumb-bench --tune, 5 interleaved rounds):
    // since the dot kernel's short reductions unroll and its epilogue stopped spilling (d841861's
    // successor), int8 dot products win every reduction up to 64 (16->96 @112 1.23x, 24->144 @56
    // 1.24x, 64->384 @14 1.07-1.18x pair tables); pair tables keep whole 128-channel tiles with
    // long reductions (256->256 @14, 64->256 @56; 320->1280 @7 and 96->576 @14 tie); elsewhere
    // the 4x128 table tile runs partly empty and int8 dot products win (32->16 3.5x, 96->24 1.7x,
    // 144->32 @28 1.4x, 32->192 @28 1.3x, 192->64 @14 1.2x, 576->160 @7 1.2x, 384->96 1.05x).
    CRUMB_ROW_K(AVX512, 2, CRUMB_ANY, 4, POINTWISE, 64, 0, DOT,
                "W2A4 1x1, K <= 64: int8 dot products 1.07-1.25x pair tables"),
    CRUMB_ROW_K(AVX512, 2, CRUMB_ANY, 4, POINTWISE, 0, 128, DOT,
                "W2A4 1x1, N not a multiple of 128: int8 dot products 1.05-3.5x pair tables"),
    // AVX-512, 1x1 W2A2 at MobileNetV2's and ResNet-18's shapes (crumb-bench --tune, 5 and 3
    // interleaved rounds, a204458): the same split as W2A4. Reductions up to 64: 16->96 @112
    // 1.26x, 24->144 @56 1.3-1.4x, 32->192 @28 1.04-1.07x, 64->384 @14 1.05-1.17x, ResNet's
    // 64->128 /2 1.19x; output channels off a 128 multiple (projections to 16-320 channels
    // 1.3-3.9x, 96->576 1.05-1.12x, 160->960 1.07-1.2x). ResNet's 128->256 and 256->512 /2
    // and 320->1280 @7 tie and stay on the rule.
    CRUMB_ROW_K(AVX512, 2, CRUMB_ANY, 2, POINTWISE, 64, 0, DOT,
                "W2A2 1x1, K <= 64: int8 dot products 1.04-1.4x pair tables"),
    CRUMB_ROW_K(AVX512, 2, CRUMB_ANY, 2, POINTWISE, 0, 128, DOT,
                "W2A2 1x1, N not a multiple of 128: int8 dot products 1.05-3.9x pair tables"),
    // AVX2 (also AVX-512 CPUs without the extensions above): vpshufb popcount is slower than
    // pair tables once activations have two planes.
    CRUMB_ROW(AVX2, 1, CRUMB_ANY, 2, SPATIAL, 0, LUT, "W1A2 3x3: pair tables 1.13-1.17x popcount"),
    CRUMB_ROW(AVX2, 1, CRUMB_ANY, 2, POINTWISE, 0, LUT,
              "W1A2 1x1: pair tables 1.19x dot, 1.2x popcount"),
    CRUMB_ROW(AVX2, 2, CRUMB_ANY, 1, POINTWISE, 0, LUT, "W2A1 1x1: pair tables 1.09x popcount"),
    CRUMB_ROW(AVX2, CRUMB_ANY, CRUMB_ANY, 1, GEMV, 0, BITSERIAL,
              "A1 at M=1: popcount 1.7-2.4x dot"),
    CRUMB_ROW(AVX2, CRUMB_ANY, CRUMB_ANY, 2, GEMV, 0, BITSERIAL,
              "A2 at M=1: popcount 1.0-1.9x dot, 1.3x pair tables"),
    CRUMB_ROW(AVX2, CRUMB_ANY, CRUMB_ANY, CRUMB_ANY, GEMV, 0, DOT,
              "A3-A8 at M=1: int8 dot products (1.4-1.6x pair tables at A3-A4)"),
};

static inline int crumb_family_row_fits(const crumb_family_row* r, const crumb_gemm_layer* l,
                                        unsigned isa, unsigned shape) {
  return r->isa == isa && (r->w_bits == CRUMB_ANY || r->w_bits == l->w_bits) &&
         (r->w_encoding == CRUMB_ANY || r->w_encoding == l->w_encoding) &&
         (r->a_bits == CRUMB_ANY || r->a_bits == l->a_bits) &&
         (r->shape == CRUMB_ANY || r->shape == shape) &&
         (r->min_n == 0 || l->n / l->groups >= r->min_n) &&
         (r->max_k == 0 || l->kc * l->ks <= r->max_k) &&
         (r->n_unaligned == 0 || (l->n / l->groups) % r->n_unaligned != 0);
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
    case CRUMB_FAMILY_DWCONV:
      return crumb_dwconv_layer_ok(l);
    case CRUMB_FAMILY_SPARSE:
      return crumb_sparse_layer_ok(l);
    default:
      return 0;
  }
}

// The family for the layer on `isa` (crumb_select_isa) at `shape` (crumb_shape_class); *why (may
// be NULL) gets the row's evidence, or NULL when the ISA-independent rule decided.
static inline int crumb_family_table_choose(const crumb_gemm_layer* l, unsigned isa, unsigned shape,
                                            const char** why) {
  if (why) *why = NULL;
  if (isa != CRUMB_SELECT_PORTABLE && !(l->groups > 1 && l->n / l->groups < 16) &&
      !crumb_dwconv_layer_ok(l) && !(crumb_sparse_pays(l) && crumb_sparse_layer_ok(l))) {
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
