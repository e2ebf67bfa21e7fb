// Whole-network XNNPACK peer for benchmarks/models/run.sh: builds a network from the layer list
// benchmarks/models/prepare.py writes from an fp32 ONNX model (NET_fp32.desc + NET_fp32.weights)
// as XNNPACK operators (Debian's libxnnpack-dev, 2022 operator API) and times whole inferences.
//
//   bench_xnnpack_model --desc NET_fp32.desc --weights NET_fp32.weights --mode f32|qs8
//                       [--threads 1] [--runs 30] [--warmup 5] [--input x.bin] [--output y.bin]
// (--yield-workers: XNN_FLAG_YIELD_WORKERS on every operator, the pool's worker sleeps between
// operators instead of spin-waiting; --input: float32 NCHW, default a fixed random normal input; --output: the float32 output of the
// last timed run, for checking against ONNX Runtime.)
//
// f32: xnn_create_convolution2d_nhwc_f32 (ReLU / ReLU6 as the output clamp), add_nd_f32,
//      max_pooling2d_nhwc_f32, global_average_pooling_nwc_f32, fully_connected_nc_f32.
// qs8: convert_nc_f32_qs8 of the input, convolution2d_nhwc_qc8 (per-channel weight scales,
//      symmetric, from the fp32 weights), add_nd_qs8, max_pooling2d_nhwc_s8,
//      global_average_pooling_nwc_qs8, fully_connected_nc_qs8 (per-tensor weight scale: this API
//      has no per-channel FC), convert_nc_qs8_f32 of the output. Activation scales come from one
//      f32 run of the same network on the same input (max |x| per tensor; tensors >= 0 use
//      zero point -128 and the full 256 levels).
// Timing: every operator is set up once; one inference = xnn_run_operator of each in order, with
// a pthreadpool of --threads (none for 1). Prints run count, median / mean / min in ms and a
// checksum of the output.
#include <pthreadpool.h>
#include <xnnpack.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

uint32_t g_flags = 0;  // XNN_FLAG_YIELD_WORKERS with --yield-workers

[[noreturn]] void Die(const std::string& m) {
  fprintf(stderr, "bench_xnnpack_model: %s\n", m.c_str());
  exit(1);
}

void Check(xnn_status st, const char* what) {
  if (st != xnn_status_success) Die(std::string(what) + " failed (xnn_status " + std::to_string((int)st) + ")");
}

struct Op {
  std::string kind;
  int out = 0, in = 0, in2 = 0;
  size_t H = 0, W = 0, C = 0, OH = 0, OW = 0, O = 0;
  uint32_t kh = 0, kw = 0, sh = 0, sw = 0, pt = 0, pl = 0, pb = 0, pr = 0, groups = 1;
  float lo = -INFINITY, hi = INFINITY;
  size_t woff = 0, boff = 0;
};

struct Net {
  int tensors = 0, input = -1, output = -1;
  size_t inH = 0, inW = 0, inC = 0;
  std::vector<Op> ops;
  std::vector<float> weights;
};

float Clamp(float v) { return std::fabs(v) > 1e38f ? (v < 0 ? -INFINITY : INFINITY) : v; }

