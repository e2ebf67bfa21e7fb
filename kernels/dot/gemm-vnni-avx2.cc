// Dot-family GEMM / IGEMM on AVX2 + AVX-VNNI (VEX vpdpbusd on ymm, for CPUs that have it without
// AVX-512: Alder Lake and later; Zen 5): kernels/dot/gemm-avx2.h with CRUMB_DOT_VNNI = 1. Small
// row counts (and calls without scratch) run the AVX2 in-register tiles.
#define CRUMB_DOT_VNNI 1
#define CRUMB_DOT_AVX2_GEMM crumb_q8_qb_dotgemm_ukernel_6x16__avxvnni
#define CRUMB_DOT_AVX2_IGEMM crumb_q8_qb_dotigemm_ukernel_6x16__avxvnni
#include "kernels/dot/gemm-avx2.h"
