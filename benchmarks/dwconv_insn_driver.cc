// Runs one depthwise convolution layer between two marker functions, so that an instruction
// counter (tools/qemu-insn-count, as benchmarks/arm-insn-per-mac.sh drives it for GEMMs) counts
// what the kernel alone executes: instructions per multiply-accumulate, the Arm speed proxy while
// there is no Arm hardware.
//
// usage: dwconv_insn_driver KERNEL H W C K STRIDE CONFIG [REPS]
//        dwconv_insn_driver --list
// KERNEL: a kernel of kernels/dwconv/dwconv.inc by its name's suffix after "dwconv_ukernel_"
// (c64__scalar, c16__neon, ...), or with XNNPACK xnnpack-qs8-dw (XNNPACK's qs8 depthwise
// convolution operator, int8 weights and activations whatever CONFIG says). The layer: an H x W
// image of C channels, a K x K depthwise kernel, padding K / 2, STRIDE 1 or 2. CONFIG: wXaY,
// weights of X bits (signed, symmetric) and u8 activations of Y bits with za = 2^(Y-1) (the
// bounds the kernel chooses its accumulation by). The layer runs once before the region, then
// REPS times (default 3) between crumb_insn_region_begin() and crumb_insn_region_end(); the
// last line printed ends in "macs_per_call=OH*OW*C*K*K".
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <random>
#include <string>
#include <vector>

#include "benchmarks/insn_driver.h"
#include "kernels/common/pack.h"
#include "kernels/dwconv/dwconv.h"

#ifdef CRUMB_HAVE_XNNPACK
#include <xnnpack.h>
#endif

namespace {

struct Kernel {
  const char* name;
  crumb_dwconv_ukernel_fn* fn;
};

const Kernel kKernels[] = {
#define CRUMB_DWCONV_UKERNEL(name, isa) {#name, name},
#include "kernels/dwconv/dwconv.inc"
};

const char* Suffix(const char* name) {
  const char* p = strstr(name, "dwconv_ukernel_");
  return p ? p + strlen("dwconv_ukernel_") : name;
}

int Fail(const std::string& message) { return crumb_insn::Fail("dwconv_insn_driver", message); }

using crumb_insn::ParseSize;

struct Layer {
  size_t h, w, c, k, stride, pad, oh, ow;
  size_t Macs() const { return oh * ow * c * k * k; }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && strcmp(argv[1], "--list") == 0) {
    for (const Kernel& k : kKernels) printf("%s\n", Suffix(k.name));
#ifdef CRUMB_HAVE_XNNPACK
    printf("xnnpack-qs8-dw\n");
#endif
    return 0;
  }
  if (argc < 8 || argc > 9) {
    return Fail("usage: dwconv_insn_driver KERNEL H W C K STRIDE CONFIG [REPS], or --list.");
  }
  const std::string kernel = argv[1];
  Layer L{};
  size_t reps = 3;
  if (!ParseSize(argv[2], 4096, &L.h) || !ParseSize(argv[3], 4096, &L.w) ||
      !ParseSize(argv[4], 1 << 16, &L.c) || !ParseSize(argv[5], 15, &L.k) ||
      !ParseSize(argv[6], 2, &L.stride) || (argc > 8 && !ParseSize(argv[8], 1000, &reps))) {
    return Fail("H, W, C, K, STRIDE (1..2) and REPS must be positive whole numbers.");
  }
  unsigned wb = 0, ab = 0;
  if (sscanf(argv[7], "w%ua%u", &wb, &ab) != 2 || wb < 1 || wb > 8 || ab < 1 || ab > 8) {
    return Fail("CONFIG is wXaY with X, Y in 1..8, e.g. w2a4.");
  }
  L.pad = L.k / 2;
  L.oh = (L.h + 2 * L.pad - L.k) / L.stride + 1;
  L.ow = (L.w + 2 * L.pad - L.k) / L.stride + 1;
  const size_t C = L.c, ks = L.k * L.k;
  std::mt19937 rng(1);