Net Load(const std::string& desc, const std::string& wpath) {
  Net net;
  std::ifstream f(desc);
  if (!f) Die("cannot read " + desc);
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream s(line);
    Op o;
    s >> o.kind;
    if (o.kind == "tensors") {
      s >> net.tensors;
    } else if (o.kind == "input") {
      s >> net.input >> net.inH >> net.inW >> net.inC;
    } else if (o.kind == "output") {
      s >> net.output;
    } else if (o.kind == "conv") {
      s >> o.out >> o.in >> o.H >> o.W >> o.C >> o.OH >> o.OW >> o.O >> o.kh >> o.kw >> o.sh >> o.sw >>
          o.pt >> o.pl >> o.pb >> o.pr >> o.groups >> o.lo >> o.hi >> o.woff >> o.boff;
    } else if (o.kind == "add") {
      s >> o.out >> o.in >> o.in2 >> o.H >> o.W >> o.C >> o.lo >> o.hi;
      o.OH = o.H, o.OW = o.W, o.O = o.C;
    } else if (o.kind == "maxpool") {
      s >> o.out >> o.in >> o.H >> o.W >> o.C >> o.OH >> o.OW >> o.kh >> o.kw >> o.sh >> o.sw >> o.pt >>
          o.pl >> o.pb >> o.pr;
      o.O = o.C;
    } else if (o.kind == "gap") {
      s >> o.out >> o.in >> o.H >> o.W >> o.C;
      o.OH = o.OW = 1, o.O = o.C;
    } else if (o.kind == "fc") {
      s >> o.out >> o.in >> o.C >> o.O >> o.lo >> o.hi >> o.woff >> o.boff;
      o.H = o.W = o.OH = o.OW = 1;
    } else {
      Die("unknown line: " + line);
    }
    if (!s) Die("bad line: " + line);
    o.lo = Clamp(o.lo), o.hi = Clamp(o.hi);
    if (o.kind != "tensors" && o.kind != "input" && o.kind != "output") net.ops.push_back(o);
  }
  std::ifstream w(wpath, std::ios::binary | std::ios::ate);
  if (!w) Die("cannot read " + wpath);
  net.weights.resize((size_t)w.tellg() / 4);
  w.seekg(0);
  w.read((char*)net.weights.data(), (std::streamsize)(net.weights.size() * 4));
  if (net.input < 0 || net.output < 0 || net.tensors <= 0) Die("no input / output in " + desc);
  return net;
}

size_t OutSize(const Op& o) { return o.OH * o.OW * o.O; }

struct Runner {
  std::vector<xnn_operator_t> ops;
  ~Runner() {
    for (auto op : ops) xnn_delete_operator(op);
  }
  void Run(pthreadpool_t pool) {
    for (auto op : ops) Check(xnn_run_operator(op, pool), "xnn_run_operator");
  }
};

// Builds the f32 network into r; buffers in bufs (one per tensor, sized, with XNN_EXTRA_BYTES).
void BuildF32(const Net& net, Runner& r, std::vector<std::vector<float>>& bufs, pthreadpool_t pool) {
  bufs.assign(net.tensors, {});
  bufs[net.input].assign(net.inH * net.inW * net.inC + 16, 0.0f);
  for (const Op& o : net.ops) bufs[o.out].assign(OutSize(o) + 16, 0.0f);
  const float* wt = net.weights.data();
  for (const Op& o : net.ops) {
    xnn_operator_t op = nullptr;
    const float* x = bufs[o.in].data();
    float* y = bufs[o.out].data();
    if (o.kind == "conv") {
      const size_t gi = o.C / o.groups, go = o.O / o.groups;
      Check(xnn_create_convolution2d_nhwc_f32(o.pt, o.pr, o.pb, o.pl, o.kh, o.kw, o.sh, o.sw, 1, 1, o.groups,
                                              gi, go, o.C, o.O, wt + o.woff, wt + o.boff, o.lo, o.hi, g_flags, &op),
            "create conv f32");
      Check(xnn_setup_convolution2d_nhwc_f32(op, 1, o.H, o.W, x, y, pool), "setup conv f32");
    } else if (o.kind == "add") {
      Check(xnn_create_add_nd_f32(o.lo, o.hi, g_flags, &op), "create add f32");
      const size_t shape[4] = {1, o.H, o.W, o.C};
      Check(xnn_setup_add_nd_f32(op, 4, shape, 4, shape, x, bufs[o.in2].data(), y, pool), "setup add f32");
    } else if (o.kind == "maxpool") {
      Check(xnn_create_max_pooling2d_nhwc_f32(o.pt, o.pr, o.pb, o.pl, o.kh, o.kw, o.sh, o.sw, 1, 1, o.C, o.C,
                                              o.C, -INFINITY, INFINITY, g_flags, &op),
            "create maxpool f32");
      Check(xnn_setup_max_pooling2d_nhwc_f32(op, 1, o.H, o.W, x, y, pool), "setup maxpool f32");
    } else if (o.kind == "gap") {
      Check(xnn_create_global_average_pooling_nwc_f32(o.C, o.C, o.C, -INFINITY, INFINITY, g_flags, &op),
            "create gap f32");
      Check(xnn_setup_global_average_pooling_nwc_f32(op, 1, o.H * o.W, x, y, pool), "setup gap f32");
    } else if (o.kind == "fc") {
      Check(xnn_create_fully_connected_nc_f32(o.C, o.O, o.C, o.O, wt + o.woff, wt + o.boff, o.lo, o.hi, g_flags, &op),
            "create fc f32");
      Check(xnn_setup_fully_connected_nc_f32(op, 1, x, y, pool), "setup fc f32");
    }
    r.ops.push_back(op);
  }
}

