#include "engine/kernels/ref/conv_pool_util.h"

#include <algorithm>
#include <string>

#include "engine/kernels/ref/numeric.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

// Reads an INTS attribute (absent: empty) and checks each value is in
// [min_value, kMaxWindowAttr].
StatusOr<std::vector<int64_t>> GetBoundedInts(const Node& node, const std::string& op,
                                              const char* name, int64_t min_value) {
  ASSIGN_OR_RETURN(std::vector<int64_t> values, node.GetInts(name, std::vector<int64_t>{}));
  for (int64_t v : values) {
    if (v < min_value || v > kMaxWindowAttr) {
      return InvalidArgument(op + " attribute '" + name + "' has value " + std::to_string(v) +
                             ", expected a value in [" + std::to_string(min_value) + ", 2^30]");
    }
  }
  return values;
}

StatusOr<AutoPad> ParseAutoPad(const Node& node, const std::string& op) {
  ASSIGN_OR_RETURN(std::string s, node.GetString("auto_pad", std::string("NOTSET")));
  if (s == "NOTSET" || s.empty()) return AutoPad::kNotSet;
  if (s == "SAME_UPPER") return AutoPad::kSameUpper;
  if (s == "SAME_LOWER") return AutoPad::kSameLower;
  if (s == "VALID") return AutoPad::kValid;
  return InvalidArgument(op + " attribute 'auto_pad' has unknown value '" + s +
                         "' (expected NOTSET, SAME_UPPER, SAME_LOWER or VALID)");
}

int64_t FloorDiv(int64_t a, int64_t b) {  // b > 0
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

// Checks an optional per-dim attribute has `want` entries and fills the
// default when absent.
Status FillDefault(std::vector<int64_t>* values, size_t want, int64_t fill, const char* name,
                   const std::string& op) {
  if (values->empty()) {
    values->assign(want, fill);
    return Status::Ok();
  }
  if (values->size() != want) {
    return InvalidArgument(op + " attribute '" + name + "' has " +
                           std::to_string(values->size()) + " values, expected " +
                           std::to_string(want) + " for the input's spatial rank");
  }
  return Status::Ok();
}

}  // namespace

StatusOr<WindowAttrs> ParseWindowAttrs(const Node& node, const std::string& op,
                                       bool allow_dilations, bool allow_ceil_mode) {
  WindowAttrs attrs;
  ASSIGN_OR_RETURN(attrs.kernel_shape, GetBoundedInts(node, op, "kernel_shape", 1));
  ASSIGN_OR_RETURN(attrs.strides, GetBoundedInts(node, op, "strides", 1));
  ASSIGN_OR_RETURN(attrs.dilations, GetBoundedInts(node, op, "dilations", 1));
  ASSIGN_OR_RETURN(attrs.pads, GetBoundedInts(node, op, "pads", 0));
  ASSIGN_OR_RETURN(attrs.auto_pad, ParseAutoPad(node, op));
  ASSIGN_OR_RETURN(int64_t ceil_mode, node.GetInt("ceil_mode", 0));
  if (ceil_mode != 0 && ceil_mode != 1) {
    return InvalidArgument(op + " attribute 'ceil_mode' must be 0 or 1, got " +
                           std::to_string(ceil_mode));
  }
  attrs.ceil_mode = ceil_mode == 1;
  if (!allow_dilations && !attrs.dilations.empty()) {
    return InvalidArgument(op + " has no attribute 'dilations' in this opset");
  }
  if (!allow_ceil_mode && attrs.ceil_mode) {
    return InvalidArgument(op + " has no attribute 'ceil_mode' in this opset");
  }
  if (attrs.pads.size() % 2 != 0) {
    return InvalidArgument(op + " attribute 'pads' must have an even number of values, got " +
                           std::to_string(attrs.pads.size()));
  }
  // Lengths must agree with each other; agreement with the input's rank is
  // checked at run time.
  const size_t rank = !attrs.kernel_shape.empty() ? attrs.kernel_shape.size()
                      : !attrs.strides.empty()    ? attrs.strides.size()
                                                  : attrs.dilations.size();
  auto check_len = [&](const std::vector<int64_t>& v, size_t want, const char* name) -> Status {
    if (!v.empty() && rank != 0 && v.size() != want) {
      return InvalidArgument(op + " attribute '" + name + "' has " + std::to_string(v.size()) +
                             " values, expected " + std::to_string(want));
    }
    return Status::Ok();
  };
  RETURN_IF_ERROR(check_len(attrs.strides, rank, "strides"));
  RETURN_IF_ERROR(check_len(attrs.dilations, rank, "dilations"));
  RETURN_IF_ERROR(check_len(attrs.pads, 2 * rank, "pads"));
  return attrs;
}

