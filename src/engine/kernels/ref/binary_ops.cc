// Add, Sub, Mul, Div with multidirectional broadcasting, all numeric types.
// Integer arithmetic wraps (computed in 64-bit unsigned); integer Div
// truncates toward zero and rejects division by zero.
#include <string>
#include <type_traits>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/broadcast.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

enum class BinaryOp { kAdd, kSub, kMul, kDiv };

constexpr std::string_view OpName(BinaryOp op) {
  switch (op) {
    case BinaryOp::kAdd:
      return "Add";
    case BinaryOp::kSub:
      return "Sub";
    case BinaryOp::kMul:
      return "Mul";
    case BinaryOp::kDiv:
      return "Div";
  }
  return "?";
}

template <BinaryOp kOp, typename T>
T ApplyFloat(T x, T y) {
  using C = std::conditional_t<kIsHalf<T>, float, T>;
  C a = static_cast<C>(x);
  C b = static_cast<C>(y);
  C r;
  if constexpr (kOp == BinaryOp::kAdd) r = a + b;
  if constexpr (kOp == BinaryOp::kSub) r = a - b;
  if constexpr (kOp == BinaryOp::kMul) r = a * b;
  if constexpr (kOp == BinaryOp::kDiv) r = a / b;
  return T(r);
}

// Integer op; returns false on division by zero.
template <BinaryOp kOp, typename T>
bool ApplyInt(T a, T b, T* out) {
  const uint64_t ua = static_cast<uint64_t>(a);
  const uint64_t ub = static_cast<uint64_t>(b);
  if constexpr (kOp == BinaryOp::kAdd) *out = static_cast<T>(ua + ub);
  if constexpr (kOp == BinaryOp::kSub) *out = static_cast<T>(ua - ub);
  if constexpr (kOp == BinaryOp::kMul) *out = static_cast<T>(ua * ub);
  if constexpr (kOp == BinaryOp::kDiv) {
    if (b == 0) return false;
    if constexpr (std::is_signed_v<T>) {
      if (b == -1) {  // avoids the trap on lowest() / -1; negation wraps
        *out = static_cast<T>(uint64_t{0} - ua);
        return true;
      }
    }
    *out = static_cast<T>(a / b);
  }
  return true;
}

template <BinaryOp kOp, typename T>
Status Compute(const Tensor& a, const Tensor& b, Tensor* out) {
  const auto sa = BroadcastStrides(a.shape(), out->shape());
  const auto sb = BroadcastStrides(b.shape(), out->shape());
  const T* pa = a.data_as<T>();
  const T* pb = b.data_as<T>();
  T* po = out->mutable_data_as<T>();
  if constexpr (kIsFloating<T>) {
    ForEachBroadcast(out->shape(), sa, sb, [&](int64_t o, int64_t i, int64_t j) {
      po[o] = ApplyFloat<kOp, T>(pa[i], pb[j]);
    });
    return Status::Ok();
  } else {
    bool ok = true;
    ForEachBroadcast(out->shape(), sa, sb, [&](int64_t o, int64_t i, int64_t j) {
      if (!ApplyInt<kOp, T>(pa[i], pb[j], &po[o])) {
        po[o] = 0;
        ok = false;
      }
    });
    if (!ok) return InvalidArgument("integer division by zero");
    return Status::Ok();
  }
}

template <BinaryOp kOp>
class BinaryKernel final : public Kernel {
 public:
  // When A has the output's shape, element o of the output reads element o
  // of A (and any element of B, a different tensor): safe in place.
  int InPlaceInput() const override { return 0; }
  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 2, 2));
    RETURN_IF_ERROR(CheckSameDtype(inputs));
    const Tensor& a = *inputs[0];
    const Tensor& b = *inputs[1];
    ASSIGN_OR_RETURN(Shape shape, BroadcastShapes(a.shape(), b.shape()));
    return DispatchNumeric(a.dtype(), OpName(kOp), [&]<typename T>() -> Status {
      RETURN_IF_ERROR(ReuseOrAllocateOutput(&outputs[0], a.dtype(), shape));
      return Compute<kOp, T>(a, b, &outputs[0]);
    });
  }
};

template <BinaryOp kOp>
StatusOr<std::unique_ptr<Kernel>> MakeBinary(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 2, 2));
  // Opsets 1-6 had "broadcast"/"axis" attributes for limited broadcasting;
  // only the numpy-compatible case (axis absent) is supported.
  if (context.node.FindAttribute("axis") != nullptr) {
    return Unimplemented("legacy 'axis' broadcasting (opset < 7) is not supported");
  }
  return std::unique_ptr<Kernel>(new BinaryKernel<kOp>());
}

NEREID_REGISTER_KERNEL("", "Add", MakeBinary<BinaryOp::kAdd>);
NEREID_REGISTER_KERNEL("", "Sub", MakeBinary<BinaryOp::kSub>);
NEREID_REGISTER_KERNEL("", "Mul", MakeBinary<BinaryOp::kMul>);
NEREID_REGISTER_KERNEL("", "Div", MakeBinary<BinaryOp::kDiv>);

}  // namespace
}  // namespace nereid::engine::ref
