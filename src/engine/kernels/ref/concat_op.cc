// Concat along `axis` (negative allowed from opset 11; opset 1 defaults to 1).
// Any fixed-size element type; copies contiguous blocks.
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

class ConcatKernel final : public Kernel {
 public:
  explicit ConcatKernel(int64_t axis) : axis_(axis) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    if (inputs.empty()) return InvalidArgument("Concat needs at least one input");
    RETURN_IF_ERROR(CheckInputs(inputs, inputs.size(), inputs.size()));
    RETURN_IF_ERROR(CheckSameDtype(inputs));
    const Tensor& first = *inputs[0];
    RETURN_IF_ERROR(CheckFixedSize(first, "Concat"));
    const Shape& s0 = first.shape();
    if (s0.empty()) return InvalidArgument("Concat inputs must have rank >= 1");
    ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(axis_, static_cast<int64_t>(s0.size())));
    Shape out_shape = s0;
    out_shape[axis] = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const Shape& s = inputs[i]->shape();
      bool match = s.size() == s0.size();
      for (size_t d = 0; match && d < s.size(); ++d) {
        match = static_cast<int64_t>(d) == axis || s[d] == s0[d];
      }
      if (!match) {
        return InvalidArgument("Concat input " + std::to_string(i) + " has shape " +
                               ShapeToString(s) + ", incompatible with " + ShapeToString(s0) +
                               " on axis " + std::to_string(axis));
      }
      out_shape[axis] += s[axis];
    }
    ASSIGN_OR_RETURN(outputs[0], AllocateOutput(first.dtype(), out_shape));
    const size_t elem = DataTypeByteSize(first.dtype());
    const int64_t outer = DimProduct(s0, 0, axis);
    const int64_t inner = DimProduct(s0, axis + 1, s0.size());
    char* dst = outputs[0].mutable_data();
    for (int64_t o = 0; o < outer; ++o) {
      for (const Tensor* in : inputs) {
        const size_t block = static_cast<size_t>(in->shape()[axis] * inner) * elem;
        if (block) std::memcpy(dst, in->data() + o * block, block);
        dst += block;
      }
    }
    return Status::Ok();
  }

 private:
  int64_t axis_;
};

StatusOr<std::unique_ptr<Kernel>> MakeConcat(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 1, SIZE_MAX));
  std::optional<int64_t> default_axis;
  if (context.opset < 4) default_axis = 1;
  ASSIGN_OR_RETURN(int64_t axis, context.node.GetInt("axis", default_axis));
  return std::unique_ptr<Kernel>(new ConcatKernel(axis));
}

NEREID_REGISTER_KERNEL("", "Concat", MakeConcat);

}  // namespace
}  // namespace nereid::engine::ref
