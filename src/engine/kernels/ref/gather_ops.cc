// Gather, GatherElements, GatherND (any fixed-size element type, copied by
// bit pattern). Indices are INT32 or INT64 and may be negative (counted
// from the end of the dim); an index outside [-dim, dim) is InvalidArgument,
// checked before any element is read.
#include <algorithm>
#include <string>
#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/index_util.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

// Reads `t` and normalizes every index against `dim`.
StatusOr<std::vector<int64_t>> NormalizedIndices(const Tensor& t, int64_t dim,
                                                 std::string_view op) {
  ASSIGN_OR_RETURN(std::vector<int64_t> idx, ReadIndexTensor(t, std::string(op) + " indices"));
  for (int64_t& i : idx) {
    ASSIGN_OR_RETURN(i, NormalizeIndex(i, dim, op));
  }
  return idx;
}

class GatherKernel final : public Kernel {
 public:
  explicit GatherKernel(int64_t axis) : axis_(axis) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 2, 2));
    const Tensor& data = *inputs[0];
    const Shape& s = data.shape();
    ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(axis_, static_cast<int64_t>(s.size())));
    ASSIGN_OR_RETURN(std::vector<int64_t> idx, NormalizedIndices(*inputs[1], s[axis], "Gather"));
    Shape out_shape(s.begin(), s.begin() + axis);
    const Shape& is = inputs[1]->shape();
    out_shape.insert(out_shape.end(), is.begin(), is.end());
    out_shape.insert(out_shape.end(), s.begin() + axis + 1, s.end());
    const int64_t outer = DimProduct(s, 0, axis);
    const int64_t inner = DimProduct(s, axis + 1, s.size());
    const auto n = static_cast<int64_t>(idx.size());
    return DispatchBySize(data.dtype(), "Gather", [&]<typename U>() -> Status {
      ASSIGN_OR_RETURN(outputs[0], AllocateOutput(data.dtype(), out_shape));
      const U* in = data.data_as<U>();
      U* out = outputs[0].mutable_data_as<U>();
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t j = 0; j < n; ++j) {
          const U* src = in + (o * s[axis] + idx[j]) * inner;
          std::copy(src, src + inner, out + (o * n + j) * inner);
        }
      }
      return Status::Ok();
    });
  }

 private:
  int64_t axis_;
};

class GatherElementsKernel final : public Kernel {
 public:
  explicit GatherElementsKernel(int64_t axis) : axis_(axis) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 2, 2));
    const Tensor& data = *inputs[0];
    const Shape& s = data.shape();
    const Shape& is = inputs[1]->shape();
    ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(axis_, static_cast<int64_t>(s.size())));
    if (is.size() != s.size()) {
      return InvalidArgument("GatherElements: indices rank differs from data rank");
    }
    for (size_t d = 0; d < s.size(); ++d) {
      if (static_cast<int64_t>(d) != axis && is[d] > s[d]) {
        return InvalidArgument("GatherElements: indices shape " + ShapeToString(is) +
                               " exceeds data shape " + ShapeToString(s));
      }
    }
    ASSIGN_OR_RETURN(std::vector<int64_t> idx,
                     NormalizedIndices(*inputs[1], s[axis], "GatherElements"));
    std::vector<int64_t> strides = DenseStrides(s);
    const int64_t axis_stride = strides[axis];
    strides[axis] = 0;  // the index replaces the position along the axis
    return DispatchBySize(data.dtype(), "GatherElements", [&]<typename U>() -> Status {
      ASSIGN_OR_RETURN(outputs[0], AllocateOutput(data.dtype(), is));
      const U* in = data.data_as<U>();
      U* out = outputs[0].mutable_data_as<U>();
      ForEachStrided(is, strides, 0, [&](int64_t pos, int64_t off) {
        out[pos] = in[off + idx[pos] * axis_stride];
      });
      return Status::Ok();
    });
  }

 private:
  int64_t axis_;
};

