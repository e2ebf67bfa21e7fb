// Dot-family GEMM / IGEMM on AVX2 (vpmaddubsw): the implementation is kernels/dot/gemm-avx2.h.
#define CRUMB_DOT_VNNI 0
#define CRUMB_DOT_AVX2_GEMM crumb_q8_qb_dotgemm_ukernel_6x16__avx2
#define CRUMB_DOT_AVX2_IGEMM crumb_q8_qb_dotigemm_ukernel_6x16__avx2
#include "kernels/dot/gemm-avx2.h"
