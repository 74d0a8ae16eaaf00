// ArgMax, ArgMin: INT64 indices of the extreme element along `axis`
// (default 0), keeping the reduced dim as 1 unless keepdims=0. Ties give the
// first index, or the last with select_last_index=1 (opset 12+). A NaN wins
// over every number (numpy's behaviour), the first NaN unless
// select_last_index.
#include <cmath>
#include <string>
#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/kernels/ref/index_util.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

class ArgKernel final : public Kernel {
 public:
  ArgKernel(std::string op, bool is_max, int64_t axis, bool keepdims, bool select_last)
      : op_(std::move(op)),
        is_max_(is_max),
        axis_(axis),
        keepdims_(keepdims),
        select_last_(select_last) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 1, 1));
    const Tensor& x = *inputs[0];
    const Shape& shape = x.shape();
    ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(axis_, static_cast<int64_t>(shape.size())));
    const int64_t len = shape[axis];
    if (len == 0) return InvalidArgument(op_ + ": cannot reduce over an empty axis");
    const int64_t outer = DimProduct(shape, 0, axis);
    const int64_t inner = DimProduct(shape, axis + 1, shape.size());
    Shape out_shape = shape;
    if (keepdims_) {
      out_shape[axis] = 1;
    } else {
      out_shape.erase(out_shape.begin() + axis);
    }
    return DispatchNumeric(x.dtype(), op_, [&]<typename T>() -> Status {
      ASSIGN_OR_RETURN(outputs[0], AllocateOutput(DataType::kInt64, out_shape));
      const T* in = x.data_as<T>();
      int64_t* out = outputs[0].mutable_data_as<int64_t>();
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t i = 0; i < inner; ++i) {
          out[o * inner + i] = Best<T>(in + o * len * inner + i, len, inner);
        }
      }
      return Status::Ok();
    });
  }

 private:
  // True when `x` should replace `best` as the answer.
  template <typename T>
  bool Better(T x, T best) const {
    if constexpr (kIsFloating<T>) {
      const double a = static_cast<double>(x);
      const double b = static_cast<double>(best);
      if (std::isnan(b)) return select_last_ && std::isnan(a);
      if (std::isnan(a)) return true;
      return is_max_ ? (a > b || (select_last_ && a == b)) : (a < b || (select_last_ && a == b));
    } else {
      return is_max_ ? (x > best || (select_last_ && x == best))
                     : (x < best || (select_last_ && x == best));
    }
  }

  template <typename T>
  int64_t Best(const T* p, int64_t len, int64_t stride) const {
    int64_t best = 0;
    for (int64_t j = 1; j < len; ++j) {
      if (Better<T>(p[j * stride], p[best * stride])) best = j;
    }
    return best;
  }

  std::string op_;
  bool is_max_;
  int64_t axis_;
  bool keepdims_;
  bool select_last_;
};

StatusOr<std::unique_ptr<Kernel>> MakeArg(const KernelBuildContext& context, bool is_max) {
  RETURN_IF_ERROR(CheckArity(context, 1, 1));
  const std::string& op = context.node.op_type;
  ASSIGN_OR_RETURN(int64_t axis, context.node.GetInt("axis", 0));
  ASSIGN_OR_RETURN(int64_t keepdims, context.node.GetInt("keepdims", 1));
  int64_t select_last = 0;
  if (context.opset >= 12) {
    ASSIGN_OR_RETURN(select_last, context.node.GetInt("select_last_index", 0));
  }
  if (keepdims != 0 && keepdims != 1) {
    return InvalidArgument(op + ": attribute 'keepdims' must be 0 or 1");
  }
  if (select_last != 0 && select_last != 1) {
    return InvalidArgument(op + ": attribute 'select_last_index' must be 0 or 1");
  }
  return std::unique_ptr<Kernel>(
      new ArgKernel(op, is_max, axis, keepdims != 0, select_last != 0));
}

StatusOr<std::unique_ptr<Kernel>> MakeArgMax(const KernelBuildContext& c) { return MakeArg(c, true); }
StatusOr<std::unique_ptr<Kernel>> MakeArgMin(const KernelBuildContext& c) {
  return MakeArg(c, false);
}

NEREID_REGISTER_KERNEL("", "ArgMax", MakeArgMax);
NEREID_REGISTER_KERNEL("", "ArgMin", MakeArgMin);

}  // namespace
}  // namespace nereid::engine::ref
