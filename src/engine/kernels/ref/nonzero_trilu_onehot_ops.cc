// NonZero, Trilu, OneHot.
//
// NonZero: INT64 [rank, count] coordinates of non-zero elements in
// row-major order (a scalar counts as rank 1, like onnxruntime). Trilu:
// keeps the upper (j - i >= k) or lower (j - i <= k) triangle of the last
// two dims, zeroing the rest. OneHot: indices of any numeric type (floats
// truncate; negatives count from the end); indices outside [-depth, depth)
// give an all-'off' row, as the spec says.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/kernels/ref/index_util.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

template <typename T>
bool IsNonZero(T v) {
  if constexpr (std::is_same_v<T, Bool8>) {
    return v.byte != 0;
  } else if constexpr (kIsHalf<T>) {
    return static_cast<float>(v) != 0.0f;
  } else {
    return v != T{0};
  }
}

class NonZeroKernel final : public Kernel {
 public:
  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 1, 1));
    const Tensor& x = *inputs[0];
    const Shape shape = x.shape().empty() ? Shape{1} : x.shape();
    const auto rank = static_cast<int64_t>(shape.size());
    return DispatchNumericOrBool(x.dtype(), "NonZero", [&]<typename T>() -> Status {
      const T* in = x.data_as<T>();
      const int64_t total = NumElements(shape);
      std::vector<int64_t> hits;
      for (int64_t i = 0; i < total; ++i) {
        if (IsNonZero(in[i])) hits.push_back(i);
      }
      const auto n = static_cast<int64_t>(hits.size());
      ASSIGN_OR_RETURN(outputs[0], AllocateOutput(DataType::kInt64, {rank, n}));
      int64_t* out = outputs[0].mutable_data_as<int64_t>();
      for (int64_t j = 0; j < n; ++j) {
        int64_t rest = hits[j];
        for (int64_t d = rank; d-- > 0;) {
          out[d * n + j] = rest % shape[d];
          rest /= shape[d];
        }
      }
      return Status::Ok();
    });
  }
};

class TriluKernel final : public Kernel {
 public:
  explicit TriluKernel(bool upper) : upper_(upper) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 1, 2));
    const Tensor& x = *inputs[0];
    const Shape& s = x.shape();
    if (s.size() < 2) return InvalidArgument("Trilu: input must have rank >= 2");
    int64_t k = 0;
    if (const Tensor* kt = OptionalInput(inputs, 1)) {
      if (kt->dtype() != DataType::kInt64) return InvalidArgument("Trilu: k must be INT64");
      ASSIGN_OR_RETURN(k, ReadIndexScalar(*kt, "Trilu k"));
    }
    const int64_t rows = s[s.size() - 2];
    const int64_t cols = s.back();
    const int64_t mats = DimProduct(s, 0, s.size() - 2);
    return DispatchBySize(x.dtype(), "Trilu", [&]<typename U>() -> Status {
      ASSIGN_OR_RETURN(outputs[0], AllocateOutput(x.dtype(), s));
      const U* in = x.data_as<U>();
      U* out = outputs[0].mutable_data_as<U>();
      for (int64_t m = 0; m < mats; ++m) {
        for (int64_t i = 0; i < rows; ++i) {
          for (int64_t j = 0; j < cols; ++j) {
            const int64_t at = (m * rows + i) * cols + j;
            const bool keep = upper_ ? j - i >= k : j - i <= k;
            out[at] = keep ? in[at] : U{0};  // all-zero bits are 0 for every type
          }
        }
      }
      return Status::Ok();
    });
  }

 private:
  bool upper_;
};

// Reads element `i` of a numeric tensor as int64 (floats truncate).
StatusOr<std::vector<int64_t>> ReadAsInt64(const Tensor& t, std::string_view what) {
  std::vector<int64_t> out(static_cast<size_t>(NumElements(t.shape())));
  RETURN_IF_ERROR(DispatchNumeric(t.dtype(), what, [&]<typename T>() -> Status {
    const T* p = t.data_as<T>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = Convert<int64_t>(p[i]);
    return Status::Ok();
  }));
  return out;
}

class OneHotKernel final : public Kernel {
 public:
  explicit OneHotKernel(int64_t axis) : axis_(axis) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 3, 3));
    const Tensor& values = *inputs[2];
    const Shape& is = inputs[0]->shape();
    if (NumElements(inputs[1]->shape()) != 1 || inputs[1]->shape().size() > 1) {
      return InvalidArgument("OneHot: depth must be a scalar");
    }
    if (NumElements(values.shape()) != 2 || values.shape().size() != 1) {
      return InvalidArgument("OneHot: values must be [off_value, on_value]");
    }
    RETURN_IF_ERROR(CheckFixedSize(values, "OneHot"));
    ASSIGN_OR_RETURN(std::vector<int64_t> depth_v, ReadAsInt64(*inputs[1], "OneHot depth"));
    const int64_t depth = depth_v[0];
    if (depth < 1) return InvalidArgument("OneHot: depth must be positive");
    ASSIGN_OR_RETURN(std::vector<int64_t> idx, ReadAsInt64(*inputs[0], "OneHot indices"));
    // The axis indexes the output, whose rank is one more than the indices'.
    ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(axis_, static_cast<int64_t>(is.size()) + 1));
    Shape out_shape = is;
    out_shape.insert(out_shape.begin() + axis, depth);
    const int64_t outer = DimProduct(is, 0, axis);
    const int64_t inner = DimProduct(is, axis, is.size());
    return DispatchBySize(values.dtype(), "OneHot", [&]<typename U>() -> Status {
      ASSIGN_OR_RETURN(outputs[0], AllocateOutput(values.dtype(), out_shape));
      const U off = values.data_as<U>()[0];
      const U on = values.data_as<U>()[1];
      U* out = outputs[0].mutable_data_as<U>();
      std::fill(out, out + NumElements(out_shape), off);
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t i = 0; i < inner; ++i) {
          int64_t v = idx[o * inner + i];
          if (v < 0) v += depth;
          if (v >= 0 && v < depth) out[(o * depth + v) * inner + i] = on;
        }
      }
      return Status::Ok();
    });
  }

 private:
  int64_t axis_;
};

StatusOr<std::unique_ptr<Kernel>> MakeNonZero(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 1, 1));
  return std::unique_ptr<Kernel>(new NonZeroKernel());
}

StatusOr<std::unique_ptr<Kernel>> MakeTrilu(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 1, 2));
  ASSIGN_OR_RETURN(int64_t upper, context.node.GetInt("upper", 1));
  if (upper != 0 && upper != 1) return InvalidArgument("Trilu: attribute 'upper' must be 0 or 1");
  return std::unique_ptr<Kernel>(new TriluKernel(upper != 0));
}

StatusOr<std::unique_ptr<Kernel>> MakeOneHot(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 3, 3));
  ASSIGN_OR_RETURN(int64_t axis, context.node.GetInt("axis", -1));
  return std::unique_ptr<Kernel>(new OneHotKernel(axis));
}

NEREID_REGISTER_KERNEL("", "NonZero", MakeNonZero);
NEREID_REGISTER_KERNEL("", "Trilu", MakeTrilu);
NEREID_REGISTER_KERNEL("", "OneHot", MakeOneHot);

}  // namespace
}  // namespace nereid::engine::ref
