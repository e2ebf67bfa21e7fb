#include "converter/reference_executor.h"

#include <algorithm>
#include <cfenv>
#include <cmath>
#include <sstream>

#include "converter/diagnostics.h"
#include "converter/onnx_import.h"
#include "converter/passes/passes.h"

namespace crumb {
namespace cv {
namespace {

int64_t Count(const std::vector<int64_t>& d) {
  int64_t n = 1;
  for (int64_t v : d) n *= v;
  return n;
}

std::string DimsStr(const std::vector<int64_t>& d) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < d.size(); i++) s << (i ? "," : "") << d[i];
  s << "]";
  return s.str();
}

RefTensor FromConst(const Const& c) {
  RefTensor t;
  t.dims = c.dims;
  t.data.resize(c.size());
  for (size_t k = 0; k < c.size(); k++) t.data[k] = c.type == kFloat ? c.f[k] : float(c.i[k]);
  return t;
}

// Numpy broadcasting of a and b into `out` dims; f(x, y) per element.
template <typename F>
bool Broadcast(const RefTensor& a, const RefTensor& b, RefTensor* out, F f) {
  const size_t r = std::max(a.dims.size(), b.dims.size());
  std::vector<int64_t> da(r, 1), db(r, 1), d(r);
  std::copy(a.dims.begin(), a.dims.end(), da.begin() + (r - a.dims.size()));
  std::copy(b.dims.begin(), b.dims.end(), db.begin() + (r - b.dims.size()));
  for (size_t i = 0; i < r; i++) {
    if (da[i] != db[i] && da[i] != 1 && db[i] != 1) return false;
    d[i] = std::max(da[i], db[i]);
  }
  out->dims = d;
  out->data.assign(size_t(Count(d)), 0.f);
  std::vector<int64_t> idx(r, 0);
  for (size_t k = 0; k < out->data.size(); k++) {
    int64_t ia = 0, ib = 0;
    for (size_t i = 0; i < r; i++) {
      ia = ia * da[i] + (da[i] == 1 ? 0 : idx[i]);
      ib = ib * db[i] + (db[i] == 1 ? 0 : idx[i]);
    }
    out->data[k] = f(a.data[size_t(ia)], b.data[size_t(ib)]);
    for (size_t i = r; i-- > 0;) {
      if (++idx[i] < d[i]) break;
      idx[i] = 0;
    }
  }
  return true;
}

// Quantizer parameters along `axis` of x: element k's channel.
struct QParams {
  const Const* scale = nullptr;
  const Const* zp = nullptr;
  int64_t axis = 1;
  int64_t inner = 1, channels = 1;
  float Scale(int64_t k) const {
    return scale->f[scale->f.size() == 1 ? 0 : size_t((k / inner) % channels)];
  }
  double Zp(int64_t k) const {
    if (!zp || zp->size() == 0) return 0;
    return zp->at(zp->size() == 1 ? 0 : size_t((k / inner) % channels));
  }
};

bool MakeQParams(const Graph& g, const Node& n, const RefTensor& x, QParams* q,
                 std::string* error) {
  q->scale = g.FindConst(n.Input(1));
  q->zp = n.Input(2).empty() ? nullptr : g.FindConst(n.Input(2));
  if (!q->scale || q->scale->type != kFloat || q->scale->f.empty() ||
      (!n.Input(2).empty() && !q->zp)) {
    *error = "node '" + n.name + "': the scale and zero point must be constants";
    return false;
  }
  if (q->scale->f.size() > 1) {
    int64_t axis = n.AttrInt("axis", 1);
    if (axis < 0) axis += int64_t(x.dims.size());
    if (axis < 0 || axis >= int64_t(x.dims.size()) ||
        x.dims[size_t(axis)] != int64_t(q->scale->f.size())) {
      *error = "node '" + n.name + "': per-axis parameters do not match the input shape " +
               DimsStr(x.dims);
      return false;
    }
    q->channels = x.dims[size_t(axis)];
    q->inner = 1;
    for (size_t i = size_t(axis) + 1; i < x.dims.size(); i++) q->inner *= x.dims[i];
  }
  return true;
}

// Output spatial size and leading pad of a window op along one axis.
bool Window(int64_t in, int64_t k, int64_t s, int64_t d, const std::string& auto_pad, int64_t* pb,
            int64_t* pe, bool ceil_mode, int64_t* out) {
  const int64_t ek = (k - 1) * d + 1;
  if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    *out = (in + s - 1) / s;
    const int64_t total = std::max<int64_t>(0, (*out - 1) * s + ek - in);
    *pb = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
    *pe = total - *pb;
    return true;
  }
  if (auto_pad == "VALID") *pb = *pe = 0;
  const int64_t span = in + *pb + *pe - ek;
  if (span < 0) return false;
  *out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
  // ONNX: the last window must start inside the input or the leading pad.
  if (ceil_mode && (*out - 1) * s >= in + *pb) (*out)--;
  return true;
}

struct Geometry {
  int64_t n, c, h, w, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl;
};

