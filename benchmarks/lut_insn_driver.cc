// Calls one lut-family IGEMM kernel (kernels/lut/lut.inc) on a 3x3 convolution between two marker
// functions, for the qemu instruction counter (tools/qemu-insn-count), as
// benchmarks/kernel_insn_driver.cc does for the scalar and XNNPACK kernels: instructions per MAC
// is the Arm speed proxy while there is no Arm hardware.
//
// usage: lut_insn_driver KERNEL H W CIN COUT [REPS]
//        lut_insn_driver --list
// The convolution is 3x3, stride 1, padding 1, on an H x W image, weights signed 2-bit, packed
// activations of the kernel's width, outputs packed at that width. The kernel runs once before
// the region, then REPS times between crumb_insn_region_begin() and crumb_insn_region_end(). The
// last line printed is "kernel=... macs_per_call=...".
//
// Compare with XNNPACK's qs8 GEMM at the im2col shape of the same layer:
//   kernel_insn_driver xnnpack-qs8-gemm H*W COUT 9*CIN
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <random>
#include <string>
#include <vector>

#include "benchmarks/insn_driver.h"
#include "kernels/lut/lut.h"

namespace {

struct Kernel {
  const char* name;
  crumb_lutigemm_ukernel_fn* fn;
  unsigned a_bits;
};

const Kernel kKernels[] = {
#define CRUMB_LUT_UKERNEL_lutgemm(name, isa, abits)
#define CRUMB_LUT_UKERNEL_lutgemv(name, isa, abits)
#define CRUMB_LUT_UKERNEL_lutigemm(name, isa, abits) {#name, name, abits},
#define CRUMB_LUT_UKERNEL(kind, name, isa, abits) CRUMB_LUT_UKERNEL_##kind(name, isa, abits)
#include "kernels/lut/lut.inc"
};

int Fail(const std::string& message) { return crumb_insn::Fail("lut_insn_driver", message); }

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && strcmp(argv[1], "--list") == 0) {
    for (const Kernel& k : kKernels) printf("%s\n", k.name);
    return 0;
  }
  if (argc < 6) return Fail("usage: lut_insn_driver KERNEL H W CIN COUT [REPS] | --list");
  const Kernel* kernel = nullptr;
  for (const Kernel& k : kKernels) {
    if (strcmp(k.name, argv[1]) == 0) kernel = &k;
  }
  if (!kernel) return Fail(std::string("unknown kernel '") + argv[1] + "' (see --list).");
  const size_t h = strtoul(argv[2], nullptr, 10), w = strtoul(argv[3], nullptr, 10);
  const size_t cin = strtoul(argv[4], nullptr, 10), cout = strtoul(argv[5], nullptr, 10);
  const size_t reps = argc > 6 ? strtoul(argv[6], nullptr, 10) : 3;
  if (!h || !w || !cin || !cout || !reps || h > 4096 || w > 4096 || cin > 65536 || cout > 65536) {
    return Fail("H, W, CIN, COUT and REPS must be positive (and sane).");
  }
  const unsigned a_bits = kernel->a_bits;
  std::mt19937 rng(1);
  const size_t rb = crumb_lut_act_row_bytes(cin, a_bits), ks = 9;
  std::vector<uint8_t> codes(h * w * cin), x(h * w * rb), zc(cin, 0), zero(rb);
  for (auto& c : codes) c = (uint8_t)(rng() % (1u << a_bits));
  crumb_lut_pack_act(codes.data(), h * w, cin, cin, a_bits, x.data(), rb);
  crumb_lut_pack_act(zc.data(), 1, cin, cin, a_bits, zero.data(), rb);
  std::vector<int32_t> wv(cout * ks * cin);
  for (auto& v : wv) v = (int32_t)(rng() % 4) - 2;
  const int8_t vmap[4] = {0, 1, -2, -1};
  std::vector<uint8_t> packed(crumb_lut_packed_size(cout, ks, cin));
  crumb_lut_pack_values(wv.data(), vmap, cout, ks, cin, packed.data());
  std::vector<uint8_t> table_bytes(crumb_lut_table_size(a_bits) + 64);
  uint8_t* table = table_bytes.data() + (64 - (uintptr_t)table_bytes.data() % 64) % 64;
  crumb_lut_init_table(vmap, a_bits, table);
  std::vector<const void*> ind;
  for (size_t oy = 0; oy < h; oy++) {
    for (size_t ox = 0; ox < w; ox++) {
      for (int ky = -1; ky <= 1; ky++) {
        for (int kx = -1; kx <= 1; kx++) {
          const long iy = (long)oy + ky, ix = (long)ox + kx;
          ind.push_back(iy < 0 || ix < 0 || iy >= (long)h || ix >= (long)w
                            ? (const void*)zero.data()
                            : (const void*)(x.data() + ((size_t)iy * w + (size_t)ix) * rb));
        }
      }
    }
  }
  std::vector<float> mul(cout, 0.02f), add(cout, 0.5f);
  crumb_lut_params p{};
  p.table = table;
  p.out_bits = crumb_lut_storage_bits(a_bits);
  p.mul = mul.data();
  p.add = add.data();
  p.out.type = CRUMB_ELEM_U8;
  p.out.qmax = (1 << a_bits) - 1;
  const size_t out_row = (cout * p.out_bits + 7) / 8;
  std::vector<uint8_t> y(h * w * out_row);
  auto run = [&] {
    kernel->fn(h * w, cout, cin, ks, ind.data(), 0, zero.data(), packed.data(), y.data(), out_row,
               &p);
  };
  run();
  crumb_insn_region_begin();
  for (size_t r = 0; r < reps; r++) run();
  crumb_insn_region_end();
  unsigned sum = 0;
  for (uint8_t v : y) sum += v;
  printf("checksum=%u\n", sum);
  printf("kernel=%s m=%zu n=%zu k=%zu reps=%zu macs_per_call=%zu\n", kernel->name, h * w, cout,
         ks * cin, reps, h * w * cout * ks * cin);
  return 0;
}
