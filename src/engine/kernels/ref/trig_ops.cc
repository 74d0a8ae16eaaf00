// Elementwise trigonometric and hyperbolic functions (Sin, Cos, Tan, Asin,
// Acos, Atan, Sinh, Cosh, Asinh, Acosh, Atanh; floating types) and the
// parameterized activations Celu (opset 12), ThresholdedRelu (opset 10) and
// Shrink (opset 9, every numeric type).
//
// Out-of-domain inputs (asin(2), acosh(0), ...) give NaN like numpy; they are
// not errors.
#include <cmath>
#include <string>
#include <type_traits>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/kernels/ref/misc_util.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

enum class Fn {
  kSin, kCos, kTan, kAsin, kAcos, kAtan, kSinh, kCosh, kAsinh, kAcosh, kAtanh,
  kCelu, kThresholdedRelu, kShrink,
};

constexpr std::string_view FnName(Fn fn) {
  switch (fn) {
    case Fn::kSin: return "Sin";
    case Fn::kCos: return "Cos";
    case Fn::kTan: return "Tan";
    case Fn::kAsin: return "Asin";
    case Fn::kAcos: return "Acos";
    case Fn::kAtan: return "Atan";
    case Fn::kSinh: return "Sinh";
    case Fn::kCosh: return "Cosh";
    case Fn::kAsinh: return "Asinh";
    case Fn::kAcosh: return "Acosh";
    case Fn::kAtanh: return "Atanh";
    case Fn::kCelu: return "Celu";
    case Fn::kThresholdedRelu: return "ThresholdedRelu";
    case Fn::kShrink: return "Shrink";
  }
  return "?";
}

// Attribute values of the parameterized functions (unused by the others).
struct Params {
  double alpha = 1.0;  // Celu, ThresholdedRelu
  double bias = 0.0;   // Shrink
  double lambd = 0.5;  // Shrink
};

// C is float (for float and the 16-bit types) or double.
template <Fn kFn, typename C>
C ApplyFloat(C v, const Params& p) {
  if constexpr (kFn == Fn::kSin) return std::sin(v);
  if constexpr (kFn == Fn::kCos) return std::cos(v);
  if constexpr (kFn == Fn::kTan) return std::tan(v);
  if constexpr (kFn == Fn::kAsin) return std::asin(v);
  if constexpr (kFn == Fn::kAcos) return std::acos(v);
  if constexpr (kFn == Fn::kAtan) return std::atan(v);
  if constexpr (kFn == Fn::kSinh) return std::sinh(v);
  if constexpr (kFn == Fn::kCosh) return std::cosh(v);
  if constexpr (kFn == Fn::kAsinh) return std::asinh(v);
  if constexpr (kFn == Fn::kAcosh) return std::acosh(v);
  if constexpr (kFn == Fn::kAtanh) return std::atanh(v);
  if constexpr (kFn == Fn::kCelu) {
    // max(0, x) + min(0, alpha * (exp(x / alpha) - 1)); expm1 keeps small x exact.
    const C alpha = static_cast<C>(p.alpha);
    return v > C{0} ? v : alpha * std::expm1(v / alpha);
  }
  if constexpr (kFn == Fn::kThresholdedRelu) return v > static_cast<C>(p.alpha) ? v : C{0};
  if constexpr (kFn == Fn::kShrink) {
    const C lambd = static_cast<C>(p.lambd);
    const C bias = static_cast<C>(p.bias);
    if (v < -lambd) return v + bias;
    if (v > lambd) return v - bias;
    return C{0};
  }
}

template <Fn kFn>
class UnaryKernel final : public Kernel {
 public:
  explicit UnaryKernel(Params params) : params_(params) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 1, 1));
    const Tensor& x = *inputs[0];
    auto body = [&]<typename T>() -> Status {
      ASSIGN_OR_RETURN(outputs[0], AllocateOutput(x.dtype(), x.shape()));
      const T* in = x.data_as<T>();
      T* out = outputs[0].mutable_data_as<T>();
      const int64_t n = NumElements(x.shape());
      for (int64_t i = 0; i < n; ++i) out[i] = Apply<T>(in[i]);
      return Status::Ok();
    };
    if constexpr (kFn == Fn::kShrink) {
      return DispatchNumeric(x.dtype(), FnName(kFn), body);
    } else {
      return DispatchFloat(x.dtype(), FnName(kFn), body);
    }
  }

 private:
  template <typename T>
  T Apply(T x) const {
    if constexpr (kIsFloating<T>) {
      using C = Compute<T>;
      return T(ApplyFloat<kFn, C>(static_cast<C>(x), params_));
    } else {
      // Shrink over integers: computed exactly in double (lambd/bias are
      // floats) and converted back with saturation.
      return Convert<T>(ApplyFloat<kFn, double>(static_cast<double>(x), params_));
    }
  }

  Params params_;
};

template <Fn kFn>
StatusOr<std::unique_ptr<Kernel>> MakeUnary(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 1, 1));
  Params p;
  if constexpr (kFn == Fn::kCelu || kFn == Fn::kThresholdedRelu) {
    ASSIGN_OR_RETURN(float alpha, context.node.GetFloat("alpha", 1.0f));
    if (kFn == Fn::kCelu && (alpha == 0.0f || !std::isfinite(alpha))) {
      return InvalidArgument("Celu attribute 'alpha' must be finite and non-zero");
    }
    p.alpha = alpha;
  }
  if constexpr (kFn == Fn::kShrink) {
    ASSIGN_OR_RETURN(float bias, context.node.GetFloat("bias", 0.0f));
    ASSIGN_OR_RETURN(float lambd, context.node.GetFloat("lambd", 0.5f));
    if (std::isnan(bias) || std::isnan(lambd)) {
      return InvalidArgument("Shrink attributes 'bias' and 'lambd' must not be NaN");
    }
    p.bias = bias;
    p.lambd = lambd;
  }
  return std::unique_ptr<Kernel>(new UnaryKernel<kFn>(p));
}

NEREID_REGISTER_KERNEL("", "Sin", MakeUnary<Fn::kSin>);
NEREID_REGISTER_KERNEL("", "Cos", MakeUnary<Fn::kCos>);
NEREID_REGISTER_KERNEL("", "Tan", MakeUnary<Fn::kTan>);
NEREID_REGISTER_KERNEL("", "Asin", MakeUnary<Fn::kAsin>);
NEREID_REGISTER_KERNEL("", "Acos", MakeUnary<Fn::kAcos>);
NEREID_REGISTER_KERNEL("", "Atan", MakeUnary<Fn::kAtan>);
NEREID_REGISTER_KERNEL("", "Sinh", MakeUnary<Fn::kSinh>);
NEREID_REGISTER_KERNEL("", "Cosh", MakeUnary<Fn::kCosh>);
NEREID_REGISTER_KERNEL("", "Asinh", MakeUnary<Fn::kAsinh>);
NEREID_REGISTER_KERNEL("", "Acosh", MakeUnary<Fn::kAcosh>);
NEREID_REGISTER_KERNEL("", "Atanh", MakeUnary<Fn::kAtanh>);
NEREID_REGISTER_KERNEL("", "Celu", MakeUnary<Fn::kCelu>);
NEREID_REGISTER_KERNEL("", "ThresholdedRelu", MakeUnary<Fn::kThresholdedRelu>);
NEREID_REGISTER_KERNEL("", "Shrink", MakeUnary<Fn::kShrink>);

}  // namespace
}  // namespace nereid::engine::ref
