// Softmax and LogSoftmax. Opset < 13: the input is coerced to 2-D at `axis`
// (default 1) and the op runs over the flattened trailing block. Opset >= 13:
// it runs along the single dim `axis` (default -1). Both subtract the row
// maximum first so large inputs do not overflow; LogSoftmax is computed as
// x - max - log(sum(exp(x - max))).
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

template <bool kLog>
class SoftmaxKernel final : public Kernel {
 public:
  SoftmaxKernel(int64_t axis, bool coerce_2d) : axis_(axis), coerce_2d_(coerce_2d) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 1, 1));
    const Tensor& x = *inputs[0];
    const Shape& shape = x.shape();
    const auto rank = static_cast<int64_t>(shape.size());
    // Opset < 13 accepts axis == rank (an empty trailing block, like Flatten).
    ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(axis_, rank, /*allow_rank=*/coerce_2d_));
    const char* op = kLog ? "LogSoftmax" : "Softmax";
    return DispatchFloat(x.dtype(), op, [&]<typename T>() -> Status {
      ASSIGN_OR_RETURN(outputs[0], AllocateOutput(x.dtype(), shape));
      // Nothing to compute; also keeps [2^40, 0]-style shapes from looping
      // over an empty block (and DimProduct from overflowing on them).
      if (NumElements(shape) == 0) return Status::Ok();
      // View the tensor as [outer, len, inner]; the op runs over `len` with stride `inner`.
      const int64_t outer = DimProduct(shape, 0, axis);
      const int64_t len = coerce_2d_ ? DimProduct(shape, axis, shape.size()) : shape[axis];
      const int64_t inner = coerce_2d_ ? 1 : DimProduct(shape, axis + 1, shape.size());
      const T* in = x.data_as<T>();
      T* out = outputs[0].mutable_data_as<T>();
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t i = 0; i < inner; ++i) {
          const int64_t base = o * len * inner + i;
          Row<T>(in + base, out + base, len, inner);
        }
      }
      return Status::Ok();
    });
  }

 private:
  template <typename T>
  static void Row(const T* in, T* out, int64_t len, int64_t stride) {
    using C = std::conditional_t<std::is_same_v<T, double>, double, float>;
    if (len == 0) return;
    C max_v = static_cast<C>(in[0]);
    for (int64_t j = 1; j < len; ++j) max_v = std::max(max_v, static_cast<C>(in[j * stride]));
    C sum = 0;
    for (int64_t j = 0; j < len; ++j) sum += std::exp(static_cast<C>(in[j * stride]) - max_v);
    const C log_sum = std::log(sum);
    for (int64_t j = 0; j < len; ++j) {
      const C shifted = static_cast<C>(in[j * stride]) - max_v;
      out[j * stride] = kLog ? T(shifted - log_sum) : T(std::exp(shifted) / sum);
    }
  }

  int64_t axis_;
  bool coerce_2d_;
};

template <bool kLog>
StatusOr<std::unique_ptr<Kernel>> MakeSoftmax(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 1, 1));
  const bool coerce_2d = context.opset < 13;
  ASSIGN_OR_RETURN(int64_t axis, context.node.GetInt("axis", coerce_2d ? 1 : -1));
  return std::unique_ptr<Kernel>(new SoftmaxKernel<kLog>(axis, coerce_2d));
}

NEREID_REGISTER_KERNEL("", "Softmax", MakeSoftmax<false>);
NEREID_REGISTER_KERNEL("", "LogSoftmax", MakeSoftmax<true>);

}  // namespace
}  // namespace nereid::engine::ref
