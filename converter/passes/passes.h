// The conversion passes, in the order the converter runs them. Each lives in its own file with a
// golden test in tests/converter/. Graph passes rewrite the ONNX-level IR in place; LowerToCrumb
// produces the crumb-level model that the last passes finish.
#pragma once

#include <functional>
#include <limits>
#include <set>

#include "converter/diagnostics.h"
#include "converter/ir.h"
#include "converter/layer_config.h"

namespace crumb {
namespace cv {

// Constant nodes become initializers named after their output.
void ConstantsToInitializers(Graph* g, Diagnostics* diag);

// Identity nodes disappear; their readers read the Identity's input (graph outputs keep their
// names).
void RemoveIdentity(Graph* g, Diagnostics* diag);

// DequantizeLinear nodes reading the same tensor with the same parameters become one (ONNX
// Runtime's optimizer writes a copy per reader; LowerQOperator adds its own). Runs after
// LowerQOperator.
void MergeDequantize(Graph* g, Diagnostics* diag);

// QONNX Quant / BipolarQuant / MultiThreshold nodes (domains qonnx.custom_op.general,
// onnx.brevitas, finn.custom_op.general) become the standard forms: DequantizeLinear of integer
// codes computed here for constant weights, QuantizeLinear -> Clip -> DequantizeLinear for
// activations. Reports (and drops) the nodes it cannot rewrite exactly.
void LowerQonnx(Graph* g, Diagnostics* diag);

// ONNX's QOperator form (QLinearConv, QLinearMatMul, ConvInteger / MatMulInteger followed by
// Cast + Mul by a constant, and com.microsoft QLinearAdd, QGemm, QLinearGlobalAveragePool,
// QLinearAveragePool, QLinearConcat, as ONNX Runtime's optimizer writes them) becomes the QDQ
// form: DequantizeLinear of each input -> the float op -> QuantizeLinear, the int32 bias turned
// into floats; MaxPool / Flatten / Reshape of integer tensors run on floats between the same
// parameters. Scales and zero points must be constants; the nodes it cannot rewrite exactly are
// reported and dropped.
void LowerQOperator(Graph* g, Diagnostics* diag);

// The 1-bit / ternary weight forms of BNN trainers: constant elementwise subgraphs feeding a
// Conv / Gemm / MatMul weight (Sign, Mul by a per-channel scale, Where(W >= 0, a, -a), Cast,
// Reshape / Unsqueeze, ...) are evaluated as ONNX Runtime does; a float weight holding only
// {-s_o, +s_o} (or {-s_o, 0, +s_o}) per output channel o becomes DequantizeLinear of int8 codes
// -1 / +1 (/ 0) with scale s_o and zero point 0. Sign on an activation is reported.
void FoldBinaryWeights(Graph* g, Diagnostics* diag);

// A Mul of an activation by a constant 0/1 mask of shape [1, 1, H, W], [1, H, W] or [H, W] (the
// same pixels zeroed in every channel: semi-structured activation sparsity) becomes a
// crumb.SpatialMask node reading the activation.
void RecognizeSpatialMasks(Graph* g, Diagnostics* diag);

// The imported graph's wiring: missing inputs (a missing initializer), values produced twice,
// graph outputs no node produces, zero-size or negative graph input dimensions. Run on the graph
// as imported, before any pass drops nodes.
void CheckGraphStructure(const Graph& g, Diagnostics* diag);

// Lists every unsupported op, data type and bit width, with node names. Later passes run only
// when this finds nothing.
void CheckSupported(const Graph& g, Diagnostics* diag);

// QuantizeLinear -> [Clip] -> DequantizeLinear chains and DequantizeLinear of integer
// initializers become crumb.FakeQuant (activations) and crumb.QConst (weights) nodes carrying
// QuantInfo with the inferred bit width, encoding and code range.
void RecognizeQuantizers(Graph* g, Diagnostics* diag);

// A chain of element-wise float ops (Sigmoid, HardSwish, LeakyRelu, Tanh, GELU, SiLU's
// x * Sigmoid(x), Mul / Add / Sub / Div by scalar constants, ...) from one per-tensor quantized
// activation of <= 8 bits to the next quantizer becomes a crumb.Table node holding the output code
// for each input code, computed in float32 as ONNX defines the ops. Table-only ops it cannot
// tabulate are reported by name.
void FuseElementwiseTables(Graph* g, Diagnostics* diag);
// The ops only such a table holds (not Add / Relu / Clip, which have lowerings of their own),
// whether node k is one of them placed where a table can hold it (every non-scalar value around
// its chain of element-wise ops comes from a DequantizeLinear and goes to a QuantizeLinear: what
// CheckSupported can tell before the quantizers are recognised), and the problem otherwise.
bool TableOnly(const std::string& op);
const std::set<std::string>& TableOps();
bool InTablePosition(const Graph& g, size_t k);
std::string TableOpProblem(const std::string& op);
// A Mul or Sub of two computed values (neither a constant): the product / difference of two
// activations, lowered to MUL / ADD version 2 when both are quantized (or tabulated when both
// come from one activation, as SiLU's x * Sigmoid(x)).
bool IsActivationMulOrSub(const Graph& g, const Node& n);
// ONNX semantics, in float32, of one of TableOps() on scalars: x[0] the value, x[1] the second
// operand of Mul / Add / Sub / Div, x[1] / x[2] Clip's bounds.
float ApplyElementwise(const Node& n, const std::vector<float>& x);

// Integer index arithmetic on the shapes of activations, as PyTorch exports x.view(x.size(0), -1)
// or torch.chunk: Shape, then Gather / Unsqueeze / Squeeze / Concat / Add / Sub / Mul / Div /
// Cast / Slice / Identity of such values and integer constants. The lowering evaluates them on
// the shapes it infers (the reference executor on the real ones); Slice / Split / Reshape read the
// results as if they were constants.
struct IndexValue {
  std::vector<int64_t> dims;  // {} for a scalar
  std::vector<int64_t> v;
};
// A value that depends on the dynamic batch size.
constexpr int64_t kDynamicIndex = std::numeric_limits<int64_t>::min();
bool IsIndexOp(const std::string& op);
// The outputs of the graph's index-arithmetic nodes.
std::set<std::string> IndexValues(const Graph& g);
// One index node; for Shape, in[0] holds the input activation's shape as a 1-D value.
bool EvalIndexOp(const Node& n, const std::vector<const IndexValue*>& in, IndexValue* out,
                 std::string* problem);
// Evaluated index values by name (nullptr: not one).
using IndexLookup = std::function<const IndexValue*(const std::string&)>;
// Input k of n as integers: an INT64 / INT32 constant or an index value. `present` is false
// for an absent optional input.
bool IntOperand(const Graph& g, const IndexLookup& lookup, const Node& n, size_t k,
                std::vector<int64_t>* v, bool* present, std::string* problem);

// ONNX Slice and Split on a known input shape, as the lowering (one SLICE per output) and the
// reference executor both read them: per input axis the first index, the step and the count.
// Slice's starts / ends / axes / steps come from constant inputs or (opset 1) attributes.
struct SliceSpec {
  std::vector<int64_t> starts, steps, counts;
};
bool ResolveSlice(const Graph& g, const IndexLookup& lookup, const Node& n,
                  const std::vector<int64_t>& shape, SliceSpec* s, std::string* problem);
bool ResolveSplit(const Graph& g, const IndexLookup& lookup, const Node& n,
                  const std::vector<int64_t>& shape, std::vector<SliceSpec>* parts,
                  std::string* problem);

// ONNX Pad on an input of `rank` axes: per axis the pads before and after (negative = crop), the
// mode and the constant value. The pads (and opset 18's axes) come from constant inputs or
// (opset 2-10) attributes.
struct PadSpec {
  std::vector<int64_t> begin, end;
  std::string mode;
  float value = 0;
};
bool ResolvePad(const Graph& g, const IndexLookup& lookup, const Node& n, size_t rank, PadSpec* s,
                std::string* problem);
// Zero padding of the height and width of a Conv's or AveragePool's input (through the fake
// quantizers between them) folds into that layer's pads; any other Pad is reported. Runs after
// RecognizeQuantizers.
void FoldPad(Graph* g, Diagnostics* diag);

// A BatchNormalization on the float output of a Conv / Gemm folds into that node's post_mul /
// post_add (the weight codes never change).
void FoldBatchNorm(Graph* g, Diagnostics* diag);

// A DequantizeLinear with block_size (opset 21) of a constant integer initializer becomes the
// float initializer it computes (a layer reading it is then a float layer).
void FoldBlockedDequantize(Graph* g, Diagnostics* diag);

// A Transpose (perm [1, 0]) of a 2-D quantized weight becomes a crumb.QConst of the transposed
// codes: F.linear on inputs of rank 3 and more exports as MatMul(x, Transpose(W)).
void FoldWeightTranspose(Graph* g, Diagnostics* diag);

// --config "int8": true on a layer with a plain float weight: the weight becomes a crumb.QConst of
// 8-bit codes (per output channel, symmetric, narrow), so the layer lowers as a quantized one
// (counted in the entry's `matched`).
void QuantizeFloatWeights(Graph* g, Diagnostics* diag, std::vector<LayerOverride>* layers);

// An Add of a constant per-channel bias ([N] / [1, ..., N] after Gemm / MatMul, [1, N, 1, 1]
// after Conv) on a float output read only by it folds into that node's post_add: nn.Linear on
// inputs of rank 3 and more exports as MatMul -> Add. Runs before FoldBatchNorm.
void FoldBiasAdd(Graph* g, Diagnostics* diag);

// A constant bias Add after MatMul becomes the MatMul's bias; Relu / Clip on a float result
// folds into the producer's clamp range.
void FuseActivations(Graph* g, Diagnostics* diag);

// Graph -> crumb ops and tensors, with shape inference and the numeric contract's mul/add. A
// Conv / Gemm / MatMul whose weight is a plain float constant, or one `layers` (--config) keeps
// float ("float": true; counted in the entry's `matched`), becomes a float layer: CONV_2D /
// FULLY_CONNECTED version 2 with FLOAT32 input, weight, bias and output, family XNNPACK, a
// DEQUANTIZE before it when its input is quantized and a QUANTIZE for each quantizer after it.
void LowerToCrumb(const Graph& g, CModel* m, Diagnostics* diag,
                  std::vector<LayerOverride>* layers = nullptr);

// Records the kernel family per op: for a Conv / FC with quantized activations and weights, the
// measured table row of `target` (crumb_select_isa; 0 = portable: kernels/common/family.h's
// ISA-independent rule), `family` being a preference honoured where the layer can run on it
// (SCALAR always) and then recorded as FORCED; every other op AUTO, or SCALAR when forced.
// 1x1 convolutions and FullyConnected layers whose weights are mostly zero 1x4 blocks go to the
// sparse family (kernels/common/family.h's threshold), `sparse` forcing or forbidding it.
// `layers` (--config) overrides the family / sparse choice per layer by name and counts the
// layers each entry matched.
void ChooseKernelFamily(CModel* m, KernelFamily family, unsigned target = 0,
                        SparseMode sparse = SparseMode::kAuto,
                        std::vector<LayerOverride>* layers = nullptr);

// Quantized weights -> DOT_N16K4 bytes when their ops' family is DOT, LUT_W2_N64 when LUT,
// ROWS_LSB otherwise (a weight read by ops that disagree on family or groups stays ROWS_LSB and
// those ops become AUTO); float constants -> DENSE bytes.
void PackWeights(CModel* m, Diagnostics* diag);

// A REQUANTIZE that only applies a spatial mask (same quantization in and out) disappears when
// nothing else reads its input: the input's producer writes the masked tensor itself (schema
// Tensor.spatial_mask), so a convolution there computes only the unmasked pixels.
void FoldSpatialMasks(CModel* m, Diagnostics* diag);

}  // namespace cv
}  // namespace crumb
