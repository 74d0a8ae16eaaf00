// TopK and CumSum.
//
// TopK: k from the attribute (opset 1) or the INT64 input K (opset 10+);
// 'largest' and 'sorted' from opset 11. Outputs are always sorted (allowed
// for sorted=0); equal values keep the lower index first, and NaN orders
// above every number. CumSum: running sums along the axis given by input 1
// (INT32/INT64 scalar), optionally exclusive and/or reversed.
#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/kernels/ref/index_util.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

// a > b with NaN above every number (a strict weak order).
template <typename T>
bool GreaterNanHigh(T a, T b) {
  if constexpr (kIsFloating<T>) {
    const double x = static_cast<double>(a);
    const double y = static_cast<double>(b);
    if (std::isnan(x)) return !std::isnan(y);
    if (std::isnan(y)) return false;
    return x > y;
  } else {
    return a > b;
  }
}

class TopKKernel final : public Kernel {
 public:
  TopKKernel(std::optional<int64_t> k, int64_t axis, bool largest)
      : k_(k), axis_(axis), largest_(largest) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, k_ ? 1 : 2, k_ ? 1 : 2));
    const Tensor& x = *inputs[0];
    const Shape& s = x.shape();
    ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(axis_, static_cast<int64_t>(s.size())));
    int64_t k = k_.value_or(0);
    if (!k_) {
      if (inputs[1]->dtype() != DataType::kInt64) return InvalidArgument("TopK: K must be INT64");
      ASSIGN_OR_RETURN(k, ReadIndexScalar(*inputs[1], "TopK K"));
    }
    if (k < 0 || k > s[axis]) {
      return InvalidArgument("TopK: k=" + std::to_string(k) + " is out of range for a dim of " +
                             std::to_string(s[axis]));
    }
    Shape out_shape = s;
    out_shape[axis] = k;
    const int64_t outer = DimProduct(s, 0, axis);
    const int64_t len = s[axis];
    const int64_t inner = DimProduct(s, axis + 1, s.size());
    return DispatchNumeric(x.dtype(), "TopK", [&]<typename T>() -> Status {
      ASSIGN_OR_RETURN(outputs[0], AllocateOutput(x.dtype(), out_shape));
      ASSIGN_OR_RETURN(outputs[1], AllocateOutput(DataType::kInt64, out_shape));
      const T* in = x.data_as<T>();
      T* values = outputs[0].mutable_data_as<T>();
      int64_t* indices = outputs[1].mutable_data_as<int64_t>();
      std::vector<int64_t> order(len);
      auto before = [&](const T* row, int64_t a, int64_t b) {
        const T va = row[a * inner];
        const T vb = row[b * inner];
        if (largest_ ? GreaterNanHigh(va, vb) : GreaterNanHigh(vb, va)) return true;
        if (largest_ ? GreaterNanHigh(vb, va) : GreaterNanHigh(va, vb)) return false;
        return a < b;  // ties: lower index first
      };
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t i = 0; i < inner; ++i) {
          const T* row = in + o * len * inner + i;
          for (int64_t j = 0; j < len; ++j) order[j] = j;
          std::partial_sort(order.begin(), order.begin() + k, order.end(),
                            [&](int64_t a, int64_t b) { return before(row, a, b); });
          for (int64_t j = 0; j < k; ++j) {
            const int64_t dst = (o * k + j) * inner + i;
            values[dst] = row[order[j] * inner];
            indices[dst] = order[j];
          }
        }
      }
      return Status::Ok();
    });
  }

 private:
  std::optional<int64_t> k_;
  int64_t axis_;
  bool largest_;
};

class CumSumKernel final : public Kernel {
 public:
  CumSumKernel(bool exclusive, bool reverse) : exclusive_(exclusive), reverse_(reverse) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 2, 2));
    const Tensor& x = *inputs[0];
    const Shape& s = x.shape();
    ASSIGN_OR_RETURN(int64_t raw_axis, ReadIndexScalar(*inputs[1], "CumSum axis"));
    ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(raw_axis, static_cast<int64_t>(s.size())));
    const int64_t outer = DimProduct(s, 0, axis);
    const int64_t len = s[axis];
    const int64_t inner = DimProduct(s, axis + 1, s.size());
    return DispatchNumeric(x.dtype(), "CumSum", [&]<typename T>() -> Status {
      // double for floating types; integers wrap through uint64.
      using W = std::conditional_t<kIsFloating<T>, double, uint64_t>;
      ASSIGN_OR_RETURN(outputs[0], AllocateOutput(x.dtype(), s));
      const T* in = x.data_as<T>();
      T* out = outputs[0].mutable_data_as<T>();
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t i = 0; i < inner; ++i) {
          W acc = 0;
          for (int64_t step = 0; step < len; ++step) {
            const int64_t j = reverse_ ? len - 1 - step : step;
            const int64_t at = (o * len + j) * inner + i;
            const W v = Convert<W>(in[at]);
            if (!exclusive_) acc += v;
            out[at] = Convert<T>(acc);
            if (exclusive_) acc += v;
          }
        }
      }
      return Status::Ok();
    });
  }

 private:
  bool exclusive_;
  bool reverse_;
};

StatusOr<std::unique_ptr<Kernel>> MakeTopK(const KernelBuildContext& context) {
  const Node& node = context.node;
  const bool k_input = context.opset >= 10;
  RETURN_IF_ERROR(CheckArity(context, k_input ? 2 : 1, k_input ? 2 : 1, 2));
  std::optional<int64_t> k;
  if (!k_input) {
    ASSIGN_OR_RETURN(k, node.GetInt("k"));
    if (*k < 0) return InvalidArgument("TopK: attribute 'k' must be >= 0");
  }
  ASSIGN_OR_RETURN(int64_t axis, node.GetInt("axis", -1));
  int64_t largest = 1;
  int64_t sorted = 1;
  if (context.opset >= 11) {
    ASSIGN_OR_RETURN(largest, node.GetInt("largest", 1));
    ASSIGN_OR_RETURN(sorted, node.GetInt("sorted", 1));
  }
  if ((largest != 0 && largest != 1) || (sorted != 0 && sorted != 1)) {
    return InvalidArgument("TopK: attributes 'largest' and 'sorted' must be 0 or 1");
  }
  return std::unique_ptr<Kernel>(new TopKKernel(k, axis, largest != 0));
}

StatusOr<std::unique_ptr<Kernel>> MakeCumSum(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 2, 2));
  ASSIGN_OR_RETURN(int64_t exclusive, context.node.GetInt("exclusive", 0));
  ASSIGN_OR_RETURN(int64_t reverse, context.node.GetInt("reverse", 0));
  if ((exclusive != 0 && exclusive != 1) || (reverse != 0 && reverse != 1)) {
    return InvalidArgument("CumSum: attributes 'exclusive' and 'reverse' must be 0 or 1");
  }
  return std::unique_ptr<Kernel>(new CumSumKernel(exclusive != 0, reverse != 0));
}

NEREID_REGISTER_KERNEL("", "TopK", MakeTopK);
NEREID_REGISTER_KERNEL("", "CumSum", MakeCumSum);

}  // namespace
}  // namespace nereid::engine::ref
