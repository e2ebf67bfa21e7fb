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

void Mul(int count, const int32_t* a, int32_t za, const int32_t* b, int32_t zb, float m,
         const Output& out, int32_t* q) {
  for (int i = 0; i < count; i++) {
    const int32_t acc = (a[i] - za) * (b[i] - zb);
    q[i] = Requantize((float)acc * m, out.zero_point, out.qmin, out.qmax);
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

// ONNX's coordinate_transformation_mode: the input coordinate of output coordinate x.
static float ResizeSource(int mode, int x, float scale, int out_len, int in_len) {
  const float xf = (float)x;
  if (scale == 1.f) return xf;  // ONNX Runtime: no transform at scale 1
  switch (mode) {
    case 1:  // asymmetric
      return xf / scale;
    case 2:  // align_corners
      return out_len == 1 ? 0.f : xf * (float)(in_len - 1) / (float)(out_len - 1);
    case 3:  // pytorch_half_pixel
      return out_len > 1 ? (xf + 0.5f) / scale - 0.5f : 0.f;
    default:  // half_pixel
      return ((xf + 0.5f) / scale) - 0.5f;
  }
}

// Nearest: the input coordinate in double, with the exact ratio out / in as the scale when the
// float scale is that ratio (as ONNX Runtime picks at exact .5 ties).
static double ResizeSourceExact(int mode, int x, float scale, int out_len, int in_len) {
  const double xd = (double)x;
  if (scale == 1.f) return xd;
  const double s = (float)out_len / (float)in_len == scale ? (double)out_len / in_len : scale;
  switch (mode) {
    case 1:
      return xd / s;
    case 2:
      return out_len == 1 ? 0.0 : xd * (in_len - 1) / (out_len - 1);
    case 3:
      return out_len > 1 ? (xd + 0.5) / s - 0.5 : 0.0;
    default:
      return ((xd + 0.5) / s) - 0.5;
  }
}

// ONNX's nearest_mode, then clamped into the input.
static int ResizeNearest(int mode, double v, int in_len) {
  int64_t i;
  switch (mode) {
    case 1:  // round_prefer_ceil: round half away from zero
      i = (int64_t)round(v);
      break;
    case 2:
      i = (int64_t)floor(v);
      break;
    case 3:
      i = (int64_t)ceil(v);
      break;
    default:  // round_prefer_floor
      i = v == floor(v) + 0.5 ? (int64_t)floor(v) : (int64_t)round(v);
      break;
  }
  return (int)std::min<int64_t>(std::max<int64_t>(i, 0), in_len - 1);
}

void Resize(const Resize2D& d, const int32_t* x, int32_t zx, float sx, float s_out,
            const Output& out, int32_t* q) {
  auto at = [&](int n, int c, int y, int xx) {
    return (float)(x[(((int64_t)n * d.c + c) * d.h + y) * d.w + xx] - zx) * sx;
  };
  for (int n = 0; n < d.n; n++) {
    for (int c = 0; c < d.c; c++) {
      for (int oy = 0; oy < d.oh; oy++) {
        for (int ox = 0; ox < d.ow; ox++) {
          const float fy = ResizeSource(d.coordinates, oy, d.scale_h, d.oh, d.h);
          const float fx = ResizeSource(d.coordinates, ox, d.scale_w, d.ow, d.w);
          float v;
          if (!d.linear) {
            const double ey = ResizeSourceExact(d.coordinates, oy, d.scale_h, d.oh, d.h);
            const double ex = ResizeSourceExact(d.coordinates, ox, d.scale_w, d.ow, d.w);
            v = at(n, c, ResizeNearest(d.nearest, ey, d.h), ResizeNearest(d.nearest, ex, d.w));
          } else {
            // Bilinear: the two neighbours along each axis and their distances (0.5 / 0.5 where
            // both neighbours are the same pixel), clamped into the input.
            const float cy = std::max(0.f, std::min(fy, (float)(d.h - 1)));
            const float cx = std::max(0.f, std::min(fx, (float)(d.w - 1)));
            const int y1 = std::min((int)cy, d.h - 1), y2 = std::min(y1 + 1, d.h - 1);
            const int x1 = std::min((int)cx, d.w - 1), x2 = std::min(x1 + 1, d.w - 1);
            float dy1 = fabsf(cy - (float)y1), dy2 = fabsf(cy - (float)y2);
            float dx1 = fabsf(cx - (float)x1), dx2 = fabsf(cx - (float)x2);
            if (y1 == y2) dy1 = dy2 = 0.5f;
            if (x1 == x2) dx1 = dx2 = 0.5f;
            v = dx2 * dy2 * at(n, c, y1, x1) + dx1 * dy2 * at(n, c, y1, x2) +
                dx2 * dy1 * at(n, c, y2, x1) + dx1 * dy1 * at(n, c, y2, x2);
          }
          q[(((int64_t)n * d.c + c) * d.oh + oy) * d.ow + ox] =
              Requantize(v / s_out, out.zero_point, out.qmin, out.qmax);
        }
      }
    }
  }
}

float ElementwiseMultiplier(float s_in, float s_out) {
  return (float)((double)s_in / (double)s_out);
}

}  // namespace ref
}  // namespace crumb