StatusOr<Window> ResolveWindow(const WindowAttrs& attrs, std::span<const int64_t> in,
                               std::span<const int64_t> kernel, const std::string& op) {
  const size_t rank = in.size();
  Window w;
  w.in.assign(in.begin(), in.end());
  w.kernel.assign(kernel.begin(), kernel.end());
  if (w.kernel.size() != rank) {
    return InvalidArgument(op + " kernel has " + std::to_string(w.kernel.size()) +
                           " spatial dims but the input has " + std::to_string(rank));
  }
  if (!attrs.kernel_shape.empty() && attrs.kernel_shape != w.kernel) {
    return InvalidArgument(op + " attribute 'kernel_shape' " + ShapeToString(attrs.kernel_shape) +
                           " does not match the weight's spatial dims " + ShapeToString(w.kernel));
  }
  for (int64_t k : w.kernel) {
    if (k < 1 || k > kMaxWindowAttr) {
      return InvalidArgument(op + " kernel spatial dim " + std::to_string(k) + " is out of range");
    }
  }
  w.stride = attrs.strides;
  w.dilation = attrs.dilations;
  std::vector<int64_t> pads = attrs.pads;
  RETURN_IF_ERROR(FillDefault(&w.stride, rank, 1, "strides", op));
  RETURN_IF_ERROR(FillDefault(&w.dilation, rank, 1, "dilations", op));
  if (attrs.auto_pad != AutoPad::kNotSet) pads.clear();  // auto_pad overrides pads
  RETURN_IF_ERROR(FillDefault(&pads, 2 * rank, 0, "pads", op));
  w.pad_begin.assign(pads.begin(), pads.begin() + static_cast<int64_t>(rank));
  w.pad_end.assign(pads.begin() + static_cast<int64_t>(rank), pads.end());
  w.out.resize(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t dk = (w.kernel[i] - 1) * w.dilation[i] + 1;
    const int64_t s = w.stride[i];
    if (attrs.auto_pad == AutoPad::kSameUpper || attrs.auto_pad == AutoPad::kSameLower) {
      w.out[i] = (w.in[i] + s - 1) / s;
      const int64_t total = std::max<int64_t>(0, (w.out[i] - 1) * s + dk - w.in[i]);
      const int64_t small = total / 2;
      const bool upper = attrs.auto_pad == AutoPad::kSameUpper;
      w.pad_begin[i] = upper ? small : total - small;
      w.pad_end[i] = upper ? total - small : small;
      continue;
    }
    const int64_t span = w.in[i] + w.pad_begin[i] + w.pad_end[i] - dk;
    if (span < 0) {
      return InvalidArgument(op + " window of extent " + std::to_string(dk) +
                             " is larger than the padded input (" +
                             std::to_string(w.in[i] + w.pad_begin[i] + w.pad_end[i]) +
                             ") along spatial axis " + std::to_string(i));
    }
    if (attrs.ceil_mode && attrs.auto_pad == AutoPad::kNotSet) {
      w.out[i] = (span + s - 1) / s + 1;
      // A window starting in the end padding would cover no input element.
      if ((w.out[i] - 1) * s >= w.in[i] + w.pad_begin[i]) --w.out[i];
    } else {
      w.out[i] = span / s + 1;
    }
  }
  return w;
}

