// ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2,
// ReduceLogSum, ReduceLogSumExp, ReduceSumSquare.
//
// Axes come from the 'axes' attribute before opset 13 (ReduceSum) or 18 (the
// others), and from the optional second input afterwards, where an empty or
// omitted axes list reduces everything unless noop_with_empty_axes is set
// (then the op is the identity). Floating inputs accumulate in double so
// fp16/bf16/float results match numpy's float64-free reference closely;
// integers accumulate in 64 bits with wrap-around (never UB).
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/kernels/ref/index_util.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

enum class ReduceKind { kSum, kMean, kProd, kMax, kMin, kL1, kL2, kLogSum, kLogSumExp, kSumSquare };

// Working type: double for floating T, int64/uint64 for integers.
template <typename T>
using Work = std::conditional_t<kIsFloating<T>, double,
                                std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>;

// Wrapping integer arithmetic through uint64 (defined for every value).
template <typename W>
W WrapAdd(W a, W b) {
  if constexpr (std::is_integral_v<W>) {
    return static_cast<W>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
  } else {
    return a + b;
  }
}
template <typename W>
W WrapMul(W a, W b) {
  if constexpr (std::is_integral_v<W>) {
    return static_cast<W>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
  } else {
    return a * b;
  }
}
template <typename W>
W Abs(W a) {
  if constexpr (std::is_floating_point_v<W>) {
    return std::fabs(a);
  } else if constexpr (std::is_signed_v<W>) {
    return a < 0 ? static_cast<W>(0 - static_cast<uint64_t>(a)) : a;
  } else {
    return a;
  }
}

template <typename W>
W InitialValue(ReduceKind kind) {
  switch (kind) {
    case ReduceKind::kProd:
      return W{1};
    case ReduceKind::kMax:
      if constexpr (std::is_floating_point_v<W>) return -std::numeric_limits<W>::infinity();
      return std::numeric_limits<W>::lowest();
    case ReduceKind::kMin:
      if constexpr (std::is_floating_point_v<W>) return std::numeric_limits<W>::infinity();
      return std::numeric_limits<W>::max();
    default:
      return W{0};
  }
}

// Folds one element into the accumulator (LogSumExp's exp shift is applied
// by the caller, which passes exp(x - max) as `x`).
template <typename W>
W Accumulate(ReduceKind kind, W acc, W x) {
  switch (kind) {
    case ReduceKind::kProd:
      return WrapMul(acc, x);
    case ReduceKind::kMax:
      if constexpr (std::is_floating_point_v<W>) {
        if (std::isnan(x)) return x;
      }
      return x > acc ? x : acc;
    case ReduceKind::kMin:
      if constexpr (std::is_floating_point_v<W>) {
        if (std::isnan(x)) return x;
      }
      return x < acc ? x : acc;
    case ReduceKind::kL1:
      return WrapAdd(acc, Abs(x));
    case ReduceKind::kL2:
    case ReduceKind::kSumSquare:
      return WrapAdd(acc, WrapMul(x, x));
    default:
      return WrapAdd(acc, x);
  }
}

template <typename T, typename W>
T Finish(ReduceKind kind, W acc, int64_t count) {
  switch (kind) {
    case ReduceKind::kMean:
      if constexpr (std::is_integral_v<W>) {
        return count == 0 ? T{} : Convert<T>(static_cast<W>(acc / static_cast<W>(count)));
      } else {
        return Convert<T>(acc / static_cast<double>(count));  // 0/0 -> NaN like numpy
      }
    case ReduceKind::kL2:
      return Convert<T>(std::sqrt(static_cast<double>(acc)));
    case ReduceKind::kLogSum:
      return Convert<T>(std::log(static_cast<double>(acc)));
    default:
      return Convert<T>(acc);
  }
}