struct QParams {
  float scale = 1.0f;
  int zp = 0;
  int8_t Q(float v) const {
    const long q = std::lrintf(v / scale) + zp;
    return (int8_t)std::min(127L, std::max(-128L, q));
  }
};

QParams FromRange(const std::vector<float>& v) {
  float lo = 0.0f, hi = 0.0f;
  for (float x : v) lo = std::min(lo, x), hi = std::max(hi, x);
  QParams q;
  if (lo >= 0.0f) {
    q.scale = std::max(hi, 1e-6f) / 255.0f;
    q.zp = -128;
  } else {
    q.scale = std::max(std::max(-lo, hi), 1e-6f) / 127.0f;
    q.zp = 0;
  }
  return q;
}

int8_t QClamp(const QParams& q, float v) {
  if (std::isinf(v)) return v < 0 ? -128 : 127;
  return q.Q(v);
}

// qs8 network calibrated on the f32 activations in fbufs. qin / qout: the float input and output.
void BuildQs8(const Net& net, Runner& r, const std::vector<std::vector<float>>& fbufs,
              std::vector<std::vector<int8_t>>& bufs, std::vector<float>& qin, std::vector<float>& qout,
              std::vector<std::vector<int8_t>>& wq, std::vector<std::vector<int32_t>>& bq,
              std::vector<std::vector<float>>& ws, pthreadpool_t pool) {
  std::vector<QParams> qp(net.tensors);
  for (int t = 0; t < net.tensors; t++) qp[t] = FromRange(fbufs[t]);
  bufs.assign(net.tensors, {});
  bufs[net.input].assign(net.inH * net.inW * net.inC + 64, 0);
  for (const Op& o : net.ops) bufs[o.out].assign(OutSize(o) + 64, 0);
  const float* wt = net.weights.data();
  xnn_operator_t op = nullptr;
  const size_t in_n = net.inH * net.inW;
  qin.assign(in_n * net.inC + 16, 0.0f);
  std::copy(fbufs[net.input].begin(), fbufs[net.input].end(), qin.begin());
  const QParams& qi = qp[net.input];
  Check(xnn_create_convert_nc_f32_qs8(net.inC, net.inC, net.inC, 1.0f / qi.scale, (int8_t)qi.zp, -128, 127, g_flags, &op),
        "create convert f32->qs8");
  Check(xnn_setup_convert_nc_f32_qs8(op, in_n, qin.data(), bufs[net.input].data(), pool), "setup convert");
  r.ops.push_back(op);
  for (const Op& o : net.ops) {
    op = nullptr;
    const QParams &qx = qp[o.in], &qy = qp[o.out];
    const int8_t* x = bufs[o.in].data();
    int8_t* y = bufs[o.out].data();
    const int8_t ymin = QClamp(qy, o.lo), ymax = QClamp(qy, o.hi);
    if (o.kind == "conv" || o.kind == "fc") {
      const size_t per = (o.kind == "conv") ? o.kh * o.kw * (o.C / o.groups) : o.C;
      std::vector<float> s(o.O);
      float smax = 0.0f;
      for (size_t c = 0; c < o.O; c++) {
        float m = 0.0f;
        for (size_t i = 0; i < per; i++) m = std::max(m, std::fabs(wt[o.woff + c * per + i]));
        s[c] = std::max(m, 1e-8f) / 127.0f;
        smax = std::max(smax, s[c]);
      }
      if (o.kind == "fc") std::fill(s.begin(), s.end(), smax);
      std::vector<int8_t> w(o.O * per);
      std::vector<int32_t> b(o.O);
      for (size_t c = 0; c < o.O; c++) {
        for (size_t i = 0; i < per; i++) w[c * per + i] = (int8_t)std::lrintf(wt[o.woff + c * per + i] / s[c]);
        b[c] = (int32_t)std::lrintf(wt[o.boff + c] / (qx.scale * s[c]));
      }
      if (o.kind == "conv") {
        const size_t gi = o.C / o.groups, go = o.O / o.groups;
        Check(xnn_create_convolution2d_nhwc_qc8(o.pt, o.pr, o.pb, o.pl, o.kh, o.kw, o.sh, o.sw, 1, 1, o.groups, gi,
                                                go, o.C, o.O, (int8_t)qx.zp, qx.scale, s.data(), w.data(), b.data(),
                                                (int8_t)qy.zp, qy.scale, ymin, ymax, g_flags, &op),
              "create conv qc8");
        Check(xnn_setup_convolution2d_nhwc_qc8(op, 1, o.H, o.W, x, y, pool), "setup conv qc8");
      } else {
        Check(xnn_create_fully_connected_nc_qs8(o.C, o.O, o.C, o.O, (int8_t)qx.zp, qx.scale, smax, w.data(),
                                                b.data(), (int8_t)qy.zp, qy.scale, ymin, ymax, g_flags, &op),
              "create fc qs8");
        Check(xnn_setup_fully_connected_nc_qs8(op, 1, x, y, pool), "setup fc qs8");
      }
      wq.push_back(std::move(w)), bq.push_back(std::move(b)), ws.push_back(std::move(s));
    } else if (o.kind == "add") {
      const QParams& q2 = qp[o.in2];
      Check(xnn_create_add_nd_qs8((int8_t)qx.zp, qx.scale, (int8_t)q2.zp, q2.scale, (int8_t)qy.zp, qy.scale, ymin,
                                  ymax, g_flags, &op),
            "create add qs8");
      const size_t shape[4] = {1, o.H, o.W, o.C};
      Check(xnn_setup_add_nd_qs8(op, 4, shape, 4, shape, x, bufs[o.in2].data(), y, pool), "setup add qs8");
    } else if (o.kind == "maxpool") {
      // Max pooling keeps the input's quantization: the output uses the input's parameters.
      qp[o.out] = qx;
      Check(xnn_create_max_pooling2d_nhwc_s8(o.pt, o.pr, o.pb, o.pl, o.kh, o.kw, o.sh, o.sw, 1, 1, o.C, o.C, o.C,
                                             -128, 127, g_flags, &op),
            "create maxpool s8");
      Check(xnn_setup_max_pooling2d_nhwc_s8(op, 1, o.H, o.W, x, y, pool), "setup maxpool s8");
    } else if (o.kind == "gap") {
      Check(xnn_create_global_average_pooling_nwc_qs8(o.C, o.C, o.C, (int8_t)qx.zp, qx.scale, (int8_t)qy.zp,
                                                      qy.scale, -128, 127, g_flags, &op),
            "create gap qs8");
      Check(xnn_setup_global_average_pooling_nwc_qs8(op, 1, o.H * o.W, x, y, pool), "setup gap qs8");
    }
    r.ops.push_back(op);
  }
  const QParams& qo = qp[net.output];
  const size_t on = fbufs[net.output].size() - 16;
  qout.assign(on + 16, 0.0f);
  op = nullptr;
  Check(xnn_create_convert_nc_qs8_f32(1, 1, 1, qo.scale, (int8_t)qo.zp, g_flags, &op), "create convert qs8->f32");
  Check(xnn_setup_convert_nc_qs8_f32(op, on, bufs[net.output].data(), qout.data(), pool), "setup convert");
  r.ops.push_back(op);
}

}  // namespace