  if (kernel == "xnnpack-qs8-dw") {
#ifdef CRUMB_HAVE_XNNPACK
    if (xnn_initialize(nullptr) != xnn_status_success) return Fail("xnn_initialize failed.");
    std::vector<int8_t> x(L.h * L.w * C + 64), w(C * ks), y(L.oh * L.ow * C);
    for (auto& v : x) v = (int8_t)(rng() % 256 - 128);
    for (auto& v : w) v = (int8_t)(rng() % 256 - 128);
    std::vector<int32_t> bias(C, 0);
    const float out_scale = 0.5f * 0.01f * 64.0f * 9.0f / 4.0f;
    const uint32_t p = (uint32_t)L.pad, k = (uint32_t)L.k, s = (uint32_t)L.stride;
    xnn_operator_t op = nullptr;
    if (xnn_create_convolution2d_nhwc_qs8(p, p, p, p, k, k, s, s, 1, 1, (uint32_t)C, 1, 1, C, C, 0,
                                          0.5f, 0.01f, w.data(), bias.data(), 0, out_scale, -128,
                                          127, 0, &op) != xnn_status_success ||
        xnn_setup_convolution2d_nhwc_qs8(op, 1, L.h, L.w, x.data(), y.data(), nullptr) !=
            xnn_status_success) {
      return Fail("XNNPACK could not create the qs8 depthwise convolution for this layer.");
    }
    xnn_run_operator(op, nullptr);
    crumb_insn_region_begin();
    for (size_t r = 0; r < reps; r++) xnn_run_operator(op, nullptr);
    crumb_insn_region_end();
    int sum = 0;
    for (int8_t v : y) sum += v;
    printf("checksum=%d\n", sum);
    xnn_delete_operator(op);
#else
    return Fail("this build has no XNNPACK.");
#endif
  } else {
    crumb_dwconv_ukernel_fn* fn = nullptr;
    for (const Kernel& k : kKernels) {
      if (kernel == Suffix(k.name)) fn = k.fn;
    }
    if (!fn) {
      std::string list;
      for (const Kernel& k : kKernels) list += std::string(" ") + Suffix(k.name);
      return Fail("unknown kernel '" + kernel + "'; this build has:" + list + ".");
    }
    const int32_t amax = (1 << ab) - 1, za = (amax + 1) / 2;
    std::vector<uint8_t> input(L.h * L.w * C), zero(C, (uint8_t)za), out(L.oh * L.ow * C);
    for (auto& v : input) v = (uint8_t)(rng() % (uint32_t)(amax + 1));
    std::vector<int32_t> codes(C * ks), zw(C, 0);
    const int32_t lo = -(1 << (wb - 1));
    for (auto& v : codes) v = lo + (int32_t)(rng() % (1u << wb));
    std::vector<uint8_t> rows(crumb_rows_lsb_size(C, ks, wb));
    crumb_pack_rows_lsb(codes.data(), C, ks, wb, rows.data());
    std::vector<uint8_t> packed(crumb_dwconv_packed_size(C, ks));
    uint32_t max_abs_v = 0;
    if (!crumb_dwconv_pack(rows.data(), wb, CRUMB_ENC_SIGNED, zw.data(), C, ks, packed.data(),
                           &max_abs_v)) {
      return Fail("the weights could not be packed.");
    }
    // Indirection: output pixel (oy, ox), tap (ky, kx) -> its input pixel or the zero row.
    std::vector<const void*> ind(L.oh * L.ow * ks);
    for (size_t oy = 0; oy < L.oh; oy++) {
      for (size_t ox = 0; ox < L.ow; ox++) {
        for (size_t ky = 0; ky < L.k; ky++) {
          for (size_t kx = 0; kx < L.k; kx++) {
            const long iy = (long)(oy * L.stride + ky) - (long)L.pad;
            const long ix = (long)(ox * L.stride + kx) - (long)L.pad;
            const bool in = iy >= 0 && iy < (long)L.h && ix >= 0 && ix < (long)L.w;
            ind[((oy * L.ow + ox) * L.k + ky) * L.k + kx] =
                in ? (const void*)(input.data() + ((size_t)iy * L.w + (size_t)ix) * C)
                   : (const void*)zero.data();
          }
        }
      }
    }
    std::vector<float> mul(C, 4.0f / ((float)amax * (float)max_abs_v * (float)ks)), add(C, 128.0f);
    crumb_dwconv_params params{};
    params.a_type = CRUMB_ELEM_U8;
    params.a_zero_point = za;
    params.a_bits = ab;
    params.max_abs_v = max_abs_v;
    params.mul = mul.data();
    params.add = add.data();
    params.out.type = CRUMB_ELEM_U8;
    params.out.qmax = 255;
    // One call per output row, as the runtime makes them.
    auto layer = [&]() {
      for (size_t oy = 0; oy < L.oh; oy++) {
        fn(C, L.ow, ks, ind.data() + oy * L.ow * ks, 0, zero.data(), packed.data(),
           out.data() + oy * L.ow * C, C, &params);
      }
    };
    layer();
    crumb_insn_region_begin();
    for (size_t r = 0; r < reps; r++) layer();
    crumb_insn_region_end();
    unsigned sum = 0;
    for (uint8_t v : out) sum += v;
    printf("checksum=%u\n", sum);
  }
  printf("kernel=%s h=%zu w=%zu c=%zu k=%zu stride=%zu config=w%ua%u reps=%zu macs_per_call=%zu\n",
         kernel.c_str(), L.h, L.w, L.c, L.k, L.stride, wb, ab, reps, L.Macs());
  return 0;
}
