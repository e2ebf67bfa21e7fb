// Calls one GEMM kernel at a given shape between two marker functions, so that an instruction
// counter (tools/qemu-insn-count, driven by benchmarks/arm-insn-per-mac.sh) can count what the
// kernel alone executes: instructions per multiply-accumulate is the Arm speed proxy while there
// is no Arm hardware.
//
// usage: kernel_insn_driver KERNEL M N K [BITS] [REPS]
//        kernel_insn_driver --list
// KERNEL: scalar-gemm, scalar-igemm (crumb's scalar kernels, weights of BITS bits), and with
// XNNPACK xnnpack-qs8-gemm (XNNPACK's int8 fully-connected operator: its qs8 GEMM microkernel
// for this CPU, BITS ignored). Each kernel computes C[M][N] = A[M][K] x W[N][K]; it is called
// once before the region (first-call costs: lazy binding, packing caches), then REPS times
// between crumb_insn_region_begin() and crumb_insn_region_end(). The last line printed is
// "kernel=... m=M n=N k=K bits=B reps=R macs_per_call=M*N*K".
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <random>
#include <string>
#include <vector>

#include "benchmarks/insn_driver.h"
#include "kernels/common/pack.h"
#include "kernels/scalar/scalar.h"

#ifdef CRUMB_HAVE_XNNPACK
#include <xnnpack.h>
#endif

namespace {

int Fail(const std::string& message) { return crumb_insn::Fail("kernel_insn_driver", message); }

using crumb_insn::ParseSize;

// crumb's scalar GEMM / IGEMM over ROWS_LSB weights of `bits` bits, uint8 activations.
struct ScalarProblem {
  size_t m, n, k;
  std::vector<uint8_t> a, zero, packed, c;
  std::vector<const void*> rows;
  std::vector<int32_t> zw, scratch;
  std::vector<float> mul, add;
  crumb_gemm_params params{};

  ScalarProblem(size_t m_, size_t n_, size_t k_, unsigned bits) : m(m_), n(n_), k(k_) {
    std::mt19937 rng(1);
    a.resize(m * k);
    for (auto& x : a) x = (uint8_t)(rng() % 16);
    zero.assign(k, 0);
    std::vector<int32_t> codes(n * k);
    const int32_t lo = -(1 << (bits - 1)), span = 1 << bits;
    for (auto& w : codes) w = lo + (int32_t)(rng() % (uint32_t)span);
    packed.resize(crumb_rows_lsb_size(n, k, bits));
    crumb_pack_rows_lsb(codes.data(), n, k, bits, packed.data());
    for (size_t i = 0; i < m; i++) rows.push_back(a.data() + i * k);
    zw.assign(n, 0);
    mul.assign(n, 0.01f);
    add.assign(n, 0.5f);
    scratch.resize(k);
    c.resize(m * n);
    params.a_type = CRUMB_ELEM_U8;
    params.w_bits = bits;
    params.w_encoding = CRUMB_ENC_SIGNED;
    params.w_row_bytes = crumb_rows_lsb_row_bytes(k, bits);
    params.w_zero_point = zw.data();
    params.mul = mul.data();
    params.add = add.data();
    params.out.type = CRUMB_ELEM_U8;
    params.out.qmax = 255;
  }
  void Gemm() {
    crumb_q8_qb_gemm_ukernel_1x1__scalar(m, n, k, a.data(), k, packed.data(), c.data(), n, &params,
                                         scratch.data());
  }
  // One tap per output pixel: the indirection path of a 1x1 convolution.
  void IGemm() {
    crumb_q8_qb_igemm_ukernel_1x1__scalar(m, n, k, 1, rows.data(), 0, zero.data(), packed.data(),
                                          c.data(), n, &params, scratch.data());
  }
};

}  // namespace

int main(int argc, char** argv) {
  static const char* const kKernels[] = {"scalar-gemm", "scalar-igemm",
#ifdef CRUMB_HAVE_XNNPACK
                                         "xnnpack-qs8-gemm"
#endif
  };
  if (argc == 2 && strcmp(argv[1], "--list") == 0) {
    for (const char* k : kKernels) printf("%s\n", k);
    return 0;
  }
  if (argc < 5 || argc > 7) {
    return Fail("usage: kernel_insn_driver KERNEL M N K [BITS] [REPS], or --list for the kernels.");
  }
  const std::string kernel = argv[1];
  size_t m, n, k, bits = 8, reps = 10;
  if (!ParseSize(argv[2], 1 << 20, &m) || !ParseSize(argv[3], 1 << 20, &n) ||
      !ParseSize(argv[4], 1 << 20, &k) || (argc > 5 && !ParseSize(argv[5], 8, &bits)) ||
      (argc > 6 && !ParseSize(argv[6], 1 << 20, &reps))) {
    return Fail("M, N, K and REPS must be positive whole numbers and BITS 1..8.");
  }

  if (kernel == "scalar-gemm" || kernel == "scalar-igemm") {
    ScalarProblem p(m, n, k, (unsigned)bits);
    const bool ind = kernel == "scalar-igemm";
    ind ? p.IGemm() : p.Gemm();
    crumb_insn_region_begin();
    for (size_t r = 0; r < reps; r++) ind ? p.IGemm() : p.Gemm();
    crumb_insn_region_end();
    unsigned sum = 0;
    for (uint8_t x : p.c) sum += x;
    printf("checksum=%u\n", sum);
#ifdef CRUMB_HAVE_XNNPACK
  } else if (kernel == "xnnpack-qs8-gemm") {
    bits = 8;
    if (xnn_initialize(nullptr) != xnn_status_success) return Fail("xnn_initialize failed.");
    std::mt19937 rng(1);
    std::vector<int8_t> a(m * k + 16), w(n * k), c(m * n);  // XNNPACK may read 16 bytes past A
    std::vector<int32_t> bias(n);
    for (auto& x : a) x = (int8_t)(rng() % 256);
    for (auto& x : w) x = (int8_t)(rng() % 256);
    for (auto& x : bias) x = (int32_t)(rng() % 1024) - 512;
    xnn_operator_t op = nullptr;
    if (xnn_create_fully_connected_nc_qs8(k, n, k, n, /*input_zero_point=*/1, 0.5f,
                                          /*kernel_scale=*/0.01f, w.data(), bias.data(),
                                          /*output_zero_point=*/-3, 2.0f, -128, 127, 0,
                                          &op) != xnn_status_success ||
        xnn_setup_fully_connected_nc_qs8(op, m, a.data(), c.data(), nullptr) !=
            xnn_status_success) {
      return Fail("XNNPACK could not create the qs8 fully-connected operator for this shape.");
    }
    xnn_run_operator(op, nullptr);
    crumb_insn_region_begin();
    for (size_t r = 0; r < reps; r++) xnn_run_operator(op, nullptr);
    crumb_insn_region_end();
    int sum = 0;
    for (int8_t x : c) sum += x;
    printf("checksum=%d\n", sum);
    xnn_delete_operator(op);
#endif
  } else {
    std::string list;
    for (const char* name : kKernels) list += std::string(" ") + name;
    return Fail("unknown kernel '" + kernel + "'; this build has:" + list + ".");
  }
  printf("kernel=%s m=%zu n=%zu k=%zu bits=%zu reps=%zu macs_per_call=%zu\n", kernel.c_str(), m, n,
         k, bits, reps, m * n * k);
  return 0;
}