int main(int argc, char** argv) {
  std::string desc, wpath, mode = "f32", input_path, output_path;
  int threads = 1, runs = 30, warmup = 5;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value for " + a);
      return argv[++i];
    };
    if (a == "--desc") desc = val();
    else if (a == "--weights") wpath = val();
    else if (a == "--mode") mode = val();
    else if (a == "--threads") threads = std::atoi(val().c_str());
    else if (a == "--runs") runs = std::atoi(val().c_str());
    else if (a == "--warmup") warmup = std::atoi(val().c_str());
    else if (a == "--yield-workers") g_flags = XNN_FLAG_YIELD_WORKERS;
    else if (a == "--input") input_path = val();
    else if (a == "--output") output_path = val();
    else Die("unknown argument " + a);
  }
  if (desc.empty() || wpath.empty() || (mode != "f32" && mode != "qs8") || runs < 1)
    Die("usage: --desc D --weights W --mode f32|qs8 [--threads T] [--runs N] [--warmup W]");
  Check(xnn_initialize(nullptr), "xnn_initialize");
  const Net net = Load(desc, wpath);
  pthreadpool_t pool = threads > 1 ? pthreadpool_create((size_t)threads) : nullptr;

  std::vector<std::vector<float>> fbufs;
  auto f32 = std::make_unique<Runner>();
  BuildF32(net, *f32, fbufs, pool);
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (size_t i = 0; i < net.inH * net.inW * net.inC; i++) fbufs[net.input][i] = nd(rng);
  if (!input_path.empty()) {  // float32 NCHW (the ONNX model's layout) -> NHWC
    std::ifstream f(input_path, std::ios::binary);
    std::vector<float> nchw(net.inH * net.inW * net.inC);
    if (!f.read((char*)nchw.data(), (std::streamsize)(nchw.size() * 4))) Die("cannot read " + input_path);
    const size_t hw = net.inH * net.inW;
    for (size_t c = 0; c < net.inC; c++)
      for (size_t p = 0; p < hw; p++) fbufs[net.input][p * net.inC + c] = nchw[c * hw + p];
  }
  f32->Run(pool);
  for (auto& b : fbufs) b.resize(b.size() - 16);  // calibration ranges without the padding
  std::vector<std::vector<int8_t>> qbufs, wq;
  std::vector<std::vector<int32_t>> bq;
  std::vector<std::vector<float>> ws;
  std::vector<float> qin, qout;
  std::unique_ptr<Runner> q8;
  Runner* r = f32.get();
  const float* out = nullptr;
  size_t out_n = fbufs[net.output].size();
  if (mode == "qs8") {
    q8 = std::make_unique<Runner>();
    BuildQs8(net, *q8, fbufs, qbufs, qin, qout, wq, bq, ws, pool);
    r = q8.get();
    out = qout.data();
  } else {
    for (auto& b : fbufs) b.resize(b.size() + 16);
    out = fbufs[net.output].data();
  }
  for (int i = 0; i < warmup; i++) r->Run(pool);
  std::vector<double> ms;
  for (int i = 0; i < runs; i++) {
    const auto t0 = std::chrono::steady_clock::now();
    r->Run(pool);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  double sum = 0.0;
  for (double v : ms) sum += v;
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  const size_t n = sorted.size();
  const double median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
  double checksum = 0.0;
  for (size_t i = 0; i < out_n; i++) checksum += out[i];
  printf("xnnpack %s threads=%d ops=%zu runs=%d median_ms=%.4f mean_ms=%.4f min_ms=%.4f checksum=%.6g\n",
         mode.c_str(), threads, r->ops.size(), runs, median, sum / n, sorted[0], checksum);
  if (!output_path.empty()) {
    std::ofstream f(output_path, std::ios::binary);
    f.write((const char*)out, (std::streamsize)(out_n * 4));
  }
  f32.reset();
  q8.reset();
  if (pool) pthreadpool_destroy(pool);
  return 0;
}
