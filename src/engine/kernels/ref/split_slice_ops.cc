// Split and Slice (any fixed-size element type, copied by bit pattern).
//
// Split: sizes from the 'split' attribute (opset 1-12; opset 1 also takes
// them as input 1) or input 1 (opset 13+); without sizes the axis splits
// into equal parts, and from opset 18 (num_outputs) the last part may be
// smaller. Slice: opset 1-9 'starts'/'ends'/'axes' attributes; opset 10+
// inputs starts, ends, axes, steps (INT32 or INT64), with ONNX's clamping
// rules for out-of-range bounds and negative steps.
#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/index_util.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

class SplitKernel final : public Kernel {
 public:
  SplitKernel(int64_t axis, std::optional<std::vector<int64_t>> split, bool split_input,
              bool allow_uneven)
      : axis_(axis), split_(std::move(split)), split_input_(split_input), uneven_(allow_uneven) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 1, split_input_ ? 2 : 1));
    const Tensor& x = *inputs[0];
    const Shape& s = x.shape();
    ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(axis_, static_cast<int64_t>(s.size())));
    ASSIGN_OR_RETURN(std::vector<int64_t> sizes, Sizes(inputs, s[axis], outputs.size()));
    const int64_t outer = DimProduct(s, 0, axis);
    const int64_t inner = DimProduct(s, axis + 1, s.size());
    return DispatchBySize(x.dtype(), "Split", [&]<typename U>() -> Status {
      const U* in = x.data_as<U>();
      int64_t offset = 0;  // along the axis
      for (size_t i = 0; i < outputs.size(); ++i) {
        Shape os = s;
        os[axis] = sizes[i];
        ASSIGN_OR_RETURN(outputs[i], AllocateOutput(x.dtype(), os));
        U* out = outputs[i].mutable_data_as<U>();
        const int64_t block = sizes[i] * inner;
        for (int64_t o = 0; o < outer; ++o) {
          const U* src = in + (o * s[axis] + offset) * inner;
          std::copy(src, src + block, out + o * block);
        }
        offset += sizes[i];
      }
      return Status::Ok();
    });
  }

 private:
  StatusOr<std::vector<int64_t>> Sizes(std::span<const Tensor* const> inputs, int64_t dim,
                                       size_t n) const {
    std::optional<std::vector<int64_t>> split = split_;
    if (const Tensor* t = OptionalInput(inputs, 1)) {
      ASSIGN_OR_RETURN(split, ReadIndexList(*t, "Split 'split'"));
    }
    if (split) {
      if (split->size() != n) {
        return InvalidArgument("Split: 'split' has " + std::to_string(split->size()) +
                               " entries for " + std::to_string(n) + " outputs");
      }
      int64_t total = 0;
      for (int64_t v : *split) {
        if (v < 0 || v > dim) return InvalidArgument("Split: negative or too large split size");
        total += v;
      }
      if (total != dim) {
        return InvalidArgument("Split: sizes sum to " + std::to_string(total) +
                               ", the axis has " + std::to_string(dim));
      }
      return *split;
    }
    const auto parts = static_cast<int64_t>(n);
    if (dim % parts != 0 && !uneven_) {
      return InvalidArgument("Split: axis of size " + std::to_string(dim) +
                             " does not split into " + std::to_string(n) + " equal parts");
    }
    // num_outputs (opset 18): every part ceil(dim / n), the last one smaller.
    const int64_t chunk = (dim + parts - 1) / parts;
    std::vector<int64_t> sizes(n);
    int64_t left = dim;
    for (auto& v : sizes) {
      v = std::min(chunk, left);
      left -= v;
    }
    return sizes;
  }

  int64_t axis_;
  std::optional<std::vector<int64_t>> split_;
  bool split_input_;
  bool uneven_;
};

StatusOr<std::unique_ptr<Kernel>> MakeSplit(const KernelBuildContext& context) {
  const Node& node = context.node;
  const bool split_input = context.opset == 1 || context.opset >= 13;
  if (node.inputs.empty() || node.inputs.size() > (split_input ? 2u : 1u) ||
      node.outputs.empty()) {
    return InvalidArgument("Split takes 1" + std::string(split_input ? " or 2" : "") +
                           " inputs and at least one output");
  }
  ASSIGN_OR_RETURN(int64_t axis, node.GetInt("axis", 0));
  std::optional<std::vector<int64_t>> split;
  if (context.opset < 13 && node.FindAttribute("split") != nullptr) {
    ASSIGN_OR_RETURN(split, node.GetInts("split"));
  }
  if (context.opset >= 18 && node.FindAttribute("num_outputs") != nullptr) {
    ASSIGN_OR_RETURN(int64_t num_outputs, node.GetInt("num_outputs"));
    if (num_outputs != static_cast<int64_t>(node.outputs.size())) {
      return InvalidArgument("Split: attribute 'num_outputs' (" + std::to_string(num_outputs) +
                             ") differs from the number of outputs");
    }
  }
  return std::unique_ptr<Kernel>(
      new SplitKernel(axis, std::move(split), split_input, context.opset >= 18));
}

// Per-dim start and step of a slice, and the output shape.
struct SliceWindow {
  Shape out;
  std::vector<int64_t> start;
  std::vector<int64_t> step;
};

