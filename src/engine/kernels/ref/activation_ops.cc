// Elementwise activations: Relu (floating and integer types, opset 14 added
// integers), Sigmoid and Tanh (floating types).
#include <cmath>
#include <type_traits>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

enum class Activation { kRelu, kSigmoid, kTanh };

template <Activation kAct, typename T>
T Apply(T x) {
  if constexpr (kAct == Activation::kRelu) {
    // Written as "x < 0" so NaN passes through, as numpy's maximum(x, 0) does.
    if constexpr (std::is_unsigned_v<T>) {
      return x;
    } else if constexpr (kIsHalf<T>) {
      return static_cast<float>(x) < 0.0f ? T(0.0f) : x;
    } else {
      return x < T{0} ? T{0} : x;
    }
  } else {
    using C = std::conditional_t<kIsHalf<T>, float, T>;
    C v = static_cast<C>(x);
    if constexpr (kAct == Activation::kTanh) return T(std::tanh(v));
    // Sigmoid, written so neither branch overflows exp().
    if (v >= C{0}) return T(C{1} / (C{1} + std::exp(-v)));
    C e = std::exp(v);
    return T(e / (C{1} + e));
  }
}

template <Activation kAct>
class ActivationKernel final : public Kernel {
 public:
  int InPlaceInput() const override { return 0; }  // out[i] = f(in[i])
  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 1, 1));
    const Tensor& x = *inputs[0];
    auto body = [&]<typename T>() -> Status {
      RETURN_IF_ERROR(ReuseOrAllocateOutput(&outputs[0], x.dtype(), x.shape()));
      const T* in = x.data_as<T>();
      T* out = outputs[0].mutable_data_as<T>();
      const int64_t n = NumElements(x.shape());
      for (int64_t i = 0; i < n; ++i) out[i] = Apply<kAct, T>(in[i]);
      return Status::Ok();
    };
    if constexpr (kAct == Activation::kRelu) {
      return DispatchNumeric(x.dtype(), "Relu", body);
    } else {
      return DispatchFloat(x.dtype(), kAct == Activation::kTanh ? "Tanh" : "Sigmoid", body);
    }
  }
};

template <Activation kAct>
StatusOr<std::unique_ptr<Kernel>> MakeActivation(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 1, 1));
  return std::unique_ptr<Kernel>(new ActivationKernel<kAct>());
}

NEREID_REGISTER_KERNEL("", "Relu", MakeActivation<Activation::kRelu>);
NEREID_REGISTER_KERNEL("", "Sigmoid", MakeActivation<Activation::kSigmoid>);
NEREID_REGISTER_KERNEL("", "Tanh", MakeActivation<Activation::kTanh>);

}  // namespace
}  // namespace nereid::engine::ref