class ReduceKernel final : public Kernel {
 public:
  // `fixed_axes`: attribute axes (nullopt = none given). `axes_input`: the
  // op takes axes as input 1.
  ReduceKernel(std::string op, ReduceKind kind, std::optional<std::vector<int64_t>> fixed_axes,
               bool axes_input, bool keepdims, bool noop_with_empty_axes)
      : op_(std::move(op)),
        kind_(kind),
        fixed_axes_(std::move(fixed_axes)),
        axes_input_(axes_input),
        keepdims_(keepdims),
        noop_(noop_with_empty_axes) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 1, axes_input_ ? 2 : 1));
    const Tensor& x = *inputs[0];
    const auto rank = static_cast<int64_t>(x.shape().size());
    std::vector<int64_t> axes;
    if (fixed_axes_) axes = *fixed_axes_;
    if (const Tensor* a = OptionalInput(inputs, 1)) {
      ASSIGN_OR_RETURN(axes, ReadIndexList(*a, op_ + " axes"));
    }
    if (axes.empty() && noop_) {
      return DispatchNumeric(x.dtype(), op_, [&]<typename T>() -> Status {
        outputs[0] = x;  // identity (reduces nothing); a view of the input
        return Status::Ok();
      });
    }
    std::vector<bool> reduced(rank, axes.empty());
    ASSIGN_OR_RETURN(std::vector<int64_t> norm, NormalizeAxes(axes, rank, op_));
    for (int64_t a : norm) reduced[a] = true;
    return DispatchNumeric(x.dtype(), op_, [&]<typename T>() -> Status {
      return Reduce<T>(x, reduced, &outputs[0]);
    });
  }

 private:
  template <typename T>
  Status Reduce(const Tensor& x, const std::vector<bool>& reduced, Tensor* out) const {
    using W = Work<T>;
    const Shape& shape = x.shape();
    Shape out_shape;
    Shape kept_shape;  // output shape with reduced dims as 1 (for strides)
    int64_t count = 1;
    for (size_t d = 0; d < shape.size(); ++d) {
      kept_shape.push_back(reduced[d] ? 1 : shape[d]);
      if (reduced[d]) count *= shape[d];
      if (!reduced[d] || keepdims_) out_shape.push_back(kept_shape.back());
    }
    // Input positions map to output offsets with stride 0 along reduced dims.
    std::vector<int64_t> strides = DenseStrides(kept_shape);
    for (size_t d = 0; d < shape.size(); ++d) {
      if (reduced[d]) strides[d] = 0;
    }
    const int64_t n_out = NumElements(kept_shape);
    ASSIGN_OR_RETURN(*out, AllocateOutput(x.dtype(), out_shape));
    const T* in = x.data_as<T>();
    std::vector<W> acc(n_out, InitialValue<W>(kind_));
    if (kind_ == ReduceKind::kLogSumExp) {
      LogSumExp<T>(x, strides, out->mutable_data_as<T>(), n_out);
      return Status::Ok();
    }
    ForEachStrided(shape, strides, 0, [&](int64_t pos, int64_t o) {
      acc[o] = Accumulate<W>(kind_, acc[o], Convert<W>(in[pos]));
    });
    T* dst = out->mutable_data_as<T>();
    for (int64_t o = 0; o < n_out; ++o) dst[o] = Finish<T, W>(kind_, acc[o], count);
    return Status::Ok();
  }

  // log(sum(exp(x))) computed as max + log(sum(exp(x - max))) so large
  // inputs do not overflow; an empty reduction gives -inf.
  template <typename T>
  static void LogSumExp(const Tensor& x, const std::vector<int64_t>& strides, T* dst,
                        int64_t n_out) {
    const T* in = x.data_as<T>();
    std::vector<double> max_v(n_out, -std::numeric_limits<double>::infinity());
    std::vector<double> sum(n_out, 0.0);
    ForEachStrided(x.shape(), strides, 0, [&](int64_t pos, int64_t o) {
      max_v[o] = std::max(max_v[o], Convert<double>(in[pos]));
    });
    ForEachStrided(x.shape(), strides, 0, [&](int64_t pos, int64_t o) {
      if (std::isfinite(max_v[o])) sum[o] += std::exp(Convert<double>(in[pos]) - max_v[o]);
    });
    for (int64_t o = 0; o < n_out; ++o) {
      const double r = std::isfinite(max_v[o]) ? max_v[o] + std::log(sum[o]) : max_v[o];
      dst[o] = Convert<T>(r);
    }
  }

  std::string op_;
  ReduceKind kind_;
  std::optional<std::vector<int64_t>> fixed_axes_;
  bool axes_input_;
  bool keepdims_;
  bool noop_;
};

// Opset from which the op takes axes as an input instead of an attribute.
int64_t AxesInputOpset(ReduceKind kind) { return kind == ReduceKind::kSum ? 13 : 18; }

StatusOr<std::unique_ptr<Kernel>> MakeReduce(const KernelBuildContext& context, ReduceKind kind) {
  const std::string& op = context.node.op_type;
  const bool axes_input = context.opset >= AxesInputOpset(kind);
  RETURN_IF_ERROR(CheckArity(context, 1, axes_input ? 2 : 1));
  std::optional<std::vector<int64_t>> fixed_axes;
  if (!axes_input && context.node.FindAttribute("axes") != nullptr) {
    ASSIGN_OR_RETURN(fixed_axes, context.node.GetInts("axes"));
  }
  ASSIGN_OR_RETURN(int64_t keepdims, context.node.GetInt("keepdims", 1));
  int64_t noop = 0;
  if (axes_input) {
    ASSIGN_OR_RETURN(noop, context.node.GetInt("noop_with_empty_axes", 0));
  }
  if (keepdims != 0 && keepdims != 1) {
    return InvalidArgument(op + ": attribute 'keepdims' must be 0 or 1");
  }
  if (noop != 0 && noop != 1) {
    return InvalidArgument(op + ": attribute 'noop_with_empty_axes' must be 0 or 1");
  }
  return std::unique_ptr<Kernel>(
      new ReduceKernel(op, kind, std::move(fixed_axes), axes_input, keepdims != 0, noop != 0));
}

template <ReduceKind kKind>
StatusOr<std::unique_ptr<Kernel>> MakeReduceOf(const KernelBuildContext& context) {
  return MakeReduce(context, kKind);
}

NEREID_REGISTER_KERNEL("", "ReduceSum", MakeReduceOf<ReduceKind::kSum>);
NEREID_REGISTER_KERNEL("", "ReduceMean", MakeReduceOf<ReduceKind::kMean>);
NEREID_REGISTER_KERNEL("", "ReduceProd", MakeReduceOf<ReduceKind::kProd>);
NEREID_REGISTER_KERNEL("", "ReduceMax", MakeReduceOf<ReduceKind::kMax>);
NEREID_REGISTER_KERNEL("", "ReduceMin", MakeReduceOf<ReduceKind::kMin>);
NEREID_REGISTER_KERNEL("", "ReduceL1", MakeReduceOf<ReduceKind::kL1>);
NEREID_REGISTER_KERNEL("", "ReduceL2", MakeReduceOf<ReduceKind::kL2>);
NEREID_REGISTER_KERNEL("", "ReduceLogSum", MakeReduceOf<ReduceKind::kLogSum>);
NEREID_REGISTER_KERNEL("", "ReduceLogSumExp", MakeReduceOf<ReduceKind::kLogSumExp>);
NEREID_REGISTER_KERNEL("", "ReduceSumSquare", MakeReduceOf<ReduceKind::kSumSquare>);

}  // namespace
}  // namespace nereid::engine::ref
