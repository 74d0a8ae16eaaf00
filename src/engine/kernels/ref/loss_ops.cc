// Loss functions: NegativeLogLikelihoodLoss (opset 12, 13) and
// SoftmaxCrossEntropyLoss (opset 12, 13).
//
// Both take scores/log-probabilities shaped [N, C, d1, ..., dk] and integer
// targets shaped [N, d1, ..., dk] (int32 or int64), an optional per-class
// weight [C], the attributes reduction ("none" | "sum" | "mean", default
// "mean") and ignore_index. The element loss is
//   loss[n, d] = -logp[n, target[n, d], d] * weight[target[n, d]]
// and 0 where target == ignore_index. "mean" divides the sum by the total
// weight of the non-ignored elements (their count without `weight`), as the
// ONNX reference does. Accumulation is in double.
//
// A target outside [0, C) that is not ignore_index is InvalidArgument (the
// spec leaves it undefined; reading out of bounds is not an option).
#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/kernels/ref/misc_util.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

enum class Reduction { kNone, kSum, kMean };

struct LossAttrs {
  Reduction reduction = Reduction::kMean;
  std::optional<int64_t> ignore_index;
};

StatusOr<LossAttrs> ParseLossAttrs(const Node& node) {
  LossAttrs attrs;
  ASSIGN_OR_RETURN(std::string reduction, node.GetString("reduction", "mean"));
  if (reduction == "none") {
    attrs.reduction = Reduction::kNone;
  } else if (reduction == "sum") {
    attrs.reduction = Reduction::kSum;
  } else if (reduction == "mean") {
    attrs.reduction = Reduction::kMean;
  } else {
    return InvalidArgument("attribute 'reduction' must be none, sum or mean, got '" + reduction +
                           "'");
  }
  if (node.FindAttribute("ignore_index") != nullptr) {
    ASSIGN_OR_RETURN(int64_t ii, node.GetInt("ignore_index"));
    attrs.ignore_index = ii;
  }
  return attrs;
}

// Shapes of one loss evaluation, viewed as scores [n, c, d] / targets [n, d].
struct LossGeometry {
  int64_t n = 0;
  int64_t c = 0;
  int64_t d = 0;
  Shape target_shape;
};

StatusOr<LossGeometry> CheckLossInputs(const Tensor& scores, const Tensor& target,
                                       const Tensor* weight) {
  const Shape& s = scores.shape();
  const Shape& t = target.shape();
  if (s.size() < 2) {
    return InvalidArgument("input must have rank >= 2 ([N, C, ...]), got shape " +
                           ShapeToString(s));
  }
  bool match = t.size() + 1 == s.size() && t[0] == s[0];
  for (size_t i = 1; match && i < t.size(); ++i) match = t[i] == s[i + 1];
  if (!match) {
    return InvalidArgument("target shape " + ShapeToString(t) +
                           " does not match input shape " + ShapeToString(s) +
                           " without its class dimension");
  }
  if (target.dtype() != DataType::kInt32 && target.dtype() != DataType::kInt64) {
    return InvalidArgument("target must be INT32 or INT64, got " +
                           std::string(DataTypeName(target.dtype())));
  }
  if (weight != nullptr) {
    if (weight->dtype() != scores.dtype()) {
      return InvalidArgument("weight element type " + std::string(DataTypeName(weight->dtype())) +
                             " differs from the input's " +
                             std::string(DataTypeName(scores.dtype())));
    }
    if (weight->shape() != Shape{s[1]}) {
      return InvalidArgument("weight shape " + ShapeToString(weight->shape()) + " must be [" +
                             std::to_string(s[1]) + "]");
    }
  }
  return LossGeometry{s[0], s[1], DimProduct(s, 2, s.size()), t};
}

// Targets widened to int64.
std::vector<int64_t> ReadTargets(const Tensor& target) {
  const int64_t count = NumElements(target.shape());
  std::vector<int64_t> out(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    out[i] = target.dtype() == DataType::kInt32 ? target.data_as<int32_t>()[i]
                                                : target.data_as<int64_t>()[i];
  }
  return out;
}

