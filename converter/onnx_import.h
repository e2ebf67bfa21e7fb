// ONNX protobuf -> converter IR.
#pragma once

#include <string>

#include "converter/diagnostics.h"
#include "converter/ir.h"

namespace onnx {
class ModelProto;
class TensorProto;
}  // namespace onnx

namespace crumb {
namespace cv {

// Reads the model's main graph. Problems (unsupported data types, external data, malformed
// tensors) go to `diag`; the import continues past them.
void ImportModel(const onnx::ModelProto& model, Graph* g, Diagnostics* diag);

// Decodes one TensorProto, including the sub-byte types (UINT4/INT4/UINT2/INT2, packed LSB first
// in raw_data, or one packed byte per int32_data entry). Returns false with `error` set on an
// unsupported type or malformed data.
bool DecodeTensor(const onnx::TensorProto& t, Const* out, std::string* error);

// False for an external-data location that could leave the model's folder: empty, absolute
// ('/', '\\', a drive letter) or with a '..' component. crumb-convert refuses external data in any
// case; these get their own message.
bool ExternalPathIsSafe(const std::string& location);

}  // namespace cv
}  // namespace crumb
