// Sliding-window geometry shared by Conv, ConvTranspose and the pooling
// kernels: attribute parsing (kernel_shape, strides, dilations, pads,
// auto_pad, ceil_mode) at build time, and resolution against the actual
// input's spatial dims at run time.
//
// Attribute values are bounded (kMaxWindowAttr) so every derived size is
// computed in int64 without overflow: kernel, stride, dilation and pad
// values are at most 2^30, and input dims come from real tensors.
//
// Thread safety: stateless / plain data.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/data_type.h"
#include "common/status.h"
#include "common/tensor.h"
#include "engine/ir/graph.h"
#include "engine/kernels/kernel.h"

namespace nereid::engine::ref {

inline constexpr int64_t kMaxWindowAttr = int64_t{1} << 30;

enum class AutoPad { kNotSet, kSameUpper, kSameLower, kValid };

// Window attributes as written on the node. Empty vectors mean "absent"
// (defaults are filled in at run time, once the spatial rank is known).
struct WindowAttrs {
  std::vector<int64_t> kernel_shape;
  std::vector<int64_t> strides;
  std::vector<int64_t> dilations;
  std::vector<int64_t> pads;  // [begin..., end...]
  AutoPad auto_pad = AutoPad::kNotSet;
  bool ceil_mode = false;
};

// Reads the window attributes of `node`. `op` names the operator in messages.
// `allow_dilations`/`allow_ceil_mode` reject those attributes for operators
// whose spec lacks them. Values are checked (kernel/stride/dilation >= 1,
// pads >= 0, all <= kMaxWindowAttr, consistent lengths); InvalidArgument
// names the attribute.
StatusOr<WindowAttrs> ParseWindowAttrs(const Node& node, const std::string& op,
                                       bool allow_dilations, bool allow_ceil_mode);

// Resolved geometry of one forward (Conv / pool) window over spatial dims.
struct Window {
  std::vector<int64_t> in;  // input spatial dims
  std::vector<int64_t> kernel;
  std::vector<int64_t> stride;
  std::vector<int64_t> dilation;
  std::vector<int64_t> pad_begin;
  std::vector<int64_t> pad_end;
  std::vector<int64_t> out;  // output spatial dims
  size_t rank() const { return in.size(); }
};

// Resolves `attrs` for input spatial dims `in` and kernel spatial dims
// `kernel` (from W for Conv, from kernel_shape for pools). Output dims follow
// the ONNX formula (floor or, with ceil_mode, ceil; a last window that would
// start inside the end padding is dropped, as in PyTorch and onnxruntime).
// InvalidArgument when lengths disagree with the rank or an output dim would
// be negative.
StatusOr<Window> ResolveWindow(const WindowAttrs& attrs, std::span<const int64_t> in,
                               std::span<const int64_t> kernel, const std::string& op);

// One in-bounds window tap: flat (row-major) index into the kernel and into
// the input's spatial block.
struct Tap {
  int64_t kernel_index;
  int64_t input_index;
};

// Taps of output position `out_index` (flat over window.out) that fall inside
// the input. `padded_count` receives the number of taps inside the padded
// input [-pad_begin, in + pad_end) (the AveragePool count_include_pad
// divisor). Cost is proportional to the in-bounds taps, not the kernel size.
void CollectTaps(const Window& window, int64_t out_index, std::vector<Tap>* taps,
                 int64_t* padded_count);

// InvalidArgument unless the product of max(dim, 1) over `shape` is at most
// 2^62: a tensor with a zero dim may otherwise carry dims whose partial
// products overflow int64 (the index arithmetic here assumes they do not).
Status CheckShapeBounded(const Shape& shape, const std::string& what);

// Row-major strides of `dims`.
std::vector<int64_t> DenseStrides(std::span<const int64_t> dims);

// Build-time output check for operators with optional outputs: the node has
// between 1 and `max_outputs` outputs and the first is named.
Status CheckOutputs(const KernelBuildContext& context, size_t max_outputs);
// Build-time input count check.
Status CheckInputCount(const KernelBuildContext& context, size_t min_inputs, size_t max_inputs);
// True when node output `i` exists and is named (wanted by the graph).
bool WantsOutput(const KernelBuildContext& context, size_t i);

// Reads element `i` of a floating tensor as double (any of float, double,
// fp16, bf16); the caller has checked the dtype with IsFloatDtype.
double LoadFloat(const Tensor& t, int64_t i);
bool IsFloatDtype(DataType dtype);
// Copies a 1-D floating parameter tensor (scale, bias, mean, ...) into
// doubles, checking it has `expected` elements. `what` names it in errors.
StatusOr<std::vector<double>> LoadParam(const Tensor& t, int64_t expected, const std::string& what);

}  // namespace nereid::engine::ref