// Computes the loss from log-probabilities `logp` ([n, c, d], row-major) and
// writes it (element-wise or reduced) into outputs[0] with dtype of T.
template <typename T, typename V>
Status NllCompute(const V* logp, const Tensor& target, const Tensor* weight,
                  const LossGeometry& g, const LossAttrs& attrs, Tensor* out) {
  const std::vector<int64_t> targets = ReadTargets(target);
  const T* w = weight != nullptr ? weight->data_as<T>() : nullptr;
  std::vector<double> losses(targets.size());
  double total = 0.0;
  double weight_sum = 0.0;
  for (int64_t i = 0; i < g.n; ++i) {
    for (int64_t j = 0; j < g.d; ++j) {
      const size_t k = static_cast<size_t>(i * g.d + j);
      const int64_t cls = targets[k];
      if (attrs.ignore_index.has_value() && cls == *attrs.ignore_index) {
        losses[k] = 0.0;
        continue;
      }
      if (cls < 0 || cls >= g.c) {
        return InvalidArgument("target value " + std::to_string(cls) +
                               " is outside the class range [0, " + std::to_string(g.c) + ")");
      }
      const double wt = w != nullptr ? static_cast<double>(static_cast<Compute<T>>(w[cls])) : 1.0;
      const double v = static_cast<double>(logp[(i * g.c + cls) * g.d + j]);
      losses[k] = -v * wt;
      total += losses[k];
      weight_sum += wt;
    }
  }
  if (attrs.reduction == Reduction::kNone) {
    ASSIGN_OR_RETURN(*out, AllocateOutput(DataTypeOf<T>(), g.target_shape));
    T* o = out->mutable_data_as<T>();
    for (size_t k = 0; k < losses.size(); ++k) o[k] = Convert<T>(losses[k]);
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(*out, AllocateOutput(DataTypeOf<T>(), Shape{}));
  // Without weights or ignore_index every element weighs 1, so weight_sum
  // is the element count (np.mean). 0/0 (everything ignored) gives NaN like
  // the reference.
  const double value = attrs.reduction == Reduction::kSum ? total : total / weight_sum;
  out->mutable_data_as<T>()[0] = Convert<T>(value);
  return Status::Ok();
}

class NllKernel final : public Kernel {
 public:
  explicit NllKernel(LossAttrs attrs) : attrs_(attrs) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 2, 3));
    const Tensor& x = *inputs[0];
    const Tensor* weight = inputs.size() > 2 ? inputs[2] : nullptr;
    ASSIGN_OR_RETURN(LossGeometry g, CheckLossInputs(x, *inputs[1], weight));
    return DispatchFloat(x.dtype(), "NegativeLogLikelihoodLoss", [&]<typename T>() -> Status {
      return NllCompute<T>(x.data_as<T>(), *inputs[1], weight, g, attrs_, &outputs[0]);
    });
  }

 private:
  LossAttrs attrs_;
};

class SceKernel final : public Kernel {
 public:
  SceKernel(LossAttrs attrs, bool want_log_prob) : attrs_(attrs), want_log_prob_(want_log_prob) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 2, 3));
    const Tensor& x = *inputs[0];
    const Tensor* weight = inputs.size() > 2 ? inputs[2] : nullptr;
    ASSIGN_OR_RETURN(LossGeometry g, CheckLossInputs(x, *inputs[1], weight));
    return DispatchFloat(x.dtype(), "SoftmaxCrossEntropyLoss", [&]<typename T>() -> Status {
      std::vector<double> logp = LogSoftmax(x.data_as<T>(), g);
      RETURN_IF_ERROR(NllCompute<T>(logp.data(), *inputs[1], weight, g, attrs_, &outputs[0]));
      if (want_log_prob_ && outputs.size() > 1) {
        ASSIGN_OR_RETURN(outputs[1], AllocateOutput(x.dtype(), x.shape()));
        T* o = outputs[1].mutable_data_as<T>();
        for (size_t k = 0; k < logp.size(); ++k) o[k] = Convert<T>(logp[k]);
      }
      return Status::Ok();
    });
  }

 private:
  // log_softmax over the class axis of [n, c, d], in double.
  template <typename T>
  static std::vector<double> LogSoftmax(const T* x, const LossGeometry& g) {
    std::vector<double> out(static_cast<size_t>(g.n * g.c * g.d));
    for (int64_t i = 0; i < g.n; ++i) {
      for (int64_t j = 0; j < g.d; ++j) {
        const int64_t base = i * g.c * g.d + j;
        double max_v = -INFINITY;
        for (int64_t c = 0; c < g.c; ++c) {
          max_v = std::max(max_v, static_cast<double>(static_cast<Compute<T>>(x[base + c * g.d])));
        }
        double sum = 0.0;
        for (int64_t c = 0; c < g.c; ++c) {
          sum += std::exp(static_cast<double>(static_cast<Compute<T>>(x[base + c * g.d])) - max_v);
        }
        const double log_sum = std::log(sum) + max_v;
        for (int64_t c = 0; c < g.c; ++c) {
          out[base + c * g.d] = static_cast<double>(static_cast<Compute<T>>(x[base + c * g.d])) -
                                log_sum;
        }
      }
    }
    return out;
  }

  LossAttrs attrs_;
  bool want_log_prob_;
};

StatusOr<std::unique_ptr<Kernel>> MakeNll(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 2, 3));
  ASSIGN_OR_RETURN(LossAttrs attrs, ParseLossAttrs(context.node));
  return std::unique_ptr<Kernel>(new NllKernel(attrs));
}

StatusOr<std::unique_ptr<Kernel>> MakeSce(const KernelBuildContext& context) {
  const Node& node = context.node;
  if (node.outputs.size() == 2) {
    RETURN_IF_ERROR(CheckArity(context, 2, 3, 2));
  } else {
    RETURN_IF_ERROR(CheckArity(context, 2, 3, 1));
  }
  ASSIGN_OR_RETURN(LossAttrs attrs, ParseLossAttrs(node));
  const bool want_log_prob = node.outputs.size() == 2 && node.outputs[1] != kNoValue;
  return std::unique_ptr<Kernel>(new SceKernel(attrs, want_log_prob));
}

NEREID_REGISTER_KERNEL("", "NegativeLogLikelihoodLoss", MakeNll);
NEREID_REGISTER_KERNEL("", "SoftmaxCrossEntropyLoss", MakeSce);

}  // namespace
}  // namespace nereid::engine::ref