class GatherNDKernel final : public Kernel {
 public:
  explicit GatherNDKernel(int64_t batch_dims) : batch_dims_(batch_dims) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 2, 2));
    const Tensor& data = *inputs[0];
    const Shape& s = data.shape();
    const Shape& is = inputs[1]->shape();
    const auto b = static_cast<size_t>(batch_dims_);
    if (is.empty() || s.empty() || b >= is.size() || b >= s.size()) {
      return InvalidArgument("GatherND: data and indices need rank > batch_dims");
    }
    const int64_t m = is.back();
    if (m < 1 || m > static_cast<int64_t>(s.size() - b)) {
      return InvalidArgument("GatherND: last indices dim " + std::to_string(m) +
                             " must be in [1, data rank - batch_dims]");
    }
    for (size_t d = 0; d < b; ++d) {
      if (is[d] != s[d]) return InvalidArgument("GatherND: batch dims of data and indices differ");
    }
    ASSIGN_OR_RETURN(std::vector<int64_t> idx, ReadIndexTensor(*inputs[1], "GatherND indices"));
    const int64_t batches = DimProduct(s, 0, b);
    const int64_t tuples = DimProduct(is, b, is.size() - 1);
    const int64_t slice = DimProduct(s, b + m, s.size());
    const int64_t batch_stride = DimProduct(s, b, s.size());
    // Element offset (within a batch) of each index tuple.
    std::vector<int64_t> offsets(static_cast<size_t>(batches * tuples));
    for (size_t t = 0; t < offsets.size(); ++t) {
      int64_t off = 0;
      for (int64_t k = 0; k < m; ++k) {
        const int64_t dim = s[b + k];
        ASSIGN_OR_RETURN(int64_t i, NormalizeIndex(idx[t * m + k], dim, "GatherND"));
        off = off * dim + i;
      }
      offsets[t] = off * slice;
    }
    Shape out_shape(is.begin(), is.end() - 1);
    out_shape.insert(out_shape.end(), s.begin() + b + m, s.end());
    return DispatchBySize(data.dtype(), "GatherND", [&]<typename U>() -> Status {
      ASSIGN_OR_RETURN(outputs[0], AllocateOutput(data.dtype(), out_shape));
      const U* in = data.data_as<U>();
      U* out = outputs[0].mutable_data_as<U>();
      for (int64_t t = 0; t < batches * tuples; ++t) {
        const U* src = in + (t / tuples) * batch_stride + offsets[t];
        std::copy(src, src + slice, out + t * slice);
      }
      return Status::Ok();
    });
  }

 private:
  int64_t batch_dims_;
};

StatusOr<std::unique_ptr<Kernel>> MakeGather(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 2, 2));
  ASSIGN_OR_RETURN(int64_t axis, context.node.GetInt("axis", 0));
  return std::unique_ptr<Kernel>(new GatherKernel(axis));
}

StatusOr<std::unique_ptr<Kernel>> MakeGatherElements(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 2, 2));
  ASSIGN_OR_RETURN(int64_t axis, context.node.GetInt("axis", 0));
  return std::unique_ptr<Kernel>(new GatherElementsKernel(axis));
}

StatusOr<std::unique_ptr<Kernel>> MakeGatherND(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 2, 2));
  int64_t batch_dims = 0;
  if (context.opset >= 12) {
    ASSIGN_OR_RETURN(batch_dims, context.node.GetInt("batch_dims", 0));
  }
  if (batch_dims < 0) {
    return InvalidArgument("GatherND: attribute 'batch_dims' must be >= 0, got " +
                           std::to_string(batch_dims));
  }
  return std::unique_ptr<Kernel>(new GatherNDKernel(batch_dims));
}

NEREID_REGISTER_KERNEL("", "Gather", MakeGather);
NEREID_REGISTER_KERNEL("", "GatherElements", MakeGatherElements);
NEREID_REGISTER_KERNEL("", "GatherND", MakeGatherND);

}  // namespace
}  // namespace nereid::engine::ref
