// Pooling: MaxPool (optional Indices output, storage_order, dilations,
// ceil_mode), AveragePool (count_include_pad), LpPool, and the global forms
// GlobalMaxPool, GlobalAveragePool, GlobalLpPool.
//   X [N, C, D1..Dk] -> Y [N, C, O1..Ok]   (global: [N, C, 1..1])
// Padding never contributes a value: MaxPool ignores it, AveragePool only
// counts it in the divisor when count_include_pad=1 (positions past the end
// padding, reachable through ceil_mode, are never counted), LpPool treats it
// as zero. A window with no input element yields the type's lowest value for
// MaxPool (Indices -1) and 0 for AveragePool.
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "engine/kernels/kernel.h"
#include "engine/kernels/ref/conv_pool_util.h"
#include "engine/kernels/ref/dispatch.h"
#include "engine/kernels/ref/ref_util.h"

namespace nereid::engine::ref {
namespace {

enum class PoolKind { kMax, kAverage, kLp };

const char* PoolName(PoolKind kind, bool global) {
  switch (kind) {
    case PoolKind::kMax:
      return global ? "GlobalMaxPool" : "MaxPool";
    case PoolKind::kAverage:
      return global ? "GlobalAveragePool" : "AveragePool";
    case PoolKind::kLp:
      return global ? "GlobalLpPool" : "LpPool";
  }
  return "";
}

struct PoolOptions {
  PoolKind kind = PoolKind::kMax;
  bool global = false;
  bool count_include_pad = false;  // AveragePool
  bool column_major_indices = false;  // MaxPool storage_order=1
  bool want_indices = false;          // MaxPool second output
  double p = 2.0;                     // LpPool
};

// Converts a row-major flat spatial index to the column-major one (MaxPool
// Indices with storage_order=1).
int64_t ColumnMajorIndex(int64_t row_major, const std::vector<int64_t>& dims) {
  int64_t result = 0;
  int64_t col_stride = 1;
  std::vector<int64_t> coord(dims.size());
  for (size_t i = dims.size(); i-- > 0;) {
    coord[i] = row_major % dims[i];
    row_major /= dims[i];
  }
  for (size_t i = 0; i < dims.size(); ++i) {
    result += coord[i] * col_stride;
    col_stride *= dims[i];
  }
  return result;
}

class PoolKernel final : public Kernel {
 public:
  PoolKernel(WindowAttrs attrs, PoolOptions options)
      : attrs_(std::move(attrs)), opt_(options), name_(PoolName(options.kind, options.global)) {}

  Status Run(std::span<const Tensor* const> inputs, std::span<Tensor> outputs) const override {
    RETURN_IF_ERROR(CheckInputs(inputs, 1, 1));
    const Tensor& x = *inputs[0];
    const Shape& xs = x.shape();
    RETURN_IF_ERROR(CheckShapeBounded(xs, name_ + " input X"));
    if (xs.size() < (opt_.global ? 2u : 3u)) {
      return InvalidArgument(name_ + " input must have rank >= " + (opt_.global ? "2" : "3") +
                             " (N, C, spatial...), got " + ShapeToString(xs));
    }
    const std::span<const int64_t> spatial = std::span(xs).subspan(2);
    WindowAttrs attrs = attrs_;
    if (opt_.global) {
      attrs = WindowAttrs{};
      attrs.kernel_shape.assign(spatial.begin(), spatial.end());
      for (int64_t d : spatial) {
        if (d < 1) return InvalidArgument(name_ + " input has an empty spatial dim");
      }
    }
    ASSIGN_OR_RETURN(Window window, ResolveWindow(attrs, spatial, attrs.kernel_shape, name_));
    Shape out_shape = {xs[0], xs[1]};
    out_shape.insert(out_shape.end(), window.out.begin(), window.out.end());
    auto body = [&]<typename T>() -> Status {
      ASSIGN_OR_RETURN(outputs[0], AllocateOutput(x.dtype(), out_shape));
      int64_t* indices = nullptr;
      if (opt_.want_indices && outputs.size() > 1) {
        ASSIGN_OR_RETURN(outputs[1], AllocateOutput(DataType::kInt64, out_shape));
        indices = outputs[1].mutable_data_as<int64_t>();
      }
      if (NumElements(out_shape) == 0) return Status::Ok();
      Compute<T>(x.data_as<T>(), window, xs[0] * xs[1], outputs[0].mutable_data_as<T>(), indices);
      return Status::Ok();
    };
    // MaxPool also takes 8-bit integers (opset 12); the others are float only.
    if (opt_.kind == PoolKind::kMax) return DispatchNumeric(x.dtype(), name_, body);
    return DispatchFloat(x.dtype(), name_, body);
  }

 private:
  template <typename T>
  void Compute(const T* x, const Window& window, int64_t planes, T* y, int64_t* indices) const {
    const int64_t in_size = DimProduct(window.in, 0, window.rank());
    const int64_t out_size = DimProduct(window.out, 0, window.rank());
    std::vector<Tap> taps;
    for (int64_t p = 0; p < out_size; ++p) {
      int64_t padded = 0;
      CollectTaps(window, p, &taps, &padded);
      for (int64_t plane = 0; plane < planes; ++plane) {
        const T* x_plane = x + plane * in_size;
        const int64_t o = plane * out_size + p;
        if (opt_.kind == PoolKind::kMax) {
          int64_t arg = -1;
          y[o] = MaxOf(x_plane, taps, &arg);
          if (indices) {
            if (arg >= 0 && opt_.column_major_indices) arg = ColumnMajorIndex(arg, window.in);
            indices[o] = arg < 0 ? -1 : plane * in_size + arg;
          }
        } else {
          y[o] = Reduce(x_plane, taps, opt_.count_include_pad ? padded
                                                               : static_cast<int64_t>(taps.size()));
        }
      }
    }
  }

