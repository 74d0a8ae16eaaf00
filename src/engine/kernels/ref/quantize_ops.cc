// Linear quantization: QuantizeLinear and DequantizeLinear (opset 10
// per-tensor; opset 13 adds per-axis scales along `axis`, default 1) and
// DynamicQuantizeLinear (opset 11, uint8).
//
//   QuantizeLinear:   y = saturate(round_half_even(x / scale) + zero_point)
//   DequantizeLinear: y = (x - zero_point) * scale
//
// Scale and zero point are per-tensor when they hold one element (scalar or
// [1]) and per-axis when they are 1-D with x.shape[axis] elements. The
// quantized type is the zero point's (uint8 when it is omitted): uint8 or
// int8, and int32 for DequantizeLinear input. Arithmetic is in float for
// float inputs (as the reference's float32 numpy), double for double.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <string>
#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/kernels/ref/misc_util.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

// How scale/zero point index into x: x viewed as [outer, channels, inner];
// channels == 1 for per-tensor.
struct QuantGeometry {
  int64_t outer = 1;
  int64_t channels = 1;
  int64_t inner = 1;
};

StatusOr<QuantGeometry> CheckQuantParams(const Tensor& x, const Tensor& scale,
                                         const Tensor* zero_point, int64_t axis,
                                         bool allow_per_axis) {
  if (zero_point != nullptr && zero_point->shape() != scale.shape()) {
    return InvalidArgument("zero point shape " + ShapeToString(zero_point->shape()) +
                           " differs from the scale's " + ShapeToString(scale.shape()));
  }
  const Shape& s = scale.shape();
  QuantGeometry g;
  g.outer = NumElements(x.shape());
  if (s.empty() || (s.size() == 1 && s[0] == 1)) return g;  // per-tensor
  const auto rank = static_cast<int64_t>(x.shape().size());
  if (!allow_per_axis || s.size() != 1) {
    return InvalidArgument("scale must be a scalar" +
                           std::string(allow_per_axis ? " or 1-D" : "") + ", got shape " +
                           ShapeToString(s));
  }
  ASSIGN_OR_RETURN(int64_t a, NormalizeAxis(axis, rank));
  if (s[0] != x.shape()[a]) {
    return InvalidArgument("per-axis scale has " + std::to_string(s[0]) +
                           " values but input dimension " + std::to_string(a) + " is " +
                           std::to_string(x.shape()[a]));
  }
  g.outer = DimProduct(x.shape(), 0, a);
  g.channels = s[0];
  g.inner = DimProduct(x.shape(), a + 1, x.shape().size());
  return g;
}

template <typename Q>
Q SaturateRound(double v) {
  const double r = std::nearbyint(v);  // default rounding mode: half to even
  if (std::isnan(r)) return Q{0};
  return static_cast<Q>(std::clamp(r, static_cast<double>(std::numeric_limits<Q>::lowest()),
                                   static_cast<double>(std::numeric_limits<Q>::max())));
}

class QuantizeKernel final : public Kernel {
 public:
  QuantizeKernel(int64_t axis, bool per_axis) : axis_(axis), per_axis_(per_axis) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 2, 3));
    const Tensor& x = *inputs[0];
    const Tensor& scale = *inputs[1];
    const Tensor* zp = inputs.size() > 2 ? inputs[2] : nullptr;
    ASSIGN_OR_RETURN(QuantGeometry g, CheckQuantParams(x, scale, zp, axis_, per_axis_));
    ASSIGN_OR_RETURN(std::vector<double> scales, ReadDoubles(scale, "scale"));
    const DataType qtype = zp != nullptr ? zp->dtype() : DataType::kUint8;
    auto body = [&]<typename Q>() -> Status {
      ASSIGN_OR_RETURN(outputs[0], AllocateOutput(qtype, x.shape()));
      const Q* z = zp != nullptr ? zp->data_as<Q>() : nullptr;
      Q* y = outputs[0].mutable_data_as<Q>();
      if (x.dtype() == DataType::kInt32) return Quantize<int32_t, Q>(x, g, scales, z, y);
      return DispatchFloat(x.dtype(), "QuantizeLinear", [&]<typename T>() -> Status {
        return Quantize<T, Q>(x, g, scales, z, y);
      });
    };
    if (qtype == DataType::kUint8) return body.template operator()<uint8_t>();
    if (qtype == DataType::kInt8) return body.template operator()<int8_t>();
    return UnsupportedDtype("QuantizeLinear (zero point)", qtype);
  }

 private:
  template <typename T, typename Q>
  static Status Quantize(const Tensor& x, const QuantGeometry& g, const std::vector<double>& scales,
                         const Q* z, Q* y) {
    // float x divides in float like the reference; int32 and double in double.
    using C = std::conditional_t<std::is_same_v<Compute<T>, float> && kIsFloating<T>, float,
                                 double>;
    const T* in = x.data_as<T>();
    for (int64_t c = 0; c < g.channels; ++c) {
      const C s = static_cast<C>(scales[c]);
      const double zero = z != nullptr ? static_cast<double>(z[c]) : 0.0;
      for (int64_t o = 0; o < g.outer; ++o) {
        const int64_t base = (o * g.channels + c) * g.inner;
        for (int64_t i = 0; i < g.inner; ++i) {
          const C q = std::nearbyint(static_cast<C>(ToDouble(in[base + i])) / s);
          y[base + i] = SaturateRound<Q>(static_cast<double>(q) + zero);
        }
      }
    }
    return Status::Ok();
  }

  int64_t axis_;
  bool per_axis_;
};

