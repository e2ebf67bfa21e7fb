// crumb-run MODEL.crumb --input IN.bin [--input IN2.bin ...] [--input_shape 360,1,8,8]
//           --output OUT.bin [--labels LABELS.u8] [--isa=scalar] [--num_threads=N]
// Inputs and outputs are raw little-endian tensors in the model's declared (NCHW) layout:
// float32 for FLOAT32 tensors, one byte per code for QUANT tensors. Several outputs are written
// one after the other. The output file appears only when everything succeeded.
#include <stdio.h>
#include <string.h>

#include <memory>
#include <string>
#include <vector>

#include "crumb/crumb.hpp"
#include "tool_util.h"

namespace {

const char kUsage[] =
    "usage: crumb-run MODEL.crumb --input IN.bin [--input_shape N,C,H,W] --output OUT.bin\n"
    "                 [--labels LABELS.u8] [--isa=auto|scalar|avx2|avx512|neon|neondot]\n"
    "                 [--num_threads=N] [--cpu_mask=0x3 | --cpu_preset=all|big|little]\n"
    "                 [--memory_limit=BYTES (K, M, G suffixes; 0: no limit)]\n";

int Fail(const std::string& message) {
  fprintf(stderr, "crumb-run: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  crumb_tools::Args args(argc, argv,
                         {"input", "input_shape", "output", "labels", "isa", "num_threads",
                          "cpu_mask", "cpu_preset", "memory_limit", "help"},
                         {"help"});
  if (args.Has("help")) {
    fputs(kUsage, stdout);
    return 0;
  }
  if (!args.ok()) return Fail(args.error() + "\n" + kUsage);
  if (args.positional().size() != 1)
    return Fail(std::string("expected one model file.\n") + kUsage);
  const std::vector<std::string> inputs = args.GetAll("input");
  const std::string output = args.Get("output");
  if (inputs.empty() || output.empty()) {
    return Fail(std::string("--input and --output are required.\n") + kUsage);
  }
  crumb::Model model = crumb::Model::FromFile(args.positional()[0].c_str());
  if (!model) return Fail(crumb_last_error());
  crumb::Interpreter interp;
  std::string error;
  if (!crumb_tools::MakeInterpreter(args, model, false, &interp, &error)) return Fail(error);
  if ((int32_t)inputs.size() != interp.InputCount()) {
    return Fail("the model has " + std::to_string(interp.InputCount()) + " inputs but " +
                std::to_string(inputs.size()) + " --input files were given.");
  }
  if (args.Has("input_shape")) {
    std::vector<int32_t> dims;
    if (!crumb_tools::ParseShape(args.Get("input_shape"), &dims)) {
      return Fail("--input_shape=" + args.Get("input_shape") + " is not a shape like 360,1,8,8.");
    }
    if (interp.ResizeInput(0, dims) != CRUMB_OK) return Fail(interp.LastError());
  }
  if (interp.Allocate() != CRUMB_OK) return Fail(interp.LastError());

  for (size_t i = 0; i < inputs.size(); i++) {
    std::string bytes, error;
    if (!crumb_tools::ReadFile(inputs[i], &bytes, &error)) return Fail(error);
    crumb_tensor* t = interp.Input((int32_t)i);
    const size_t need = crumb_tensor_byte_size(t);
    if (bytes.size() != need) {
      std::vector<int32_t> dims;
      for (int32_t d = 0; d < crumb_tensor_num_dims(t); d++) dims.push_back(crumb_tensor_dim(t, d));
      return Fail(crumb_tools::ShapeString(dims).insert(
                      0, "input file '" + inputs[i] + "' has " + std::to_string(bytes.size()) +
                             " bytes, but input '" + crumb_tensor_name(t) + "' of shape ") +
                  " needs " + std::to_string(need) + " bytes (" +
                  (crumb_tensor_type(t) == CRUMB_TYPE_FLOAT32 ? "float32" : "one byte per code") +
                  "). Use --input_shape to set the batch.");
    }
    if (crumb_tensor_copy_from_buffer(t, bytes.data(), bytes.size()) != CRUMB_OK) {
      return Fail(interp.LastError());
    }
  }
  if (interp.Invoke() != CRUMB_OK) return Fail(interp.LastError());

  std::string result;
  for (int32_t i = 0; i < interp.OutputCount(); i++) {
    const crumb_tensor* t = interp.Output(i);
    std::string bytes(crumb_tensor_byte_size(t), '\0');
    if (crumb_tensor_copy_to_buffer(t, &bytes[0], bytes.size()) != CRUMB_OK) {
      return Fail(interp.LastError());
    }
    result += bytes;
  }

  if (args.Has("labels")) {
    std::string labels, error;
    if (!crumb_tools::ReadFile(args.Get("labels"), &labels, &error)) return Fail(error);
    const crumb_tensor* t = interp.Output(0);
    if (crumb_tensor_type(t) != CRUMB_TYPE_FLOAT32 || crumb_tensor_num_dims(t) < 1) {
      return Fail("--labels needs a FLOAT32 output of shape [rows, classes].");
    }
    const size_t rows = (size_t)crumb_tensor_dim(t, 0);
    const size_t classes = crumb_tensor_byte_size(t) / sizeof(float) / rows;
    if (labels.size() != rows) {
      return Fail("the labels file has " + std::to_string(labels.size()) +
                  " labels but the output "
                  "has " +
                  std::to_string(rows) + " rows.");
    }
    std::vector<float> y(rows * classes);
    memcpy(y.data(), result.data(), y.size() * sizeof(float));
    size_t correct = 0;
    for (size_t r = 0; r < rows; r++) {
      size_t best = 0;
      for (size_t c = 1; c < classes; c++) {
        if (y[r * classes + c] > y[r * classes + best]) best = c;
      }
      correct += best == (uint8_t)labels[r];
    }
    printf("accuracy: %.4f (%zu/%zu)\n", (double)correct / (double)rows, correct, rows);
  }

  if (!crumb_tools::WriteFileAtomic(output, result.data(), result.size(), &error)) {
    return Fail(error);
  }
  return 0;
}
