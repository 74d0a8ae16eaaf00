// Shape, Size, ConstantOfShape, Range, Dropout (inference).
//
// Shape honours 'start'/'end' (opset 15; clamped to [0, rank]). Dropout is
// the identity at inference (opset < 12, or training_mode false, or ratio
// 0); its optional mask output is all true (BOOL from opset 10, the input's
// type before). Training-mode dropout with a non-zero ratio is random and
// not supported.
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

class ShapeKernel final : public Kernel {
 public:
  ShapeKernel(int64_t start, std::optional<int64_t> end) : start_(start), end_(end) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 1, 1));
    const Shape& s = inputs[0]->shape();
    const auto rank = static_cast<int64_t>(s.size());
    auto clamp = [rank](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + rank : v, 0, rank); };
    const int64_t start = clamp(start_);
    const int64_t end = clamp(end_.value_or(rank));
    const int64_t n = std::max<int64_t>(end - start, 0);
    ASSIGN_OR_RETURN(outputs[0], AllocateOutput(DataType::kInt64, {n}));
    std::copy(s.begin() + start, s.begin() + start + n, outputs[0].mutable_data_as<int64_t>());
    return Status::Ok();
  }

 private:
  int64_t start_;
  std::optional<int64_t> end_;
};

class SizeKernel final : public Kernel {
 public:
  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 1, 1));
    ASSIGN_OR_RETURN(outputs[0], AllocateOutput(DataType::kInt64, {}));
    *outputs[0].mutable_data_as<int64_t>() = NumElements(inputs[0]->shape());
    return Status::Ok();
  }
};

class ConstantOfShapeKernel final : public Kernel {
 public:
  explicit ConstantOfShapeKernel(Tensor value) : value_(std::move(value)) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 1, 1));
    if (inputs[0]->dtype() != DataType::kInt64) {
      return InvalidArgument("ConstantOfShape: input must be INT64");
    }
    ASSIGN_OR_RETURN(Shape shape, ReadIndexList(*inputs[0], "ConstantOfShape input"));
    for (int64_t d : shape) {
      if (d < 0) return InvalidArgument("ConstantOfShape: negative dim in " + ShapeToString(shape));
    }
    ASSIGN_OR_RETURN(outputs[0], AllocateOutput(value_.dtype(), shape));
    const size_t elem = DataTypeByteSize(value_.dtype());
    char* dst = outputs[0].mutable_data();
    for (size_t off = 0; off < outputs[0].byte_size(); off += elem) {
      std::memcpy(dst + off, value_.data(), elem);
    }
    return Status::Ok();
  }

 private:
  Tensor value_;
};

class RangeKernel final : public Kernel {
 public:
  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 3, 3));
    RETURN_IF_ERROR(CheckSameDtype(inputs));
    for (const Tensor* t : inputs) {
      if (NumElements(t->shape()) != 1 || t->shape().size() > 1) {
        return InvalidArgument("Range: start, limit and delta must be scalars");
      }
    }
    const DataType dtype = inputs[0]->dtype();
    return DispatchNumeric(dtype, "Range", [&]<typename T>() -> Status {
      const T start = *inputs[0]->data_as<T>();
      const T limit = *inputs[1]->data_as<T>();
      const T delta = *inputs[2]->data_as<T>();
      ASSIGN_OR_RETURN(int64_t n, Count<T>(start, limit, delta));
      ASSIGN_OR_RETURN(outputs[0], AllocateOutput(dtype, {n}));
      T* out = outputs[0].mutable_data_as<T>();
      for (int64_t i = 0; i < n; ++i) {
        if constexpr (kIsFloating<T>) {
          out[i] = Convert<T>(static_cast<double>(start) + static_cast<double>(i) *
                                                               static_cast<double>(delta));
        } else {
          // Exact in 128 bits; the result lies between start and limit.
          out[i] = static_cast<T>(static_cast<__int128>(start) +
                                  static_cast<__int128>(i) * static_cast<__int128>(delta));
        }
      }
      return Status::Ok();
    });
  }

 private:
  // max(ceil((limit - start) / delta), 0).
  template <typename T>
  static StatusOr<int64_t> Count(T start, T limit, T delta) {
    if constexpr (kIsFloating<T>) {
      const double n = std::ceil((static_cast<double>(limit) - static_cast<double>(start)) /
                                 static_cast<double>(delta));
      if (std::isnan(n) || n > static_cast<double>(int64_t{1} << 62)) {
        return InvalidArgument("Range: delta is zero or the range is too long");
      }
      return std::max<int64_t>(static_cast<int64_t>(n), 0);
    } else {
      if (delta == T{0}) return InvalidArgument("Range: delta must not be zero");
      const __int128 diff = static_cast<__int128>(limit) - static_cast<__int128>(start);
      const __int128 d = delta;
      __int128 n = diff / d;
      if (n * d != diff) ++n;  // positive quotients round up (ceil)
      if (n > (__int128{1} << 62)) return InvalidArgument("Range: the range is too long");
      return static_cast<int64_t>(std::max<__int128>(n, 0));
    }
  }
};

