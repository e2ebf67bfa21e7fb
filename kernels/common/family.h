// Which kernel family runs a Conv / FullyConnected layer. The converter records the choice and
// packs the weights for it offline; the runtime makes the same choice for models whose weights
// are still ROWS_LSB (older files, family AUTO) and packs them at prepare. One rule, here, so the
// two never disagree. The choice depends only on the layer (bits, encodings, zero points, groups),
// never on the ISA: a converted model runs in place on every CPU, and every ISA has a kernel of
// every family (scalar included).
//
// Measured basis (benchmarks/README.md, lut_results.md, bitserial_results.md): 1-bit weights or
// 1-bit activations (at most two bit-plane pairs) run fastest on popcount (`bitserial`); 2-bit
// weights times 2-bit activations run 3.5-4.4x XNNPACK qs8 on pair tables (`lut`) and about 2x
// faster than `dot`; at 3-4-bit activations pair tables and `dot` tie on AVX-512 and pair tables
// win on AVX2 and NEON. Everything else with quantized weights and activations of up to 8 bits
// runs on `dot`. Depthwise convolutions (one input and one output channel per group) run on
// `dwconv` (weights widened to int8 at pack time); other grouped convolutions with fewer than 16
// output channels per group would waste most of a GEMM block and stay on the scalar kernels.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kernels/bitserial/bitserial.h"
#include "kernels/common/params.h"
#include "kernels/lut/lut.h"

