// Scalar pooling kernels on NHWC codes.
#include <stdint.h>

#include "kernels/common/requant.h"
#include "kernels/scalar/scalar.h"

namespace {

template <typename TI>
void MaxPool(size_t output_pixels, size_t ks, size_t channels, const void** input,
             size_t input_offset, void* output, size_t output_stride,
             const crumb_requant_params* params) {
  for (size_t p = 0; p < output_pixels; p++) {
    void* out = static_cast<uint8_t*>(output) + p * output_stride;
    const void* const* taps = input + p * ks;
    for (size_t c = 0; c < channels; c++) {
      bool any = false;
      int32_t m = 0;
      for (size_t t = 0; t < ks; t++) {
        if (taps[t] == nullptr) continue;
        const TI* row =
            reinterpret_cast<const TI*>(static_cast<const uint8_t*>(taps[t]) + input_offset);
        const int32_t q = row[c];
        if (!any || q > m) m = q;
        any = true;
      }
      const float y = any ? (float)(m - params->in_zero_point) * params->scale : 0.0f;
      crumb_store_output(y, &params->out, out, c);
    }
  }
}

template <typename TI>
void AvgPool(size_t output_pixels, size_t ks, size_t channels, const void** input,
             size_t input_offset, const int32_t* divisor, void* output, size_t output_stride,
             const crumb_requant_params* params) {
  for (size_t p = 0; p < output_pixels; p++) {
    void* out = static_cast<uint8_t*>(output) + p * output_stride;
    const void* const* taps = input + p * ks;
    for (size_t c = 0; c < channels; c++) {
      int32_t acc = 0;
      for (size_t t = 0; t < ks; t++) {
        if (taps[t] == nullptr) continue;
        const TI* row =
            reinterpret_cast<const TI*>(static_cast<const uint8_t*>(taps[t]) + input_offset);
        acc += (int32_t)row[c] - params->in_zero_point;
      }
      const float y = divisor[p] == 0 ? 0.0f : (float)acc * params->scale / (float)divisor[p];
      crumb_store_output(y, &params->out, out, c);
    }
  }
}

template <typename TI>
void GAvgPool(size_t rows, size_t channels, const void* input, size_t input_stride, void* output,
              const crumb_requant_params* params, int32_t* scratch) {
  for (size_t c = 0; c < channels; c++) scratch[c] = 0;
  for (size_t r = 0; r < rows; r++) {
    const TI* row =
        reinterpret_cast<const TI*>(static_cast<const uint8_t*>(input) + r * input_stride);
    for (size_t c = 0; c < channels; c++) scratch[c] += (int32_t)row[c] - params->in_zero_point;
  }
  for (size_t c = 0; c < channels; c++) {
    const float y = rows == 0 ? 0.0f : (float)scratch[c] * params->scale / (float)rows;
    crumb_store_output(y, &params->out, output, c);
  }
}

}  // namespace

extern "C" void crumb_q8_maxpool_ukernel__scalar(size_t output_pixels, size_t ks, size_t channels,
                                                 const void** input, size_t input_offset,
                                                 void* output, size_t output_stride,
                                                 const crumb_requant_params* params) {
  if (params->in_type == CRUMB_ELEM_U8) {
    MaxPool<uint8_t>(output_pixels, ks, channels, input, input_offset, output, output_stride,
                     params);
  } else {
    MaxPool<int8_t>(output_pixels, ks, channels, input, input_offset, output, output_stride,
                    params);
  }
}

extern "C" void crumb_q8_avgpool_ukernel__scalar(size_t output_pixels, size_t ks, size_t channels,
                                                 const void** input, size_t input_offset,
                                                 const int32_t* divisor, void* output,
                                                 size_t output_stride,
                                                 const crumb_requant_params* params) {
  if (params->in_type == CRUMB_ELEM_U8) {
    AvgPool<uint8_t>(output_pixels, ks, channels, input, input_offset, divisor, output,
                     output_stride, params);
  } else {
    AvgPool<int8_t>(output_pixels, ks, channels, input, input_offset, divisor, output,
                    output_stride, params);
  }
}

extern "C" void crumb_q8_gavgpool_ukernel__scalar(size_t rows, size_t channels, const void* input,
                                                  size_t input_stride, void* output,
                                                  const crumb_requant_params* params,
                                                  int32_t* scratch) {
  if (params->in_type == CRUMB_ELEM_U8) {
    GAvgPool<uint8_t>(rows, channels, input, input_stride, output, params, scratch);
  } else {
    GAvgPool<int8_t>(rows, channels, input, input_stride, output, params, scratch);
  }
}
