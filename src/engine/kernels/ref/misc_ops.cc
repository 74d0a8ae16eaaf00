// Miscellaneous math kernels:
//  * Hardmax (opsets 1, 11: input coerced to 2-D at `axis`, default 1;
//    opset 13: along the single dim `axis`, default -1). The first maximum
//    gets 1, every other element 0.
//  * MeanVarianceNormalization (opsets 9, 13): (x - mean) / (std + 1e-9)
//    over `axes` (default [0, 2, 3]), computed in double.
//  * Det (opset 11): determinant of the trailing [M, M] matrices, by LU
//    decomposition with partial pivoting in double.
//  * HannWindow, HammingWindow, BlackmanWindow (opset 17): cosine-sum
//    windows of length `size` (a scalar input), periodic or symmetric, in
//    the element type `output_datatype` (default FLOAT).
#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "engine/ir/onnx_tensor.h"
#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/kernels/ref/misc_util.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

// ---------------------------------------------------------------- Hardmax

class HardmaxKernel final : public Kernel {
 public:
  HardmaxKernel(int64_t axis, bool coerce_2d) : axis_(axis), coerce_2d_(coerce_2d) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 1, 1));
    const Tensor& x = *inputs[0];
    const Shape& shape = x.shape();
    ASSIGN_OR_RETURN(int64_t axis,
                     NormalizeAxis(axis_, static_cast<int64_t>(shape.size()), coerce_2d_));
    // View as [outer, len, inner]; one hardmax per (outer, inner) over len.
    const int64_t outer = DimProduct(shape, 0, axis);
    const int64_t len = coerce_2d_ ? DimProduct(shape, axis, shape.size()) : shape[axis];
    const int64_t inner = coerce_2d_ ? 1 : DimProduct(shape, axis + 1, shape.size());
    return DispatchFloat(x.dtype(), "Hardmax", [&]<typename T>() -> Status {
      ASSIGN_OR_RETURN(outputs[0], AllocateOutput(x.dtype(), shape));
      const T* in = x.data_as<T>();
      T* out = outputs[0].mutable_data_as<T>();
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t i = 0; i < inner; ++i) {
          const int64_t base = o * len * inner + i;
          int64_t best = 0;
          for (int64_t j = 0; j < len; ++j) {
            const double v = ToDouble(in[base + j * inner]);
            const double b = ToDouble(in[base + best * inner]);
            if (v > b || (std::isnan(v) && !std::isnan(b))) best = j;  // NaN wins like argmax
            out[base + j * inner] = T(0.0f);
          }
          if (len > 0) out[base + best * inner] = T(1.0f);
        }
      }
      return Status::Ok();
    });
  }

 private:
  int64_t axis_;
  bool coerce_2d_;
};

StatusOr<std::unique_ptr<Kernel>> MakeHardmax(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 1, 1));
  const bool coerce_2d = context.opset < 13;
  ASSIGN_OR_RETURN(int64_t axis, context.node.GetInt("axis", coerce_2d ? 1 : -1));
  return std::unique_ptr<Kernel>(new HardmaxKernel(axis, coerce_2d));
}

// ---------------------------------------------------- MeanVarianceNormalization