#ifdef __cplusplus
extern "C" {
#endif

// Values of schema/crumb.fbs KernelFamily.
enum crumb_kernel_family {
  CRUMB_FAMILY_AUTO = 0,
  CRUMB_FAMILY_SCALAR = 1,
  CRUMB_FAMILY_LUT = 2,
  CRUMB_FAMILY_BITSERIAL = 3,
  CRUMB_FAMILY_DOT = 4,
  CRUMB_FAMILY_DWCONV = 5,
  CRUMB_FAMILY_SPARSE = 6,
  CRUMB_FAMILY_XNNPACK = 7,
};

// Lower-case name of a family, as tools and the C API print it ("" for AUTO and unknown values).
static inline const char* crumb_kernel_family_name(int family) {
  switch (family) {
    case CRUMB_FAMILY_SCALAR:
      return "scalar";
    case CRUMB_FAMILY_LUT:
      return "lut";
    case CRUMB_FAMILY_BITSERIAL:
      return "bitserial";
    case CRUMB_FAMILY_DOT:
      return "dot";
    case CRUMB_FAMILY_DWCONV:
      return "dwconv";
    case CRUMB_FAMILY_SPARSE:
      return "sparse";
    case CRUMB_FAMILY_XNNPACK:
      return "xnnpack";
    default:
      return "";
  }
}

// What the choice looks at. Activations are the layer's input codes.
typedef struct crumb_gemm_layer {
  unsigned w_bits;               // 1..8
  unsigned w_encoding;           // crumb_weight_encoding
  const int32_t* w_zero_points;  // [n]
  size_t n;                      // output channels (all groups)
  size_t groups;                 // 1 for FullyConnected
  unsigned a_bits;               // 1..8
  unsigned a_encoding;           // crumb_weight_encoding values: UNSIGNED or SIGNED
  size_t kc;                     // input channels per group (0: unknown, not depthwise)
  size_t ks;                     // taps (kh * kw; 0: unknown)
  int direct;                    // 1x1, stride 1, no padding (or FullyConnected): rows read as-is
  float block_sparsity;          // fraction of all-zero 1x4 weight blocks (0: dense or unknown)
  size_t rows;                   // output rows (pixels x batch) at prepare; 0: unknown
} crumb_gemm_layer;

// The block sparsity from which a layer runs on `sparse` (kernels/sparse/sparse.h): Fast Sparse
// ConvNets' 2/3 where the layer has enough rows to fill the kernels' 16-32-pixel tiles (at 70 %
// the 56x56 MobileNetV2 1x1 layers run 1.9-2.8x dense), 0.85 below 196 rows (at 70 % the 7x7
// ones lose, 0.63-0.87x; at 90 % they gain 1.9-2.4x): benchmarks/sparse_results.md.
#define CRUMB_SPARSE_MIN_SPARSITY (2.0f / 3.0f)
#define CRUMB_SPARSE_MIN_SPARSITY_FEW_ROWS 0.85f
#define CRUMB_SPARSE_FEW_ROWS 196

static inline int crumb_sparse_pays(const crumb_gemm_layer* l) {
  const float min = l->rows != 0 && l->rows < CRUMB_SPARSE_FEW_ROWS
                        ? CRUMB_SPARSE_MIN_SPARSITY_FEW_ROWS
                        : CRUMB_SPARSE_MIN_SPARSITY;
  return l->block_sparsity >= min;
}

// Bits the lut kernels' activations are stored with (2, 3 or 4), or 0 when the layer cannot run
// on pair tables.
static inline unsigned crumb_lut_layer_a_bits(const crumb_gemm_layer* l) {
  int8_t vmap[4];
  if (l->w_bits > 2 || l->a_encoding != CRUMB_ENC_UNSIGNED || l->a_bits > 4) return 0;
  if (!crumb_lut_value_map(l->w_bits, l->w_encoding, l->w_zero_points, l->n, vmap)) return 0;
  return l->a_bits < 2 ? 2u : l->a_bits;
}

// Popcount over bit planes: 1-2-bit weights of an encoding with a plane form times unsigned 1-2-bit
// activations. The packer folds a zero point into the per-channel offset for UNSIGNED weights
// only; other encodings must have zero points 0 (symmetric, as trainers export them).
static inline int crumb_bitserial_layer_ok(const crumb_gemm_layer* l) {
  if (l->w_bits > 2 || l->a_bits > 2 || l->a_encoding != CRUMB_ENC_UNSIGNED ||
      !crumb_bitserial_supports(l->w_bits, l->w_encoding)) {
    return 0;
  }
  if (l->w_encoding != CRUMB_ENC_UNSIGNED) {
    for (size_t i = 0; i < l->n; i++) {
      if (l->w_zero_points[i] != 0) return 0;
    }
  }
  return 1;
}

// Depthwise (one input and one output channel per group) with values v = qw - zw (bipolar:
// 2 qw - 1 - zw) that fit the int8 the dwconv packer stores (kernels/dwconv/dwconv.h).
// Values v = qw - zw that fit int8 (every encoding up to 7 bits; 8-bit ones with zero points near
// the codes' centre): what the dwconv and sparse packers store.
static inline int crumb_values_fit_int8(const crumb_gemm_layer* l) {
  int32_t lo, hi;
  switch (l->w_encoding) {
    case CRUMB_ENC_UNSIGNED:
      lo = 0, hi = (1 << l->w_bits) - 1;
      break;
    case CRUMB_ENC_BIPOLAR:
      lo = -1, hi = 1;
      break;
    default:
      lo = -(1 << (l->w_bits - 1)), hi = (1 << (l->w_bits - 1)) - 1;
  }
  for (size_t i = 0; i < l->n; i++) {
    if (lo - l->w_zero_points[i] < -128 || hi - l->w_zero_points[i] > 127) return 0;
  }
  return 1;
}

// Sparse weights x dense activations: a direct 1x1 convolution or a FullyConnected, one group,
// activations of up to 8 bits, values within int8.
static inline int crumb_sparse_layer_ok(const crumb_gemm_layer* l) {
  return l->groups == 1 && l->ks == 1 && l->direct && l->w_bits <= 8 && l->a_bits <= 8 &&
         crumb_values_fit_int8(l);
}

// Depthwise (one input and one output channel per group) with values that fit the int8 the dwconv
// packer stores (kernels/dwconv/dwconv.h).
static inline int crumb_dwconv_layer_ok(const crumb_gemm_layer* l) {
  return l->groups >= 2 && l->n == l->groups && l->kc == 1 && l->w_bits <= 8 && l->a_bits <= 8 &&
         crumb_values_fit_int8(l);
}

static inline int crumb_dot_layer_ok(const crumb_gemm_layer* l) {
  return l->w_bits >= 1 && l->w_bits <= 8 && l->a_bits <= 8;
}

// The family for the layer: LUT, DOT or SCALAR. `prefer` (a forced family: SCALAR, LUT or DOT;
// AUTO for the measured rule) is honoured where the layer can run on it, else the rule applies.
static inline int crumb_choose_gemm_family(const crumb_gemm_layer* l, int prefer) {
  if (prefer == CRUMB_FAMILY_SCALAR) return CRUMB_FAMILY_SCALAR;
  if (crumb_dwconv_layer_ok(l)) return CRUMB_FAMILY_DWCONV;
  if (prefer == CRUMB_FAMILY_SPARSE && crumb_sparse_layer_ok(l)) return CRUMB_FAMILY_SPARSE;
  if (crumb_sparse_pays(l) && crumb_sparse_layer_ok(l)) return CRUMB_FAMILY_SPARSE;
  if (l->groups > 1 && l->n / l->groups < 16) return CRUMB_FAMILY_SCALAR;
  const int lut = crumb_lut_layer_a_bits(l) != 0;
  const int dot = crumb_dot_layer_ok(l);
  const int bs = crumb_bitserial_layer_ok(l);
  if (prefer == CRUMB_FAMILY_DOT && dot) return CRUMB_FAMILY_DOT;
  if (prefer == CRUMB_FAMILY_BITSERIAL && bs) return CRUMB_FAMILY_BITSERIAL;
  if (prefer == CRUMB_FAMILY_LUT && lut) return CRUMB_FAMILY_LUT;
  // At most two plane pairs (W1A1, W1A2, W2A1) popcount wins: ~170-340 binary MACs per cycle
  // against the pair tables' 2 MACs per lookup lane; at W2A2 (four pairs) the tables win.
  if (bs && l->w_bits * l->a_bits <= 2) return CRUMB_FAMILY_BITSERIAL;
  if (lut) return CRUMB_FAMILY_LUT;
  if (bs) return CRUMB_FAMILY_BITSERIAL;
  if (dot) return CRUMB_FAMILY_DOT;
  return CRUMB_FAMILY_SCALAR;
}

// Why crumb_choose_gemm_family(l, AUTO) returned `family`, in a few words for profiles.
static inline const char* crumb_gemm_family_rule_reason(const crumb_gemm_layer* l, int family) {
  switch (family) {
    case CRUMB_FAMILY_BITSERIAL:
      return crumb_lut_layer_a_bits(l) ? "at most two bit-plane pairs: popcount"
                                       : "1-2-bit weights x 1-2-bit activations: popcount";
    case CRUMB_FAMILY_LUT:
      return "1-2-bit weights x unsigned activations of up to 4 bits: pair tables";
    case CRUMB_FAMILY_DOT:
      return "quantized weights and activations of up to 8 bits: int8 dot products";
    case CRUMB_FAMILY_DWCONV:
      return "depthwise: one filter per channel, weights widened to int8 at pack time";
    case CRUMB_FAMILY_SPARSE:
      return "most 1x4 weight blocks are zero (>= 2/3; >= 0.85 under 196 rows): sparse x dense";
    default:
      return l->groups > 1 && l->n / l->groups < 16
                 ? "fewer than 16 output channels per group and not depthwise (or 8-bit "
                   "values beyond int8): no SIMD family"
                 : "no SIMD family runs these bit widths and encodings";
  }
}

#ifdef __cplusplus
}
#endif