bool MakeGeometry(const Node& n, const RefTensor& x, int64_t kh, int64_t kw, Geometry* g,
                  std::string* error) {
  if (x.dims.size() != 4) {
    *error = "node '" + n.name + "': only 2-D (NCHW) windows are evaluated, not input " +
             DimsStr(x.dims);
    return false;
  }
  std::vector<int64_t> s = n.AttrInts("strides"), d = n.AttrInts("dilations"),
                       p = n.AttrInts("pads");
  if (s.size() != 2) s = {1, 1};
  if (d.size() != 2) d = {1, 1};
  if (p.size() != 4) p = {0, 0, 0, 0};
  const std::string ap = n.AttrString("auto_pad", "NOTSET");
  const bool ceil = n.AttrInt("ceil_mode", 0) != 0;
  *g = Geometry{x.dims[0], x.dims[1], x.dims[2], x.dims[3], 0,    0,    kh,
                kw,        s[0],      s[1],      d[0],      d[1], p[0], p[1]};
  int64_t pbh = p[0], peh = p[2], pbw = p[1], pew = p[3];
  if (!Window(g->h, kh, s[0], d[0], ap, &pbh, &peh, ceil, &g->oh) ||
      !Window(g->w, kw, s[1], d[1], ap, &pbw, &pew, ceil, &g->ow)) {
    *error = "node '" + n.name + "': the window does not fit the input " + DimsStr(x.dims);
    return false;
  }
  g->pt = pbh, g->pl = pbw;
  return true;
}

class Executor {
 public:
  Executor(const Graph& g, const ReferenceOptions& o, std::map<std::string, RefTensor>* v)
      : g_(g), index_(IndexValues(g)), opt_(o), v_(*v) {
    lookup_ = [this](const std::string& name) -> const IndexValue* {
      auto it = ivals_.find(name);
      return it == ivals_.end() ? nullptr : &it->second;
    };
  }

  const RefTensor* Get(const std::string& name) {
    auto it = v_.find(name);
    if (it != v_.end()) return &it->second;
    const Const* c = g_.FindConst(name);
    if (!c) return nullptr;
    consts_[name] = FromConst(*c);
    return &consts_[name];
  }