class MvnKernel final : public Kernel {
 public:
  explicit MvnKernel(std::vector<int64_t> axes) : axes_(std::move(axes)) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 1, 1));
    const Tensor& x = *inputs[0];
    const Shape& shape = x.shape();
    const auto rank = static_cast<int64_t>(shape.size());
    std::vector<uint8_t> reduced(shape.size(), 0);
    for (int64_t a : axes_) {
      ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(a, rank));
      if (reduced[axis]) return InvalidArgument("attribute 'axes' repeats an axis");
      reduced[axis] = 1;
    }
    // Each element belongs to the group given by its non-reduced coordinates.
    const int64_t total = NumElements(shape);
    std::vector<int64_t> group(static_cast<size_t>(total));
    int64_t groups = 1;
    for (int64_t d = 0; d < rank; ++d) {
      if (!reduced[d]) groups *= shape[d];
    }
    std::vector<int64_t> pos(shape.size(), 0);
    for (int64_t i = 0; i < total; ++i) {
      int64_t g = 0;
      for (int64_t d = 0; d < rank; ++d) {
        if (!reduced[d]) g = g * shape[d] + pos[d];
      }
      group[i] = g;
      for (int64_t d = rank; d-- > 0;) {
        if (++pos[d] < shape[d]) break;
        pos[d] = 0;
      }
    }
    return DispatchFloat(x.dtype(), "MeanVarianceNormalization", [&]<typename T>() -> Status {
      ASSIGN_OR_RETURN(outputs[0], AllocateOutput(x.dtype(), shape));
      const T* in = x.data_as<T>();
      T* out = outputs[0].mutable_data_as<T>();
      std::vector<double> sum(groups, 0.0), sq(groups, 0.0), count(groups, 0.0);
      for (int64_t i = 0; i < total; ++i) {
        sum[group[i]] += ToDouble(in[i]);
        count[group[i]] += 1.0;
      }
      for (int64_t g = 0; g < groups; ++g) sum[g] /= count[g];  // now the mean
      for (int64_t i = 0; i < total; ++i) {
        const double dev = ToDouble(in[i]) - sum[group[i]];
        sq[group[i]] += dev * dev;
      }
      for (int64_t i = 0; i < total; ++i) {
        const double std_dev = std::sqrt(sq[group[i]] / count[group[i]]);
        out[i] = Convert<T>((ToDouble(in[i]) - sum[group[i]]) / (std_dev + 1e-9));
      }
      return Status::Ok();
    });
  }

 private:
  std::vector<int64_t> axes_;
};

StatusOr<std::unique_ptr<Kernel>> MakeMvn(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 1, 1));
  ASSIGN_OR_RETURN(std::vector<int64_t> axes,
                   context.node.GetInts("axes", std::vector<int64_t>{0, 2, 3}));
  return std::unique_ptr<Kernel>(new MvnKernel(std::move(axes)));
}

// -------------------------------------------------------------------- Det

double Determinant(std::vector<double> a, int64_t m) {
  double det = 1.0;
  for (int64_t c = 0; c < m; ++c) {
    int64_t pivot = c;
    for (int64_t r = c + 1; r < m; ++r) {
      if (std::fabs(a[r * m + c]) > std::fabs(a[pivot * m + c])) pivot = r;
    }
    if (a[pivot * m + c] == 0.0) return 0.0;
    if (pivot != c) {
      for (int64_t k = 0; k < m; ++k) std::swap(a[c * m + k], a[pivot * m + k]);
      det = -det;
    }
    const double p = a[c * m + c];
    det *= p;
    for (int64_t r = c + 1; r < m; ++r) {
      const double f = a[r * m + c] / p;
      for (int64_t k = c; k < m; ++k) a[r * m + k] -= f * a[c * m + k];
    }
  }
  return det;
}

class DetKernel final : public Kernel {
 public:
  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 1, 1));
    const Tensor& x = *inputs[0];
    const Shape& shape = x.shape();
    if (shape.size() < 2 || shape[shape.size() - 1] != shape[shape.size() - 2]) {
      return InvalidArgument("Det needs [*, M, M] input, got " + ShapeToString(shape));
    }
    const int64_t m = shape.back();
    Shape out_shape(shape.begin(), shape.end() - 2);
    const int64_t batch = NumElements(out_shape);
    return DispatchFloat(x.dtype(), "Det", [&]<typename T>() -> Status {
      ASSIGN_OR_RETURN(outputs[0], AllocateOutput(x.dtype(), out_shape));
      const T* in = x.data_as<T>();
      T* out = outputs[0].mutable_data_as<T>();
      std::vector<double> a(static_cast<size_t>(m * m));
      for (int64_t b = 0; b < batch; ++b) {
        for (int64_t k = 0; k < m * m; ++k) a[k] = ToDouble(in[b * m * m + k]);
        out[b] = Convert<T>(Determinant(a, m));
      }
      return Status::Ok();
    });
  }
};

