// Elementwise unary math: Sqrt, Exp, Log, Reciprocal, Floor, Ceil, Round
// (floating types); Abs, Erf, Sign (all numeric types); Neg (floating and
// signed integer types); IsNaN, IsInf (floating in, BOOL out).
//
// Opsets 1-5 carried a "consumed_inputs" attribute (an in-place hint with no
// effect on results); it is ignored. Integer Abs/Neg wrap on lowest() like
// two's complement hardware instead of invoking undefined behaviour.
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/kernels/ref/elementwise_ext_util.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

enum class UnaryOp { kSqrt, kExp, kLog, kReciprocal, kFloor, kCeil, kRound, kAbs, kErf, kSign, kNeg };

constexpr std::string_view OpName(UnaryOp op) {
  switch (op) {
    case UnaryOp::kSqrt: return "Sqrt";
    case UnaryOp::kExp: return "Exp";
    case UnaryOp::kLog: return "Log";
    case UnaryOp::kReciprocal: return "Reciprocal";
    case UnaryOp::kFloor: return "Floor";
    case UnaryOp::kCeil: return "Ceil";
    case UnaryOp::kRound: return "Round";
    case UnaryOp::kAbs: return "Abs";
    case UnaryOp::kErf: return "Erf";
    case UnaryOp::kSign: return "Sign";
    case UnaryOp::kNeg: return "Neg";
  }
  return "?";
}

// Floating-point evaluation (C is float or double).
template <UnaryOp kOp, typename C>
C ApplyFloat(C v) {
  if constexpr (kOp == UnaryOp::kSqrt) return std::sqrt(v);
  if constexpr (kOp == UnaryOp::kExp) return std::exp(v);
  if constexpr (kOp == UnaryOp::kLog) return std::log(v);
  if constexpr (kOp == UnaryOp::kReciprocal) return C{1} / v;
  if constexpr (kOp == UnaryOp::kFloor) return std::floor(v);
  if constexpr (kOp == UnaryOp::kCeil) return std::ceil(v);
  // Round: half to even, as numpy.round; nearbyint uses the default
  // round-to-nearest-even mode and raises no inexact exception.
  if constexpr (kOp == UnaryOp::kRound) return std::nearbyint(v);
  if constexpr (kOp == UnaryOp::kAbs) return std::fabs(v);
  if constexpr (kOp == UnaryOp::kErf) return std::erf(v);
  if constexpr (kOp == UnaryOp::kNeg) return -v;
  if constexpr (kOp == UnaryOp::kSign) {
    if (std::isnan(v)) return v;  // numpy.sign(nan) is nan
    return v > C{0} ? C{1} : (v < C{0} ? C{-1} : C{0});
  }
}

// Integer evaluation; wraps through uint64 where negation could overflow.
template <UnaryOp kOp, typename T>
T ApplyInt(T x) {
  const uint64_t ux = static_cast<uint64_t>(x);
  if constexpr (kOp == UnaryOp::kNeg) return static_cast<T>(uint64_t{0} - ux);
  if constexpr (kOp == UnaryOp::kAbs) {
    if constexpr (std::is_signed_v<T>) return x < 0 ? static_cast<T>(uint64_t{0} - ux) : x;
    return x;
  }
  if constexpr (kOp == UnaryOp::kSign) return x > 0 ? T{1} : (x < 0 ? static_cast<T>(-1) : T{0});
  // Erf over integers: the real result converted back (truncates to 0 or +-1).
  if constexpr (kOp == UnaryOp::kErf) return Convert<T>(std::erf(static_cast<double>(x)));
  return x;
}

template <UnaryOp kOp, typename T>
T Apply(T x) {
  if constexpr (kIsFloating<T>) {
    using C = ComputeType<T>;
    return T(ApplyFloat<kOp, C>(static_cast<C>(x)));
  } else {
    return ApplyInt<kOp, T>(x);
  }
}

template <UnaryOp kOp, typename Fn>
Status DispatchFor(DataType dtype, Fn&& fn) {
  constexpr std::string_view name = OpName(kOp);
  if constexpr (kOp == UnaryOp::kAbs || kOp == UnaryOp::kErf || kOp == UnaryOp::kSign) {
    return DispatchNumeric(dtype, name, fn);
  } else if constexpr (kOp == UnaryOp::kNeg) {
    switch (dtype) {
      case DataType::kInt8:
      case DataType::kInt16:
      case DataType::kInt32:
      case DataType::kInt64:
        return DispatchInteger(dtype, name, fn);
      default:
        return DispatchFloat(dtype, name, fn);  // rejects unsigned types
    }
  } else {
    return DispatchFloat(dtype, name, fn);
  }
}

