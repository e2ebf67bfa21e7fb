// Kernel parameters every op derives the same way from the model's tensors.
#pragma once

#include "interpreter.h"
#include "kernels/common/params.h"

namespace crumb::rt {

inline uint32_t ElemType(const TensorDesc& d) {
  if (d.is_float) return CRUMB_ELEM_F32;
  return d.encoding == kUnsigned ? CRUMB_ELEM_U8 : CRUMB_ELEM_S8;
}

// M = (float)((double)s_in / (double)s_out): schema/README.md fixes this computation.
inline float Multiplier(float s_in, float s_out) { return (float)((double)s_in / (double)s_out); }

inline crumb_output_params OutputParams(const OpContext& ctx) {
  const TensorDesc& out = ctx.OutDesc();
  crumb_output_params p;
  p.type = ElemType(out);
  p.zero_point = out.is_float ? 0 : out.zero_points[0];
  p.qmin = ctx.desc.clamp.qmin;
  p.qmax = ctx.desc.clamp.qmax;
  p.fmin = ctx.desc.clamp.fmin;
  p.fmax = ctx.desc.clamp.fmax;
  return p;
}

}  // namespace crumb::rt