StatusOr<std::unique_ptr<Kernel>> MakeDet(const KernelBuildContext& context) {
  RETURN_IF_ERROR(CheckArity(context, 1, 1));
  return std::unique_ptr<Kernel>(new DetKernel());
}

// ---------------------------------------------------------------- Windows

// w[n] = a0 - a1 cos(2 pi n / N) + a2 cos(4 pi n / N), N = size (periodic)
// or size - 1 (symmetric).
struct CosineSum {
  double a0, a1, a2;
};

class WindowKernel final : public Kernel {
 public:
  WindowKernel(CosineSum c, DataType out, bool periodic, std::string_view op)
      : c_(c), out_(out), periodic_(periodic), op_(op) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 1, 1));
    const Tensor& size_t_in = *inputs[0];
    if (!size_t_in.shape().empty() && NumElements(size_t_in.shape()) != 1) {
      return InvalidArgument(std::string(op_) + " size must be a scalar");
    }
    ASSIGN_OR_RETURN(std::vector<int64_t> sizes, ReadInt64s(size_t_in, "size"));
    if (sizes.size() != 1 || sizes[0] < 0) {
      return InvalidArgument(std::string(op_) + " size must be a non-negative scalar");
    }
    const int64_t size = sizes[0];
    const double denom = static_cast<double>(periodic_ ? size : size - 1);
    return DispatchNumeric(out_, op_, [&]<typename T>() -> Status {
      ASSIGN_OR_RETURN(outputs[0], AllocateOutput(out_, Shape{size}));
      T* o = outputs[0].mutable_data_as<T>();
      for (int64_t n = 0; n < size; ++n) {
        // A symmetric window of size 1 divides 0 by 0: the reference yields
        // NaN; the mathematically sensible single sample is a0 - a1 + a2.
        const double angle = denom == 0.0 ? 0.0 : 2.0 * std::numbers::pi * n / denom;
        o[n] = Convert<T>(c_.a0 - c_.a1 * std::cos(angle) + c_.a2 * std::cos(2.0 * angle));
      }
      return Status::Ok();
    });
  }

 private:
  CosineSum c_;
  DataType out_;
  bool periodic_;
  std::string_view op_;
};

template <int kKind>
StatusOr<std::unique_ptr<Kernel>> MakeWindow(const KernelBuildContext& context) {
  static constexpr CosineSum kCoeffs[] = {
      {0.5, 0.5, 0.0}, {25.0 / 46.0, 21.0 / 46.0, 0.0}, {0.42, 0.5, 0.08}};
  static constexpr std::string_view kNames[] = {"HannWindow", "HammingWindow", "BlackmanWindow"};
  RETURN_IF_ERROR(CheckArity(context, 1, 1));
  ASSIGN_OR_RETURN(int64_t onnx_type, context.node.GetInt("output_datatype", 1));
  ASSIGN_OR_RETURN(int64_t periodic, context.node.GetInt("periodic", 1));
  if (periodic != 0 && periodic != 1) {
    return InvalidArgument("attribute 'periodic' must be 0 or 1");
  }
  const DataType out = DataTypeFromOnnx(static_cast<int32_t>(onnx_type));
  if (out == DataType::kInvalid || out == DataType::kBool || out == DataType::kBytes) {
    return Unimplemented(std::string(kNames[kKind]) + " attribute 'output_datatype' " +
                         std::to_string(onnx_type) + " is not a supported numeric type");
  }
  return std::unique_ptr<Kernel>(
      new WindowKernel(kCoeffs[kKind], out, periodic == 1, kNames[kKind]));
}

NEREID_REGISTER_KERNEL("", "Hardmax", MakeHardmax);
NEREID_REGISTER_KERNEL("", "MeanVarianceNormalization", MakeMvn);
NEREID_REGISTER_KERNEL("", "Det", MakeDet);
NEREID_REGISTER_KERNEL("", "HannWindow", MakeWindow<0>);
NEREID_REGISTER_KERNEL("", "HammingWindow", MakeWindow<1>);
NEREID_REGISTER_KERNEL("", "BlackmanWindow", MakeWindow<2>);

}  // namespace
}  // namespace nereid::engine::ref
