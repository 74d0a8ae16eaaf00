// Unique (opset 11), numpy.unique semantics.
//
// Without `axis` the input is flattened and each element is a unit; with
// `axis` each slice along it is a unit, compared lexicographically in C
// order of the remaining dims. Floats compare with NaN above everything and
// NaN equal to NaN (numpy >= 1.21), so NaNs collapse into one unit.
// sorted=1 orders the units ascending, sorted=0 by first occurrence.
// Outputs: Y, indices (first occurrence of each unit), inverse_indices (unit
// of every input slice), counts; the last three are INT64 and optional.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/kernels/ref/ref_util.h"
#include "engine/kernels/ref/rnn_detect_util.h"

namespace nereid::engine::ref {
namespace {

// -1, 0, 1 for a < b, a == b, a > b, with NaN the largest value.
template <typename T>
int CompareElem(T a, T b) {
  if constexpr (std::is_same_v<T, Bool8>) {
    return static_cast<int>(a.byte != 0) - static_cast<int>(b.byte != 0);
  } else if constexpr (kIsFloating<T>) {
    const auto fa = static_cast<double>(a), fb = static_cast<double>(b);
    const bool na = std::isnan(fa), nb = std::isnan(fb);
    if (na || nb) return static_cast<int>(na) - static_cast<int>(nb);
    return fa < fb ? -1 : fa > fb ? 1 : 0;
  } else {
    return a < b ? -1 : a > b ? 1 : 0;
  }
}

class UniqueKernel final : public Kernel {
 public:
  UniqueKernel(std::optional<int64_t> axis, bool sorted) : axis_(axis), sorted_(sorted) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 1, 1));
    const Tensor& x = *inputs[0];
    return DispatchNumericOrBool(x.dtype(), "Unique", [&]<typename T>() -> Status {
      return RunTyped<T>(x, outputs);
    });
  }

 private:
  template <typename T>
  Status RunTyped(const Tensor& x, std::span<Tensor> outputs) const {
    const Shape& shape = x.shape();
    int64_t outer = 1, n = NumElements(shape), inner = 1, axis = 0;
    if (axis_) {
      ASSIGN_OR_RETURN(axis, NormalizeAxis(*axis_, static_cast<int64_t>(shape.size())));
      outer = DimProduct(shape, 0, axis);
      n = shape[axis];
      inner = DimProduct(shape, axis + 1, shape.size());
    }
    const T* data = x.data_as<T>();
    auto unit_compare = [&](int64_t a, int64_t b) {
      for (int64_t o = 0; o < outer; ++o) {
        const T* base = data + o * n * inner;
        for (int64_t i = 0; i < inner; ++i) {
          const int c = CompareElem(base[a * inner + i], base[b * inner + i]);
          if (c != 0) return c;
        }
      }
      return 0;
    };
    // Stable sort, then group equal neighbours: a group's first member is
    // the unit's first occurrence.
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return unit_compare(a, b) < 0; });
    std::vector<int64_t> first, counts, group_of(static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) {
      if (k == 0 || unit_compare(order[k - 1], order[k]) != 0) {
        first.push_back(order[k]);
        counts.push_back(0);
      }
      counts.back() += 1;
      group_of[order[k]] = static_cast<int64_t>(first.size()) - 1;
    }
    const auto u = static_cast<int64_t>(first.size());
    std::vector<int64_t> rank(static_cast<size_t>(u));  // group -> output position
    std::iota(rank.begin(), rank.end(), 0);
    if (!sorted_) {
      std::vector<int64_t> by_first(rank);
      std::sort(by_first.begin(), by_first.end(),
                [&](int64_t a, int64_t b) { return first[a] < first[b]; });
      for (int64_t p = 0; p < u; ++p) rank[by_first[p]] = p;
    }
    std::vector<int64_t> out_first(u), out_counts(u), inverse(n);
    for (int64_t g = 0; g < u; ++g) {
      out_first[rank[g]] = first[g];
      out_counts[rank[g]] = counts[g];
    }
    for (int64_t k = 0; k < n; ++k) inverse[k] = rank[group_of[k]];
    return WriteOutputs<T>(x, axis, outer, inner, out_first, out_counts, inverse, outputs);
  }

  template <typename T>
  Status WriteOutputs(const Tensor& x, int64_t axis, int64_t outer, int64_t inner,
                      const std::vector<int64_t>& first, const std::vector<int64_t>& counts,
                      const std::vector<int64_t>& inverse, std::span<Tensor> outputs) const {
    const auto u = static_cast<int64_t>(first.size());
    const auto n = static_cast<int64_t>(inverse.size());
    Shape y_shape{u};
    if (axis_) {
      y_shape = x.shape();
      y_shape[axis] = u;
    }
    ASSIGN_OR_RETURN(outputs[0], AllocateOutput(x.dtype(), y_shape));
    const T* in = x.data_as<T>();
    T* y = outputs[0].mutable_data_as<T>();
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t p = 0; p < u; ++p) {
        std::copy_n(in + (o * n + first[p]) * inner, inner, y + (o * u + p) * inner);
      }
    }
    const std::vector<int64_t>* extra[3] = {&first, &inverse, &counts};
    for (size_t i = 1; i < outputs.size() && i < 4; ++i) {
      const std::vector<int64_t>& v = *extra[i - 1];
      ASSIGN_OR_RETURN(outputs[i],
                       AllocateOutput(DataType::kInt64, {static_cast<int64_t>(v.size())}));
      std::copy(v.begin(), v.end(), outputs[i].mutable_data_as<int64_t>());
    }
    return Status::Ok();
  }

  std::optional<int64_t> axis_;
  bool sorted_;
};

StatusOr<std::unique_ptr<Kernel>> MakeUnique(const KernelBuildContext& context) {
  const Node& node = context.node;
  if (node.inputs.size() != 1 || node.outputs.empty() || node.outputs.size() > 4 ||
      node.outputs[0] == kNoValue) {
    return InvalidArgument("Unique takes 1 input and produces 1 to 4 outputs (Y first)");
  }
  ASSIGN_OR_RETURN(int64_t sorted, node.GetInt("sorted", 1));
  if (sorted != 0 && sorted != 1) return InvalidArgument("attribute 'sorted' must be 0 or 1");
  std::optional<int64_t> axis;
  if (node.FindAttribute("axis") != nullptr) {
    ASSIGN_OR_RETURN(axis, node.GetInt("axis"));
  }
  if (!context.input_dtypes.empty() && context.input_dtypes[0] == DataType::kBytes) {
    return Unimplemented("Unique does not support element type BYTES");
  }
  return std::unique_ptr<Kernel>(new UniqueKernel(axis, sorted == 1));
}

NEREID_REGISTER_KERNEL("", "Unique", MakeUnique);

}  // namespace
}  // namespace nereid::engine::ref
