// Fuzz target: bytes -> the converter's ONNX parse, import, passes, packing and FlatBuffer
// serialization, all in memory (cv::ConvertOnnxBytes, what crumb-convert runs). Any input must
// end in a model or in a list of problems. A model the converter accepts must also load in the
// runtime: a converter that writes a file its own runtime rejects is a bug too.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "converter/converter.h"
#include "crumb/crumb.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  const crumb::cv::ConvertResult r = crumb::cv::ConvertOnnxBytes(bytes, {});
  if (!r.ok) return 0;
  crumb_model* model = crumb_model_create_from_buffer(r.bytes.data(), r.bytes.size());
  if (!model) {
    std::fprintf(stderr, "the converter wrote a model the runtime rejects: %s\n",
                 crumb_last_error());
    std::abort();
  }
  crumb_model_delete(model);
  return 0;
}