class DropoutKernel final : public Kernel {
 public:
  DropoutKernel(bool inputs_form, bool bool_mask)
      : inputs_form_(inputs_form), bool_mask_(bool_mask) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 1, inputs_form_ ? 3 : 1));
    const Tensor& x = *inputs[0];
    RETURN_IF_ERROR(CheckFixedSize(x, "Dropout"));
    if (inputs_form_) RETURN_IF_ERROR(CheckInference(inputs));
    outputs[0] = x;  // identity at inference: a view of the input
    if (outputs.size() > 1) {
      const DataType mask_type = bool_mask_ ? DataType::kBool : x.dtype();
      ASSIGN_OR_RETURN(outputs[1], AllocateOutput(mask_type, x.shape()));
      return DispatchNumericOrBool(mask_type, "Dropout", [&]<typename T>() -> Status {
        T one = Convert<T>(1.0f);
        T* m = outputs[1].mutable_data_as<T>();
        std::fill(m, m + NumElements(x.shape()), one);
        return Status::Ok();
      });
    }
    return Status::Ok();
  }

 private:
  // Opset 12+: training_mode=true drops at random unless ratio is 0.
  static Status CheckInference(std::span<const Tensor* const> inputs) {
    const Tensor* mode = OptionalInput(inputs, 2);
    if (mode == nullptr) return Status::Ok();
    if (mode->dtype() != DataType::kBool || NumElements(mode->shape()) != 1) {
      return InvalidArgument("Dropout: training_mode must be a BOOL scalar");
    }
    if (*mode->data_as<uint8_t>() == 0) return Status::Ok();
    double ratio = 0.5;
    if (const Tensor* r = OptionalInput(inputs, 1)) {
      if (NumElements(r->shape()) != 1) return InvalidArgument("Dropout: ratio must be a scalar");
      RETURN_IF_ERROR(DispatchFloat(r->dtype(), "Dropout ratio", [&]<typename T>() -> Status {
        ratio = Convert<double>(*r->data_as<T>());
        return Status::Ok();
      }));
    }
    if (ratio != 0.0) return Unimplemented("Dropout: training mode with a non-zero ratio");
    return Status::Ok();
  }

  bool inputs_form_;
  bool bool_mask_;
};

StatusOr<std::unique_ptr<Kernel>> MakeShape(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 1, 1));
  int64_t start = 0;
  std::optional<int64_t> end;
  if (context.opset >= 15) {
    ASSIGN_OR_RETURN(start, context.node.GetInt("start", 0));
    if (context.node.FindAttribute("end") != nullptr) {
      ASSIGN_OR_RETURN(end, context.node.GetInt("end"));
    }
  }
  return std::unique_ptr<Kernel>(new ShapeKernel(start, end));
}

StatusOr<std::unique_ptr<Kernel>> MakeSize(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 1, 1));
  return std::unique_ptr<Kernel>(new SizeKernel());
}

StatusOr<std::unique_ptr<Kernel>> MakeConstantOfShape(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 1, 1));
  Tensor value = Tensor::AllocateDense(DataType::kFp32, {1});
  *value.mutable_data_as<float>() = 0.0f;
  if (const Attribute* a = context.node.FindAttribute("value")) {
    if (a->kind != Attribute::Kind::kTensor) {
      return InvalidArgument("ConstantOfShape: attribute 'value' must be a tensor");
    }
    if (DataTypeByteSize(a->t.dtype()) == 0) {
      return Unimplemented("ConstantOfShape: attribute 'value' of type " +
                           std::string(DataTypeName(a->t.dtype())));
    }
    if (NumElements(a->t.shape()) != 1 || a->t.byte_size() < DataTypeByteSize(a->t.dtype())) {
      return InvalidArgument("ConstantOfShape: attribute 'value' must hold one element");
    }
    value = a->t;
  }
  return std::unique_ptr<Kernel>(new ConstantOfShapeKernel(std::move(value)));
}

StatusOr<std::unique_ptr<Kernel>> MakeRange(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 3, 3));
  return std::unique_ptr<Kernel>(new RangeKernel());
}

StatusOr<std::unique_ptr<Kernel>> MakeDropout(const KernelBuildContext& context) {
  const bool inputs_form = context.opset >= 12;
  const Node& node = context.node;
  if (node.inputs.empty() || node.inputs.size() > (inputs_form ? 3u : 1u) ||
      node.outputs.empty() || node.outputs.size() > 2 || node.outputs[0] == kNoValue) {
    return InvalidArgument("Dropout takes 1" + std::string(inputs_form ? " to 3" : "") +
                           " inputs and 1 or 2 outputs");
  }
  if (!inputs_form) {
    // Validated only: inference never drops.
    ASSIGN_OR_RETURN(float ratio, node.GetFloat("ratio", 0.5f));
    if (!(ratio >= 0.0f && ratio < 1.0f)) {
      return InvalidArgument("Dropout: attribute 'ratio' must be in [0, 1)");
    }
  }
  return std::unique_ptr<Kernel>(new DropoutKernel(inputs_form, context.opset >= 10));
}

NEREID_REGISTER_KERNEL("", "Shape", MakeShape);
NEREID_REGISTER_KERNEL("", "Size", MakeSize);
NEREID_REGISTER_KERNEL("", "ConstantOfShape", MakeConstantOfShape);
NEREID_REGISTER_KERNEL("", "Range", MakeRange);
NEREID_REGISTER_KERNEL("", "Dropout", MakeDropout);

}  // namespace
}  // namespace nereid::engine::ref