  bool Run(const Node& n, std::string* error) {
    std::vector<const RefTensor*> in;
    for (const std::string& name : n.inputs) {
      if (name.empty()) {
        in.push_back(nullptr);
        continue;
      }
      const RefTensor* t = Get(name);
      if (!t) {
        *error = "node '" + n.name + "' reads '" + name + "', which nothing computed";
        return false;
      }
      in.push_back(t);
    }
    if (n.outputs.empty()) return true;
    RefTensor out;
    const std::string& op = n.op_type;
    auto fail = [&](const std::string& why) {
      *error = "node '" + n.name + "' (" + op + "): " + why;
      return false;
    };
    if (in.empty() || !in[0]) {
      if (op != "Constant") return fail("no input");
    }
    if (n.domain.empty() && index_.count(n.outputs[0])) {
      // Arithmetic on shapes, in integers (a float Div would not truncate).
      std::vector<IndexValue> held(in.size());
      std::vector<const IndexValue*> iv(in.size(), nullptr);
      for (size_t k = 0; k < in.size(); k++) {
        if (!in[k]) continue;
        if (k == 0 && op == "Shape") {
          held[k].dims = {int64_t(in[k]->dims.size())};
          held[k].v = in[k]->dims;
        } else if (const IndexValue* p = lookup_(n.inputs[k])) {
          held[k] = *p;
        } else if (const Const* c = g_.FindConst(n.inputs[k])) {
          held[k].dims = c->dims;
          held[k].v = c->i;
        } else {
          return fail("reads '" + n.inputs[k] + "', which is neither a shape nor a constant");
        }
        iv[k] = &held[k];
      }
      IndexValue r;
      std::string problem;
      if (!EvalIndexOp(n, iv, &r, &problem)) return fail(problem);
      out.dims = r.dims;
      for (int64_t x : r.v) out.data.push_back(float(x));
      ivals_[n.outputs[0]] = std::move(r);
    } else if (op == "QuantizeLinear" || op == "DequantizeLinear") {
      QParams q;
      if (!MakeQParams(g_, n, *in[0], &q, error)) return false;
      out.dims = in[0]->dims;
      out.data.resize(in[0]->data.size());
      if (op == "QuantizeLinear") {
        int64_t lo = 0, hi = 255;
        int bits;
        bool sgn;
        if (q.zp && !QuantTypeRange(q.zp->type, &lo, &hi, &bits, &sgn))
          return fail("unsupported zero-point type");
        for (size_t k = 0; k < out.data.size(); k++) {
          // ONNX: divide (not multiply by the reciprocal), round half to even, saturate.
          const float r = std::nearbyint(in[0]->data[k] / q.Scale(int64_t(k)));
          const double v = double(r) + q.Zp(int64_t(k));
          out.data[k] = float(std::min<double>(std::max<double>(v, lo), hi));
        }
      } else {
        for (size_t k = 0; k < out.data.size(); k++) {
          out.data[k] = float(double(in[0]->data[k]) - q.Zp(int64_t(k))) * q.Scale(int64_t(k));
        }
      }
    } else if (op == "Identity") {
      out = *in[0];
    } else if (op == "Relu") {
      out = *in[0];
      for (float& v : out.data) v = std::max(v, 0.f);
    } else if (op == "Clip") {
      float lo = n.AttrFloat("min", -INFINITY), hi = n.AttrFloat("max", INFINITY);
      if (in.size() > 1 && in[1]) lo = in[1]->data.at(0);
      if (in.size() > 2 && in[2]) hi = in[2]->data.at(0);
      out = *in[0];
      for (float& v : out.data) v = std::min(std::max(v, lo), hi);
    } else if (op == "Add" || op == "Mul") {
      if (in.size() < 2 || !in[1]) return fail("needs two inputs");
      const bool add = op == "Add";
      if (!Broadcast(*in[0], *in[1], &out, [&](float a, float b) { return add ? a + b : a * b; }))
        return fail("shapes " + DimsStr(in[0]->dims) + " and " + DimsStr(in[1]->dims) +
                    " do not broadcast");
    } else if (op == "Sub" || op == "Div") {
      if (in.size() < 2 || !in[1]) return fail("needs two inputs");
      if (!Broadcast(*in[0], *in[1], &out, [&](float a, float b) {
            return ApplyElementwise(n, {a, b});
          }))
        return fail("shapes " + DimsStr(in[0]->dims) + " and " + DimsStr(in[1]->dims) +
                    " do not broadcast");
    } else if (TableOps().count(op)) {
      // The unary element-wise ops, as the converter tabulates them.
      out = *in[0];
      for (float& v : out.data) v = ApplyElementwise(n, {v});
    } else if (op == "Conv") {
      RefTensor negated;
      if (opt_.negate_weights && in.size() > 1 && in[1]) {
        negated = *in[1];
        for (float& v : negated.data) v = -v;
        in[1] = &negated;
      }
      if (!Conv(n, in, &out, error)) return false;
    } else if (op == "Gemm" || op == "MatMul") {
      if (!Gemm(n, in, &out, error)) return false;
    } else if (op == "MaxPool" || op == "AveragePool" || op == "GlobalAveragePool") {
      if (!Pool(n, *in[0], &out, error)) return false;
    } else if (op == "Flatten") {
      int64_t axis = n.AttrInt("axis", 1);
      if (axis < 0) axis += int64_t(in[0]->dims.size());
      int64_t a = 1;
      for (int64_t i = 0; i < axis; i++) a *= in[0]->dims[size_t(i)];
      out.data = in[0]->data;
      out.dims = {a, a ? Count(in[0]->dims) / a : 0};
    } else if (op == "Reshape") {
      if (in.size() < 2 || !in[1]) return fail("needs a shape");
      std::vector<int64_t> d;
      int64_t known = 1, minus = -1;
      for (size_t i = 0; i < in[1]->data.size(); i++) {
        int64_t v = int64_t(in[1]->data[i]);
        if (v == 0 && !n.AttrInt("allowzero", 0) && i < in[0]->dims.size()) v = in[0]->dims[i];
        if (v == -1) {
          minus = int64_t(i);
        } else {
          known *= v;
        }
        d.push_back(v);
      }
      if (minus >= 0) d[size_t(minus)] = known ? Count(in[0]->dims) / known : 0;
      if (Count(d) != Count(in[0]->dims)) return fail("cannot reshape " + DimsStr(in[0]->dims));
      out.dims = d;
      out.data = in[0]->data;
    } else if (op == "Concat") {
      int64_t axis = n.AttrInt("axis", 0);
      const RefTensor& a = *in[0];
      if (axis < 0) axis += int64_t(a.dims.size());
      out.dims = a.dims;
      out.dims[size_t(axis)] = 0;
      int64_t outer = 1, inner = 1;
      for (int64_t i = 0; i < axis; i++) outer *= a.dims[size_t(i)];
      for (size_t i = size_t(axis) + 1; i < a.dims.size(); i++) inner *= a.dims[i];
      for (const RefTensor* t : in) out.dims[size_t(axis)] += t->dims[size_t(axis)];
      for (int64_t o = 0; o < outer; o++) {
        for (const RefTensor* t : in) {
          const int64_t len = t->dims[size_t(axis)] * inner;
          out.data.insert(out.data.end(), t->data.begin() + o * len,
                          t->data.begin() + (o + 1) * len);
        }
      }
    } else if (op == "Resize") {
      if (!Resize(n, in, &out, error)) return false;
    } else if (op == "Softmax" || op == "LayerNormalization") {
      // Over vectors along one axis (ONNX Softmax from opset 13; LayerNormalization over the
      // last axis), in double.
      const RefTensor& x = *in[0];
      const int64_t rank = int64_t(x.dims.size());
      int64_t axis = n.AttrInt("axis", op == "Softmax" && g_.opset < 13 ? 1 : -1);
      if (axis < 0) axis += rank;
      if (axis < 0 || axis >= rank) return fail("axis out of range");
      if (op == "LayerNormalization" && axis != rank - 1) return fail("only the last axis");
      int64_t inner = 1;
      for (int64_t d = axis + 1; d < rank; d++) inner *= x.dims[size_t(d)];
      const int64_t len = x.dims[size_t(axis)],
                    outer = len * inner != 0 ? Count(x.dims) / (len * inner) : 0;
      const RefTensor* scale = in.size() > 1 ? in[1] : nullptr;
      const RefTensor* bias = in.size() > 2 ? in[2] : nullptr;
      if (op == "LayerNormalization" && (!scale || int64_t(scale->data.size()) != len ||
                                         (bias && int64_t(bias->data.size()) != len)))
        return fail("scale / bias do not match the last axis");
      const double eps = n.AttrFloat("epsilon", 1e-5f);
      out = x;
      for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
          auto at = [&](int64_t k) -> float& {
            return out.data[size_t((o * len + k) * inner + i)];
          };
          if (op == "Softmax") {
            double m = -INFINITY, s = 0;
            for (int64_t k = 0; k < len; k++) m = std::max(m, double(at(k)));
            for (int64_t k = 0; k < len; k++) s += std::exp(double(at(k)) - m);
            for (int64_t k = 0; k < len; k++) at(k) = float(std::exp(double(at(k)) - m) / s);
          } else {
            double mean = 0, var = 0;
            for (int64_t k = 0; k < len; k++) mean += at(k);
            mean /= double(len);
            for (int64_t k = 0; k < len; k++) var += (at(k) - mean) * (at(k) - mean);
            var /= double(len);
            const double inv = 1 / std::sqrt(var + eps);
            for (int64_t k = 0; k < len; k++)
              at(k) = float((at(k) - mean) * inv * scale->data[size_t(k)] +
                            (bias ? bias->data[size_t(k)] : 0.0));
          }
        }
      }
    } else if (op == "Transpose") {
      const RefTensor& x = *in[0];
      const size_t rank = x.dims.size();
      std::vector<int64_t> perm = n.AttrInts("perm");
      if (!n.HasAttr("perm"))
        for (size_t d = rank; d-- > 0;) perm.push_back(int64_t(d));
      if (perm.size() != rank) return fail("perm does not match the rank");
      std::vector<int64_t> stride(rank, 1);
      for (size_t d = rank; d-- > 1;) stride[d - 1] = stride[d] * x.dims[d];
      out.dims.clear();
      for (int64_t p : perm) {
        if (p < 0 || p >= int64_t(rank)) return fail("perm out of range");
        out.dims.push_back(x.dims[size_t(p)]);
      }
      out.data.resize(x.data.size());
      std::vector<int64_t> idx(rank, 0);
      for (size_t i = 0; i < out.data.size(); i++) {
        int64_t src = 0;
        for (size_t d = 0; d < rank; d++) src += idx[d] * stride[size_t(perm[d])];
        out.data[i] = x.data[size_t(src)];
        for (size_t d = rank; d-- > 0;) {
          if (++idx[d] < out.dims[d]) break;
          idx[d] = 0;
        }
      }
    } else if (op == "Pad") {
      PadSpec s;
      std::string problem;
      if (!ResolvePad(g_, lookup_, n, in[0]->dims.size(), &s, &problem)) return fail(problem);
      if (!Pad(*in[0], s, &out, &problem)) return fail(problem);
    } else if (op == "Slice") {
      SliceSpec s;
      std::string problem;
      if (!ResolveSlice(g_, lookup_, n, in[0]->dims, &s, &problem)) return fail(problem);
      Gather(*in[0], s, &out);
    } else if (op == "Split") {
      std::vector<SliceSpec> parts;
      std::string problem;
      if (!ResolveSplit(g_, lookup_, n, in[0]->dims, &parts, &problem)) return fail(problem);
      for (size_t k = 0; k < parts.size(); k++) {
        if (n.outputs[k].empty()) continue;
        RefTensor part;
        Gather(*in[0], parts[k], &part);
        v_[n.outputs[k]] = std::move(part);
      }
      return true;
    } else if (op == "BatchNormalization") {
      if (in.size() < 5) return fail("needs scale, bias, mean and variance");
      const float eps = n.AttrFloat("epsilon", 1e-5f);
      out = *in[0];
      const int64_t c = out.dims.size() > 1 ? out.dims[1] : 1;
      int64_t inner = 1;
      for (size_t i = 2; i < out.dims.size(); i++) inner *= out.dims[i];
      for (size_t k = 0; k < out.data.size(); k++) {
        const size_t ch = size_t((int64_t(k) / inner) % c);
        const float sd = std::sqrt(in[4]->data[ch] + eps);
        out.data[k] = (out.data[k] - in[3]->data[ch]) / sd * in[1]->data[ch] + in[2]->data[ch];
      }
    } else {
      return fail("the reference executor does not evaluate this op");
    }
    v_[n.outputs[0]] = std::move(out);
    return true;
  }

 private:
  // ONNX Pad: per axis, output index i reads input index i - begin, mapped back into the input
  // by the mode (constant: outside -> value; edge: clamped; reflect: mirrored without repeating
  // the edge; wrap: modulo). Negative pads crop.
  static bool Pad(const RefTensor& x, const PadSpec& s, RefTensor* out, std::string* problem) {
    const size_t rank = x.dims.size();
    out->dims.assign(rank, 0);
    for (size_t d = 0; d < rank; d++) {
      const int64_t limit = int64_t(1) << 40;  // so that the sum below cannot wrap
      if (s.begin[d] > limit || s.begin[d] < -limit || s.end[d] > limit || s.end[d] < -limit) {
        *problem = "its pads on axis " + std::to_string(d) + " are out of range";
        return false;
      }
      out->dims[d] = x.dims[d] + s.begin[d] + s.end[d];
      if (out->dims[d] < 0) {
        *problem = "its pads crop axis " + std::to_string(d) + " below nothing";
        return false;
      }
      if (s.mode == "reflect" && x.dims[d] < 2 && (s.begin[d] > 0 || s.end[d] > 0)) {
        *problem = "reflect padding needs at least two elements on axis " + std::to_string(d);
        return false;
      }
      if (s.mode != "constant" && x.dims[d] == 0 && out->dims[d] > 0) {
        *problem = "mode " + s.mode + " cannot pad an empty axis";
        return false;
      }
    }
    std::vector<int64_t> stride(rank, 1);
    for (size_t d = rank; d-- > 1;) stride[d - 1] = stride[d] * x.dims[d];
    out->data.resize(size_t(Count(out->dims)));
    std::vector<int64_t> idx(rank, 0);
    for (size_t i = 0; i < out->data.size(); i++) {
      int64_t src = 0;
      bool inside = true;
      for (size_t d = 0; d < rank; d++) {
        int64_t j = idx[d] - s.begin[d];
        const int64_t len = x.dims[d];
        if (j < 0 || j >= len) {
          if (s.mode == "constant") {
            inside = false;
          } else if (s.mode == "edge") {
            j = j < 0 ? 0 : len - 1;
          } else if (s.mode == "wrap") {
            j = ((j % len) + len) % len;
          } else {  // reflect: period 2 * (len - 1)
            const int64_t p = 2 * (len - 1);
            j = ((j % p) + p) % p;
            if (j >= len) j = p - j;
          }
        }
        src += j * stride[d];
      }
      out->data[i] = inside ? x.data[size_t(src)] : s.value;
      for (size_t d = rank; d-- > 0;) {
        if (++idx[d] < out->dims[d]) break;
        idx[d] = 0;
      }
    }
    return true;
  }

  // out[i] = x[starts + i * steps] per axis (row-major).
  static void Gather(const RefTensor& x, const SliceSpec& s, RefTensor* out) {
    const size_t rank = x.dims.size();
    std::vector<int64_t> stride(rank, 1);
    for (size_t d = rank; d-- > 1;) stride[d - 1] = stride[d] * x.dims[d];
    out->dims = s.counts;
    out->data.resize(size_t(Count(s.counts)));
    std::vector<int64_t> idx(rank, 0);
    for (size_t i = 0; i < out->data.size(); i++) {
      int64_t src = 0;
      for (size_t d = 0; d < rank; d++) src += (s.starts[d] + idx[d] * s.steps[d]) * stride[d];
      out->data[i] = x.data[size_t(src)];
      for (size_t d = rank; d-- > 0;) {
        if (++idx[d] < s.counts[d]) break;
        idx[d] = 0;
      }
    }
  }

  bool Conv(const Node& n, const std::vector<const RefTensor*>& in, RefTensor* out,
            std::string* error) {
    const RefTensor& x = *in[0];
    if (in.size() < 2 || !in[1] || in[1]->dims.size() != 4) {
      *error = "node '" + n.name + "' (Conv): only 2-D convolutions are evaluated";
      return false;
    }
    const RefTensor& w = *in[1];
    const RefTensor* b = in.size() > 2 ? in[2] : nullptr;
    const int64_t group = n.AttrInt("group", 1);
    Geometry g;
    if (!MakeGeometry(n, x, w.dims[2], w.dims[3], &g, error)) return false;
    const int64_t m = w.dims[0], cg = w.dims[1], mg = m / group;
    if (cg * group != g.c) {
      *error = "node '" + n.name + "' (Conv): weights " + DimsStr(w.dims) + " do not match input " +
               DimsStr(x.dims);
      return false;
    }
    out->dims = {g.n, m, g.oh, g.ow};
    out->data.assign(size_t(Count(out->dims)), 0.f);
    for (int64_t ni = 0; ni < g.n; ni++)
      for (int64_t o = 0; o < m; o++) {
        const int64_t gi = o / mg;
        for (int64_t oy = 0; oy < g.oh; oy++)
          for (int64_t ox = 0; ox < g.ow; ox++) {
            double acc = b ? b->data[size_t(o)] : 0.0;
            for (int64_t ci = 0; ci < cg; ci++) {
              const int64_t c = gi * cg + ci;
              for (int64_t ky = 0; ky < g.kh; ky++) {
                const int64_t iy = oy * g.sh + ky * g.dh - g.pt;
                if (iy < 0 || iy >= g.h) continue;
                for (int64_t kx = 0; kx < g.kw; kx++) {
                  const int64_t ix = ox * g.sw + kx * g.dw - g.pl;
                  if (ix < 0 || ix >= g.w) continue;
                  acc += double(x.data[size_t(((ni * g.c + c) * g.h + iy) * g.w + ix)]) *
                         w.data[size_t(((o * cg + ci) * g.kh + ky) * g.kw + kx)];
                }
              }
            }
            out->data[size_t(((ni * m + o) * g.oh + oy) * g.ow + ox)] = float(acc);
          }
      }
    return true;
  }

  bool Gemm(const Node& n, const std::vector<const RefTensor*>& in, RefTensor* out,
            std::string* error) {
    // MatMul of two activations: [..., M, K] x [..., K, N], batch by batch.
    if (n.op_type == "MatMul" && in.size() >= 2 && in[1] && in[1]->dims.size() > 2 &&
        in[1]->dims.size() == in[0]->dims.size()) {
      const RefTensor &a = *in[0], &b = *in[1];
      const size_t r = a.dims.size();
      const int64_t M = a.dims[r - 2], K = a.dims[r - 1], N = b.dims[r - 1];
      bool ok = b.dims[r - 2] == K;
      for (size_t d = 0; ok && d + 2 < r; d++) ok = a.dims[d] == b.dims[d];
      if (!ok) {
        *error = "node '" + n.name + "': shapes " + DimsStr(a.dims) + " and " + DimsStr(b.dims) +
                 " do not multiply";
        return false;
      }
      const int64_t batch = M * K != 0 ? Count(a.dims) / (M * K) : 0;
      out->dims = a.dims;
      out->dims[r - 1] = N;
      out->data.assign(size_t(batch * M * N), 0.f);
      for (int64_t bi = 0; bi < batch; bi++)
        for (int64_t i = 0; i < M; i++)
          for (int64_t j = 0; j < N; j++) {
            double acc = 0;
            for (int64_t k = 0; k < K; k++)
              acc += double(a.data[size_t((bi * M + i) * K + k)]) *
                     b.data[size_t((bi * K + k) * N + j)];
            out->data[size_t((bi * M + i) * N + j)] = float(acc);
          }
      return true;
    }
    if (in.size() < 2 || !in[1] || in[1]->dims.size() != 2 || in[0]->dims.size() < 2) {
      *error = "node '" + n.name + "' (" + n.op_type + "): only [.., M, K] x [K, N] is evaluated";
      return false;
    }
    const RefTensor &a = *in[0], &b = *in[1];
    const bool gemm = n.op_type == "Gemm";
    const bool ta = gemm && n.AttrInt("transA", 0), tb = gemm && n.AttrInt("transB", 0);
    const float alpha = gemm ? n.AttrFloat("alpha", 1.f) : 1.f;
    const float beta = gemm ? n.AttrFloat("beta", 1.f) : 1.f;
    const size_t r = a.dims.size();
    const int64_t M = ta ? a.dims[r - 1] : a.dims[r - 2], K = ta ? a.dims[r - 2] : a.dims[r - 1];
    const int64_t N = tb ? b.dims[0] : b.dims[1];
    if ((tb ? b.dims[1] : b.dims[0]) != K || (gemm && r != 2)) {
      *error = "node '" + n.name + "': shapes " + DimsStr(a.dims) + " and " + DimsStr(b.dims) +
               " do not multiply";
      return false;
    }
    const int64_t batch = Count(a.dims) / (M * K);
    out->dims = a.dims;
    out->dims[r - 2] = M;
    out->dims[r - 1] = N;
    out->data.assign(size_t(batch * M * N), 0.f);
    for (int64_t bi = 0; bi < batch; bi++)
      for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
          double acc = 0;
          for (int64_t k = 0; k < K; k++) {
            const float av = a.data[size_t(bi * M * K + (ta ? k * M + i : i * K + k))];
            const float bv = b.data[size_t(tb ? j * K + k : k * N + j)];
            acc += double(av) * bv;
          }
          out->data[size_t((bi * M + i) * N + j)] = float(acc) * alpha;
        }
    if (gemm && in.size() > 2 && in[2]) {
      RefTensor c = *in[2];
      for (float& v : c.data) v *= beta;
      RefTensor sum;
      if (!Broadcast(*out, c, &sum, [](float x, float y) { return x + y; })) {
        *error = "node '" + n.name + "': the bias does not broadcast";
        return false;
      }
      *out = std::move(sum);
    }
    return true;
  }

  bool Pool(const Node& n, const RefTensor& x, RefTensor* out, std::string* error) {
    const bool global = n.op_type == "GlobalAveragePool";
    const bool max = n.op_type == "MaxPool";
    if (x.dims.size() != 4) {
      *error = "node '" + n.name + "': only NCHW pooling is evaluated";
      return false;
    }
    std::vector<int64_t> k =
        global ? std::vector<int64_t>{x.dims[2], x.dims[3]} : n.AttrInts("kernel_shape");
    if (k.size() != 2) {
      *error = "node '" + n.name + "': a 2-D kernel_shape is needed";
      return false;
    }
    Geometry g;
    if (global) {
      g = Geometry{x.dims[0], x.dims[1], x.dims[2], x.dims[3], 1, 1, k[0], k[1], 1, 1, 1, 1, 0, 0};
    } else if (!MakeGeometry(n, x, k[0], k[1], &g, error)) {
      return false;
    }
    if (!max) g.dh = g.dw = 1;
    const bool include_pad = n.AttrInt("count_include_pad", 0) != 0;
    std::vector<int64_t> p = n.AttrInts("pads");
    const int64_t pb = p.size() == 4 ? p[2] : 0, pr = p.size() == 4 ? p[3] : 0;
    out->dims = {g.n, g.c, g.oh, g.ow};
    out->data.assign(size_t(Count(out->dims)), 0.f);
    for (int64_t nc = 0; nc < g.n * g.c; nc++)
      for (int64_t oy = 0; oy < g.oh; oy++)
        for (int64_t ox = 0; ox < g.ow; ox++) {
          double acc = max ? -INFINITY : 0.0;
          int64_t cnt = 0, padded = 0;
          for (int64_t ky = 0; ky < g.kh; ky++)
            for (int64_t kx = 0; kx < g.kw; kx++) {
              const int64_t iy = oy * g.sh + ky * g.dh - g.pt, ix = ox * g.sw + kx * g.dw - g.pl;
              // count_include_pad counts the declared pads, not the ceil_mode overhang.
              if (iy >= -g.pt && iy < g.h + pb && ix >= -g.pl && ix < g.w + pr) padded++;
              if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
              const float v = x.data[size_t((nc * g.h + iy) * g.w + ix)];
              acc = max ? std::max(acc, double(v)) : acc + v;
              cnt++;
            }
          if (!max) acc /= double(include_pad ? padded : std::max<int64_t>(cnt, 1));
          out->data[size_t((nc * g.oh + oy) * g.ow + ox)] = float(acc);
        }
    return true;
  }

  // ONNX Resize of H and W (nearest / linear), in float as ONNX Runtime computes it.
  bool Resize(const Node& n, const std::vector<const RefTensor*>& in, RefTensor* out,
              std::string* error) {
    const RefTensor& x = *in[0];
    auto fail = [&](const std::string& why) {
      *error = "node '" + n.name + "' (Resize): " + why;
      return false;
    };
    if (x.dims.size() != 4) return fail("only NCHW inputs are evaluated");
    const RefTensor* sc = in.size() > 2 ? in[2] : nullptr;
    const RefTensor* sz = in.size() > 3 ? in[3] : nullptr;
    const int64_t h = x.dims[2], w = x.dims[3];
    int64_t oh, ow;
    float sh, sw;
    if (sc && sc->data.size() == 4) {
      sh = sc->data[2];
      sw = sc->data[3];
      oh = int64_t(sh * float(h));
      ow = int64_t(sw * float(w));
    } else if (sz && sz->data.size() == 4) {
      oh = int64_t(sz->data[2]);
      ow = int64_t(sz->data[3]);
      sh = float(oh) / float(h);
      sw = float(ow) / float(w);
    } else {
      return fail("needs 4 scales or 4 sizes");
    }
    if (h < 1 || w < 1 || oh < 1 || ow < 1) return fail("empty input or output");
    const bool linear = n.AttrString("mode", "nearest") == "linear";
    const std::string coord = n.AttrString("coordinate_transformation_mode", "half_pixel");
    const std::string nearest = n.AttrString("nearest_mode", "round_prefer_floor");
    auto source = [&](int64_t o, float scale, int64_t out_len, int64_t in_len) -> float {
      const float xo = float(o);
      if (scale == 1.f) return xo;
      if (coord == "asymmetric") return xo / scale;
      if (coord == "align_corners")
        return out_len == 1 ? 0.f : xo * float(in_len - 1) / float(out_len - 1);
      if (coord == "pytorch_half_pixel") return out_len > 1 ? (xo + 0.5f) / scale - 0.5f : 0.f;
      return ((xo + 0.5f) / scale) - 0.5f;
    };
    // Nearest: in double, the scale the exact ratio out / in when the float scale is that ratio
    // (ONNX Runtime 1.30's choice at exact .5 ties).
    auto exact = [&](int64_t o, float scale, int64_t out_len, int64_t in_len) -> double {
      const double xo = double(o);
      if (scale == 1.f) return xo;
      const double s = float(out_len) / float(in_len) == scale ? double(out_len) / double(in_len)
                                                               : double(scale);
      if (coord == "asymmetric") return xo / s;
      if (coord == "align_corners")
        return out_len == 1 ? 0.0 : xo * double(in_len - 1) / double(out_len - 1);
      if (coord == "pytorch_half_pixel") return out_len > 1 ? (xo + 0.5) / s - 0.5 : 0.0;
      return ((xo + 0.5) / s) - 0.5;
    };
    auto pick = [&](double v, int64_t in_len) -> int64_t {
      int64_t i;
      if (nearest == "round_prefer_ceil")
        i = int64_t(std::round(v));
      else if (nearest == "floor")
        i = int64_t(std::floor(v));
      else if (nearest == "ceil")
        i = int64_t(std::ceil(v));
      else
        i = v == std::floor(v) + 0.5 ? int64_t(std::floor(v)) : int64_t(std::round(v));
      return std::min(std::max<int64_t>(i, 0), in_len - 1);
    };
    out->dims = {x.dims[0], x.dims[1], oh, ow};
    out->data.assign(size_t(Count(out->dims)), 0.f);
    for (int64_t nc = 0; nc < x.dims[0] * x.dims[1]; nc++) {
      const float* p = x.data.data() + nc * h * w;
      for (int64_t oy = 0; oy < oh; oy++)
        for (int64_t ox = 0; ox < ow; ox++) {
          const float fy = source(oy, sh, oh, h), fx = source(ox, sw, ow, w);
          float v;
          if (!linear) {
            v = p[pick(exact(oy, sh, oh, h), h) * w + pick(exact(ox, sw, ow, w), w)];
          } else {
            const float cy = std::max(0.f, std::min(fy, float(h - 1)));
            const float cx = std::max(0.f, std::min(fx, float(w - 1)));
            const int64_t y1 = std::min(int64_t(cy), h - 1), y2 = std::min(y1 + 1, h - 1);
            const int64_t x1 = std::min(int64_t(cx), w - 1), x2 = std::min(x1 + 1, w - 1);
            float dy1 = std::fabs(cy - float(y1)), dy2 = std::fabs(cy - float(y2));
            float dx1 = std::fabs(cx - float(x1)), dx2 = std::fabs(cx - float(x2));
            if (y1 == y2) dy1 = dy2 = 0.5f;
            if (x1 == x2) dx1 = dx2 = 0.5f;
            v = dx2 * dy2 * p[y1 * w + x1] + dx1 * dy2 * p[y1 * w + x2] +
                dx2 * dy1 * p[y2 * w + x1] + dx1 * dy1 * p[y2 * w + x2];
          }
          out->data[size_t((nc * oh + oy) * ow + ox)] = v;
        }
    }
    return true;
  }

  const Graph& g_;
  std::set<std::string> index_;              // outputs of arithmetic on shapes
  std::map<std::string, IndexValue> ivals_;  // ... evaluated
  IndexLookup lookup_;
  const ReferenceOptions& opt_;
  std::map<std::string, RefTensor>& v_;
  std::map<std::string, RefTensor> consts_;
};

}  // namespace

