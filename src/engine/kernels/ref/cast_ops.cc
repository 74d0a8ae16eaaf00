// Cast and CastLike between every numeric type and BOOL (see Convert() in
// numeric.h for rounding/saturation). Casts to or from STRING are rejected
// when the graph is built (Unimplemented), or at run time if the input type
// was not known then.
#include <string>

#include "engine/ir/onnx_tensor.h"
#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

Status CheckCastable(DataType from, DataType to) {
  if (from == DataType::kBytes || to == DataType::kBytes) {
    return Unimplemented("Cast from " + std::string(DataTypeName(from)) + " to " +
                         std::string(DataTypeName(to)) + " is not supported (STRING casts)");
  }
  return Status::Ok();
}

Status CastTensor(const Tensor& in, DataType to, Tensor* out) {
  if (in.dtype() == to) {
    *out = in;  // same type: a view
    return Status::Ok();
  }
  RETURN_IF_ERROR(CheckCastable(in.dtype(), to));
  ASSIGN_OR_RETURN(*out, AllocateOutput(to, in.shape()));
  const int64_t n = NumElements(in.shape());
  return DispatchNumericOrBool(in.dtype(), "Cast", [&]<typename From>() -> Status {
    return DispatchNumericOrBool(to, "Cast", [&]<typename To>() -> Status {
      const From* src = in.data_as<From>();
      To* dst = out->mutable_data_as<To>();
      for (int64_t i = 0; i < n; ++i) dst[i] = Convert<To>(src[i]);
      return Status::Ok();
    });
  });
}

class CastKernel final : public Kernel {
 public:
  explicit CastKernel(DataType to) : to_(to) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 1, 1));
    return CastTensor(*inputs[0], to_, &outputs[0]);
  }

 private:
  DataType to_;
};

class CastLikeKernel final : public Kernel {
 public:
  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 2, 2));
    return CastTensor(*inputs[0], inputs[1]->dtype(), &outputs[0]);
  }
};

// 'to' is an ONNX type number (opset >= 6) or its name (opsets 1-5).
StatusOr<int32_t> TargetOnnxType(const Node& node) {
  const Attribute* attr = node.FindAttribute("to");
  if (attr != nullptr && attr->kind == Attribute::Kind::kString) {
    for (int32_t t = 1; t <= 32; ++t) {
      if (OnnxTypeName(t) == attr->s) return t;
    }
    return Unimplemented("Cast to '" + attr->s + "' is not supported");
  }
  ASSIGN_OR_RETURN(int64_t to, node.GetInt("to"));
  return static_cast<int32_t>(to);
}

StatusOr<std::unique_ptr<Kernel>> MakeCast(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 1, 1));
  ASSIGN_OR_RETURN(int32_t onnx_to, TargetOnnxType(context.node));
  DataType to = DataTypeFromOnnx(onnx_to);
  if (to == DataType::kInvalid) {
    return Unimplemented("Cast to " + std::string(OnnxTypeName(onnx_to)) + " (" +
                         std::to_string(onnx_to) + ") is not supported");
  }
  DataType from = context.input_dtypes.empty() ? DataType::kInvalid : context.input_dtypes[0];
  RETURN_IF_ERROR(CheckCastable(from, to));
  return std::unique_ptr<Kernel>(new CastKernel(to));
}

StatusOr<std::unique_ptr<Kernel>> MakeCastLike(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 2, 2));
  for (DataType dtype : context.input_dtypes) {
    RETURN_IF_ERROR(CheckCastable(dtype, DataType::kInvalid));
  }
  return std::unique_ptr<Kernel>(new CastLikeKernel());
}

NEREID_REGISTER_KERNEL("", "Cast", MakeCast);
NEREID_REGISTER_KERNEL("", "CastLike", MakeCastLike);

}  // namespace
}  // namespace nereid::engine::ref
