#include "kernels/reference/reference.h"

#include <math.h>

#include <algorithm>

namespace crumb {
namespace ref {

int32_t Requantize(float y, int32_t zero_point, int32_t qmin, int32_t qmax) {
  if (isnan(y)) return std::min(std::max(zero_point, qmin), qmax);
  float v = y;
  v = std::max(v, (float)(qmin - zero_point));
  v = std::min(v, (float)(qmax - zero_point));
  // Round half to even on the (exact) double of v.
  double r = floor((double)v);
  const double frac = (double)v - r;
  if (frac > 0.5 || (frac == 0.5 && fmod(r, 2.0) != 0.0)) r += 1.0;
  return (int32_t)r + zero_point;
}

static void Emit(float y, const Output& out, int64_t i, int32_t* q, float* f) {
  if (out.is_float) {
    f[i] = std::min(std::max(y, out.fmin), out.fmax);
  } else {
    q[i] = Requantize(y, out.zero_point, out.qmin, out.qmax);
  }
}

void Conv(const Conv2D& d, const int32_t* x, int32_t zx, const int32_t* weights, const int32_t* zw,
          const float* mul, const float* add, const Output& out, int32_t* q, float* f) {
  const int oh = d.OutH(), ow = d.OutW();
  const int cin_g = d.c / d.groups, cout_g = d.cout / d.groups;
  for (int n = 0; n < d.n; n++) {
    for (int o = 0; o < d.cout; o++) {
      const int g = o / cout_g;
      for (int y = 0; y < oh; y++) {
        for (int xo = 0; xo < ow; xo++) {
          int64_t acc = 0;
          for (int ci = 0; ci < cin_g; ci++) {
            for (int ky = 0; ky < d.kh; ky++) {
              for (int kx = 0; kx < d.kw; kx++) {
                const int iy = y * d.stride_h - d.pad_top + ky * d.dilation_h;
                const int ix = xo * d.stride_w - d.pad_left + kx * d.dilation_w;
                if (iy < 0 || iy >= d.h || ix < 0 || ix >= d.w) continue;  // padding adds 0
                const int c = g * cin_g + ci;
                const int64_t a = x[((int64_t)(n * d.c + c) * d.h + iy) * d.w + ix] - zx;
                const int64_t wv =
                    weights[(((int64_t)o * cin_g + ci) * d.kh + ky) * d.kw + kx] - zw[o];
                acc += a * wv;
              }
            }
          }
          const float y_real = (float)(int32_t)(uint32_t)(uint64_t)acc * mul[o] + add[o];
          Emit(y_real, out, (((int64_t)n * d.cout + o) * oh + y) * ow + xo, q, f);
        }
      }
    }
  }
}

void FullyConnected(int m, int n, int k, const int32_t* x, int32_t zx, const int32_t* weights,
                    const int32_t* zw, const float* mul, const float* add, const Output& out,
                    int32_t* q, float* f) {
  for (int i = 0; i < m; i++) {
    for (int j = 0; j < n; j++) {
      int64_t acc = 0;
      for (int kk = 0; kk < k; kk++) {
        acc += (int64_t)(x[(int64_t)i * k + kk] - zx) * (weights[(int64_t)j * k + kk] - zw[j]);
      }
      const float y = (float)(int32_t)(uint32_t)(uint64_t)acc * mul[j] + add[j];
      Emit(y, out, (int64_t)i * n + j, q, f);
    }
  }
}

int PoolOutSize(int in, int k, int stride, int dilation, int pad0, int pad1, bool ceil_mode) {
  const int span = in + pad0 + pad1 - dilation * (k - 1) - 1;
  int o = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
  if (ceil_mode && (o - 1) * stride >= in + pad0) o--;
  return o;
}

int Pool2D::OutH() const {
  return PoolOutSize(h, kh, stride_h, dilation_h, pad_top, pad_bottom, ceil_mode);
}
int Pool2D::OutW() const {
  return PoolOutSize(w, kw, stride_w, dilation_w, pad_left, pad_right, ceil_mode);
}

template <typename F>
static void ForEachWindow(const Pool2D& d, F&& f) {
  const int oh = d.OutH(), ow = d.OutW();
  for (int n = 0; n < d.n; n++)
    for (int c = 0; c < d.c; c++)
      for (int y = 0; y < oh; y++)
        for (int xo = 0; xo < ow; xo++) f(n, c, y, xo, (((int64_t)n * d.c + c) * oh + y) * ow + xo);
}

void MaxPool(const Pool2D& d, const int32_t* x, int32_t zx, float scale, const Output& out,
             int32_t* q) {
  ForEachWindow(d, [&](int n, int c, int y, int xo, int64_t o) {
    bool any = false;
    int32_t m = 0;
    for (int ky = 0; ky < d.kh; ky++) {
      for (int kx = 0; kx < d.kw; kx++) {
        const int iy = y * d.stride_h - d.pad_top + ky * d.dilation_h;
        const int ix = xo * d.stride_w - d.pad_left + kx * d.dilation_w;
        if (iy < 0 || iy >= d.h || ix < 0 || ix >= d.w) continue;
        const int32_t v = x[(((int64_t)n * d.c + c) * d.h + iy) * d.w + ix];
        m = any ? std::max(m, v) : v;
        any = true;
      }
    }
    const float yv = any ? (float)(m - zx) * scale : 0.0f;
    q[o] = Requantize(yv, out.zero_point, out.qmin, out.qmax);
  });
}

void AveragePool(const Pool2D& d, const int32_t* x, int32_t zx, float scale, const Output& out,
                 int32_t* q) {
  ForEachWindow(d, [&](int n, int c, int y, int xo, int64_t o) {
    int32_t acc = 0, valid = 0, inside_padded = 0;
    for (int ky = 0; ky < d.kh; ky++) {
      for (int kx = 0; kx < d.kw; kx++) {
        const int iy = y * d.stride_h - d.pad_top + ky * d.dilation_h;
        const int ix = xo * d.stride_w - d.pad_left + kx * d.dilation_w;
        if (iy >= -d.pad_top && iy < d.h + d.pad_bottom && ix >= -d.pad_left &&
            ix < d.w + d.pad_right) {
          inside_padded++;
        }
        if (iy < 0 || iy >= d.h || ix < 0 || ix >= d.w) continue;
        acc += x[(((int64_t)n * d.c + c) * d.h + iy) * d.w + ix] - zx;
        valid++;
      }
    }
    const int32_t div = d.count_include_pad ? inside_padded : valid;
    const float yv = div == 0 ? 0.0f : (float)acc * scale / (float)div;
    q[o] = Requantize(yv, out.zero_point, out.qmin, out.qmax);
  });
}

void GlobalAveragePool(int n, int c, int hw, const int32_t* x, int32_t zx, float scale,
                       const Output& out, int32_t* q) {
  for (int i = 0; i < n * c; i++) {
    int32_t acc = 0;
    for (int j = 0; j < hw; j++) acc += x[(int64_t)i * hw + j] - zx;
    const float y = (float)acc * scale / (float)hw;
    q[i] = Requantize(y, out.zero_point, out.qmin, out.qmax);
  }
}

void Add(int count, const int32_t* a, int32_t za, float ma, const int32_t* b, int32_t zb, float mb,
         const Output& out, int32_t* q) {
  for (int i = 0; i < count; i++) {
    const float pa = (float)(a[i] - za) * ma;
    const float pb = (float)(b[i] - zb) * mb;
    q[i] = Requantize(pa + pb, out.zero_point, out.qmin, out.qmax);
  }
}

void Requantize(int count, const int32_t* x, int32_t zx, float scale, const Output& out,
                int32_t* q) {
  for (int i = 0; i < count; i++) {
    q[i] = Requantize((float)(x[i] - zx) * scale, out.zero_point, out.qmin, out.qmax);
  }
}

void Quantize(int count, const float* x, float scale, const Output& out, int32_t* q) {
  for (int i = 0; i < count; i++)
    q[i] = Requantize(x[i] / scale, out.zero_point, out.qmin, out.qmax);
}

void Dequantize(int count, const int32_t* x, int32_t zx, float scale, float* f) {
  for (int i = 0; i < count; i++) f[i] = (float)(x[i] - zx) * scale;
}

float ElementwiseMultiplier(float s_in, float s_out) {
  return (float)((double)s_in / (double)s_out);
}

}  // namespace ref
}  // namespace crumb
