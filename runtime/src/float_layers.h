// Float layers: CONV_2D / FULLY_CONNECTED version 2 (schema/README.md), on XNNPACK's fp32
// operators when the runtime is built with them (CRUMB_USE_XNNPACK), else on a plain loop.
#pragma once

#include <memory>

#include "interpreter.h"

namespace crumb::rt {

std::unique_ptr<Op> CreateFloatLayer(const OpDesc& desc, const KernelTable& kernels);

}  // namespace crumb::rt
