// Parameterized activations: LeakyRelu, Elu, Selu, HardSigmoid, HardSwish,
// Softplus, Softsign (floating types), PRelu (floating and integer types,
// slope unidirectionally broadcast to X) and Clip (opset < 11: float
// attributes min/max; opset >= 11: optional scalar inputs, numeric types
// from opset 12).
//
// Arithmetic on 16-bit floats runs in float; attributes (always FLOAT in
// ONNX) are widened to the compute type once per kernel.
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/broadcast.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/kernels/ref/elementwise_ext_util.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

enum class Act { kLeakyRelu, kElu, kSelu, kHardSigmoid, kHardSwish, kSoftplus, kSoftsign };

constexpr std::string_view OpName(Act act) {
  switch (act) {
    case Act::kLeakyRelu: return "LeakyRelu";
    case Act::kElu: return "Elu";
    case Act::kSelu: return "Selu";
    case Act::kHardSigmoid: return "HardSigmoid";
    case Act::kHardSwish: return "HardSwish";
    case Act::kSoftplus: return "Softplus";
    case Act::kSoftsign: return "Softsign";
  }
  return "?";
}

// `a`/`b` are the op's attributes: LeakyRelu/Elu alpha; Selu alpha, gamma;
// HardSigmoid alpha, beta. Comparisons are written "x < 0" so NaN takes the
// identity branch and propagates.
template <Act kAct, typename C>
C ApplyAct(C x, C a, C b) {
  if constexpr (kAct == Act::kLeakyRelu) return x < C{0} ? a * x : x;
  if constexpr (kAct == Act::kElu) return x < C{0} ? a * std::expm1(x) : x;
  if constexpr (kAct == Act::kSelu) return x > C{0} ? b * x : b * a * std::expm1(x);
  if constexpr (kAct == Act::kHardSigmoid) {
    return std::max(C{0}, std::min(C{1}, a * x + b));
  }
  if constexpr (kAct == Act::kHardSwish) {
    return x * std::max(C{0}, std::min(C{1}, x / C{6} + C{0.5}));
  }
  if constexpr (kAct == Act::kSoftplus) {
    // log(1 + exp(x)) without overflowing exp for large x.
    return x > C{0} ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
  }
  if constexpr (kAct == Act::kSoftsign) return x / (C{1} + std::fabs(x));
}

template <Act kAct>
class ActKernel final : public Kernel {
 public:
  ActKernel(float a, float b) : a_(a), b_(b) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 1, 1));
    const Tensor& x = *inputs[0];
    return DispatchFloat(x.dtype(), OpName(kAct), [&]<typename T>() -> Status {
      using C = ComputeType<T>;
      const C a = static_cast<C>(a_);
      const C b = static_cast<C>(b_);
      return MapUnary<T, T>(x, x.dtype(), &outputs[0], [&](T v) {
        return T(ApplyAct<kAct, C>(static_cast<C>(v), a, b));
      });
    });
  }

 private:
  float a_;
  float b_;
};

template <Act kAct>
StatusOr<std::unique_ptr<Kernel>> MakeAct(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 1, 1));
  const Node& node = context.node;
  float a = 0.0f;
  float b = 0.0f;
  if constexpr (kAct == Act::kLeakyRelu) {
    ASSIGN_OR_RETURN(a, node.GetFloat("alpha", 0.01f));
  } else if constexpr (kAct == Act::kElu) {
    ASSIGN_OR_RETURN(a, node.GetFloat("alpha", 1.0f));
  } else if constexpr (kAct == Act::kSelu) {
    ASSIGN_OR_RETURN(a, node.GetFloat("alpha", 1.67326319217681884765625f));
    ASSIGN_OR_RETURN(b, node.GetFloat("gamma", 1.05070102214813232421875f));
  } else if constexpr (kAct == Act::kHardSigmoid) {
    ASSIGN_OR_RETURN(a, node.GetFloat("alpha", 0.2f));
    ASSIGN_OR_RETURN(b, node.GetFloat("beta", 0.5f));
  }
  return std::unique_ptr<Kernel>(new ActKernel<kAct>(a, b));
}

NEREID_REGISTER_KERNEL("", "LeakyRelu", MakeAct<Act::kLeakyRelu>);
NEREID_REGISTER_KERNEL("", "Elu", MakeAct<Act::kElu>);
NEREID_REGISTER_KERNEL("", "Selu", MakeAct<Act::kSelu>);
NEREID_REGISTER_KERNEL("", "HardSigmoid", MakeAct<Act::kHardSigmoid>);
NEREID_REGISTER_KERNEL("", "HardSwish", MakeAct<Act::kHardSwish>);
NEREID_REGISTER_KERNEL("", "Softplus", MakeAct<Act::kSoftplus>);
NEREID_REGISTER_KERNEL("", "Softsign", MakeAct<Act::kSoftsign>);

// PRelu: y = x < 0 ? slope * x : x, slope broadcast to X's shape.
template <typename T>
T PreluOne(T x, T slope) {
  if constexpr (std::is_unsigned_v<T>) {
    return x;
  } else if constexpr (kIsFloating<T>) {
    using C = ComputeType<T>;
    const C v = static_cast<C>(x);
    return v < C{0} ? T(static_cast<C>(slope) * v) : x;
  } else {
    // Wrapping multiply (through uint64) rather than signed overflow.
    return x < 0 ? static_cast<T>(static_cast<uint64_t>(x) * static_cast<uint64_t>(slope)) : x;
  }
}

