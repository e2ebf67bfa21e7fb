// Targets without SIMD kernels of the elementwise family: the list is empty there.
#include "kernels/elementwise/elementwise.h"