  template <typename T>
  static T MaxOf(const T* x, const std::vector<Tap>& taps, int64_t* arg) {
    using Cmp = std::conditional_t<kIsHalf<T>, float, T>;
    T best = std::numeric_limits<T>::lowest();
    if constexpr (kIsHalf<T>) best = T(-std::numeric_limits<float>::infinity());
    for (const Tap& t : taps) {
      const T v = x[t.input_index];
      // The first tap always wins so a window of NaNs still reports a position.
      if (*arg < 0 || static_cast<Cmp>(v) > static_cast<Cmp>(best)) {
        best = v;
        *arg = t.input_index;
      }
    }
    return best;
  }

  // Average (divided by `count`) or Lp norm over the taps.
  template <typename T>
  T Reduce(const T* x, const std::vector<Tap>& taps, int64_t count) const {
    using C = std::conditional_t<std::is_same_v<T, double>, double, float>;
    C sum = 0;
    if (opt_.kind == PoolKind::kAverage) {
      for (const Tap& t : taps) sum += static_cast<C>(x[t.input_index]);
      return T(count > 0 ? sum / static_cast<C>(count) : C{0});
    }
    const C p = static_cast<C>(opt_.p);
    for (const Tap& t : taps) sum += std::pow(std::fabs(static_cast<C>(x[t.input_index])), p);
    return T(std::pow(sum, C{1} / p));
  }

  WindowAttrs attrs_;
  PoolOptions opt_;
  std::string name_;
};

StatusOr<std::unique_ptr<Kernel>> MakePool(const KernelBuildContext& context,
                                           PoolOptions opt) {
  const Node& node = context.node;
  const std::string name = PoolName(opt.kind, opt.global);
  RETURN_IF_ERROR(CheckInputCount(context, 1, 1));
  RETURN_IF_ERROR(CheckOutputs(context, opt.kind == PoolKind::kMax && !opt.global ? 2 : 1));
  WindowAttrs attrs;
  if (!opt.global) {
    ASSIGN_OR_RETURN(attrs, ParseWindowAttrs(node, name, true, true));
    if (attrs.kernel_shape.empty()) {
      return InvalidArgument(name + " requires attribute 'kernel_shape'");
    }
  }
  if (opt.kind == PoolKind::kAverage && !opt.global) {
    ASSIGN_OR_RETURN(int64_t cip, node.GetInt("count_include_pad", 0));
    if (cip != 0 && cip != 1) {
      return InvalidArgument("AveragePool attribute 'count_include_pad' must be 0 or 1");
    }
    opt.count_include_pad = cip == 1;
  }
  if (opt.kind == PoolKind::kMax && !opt.global) {
    ASSIGN_OR_RETURN(int64_t order, node.GetInt("storage_order", 0));
    if (order != 0 && order != 1) {
      return InvalidArgument("MaxPool attribute 'storage_order' must be 0 or 1");
    }
    opt.column_major_indices = order == 1;
    opt.want_indices = WantsOutput(context, 1);
  }
  if (opt.kind == PoolKind::kLp) {
    // Opset 1 declares p as a float; later opsets as an int.
    const Attribute* attr = node.FindAttribute("p");
    if (attr && attr->kind == Attribute::Kind::kFloat) {
      opt.p = attr->f;
    } else {
      ASSIGN_OR_RETURN(int64_t p, node.GetInt("p", 2));
      opt.p = static_cast<double>(p);
    }
    if (!(opt.p > 0) || !std::isfinite(opt.p)) {
      return InvalidArgument(name + " attribute 'p' must be a positive number");
    }
  }
  return std::unique_ptr<Kernel>(new PoolKernel(std::move(attrs), opt));
}

StatusOr<std::unique_ptr<Kernel>> MakeMaxPool(const KernelBuildContext& c) {
  return MakePool(c, PoolOptions{.kind = PoolKind::kMax});
}
StatusOr<std::unique_ptr<Kernel>> MakeAveragePool(const KernelBuildContext& c) {
  return MakePool(c, PoolOptions{.kind = PoolKind::kAverage});
}
StatusOr<std::unique_ptr<Kernel>> MakeLpPool(const KernelBuildContext& c) {
  return MakePool(c, PoolOptions{.kind = PoolKind::kLp});
}
StatusOr<std::unique_ptr<Kernel>> MakeGlobalMaxPool(const KernelBuildContext& c) {
  return MakePool(c, PoolOptions{.kind = PoolKind::kMax, .global = true});
}
StatusOr<std::unique_ptr<Kernel>> MakeGlobalAveragePool(const KernelBuildContext& c) {
  return MakePool(c, PoolOptions{.kind = PoolKind::kAverage, .global = true});
}
StatusOr<std::unique_ptr<Kernel>> MakeGlobalLpPool(const KernelBuildContext& c) {
  return MakePool(c, PoolOptions{.kind = PoolKind::kLp, .global = true});
}

NEREID_REGISTER_KERNEL("", "MaxPool", MakeMaxPool);
NEREID_REGISTER_KERNEL("", "AveragePool", MakeAveragePool);
NEREID_REGISTER_KERNEL("", "LpPool", MakeLpPool);
NEREID_REGISTER_KERNEL("", "GlobalMaxPool", MakeGlobalMaxPool);
NEREID_REGISTER_KERNEL("", "GlobalAveragePool", MakeGlobalAveragePool);
NEREID_REGISTER_KERNEL("", "GlobalLpPool", MakeGlobalLpPool);

}  // namespace
}  // namespace nereid::engine::ref
