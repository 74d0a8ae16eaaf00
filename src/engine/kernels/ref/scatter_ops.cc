// ScatterND, ScatterElements and the deprecated Scatter (opset 9-10, the
// same as ScatterElements). The output is a copy of `data` into which
// `updates` are written at the given indices, or combined with the present
// values under 'reduction' (add/mul from opset 16, max/min from 18).
// Indices are INT32 or INT64, may be negative, and are all validated before
// anything is written. With reduction "none" duplicate indices are allowed;
// the last update wins.
#include <algorithm>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/kernels/ref/index_util.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

enum class Reduction { kNone, kAdd, kMul, kMax, kMin };

StatusOr<Reduction> ParseReduction(const KernelBuildContext& context) {
  if (context.opset < 16) return Reduction::kNone;
  ASSIGN_OR_RETURN(std::string r, context.node.GetString("reduction", "none"));
  if (r == "none") return Reduction::kNone;
  if (r == "add") return Reduction::kAdd;
  if (r == "mul") return Reduction::kMul;
  if (context.opset >= 18 && r == "max") return Reduction::kMax;
  if (context.opset >= 18 && r == "min") return Reduction::kMin;
  return InvalidArgument(context.node.op_type + ": unsupported attribute 'reduction' value '" +
                         r + "'");
}

template <typename T>
T Combine(Reduction r, T a, T b) {
  if constexpr (kIsHalf<T>) {
    return T(Combine<float>(r, static_cast<float>(a), static_cast<float>(b)));
  } else if constexpr (std::is_integral_v<T>) {
    // Integer add/mul wrap through uint64 (no signed-overflow UB).
    const auto ua = static_cast<uint64_t>(a);
    const auto ub = static_cast<uint64_t>(b);
    switch (r) {
      case Reduction::kAdd: return static_cast<T>(ua + ub);
      case Reduction::kMul: return static_cast<T>(ua * ub);
      case Reduction::kMax: return std::max(a, b);
      case Reduction::kMin: return std::min(a, b);
      default: return b;
    }
  } else {
    switch (r) {
      case Reduction::kAdd: return a + b;
      case Reduction::kMul: return a * b;
      case Reduction::kMax: return std::max(a, b);
      case Reduction::kMin: return std::min(a, b);
      default: return b;
    }
  }
}

// Copies `data` to a new output and applies dst[offsets[i]..+slice) op=
// updates[i*slice..+slice) for every i.
Status ApplyScatter(const Tensor& data, const Tensor& updates,
                    const std::vector<int64_t>& offsets, int64_t slice, Reduction r,
                    const std::string& op, Tensor* out) {
  if (updates.dtype() != data.dtype()) {
    return InvalidArgument(op + ": updates element type differs from data");
  }
  RETURN_IF_ERROR(CheckFixedSize(data, op));
  ASSIGN_OR_RETURN(*out, AllocateOutput(data.dtype(), data.shape()));
  if (data.byte_size()) std::memcpy(out->mutable_data(), data.data(), out->byte_size());
  if (r == Reduction::kNone) {
    return DispatchBySize(data.dtype(), op, [&]<typename U>() -> Status {
      const U* src = updates.data_as<U>();
      U* dst = out->mutable_data_as<U>();
      for (size_t i = 0; i < offsets.size(); ++i) {
        std::copy(src + i * slice, src + (i + 1) * slice, dst + offsets[i]);
      }
      return Status::Ok();
    });
  }
  return DispatchNumeric(data.dtype(), op, [&]<typename T>() -> Status {
    const T* src = updates.data_as<T>();
    T* dst = out->mutable_data_as<T>();
    for (size_t i = 0; i < offsets.size(); ++i) {
      for (int64_t j = 0; j < slice; ++j) {
        dst[offsets[i] + j] = Combine<T>(r, dst[offsets[i] + j], src[i * slice + j]);
      }
    }
    return Status::Ok();
  });
}

