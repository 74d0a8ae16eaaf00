// Identity, Reshape, Flatten: outputs are views over the input's bytes
// (no copy); the runtime copies a view before handing it to a caller when
// the bytes belong to the caller.
#include <optional>
#include <string>
#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

class IdentityKernel final : public Kernel {
 public:
  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 1, 1));
    outputs[0] = *inputs[0];
    return Status::Ok();
  }
};

// Resolves an ONNX Reshape target against the input shape: 0 copies the
// input dim (unless allow_zero), one -1 is inferred.
StatusOr<Shape> ResolveReshape(const Shape& in, const std::vector<int64_t>& target,
                               bool allow_zero) {
  Shape out(target.size());
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < target.size(); ++i) {
    int64_t d = target[i];
    if (d == 0 && !allow_zero) {
      if (i >= in.size()) {
        return InvalidArgument("Reshape: 0 at position " + std::to_string(i) +
                               " has no input dim to copy (input " + ShapeToString(in) + ")");
      }
      d = in[i];
    }
    if (d == -1) {
      if (infer >= 0) return InvalidArgument("Reshape: more than one -1 in target shape");
      infer = static_cast<int>(i);
      continue;
    }
    if (d < -1) return InvalidArgument("Reshape: invalid dim " + std::to_string(d));
    out[i] = d;
    if (__builtin_mul_overflow(known, d, &known)) {
      return InvalidArgument("Reshape: target shape is too large");
    }
  }
  const int64_t total = NumElements(in);
  if (infer >= 0) {
    if (known == 0) {
      return InvalidArgument("Reshape: cannot infer -1 next to a zero dim");
    }
    out[infer] = total / known;
    known *= out[infer];  // <= total: cannot overflow
  }
  if (known != total) {
    return InvalidArgument("Reshape: cannot reshape " + ShapeToString(in) + " (" +
                           std::to_string(total) + " elements) to " + ShapeToString(out));
  }
  return out;
}

class ReshapeKernel final : public Kernel {
 public:
  // `fixed_shape` holds the opset 1-4 'shape' attribute; otherwise input 1 gives it.
  ReshapeKernel(std::optional<std::vector<int64_t>> fixed_shape, bool allow_zero)
      : fixed_shape_(std::move(fixed_shape)), allow_zero_(allow_zero) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, fixed_shape_ ? 1 : 2, fixed_shape_ ? 1 : 2));
    const Tensor& data = *inputs[0];
    std::vector<int64_t> target;
    if (fixed_shape_) {
      target = *fixed_shape_;
    } else {
      const Tensor& shape = *inputs[1];
      if (shape.dtype() != DataType::kInt64 || shape.shape().size() != 1) {
        return InvalidArgument("Reshape: 'shape' must be a 1-D INT64 tensor, got " +
                               std::string(DataTypeName(shape.dtype())) +
                               ShapeToString(shape.shape()));
      }
      const int64_t* p = shape.data_as<int64_t>();
      target.assign(p, p + shape.shape()[0]);
    }
    ASSIGN_OR_RETURN(Shape out, ResolveReshape(data.shape(), target, allow_zero_));
    outputs[0] = MakeView(data, std::move(out));
    return Status::Ok();
  }

 private:
  std::optional<std::vector<int64_t>> fixed_shape_;
  bool allow_zero_;
};

class FlattenKernel final : public Kernel {
 public:
  explicit FlattenKernel(int64_t axis) : axis_(axis) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 1, 1));
    const Tensor& x = *inputs[0];
    const Shape& s = x.shape();
    ASSIGN_OR_RETURN(int64_t axis,
                     NormalizeAxis(axis_, static_cast<int64_t>(s.size()), /*allow_rank=*/true));
    Shape out = {DimProduct(s, 0, axis), DimProduct(s, axis, s.size())};
    outputs[0] = MakeView(x, std::move(out));
    return Status::Ok();
  }

 private:
  int64_t axis_;
};

StatusOr<std::unique_ptr<Kernel>> MakeIdentity(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 1, 1));
  return std::unique_ptr<Kernel>(new IdentityKernel());
}

StatusOr<std::unique_ptr<Kernel>> MakeReshape(const KernelBuildContext& context) {
  std::optional<std::vector<int64_t>> fixed_shape;
  if (context.opset < 5) {
    ASSIGN_OR_RETURN(fixed_shape, context.node.GetInts("shape"));
  }
  const size_t num_inputs = fixed_shape ? 1 : 2;
  RETURN_IF_ERROR(CheckArity(context, num_inputs, num_inputs));
  ASSIGN_OR_RETURN(int64_t allow_zero, context.node.GetInt("allowzero", 0));
  return std::unique_ptr<Kernel>(new ReshapeKernel(std::move(fixed_shape), allow_zero != 0));
}

StatusOr<std::unique_ptr<Kernel>> MakeFlatten(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 1, 1));
  ASSIGN_OR_RETURN(int64_t axis, context.node.GetInt("axis", 1));
  return std::unique_ptr<Kernel>(new FlattenKernel(axis));
}

NEREID_REGISTER_KERNEL("", "Identity", MakeIdentity);
NEREID_REGISTER_KERNEL("", "Reshape", MakeReshape);
NEREID_REGISTER_KERNEL("", "Flatten", MakeFlatten);

}  // namespace
}  // namespace nereid::engine::ref