bool PrepareReferenceGraph(const onnx::ModelProto& model, Graph* g,
                           std::vector<std::string>* problems) {
  Diagnostics diag;
  ImportModel(model, g, &diag);
  CheckGraphStructure(*g, &diag);
  ConstantsToInitializers(g, &diag);
  RemoveIdentity(g, &diag);
  LowerQonnx(g, &diag);
  LowerQOperator(g, &diag);
  FoldBlockedDequantize(g, &diag);  // blocked weights: the float values they stand for
  FoldBinaryWeights(g, &diag);
  *problems = diag.problems();
  return diag.ok();
}

bool RunReference(const Graph& g, const std::map<std::string, RefTensor>& inputs,
                  std::map<std::string, RefTensor>* values, std::string* error,
                  const ReferenceOptions& options) {
  values->clear();
  for (const ValueInfo& vi : g.inputs) {
    auto it = inputs.find(vi.name);
    if (it == inputs.end()) {
      *error = "no data for the graph input '" + vi.name + "'";
      return false;
    }
    (*values)[vi.name] = it->second;
  }
  // QuantizeLinear's round half to even is std::nearbyint's in the default rounding mode.
  const int mode = std::fegetround();
  std::fesetround(FE_TONEAREST);
  Executor ex(g, options, values);
  bool ok = true;
  for (const Node& n : g.nodes) {
    if (!ex.Run(n, error)) {
      ok = false;
      break;
    }
  }
  std::fesetround(mode);
  return ok;
}

bool QuantizerStep(const Graph& g, const std::string& value, bool* is_codes, float* scale,
                   int64_t* zero_point) {
  const int p = g.Producer(value);
  if (p < 0) return false;
  const Node& n = g.nodes[size_t(p)];
  if (n.op_type != "QuantizeLinear" && n.op_type != "DequantizeLinear") return false;
  const Const* s = g.FindConst(n.Input(1));
  const Const* z = n.Input(2).empty() ? nullptr : g.FindConst(n.Input(2));
  if (!s || s->type != kFloat || s->f.size() != 1 || (z && z->size() != 1)) return false;
  *is_codes = n.op_type == "QuantizeLinear";
  *scale = s->f[0];
  *zero_point = z ? int64_t(z->at(0)) : 0;
  return true;
}

}  // namespace cv
}  // namespace crumb