// Applies ONNX's clamping to one axis.
void ClampAxis(int64_t dim, int64_t start, int64_t end, int64_t step, SliceWindow* w, size_t d) {
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  // A step longer than the dim yields at most one element either way; clamp
  // it first so neither the length nor the strides can overflow.
  const int64_t limit = std::max<int64_t>(dim, 1);
  step = std::clamp<int64_t>(step, -limit, limit);
  int64_t len = 0;
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, dim);
    end = std::clamp<int64_t>(end, 0, dim);
    len = end > start ? 1 + (end - start - 1) / step : 0;
  } else {
    start = std::clamp<int64_t>(start, 0, std::max<int64_t>(dim - 1, 0));
    end = std::clamp<int64_t>(end, -1, dim - 1);
    len = start > end ? 1 + (start - end - 1) / -step : 0;
  }
  if (dim == 0) len = 0;
  w->out[d] = len;
  w->start[d] = len > 0 ? start : 0;
  w->step[d] = step;
}

StatusOr<SliceWindow> ResolveSlice(const Shape& s, const std::vector<int64_t>& starts,
                                   const std::vector<int64_t>& ends,
                                   std::optional<std::vector<int64_t>> axes,
                                   std::optional<std::vector<int64_t>> steps) {
  const size_t n = starts.size();
  if (ends.size() != n || (axes && axes->size() != n) || (steps && steps->size() != n)) {
    return InvalidArgument("Slice: starts, ends, axes and steps must have the same length");
  }
  if (!axes) {
    axes.emplace(n);
    for (size_t i = 0; i < n; ++i) (*axes)[i] = static_cast<int64_t>(i);
  }
  ASSIGN_OR_RETURN(std::vector<int64_t> norm,
                   NormalizeAxes(*axes, static_cast<int64_t>(s.size()), "Slice"));
  SliceWindow w{s, std::vector<int64_t>(s.size(), 0), std::vector<int64_t>(s.size(), 1)};
  for (size_t i = 0; i < n; ++i) {
    const int64_t step = steps ? (*steps)[i] : 1;
    if (step == 0) return InvalidArgument("Slice: steps must not be 0");
    ClampAxis(s[norm[i]], starts[i], ends[i], step, &w, norm[i]);
  }
  return w;
}

class SliceKernel final : public Kernel {
 public:
  // Attribute form (opset < 10) when `starts` is set; else the inputs.
  SliceKernel(std::optional<std::vector<int64_t>> starts, std::vector<int64_t> ends,
              std::optional<std::vector<int64_t>> axes)
      : starts_(std::move(starts)), ends_(std::move(ends)), axes_(std::move(axes)) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, starts_ ? 1 : 3, starts_ ? 1 : 5));
    const Tensor& x = *inputs[0];
    SliceWindow w;
    if (starts_) {
      ASSIGN_OR_RETURN(w, ResolveSlice(x.shape(), *starts_, ends_, axes_, std::nullopt));
    } else {
      ASSIGN_OR_RETURN(auto starts, ReadIndexList(*inputs[1], "Slice starts"));
      ASSIGN_OR_RETURN(auto ends, ReadIndexList(*inputs[2], "Slice ends"));
      std::optional<std::vector<int64_t>> axes, steps;
      if (const Tensor* t = OptionalInput(inputs, 3)) {
        ASSIGN_OR_RETURN(axes, ReadIndexList(*t, "Slice axes"));
      }
      if (const Tensor* t = OptionalInput(inputs, 4)) {
        ASSIGN_OR_RETURN(steps, ReadIndexList(*t, "Slice steps"));
      }
      ASSIGN_OR_RETURN(w, ResolveSlice(x.shape(), starts, ends, std::move(axes),
                                       std::move(steps)));
    }
    return DispatchBySize(x.dtype(), "Slice", [&]<typename U>() -> Status {
      ASSIGN_OR_RETURN(outputs[0], AllocateOutput(x.dtype(), w.out));
      std::vector<int64_t> strides = DenseStrides(x.shape());
      int64_t base = 0;
      for (size_t d = 0; d < strides.size(); ++d) {
        base += w.start[d] * strides[d];
        strides[d] *= w.step[d];
      }
      const U* in = x.data_as<U>();
      U* out = outputs[0].mutable_data_as<U>();
      ForEachStrided(w.out, strides, base, [&](int64_t pos, int64_t off) { out[pos] = in[off]; });
      return Status::Ok();
    });
  }

 private:
  std::optional<std::vector<int64_t>> starts_;
  std::vector<int64_t> ends_;
  std::optional<std::vector<int64_t>> axes_;
};

StatusOr<std::unique_ptr<Kernel>> MakeSlice(const KernelBuildContext& context) {
  if (context.opset >= 10) {
    RETURN_IF_ERROR(CheckArity(context, 3, 5));
    return std::unique_ptr<Kernel>(new SliceKernel(std::nullopt, {}, std::nullopt));
  }
  RETURN_IF_ERROR(CheckArity(context, 1, 1));
  ASSIGN_OR_RETURN(std::vector<int64_t> starts, context.node.GetInts("starts"));
  ASSIGN_OR_RETURN(std::vector<int64_t> ends, context.node.GetInts("ends"));
  std::optional<std::vector<int64_t>> axes;
  if (context.node.FindAttribute("axes") != nullptr) {
    ASSIGN_OR_RETURN(axes, context.node.GetInts("axes"));
  }
  if (ends.size() != starts.size() || (axes && axes->size() != starts.size())) {
    return InvalidArgument("Slice: attributes 'starts', 'ends' and 'axes' differ in length");
  }
  return std::unique_ptr<Kernel>(new SliceKernel(std::move(starts), std::move(ends), axes));
}

NEREID_REGISTER_KERNEL("", "Split", MakeSplit);
NEREID_REGISTER_KERNEL("", "Slice", MakeSlice);

}  // namespace
}  // namespace nereid::engine::ref