class ScatterNDKernel final : public Kernel {
 public:
  explicit ScatterNDKernel(Reduction r) : r_(r) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 3, 3));
    const Tensor& data = *inputs[0];
    const Shape& s = data.shape();
    const Shape& is = inputs[1]->shape();
    if (is.empty()) return InvalidArgument("ScatterND: indices must have rank >= 1");
    const int64_t k = is.back();
    if (k < 1 || k > static_cast<int64_t>(s.size())) {
      return InvalidArgument("ScatterND: last indices dim " + std::to_string(k) +
                             " must be in [1, data rank]");
    }
    Shape expected(is.begin(), is.end() - 1);
    expected.insert(expected.end(), s.begin() + k, s.end());
    if (inputs[2]->shape() != expected) {
      return InvalidArgument("ScatterND: updates shape " + ShapeToString(inputs[2]->shape()) +
                             " should be " + ShapeToString(expected));
    }
    ASSIGN_OR_RETURN(std::vector<int64_t> idx, ReadIndexTensor(*inputs[1], "ScatterND indices"));
    const int64_t slice = DimProduct(s, k, s.size());
    std::vector<int64_t> offsets(static_cast<size_t>(DimProduct(is, 0, is.size() - 1)));
    for (size_t t = 0; t < offsets.size(); ++t) {
      int64_t off = 0;
      for (int64_t j = 0; j < k; ++j) {
        ASSIGN_OR_RETURN(int64_t i, NormalizeIndex(idx[t * k + j], s[j], "ScatterND"));
        off = off * s[j] + i;
      }
      offsets[t] = off * slice;
    }
    return ApplyScatter(data, *inputs[2], offsets, slice, r_, "ScatterND", &outputs[0]);
  }

 private:
  Reduction r_;
};

class ScatterElementsKernel final : public Kernel {
 public:
  ScatterElementsKernel(std::string op, int64_t axis, Reduction r)
      : op_(std::move(op)), axis_(axis), r_(r) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 3, 3));
    const Tensor& data = *inputs[0];
    const Shape& s = data.shape();
    const Shape& is = inputs[1]->shape();
    ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(axis_, static_cast<int64_t>(s.size())));
    if (inputs[2]->shape() != is) {
      return InvalidArgument(op_ + ": updates shape differs from indices shape");
    }
    if (is.size() != s.size()) return InvalidArgument(op_ + ": indices rank differs from data");
    for (size_t d = 0; d < s.size(); ++d) {
      if (static_cast<int64_t>(d) != axis && is[d] > s[d]) {
        return InvalidArgument(op_ + ": indices shape " + ShapeToString(is) +
                               " exceeds data shape " + ShapeToString(s));
      }
    }
    ASSIGN_OR_RETURN(std::vector<int64_t> idx, ReadIndexTensor(*inputs[1], op_ + " indices"));
    std::vector<int64_t> strides = DenseStrides(s);
    const int64_t axis_stride = strides[axis];
    strides[axis] = 0;
    std::vector<int64_t> offsets(idx.size());
    Status bad;
    ForEachStrided(is, strides, 0, [&](int64_t pos, int64_t off) {
      auto i = NormalizeIndex(idx[pos], s[axis], op_);
      if (!i.ok()) {
        bad = i.status();
        return;
      }
      offsets[pos] = off + *i * axis_stride;
    });
    RETURN_IF_ERROR(bad);
    return ApplyScatter(data, *inputs[2], offsets, 1, r_, op_, &outputs[0]);
  }

 private:
  std::string op_;
  int64_t axis_;
  Reduction r_;
};

StatusOr<std::unique_ptr<Kernel>> MakeScatterND(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 3, 3));
  ASSIGN_OR_RETURN(Reduction r, ParseReduction(context));
  return std::unique_ptr<Kernel>(new ScatterNDKernel(r));
}

StatusOr<std::unique_ptr<Kernel>> MakeScatterElements(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 3, 3));
  ASSIGN_OR_RETURN(int64_t axis, context.node.GetInt("axis", 0));
  Reduction r = Reduction::kNone;
  if (context.node.op_type == "ScatterElements") {
    ASSIGN_OR_RETURN(r, ParseReduction(context));
  }
  return std::unique_ptr<Kernel>(new ScatterElementsKernel(context.node.op_type, axis, r));
}

NEREID_REGISTER_KERNEL("", "ScatterND", MakeScatterND);
NEREID_REGISTER_KERNEL("", "ScatterElements", MakeScatterElements);
NEREID_REGISTER_KERNEL("", "Scatter", MakeScatterElements);

}  // namespace
}  // namespace nereid::engine::ref
