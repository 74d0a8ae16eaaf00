// Squeeze, Unsqueeze: outputs are views over the input's bytes. Axes come
// from the 'axes' attribute before opset 13 and from input 1 afterwards.
// Squeeze without axes removes every dim of size 1; squeezing a dim whose
// size is not 1 is InvalidArgument. Unsqueeze axes index the output shape.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/index_util.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

// Axes from the attribute (fixed) or from the optional input 1; false in
// the result's first member when neither gives any.
StatusOr<std::pair<bool, std::vector<int64_t>>> RunAxes(
    const std::optional<std::vector<int64_t>>& fixed, std::span<const Tensor* const> inputs,
    const std::string& op) {
  if (const Tensor* a = OptionalInput(inputs, 1)) {
    ASSIGN_OR_RETURN(std::vector<int64_t> axes, ReadIndexList(*a, op + " axes"));
    return std::make_pair(true, std::move(axes));
  }
  if (fixed) return std::make_pair(true, *fixed);
  return std::make_pair(false, std::vector<int64_t>());
}

class SqueezeKernel final : public Kernel {
 public:
  SqueezeKernel(std::optional<std::vector<int64_t>> axes, bool axes_input)
      : axes_(std::move(axes)), axes_input_(axes_input) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 1, axes_input_ ? 2 : 1));
    const Tensor& x = *inputs[0];
    const Shape& s = x.shape();
    const auto rank = static_cast<int64_t>(s.size());
    ASSIGN_OR_RETURN(auto axes, RunAxes(axes_, inputs, "Squeeze"));
    std::vector<bool> drop(rank, false);
    if (!axes.first || axes.second.empty()) {  // like onnxruntime: empty axes = all
      for (int64_t d = 0; d < rank; ++d) drop[d] = s[d] == 1;
    } else {
      ASSIGN_OR_RETURN(std::vector<int64_t> norm, NormalizeAxes(axes.second, rank, "Squeeze"));
      for (int64_t a : norm) {
        if (s[a] != 1) {
          return InvalidArgument("Squeeze: dim " + std::to_string(a) + " of shape " +
                                 ShapeToString(s) + " is not 1");
        }
        drop[a] = true;
      }
    }
    Shape out;
    for (int64_t d = 0; d < rank; ++d) {
      if (!drop[d]) out.push_back(s[d]);
    }
    outputs[0] = MakeView(x, std::move(out));
    return Status::Ok();
  }

 private:
  std::optional<std::vector<int64_t>> axes_;
  bool axes_input_;
};

class UnsqueezeKernel final : public Kernel {
 public:
  explicit UnsqueezeKernel(std::optional<std::vector<int64_t>> axes) : axes_(std::move(axes)) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, axes_ ? 1 : 2, axes_ ? 1 : 2));
    const Tensor& x = *inputs[0];
    const Shape& s = x.shape();
    ASSIGN_OR_RETURN(auto axes, RunAxes(axes_, inputs, "Unsqueeze"));
    const int64_t out_rank = static_cast<int64_t>(s.size() + axes.second.size());
    ASSIGN_OR_RETURN(std::vector<int64_t> norm, NormalizeAxes(axes.second, out_rank, "Unsqueeze"));
    std::vector<bool> inserted(out_rank, false);
    for (int64_t a : norm) inserted[a] = true;
    Shape out;
    size_t next = 0;
    for (int64_t d = 0; d < out_rank; ++d) out.push_back(inserted[d] ? 1 : s[next++]);
    outputs[0] = MakeView(x, std::move(out));
    return Status::Ok();
  }

 private:
  std::optional<std::vector<int64_t>> axes_;
};

StatusOr<std::unique_ptr<Kernel>> MakeSqueeze(const KernelBuildContext& context) {
  const bool axes_input = context.opset >= 13;
  RETURN_IF_ERROR(CheckArity(context, 1, axes_input ? 2 : 1));
  std::optional<std::vector<int64_t>> axes;
  if (!axes_input && context.node.FindAttribute("axes") != nullptr) {
    ASSIGN_OR_RETURN(axes, context.node.GetInts("axes"));
  }
  return std::unique_ptr<Kernel>(new SqueezeKernel(std::move(axes), axes_input));
}

StatusOr<std::unique_ptr<Kernel>> MakeUnsqueeze(const KernelBuildContext& context) {
  std::optional<std::vector<int64_t>> axes;
  if (context.opset < 13) {
    RETURN_IF_ERROR(CheckArity(context, 1, 1));
    ASSIGN_OR_RETURN(axes, context.node.GetInts("axes"));
  } else {
    RETURN_IF_ERROR(CheckArity(context, 2, 2));
  }
  return std::unique_ptr<Kernel>(new UnsqueezeKernel(std::move(axes)));
}

NEREID_REGISTER_KERNEL("", "Squeeze", MakeSqueeze);
NEREID_REGISTER_KERNEL("", "Unsqueeze", MakeUnsqueeze);

}  // namespace
}  // namespace nereid::engine::ref