class PReluKernel final : public Kernel {
 public:
  explicit PReluKernel(bool per_channel_slope) : per_channel_slope_(per_channel_slope) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 2, 2));
    RETURN_IF_ERROR(CheckSameDtype(inputs));
    const Tensor& x = *inputs[0];
    Tensor slope = *inputs[1];
    // Opsets 1 and 6 (Caffe2 semantics): a 1-D slope of X.shape[1] values
    // is one slope per channel (axis 1); view it as [C, 1, ..., 1].
    const Shape& xs = x.shape();
    if (per_channel_slope_ && slope.shape().size() == 1 && xs.size() >= 2 &&
        slope.shape()[0] == xs[1] && slope.shape()[0] != 1) {
      Shape channel(xs.size() - 1, 1);
      channel[0] = xs[1];
      slope = MakeView(slope, std::move(channel));
    }
    if (!BroadcastsTo(slope.shape(), x.shape())) {
      return InvalidArgument("PRelu: slope shape " + ShapeToString(slope.shape()) +
                             " does not broadcast to X shape " + ShapeToString(x.shape()));
    }
    return DispatchNumeric(x.dtype(), "PRelu", [&]<typename T>() -> Status {
      return MapBinary<T, T, T>(x, slope, x.dtype(), &outputs[0], PreluOne<T>);
    });
  }

 private:
  bool per_channel_slope_;
};

StatusOr<std::unique_ptr<Kernel>> MakePRelu(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 2, 2));
  return std::unique_ptr<Kernel>(new PReluKernel(context.opset < 7));
}

NEREID_REGISTER_KERNEL("", "PRelu", MakePRelu);

// Clip: v = min(max(x, lo), hi), written so NaN passes through and lo > hi
// yields hi everywhere (the opset 13 rule).
template <typename T>
T ClipOne(T x, T lo, T hi) {
  using C = ComputeType<T>;
  const C v = static_cast<C>(x);
  if (v < static_cast<C>(lo)) x = lo;
  if (static_cast<C>(x) > static_cast<C>(hi)) x = hi;
  return x;
}

// Bound from an optional scalar input: absent -> `fallback`.
template <typename T>
StatusOr<T> ClipBound(const Tensor* t, std::string_view name, T fallback) {
  if (t == nullptr) return fallback;
  if (NumElements(t->shape()) != 1) {
    return InvalidArgument("Clip: input '" + std::string(name) +
                           "' must be a scalar, got shape " + ShapeToString(t->shape()));
  }
  return t->data_as<T>()[0];
}

template <typename T>
T Lowest() {
  if constexpr (kIsHalf<T>) {
    return T(-std::numeric_limits<float>::infinity());
  } else if constexpr (std::is_floating_point_v<T>) {
    return -std::numeric_limits<T>::infinity();
  } else {
    return std::numeric_limits<T>::lowest();
  }
}

template <typename T>
T Highest() {
  if constexpr (kIsHalf<T>) {
    return T(std::numeric_limits<float>::infinity());
  } else if constexpr (std::is_floating_point_v<T>) {
    return std::numeric_limits<T>::infinity();
  } else {
    return std::numeric_limits<T>::max();
  }
}

class ClipKernel final : public Kernel {
 public:
  // `attr_min`/`attr_max` are the opset < 11 attributes (nullopt: no bound);
  // `bounds_are_inputs` selects the opset >= 11 form.
  ClipKernel(bool bounds_are_inputs, std::optional<float> attr_min, std::optional<float> attr_max)
      : bounds_are_inputs_(bounds_are_inputs), attr_min_(attr_min), attr_max_(attr_max) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 1, bounds_are_inputs_ ? 3 : 1));
    RETURN_IF_ERROR(CheckSameDtype(inputs));
    const Tensor& x = *inputs[0];
    auto body = [&]<typename T>() -> Status {
      T lo = Lowest<T>();
      T hi = Highest<T>();
      if (bounds_are_inputs_) {
        ASSIGN_OR_RETURN(lo, ClipBound<T>(inputs.size() > 1 ? inputs[1] : nullptr, "min", lo));
        ASSIGN_OR_RETURN(hi, ClipBound<T>(inputs.size() > 2 ? inputs[2] : nullptr, "max", hi));
      } else {
        if (attr_min_) lo = Convert<T>(*attr_min_);
        if (attr_max_) hi = Convert<T>(*attr_max_);
      }
      return MapUnary<T, T>(x, x.dtype(), &outputs[0], [&](T v) { return ClipOne<T>(v, lo, hi); });
    };
    if (!bounds_are_inputs_) return DispatchFloat(x.dtype(), "Clip", body);
    return DispatchNumeric(x.dtype(), "Clip", body);
  }

 private:
  bool bounds_are_inputs_;
  std::optional<float> attr_min_;
  std::optional<float> attr_max_;
};

StatusOr<std::optional<float>> OptionalFloat(const Node& node, std::string_view name) {
  if (node.FindAttribute(name) == nullptr) return std::optional<float>();
  ASSIGN_OR_RETURN(float v, node.GetFloat(name));
  if (std::isnan(v)) return InvalidArgument("Clip: attribute '" + std::string(name) + "' is NaN");
  return std::optional<float>(v);
}

StatusOr<std::unique_ptr<Kernel>> MakeClip(const KernelBuildContext& context) {
  if (context.opset >= 11) {
    RETURN_IF_ERROR(CheckArity(context, 1, 3));
    return std::unique_ptr<Kernel>(new ClipKernel(true, std::nullopt, std::nullopt));
  }
  RETURN_IF_ERROR(CheckArity(context, 1, 1));
  ASSIGN_OR_RETURN(std::optional<float> lo, OptionalFloat(context.node, "min"));
  ASSIGN_OR_RETURN(std::optional<float> hi, OptionalFloat(context.node, "max"));
  return std::unique_ptr<Kernel>(new ClipKernel(false, lo, hi));
}

NEREID_REGISTER_KERNEL("", "Clip", MakeClip);

}  // namespace
}  // namespace nereid::engine::ref
