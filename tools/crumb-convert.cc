// crumb-convert IN.onnx -o OUT.crumb: fake-quantized ONNX -> .crumb (see converter/converter.h).
#include <cstdio>
#include <cstring>
#include <string>

#include "converter/converter.h"

namespace {

void Usage(FILE* f) {
  std::fprintf(
      f,
      "usage: crumb-convert IN.onnx -o OUT.crumb [--kernel-family auto|scalar|dot|lut|bitserial]\n"
      "                     [--target portable|x86-avx2|x86-avx512|arm64|arm64-dotprod|armv7]\n"
      "                     [--sparse auto|on|off] [--strict]\n"
      "                     [--quiet]\n"
      "\n"
      "Converts a fake-quantized ONNX model (QuantizeLinear->Clip->DequantizeLinear,\n"
      "folded integer weights, or native INT4/INT2 tensors) into a .crumb model with\n"
      "weights packed at their bit width, in the layout of the kernel family chosen per\n"
      "Conv / FC layer (auto: lut for <=2-bit weights x unsigned <=4-bit activations,\n"
      "dot for other quantized layers, scalar for grouped convs with <16 channels per\n"
      "group). dot / lut are preferences, used where the layer can run on them;\n"
      "scalar forces the portable kernels. With --target portable (the default) the\n"
      "choice does not depend on the CPU; a named target picks each layer's family\n"
      "from that CPU class's measured table (kernels/common/family_table.h), so the\n"
      "runtime there uses the weights in place. A runtime on another CPU class re-\n"
      "chooses from its own table row and repacks at load; a forced family is kept.\n"
      "1x1 convolutions and fully-connected layers whose weights are mostly zero 1x4\n"
      "blocks (>= 2/3; >= 0.85 under 196 output rows) are stored sparse (SPARSE_B4);\n"
      "--sparse on stores every such layer sparse, --sparse off none.\n"
      "It prints a table of the Conv / FC layers it wrote (bit widths of weights,\n"
      "activations and output, kernel family, packed weight bytes) and warns about\n"
      "layers that would run on portable scalar kernels on the target (grouped convs\n"
      "with few channels per group, a forced scalar family, every GEMM on armv7);\n"
      "--strict makes those problems instead (no output).\n"
      "The output is written atomically; on any problem nothing is written and every\n"
      "problem is listed.\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::string in, out;
  bool quiet = false;
  crumb::cv::ConvertOptions options;
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      Usage(stdout);
      return 0;
    } else if (a == "--version") {
      std::printf("crumb-convert %s\n", crumb::cv::kConverterVersion);
      return 0;
    } else if ((a == "-o" || a == "--output") && i + 1 < argc) {
      out = argv[++i];
    } else if (a.rfind("--output=", 0) == 0) {
      out = a.substr(9);
    } else if (a == "--quiet" || a == "-q") {
      quiet = true;
    } else if (a == "--strict") {
      options.strict = true;
    } else if (a == "--kernel-family" && i + 1 < argc) {
      const std::string f = argv[++i];
      if (f == "auto") {
        options.family = crumb::cv::KernelFamily::kAuto;
      } else if (f == "scalar") {
        options.family = crumb::cv::KernelFamily::kScalar;
      } else if (f == "dot") {
        options.family = crumb::cv::KernelFamily::kDot;
      } else if (f == "lut") {
        options.family = crumb::cv::KernelFamily::kLut;
      } else if (f == "bitserial") {
        options.family = crumb::cv::KernelFamily::kBitserial;
      } else {
        std::fprintf(stderr,
                     "crumb-convert: unknown kernel family '%s' (auto, scalar, dot, lut or "
                     "bitserial)\n",
                     f.c_str());
        return 2;
      }
    } else if ((a == "--sparse" && i + 1 < argc) || a.rfind("--sparse=", 0) == 0) {
      const std::string v = a == "--sparse" ? argv[++i] : a.substr(9);
      if (v == "auto") {
        options.sparse = crumb::cv::SparseMode::kAuto;
      } else if (v == "on") {
        options.sparse = crumb::cv::SparseMode::kOn;
      } else if (v == "off") {
        options.sparse = crumb::cv::SparseMode::kOff;
      } else {
        std::fprintf(stderr, "crumb-convert: --sparse takes auto, on or off, not '%s'\n",
                     v.c_str());
        return 2;
      }
    } else if ((a == "--target" && i + 1 < argc) || a.rfind("--target=", 0) == 0) {
      const std::string t = a == "--target" ? argv[++i] : a.substr(9);
      if (!crumb::cv::ParseTarget(t, &options.target)) {
        std::fprintf(stderr,
                     "crumb-convert: unknown target '%s' (portable, x86-avx2, x86-avx512, arm64, "
                     "arm64-dotprod or armv7)\n",
                     t.c_str());
        return 2;
      }
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "crumb-convert: unknown option '%s'\n", a.c_str());
      Usage(stderr);
      return 2;
    } else if (in.empty()) {
      in = a;
    } else {
      std::fprintf(stderr, "crumb-convert: more than one input model ('%s', '%s')\n", in.c_str(),
                   a.c_str());
      return 2;
    }
  }
  if (in.empty() || out.empty()) {
    Usage(stderr);
    return 2;
  }
  std::string message, summary;
  if (!crumb::cv::ConvertFile(in, out, options, &message, &summary)) {
    std::fprintf(stderr, "crumb-convert: %s\n", message.c_str());
    return 1;
  }
  if (!quiet) std::printf("%s\n", summary.c_str());
  return 0;
}