template <UnaryOp kOp>
class UnaryKernel final : public Kernel {
 public:
  int InPlaceInput() const override { return 0; }  // MapUnary: out[i] = f(in[i])
  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 1, 1));
    const Tensor& x = *inputs[0];
    return DispatchFor<kOp>(x.dtype(), [&]<typename T>() -> Status {
      return MapUnary<T, T>(x, x.dtype(), &outputs[0], [](T v) { return Apply<kOp, T>(v); });
    });
  }
};

template <UnaryOp kOp>
StatusOr<std::unique_ptr<Kernel>> MakeUnary(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 1, 1));
  return std::unique_ptr<Kernel>(new UnaryKernel<kOp>());
}

NEREID_REGISTER_KERNEL("", "Sqrt", MakeUnary<UnaryOp::kSqrt>);
NEREID_REGISTER_KERNEL("", "Exp", MakeUnary<UnaryOp::kExp>);
NEREID_REGISTER_KERNEL("", "Log", MakeUnary<UnaryOp::kLog>);
NEREID_REGISTER_KERNEL("", "Reciprocal", MakeUnary<UnaryOp::kReciprocal>);
NEREID_REGISTER_KERNEL("", "Floor", MakeUnary<UnaryOp::kFloor>);
NEREID_REGISTER_KERNEL("", "Ceil", MakeUnary<UnaryOp::kCeil>);
NEREID_REGISTER_KERNEL("", "Round", MakeUnary<UnaryOp::kRound>);
NEREID_REGISTER_KERNEL("", "Abs", MakeUnary<UnaryOp::kAbs>);
NEREID_REGISTER_KERNEL("", "Erf", MakeUnary<UnaryOp::kErf>);
NEREID_REGISTER_KERNEL("", "Sign", MakeUnary<UnaryOp::kSign>);
NEREID_REGISTER_KERNEL("", "Neg", MakeUnary<UnaryOp::kNeg>);

// IsNaN / IsInf: floating input, BOOL output. IsInf's detect_* attributes
// choose which infinities count.
class FloatClassKernel final : public Kernel {
 public:
  FloatClassKernel(bool is_nan, bool detect_negative, bool detect_positive)
      : is_nan_(is_nan), detect_negative_(detect_negative), detect_positive_(detect_positive) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 1, 1));
    const Tensor& x = *inputs[0];
    return DispatchFloat(x.dtype(), is_nan_ ? "IsNaN" : "IsInf", [&]<typename T>() -> Status {
      return MapUnary<T, Bool8>(x, DataType::kBool, &outputs[0], [&](T t) {
        const ComputeType<T> v = static_cast<ComputeType<T>>(t);
        if (is_nan_) return MakeBool(std::isnan(v));
        if (!std::isinf(v)) return MakeBool(false);
        return MakeBool(v < 0 ? detect_negative_ : detect_positive_);
      });
    });
  }

 private:
  bool is_nan_;
  bool detect_negative_;
  bool detect_positive_;
};

StatusOr<std::unique_ptr<Kernel>> MakeIsNaN(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 1, 1));
  return std::unique_ptr<Kernel>(new FloatClassKernel(true, false, false));
}

StatusOr<bool> GetFlag(const Node& node, std::string_view name) {
  ASSIGN_OR_RETURN(int64_t v, node.GetInt(name, 1));
  if (v != 0 && v != 1) {
    return InvalidArgument("attribute '" + std::string(name) + "' must be 0 or 1, got " +
                           std::to_string(v));
  }
  return v == 1;
}

StatusOr<std::unique_ptr<Kernel>> MakeIsInf(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 1, 1));
  ASSIGN_OR_RETURN(bool negative, GetFlag(context.node, "detect_negative"));
  ASSIGN_OR_RETURN(bool positive, GetFlag(context.node, "detect_positive"));
  return std::unique_ptr<Kernel>(new FloatClassKernel(false, negative, positive));
}

NEREID_REGISTER_KERNEL("", "IsNaN", MakeIsNaN);
NEREID_REGISTER_KERNEL("", "IsInf", MakeIsInf);

}  // namespace
}  // namespace nereid::engine::ref
