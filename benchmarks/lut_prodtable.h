// The DeepGEMM-style product-table reference kernel of benchmarks/lut_prodtable-avx512.cc.
#pragma once

#include <stddef.h>
#include <stdint.h>

// W2A2 IGEMM, one product per lookup: a[m * ks + t] points at kc activation codes (one per byte,
// 0..3); w holds, per block of 64 output channels, [ks * kc][64] weight codes (one byte each, lane
// l = channel crumb_lut_lane_channel(l)); c receives mr x nc raw int32 sums.
void crumb_bench_prodtable_igemm_4x64__avx512bw(size_t mr, size_t nc, size_t kc, size_t ks,
                                               const uint8_t** a, const uint8_t* w, int32_t* c);