class DequantizeKernel final : public Kernel {
 public:
  DequantizeKernel(int64_t axis, bool per_axis) : axis_(axis), per_axis_(per_axis) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 2, 3));
    const Tensor& x = *inputs[0];
    const Tensor& scale = *inputs[1];
    const Tensor* zp = inputs.size() > 2 ? inputs[2] : nullptr;
    if (zp != nullptr && zp->dtype() != x.dtype()) {
      return InvalidArgument("zero point element type " + std::string(DataTypeName(zp->dtype())) +
                             " differs from the input's " + std::string(DataTypeName(x.dtype())));
    }
    ASSIGN_OR_RETURN(QuantGeometry g, CheckQuantParams(x, scale, zp, axis_, per_axis_));
    ASSIGN_OR_RETURN(std::vector<double> scales, ReadDoubles(scale, "scale"));
    auto body = [&]<typename Q>() -> Status {
      const Q* z = zp != nullptr ? zp->data_as<Q>() : nullptr;
      return DispatchFloat(scale.dtype(), "DequantizeLinear", [&]<typename T>() -> Status {
        ASSIGN_OR_RETURN(outputs[0], AllocateOutput(scale.dtype(), x.shape()));
        Dequantize<Q, T>(x.data_as<Q>(), g, scales, z, outputs[0].mutable_data_as<T>());
        return Status::Ok();
      });
    };
    switch (x.dtype()) {
      case DataType::kUint8: return body.template operator()<uint8_t>();
      case DataType::kInt8: return body.template operator()<int8_t>();
      case DataType::kInt32: return body.template operator()<int32_t>();
      default: return UnsupportedDtype("DequantizeLinear", x.dtype());
    }
  }

 private:
  template <typename Q, typename T>
  static void Dequantize(const Q* x, const QuantGeometry& g, const std::vector<double>& scales,
                         const Q* z, T* y) {
    using C = Compute<T>;
    for (int64_t c = 0; c < g.channels; ++c) {
      const C s = static_cast<C>(scales[c]);
      const int64_t zero = z != nullptr ? static_cast<int64_t>(z[c]) : 0;
      for (int64_t o = 0; o < g.outer; ++o) {
        const int64_t base = (o * g.channels + c) * g.inner;
        for (int64_t i = 0; i < g.inner; ++i) {
          y[base + i] = T(static_cast<C>(static_cast<int64_t>(x[base + i]) - zero) * s);
        }
      }
    }
  }

  int64_t axis_;
  bool per_axis_;
};

// Outputs y (uint8), y_scale (float scalar), y_zero_point (uint8 scalar).
class DynamicQuantizeKernel final : public Kernel {
 public:
  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 1, 1));
    const Tensor& x = *inputs[0];
    if (x.dtype() != DataType::kFp32) return UnsupportedDtype("DynamicQuantizeLinear", x.dtype());
    const float* in = x.data_as<float>();
    const int64_t n = NumElements(x.shape());
    // The range always includes 0 so that 0 is exactly representable.
    float lo = 0.0f;
    float hi = 0.0f;
    for (int64_t i = 0; i < n; ++i) {
      if (std::isnan(in[i])) return InvalidArgument("DynamicQuantizeLinear input contains NaN");
      lo = std::min(lo, in[i]);
      hi = std::max(hi, in[i]);
    }
    const float scale = (hi - lo) / 255.0f;
    uint8_t zero = 0;
    if (scale > 0.0f && std::isfinite(scale)) {
      zero = SaturateRound<uint8_t>(std::nearbyint((0.0f - lo) / scale));
    }
    ASSIGN_OR_RETURN(outputs[0], AllocateOutput(DataType::kUint8, x.shape()));
    uint8_t* y = outputs[0].mutable_data_as<uint8_t>();
    for (int64_t i = 0; i < n; ++i) {
      // An all-zero input has scale 0: every value quantizes to the zero point.
      const float q = scale > 0.0f ? std::nearbyint(in[i] / scale) : 0.0f;
      y[i] = SaturateRound<uint8_t>(static_cast<double>(q) + zero);
    }
    if (outputs.size() > 1) {
      ASSIGN_OR_RETURN(outputs[1], AllocateOutput(DataType::kFp32, Shape{}));
      outputs[1].mutable_data_as<float>()[0] = scale;
    }
    if (outputs.size() > 2) {
      ASSIGN_OR_RETURN(outputs[2], AllocateOutput(DataType::kUint8, Shape{}));
      outputs[2].mutable_data_as<uint8_t>()[0] = zero;
    }
    return Status::Ok();
  }
};

template <bool kQuantize>
StatusOr<std::unique_ptr<Kernel>> MakeQuantOp(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 2, 3));
  const bool per_axis = context.opset >= 13;
  ASSIGN_OR_RETURN(int64_t axis, context.node.GetInt("axis", 1));
  if (kQuantize) return std::unique_ptr<Kernel>(new QuantizeKernel(axis, per_axis));
  return std::unique_ptr<Kernel>(new DequantizeKernel(axis, per_axis));
}

StatusOr<std::unique_ptr<Kernel>> MakeDynamicQuantize(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 1, 1, 3));
  return std::unique_ptr<Kernel>(new DynamicQuantizeKernel());
}

NEREID_REGISTER_KERNEL("", "QuantizeLinear", MakeQuantOp<true>);
NEREID_REGISTER_KERNEL("", "DequantizeLinear", MakeQuantOp<false>);
NEREID_REGISTER_KERNEL("", "DynamicQuantizeLinear", MakeDynamicQuantize);

}  // namespace
}  // namespace nereid::engine::ref
