// Reference implementations of schema/README.md's op semantics: obviously-correct loops on
// unpacked int32 codes in the logical NCHW order. The test oracle; never linked into libcrumb.
#pragma once

#include <stdint.h>

#include <vector>

namespace crumb {
namespace ref {

// Where an op's result goes: codes with the requantizing epilogue E, or float values.
struct Output {
  bool is_float = false;
  int32_t zero_point = 0;
  int32_t qmin = -128;
  int32_t qmax = 127;
  float fmin = -__builtin_inff();
  float fmax = __builtin_inff();
};

// E(y) of schema/README.md.
int32_t Requantize(float y, int32_t zero_point, int32_t qmin, int32_t qmax);

struct Conv2D {
  int n = 1, c = 1, h = 1, w = 1;  // input
  int cout = 1, kh = 1, kw = 1;
  int stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int groups = 1;
  int OutH() const { return (h + pad_top + pad_bottom - dilation_h * (kh - 1) - 1) / stride_h + 1; }
  int OutW() const { return (w + pad_left + pad_right - dilation_w * (kw - 1) - 1) / stride_w + 1; }
};

// x: [n, c, h, w] codes; weights: [cout, c / groups, kh, kw] values (already decoded: bipolar
// codes as -1/+1); zw, mul, add: [cout]. Writes [n, cout, oh, ow] to q (codes) or f (floats).
void Conv(const Conv2D& d, const int32_t* x, int32_t zx, const int32_t* weights, const int32_t* zw,
          const float* mul, const float* add, const Output& out, int32_t* q, float* f);

// x: [m, k]; weights: [n, k]; out [m, n].
void FullyConnected(int m, int n, int k, const int32_t* x, int32_t zx, const int32_t* weights,
                    const int32_t* zw, const float* mul, const float* add, const Output& out,
                    int32_t* q, float* f);

struct Pool2D {
  int n = 1, c = 1, h = 1, w = 1;
  int kh = 1, kw = 1;
  int stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  bool ceil_mode = false;
  bool count_include_pad = false;
  int OutH() const;
  int OutW() const;
};

// Output size of one pooled dimension (ONNX / PyTorch: with ceil_mode a window that would start
// in the trailing padding is dropped).
int PoolOutSize(int in, int k, int stride, int dilation, int pad0, int pad1, bool ceil_mode);

void MaxPool(const Pool2D& d, const int32_t* x, int32_t zx, float scale, const Output& out,
             int32_t* q);
void AveragePool(const Pool2D& d, const int32_t* x, int32_t zx, float scale, const Output& out,
                 int32_t* q);
// x: [n, c, h, w]; out [n, c].
void GlobalAveragePool(int n, int c, int hw, const int32_t* x, int32_t zx, float scale,
                       const Output& out, int32_t* q);

// q = E(float((a - za) * (b - zb)) * m), the product in int32.
void Mul(int count, const int32_t* a, int32_t za, const int32_t* b, int32_t zb, float m,
         const Output& out, int32_t* q);
void Add(int count, const int32_t* a, int32_t za, float ma, const int32_t* b, int32_t zb, float mb,
         const Output& out, int32_t* q);
void Requantize(int count, const int32_t* x, int32_t zx, float scale, const Output& out,
                int32_t* q);
void Quantize(int count, const float* x, float scale, const Output& out, int32_t* q);
void Dequantize(int count, const int32_t* x, int32_t zx, float scale, float* f);

// RESIZE of schema/README.md (ONNX Resize of H and W, as ONNX Runtime computes it for
// DequantizeLinear -> Resize -> QuantizeLinear): x [n, c, h, w] codes -> q [n, c, oh, ow] codes.
struct Resize2D {
  int n = 1, c = 1, h = 1, w = 1, oh = 1, ow = 1;
  bool linear = false;  // else nearest
  int coordinates = 0;  // schema ResizeCoordinates
  int nearest = 0;      // schema ResizeNearest
  float scale_h = 1.f, scale_w = 1.f;
};
void Resize(const Resize2D& d, const int32_t* x, int32_t zx, float sx, float s_out,
            const Output& out, int32_t* q);

// M = (float)((double)s_in / (double)s_out), as the runtime computes it.
float ElementwiseMultiplier(float s_in, float s_out);

}  // namespace ref
}  // namespace crumb