void CollectTaps(const Window& w, int64_t out_index, std::vector<Tap>* taps,
                 int64_t* padded_count) {
  const size_t rank = w.rank();
  taps->clear();
  // Per dim: window start in input coordinates and the range of kernel
  // positions that land inside the input.
  std::vector<int64_t> start(rank), k_lo(rank), k_hi(rank);
  int64_t padded = 1;
  int64_t rem = out_index;
  bool empty = false;
  for (size_t i = rank; i-- > 0;) {
    const int64_t o = rem % w.out[i];
    rem /= w.out[i];
    const int64_t d = w.dilation[i];
    start[i] = o * w.stride[i] - w.pad_begin[i];
    k_lo[i] = start[i] >= 0 ? 0 : (-start[i] + d - 1) / d;
    k_hi[i] = std::min(w.kernel[i] - 1, FloorDiv(w.in[i] - 1 - start[i], d));
    if (k_hi[i] < k_lo[i]) empty = true;
    const int64_t last_padded =
        std::min(w.kernel[i] - 1, FloorDiv(w.in[i] + w.pad_end[i] - 1 - start[i], d));
    padded *= std::max<int64_t>(0, last_padded + 1);
  }
  if (padded_count) *padded_count = padded;
  if (empty) return;
  // Odometer over the in-bounds kernel positions. The kernel index uses
  // unsigned arithmetic: it is only meaningful (and then exact) when the
  // kernel's element count fits, which holds for Conv weights.
  std::vector<int64_t> k(k_lo);
  std::vector<uint64_t> k_stride(rank), i_stride(rank);
  uint64_t ks = 1;
  uint64_t is = 1;
  for (size_t i = rank; i-- > 0;) {
    k_stride[i] = ks;
    i_stride[i] = is;
    ks *= static_cast<uint64_t>(w.kernel[i]);
    is *= static_cast<uint64_t>(w.in[i]);
  }
  while (true) {
    uint64_t ki = 0;
    uint64_t ii = 0;
    for (size_t i = 0; i < rank; ++i) {
      ki += static_cast<uint64_t>(k[i]) * k_stride[i];
      ii += static_cast<uint64_t>(start[i] + k[i] * w.dilation[i]) * i_stride[i];
    }
    taps->push_back(Tap{static_cast<int64_t>(ki), static_cast<int64_t>(ii)});
    size_t i = rank;
    while (i-- > 0) {
      if (++k[i] <= k_hi[i]) break;
      k[i] = k_lo[i];
    }
    if (i == static_cast<size_t>(-1)) break;
  }
}

Status CheckShapeBounded(const Shape& shape, const std::string& what) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return InvalidArgument(what + " has a negative dimension");
    const int64_t f = d == 0 ? 1 : d;
    if (n > (int64_t{1} << 62) / f) {
      return InvalidArgument(what + " of shape " + ShapeToString(shape) + " has dims too large");
    }
    n *= f;
  }
  return Status::Ok();
}

std::vector<int64_t> DenseStrides(std::span<const int64_t> dims) {
  std::vector<int64_t> strides(dims.size());
  int64_t s = 1;
  for (size_t i = dims.size(); i-- > 0;) {
    strides[i] = s;
    s *= dims[i];
  }
  return strides;
}

Status CheckOutputs(const KernelBuildContext& context, size_t max_outputs) {
  const Node& node = context.node;
  if (node.outputs.empty() || node.outputs.size() > max_outputs || node.outputs[0] == kNoValue) {
    return InvalidArgument("has " + std::to_string(node.outputs.size()) + " outputs, " +
                           node.op_type + " produces 1 to " + std::to_string(max_outputs) +
                           " (the first required)");
  }
  return Status::Ok();
}

Status CheckInputCount(const KernelBuildContext& context, size_t min_inputs, size_t max_inputs) {
  const size_t n = context.node.inputs.size();
  if (n < min_inputs || n > max_inputs) {
    return InvalidArgument("has " + std::to_string(n) + " inputs, " + context.node.op_type +
                           " takes " + std::to_string(min_inputs) +
                           (min_inputs == max_inputs ? "" : " to " + std::to_string(max_inputs)));
  }
  return Status::Ok();
}

bool WantsOutput(const KernelBuildContext& context, size_t i) {
  return i < context.node.outputs.size() && context.node.outputs[i] != kNoValue;
}

bool IsFloatDtype(DataType dtype) {
  return dtype == DataType::kFp32 || dtype == DataType::kFp64 || dtype == DataType::kFp16 ||
         dtype == DataType::kBf16;
}

double LoadFloat(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DataType::kFp32:
      return t.data_as<float>()[i];
    case DataType::kFp64:
      return t.data_as<double>()[i];
    case DataType::kFp16:
      return static_cast<float>(t.data_as<Fp16>()[i]);
    case DataType::kBf16:
      return static_cast<float>(t.data_as<Bf16>()[i]);
    default:
      return 0.0;
  }
}

StatusOr<std::vector<double>> LoadParam(const Tensor& t, int64_t expected,
                                        const std::string& what) {
  if (!IsFloatDtype(t.dtype())) {
    return InvalidArgument(what + " has element type " + std::string(DataTypeName(t.dtype())) +
                           ", expected a floating type");
  }
  if (NumElements(t.shape()) != expected) {
    return InvalidArgument(what + " has shape " + ShapeToString(t.shape()) + ", expected " +
                           std::to_string(expected) + " elements");
  }
  std::vector<double> values(static_cast<size_t>(expected));
  for (int64_t i = 0; i < expected; ++i) values[static_cast<size_t>(i)] = LoadFloat(t, i);
  return values;
}

}  // namespace nereid::engine::ref
