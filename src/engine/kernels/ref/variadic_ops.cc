// Variadic elementwise Min, Max (numeric types) and Sum, Mean (floating
// types): one or more inputs of one dtype, broadcast numpy-style against
// each other (opsets 6-7 required equal shapes, a special case).
//
// Min/Max propagate NaN like numpy.minimum/maximum. Sum/Mean accumulate in
// float for 16-bit floats so only the final result is rounded.
#include <cmath>
#include <string>
#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/broadcast.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/kernels/ref/elementwise_ext_util.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

enum class VarOp { kMin, kMax, kSum, kMean };

constexpr std::string_view OpName(VarOp op) {
  switch (op) {
    case VarOp::kMin: return "Min";
    case VarOp::kMax: return "Max";
    case VarOp::kSum: return "Sum";
    case VarOp::kMean: return "Mean";
  }
  return "?";
}

// Combines the running value `acc` with a new element `v`.
template <VarOp kOp, typename C>
C Combine(C acc, C v) {
  if constexpr (kOp == VarOp::kSum || kOp == VarOp::kMean) {
    return acc + v;
  } else {
    if constexpr (std::is_floating_point_v<C>) {
      if (std::isnan(acc)) return acc;
      if (std::isnan(v)) return v;
    }
    if constexpr (kOp == VarOp::kMin) return v < acc ? v : acc;
    return v > acc ? v : acc;
  }
}

// Shape all inputs broadcast to; InvalidArgument when they do not.
StatusOr<Shape> BroadcastAll(std::span<const Tensor* const> inputs) {
  Shape shape = inputs[0]->shape();
  for (size_t i = 1; i < inputs.size(); ++i) {
    ASSIGN_OR_RETURN(shape, BroadcastShapes(shape, inputs[i]->shape()));
  }
  return shape;
}

template <VarOp kOp, typename T>
Status Compute(std::span<const Tensor* const> inputs, const Shape& shape, Tensor* out) {
  // Min/Max of integers stay in T; floating ops run in AccType (float for
  // 16-bit floats, T otherwise).
  using C = std::conditional_t<kIsFloating<T>, AccType<T>, T>;
  const int64_t n = NumElements(shape);
  std::vector<C> acc(static_cast<size_t>(n));
  const auto dense = BroadcastStrides(shape, shape);
  for (size_t k = 0; k < inputs.size(); ++k) {
    const auto strides = BroadcastStrides(inputs[k]->shape(), shape);
    const T* p = inputs[k]->data_as<T>();
    ForEachBroadcast(shape, dense, strides, [&](int64_t o, int64_t, int64_t i) {
      const C v = static_cast<C>(p[i]);
      acc[o] = k == 0 ? v : Combine<kOp, C>(acc[o], v);
    });
  }
  T* po = out->mutable_data_as<T>();
  for (int64_t o = 0; o < n; ++o) {
    C v = acc[o];
    if constexpr (kOp == VarOp::kMean) v = v / static_cast<C>(inputs.size());
    if constexpr (kIsHalf<T>) {
      po[o] = T(v);
    } else {
      po[o] = static_cast<T>(v);
    }
  }
  return Status::Ok();
}

template <VarOp kOp>
class VariadicKernel final : public Kernel {
 public:
  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    if (inputs.empty()) return InvalidArgument(std::string(OpName(kOp)) + " needs an input");
    RETURN_IF_ERROR(CheckInputs(inputs, inputs.size(), inputs.size()));
    RETURN_IF_ERROR(CheckSameDtype(inputs));
    ASSIGN_OR_RETURN(Shape shape, BroadcastAll(inputs));
    const DataType dtype = inputs[0]->dtype();
    auto body = [&]<typename T>() -> Status {
      ASSIGN_OR_RETURN(outputs[0], AllocateOutput(dtype, shape));
      return Compute<kOp, T>(inputs, shape, &outputs[0]);
    };
    if constexpr (kOp == VarOp::kMin || kOp == VarOp::kMax) {
      return DispatchNumeric(dtype, OpName(kOp), body);
    } else {
      return DispatchFloat(dtype, OpName(kOp), body);
    }
  }
};

template <VarOp kOp>
StatusOr<std::unique_ptr<Kernel>> MakeVariadic(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 1, SIZE_MAX));
  for (int id : context.node.inputs) {
    if (id == kNoValue) {
      return InvalidArgument(std::string(OpName(kOp)) + ": inputs cannot be omitted");
    }
  }
  return std::unique_ptr<Kernel>(new VariadicKernel<kOp>());
}

NEREID_REGISTER_KERNEL("", "Min", MakeVariadic<VarOp::kMin>);
NEREID_REGISTER_KERNEL("", "Max", MakeVariadic<VarOp::kMax>);
NEREID_REGISTER_KERNEL("", "Sum", MakeVariadic<VarOp::kSum>);
NEREID_REGISTER_KERNEL("", "Mean", MakeVariadic<VarOp::kMean>);

}  // namespace
}  // namespace nereid::engine::ref
